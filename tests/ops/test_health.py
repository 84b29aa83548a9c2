"""The health and metrics endpoint of the running application: off unless asked for; /healthz
says "starting" until a poll reaches arXiv and turns 503 "unhealthy" when none did within the
start grace, when polling stops, when a poll is stuck, when the database cannot be written or
its disk is full, and when the outbox does not drain; /metrics counts what the bot did."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import re
import shutil
import socket
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.app import HEALTH_KEY
from bot.arxiv.calendar import ARXIV_TZ
from bot.arxiv.fetcher import PoliteFetcher
from bot.config import ConfigError, load_config
from bot.ops.health import (
    HealthServer,
    PollLimits,
    Status,
    feed_bound,
    judge_poll,
    poll_deadline,
)
from bot.ops.healthcheck import check
from bot.ops.metrics import Metrics
from bot.schedule import POLL_JOB
from bot.storage.store import utcnow
from tests.conftest import (
    TOKEN,
    TRUNCATED_ATOM,
    USER,
    BotUnderTest,
    StartBot,
    eventually,
    free_port,
    ids_in,
)
from tests.fakes import FeedServer
from tests.fakes.feed_server import trickle

DELAY = dt.timedelta(minutes=10)
GRACE = dt.timedelta(hours=8)
START_GRACE = dt.timedelta(minutes=30)  # HEALTH_START_GRACE_MINUTES's default
OUTBOX_GRACE = dt.timedelta(minutes=60)  # HEALTH_OUTBOX_GRACE_MINUTES's default
FEED = "/atom/cs.AI"
WAIT = 30.0  # an upper bound on waiting for a condition, never a pause


@pytest.fixture
async def healthy_bot(start_bot: StartBot) -> AsyncIterator[tuple[BotUnderTest, str]]:
    """The bot with its endpoint on a free loopback port, after its first poll succeeded."""
    port = free_port()
    async with start_bot(health_port=port, telegram_retry_backoff=0.01) as bot:
        await bot.wait_for_papers(86)

        async def polled() -> bool:
            return bot.services.metrics.last_successful_poll is not None

        await eventually(polled)
        yield bot, f"http://127.0.0.1:{port}"


def server_of(bot: BotUnderTest) -> HealthServer:
    server = bot.app.bot_data[HEALTH_KEY]
    assert isinstance(server, HealthServer)
    return server


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=WAIT) as client:
        return await client.get(url)


async def healthz(base: str) -> tuple[int, dict[str, Any]]:
    """/healthz's status code and JSON body."""
    response = await get(base + "/healthz")
    body: dict[str, Any] = response.json()
    return response.status_code, body


def shift_clock(bot: BotUnderTest, by: dt.timedelta) -> None:
    """Make the health endpoint judge as if `by` had passed (and nothing had happened)."""
    server = server_of(bot)
    real = server.metrics.now
    server.clock = lambda: real() + by


async def poll_planned_later(bot: BotUnderTest) -> None:
    """Wait until the start-up poll has run: the poll it planned is due after now."""
    assert bot.app.job_queue is not None
    job_queue = bot.app.job_queue

    async def planned() -> bool:
        return any(job.data.when > utcnow() for job in job_queue.get_jobs_by_name(POLL_JOB))

    await eventually(planned, timeout=WAIT)


