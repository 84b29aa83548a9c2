"""What every table family of the `Store` shares: the one connection, its write lock and
transactions, the query helpers, and the way timestamps are written.

Statements are parameterised and portable (a PostgreSQL backend will implement the same
methods).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import aiosqlite

from bot.models import Paper


def timestamp(moment: dt.datetime) -> str:
    """A UTC timestamp as sortable text."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


class StoreBase:
    """The connection, and the helpers each table family builds its statements on."""

    def __init__(self, db: aiosqlite.Connection, clock: Callable[[], dt.datetime]) -> None:
        self._db = db
        self._clock = clock  # the time stamped on rows; a fake in simulations
        # One connection serves every coroutine: writes take turns, so one transaction can
        # never start inside, or be committed by, another.
        self._lock = asyncio.Lock()
        # Writes that may leave work for the index stage, counted; and the count at which a
        # check last found none, so that a check per digest costs nothing in the usual case
        # (this process is the database's only writer).
        self._changes = {"papers": 0, "subscriptions": 0}
        self._clean_at = {"papers": -1, "subscriptions": -1}
        # The queries followed, as of a count of subscription changes (queries_to_match).
        self._followed: tuple[int, list[tuple[str, str]]] | None = None
        # Papers as digests read them, by index row (bot.storage.digest_runs).
        self._papers_by_seq: dict[int, Paper] = {}
        # Called after every commit (the background checkpoints: bot.storage.checkpoints).
        self._committed: Callable[[], None] = lambda: None

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """All the writes inside happen together or not at all."""
        async with self._lock:
            await self._db.execute("BEGIN")
            try:
                yield
            except BaseException:
                await self._db.rollback()
                raise
            await self._db.commit()
        self._committed()

    async def _write(self, sql: str, params: Sequence[Any] = ()) -> int:
        """One statement in its own transaction; returns the number of rows it changed."""
        async with self._transaction():
            cursor = await self._db.execute(sql, params)
            return cursor.rowcount

    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        async with self._db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())
