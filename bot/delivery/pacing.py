"""The bookkeeping of Telegram's flood limits: which waiting message request goes next, and when.

Plain code on a clock, with no waiting of its own: `bot.delivery.ratelimit`'s dispatcher asks
`Pacer` when the next global slot opens and which chat has it, sleeps, and releases that chat's
request; the request reports back when Telegram has answered it (`Pacer.finish`). The `Pacer`
keeps each chat's line of waiting requests, its window and its pause after a 429, the window of
all messages and the even spacing of the global slots, and forgets idle chats as it goes.

Every limit is a sliding window, "at most N messages in any T seconds" (Telegram promises no
token bucket), kept as the server sees it: Telegram counts a request at some moment between
our sending it and our reading its answer, a moment we cannot know (network jitter, a loop held
up before the bytes leave, a slow server). So a message holds its place in a window from the
moment it is released until T seconds after its answer came (`Occupancy`); a request still
waiting for its answer holds its place until it gets one. Then no N + 1 messages can fall into
any T seconds of the server's clock, whatever the delays. The per-chat windows are further
stretched by a safety `margin`, and the global slots are spaced evenly by it.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

ChatKey = int | str | None  # a chat id, "@channelname", or None for requests without a chat

# 429s for this many different chats within GLOBAL_429_SPAN seconds mean the global limit.
GLOBAL_429_SPAN = 1.0
# The global window is kept from answers, which already covers any delay on the way: it needs
# no stretch, only this much for the resolution of the clocks.
GLOBAL_EXTRA = 0.002
# Forget idle chats once this many are tracked (and again at twice what remains).
_SWEEP_AT = 4096


@dataclass(frozen=True, slots=True)
class Window:
    """At most `limit` messages in any `period` seconds."""

    limit: int
    period: float


class Occupancy:
    """One sliding window kept as the server sees it: a message occupies it from its release
    until `period` seconds after its answer; one still unanswered occupies it until then.

    At most `limit` messages occupy it at once, so any `period` seconds of the server's clock
    see at most `limit` of them: of any limit + 1, the last was released when one of the
    others had been answered `period` seconds before.
    """

    __slots__ = ("answered", "in_flight", "limit", "period")

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.in_flight = 0
        # When the latest answers came, oldest first (answers are noted as they come, so the
        # deque stays sorted); older ones can never matter again.
        self.answered: deque[float] = deque(maxlen=limit)

    def ready_at(self) -> float:
        """The earliest moment one more message may be released; inf while `limit` are in
        flight (it then depends on when they are answered)."""
        free = self.limit - self.in_flight
        if free <= 0:
            return math.inf
        count = len(self.answered)
        if count < free:
            return 0.0
        # Released at t, it is the only one that may share [t - period, t] with the `free - 1`
        # latest answers; every earlier answer must be more than `period` before t.
        return self.answered[count - free] + self.period

    def release(self) -> None:
        self.in_flight += 1

    def finish(self, now: float) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        self.answered.append(max(now, self.answered[-1]) if self.answered else now)

    def idle(self, now: float) -> bool:
        """Nothing in flight and every answer older than the period."""
        return self.in_flight == 0 and (not self.answered or self.answered[-1] + self.period <= now)


class ChatLine:
    """One chat's window, its pause, and its requests waiting in line."""

    __slots__ = ("key", "paused_until", "pending", "queued_at", "window")

    def __init__(self, key: ChatKey, window: Window | None, stretch: float) -> None:
        self.key = key
        self.window = (
            Occupancy(window.limit, window.period * stretch) if window is not None else None
        )
        self.paused_until = 0.0
        self.pending: deque[asyncio.Future[None]] = deque()
        # The ready time of its live entry in the pacer's heap; None: it has none.
        self.queued_at: float | None = None

    @property
    def queued(self) -> bool:
        return self.queued_at is not None

    def ready_at(self) -> float:
        """The earliest moment this chat may have another message (inf: when an answer comes)."""
        ready = self.paused_until
        if self.window is not None:
            ready = max(ready, self.window.ready_at())
        return ready

    def idle(self, now: float) -> bool:
        """Nothing waits and forgetting the chat changes nothing."""
        return (
            not self.pending
            and not self.queued
            and self.paused_until <= now
            and (self.window is None or self.window.idle(now))
        )