def sample(metrics: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus's text format."""
    label_text = ",".join(f'{key}="{value}"' for key, value in labels.items())
    series = f"{name}{{{label_text}}}" if labels else name
    match = re.search(rf"^{re.escape(series)} (\S+)$", metrics, re.MULTILINE)
    assert match is not None, f"{series} not in the metrics"
    return float(match.group(1))


async def test_endpoint_is_off_by_default(start_bot: StartBot) -> None:
    """Without health_port the application starts no HTTP server."""
    async with start_bot() as bot:
        assert HEALTH_KEY not in bot.app.bot_data


async def test_healthz_is_200_with_the_last_poll_after_a_successful_poll(
    healthy_bot: tuple[BotUnderTest, str],
) -> None:
    """After the start-up poll, /healthz answers 200 with JSON: alive, database reachable,
    the time of the last successful poll; the Docker health check agrees."""
    bot, base = healthy_bot
    response = await get(base + "/healthz")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    assert body["status"] == "healthy"
    assert body["reasons"] == []
    assert body["checks"] == {
        "poll": "healthy",
        "database": "healthy",
        "outbox": "healthy",
        "sending": "healthy",
    }
    assert body["sending_paused"] is None
    assert body["alive"] is True
    assert body["healthy"] is True
    assert body["database_reachable"] is True
    assert body["database_writable"] is True
    assert body["poll_running_since"] is None
    assert body["outbox_pending"] == 0
    last = dt.datetime.fromisoformat(body["last_successful_poll"])
    assert last == bot.services.metrics.last_successful_poll
    port = int(base.rpartition(":")[2])
    healthy, _ = await asyncio.to_thread(check, port)
    assert healthy


async def test_healthz_turns_503_when_polling_stops(
    healthy_bot: tuple[BotUnderTest, str],
) -> None:
    """With the clock moved four days on and no poll since, /healthz answers 503 and says the
    poll is overdue; back at the present it is 200 again."""
    bot, base = healthy_bot
    server = server_of(bot)
    real = server.clock
    server.clock = lambda: real() + dt.timedelta(days=4)
    response = await get(base + "/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["poll_overdue"] is True
    assert body["database_reachable"] is True
    assert body["alive"] is True
    server.clock = real
    assert (await get(base + "/healthz")).status_code == 200


async def test_healthz_is_503_when_the_database_does_not_answer(
    healthy_bot: tuple[BotUnderTest, str],
) -> None:
    """With the database connection closed, /healthz answers 503, database unreachable."""
    bot, base = healthy_bot
    await bot.services.store.close()
    response = await get(base + "/healthz")
    assert response.status_code == 503
    assert response.json()["database_reachable"] is False
    assert response.json()["database_writable"] is False


# --- case 14: starting, a stuck poll, a database that cannot be written, an outbox stuck -------


async def test_healthz_says_starting_until_arxiv_is_reached_and_unhealthy_after_the_grace(
    start_bot: StartBot, feeds: FeedServer
) -> None:
    """arXiv not reached since the start (the feed answers 404): /healthz answers 200 with
    status "starting" and says why, for the start grace (HEALTH_START_GRACE_MINUTES, 30 by
    default), then 503 "unhealthy" with the reason. The first poll that reaches arXiv makes it
    200 "healthy"."""
    feeds.set_response(FEED, "Not Found", status=404)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with start_bot(health_port=port) as bot:
        await feeds.wait_for_requests(1, path=FEED, timeout=WAIT)
        await poll_planned_later(bot)  # the start-up poll failed and planned a retry
        status, body = await healthz(base)
        assert (status, body["status"], body["healthy"]) == (200, "starting", True)
        assert body["checks"]["poll"] == "starting"
        assert body["last_successful_poll"] is None
        (reason,) = body["reasons"]
        assert "no successful poll yet" in reason
        shift_clock(bot, START_GRACE + dt.timedelta(minutes=1))
        status, body = await healthz(base)
        assert (status, body["status"], body["healthy"]) == (503, "unhealthy", False)
        assert body["checks"]["poll"] == "unhealthy"
        (reason,) = body["reasons"]
        assert "no successful poll since the start" in reason
        server_of(bot).clock = server_of(bot).metrics.now
        feeds.set_response(FEED, TRUNCATED_ATOM.read_bytes(), content_type="application/atom+xml")
        await bot.run_job(POLL_JOB)
        status, body = await healthz(base)
        assert (status, body["status"], body["reasons"]) == (200, "healthy", [])


async def test_healthz_is_503_when_a_poll_has_finished_no_feed_for_too_long(
    start_bot: StartBot, feeds: FeedServer
) -> None:
    """A poll stuck on a feed that trickles a byte every 0.2 s: /healthz says since when the poll
    runs and stays 200 while a feed may still be on its way; once no feed of the poll has
    finished for longer than one feed URL can take (8 * HTTP_DEADLINE + 30 min: 38 min with a
    60 s deadline), it answers 503 "unhealthy" and names the stuck poll."""
    feeds.set_answer(FEED, trickle(0.2))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with start_bot(
        health_port=port, http_deadline=60.0, health_start_grace_minutes=600
    ) as bot:
        await feeds.wait_for_requests(1, path=FEED, timeout=WAIT)
        status, body = await healthz(base)
        assert (status, body["status"]) == (200, "starting")
        assert body["poll_running_since"] is not None
        shift_clock(bot, dt.timedelta(minutes=35))
        status, body = await healthz(base)
        assert (status, body["status"]) == (200, "starting")
        shift_clock(bot, dt.timedelta(minutes=39))
        status, body = await healthz(base)
        assert (status, body["status"]) == (503, "unhealthy")
        assert body["checks"]["poll"] == "unhealthy"
        stuck = [reason for reason in body["reasons"] if "has finished no feed" in reason]
        assert len(stuck) == 1
        assert "for more than 38 min" in stuck[0]
        assert feeds.hung_up == 0  # the same poll, still in its trickle


async def fill_database(bot: BotUnderTest) -> None:
    """The disk is full, as far as the bot's connection can tell: the file is compacted (no
    free page left inside it) and the connection may not make it one page larger."""
    path = bot.services.config.database_path

    def vacuum() -> None:
        with contextlib.closing(sqlite3.connect(path)) as other:
            other.execute("VACUUM")

    await asyncio.to_thread(vacuum)
    db = bot.services.store._db
    async with db.execute("PRAGMA page_count") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    async with db.execute(f"PRAGMA max_page_count = {int(row[0])}") as cursor:
        assert await cursor.fetchone() == row


UNWRITABLE = {
    "disk full": (fill_database, "PRAGMA max_page_count = 1073741823", "full"),
    "read-only": (None, "PRAGMA query_only = OFF", "readonly"),
}


@pytest.mark.parametrize("how", UNWRITABLE, ids=UNWRITABLE)
async def test_healthz_is_503_while_the_database_cannot_be_written(
    healthy_bot: tuple[BotUnderTest, str], how: str
) -> None:
    """A database that still answers reads but takes no write (full: not one more page; or
    read-only): /healthz answers 503 "unhealthy", reachable but not writable, with SQLite's
    reason; once it can be written again, 200 "healthy"."""
    bot, base = healthy_bot
    spoil, restore, error = UNWRITABLE[how]
    if spoil is not None:
        await spoil(bot)
    else:
        await bot.services.store._db.execute("PRAGMA query_only = ON")
    status, body = await healthz(base)
    assert (status, body["status"]) == (503, "unhealthy")
    assert body["checks"]["database"] == "unhealthy"
    assert (body["database_reachable"], body["database_writable"]) == (True, False)
    (reason,) = body["reasons"]
    assert "cannot be written" in reason
    assert error in reason.replace(" ", "")
    await bot.services.store._db.execute(restore)
    status, body = await healthz(base)
    assert (status, body["status"], body["database_writable"]) == (200, "healthy", True)


async def test_healthz_is_503_when_the_disk_of_the_database_is_nearly_full(
    healthy_bot: tuple[BotUnderTest, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite may still write into space its files already hold on a full disk: /healthz also
    asks the file system, and answers 503 when less than the minimum (16 MiB) is free there
    (here: the minimum raised above what the test machine has free)."""
    from bot.storage import probes

    bot, base = healthy_bot
    assert probes.MIN_FREE_BYTES == 16 << 20
    free = shutil.disk_usage(bot.services.config.database_path.parent).free
    monkeypatch.setattr(probes, "MIN_FREE_BYTES", 2 * free + (1 << 30))
    status, body = await healthz(base)
    assert (status, body["status"], body["database_writable"]) == (503, "unhealthy", False)
    (reason,) = body["reasons"]
    assert "free on the disk" in reason
    monkeypatch.undo()
    status, body = await healthz(base)
    assert (status, body["status"]) == (200, "healthy")


async def test_healthz_is_503_when_a_digest_part_waits_longer_than_the_outbox_grace(
    healthy_bot: tuple[BotUnderTest, str],
) -> None:
    """Telegram refuses every send to the chat (502), so its digest stays in the outbox:
    /healthz counts the part and stays 200 within HEALTH_OUTBOX_GRACE_MINUTES (60 by default)
    of the digest's composition; past it, 503 "unhealthy", naming the outbox."""
    bot, base = healthy_bot
    await bot.ask("/subscribe diffusion")
    bot.telegram.fail_next(chat_id=USER, status=502, times=10_000)
    bot.telegram.user_sends(USER, "/digest")

    async def queued() -> bool:
        return await bot.services.store.count_pending_parts() > 0

    await eventually(queued, timeout=WAIT)
    status, body = await healthz(base)
    assert (status, body["status"]) == (200, "healthy")
    assert body["outbox_pending"] > 0
    oldest = dt.datetime.fromisoformat(body["outbox_oldest_waiting"])
    assert oldest <= utcnow()
    shift_clock(bot, OUTBOX_GRACE - dt.timedelta(minutes=5))
    assert (await healthz(base))[0] == 200
    shift_clock(bot, OUTBOX_GRACE + dt.timedelta(minutes=1))
    status, body = await healthz(base)
    assert (status, body["status"]) == (503, "unhealthy")
    assert body["checks"]["outbox"] == "unhealthy"
    (reason,) = body["reasons"]
    assert "outbox" in reason
    assert "60 min" in reason


def test_the_health_bounds_are_settings() -> None:
    """The start grace and the outbox grace come from the environment (or the file), with
    defaults of 30 and 60 minutes; out-of-range values stop the start naming the key."""
    base = {"BOT_TOKEN": TOKEN, "BOT_CONFIG": "config/bot.toml"}
    config = load_config(base)
    assert (config.health_start_grace_minutes, config.health_outbox_grace_minutes) == (30, 60)
    config = load_config(
        {**base, "HEALTH_START_GRACE_MINUTES": "90", "HEALTH_OUTBOX_GRACE_MINUTES": "240"}
    )
    assert (config.health_start_grace_minutes, config.health_outbox_grace_minutes) == (90, 240)
    for key in ("HEALTH_START_GRACE_MINUTES", "HEALTH_OUTBOX_GRACE_MINUTES"):
        for value in ("0", "-5", "soon"):
            with pytest.raises(ConfigError, match=f"^{key}:"):
                load_config({**base, key: value})


async def test_metrics_count_polls_papers_matches_digests_messages_and_commands(
    healthy_bot: tuple[BotUnderTest, str],
) -> None:
    """After a poll, a subscription and a digest that met one 429 and one 502, /metrics
    shows each: polls by outcome, papers, matches, the digest, messages, the 429, both
    retries, an empty outbox, and the latency of each command."""
    bot, base = healthy_bot
    await bot.ask("/subscribe diffusion")
    bot.telegram.fail_next(status=429, retry_after=1)
    await bot.ask("/digest")
    bot.telegram.fail_next(status=502)
    messages = await bot.press_more()
    papers = len(ids_in(messages))
    assert papers > 0
    metrics = (await get(base + "/metrics")).text
    assert sample(metrics, "arxiv_bot_polls_total", outcome="ok") == 1
    assert sample(metrics, "arxiv_bot_polls_total", outcome="failed") == 0
    assert sample(metrics, "arxiv_bot_fetch_errors_total") == 0
    assert sample(metrics, "arxiv_bot_papers_ingested_total") == 86
    assert sample(metrics, "arxiv_bot_matches_total") == papers
    assert sample(metrics, "arxiv_bot_digests_sent_total") == 1
    sent = len(bot.telegram.calls_to("sendMessage")) - 2  # two calls answered with errors
    assert sample(metrics, "arxiv_bot_messages_sent_total") == sent
    assert sample(metrics, "arxiv_bot_telegram_429_total") == 1
    assert sample(metrics, "arxiv_bot_retries_total", reason="rate_limit") == 1
    assert sample(metrics, "arxiv_bot_retries_total", reason="network") >= 1
    assert sample(metrics, "arxiv_bot_outbox_pending") == 0
    for command in ("subscribe", "digest"):
        count = sample(metrics, "arxiv_bot_command_duration_seconds_count", command=command)
        assert count == 1
    last = bot.services.metrics.last_successful_poll
    assert last is not None
    assert sample(metrics, "arxiv_bot_last_successful_poll_timestamp_seconds") == pytest.approx(
        last.timestamp()
    )


async def test_a_failed_poll_counts_as_a_fetch_error_and_keeps_the_last_success(
    healthy_bot: tuple[BotUnderTest, str], feeds: FeedServer
) -> None:
    """A poll whose feed answers 404 counts as failed and as a fetch error; the time of the
    last successful poll stays that of the poll before."""
    bot, base = healthy_bot
    before = bot.services.metrics.last_successful_poll
    feeds.set_response("/atom/cs.AI", "Not Found", status=404)
    await bot.run_job(POLL_JOB)
    metrics = (await get(base + "/metrics")).text
    assert sample(metrics, "arxiv_bot_polls_total", outcome="ok") == 1
    assert sample(metrics, "arxiv_bot_polls_total", outcome="failed") == 1
    assert sample(metrics, "arxiv_bot_fetch_errors_total") == 1
    assert bot.services.metrics.last_successful_poll == before
    body = (await get(base + "/healthz")).json()
    assert before is not None
    assert body["last_successful_poll"] == before.isoformat()


async def test_healthz_says_when_the_holiday_table_is_out_of_date_and_stays_200(
    healthy_bot: tuple[BotUnderTest, str],
) -> None:
    """In a year the holiday table has entries for, /healthz says calendar_out_of_date: false;
    in a year without entries, true, and it stays 200: the bot polls every day whatever the
    table says, only the days' labels and the notion of a late feed suffer."""
    bot, base = healthy_bot
    server = server_of(bot)
    metrics = bot.services.metrics
    for moment, out_of_date in (
        (dt.datetime(2026, 12, 9, 12, 0, tzinfo=dt.UTC), False),
        (dt.datetime(2027, 1, 6, 12, 0, tzinfo=dt.UTC), True),
    ):
        server.clock = lambda moment=moment: moment
        metrics.last_successful_poll = moment - dt.timedelta(hours=6)
        response = await get(base + "/healthz")
        assert response.status_code == 200
        body = response.json()
        assert body["healthy"] is True
        assert body["calendar_out_of_date"] is out_of_date


def test_a_poll_on_friday_is_not_overdue_before_monday() -> None:
    """The poll after Friday's (2024-03-08) is due on Monday after the rebuild, not 24 hours
    later: a weekend without announcements never makes the bot unhealthy."""
    friday = dt.datetime(2024, 3, 8, 0, 10, tzinfo=ARXIV_TZ)
    deadline = poll_deadline(friday, friday, poll_delay=DELAY, grace=GRACE, start_grace=START_GRACE)
    assert deadline.astimezone(ARXIV_TZ) == dt.datetime(2024, 3, 11, 8, 10, tzinfo=ARXIV_TZ)


def test_a_missed_weekday_poll_is_overdue_after_the_grace() -> None:
    """A Tuesday poll is followed by Wednesday's; /healthz turns unhealthy `grace` after it."""
    tuesday = dt.datetime(2024, 3, 12, 0, 10, tzinfo=ARXIV_TZ)
    deadline = poll_deadline(
        tuesday, tuesday, poll_delay=DELAY, grace=GRACE, start_grace=START_GRACE
    )
    assert deadline.astimezone(ARXIV_TZ) == dt.datetime(2024, 3, 13, 8, 10, tzinfo=ARXIV_TZ)


def test_before_any_successful_poll_the_start_grace_counts() -> None:
    """A bot that never polled successfully is unhealthy `start_grace` after it started (not
    the poll grace of hours: a start in which arXiv is never reached is soon unhealthy)."""
    started = dt.datetime(2024, 3, 9, 12, 0, tzinfo=dt.UTC)
    deadline = poll_deadline(None, started, poll_delay=DELAY, grace=GRACE, start_grace=START_GRACE)
    assert deadline == started + START_GRACE


def test_a_long_poll_is_stuck_only_when_no_feed_finishes_within_the_bound() -> None:
    """A poll of many feed URLs may run long; it is stuck only once no feed of it has finished
    (or, before the first, since it started) for longer than one feed can take: 8 * the
    deadline + 30 min. A poll that ends is no longer judged."""
    now = [dt.datetime(2024, 3, 12, 4, 10, tzinfo=dt.UTC)]
    metrics = Metrics(clock=lambda: now[0])
    limits = PollLimits(
        poll_delay=DELAY, grace=GRACE, start_grace=START_GRACE, feed_bound=feed_bound(60.0)
    )
    assert limits.feed_bound == dt.timedelta(minutes=38)
    metrics.poll_done(new_papers=0, failed_feeds=0)  # Tuesday's poll reached arXiv
    metrics.poll_started()  # a poll by hand, of many feeds
    for _ in range(3):  # three slow feeds, 30 minutes each: a poll of 90 minutes, not stuck
        now[0] += dt.timedelta(minutes=30)
        verdict = judge_poll(metrics, now[0], limits)
        assert (verdict.status, verdict.reasons) == (Status.HEALTHY, ())
        metrics.feed_polled()
    now[0] += dt.timedelta(minutes=38, seconds=1)
    verdict = judge_poll(metrics, now[0], limits)
    assert verdict.status is Status.UNHEALTHY
    (reason,) = verdict.reasons
    assert "has finished no feed for more than 38 min" in reason
    metrics.poll_finished()
    verdict = judge_poll(metrics, now[0], limits)
    assert (verdict.status, verdict.reasons) == (Status.HEALTHY, ())


def test_the_stuck_poll_bound_is_longer_than_the_slowest_feed_the_fetcher_allows() -> None:
    """One feed URL takes at most the fetcher's attempts, each behind at most one other
    request (within its deadline) and the spacing, whole within its deadline, and followed by
    at most the longest back-off or Retry-After it sleeps through: the bound is longer, for
    every deadline the settings allow."""
    defaults = inspect.signature(PoliteFetcher.__init__).parameters
    attempts = defaults["max_attempts"].default
    spacing = defaults["min_interval"].default
    longest_sleep = defaults["max_wait"].default
    for deadline in (1.0, 10.0, 90.0, 3600.0):
        slowest = attempts * (2 * deadline + spacing + longest_sleep)
        assert feed_bound(deadline).total_seconds() > slowest


async def test_a_taken_port_is_logged_and_the_bot_runs_on(
    start_bot: StartBot, caplog: pytest.LogCaptureFixture
) -> None:
    """When the health port is taken, the error names it and the bot still answers."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        async with start_bot(health_port=port) as bot:
            (reply,) = await bot.ask("/help")
            assert reply.text
            assert HEALTH_KEY not in bot.app.bot_data
    assert f"Cannot serve /healthz and /metrics on 127.0.0.1:{port}" in caplog.text


async def test_endpoint_stops_with_the_application(start_bot: StartBot) -> None:
    """The endpoint answers while the bot runs and the port is closed once it has stopped."""
    port = free_port()
    async with start_bot(health_port=port):
        response = await get(f"http://127.0.0.1:{port}/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
    with pytest.raises(httpx.ConnectError):
        await get(f"http://127.0.0.1:{port}/healthz")
