"""What /healthz asks the database: whether it can take a write now, and how long the oldest
digest part has been waiting in the outbox.

The write probe leaves nothing behind: it writes in a transaction that is always rolled back.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from pathlib import Path

from bot.storage.base import StoreBase

# The probe writes this much (more than a page, so the database must find room for new pages).
PROBE_BYTES = 8192
# SQLite can go on writing into space its files already hold for a while on a full disk, and
# fails once it needs more: below this much free space the database counts as not writable.
MIN_FREE_BYTES = 16 << 20


class DatabaseNotWritable(Exception):
    """The database cannot take a write now; the message says why."""


class ProbeStore(StoreBase):
    """The health probes of the database."""

    async def write_probe(self) -> None:
        """Raise unless the database can take a write now.

        A row of PROBE_BYTES is written into the scratch table, then the transaction is rolled
        back: this fails as a real write would on a read-only database or connection, a
        database at its size limit (no free page left and no new page allowed), a lock held
        elsewhere beyond the busy timeout, or a closed connection. The file system holding the
        database must also have MIN_FREE_BYTES free (DatabaseNotWritable otherwise).
        """
        async with self._lock:  # no other transaction of this connection is open meanwhile
            await self._db.execute("BEGIN")
            try:
                await self._db.execute(  # the outbox's scratch table (migration 8)
                    "INSERT INTO write_probe (filler) VALUES (?)", ("x" * PROBE_BYTES,)
                )
            finally:
                await self._db.rollback()
        rows = await self._fetchall("SELECT file FROM pragma_database_list WHERE name = 'main'")
        if rows and rows[0][0]:  # an in-memory database has no file
            folder = Path(rows[0][0]).parent
            free = (await asyncio.to_thread(shutil.disk_usage, folder)).free
            if free < MIN_FREE_BYTES:
                raise DatabaseNotWritable(
                    f"only {free // 1024} KiB free on the disk holding {folder}"
                    f" (at least {MIN_FREE_BYTES >> 20} MiB needed)"
                )

    async def oldest_waiting_part(self, visible: int) -> dt.datetime | None:
        """When the digest of the oldest part waiting in the outbox was composed (None: none
        waits). Only the first `visible` parts of a digest count: those are queued when it is
        composed, while later ones wait behind a "More" button until it is pressed, maybe days
        later, and are sent at once then."""
        rows = await self._fetchall(
            "SELECT MIN(g.created_at) FROM outbox o JOIN digests g ON g.digest_id = o.digest_id"
            " WHERE o.status = 'pending' AND o.part_no <= ?",
            (visible,),
        )
        return dt.datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None
