"""Copying the write-ahead log into the database file (a WAL checkpoint) beside the writer,
not in its way.

SQLite checkpoints at the commit that finds the log past a size, in the committing
connection: the writer then waits while the pages are copied and the file is synced. After
a big transaction (the morning's digests: tens of MB of messages a batch) that is as long as
the transaction itself, and every other statement of the bot queues behind it on the one
connection. Here a second connection, with a thread of its own, checkpoints after commits
(at most one pass per `pause`), in passive mode: it never blocks a reader or the writer, and
frames it cannot copy yet are copied by a later pass. The writer's own checkpoint stays as a
safety net, at a size the log reaches only if this one stops keeping up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

# Pages (of 4 kB) past which the writer checkpoints itself, as SQLite does by default at
# 1,000: only reached when the background passes fall behind.
WRITER_CHECKPOINT_PAGES = 65_536
# Shortest time between two passes: a pass syncs the database file, and a busy bot commits
# tens of times a second.
PAUSE_SECONDS = 0.5


class Checkpointer:
    """Background WAL checkpoints for one database file: `wake()` after a commit."""

    def __init__(self, db: aiosqlite.Connection, pause: float = PAUSE_SECONDS) -> None:
        self._db = db
        self._pause = pause
        self._due = asyncio.Event()
        self._failing = False
        self.passes = 0  # completed passes (tests wait on them)
        self.failures = 0  # failed ones (logged once a streak); the next commit tries again
        self._task = asyncio.create_task(self._run(), name="wal-checkpoints")

    @classmethod
    async def open(cls, path: Path, pause: float = PAUSE_SECONDS) -> Checkpointer:
        db = await aiosqlite.connect(path)
        return cls(db, pause)

    def wake(self) -> None:
        """Something was committed: a pass is due."""
        self._due.set()

    async def checkpoint(self) -> tuple[int, int]:
        """One passive pass now: the log's frames and how many are in the database file."""
        rows = await self._db.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
        _, logged, copied = next(iter(rows))
        return int(logged), int(copied)

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._db.close()

    async def _run(self) -> None:
        while True:
            await self._due.wait()
            self._due.clear()
            try:
                await self.checkpoint()
            except Exception as exc:  # a full disk: the writer's own checkpoint remains
                if not self._failing:
                    log.warning("Background WAL checkpoint failed: %s", exc)
                self._failing = True
                self.failures += 1
            else:
                self._failing = False
                self.passes += 1
            await asyncio.sleep(self._pause)
