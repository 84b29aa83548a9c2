"""What the rate limiter (and the outbox, for its network retries and the parts it ends)
counts: messages sent, 429s, retries, global pauses, event-loop stalls, digest parts ended
unsent; and whether the outbox has paused sending because its ledger cannot be written. Read
by `bot.ops.metrics` when Prometheus scrapes, and by /healthz. The 429s and retries are also
counted per quarter hour for the admin's /stats, and kept in the database
(`bot.storage.event_counts`) so that they survive a restart."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.storage.store import Store, utcnow

# The kinds /stats shows per day; the others count since start-up only, for /metrics.
DAILY_KINDS = ("too_many", "retries", "network_retries")
# Every time zone in use is a whole number of quarter hours off UTC (India +5:30, Nepal
# +5:45), so every local midnight starts a bucket and "today" is exact in every zone; hour
# buckets would be half an hour off in India.
BUCKET_MINUTES = 15
# How long the database keeps the buckets: a month and more, though /stats reads one day.
KEEP = dt.timedelta(days=35)


def bucket_of(moment: dt.datetime) -> dt.datetime:
    """The start (UTC) of the quarter hour `moment` falls in."""
    utc = moment.astimezone(dt.UTC)
    return utc.replace(minute=utc.minute - utc.minute % BUCKET_MINUTES, second=0, microsecond=0)


@dataclass(slots=True)
class RateLimiterStats:
    """What the limiter has seen since it was created, and the daily counts not yet saved."""

    sent: int = 0  # message requests that Telegram accepted
    too_many: int = 0  # 429 answers received
    retries: int = 0  # requests repeated after a 429
    network_errors: int = 0  # network failures and timeouts (not 400/403)
    network_retries: int = 0  # requests repeated after one (here, or by the outbox)
    global_pauses: int = 0  # times every chat was paused
    stalls: int = 0  # times the event loop held up a request already released
    parts_refused: int = 0  # digest parts Telegram refused for good (ended unsent)
    parts_expired: int = 0  # digest parts still unsent after the maximum age (ended unsent)
    # Why the outbox cannot write its ledger, while it does not send; None: it can.
    ledger_error: str | None = None
    clock: Callable[[], dt.datetime] = utcnow  # the wall clock the buckets follow
    # The DAILY_KINDS noted and not yet in the database, by (bucket, kind). They are written
    # about once a minute (`flush`), not as they happen: a 429 storm in a fan-out brings
    # hundreds a minute, and a write each would take the store's one write lock that the
    # ledger's sent-marks wait on. A crash loses at most the last minute's; a stop none.
    unflushed: Counter[tuple[dt.datetime, str]] = field(default_factory=Counter)
    # A flush and a read of the daily counts take turns: a count is then either in memory or
    # in the database when read, never in both, never in neither.
    _turn: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    def note(self, kind: str, count: int = 1) -> None:
        """Count a 429 ("too_many"), a retry ("retries"), a network retry, or digest parts
        ended unsent ("parts_refused", "parts_expired")."""
        setattr(self, kind, getattr(self, kind) + count)
        if kind in DAILY_KINDS:
            self.unflushed[(bucket_of(self.clock()), kind)] += count

    async def flush(self, store: Store) -> None:
        """Add the daily counts noted since the last flush to the database, and prune the
        buckets older than KEEP. If the write fails they stay here for the next flush."""
        async with self._turn:
            if not self.unflushed:
                return
            written = Counter(self.unflushed)
            await store.add_event_counts(written, prune_before=self.clock() - KEEP)
            # Only what was written goes: what was noted during the write stays.
            self.unflushed -= written

    async def daily_counts(self, store: Store, since: dt.datetime) -> dict[str, int]:
        """Each of the DAILY_KINDS counted in the buckets from `since` (a bucket's start):
        those in the database and those not flushed yet."""
        async with self._turn:
            counts = dict.fromkeys(DAILY_KINDS, 0)
            counts.update(await store.event_counts(since))
            for (bucket, kind), n in self.unflushed.items():
                if bucket >= since:
                    counts[kind] += n
        return counts
