"""`python -m bot`: load the configuration, then run the bot with long polling until stopped.

`python -m bot export ...` and `python -m bot preview ...` show the bot's output without
Telegram (bot/cli/); `python -m bot --help` lists them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from telegram import Update
from telegram.error import InvalidToken, NetworkError

from bot.app import build_application
from bot.cli import main as cli
from bot.config import ConfigError, load_config
from bot.ops.lock import AlreadyRunning, instance_lock
from bot.ops.logs import setup_logging

EXIT_CONFIG = 2
EXIT_ALREADY_RUNNING = 3

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
    try:
        # run_polling stops cleanly on SIGINT (Ctrl-C) and SIGTERM.
        app.run_polling(
            allowed_updates=Update.ALL_TYPES, timeout=config.polling_timeout, close_loop=True
        )
    except InvalidToken:
        log.error("Telegram refused the token in BOT_TOKEN; check it with @BotFather")
        return EXIT_CONFIG
    except NetworkError as exc:
        log.error("Cannot reach the Telegram Bot API at %s: %s", config.bot_api_url, exc)
        return 1
    finally:
        lock.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
