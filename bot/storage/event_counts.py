"""The event counts table family: how many 429s and retries the sender met, per kind and
quarter hour (UTC), so that /stats counts "today" in any time zone and across restarts.

The sender counts in memory and writes here about once a minute
(`bot.delivery.limiter_stats`); the buckets older than it keeps are pruned as it writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from bot.storage.base import StoreBase, timestamp


class EventCountStore(StoreBase):
    """Events counted per (bucket, kind), a bucket named by the UTC time it starts at."""

    async def add_event_counts(
        self, counts: Mapping[tuple[dt.datetime, str], int], *, prune_before: dt.datetime
    ) -> None:
        """Add these counts to their buckets' and drop the buckets that start before
        `prune_before`, in one transaction."""
        async with self._transaction():
            await self._db.executemany(
                "INSERT INTO event_counts (bucket, kind, events) VALUES (?, ?, ?)"
                " ON CONFLICT (bucket, kind) DO UPDATE"
                " SET events = event_counts.events + excluded.events",
                [(timestamp(bucket), kind, int(n)) for (bucket, kind), n in counts.items()],
            )
            await self._db.execute(
                "DELETE FROM event_counts WHERE bucket < ?", (timestamp(prune_before),)
            )

    async def event_counts(self, since: dt.datetime) -> dict[str, int]:
        """Events per kind in the buckets that start at or after `since` (a kind never
        counted there is absent)."""
        rows = await self._fetchall(
            "SELECT kind, SUM(events) FROM event_counts WHERE bucket >= ? GROUP BY kind",
            (timestamp(since),),
        )
        return {str(kind): int(total) for kind, total in rows}
