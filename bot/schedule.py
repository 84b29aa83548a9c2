"""When the pipeline runs, on python-telegram-bot's JobQueue: the chain of feed polls (each
plans the next: shortly after arXiv's midnight rebuild, or a retry) and its watchdog, each
chat's daily digest at its own time in its own time zone (and its catch-up after the bot was
down), the outbox flush every minute, the saving of the day's 429 and retry counts every
minute, and retention once a day. The jobs call `bot.pipeline`
and `bot.index`; nothing here fetches, matches or composes.

The wall clock may jump (an NTP step, a host suspend): the scheduler then wakes up to find a
job late by the jump. Every job here still runs, however late, and once for all the runs it
jumped over (`LATE_RUNS`); and should the chain of polls break all the same, the watchdog
plans a poll again.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from zoneinfo import ZoneInfo

from telegram.ext import ContextTypes, JobQueue

from bot import services as services_mod
from bot.arxiv.calendar import ARXIV_TZ
from bot.config import Config
from bot.index.retention import prune
from bot.models import Chat
from bot.pipeline.digests import daily_digest
from bot.pipeline.polls import PollPlan, run_poll
from bot.services import Services
from bot.storage.store import Store, utcnow

log = logging.getLogger(__name__)

POLL_JOB = "poll"
WATCHDOG_JOB = "poll-watchdog"
OUTBOX_JOB = "outbox"
RETENTION_JOB = "retention"
COUNTS_JOB = "counts"
# Retention runs at noon UTC: after arXiv's rebuild (05:00 UTC or so) and the morning digests
# of Europe, away from most chats' digest times.
RETENTION_TIME = dt.time(12, 0, tzinfo=dt.UTC)
OUTBOX_INTERVAL = 60.0
COUNTS_INTERVAL = 60.0  # a crash loses at most this many seconds of 429 and retry counts
# How often the watchdog looks for a planned poll (seconds).
WATCHDOG_INTERVAL = 300.0
# APScheduler drops a job found more than a second late as "missed" (its default grace):
# here a late job runs however late, and the runs it fell behind on are coalesced into one.
LATE_RUNS: dict[str, Any] = {"misfire_grace_time": None, "coalesce": True}
_POLL_RUNNING = "poll_running"  # bot_data key: a poll job is running (it is planned no more)


# --- feed polls -------------------------------------------------------------------------------


def schedule_polls(job_queue: JobQueue[Any], config: Config) -> None:
    """Poll once now (the first start takes what the feed has); each poll plans the next, and
    the watchdog looks every few minutes that one is planned."""
    schedule_poll(job_queue, PollPlan(utcnow()))
    job_queue.run_repeating(
        watchdog_job,
        WATCHDOG_INTERVAL,
        first=WATCHDOG_INTERVAL,
        name=WATCHDOG_JOB,
        job_kwargs=LATE_RUNS,
    )


def schedule_poll(job_queue: JobQueue[Any] | None, plan: PollPlan) -> None:
    """Make `plan` the one pending poll (a poll run by hand does not start a second chain)."""
    if job_queue is None:
        return
    for job in job_queue.get_jobs_by_name(POLL_JOB):
        job.schedule_removal()
    job_queue.run_once(poll_job, plan.when, data=plan, name=POLL_JOB, job_kwargs=LATE_RUNS)
    log.info("Next feed poll at %s", plan.when.astimezone(ARXIV_TZ).isoformat(timespec="minutes"))


async def poll_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """A feed poll; it schedules the next one (after the rebuild, or a retry)."""
    job = context.job
    plan = job.data if job is not None and isinstance(job.data, PollPlan) else None
    context.bot_data[_POLL_RUNNING] = True
    try:
        following = await run_poll(services_mod.get(context.bot_data), plan)
    finally:
        context.bot_data[_POLL_RUNNING] = False
    schedule_poll(context.job_queue, following)


def poll_running(bot_data: dict[Any, Any]) -> bool:
    """Whether a poll job is running now (between its start and its planning the next)."""
    return bool(bot_data.get(_POLL_RUNNING, False))


async def watchdog_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Plan a poll now if none is planned and none is running: the chain of polls broke (a
    poll that never planned the next), so polling would otherwise stop for good."""
    job_queue = context.job_queue
    if job_queue is None or job_queue.get_jobs_by_name(POLL_JOB):
        return
    if poll_running(context.bot_data):
        return
    log.warning("No feed poll was planned; planning one now")
    schedule_poll(job_queue, PollPlan(utcnow()))


