"""`python -m bot` as a process: exit codes, clean stop on SIGTERM, no token in any log line."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

from tests.conftest import TOKEN, TRUNCATED_ATOM
from tests.fakes import FakeBotAPI, FeedServer
from tests.process import ROOT, bot_env, bot_process

USER = 4242


async def run_to_end(env: dict[str, str], timeout: float = 30) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, (out + err).decode()


async def test_missing_token_explains_and_exits_2(tmp_path: Path) -> None:
    """Without BOT_TOKEN the bot says how to get one and exits with status 2."""
    code, output = await run_to_end(bot_env(tmp_path))
    assert code == 2
    assert "BOT_TOKEN" in output
    assert "@BotFather" in output
    assert "Traceback" not in output


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
        env = bot_env(
            tmp_path,
            BOT_TOKEN=TOKEN,
            BOT_API_URL=api.base_url,
            ARXIV_RSS_BASE=feeds.url + "/atom/",
            ARXIV_CATEGORIES="cs.AI",
            POLLING_TIMEOUT="1",
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
