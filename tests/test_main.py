"""`python -m bot` as a process: exit codes, clean stop on SIGTERM, no token in any log line."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import time
import tomllib
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.config import VERSION
from bot.ops.healthcheck import check
from tests import process
from tests.conftest import TOKEN, TRUNCATED_ATOM, free_port
from tests.fakes import BOT_USERNAME, FakeBotAPI, FeedServer
from tests.fakes.feed_server import Answer
from tests.process import bot_env, bot_process, live_env

USER = 4242


async def run_to_end(env: dict[str, str], timeout: float = 30) -> tuple[int, str]:
    """Start the bot and wait for it to exit: its status and all it printed."""
    code, out, err = await process.run_to_end(env, timeout=timeout)
    return code, out + err


async def test_missing_token_explains_and_exits_2(tmp_path: Path) -> None:
    """Without BOT_TOKEN the bot says how to get one and exits with status 2."""
    code, output = await run_to_end(bot_env(tmp_path))
    assert code == 2
    assert "BOT_TOKEN" in output
    assert "@BotFather" in output
    assert "Traceback" not in output


async def test_version_is_printed_without_a_token_by_both_ways_to_run_the_bot(
    tmp_path: Path,
) -> None:
    """`python -m bot --version` and the installed `arxiv-digest-bot --version` print the
    package's version (pyproject's) and exit 0; no token needed, no bot started."""
    version = tomllib.loads((process.ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version == VERSION
    env = bot_env(tmp_path)
    code, out, err = await process.run_to_end(env, "--version")
    assert (code, out, err) == (0, f"arxiv-digest-bot {version}\n", "")
    script = Path(sys.executable).parent / "arxiv-digest-bot"  # pyproject's console script
    installed = await asyncio.create_subprocess_exec(
        script, "--version", env=env, stdout=asyncio.subprocess.PIPE
    )
    printed, _ = await asyncio.wait_for(installed.communicate(), 60)
    assert (installed.returncode, printed.decode()) == (0, f"arxiv-digest-bot {version}\n")
    assert not (tmp_path / "bot.sqlite3").exists()


def test_the_license_is_the_mit_license_pyproject_names() -> None:
    assert (
        tomllib.loads((process.ROOT / "pyproject.toml").read_text())["project"]["license"] == "MIT"
    )
    assert (process.ROOT / "LICENSE").read_text().startswith("MIT License\n")


async def test_malformed_setting_names_the_key_and_exits_2(tmp_path: Path) -> None:
    """A malformed value is refused at start with its key named."""
    code, output = await run_to_end(bot_env(tmp_path, BOT_TOKEN=TOKEN, DIGEST_TIME="noon"))
    assert code == 2
    assert "DIGEST_TIME" in output


async def test_unknown_category_is_refused_at_start(tmp_path: Path) -> None:
    """An arXiv category that does not exist stops the start (arXiv would answer 400 to
    every poll): the message names the key, the category and a likely correction."""
    env = bot_env(tmp_path, BOT_TOKEN=TOKEN, ARXIV_CATEGORIES="cs.LG+cs.ML")
    code, output = await run_to_end(env)
    assert code == 2
    assert "ARXIV_CATEGORIES: 'cs.ML' is not an arXiv category (did you mean stat.ML" in output
    assert "Traceback" not in output


async def test_rejected_token_exits_2_without_printing_it(tmp_path: Path) -> None:
    """A token Telegram refuses (401) ends the start with a clear message, token hidden."""
    async with FakeBotAPI(TOKEN) as api:
        other = "999999:WRONG-token_abcdefghijklmnopqrstuv"
        env = bot_env(tmp_path, BOT_TOKEN=other, BOT_API_URL=api.base_url)
        code, output = await run_to_end(env)
    assert code == 2
    assert "refused the token" in output
    assert other not in output


async def test_full_run_answers_stops_on_sigterm_and_never_logs_the_token(
    tmp_path: Path,
) -> None:
    """The real process polls the feed, answers a user, stops within seconds, logs no token."""
    async with FakeBotAPI(TOKEN) as api, FeedServer() as feeds:
        feeds.set_response("/atom/cs.AI", TRUNCATED_ATOM.read_bytes())
        env = live_env(
            tmp_path,
            api.base_url,
            feeds.url,
            LOG_LEVEL="DEBUG",  # the most talkative setting, httpx request lines included
        )
        log_path = tmp_path / "bot.log"
        async with bot_process(env, log_path) as process:
            await api.wait_for_call("setMyCommands", timeout=20)
            await feeds.wait_for_requests(1, timeout=20)
            api.user_sends(USER, "/subscribe diffusion")
            await api.wait_for_messages(USER, 1, timeout=20)
            api.user_sends(USER, "/digest")
            await api.wait_for_messages(USER, 2, timeout=20)
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=10)
            stopped_in = time.monotonic() - started
    output = log_path.read_text()
    assert process.returncode == 0, output
    assert stopped_in < 5
    assert "HTTP Request" in output, "httpx request lines were logged (and redacted)"
    assert TOKEN not in output
    assert TOKEN.split(":", 1)[1] not in output
    assert "<redacted>" in output
    assert api.violations == []
    # What a new operator needs to read in the log: which settings file, and what to do next.
    assert f"Settings read from {env['BOT_CONFIG']}, then the environment" in output
    assert f"Open https://t.me/{BOT_USERNAME} in Telegram and send /start" in output


async def test_second_instance_exits_3_and_a_restart_after_sigkill_is_not_blocked(
    tmp_path: Path,
) -> None:
    """A second bot on the same database exits with status 3 and says another instance runs,
    while the first keeps answering; once the first is killed (SIGKILL, no clean-up) a new
    one starts."""
    async with FakeBotAPI(TOKEN) as api, FeedServer() as feeds:
        feeds.set_response("/atom/cs.AI", TRUNCATED_ATOM.read_bytes())
        env = live_env(
            tmp_path,
            api.base_url,
            feeds.url,
        )
        async with bot_process(env, tmp_path / "first.log") as first:
            await api.wait_for_call("setMyCommands", timeout=20)
            code, output = await run_to_end(env)
            assert code == 3, output
            assert f"another instance (pid {first.pid}) is already running" in output
            assert "Traceback" not in output
            assert first.returncode is None
            api.user_sends(USER, "/help")
            await api.wait_for_messages(USER, 1, timeout=20)
            first.send_signal(signal.SIGKILL)
            await asyncio.wait_for(first.wait(), timeout=10)
        starts = len(api.calls_to("setMyCommands"))
        async with bot_process(env, tmp_path / "second.log") as second:
            await api.wait_for_call("setMyCommands", count=starts + 1, timeout=20)
            api.user_sends(USER, "/help")
            await api.wait_for_messages(USER, 2, timeout=20)
            assert second.returncode is None


async def test_json_logs_of_a_full_run_are_one_object_per_line_without_the_token(
    tmp_path: Path,
) -> None:
    """With JSON logs at DEBUG and the health endpoint on, a whole session (start, a poll, a
    subscription, a digest sent, /healthz and /metrics asked, SIGTERM) logs only JSON objects,
    and the token appears in none of them, plain or URL-encoded."""
    port = free_port()
    async with FakeBotAPI(TOKEN) as api, FeedServer() as feeds:
        # The feed answers only once the test lets it: the first poll is certainly still
        # running when the user subscribes, however fast or slow the machine.
        feed_released = asyncio.Event()
        feeds.set_answer("/atom/cs.AI", held_until(feed_released, TRUNCATED_ATOM.read_bytes()))
        env = live_env(
            tmp_path,
            api.base_url,
            feeds.url,
            LOG_LEVEL="DEBUG",
            LOG_FORMAT="json",
            HEALTH_PORT=str(port),
        )
        log_path = tmp_path / "bot.log"
        async with bot_process(env, log_path) as process:
            await api.wait_for_call("setMyCommands", timeout=20)
            await feeds.wait_for_requests(1, timeout=20)
            api.user_sends(USER, "/subscribe diffusion")
            await api.wait_for_messages(USER, 1, timeout=20)
            feed_released.set()
            # /digest only once the first poll has stored the feed (a poll counts as ok in
            # /metrics after its papers are stored): before, there is nothing to send.
            async with asyncio.timeout(20):
                while 'arxiv_bot_polls_total{outcome="ok"} 1.0' not in await scrape_soon(port):
                    await asyncio.sleep(0.1)
            async with asyncio.timeout(20):
                while not (await asyncio.to_thread(check, port))[0]:
                    await asyncio.sleep(0.1)
            api.user_sends(USER, "/digest")
            digest = await api.wait_for_messages(USER, 2, timeout=20)
            assert "arxiv.org/abs/" in digest[-1].text
            async with asyncio.timeout(20):  # the digest's last part is sent
                while "arxiv_bot_digests_sent_total 1.0" not in (
                    metrics := await asyncio.to_thread(scrape, port)
                ):
                    await asyncio.sleep(0.1)
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=10)
    assert process.returncode == 0
    assert 'arxiv_bot_polls_total{outcome="ok"} 1.0' in metrics
    sent = re.search(r"^arxiv_bot_messages_sent_total (\S+)$", metrics, re.MULTILINE)
    assert sent is not None
    assert float(sent.group(1)) >= 2  # the reply to /subscribe and the digest at least
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= set(entries[0])
    assert any(entry["message"].startswith("HTTP Request") for entry in entries)
    assert any(entry["message"].startswith("Health endpoint on") for entry in entries)
    text = "\n".join(lines)
    assert TOKEN not in text
    assert TOKEN.split(":", 1)[1] not in text
    assert quote(TOKEN, safe="") not in text
    assert "<redacted>" in text


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return str(response.read().decode())


async def scrape_soon(port: int) -> str:
    """/metrics, or "" while the endpoint does not answer yet (the bot is starting)."""
    try:
        return await asyncio.to_thread(scrape, port)
    except OSError:
        return ""


def held_until(released: asyncio.Event, body: bytes) -> Answer:
    """The feed `body`, its headers at once and the body once `released` is set."""

    async def stream() -> AsyncIterator[bytes]:
        await released.wait()
        yield body

    return Answer(stream=stream, content_type="application/atom+xml; charset=utf-8")


def _json_lines(output: str) -> list[dict[str, str]]:
    """Every line the process printed, each of which must be a JSON log entry."""
    entries = []
    for line in output.splitlines():
        if line.strip():
            try:
                entries.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"not a log entry: {line!r}\nin:\n{output}") from None
    return entries


def _assert_no_token(output: str) -> None:
    assert TOKEN not in output
    assert TOKEN.split(":", 1)[1] not in output
    assert quote(TOKEN, safe="") not in output


@pytest.mark.parametrize(
    ("method", "status"),
    [("getMe", 400), ("setMyCommands", 400), ("deleteWebhook", 403)],
)
async def test_a_start_up_refusal_echoing_the_url_never_prints_the_token(
    tmp_path: Path, method: str, status: int
) -> None:
    """When the Bot API refuses a start-up call with an error text that echoes the request
    URL (python-telegram-bot lower-cases the token in it), the process exits with status 1
    and everything it prints is a log entry that went through the redactor: no raw
    traceback, no token in any case."""
    async with FakeBotAPI(TOKEN) as api, FeedServer() as feeds:
        feeds.set_response("/atom/cs.AI", TRUNCATED_ATOM.read_bytes())
        url = f"{api.base_url}{TOKEN}/{method}"
        api.fail_next(method, status=status, description=f"Bad Request: cannot serve {url}")
        env = live_env(tmp_path, api.base_url, feeds.url, LOG_FORMAT="json")
        code, output = await run_to_end(env)
    assert code == 1, output
    entries = _json_lines(output)
    _assert_no_token(output)
    refused = [e for e in entries if e["logger"] == "bot" and e["level"] == "ERROR"]
    assert "refused to start the bot: Cannot serve" in refused[-1]["message"], output
    assert "<redacted>" in refused[-1]["message"]


async def test_a_server_error_echoing_the_url_while_running_never_prints_the_token(
    tmp_path: Path,
) -> None:
    """A 500 whose text echoes the request URL, answered to the first getMe and to a reply,
    is retried and logged through the redactor (in any case, plain or URL-encoded); the
    bot answers and stops on SIGTERM, and its whole output holds no token."""
    async with FakeBotAPI(TOKEN) as api, FeedServer() as feeds:
        feeds.set_response("/atom/cs.AI", TRUNCATED_ATOM.read_bytes())
        for method in ("getMe", "sendMessage"):
            url = f"{api.base_url}{quote(TOKEN, safe='')}/{method} and {TOKEN.upper()}"
            api.fail_next(method, status=500, description=f"Internal error at {url}")
        env = live_env(tmp_path, api.base_url, feeds.url, LOG_FORMAT="json", LOG_LEVEL="DEBUG")
        log_path = tmp_path / "bot.log"
        async with bot_process(env, log_path) as process:
            await api.wait_for_call("setMyCommands", timeout=20)
            api.user_sends(USER, "/help")
            await api.wait_for_messages(USER, 1, timeout=30)
            process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(process.wait(), timeout=10)
    output = log_path.read_text()
    assert process.returncode == 0, output
    _json_lines(output)
    _assert_no_token(output)
    assert TOKEN.upper() not in output
    assert "Internal error at" in output


@pytest.mark.parametrize("where", ["file instead of the folder", "folder instead of the file"])
async def test_a_crash_during_start_up_is_logged_through_the_redactor(
    tmp_path: Path, where: str
) -> None:
    """A start-up that fails on something unexpected (a file where the database's folder
    should be, met when taking the instance lock; a folder where the database should be,
    met when opening it) ends with status 1 and one critical entry saying the bot could not
    start, with the traceback inside the entry, not printed raw; no token anywhere."""
    if where.startswith("file"):
        (tmp_path / "data").write_text("")
        database = tmp_path / "data" / "bot.sqlite3"
    else:
        database = tmp_path / "bot.sqlite3"
        database.mkdir()
    async with FakeBotAPI(TOKEN) as api, FeedServer() as feeds:
        env = live_env(
            tmp_path,
            api.base_url,
            feeds.url,
            LOG_FORMAT="json",
            DATABASE_URL=f"sqlite:///{database}",
        )
        code, output = await run_to_end(env)
    assert code == 1, output
    entries = _json_lines(output)
    _assert_no_token(output)
    (crash,) = [entry for entry in entries if entry["level"] == "CRITICAL"]
    assert crash["message"].startswith("The bot could not start: "), output
    assert "Traceback" in crash["exception"]


async def test_a_configuration_error_is_logged_as_json_when_asked(tmp_path: Path) -> None:
    """Before the configuration is read, the log follows LOG_FORMAT from the environment: a
    configuration error is one JSON entry, naming the key."""
    env = bot_env(tmp_path, BOT_TOKEN=TOKEN, DIGEST_TIME="noon", LOG_FORMAT="json")
    code, output = await run_to_end(env)
    assert code == 2
    (entry,) = _json_lines(output)
    assert entry["level"] == "ERROR"
    assert "configuration error: DIGEST_TIME" in entry["message"]