class Pacer:
    """Hands out the global slots, evenly spaced, to the chats whose turn it is, in the order
    they became ready; a chat at its own pace never holds a slot the others could use.

    `global_per_s` messages a second in all; `private` and `group` are the windows of one
    private chat and of one group or channel, stretched by `margin`, as is the spacing of the
    global slots. Each released request must be reported back with `finish` once answered
    (or failed, or given up). 429s for `global_pause_after` different chats within
    GLOBAL_429_SPAN seconds pause every chat.
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
        # Chats with requests waiting, by (ready time, arrival order, chat); an entry whose
        # ready time is no longer its chat's `queued_at` is stale and skipped.
        self._heap: list[tuple[float, int, ChatKey]] = []
        self._order = itertools.count()
        self._window = Occupancy(self.overall.limit, self.overall.period + GLOBAL_EXTRA)
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._recent_429: deque[tuple[float, ChatKey]] = deque()

    @property
    def tracked_chats(self) -> int:
        """How many chats are remembered; idle ones are forgotten as it goes."""
        return len(self._chats)

    @property
    def in_flight(self) -> int:
        """Message requests released and not answered yet."""
        return self._window.in_flight

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
        spaced slot, and room in the window of all messages (inf: when an answer comes)."""
        return max(self._paused_until, self._next_slot, self._window.ready_at())

    def pick(self, now: float) -> ChatLine | float | None:
        """The chat to serve now, else seconds until the next is ready (inf: until an answer
        comes; None: nobody waits)."""
        while self._heap:
            ready, _, key = self._heap[0]
            chat = self._chats.get(key)
            if chat is None or chat.queued_at != ready:  # stale: the chat was queued anew
                heapq.heappop(self._heap)
                continue
            while chat.pending and chat.pending[0].done():
                chat.pending.popleft()  # its caller was cancelled
            if not chat.pending:
                heapq.heappop(self._heap)
                chat.queued_at = None
                continue
            current = chat.ready_at()
            if current > ready:  # paused by a 429 since it was queued
                heapq.heappop(self._heap)
                self._queue(chat)
                continue
            if ready > now:
                return ready - now
            heapq.heappop(self._heap)
            chat.queued_at = None
            return chat
        return None

    def release(self, chat: ChatLine, now: float) -> None:
        """Let the first request in the chat's line go; it occupies the windows until
        `finish` reports its answer."""
        chat.pending.popleft().set_result(None)
        if chat.window is not None:
            chat.window.release()
        self._window.release()
        # Space from the previous slot, not from now, so that a release held back (by the
        # window, or waking late) does not slow the pace: the slots missed meanwhile may be
        # caught up, as the window allows. After an idle spell of a window's length start afresh.
        behind = now - self._next_slot
        slot = self._next_slot if behind < self.overall.period else now
        self._next_slot = slot + self._interval
        if chat.pending:
            self._queue(chat)

    def finish(self, key: ChatKey, now: float) -> None:
        """A released request was answered (or failed, or was given up) at `now`: from then
        on its places in the windows free after their periods."""
        self._window.finish(now)
        chat = self._chats.get(key)
        if chat is None or chat.window is None:
            return
        chat.window.finish(now)
        # A chat whose every place was in flight waited for this answer: queue it by its new
        # ready time (its old entry goes stale).
        if chat.pending and (chat.queued_at is None or chat.ready_at() < chat.queued_at):
            self._queue(chat)

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
        """Cancel every request still in line and forget the chats (the requests in flight
        still report their answers to the global window)."""
        for chat in self._chats.values():
            for waiter in chat.pending:
                waiter.cancel()
        self._chats.clear()
        self._heap.clear()

    def _queue(self, chat: ChatLine) -> None:
        # By the moment the chat became (or will become) ready: first come, first served.
        ready = max(chat.ready_at(), self.clock())
        heapq.heappush(self._heap, (ready, next(self._order), chat.key))
        chat.queued_at = ready

    def _chat(self, key: ChatKey) -> ChatLine:
        chat = self._chats.get(key)
        if chat is None:
            if len(self._chats) >= self._sweep_at:
                self._sweep()
            chat = self._chats[key] = ChatLine(key, self._window_for(key), self._stretch)
        return chat

    def _sweep(self) -> None:
        now = self.clock()
        for key in [k for k, chat in self._chats.items() if chat.idle(now)]:
            del self._chats[key]
        self._sweep_at = max(_SWEEP_AT, 2 * len(self._chats))

    def _window_for(self, key: ChatKey) -> Window | None:
        if key is None:
            return None
        if isinstance(key, int) and key > 0:
            return self.private
        return self.group  # groups, supergroups and channels (negative ids or "@name")
