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
from bot.delivery import Outcome, deliver
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
        outcome = await deliver(bot, services.store, chat_id, render_parts(hits))
        if outcome is Outcome.SENT:
            await services.store.record_digest(chat_id, utcnow())
        log.info("Digest for chat %s: %d papers, %s", chat_id, len(hits), outcome.value)
        return len(hits)


async def poll_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Scheduled feed poll; a failed fetch is logged and left to the next poll."""
    try:
        await ingest(services_mod.get(context.bot_data))
    except FeedError as exc:
        log.warning("Feed poll failed, will try again at the next poll: %s", exc)


async def digest_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """A chat's daily digest."""
    job = context.job
    if job is None or job.chat_id is None:
        return
    services = services_mod.get(context.bot_data)
    chat = await services.store.get_chat(job.chat_id)
    if chat is None or not chat.active:
        job.schedule_removal()
        return
    await send_digest(context.bot, services, job.chat_id)


def digest_job_name(chat_id: int) -> str:
    return f"digest:{chat_id}"


def schedule_digest(job_queue: JobQueue[Any], chat: Chat) -> None:
    """(Re)schedule the chat's daily digest at its own time in its own time zone."""
    name = digest_job_name(chat.chat_id)
    for job in job_queue.get_jobs_by_name(name):
        job.schedule_removal()
    when = chat.digest_time.replace(tzinfo=ZoneInfo(chat.timezone))
    job_queue.run_daily(digest_job, when, chat_id=chat.chat_id, name=name)


def schedule_polls(job_queue: JobQueue[Any], config: Config) -> None:
    """Poll once now, daily shortly after arXiv's midnight rebuild, and every few hours."""
    job_queue.run_once(poll_job, 0, name=POLL_JOB)
    hour, minute = divmod(config.poll_delay_minutes, 60)
    after_rebuild = dt.time(hour, minute, tzinfo=ARXIV_TZ)
    job_queue.run_daily(poll_job, after_rebuild, name=POLL_JOB)
    interval = dt.timedelta(hours=config.repoll_interval_hours)
    job_queue.run_repeating(poll_job, interval, first=interval, name=POLL_JOB)
