"""`python -m bot` as a child process of a test: a clean environment and a process that is
always reaped, whatever the test does."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.conftest import TOKEN

ROOT = Path(__file__).resolve().parent.parent


def bot_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment: only what the bot needs, no BOT_* from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "ARXIV_"))}
    env.update(
        BOT_CONFIG=str(ROOT / "config" / "bot.toml"),
        DATABASE_URL=f"sqlite:///{tmp_path / 'bot.sqlite3'}",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def live_env(tmp_path: Path, api_url: str, feeds_url: str, **extra: str) -> dict[str, str]:
    """A clean environment for a bot that runs against the fake Bot API at `api_url` and
    polls cs.AI from the loopback feed server at `feeds_url`."""
    return bot_env(
        tmp_path,
        BOT_TOKEN=TOKEN,
        BOT_API_URL=api_url,
        ARXIV_RSS_BASE=feeds_url + "/atom/",
        ARXIV_CATEGORIES="cs.AI",
        POLLING_TIMEOUT="1",
        **extra,
    )


async def run_to_end(env: dict[str, str], *args: str, timeout: float = 60) -> tuple[int, str, str]:
    """Run `python -m bot <args>` to its end: its exit status, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


@asynccontextmanager
async def bot_process(
    env: dict[str, str], log_path: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """The bot as a child process, its output going to a file (a pipe could fill and block).

    Killed (SIGKILL) and reaped on the way out if it is still running.
    """
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            yield process
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
