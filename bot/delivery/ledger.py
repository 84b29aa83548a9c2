"""The outbox's record of what Telegram accepted, and what happens when it cannot be written.

A part is marked sent in the store once Telegram confirms it. When that write fails (a full
disk, a broken database file), the part must not go out again, and nothing more should go out
that could not be recorded either: `Ledger` keeps the parts sent but not recorded in memory,
reports the failure (in the stats that /healthz and /metrics read), and says no to every send
until a write works again, when it records them after all. Only a restart in the meantime can
repeat such a part, once, as after a crash.
"""

from __future__ import annotations

import asyncio
import logging

from bot.delivery.limiter_stats import RateLimiterStats
from bot.models import OutboxPart
from bot.storage.deliveries import DatabaseError
from bot.storage.store import Store

log = logging.getLogger(__name__)

MAX_ERROR = 200  # characters of the database's error kept for the stats and /healthz


class Ledger:
    """Marks parts sent; pauses sending while the store cannot be written."""

    def __init__(self, store: Store, stats: RateLimiterStats) -> None:
        self._store = store
        self._stats = stats
        # Parts Telegram accepted whose record failed: never sent again, recorded later.
        self._unrecorded: dict[tuple[int, int], OutboxPart] = {}
        self._lock = asyncio.Lock()

    @property
    def error(self) -> str | None:
        """Why the ledger cannot be written (sending is paused), or None."""
        return self._stats.ledger_error

    def is_unrecorded(self, part: OutboxPart) -> bool:
        """Sent already, its record waiting for the database."""
        return (part.digest_id, part.part_no) in self._unrecorded

    async def writable(self) -> bool:
        """Whether sending may go on. After a failed write, try again: record the parts sent
        meanwhile, then a write probe; sending resumes once that works."""
        if self.error is None:
            return True
        async with self._lock:  # many chats at once: one of them tries
            if self.error is None:
                return True
            try:
                for key, part in list(self._unrecorded.items()):
                    await self._store.mark_part_sent(part)
                    del self._unrecorded[key]
                await self._store.probe_write()
            except DatabaseError as exc:
                self._stats.ledger_error = _short(exc)
                return False
            self._stats.ledger_error = None
            log.warning("The database can be written again: sending resumes")
            return True

    def failed(self, exc: Exception) -> None:
        """A write failed: sending stops until `writable` finds it works again."""
        if self.error is None:
            log.error("The database cannot be written (%s): sending paused until it can", exc)
        self._stats.ledger_error = _short(exc)

    async def record_sent(self, part: OutboxPart) -> bool:
        """Mark a part Telegram accepted as sent; False (and sending paused) if that failed,
        in which case the part is kept to be recorded later, and never sent again."""
        try:
            await self._store.mark_part_sent(part)
        except DatabaseError as exc:
            self._unrecorded[(part.digest_id, part.part_no)] = part
            self.failed(exc)
            log.error(
                "Part %d/%d of digest %d for chat %s was sent but cannot be recorded (%s);"
                " it will not be sent again",
                part.part_no,
                part.parts_total,
                part.digest_id,
                part.chat_id,
                exc,
            )
            return False
        return True


def _short(exc: Exception) -> str:
    return " ".join(str(exc).split())[:MAX_ERROR] or type(exc).__name__
