"""What the rate limiter (and the outbox, for its network retries) counts: messages sent,
429s, retries, global pauses, event-loop stalls, and the recent 429s and retries for the
admin's /stats. Read by `bot.ops.metrics` when Prometheus scrapes."""

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
    # (monotonic time, kind) of each 429 and retry, for the admin's last-24-hours view;
    # they are rare, so a plain deque pruned on read is enough.
    events: deque[tuple[float, str]] = field(default_factory=deque)

    def note(self, kind: str) -> None:
        """Count a 429 ("too_many"), a retry ("retries") or a network retry."""
        setattr(self, kind, getattr(self, kind) + 1)
        self.events.append((time.monotonic(), kind))

    def recent(self, seconds: float = 86_400.0) -> dict[str, int]:
        """How many of each event happened in the last `seconds`."""
        horizon = time.monotonic() - seconds
        while self.events and self.events[0][0] < horizon:
            self.events.popleft()
        counts = {"too_many": 0, "retries": 0, "network_retries": 0}
        for _, kind in self.events:
            counts[kind] = counts.get(kind, 0) + 1
        return counts
