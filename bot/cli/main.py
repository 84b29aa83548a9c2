"""`python -m bot export`, `preview` and `backup`: the bot's output and data without Telegram.

export: the Markdown of `/export` for a query and a period, from the bot's database.
preview: the digest a query would produce from a feed (the configured one, a file or a URL),
as text in the terminal. backup: a consistent copy of the database, safe while the bot runs.
None needs a bot token; preview writes nothing anywhere.
Exit status 0 on success, 1 when the database or the feed cannot be had, 2 for bad input.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import os
import shutil
import sys
from pathlib import Path

from bot.arxiv.categories import in_categories
from bot.arxiv.feeds import parse_feed
from bot.arxiv.fetcher import PoliteFetcher
from bot.arxiv.http import FeedError, MiB, check_is_feed, make_http_client
from bot.cli.preview import html_to_text
from bot.config import Config, ConfigError, load_config
from bot.delivery.digest import render_parts
from bot.delivery.markdown import render_markdown
from bot.i18n.translate import LANGUAGES
from bot.index.search import announced_hits
from bot.matching.ranking import KeywordError, match_papers, parse_keywords
from bot.models import Hit
from bot.ops.logs import setup_logging
from bot.storage.backup import BackupError, backup_database
from bot.storage.store import Store

PROGRAM = "arxiv-digest-bot"
EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE = 0, 1, 2
MAX_WIDTH = 100
MIN_WIDTH = 20  # narrower, a paper's block is a column of single words


class CommandError(Exception):
    """Told to the user on stderr; `status` is the exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def add_commands(parser: argparse.ArgumentParser) -> None:
    """The `export` and `preview` sub-commands (bot/__main__.py parses them)."""
    commands = parser.add_subparsers(dest="command", metavar="{export,preview,backup}")
    export = commands.add_parser(
        "export",
        help="print the Markdown export of the papers a query matched in a period",
        description="The Markdown that /export sends, for a query and a period, from the "
        "bot's database (DATABASE_URL). No bot token needed.",
    )
    export.add_argument("--query", required=True, help='e.g. "diffusion" or "GAN, au:hinton"')
    export.add_argument("--since", required=True, type=_day, help="first day, YYYY-MM-DD")
    export.add_argument("--until", type=_day, help="last day, YYYY-MM-DD (default: today, UTC)")
    export.add_argument("--output", "-o", type=Path, help="write to this file, not stdout")
    export.add_argument("--lang", choices=tuple(LANGUAGES), default="en", help="headings' language")
    export.add_argument(
        "--categories", help="only papers in these categories, e.g. cs.CV+cs.LG (default: all)"
    )
    preview = commands.add_parser(
        "preview",
        help="print the digest a query would produce, without Telegram",
        description="Print the digest that a query would produce from a feed, as text. "
        "Without --feed it fetches the configured categories' feed (ARXIV_RSS_BASE, "
        "ARXIV_CATEGORIES). No bot token needed; nothing is stored.",
    )
    preview.add_argument("query", help='e.g. "diffusion" or "diffusion -medical, GAN"')
    preview.add_argument("--feed", help="an arXiv feed file, or a feed URL")
    preview.add_argument(
        "--width",
        type=int,
        help=f"wrap lines to this many columns, at least {MIN_WIDTH} (0: do not wrap)",
    )

    backup = commands.add_parser(
        "backup",
        help="copy the database to a file, safely while the bot runs",
        description="A consistent copy of the bot's database (DATABASE_URL) made with "
        "SQLite's online backup API: safe while the bot runs, unlike copying the file, "
        "whose last changes may still be in its -wal file. The copy is checked and readable "
        "by you only. No bot token needed.",
    )
    backup.add_argument("file", type=Path, help="the backup file to write, e.g. bot-backup.sqlite3")
    backup.add_argument("--force", action="store_true", help="replace the file if it exists")


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2024-03-08") from None


