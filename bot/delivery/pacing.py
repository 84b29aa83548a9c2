"""The bookkeeping of Telegram's flood limits: which waiting message request goes next, and when.

Plain code on a clock, with no waiting of its own: `bot.delivery.ratelimit`'s dispatcher asks
`Pacer` when the next global slot opens and which chat has it, sleeps, and releases that chat's
request. The `Pacer` keeps each chat's line of waiting requests, its window of recent releases
and its pause after a 429, the window of all releases and the even spacing of the global slots,
and forgets idle chats as it goes.

Every limit is a sliding window, "at most N messages in any T seconds", checked against the
moments the requests were actually released and stretched by a safety `margin`, so that the
few milliseconds a request takes to reach Telegram cannot squeeze N + 1 into one window. When
the event loop is held up right after a release (a long garbage collection), that request
counts from when the loop resumed, since that is when it could leave.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

ChatKey = int | str | None  # a chat id, "@channelname", or None for requests without a chat

# 429s for this many different chats within GLOBAL_429_SPAN seconds mean the global limit.
GLOBAL_429_SPAN = 1.0
# Forget idle chats once this many are tracked (and again at twice what remains).
_SWEEP_AT = 4096


@dataclass(frozen=True, slots=True)
class Window:
    """At most `limit` messages in any `period` seconds."""

    limit: int
    period: float


class ChatLine:
    """One chat's window of recent releases, its pause, and its requests waiting in line."""

    __slots__ = ("key", "paused_until", "pending", "queued", "releases", "window")

    def __init__(self, key: ChatKey, window: Window | None) -> None:
        self.key = key
        self.window = window
        self.releases: deque[float] = deque(maxlen=window.limit if window else 1)
        self.paused_until = 0.0
        self.pending: deque[asyncio.Future[None]] = deque()
        self.queued = False  # has an entry in the pacer's heap

    def ready_at(self, stretch: float) -> float:
        """The earliest moment this chat may have another message."""
        ready = self.paused_until
        if self.window is not None and len(self.releases) == self.window.limit:
            ready = max(ready, self.releases[0] + self.window.period * stretch)
        return ready

    def idle(self, now: float, stretch: float) -> bool:
        """Nothing waits and forgetting the chat changes nothing."""
        return (
            not self.pending
            and not self.queued
            and self.paused_until <= now
            and (
                self.window is None
                or not self.releases
                or self.releases[-1] + self.window.period * stretch <= now
            )
        )


