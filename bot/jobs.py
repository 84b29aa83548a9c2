"""The one place where the pipeline runs: fetch → parse → store → match → format → send."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

from telegram import Bot
from telegram.ext import ContextTypes, JobQueue

from bot import services as services_mod
from bot.config import Config
from bot.digest import render_parts
from bot.feeds import FeedError, fetch_and_parse
from bot.matching import match_papers
from bot.models import Chat, Hit, Paper
from bot.services import Services
from bot.store import utcnow

log = logging.getLogger(__name__)

# arXiv rebuilds its feeds at midnight in New York, daylight saving time included.
ARXIV_TZ = ZoneInfo("America/New_York")
POLL_JOB = "poll"
OUTBOX_JOB = "outbox"
OUTBOX_INTERVAL = 60.0


async def ingest(services: Services) -> list[Paper]:
    """Fetch and parse the configured feed, store it, and return the papers new to us."""
    url = services.config.feed_url
    async with services.poll_lock:  # one request to arXiv at a time
        feed = await fetch_and_parse(services.http, url)
        new = await services.store.add_papers(feed.papers)
        log.info(
            "Polled %s: %d entries, %d new%s",
            url,
            len(feed.papers),
            len(new),
            " (malformed feed, partial)" if feed.bozo else "",
        )
    return new


async def pending_hits(services: Services, chat_id: int) -> list[Hit]:
    """The chat's matching papers that it has not received yet, newest first."""
    chat = await services.store.get_chat(chat_id)
    keywords = await services.store.subscriptions_for(chat_id)
    if chat is None or not keywords:
        return []
    since = utcnow() - dt.timedelta(days=services.config.digest_lookback_days)
    papers = await services.store.undelivered_papers(chat, since)
    # Normalising abstracts (LaTeX included) is CPU work: keep it off the event loop.
    return await asyncio.to_thread(match_papers, papers, keywords)


async def send_digest(bot: Bot, services: Services, chat_id: int) -> int:
    """Send the chat its pending digest now; returns how many papers it carried (0: none)."""
    async with services.digest_locks[chat_id]:
        hits = await pending_hits(services, chat_id)
        if not hits:
            return 0
        await services.outbox.enqueue(chat_id, render_parts(hits))
        outcome = await services.outbox.flush_chat(bot, chat_id)
        log.info("Digest for chat %s: %d papers, %s", chat_id, len(hits), outcome.value)
        return len(hits)


async def poll_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Scheduled feed poll; a failed fetch is logged and left to the next poll."""
    try:
        await ingest(services_mod.get(context.bot_data))
    except FeedError as exc:
        log.warning("Feed poll failed, will try again at the next poll: %s", exc)


async def digest_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """A chat's daily digest (or its catch-up after the bot was down when it came due)."""
    job = context.job
    if job is None or job.chat_id is None:
        return
    services = services_mod.get(context.bot_data)
    chat = await services.store.get_chat(job.chat_id)
    if chat is None or not chat.active:
        if job.name == digest_job_name(job.chat_id):
            job.schedule_removal()
        return
    started = utcnow()
    await send_digest(context.bot, services, job.chat_id)
    # Recorded once composed, not before: a process killed before composing leaves the slot
    # missed, and the restart catches it up; killed after, the catch-up finds the papers in
    # the ledger and composes nothing twice (the outbox sends what was queued).
    await services.store.record_digest(job.chat_id, started)


async def outbox_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send whatever waits in the outbox: parts left by a crash, or failed sends."""
    services = services_mod.get(context.bot_data)
    outcomes = await services.outbox.flush(context.bot)
    if outcomes:
        log.info("Outbox flush: %s", dict((k.value, v) for k, v in outcomes.items()))


def due_since(chat: Chat, now: dt.datetime) -> dt.datetime:
    """When the chat's most recent daily digest came due (today's or yesterday's slot)."""
    zone = ZoneInfo(chat.timezone)
    local = now.astimezone(zone)
    slot = dt.datetime.combine(local.date(), chat.digest_time, tzinfo=zone)
    return slot if slot <= local else slot - dt.timedelta(days=1)


def missed_digest(chat: Chat, now: dt.datetime) -> bool:
    """Did the chat's last slot pass without a digest run (the bot was down)?

    A chat's clock starts when it first writes (the store sets last_digest_at then).
    """
    return chat.last_digest_at is not None and chat.last_digest_at < due_since(chat, now)


def digest_job_name(chat_id: int) -> str:
    return f"digest:{chat_id}"


def schedule_digest(job_queue: JobQueue[Any], chat: Chat) -> None:
    """(Re)schedule the chat's daily digest at its own time in its own time zone."""
    name = digest_job_name(chat.chat_id)
    for job in job_queue.get_jobs_by_name(name):
        job.schedule_removal()
    when = chat.digest_time.replace(tzinfo=ZoneInfo(chat.timezone))
    job_queue.run_daily(digest_job, when, chat_id=chat.chat_id, name=name)


def schedule_outbox(job_queue: JobQueue[Any], every: float = OUTBOX_INTERVAL) -> None:
    """Flush the outbox at start (what a crash left) and then every minute."""
    job_queue.run_repeating(outbox_job, every, first=0.5, name=OUTBOX_JOB)


def schedule_catch_up(job_queue: JobQueue[Any], chat: Chat) -> None:
    """Run a digest that came due while the bot was down, once, shortly after start."""
    job_queue.run_once(digest_job, 2.0, chat_id=chat.chat_id, name=f"catch-up:{chat.chat_id}")


def schedule_polls(job_queue: JobQueue[Any], config: Config) -> None:
    """Poll once now, daily shortly after arXiv's midnight rebuild, and every few hours."""
    job_queue.run_once(poll_job, 0, name=POLL_JOB)
    hour, minute = divmod(config.poll_delay_minutes, 60)
    after_rebuild = dt.time(hour, minute, tzinfo=ARXIV_TZ)
    job_queue.run_daily(poll_job, after_rebuild, name=POLL_JOB)
    interval = dt.timedelta(hours=config.repoll_interval_hours)
    job_queue.run_repeating(poll_job, interval, first=interval, name=POLL_JOB)
