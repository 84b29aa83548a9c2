"""The health and metrics endpoint of the running application: off unless asked for; /healthz
turns 503 when polling stops or the database is gone; /metrics counts what the bot did."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bot.app import HEALTH_KEY
from bot.arxiv.calendar import ARXIV_TZ
from bot.ops.health import HealthServer, poll_deadline
from bot.ops.healthcheck import check
from bot.schedule import POLL_JOB
from tests.conftest import BotUnderTest, StartBot, eventually, free_port, ids_in
from tests.fakes import FeedServer

DELAY = dt.timedelta(minutes=10)
GRACE = dt.timedelta(hours=8)


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
    async with httpx.AsyncClient(timeout=5) as client:
        return await client.get(url)


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
    assert body["alive"] is True
    assert body["healthy"] is True
    assert body["database_reachable"] is True
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
    deadline = poll_deadline(friday, friday, poll_delay=DELAY, grace=GRACE)
    assert deadline.astimezone(ARXIV_TZ) == dt.datetime(2024, 3, 11, 8, 10, tzinfo=ARXIV_TZ)


def test_a_missed_weekday_poll_is_overdue_after_the_grace() -> None:
    """A Tuesday poll is followed by Wednesday's; /healthz turns unhealthy `grace` after it."""
    tuesday = dt.datetime(2024, 3, 12, 0, 10, tzinfo=ARXIV_TZ)
    deadline = poll_deadline(tuesday, tuesday, poll_delay=DELAY, grace=GRACE)
    assert deadline.astimezone(ARXIV_TZ) == dt.datetime(2024, 3, 13, 8, 10, tzinfo=ARXIV_TZ)


def test_before_any_successful_poll_the_start_counts_as_due() -> None:
    """A bot that never polled successfully is unhealthy `grace` after it started."""
    started = dt.datetime(2024, 3, 9, 12, 0, tzinfo=dt.UTC)
    assert poll_deadline(None, started, poll_delay=DELAY, grace=GRACE) == started + GRACE


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