class Pacer:
    """Hands out the global slots, evenly spaced, to the chats whose turn it is, in the order
    they became ready; a chat at its own pace never holds a slot the others could use.

    `global_per_s` messages a second in all; `private` and `group` are the windows of one
    private chat and of one group or channel; every window is stretched by `margin`. 429s for
    `global_pause_after` different chats within GLOBAL_429_SPAN seconds pause every chat.
    """

    def __init__(
        self,
        global_per_s: float,
        private: Window,
        group: Window,
        *,
        margin: float,
        global_pause_after: int,
        clock: Callable[[], float],
    ) -> None:
        self.private = private
        self.group = group
        self.overall = Window(max(1, int(global_per_s)), 1.0)
        # What `now` is read from (the limiter passes asyncio's clock, time.monotonic).
        self.clock = clock
        self._stretch = 1.0 + margin
        self._interval = self._stretch / global_per_s
        self._global_pause_after = global_pause_after
        self._chats: dict[ChatKey, ChatLine] = {}
        self._sweep_at = _SWEEP_AT
        # Chats with requests waiting, by (ready time, arrival order, chat).
        self._heap: list[tuple[float, int, ChatKey]] = []
        self._order = itertools.count()
        self._released: deque[float] = deque(maxlen=self.overall.limit)
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._recent_429: deque[tuple[float, ChatKey]] = deque()

    @property
    def tracked_chats(self) -> int:
        """How many chats are remembered; idle ones are forgotten as it goes."""
        return len(self._chats)

    def wait_in_line(self, key: ChatKey, waiter: asyncio.Future[None], *, retry: bool) -> None:
        """Put a request in its chat's line; `waiter` is resolved when it is released.

        A retry goes first in its line, so a digest's parts keep their order.
        """
        chat = self._chat(key)
        if retry:
            chat.pending.appendleft(waiter)
        else:
            chat.pending.append(waiter)
        if not chat.queued:
            self._queue(chat)

    def gate(self) -> float:
        """The earliest moment any request may go: after a global pause, the next evenly
        spaced slot, and room in the window of all releases."""
        return max(self._paused_until, self._next_slot, self._window_gate())

    def pick(self, now: float) -> ChatLine | float | None:
        """The chat to serve now, else seconds until the next is ready (None: nobody waits)."""
        while self._heap:
            ready, _, key = self._heap[0]
            chat = self._chats[key]
            while chat.pending and chat.pending[0].done():
                chat.pending.popleft()  # its caller was cancelled
            if not chat.pending:
                heapq.heappop(self._heap)
                chat.queued = False
                continue
            current = chat.ready_at(self._stretch)
            if current > ready:  # paused by a 429 since it was queued
                heapq.heapreplace(self._heap, (current, next(self._order), key))
                continue
            if ready > now:
                return ready - now
            heapq.heappop(self._heap)
            chat.queued = False
            return chat
        return None

    def release(self, chat: ChatLine, now: float) -> None:
        """Let the first request in the chat's line go, and count it in the windows."""
        chat.pending.popleft().set_result(None)
        chat.releases.append(now)
        self._released.append(now)
        # Space from the previous slot, not from now, so that waking late does not slow the pace
        # (the window gate bounds the catch-up); after an idle spell start afresh.
        slot = self._next_slot if now - self._next_slot < self._interval else now
        self._next_slot = slot + self._interval
        if chat.pending:
            self._queue(chat)

    def held_up(self, chat: ChatLine, now: float) -> None:
        """The loop was blocked: count the last request as sent now, when it may have left.

        Otherwise it could reach Telegram late, in the same second as the messages that follow.
        """
        if self._released:
            self._released[-1] = max(self._released[-1], now)
        if chat.releases:
            chat.releases[-1] = max(chat.releases[-1], now)

    def pause(self, key: ChatKey, delay: float) -> bool:
        """A 429: pause the chat, or everything if it was not about one chat (or 429s came
        for several chats at once). True when everything was paused."""
        now = self.clock()
        until = now + delay
        if key is not None:
            chat = self._chat(key)
            chat.paused_until = max(chat.paused_until, until)
            self._recent_429.append((now, key))
            while self._recent_429[0][0] < now - GLOBAL_429_SPAN:
                self._recent_429.popleft()
            if len({k for _, k in self._recent_429}) < self._global_pause_after:
                return False
        self._recent_429.clear()
        self._paused_until = max(self._paused_until, until)
        return True

    def cancel_waiting(self) -> None:
        """Cancel every request still in line and forget the chats."""
        for chat in self._chats.values():
            for waiter in chat.pending:
                waiter.cancel()
        self._chats.clear()
        self._heap.clear()

    def _queue(self, chat: ChatLine) -> None:
        # By the moment the chat became (or will become) ready: first come, first served.
        ready = max(chat.ready_at(self._stretch), self.clock())
        heapq.heappush(self._heap, (ready, next(self._order), chat.key))
        chat.queued = True

    def _window_gate(self) -> float:
        # Even spacing alone would do, but after a stall (GC, a busy loop) late releases could
        # bunch up: the window over the real release times keeps any second within the limit.
        if len(self._released) < self.overall.limit:
            return 0.0
        return self._released[0] + self.overall.period * self._stretch

    def _chat(self, key: ChatKey) -> ChatLine:
        chat = self._chats.get(key)
        if chat is None:
            if len(self._chats) >= self._sweep_at:
                self._sweep()
            chat = self._chats[key] = ChatLine(key, self._window_for(key))
        return chat

    def _sweep(self) -> None:
        now = self.clock()
        for key in [k for k, chat in self._chats.items() if chat.idle(now, self._stretch)]:
            del self._chats[key]
        self._sweep_at = max(_SWEEP_AT, 2 * len(self._chats))

    def _window_for(self, key: ChatKey) -> Window | None:
        if key is None:
            return None
        if isinstance(key, int) and key > 0:
            return self.private
        return self.group  # groups, supergroups and channels (negative ids or "@name")