# --- each chat's daily digest -----------------------------------------------------------------


def schedule_digest(job_queue: JobQueue[Any], chat: Chat) -> None:
    """(Re)schedule the chat's daily digest at its own time in its own time zone."""
    name = digest_job_name(chat.chat_id)
    for job in job_queue.get_jobs_by_name(name):
        job.schedule_removal()
    when = chat.digest_time.replace(tzinfo=ZoneInfo(chat.timezone))
    job_queue.run_daily(digest_job, when, chat_id=chat.chat_id, name=name, job_kwargs=LATE_RUNS)


def digest_job_name(chat_id: int) -> str:
    return f"digest:{chat_id}"


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
    await daily_digest(context.bot, services, job.chat_id)


async def follow_moved_chat(
    job_queue: JobQueue[Any], store: Store, old_id: int, new_id: int
) -> None:
    """A group moved to its supergroup id: its daily digest follows it there."""
    for job in job_queue.get_jobs_by_name(digest_job_name(old_id)):
        job.schedule_removal()
    chat = await store.get_chat(new_id)
    if chat is not None and chat.active:
        schedule_digest(job_queue, chat)


def schedule_catch_up(job_queue: JobQueue[Any], chat: Chat) -> None:
    """Run a digest that came due while the bot was down, once, shortly after start."""
    job_queue.run_once(
        digest_job,
        2.0,
        chat_id=chat.chat_id,
        name=f"catch-up:{chat.chat_id}",
        job_kwargs=LATE_RUNS,
    )


def missed_digest(chat: Chat, now: dt.datetime) -> bool:
    """Did the chat's last slot pass without a digest run (the bot was down)?

    A chat's clock starts when it first writes (the store sets last_digest_at then).
    """
    return chat.last_digest_at is not None and chat.last_digest_at < due_since(chat, now)


def due_since(chat: Chat, now: dt.datetime) -> dt.datetime:
    """When the chat's most recent daily digest came due (today's or yesterday's slot)."""
    zone = ZoneInfo(chat.timezone)
    local = now.astimezone(zone)
    slot = dt.datetime.combine(local.date(), chat.digest_time, tzinfo=zone)
    return slot if slot <= local else slot - dt.timedelta(days=1)


# --- the outbox -------------------------------------------------------------------------------


def schedule_outbox(job_queue: JobQueue[Any], every: float = OUTBOX_INTERVAL) -> None:
    """Flush the outbox at start (what a crash left) and then every minute."""
    job_queue.run_repeating(outbox_job, every, first=0.5, name=OUTBOX_JOB, job_kwargs=LATE_RUNS)


async def outbox_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Send whatever waits in the outbox: parts left by a crash, or failed sends."""
    services = services_mod.get(context.bot_data)
    outcomes = await services.outbox.flush(context.bot)
    if outcomes:
        log.info("Outbox flush: %s", dict((k.value, v) for k, v in outcomes.items()))


# --- the day's 429 and retry counts -----------------------------------------------------------


def schedule_counts(job_queue: JobQueue[Any], every: float = COUNTS_INTERVAL) -> None:
    """Save the 429 and retry counts noted in memory to the database every minute."""
    job_queue.run_repeating(counts_job, every, first=every, name=COUNTS_JOB, job_kwargs=LATE_RUNS)


async def counts_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await save_counts(services_mod.get(context.bot_data))


async def save_counts(services: Services) -> None:
    """Write the counts not saved yet (each minute, and at shutdown); should the database
    refuse, they stay in memory for the next try."""
    try:
        await services.outbox.stats.flush(services.store)
    except Exception:
        log.exception("Cannot save the 429 and retry counts; kept in memory for the next try")


# --- retention --------------------------------------------------------------------------------


def schedule_retention(job_queue: JobQueue[Any]) -> None:
    """Prune what can no longer be pending or searched, once a day."""
    job_queue.run_daily(retention_job, RETENTION_TIME, name=RETENTION_JOB, job_kwargs=LATE_RUNS)


async def retention_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    try:
        await prune(services_mod.get(context.bot_data))
    except Exception:  # tomorrow's run tries again; the database only grows a day meanwhile
        log.exception("Retention failed; the next run tries again")
