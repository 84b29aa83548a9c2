"""The JobQueue jobs of the real application survive a wall-clock jump (an NTP step, a host
suspend): a poll or a digest the scheduler finds late still runs, once, and a chain of polls
that broke is planned again by the watchdog.

A jump is simulated without waiting and without depending on the machine's speed: the job's
planned time is set that far in the past, which is exactly what the scheduler sees when it
wakes up after the jump (its timer runs on the monotonic clock, the jobs on the wall clock).
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from bot.arxiv.feeds import parse_feed
from bot.pipeline.polls import PollPlan
from bot.schedule import POLL_JOB, WATCHDOG_JOB, digest_job_name, poll_running, schedule_poll
from bot.storage.store import utcnow
from tests.conftest import TRUNCATED_ATOM, USER, BotUnderTest, eventually, ids_in, mentions
from tests.fakes import FeedServer

JUMPS = [dt.timedelta(hours=1), dt.timedelta(days=2)]
JUMP_IDS = ["plus-1-hour", "plus-2-days"]
WAIT = 30.0  # an upper bound on waiting for a condition, never a pause
DIFFUSION = sorted(
    p.arxiv_id for p in parse_feed(TRUNCATED_ATOM.read_bytes()).papers if mentions("diffusion", p)
)


def planned_polls(bot: BotUnderTest) -> list[PollPlan]:
    assert bot.app.job_queue is not None
    return [job.data for job in bot.app.job_queue.get_jobs_by_name(POLL_JOB)]


async def next_poll_planned(bot: BotUnderTest) -> PollPlan:
    """Wait until a poll is planned for later than now (the start-up poll has run); return it."""

    async def planned() -> bool:
        return any(plan.when > utcnow() for plan in planned_polls(bot))

    await eventually(planned, timeout=WAIT)
    (plan,) = planned_polls(bot)
    return plan


@pytest.mark.parametrize("jump", JUMPS, ids=JUMP_IDS)
async def test_a_poll_overtaken_by_a_clock_jump_still_runs_and_plans_the_next(
    bot: BotUnderTest, feeds: FeedServer, jump: dt.timedelta
) -> None:
    """The wall clock jumped past the planned poll: the scheduler finds it late by the jump
    and runs it all the same (it is not dropped as "missed"); it fetches the feed and plans
    the next poll, so polling goes on."""
    await next_poll_planned(bot)
    asked = len(feeds.requests)
    schedule_poll(bot.app.job_queue, PollPlan(utcnow() - jump))
    await feeds.wait_for_requests(asked + 1, timeout=WAIT)
    plan = await next_poll_planned(bot)
    assert plan.when > utcnow()


@pytest.mark.parametrize("jump", JUMPS, ids=JUMP_IDS)
async def test_a_digest_overtaken_by_a_clock_jump_is_sent_once_and_tomorrows_planned(
    bot: BotUnderTest, jump: dt.timedelta
) -> None:
    """The wall clock jumped past the chat's digest time (by an hour, or over two daily slots):
    the digest is sent late, once (the slots it jumped over are coalesced), and the next one
    is planned at the chat's time after now."""
    await bot.ask("/subscribe diffusion")
    before = len(bot.telegram.messages_to(USER))
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name(digest_job_name(USER))
    started = utcnow()
    job.job.modify(next_run_time=started - jump)

    async def sent() -> bool:
        chat = await bot.services.store.get_chat(USER)
        return (
            chat is not None and chat.last_digest_at is not None and chat.last_digest_at > started
        )

    await eventually(sent, timeout=WAIT)
    received = ids_in((await bot.settle())[before:])
    assert sorted(received) == DIFFUSION
    assert (await bot.services.store.counts(started))["digests"] == 1
    (job,) = bot.app.job_queue.get_jobs_by_name(digest_job_name(USER))
    assert job.next_t is not None
    assert job.next_t > utcnow()
    assert job.next_t - utcnow() <= dt.timedelta(days=1)


async def test_the_watchdog_plans_a_poll_when_none_is_planned(
    bot: BotUnderTest, feeds: FeedServer
) -> None:
    """While a poll is planned the watchdog leaves it alone; when the chain of polls broke
    (no poll planned, none running) it plans one at once, which fetches the feed and plans the
    next."""
    planned = await next_poll_planned(bot)
    await bot.run_job(WATCHDOG_JOB)
    assert planned_polls(bot) == [planned]
    assert bot.app.job_queue is not None
    for job in bot.app.job_queue.get_jobs_by_name(POLL_JOB):
        job.schedule_removal()
    assert planned_polls(bot) == []
    asked = len(feeds.requests)
    await bot.run_job(WATCHDOG_JOB)
    await feeds.wait_for_requests(asked + 1, timeout=WAIT)
    assert (await next_poll_planned(bot)).when > utcnow()


async def test_the_watchdog_does_not_start_a_second_poll_while_one_runs(
    bot: BotUnderTest,
) -> None:
    """A poll that is running is not planned any more, but the watchdog does not plan a
    second: the running poll plans the next when it ends."""
    await next_poll_planned(bot)
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name(POLL_JOB)
    job.schedule_removal()
    async with bot.services.poll_lock:  # the poll waits here, running
        running = asyncio.create_task(job.run(bot.app))

        async def started() -> bool:
            return poll_running(bot.app.bot_data)

        await eventually(started, timeout=WAIT)
        await bot.run_job(WATCHDOG_JOB)
        assert planned_polls(bot) == []
    async with asyncio.timeout(WAIT):
        await running
    assert not poll_running(bot.app.bot_data)
    assert len(planned_polls(bot)) == 1
