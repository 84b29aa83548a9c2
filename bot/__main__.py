"""`python -m bot`: load the configuration, then run the bot with long polling until stopped.

`python -m bot export ...` and `python -m bot preview ...` show the bot's output without
Telegram (bot/cli/); `python -m bot --help` lists them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading

from telegram import Update
from telegram.error import InvalidToken, NetworkError
from telegram.ext import Application

from bot.app import build_application, stop_arxiv
from bot.cli import main as cli
from bot.config import ConfigError, load_config
from bot.ops.lock import AlreadyRunning, instance_lock
from bot.ops.logs import setup_logging

EXIT_CONFIG = 2
EXIT_ALREADY_RUNNING = 3
EXIT_STOPPED_LATE = 1
# From a stop signal to the end of the process, whatever is still in flight.
STOP_DEADLINE = 7.0
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGABRT)

log = logging.getLogger("bot")


def main(argv: list[str] | None = None) -> int:
    """Without a sub-command, run the bot (as always); else run the sub-command."""
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="The arXiv digest Telegram bot. Without a command it runs the bot.",
    )
    cli.add_commands(parser)
    options = parser.parse_args(argv)
    if options.command is not None:
        return cli.run(options)
    return run_bot()


def run_bot() -> int:
    # Opt in to python-telegram-bot's timedelta durations now; the int form is deprecated.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    try:
        config = load_config()
    except ConfigError as exc:
        print(f"arxiv-digest-bot: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(config.log_level, [config.bot_token], config.log_format)
    lock = instance_lock(config.database_path)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        log.error("Not starting: %s", exc)
        return EXIT_ALREADY_RUNNING
    app = build_application(config)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stopper = _Stopper(app)
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stopper.stop)
    try:
        # A stop signal (Ctrl-C, SIGTERM) ends run_polling cleanly, within STOP_DEADLINE.
        app.run_polling(
            allowed_updates=Update.ALL_TYPES,
            timeout=config.polling_timeout,
            close_loop=True,
            stop_signals=None,  # _Stopper's, installed above
        )
    except InvalidToken:
        log.error("Telegram refused the token in BOT_TOKEN; check it with @BotFather")
        return EXIT_CONFIG
    except NetworkError as exc:
        log.error("Cannot reach the Telegram Bot API at %s: %s", config.bot_api_url, exc)
        return 1
    finally:
        stopper.cancel()
        lock.release()
    return 0


class _Stopper:
    """On a stop signal: stop as run_polling would (pending updates answered, jobs ended, the
    database closed), but end arXiv's requests in flight at once, and exit anyway once
    STOP_DEADLINE seconds have passed (a supervisor's SIGKILL would come soon after)."""

    def __init__(self, app: Application) -> None:  # type: ignore[type-arg]
        self._app = app
        self._timer: threading.Timer | None = None

    def stop(self) -> None:
        if self._timer is not None:
            return  # already stopping; the deadline holds
        log.info("Stopping (within %.0f s)", STOP_DEADLINE)
        self._timer = threading.Timer(STOP_DEADLINE, _exit_now)
        self._timer.daemon = True
        self._timer.start()
        stop_arxiv(self._app)
        raise SystemExit  # leaves run_polling's loop, which then stops the application

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def _exit_now() -> None:
    log.error("Still stopping %.0f s after the stop signal: exiting now", STOP_DEADLINE)
    for handler in logging.getLogger().handlers:
        handler.flush()
    os._exit(EXIT_STOPPED_LATE)


if __name__ == "__main__":
    sys.exit(main())