def run(options: argparse.Namespace) -> int:
    """Run the sub-command `options` names; returns the exit status."""
    try:
        if options.command == "export":
            return asyncio.run(_export(options))
        if options.command == "backup":
            return _backup(options)
        return asyncio.run(_preview(options))
    except CommandError as exc:
        print(f"{PROGRAM} {options.command}: {exc}", file=sys.stderr)
        return exc.status
    except BrokenPipeError:
        # The reader left (`... | head`): quietly stop; what is still buffered goes nowhere.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_UNAVAILABLE


def _config() -> Config:
    try:
        config = load_config(require_token=False)
    except ConfigError as exc:
        raise CommandError(f"configuration error: {exc}", EXIT_USAGE) from None
    # Warnings only: a one-shot command has no use for the bot's progress lines.
    setup_logging("WARNING", [config.bot_token] if config.bot_token else [])
    return config


def _queries(text: str) -> list[str]:
    try:
        return parse_keywords(text)
    except KeywordError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None


def _utf8_stdout() -> None:
    """Titles carry Greek, accents and Chinese: never fail on a terminal that cannot show
    them, show a replacement character instead."""
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="replace")


async def _export(options: argparse.Namespace) -> int:
    queries = _queries(options.query)
    until: dt.date = options.until or dt.datetime.now(dt.UTC).date()
    if options.since > until:
        raise CommandError(f"--since {options.since} is after --until {until}", EXIT_USAGE)
    if options.output is not None:
        await asyncio.to_thread(_check_output, options.output)
    config = _config()
    if not await asyncio.to_thread(config.database_path.exists):
        raise CommandError(
            f"no database at {config.database_path} (DATABASE_URL); the bot creates it and "
            "stores the papers it polls",
            EXIT_UNAVAILABLE,
        )
    chosen = options.categories.replace(",", "+").split("+") if options.categories else None
    store = await Store.open(config.database_path)
    try:
        hits, scanned = await _export_hits(store, queries, chosen, options.since, until)
    finally:
        await store.close()
    document = render_markdown(
        [hit.paper for hit in hits],
        first=options.since,
        last=until,
        topic=options.query.strip(),
        language=options.lang,
    )
    if options.output is not None:
        try:
            await asyncio.to_thread(_write_private, options.output, document)
        except OSError as exc:  # a full disk, no permission: said in one line
            raise CommandError(
                f"cannot write {options.output}: {exc.strerror}", EXIT_USAGE
            ) from None
        print(f"{len(hits)} papers written to {options.output}", file=sys.stderr)
    else:
        _utf8_stdout()
        sys.stdout.write(document)
        print(f"{len(hits)} papers of {scanned} announced in the period", file=sys.stderr)
    return EXIT_OK


def _backup(options: argparse.Namespace) -> int:
    target: Path = options.file
    _check_output(target, "")
    if target.exists() and not options.force:
        raise CommandError(f"{target} already exists (give --force to replace it)", EXIT_USAGE)
    config = _config()
    try:  # no database (DATABASE_URL names none), or SQLite failing: status 1
        summary = backup_database(config.database_path, target, replace=options.force)
    except BackupError as exc:
        raise CommandError(str(exc), EXIT_UNAVAILABLE) from None
    print(
        f"Backed up {config.database_path} to {target}: {summary.chats} chats,"
        f" {summary.subscriptions} subscriptions, {summary.papers} papers,"
        f" schema {summary.schema_version}, {summary.size_bytes / MiB:.1f} MiB",
        file=sys.stderr,
    )
    return EXIT_OK


