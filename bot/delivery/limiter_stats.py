"""What the rate limiter (and the outbox, for its network retries and the parts it ends)
counts: messages sent, 429s, retries, global pauses, event-loop stalls, digest parts ended
unsent, and the recent 429s and retries for the admin's /stats; and whether the outbox has
paused sending because its ledger cannot be written. Read by `bot.ops.metrics` when
Prometheus scrapes, and by /healthz."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class RateLimiterStats:
    """What the limiter has seen since it was created."""

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
    # (monotonic time, kind) of each 429 and retry, for the admin's last-24-hours view;
    # they are rare, so a plain deque pruned on read is enough.
    events: deque[tuple[float, str]] = field(default_factory=deque)

    def note(self, kind: str, count: int = 1) -> None:
        """Count a 429 ("too_many"), a retry ("retries"), a network retry, or digest parts
        ended unsent ("parts_refused", "parts_expired")."""
        setattr(self, kind, getattr(self, kind) + count)
        now = time.monotonic()
        self.events.extend((now, kind) for _ in range(count))

    def recent(self, seconds: float = 86_400.0) -> dict[str, int]:
        """How many of each event happened in the last `seconds`."""
        horizon = time.monotonic() - seconds
        while self.events and self.events[0][0] < horizon:
            self.events.popleft()
        counts = {"too_many": 0, "retries": 0, "network_retries": 0}
        for _, kind in self.events:
            counts[kind] = counts.get(kind, 0) + 1
        return counts
