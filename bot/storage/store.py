"""The bot's database: the `Store` that callers open, and the migrations applied on opening.

Callers speak the domain (`subscriptions_for(chat)`, `mark_delivered(chat, papers)`); no SQL
leaves the storage package. `Store` gathers the table families, each in its own module:
`bot.storage.chats` (chats, subscriptions, settings, channel links), `bot.storage.papers`
(papers and fetch state), `bot.storage.index` (the full-text index of the papers' normal
forms, the queries' matches, a chat's pending matches), `bot.storage.feed_sizes` (papers per
category in the last feeds), `bot.storage.event_counts` (the 429s and retries per quarter
hour) and `bot.storage.deliveries` (delivery ledger, digests, outbox), on the connection and
transactions of `bot.storage.base`; `bot.storage.probes` holds what /healthz asks;
`bot.storage.files` keeps the database's files private (0600). Figures that span every table
stay here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

import aiosqlite

from bot.storage.base import timestamp
from bot.storage.chats import ChatStore
from bot.storage.checkpoints import WRITER_CHECKPOINT_PAGES, Checkpointer
from bot.storage.deliveries import DeliveryStore
from bot.storage.digest_runs import DigestRunStore
from bot.storage.event_counts import EventCountStore
from bot.storage.feed_sizes import FeedSizeStore
from bot.storage.files import prepare_database_file
from bot.storage.index import IndexStore
from bot.storage.migrations import MIGRATIONS
from bot.storage.papers import PaperStore
from bot.storage.probes import ProbeStore

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Store(
    ChatStore,
    PaperStore,
    IndexStore,
    DigestRunStore,
    FeedSizeStore,
    EventCountStore,
    DeliveryStore,
    ProbeStore,
):
    """The bot's database. Open with `await Store.open(path)`, close with `await close()`."""

    def __init__(self, db: aiosqlite.Connection, clock: Callable[[], dt.datetime] = utcnow) -> None:
        """Rows are stamped with `clock` (UTC now unless a fake is given)."""
        super().__init__(db, clock)
        self._checkpointer: Checkpointer | None = None

    @classmethod
    async def open(cls, path: Path, *, clock: Callable[[], dt.datetime] = utcnow) -> Store:
        """Open (creating it if needed) the database, in WAL mode, with migrations applied.
        Its files are its owner's only: created so, or tightened (`bot.storage.files`)."""
        await asyncio.to_thread(prepare_database_file, path)
        db = await aiosqlite.connect(path)
        store = cls(db, clock)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL never corrupts and survives a killed process; only a power
            # cut can undo the last commits (a part then goes out again: never lost). It
            # shortens each commit, so a kill catches fewer sent-but-unrecorded parts.
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await store._migrate()
            # Checkpoints run beside the writer (bot.storage.checkpoints); the writer's own
            # only if those fall behind.
            await db.execute(f"PRAGMA wal_autocheckpoint={WRITER_CHECKPOINT_PAGES}")
            store._checkpointer = await Checkpointer.open(path)
            store._committed = store._checkpointer.wake
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        if self._checkpointer is not None:
            await self._checkpointer.close()
        # The last connection to close copies what is left of the log into the file.
        await self._db.close()

    async def _migrate(self) -> None:
        await self._write(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in await self._fetchall("SELECT version FROM schema_migrations")}
        for number, statements in enumerate(MIGRATIONS, start=1):
            if number in done:
                continue
            # One transaction per migration: a crash never leaves one half applied.
            async with self._transaction():
                for statement in statements:
                    await self._db.execute(statement)
                await self._db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (number, timestamp(self._clock())),
                )
            log.info("Applied database migration %d", number)

    async def schema_version(self) -> int:
        rows = await self._fetchall("SELECT MAX(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    async def counts(self, since: dt.datetime) -> dict[str, int]:
        """Figures for the admin view; digests and messages count from `since`."""
        queries = {
            "chats": ("SELECT COUNT(*) FROM chats", ()),
            "active_chats": ("SELECT COUNT(*) FROM chats WHERE active = 1", ()),
            "subscriptions": ("SELECT COUNT(*) FROM subscriptions", ()),
            "papers": ("SELECT COUNT(*) FROM papers", ()),
            "digests": (  # notes of a day that matched nothing (no papers) are not digests
                "SELECT COUNT(*) FROM digests WHERE created_at >= ? AND papers > 0",
                (timestamp(since),),
            ),
            "messages": (
                "SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND sent_at >= ?",
                (timestamp(since),),
            ),
            "pending_parts": ("SELECT COUNT(*) FROM outbox WHERE status = 'pending'", ()),
            "held_parts": ("SELECT COUNT(*) FROM outbox WHERE status = 'held'", ()),
        }
        result = {}
        for name, (sql, params) in queries.items():
            rows = await self._fetchall(sql, params)
            result[name] = int(rows[0][0])
        return result