def _write_private(path: Path, text: str) -> None:
    """Write the export to `path`. A new file is its owner's only (0600), whatever the umask:
    it tells what someone follows. An existing file is replaced in place and keeps its mode."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _check_output(path: Path, option: str = "--output ") -> None:
    """Refuse, before any work, a file to write (`option` names how it was given) that is a
    folder or lies in a missing one."""
    if path.is_dir():
        raise CommandError(
            f"{option}{path} is a folder: give a file name, e.g. {path / 'export.md'}"
            if option
            else f"{path} is a folder: give a file name",
            EXIT_USAGE,
        )
    if not path.parent.is_dir():
        raise CommandError(
            f"{option}{path}: the folder {path.parent} does not exist (create it first)",
            EXIT_USAGE,
        )


async def _export_hits(
    store: Store, queries: list[str], chosen: list[str] | None, first: dt.date, last: dt.date
) -> tuple[list[Hit], int]:
    """The matching papers announced in the period, and how many were announced. Through the
    full-text index once the bot has indexed every stored paper; else (a database the bot
    has not opened since an upgrade) by matching each paper of the period."""
    papers = await store.papers_announced_between(first, last)
    if chosen is not None:
        papers = in_categories(papers, chosen)
    if await store.has_unindexed():
        return match_papers(papers, queries), len(papers)
    return await announced_hits(store, queries, chosen, first, last), len(papers)


async def _feed_bytes(config: Config, feed: str | None) -> tuple[bytes, str]:
    """The feed document and where it came from: a file, a URL, or the configured feed."""
    if feed is not None and not feed.startswith(("http://", "https://")):
        return await asyncio.to_thread(_read_feed_file, feed), feed
    url = feed or config.feed_url
    async with make_http_client(config.user_agent, timeout=config.http_timeout) as http:
        fetcher = PoliteFetcher(
            http,
            max_attempts=2,
            deadline=config.http_deadline,
            max_body=config.http_max_body_mb * MiB,
        )
        try:
            result = await fetcher.fetch(url, validate=check_is_feed, conditional=False)
        except FeedError as exc:
            # Without network (or without arXiv), a saved feed still shows what a query finds.
            hint = "" if feed else "; without network, give a saved feed file with --feed FILE"
            raise CommandError(f"could not fetch the feed: {exc}{hint}", EXIT_UNAVAILABLE) from None
    return result.body, url


def _read_feed_file(name: str) -> bytes:
    path = Path(name)
    if not path.is_file():
        raise CommandError(f"{name}: no such file (give a feed file or URL)", EXIT_USAGE)
    data = path.read_bytes()
    try:
        check_is_feed(data, "", name)
    except FeedError:
        raise CommandError(
            f"{name} is not an RSS or Atom feed: give an arXiv feed saved from"
            " https://rss.arxiv.org/rss/<category> (e.g. cs.AI), or a feed URL",
            EXIT_USAGE,
        ) from None
    return data


def _terminal() -> tuple[bool, int]:
    """Colour (a terminal, and NO_COLOR unset) and the width to wrap to."""
    color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return color, min(shutil.get_terminal_size().columns, MAX_WIDTH)


async def _preview(options: argparse.Namespace) -> int:
    queries = _queries(options.query)
    if options.width is not None and options.width != 0 and options.width < MIN_WIDTH:
        raise CommandError(
            f"--width {options.width}: give 0 (no wrapping) or at least {MIN_WIDTH} columns",
            EXIT_USAGE,
        )
    config = _config()
    data, source = await _feed_bytes(config, options.feed)
    parsed = await asyncio.to_thread(parse_feed, data)
    # What a new chat's digest carries: new papers and cross-lists, no revisions or withdrawals.
    papers = [paper for paper in parsed.papers if not paper.is_revision and not paper.withdrawn]
    hits = match_papers(papers, queries)
    color, width = _terminal()
    if options.width is not None:
        width = options.width
    _utf8_stdout()
    print(f"{len(parsed.papers)} papers read from {source}; {len(hits)} match.", file=sys.stderr)
    if not hits:
        print(f"No paper of this feed matches {options.query.strip()}.")
        return EXIT_OK
    rule = "\n" + "-" * min(width or 40, 40) + "\n"
    messages = [
        html_to_text(part.text, color=color, width=width or None) for part in render_parts(hits)
    ]
    print(rule.join(messages))
    return EXIT_OK
