"""`python -m bot` (or the installed `arxiv-digest-bot`): load the configuration, then run the
bot with long polling until stopped.

`python -m bot export ...` and `python -m bot preview ...` show the bot's output without
Telegram (bot/cli/); `python -m bot --help` lists them.

Whatever ends the bot goes through the redacting log, never printed raw: a configuration
error, a refusal of Telegram, a crash while starting (with its traceback inside the log
entry), an exception nobody caught, a warning. Before the configuration is read, the log
follows the environment (LOG_FORMAT, and BOT_TOKEN is redacted).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import threading
from typing import Any

from telegram import Update
from telegram.error import BadRequest, InvalidToken, NetworkError, TelegramError
from telegram.ext import Application

from bot.app import build_application, stop_arxiv
from bot.cli import main as cli
from bot.config import DEFAULT_CONFIG_FILE, VERSION, Config, ConfigError, load_config
from bot.ops.lock import AlreadyRunning, instance_lock
from bot.ops.logs import log_uncaught, setup_early_logging, setup_logging, token_secrets
from bot.ops.processes import tune_collector

EXIT_CONFIG = 2
EXIT_ALREADY_RUNNING = 3
EXIT_CRASH = 1
EXIT_STOPPED_LATE = 1
EXIT_INTERRUPTED = 130
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
    parser.add_argument("--version", action="version", version=f"arxiv-digest-bot {VERSION}")
    cli.add_commands(parser)
    options = parser.parse_args(argv)
    if options.command is not None:
        return cli.run(options)
    return run_bot()


def run_bot() -> int:
    """Run the bot until SIGTERM or SIGINT; the exit status says how it ended."""
    # Opt in to python-telegram-bot's timedelta durations now; the int form is deprecated.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    setup_early_logging(os.environ)
    log_uncaught(log)
    started = [False]
    try:
        return _run(started)
    except KeyboardInterrupt:  # Ctrl-C before the bot's own signal handling is in place
        log.info("Interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:
        what = "stopped on an unexpected error" if started[0] else "could not start"
        log.critical("The bot %s: %s", what, exc, exc_info=True)
        return EXIT_CRASH


def _run(started: list[bool]) -> int:
    try:
        config = load_config()
    except ConfigError as exc:
        log.error("arxiv-digest-bot: configuration error: %s", exc)
        return EXIT_CONFIG
    setup_logging(config.log_level, token_secrets(config.bot_token), config.log_format)
    _log_settings_file(config)
    lock = instance_lock(config.database_path)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        log.error("Not starting: %s", exc)
        return EXIT_ALREADY_RUNNING
    stopper: _Stopper | None = None
    try:
        tune_collector()
        app = build_application(config)
        _note_start(app, started)
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        stopper = _Stopper(app)
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, stopper.stop)
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
    except BadRequest as exc:
        return _refused(config, exc)
    except NetworkError as exc:
        log.error("Cannot reach the Telegram Bot API at %s: %s", config.bot_api_url, exc)
        return EXIT_CRASH
    except TelegramError as exc:
        return _refused(config, exc)
    finally:
        if stopper is not None:
            stopper.cancel()
        lock.release()
    return 0


def _log_settings_file(config: Config) -> None:
    if config.config_file is not None:
        log.info("Settings read from %s, then the environment", config.config_file)
    else:
        log.info(
            "No settings file (BOT_CONFIG is unset and there is no %s in the working folder):"
            " defaults and the environment",
            DEFAULT_CONFIG_FILE,
        )


def _refused(config: Config, error: TelegramError) -> int:
    log.error("The Telegram Bot API at %s refused to start the bot: %s", config.bot_api_url, error)
    return EXIT_CRASH


def _note_start(app: Any, started: list[bool]) -> None:
    """Set started[0] once the application's start-up hook has run (the bot is up)."""
    startup = app.post_init

    async def post_init(application: Any) -> None:
        if startup is not None:
            await startup(application)
        started[0] = True

    app.post_init = post_init


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
