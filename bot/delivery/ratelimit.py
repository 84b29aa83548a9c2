"""Telegram's flood limits kept on our side, so that fan-out runs at full speed without 429s.

Telegram lets a bot send about 30 messages a second in all (up to 1,000 with paid
broadcasts), about one a second to one private chat (a short burst passes) and 20 a minute to
one group or channel. `TelegramRateLimiter` plugs into python-telegram-bot
(`ApplicationBuilder().rate_limiter(...)`) and paces every request that sends or edits a
message so that it stays inside all three:

* A request first waits until its own chat may have another message, without holding a
  global slot, so a chat at its 1/s pace never slows down the others.
* One dispatcher hands out the global slots, evenly spaced, to the chats whose turn it is, in
  the order they became ready: many concurrent senders (one task per chat) interleave fairly,
  and a three-part digest does not hold the global rate down to one chat's pace.
* A 429 pauses only that chat for `retry_after` (429s for several chats at once: everything),
  then the request is retried, at most `max_retries` times. Network failures are retried with
  exponential backoff and jitter, but a message is re-sent only when the failure proves that
  it never left (so a retry cannot post it twice).

Every limit is a sliding window, "at most N messages in any T seconds", checked against the
moments the requests were actually released and stretched by a safety `margin`, so that the
few milliseconds a request takes to reach Telegram cannot squeeze N + 1 into one window. When
the event loop is held up right after a release (a long garbage collection), that request
counts from when the loop resumed, since that is when it could leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import heapq
import itertools
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)

Result = bool | dict[str, Any] | list[dict[str, Any]]
Callback = Callable[..., Coroutine[Any, Any, Result]]
ChatKey = int | str | None  # a chat id, "@channelname", or None for requests without a chat

GLOBAL_PER_S = 30.0
MAX_GLOBAL_PER_S = 1000.0  # Telegram's ceiling for bots that pay for broadcasts
PRIVATE_PER_S = 1.0
PRIVATE_BURST = 3
GROUP_LIMIT = 20
GROUP_PERIOD = 60.0
MAX_RETRIES = 5
NETWORK_RETRIES = 3
MARGIN = 0.03
# Telegram's retry_after is whole seconds, rounded on its clock: wait a little longer.
RETRY_AFTER_EXTRA = 0.1
# 429s for this many different chats within GLOBAL_429_SPAN seconds mean the global limit.
GLOBAL_PAUSE_AFTER = 3
GLOBAL_429_SPAN = 1.0
# Waking this much after the planned moment means the event loop was held up (a long garbage
# collection, a blocking call): the request released just before may have left only now.
STALL = 0.005
# Forget idle chats once this many are tracked (and again at twice what remains).
_SWEEP_AT = 4096

# Methods that post or change a message count against the limits: every send* but the chat
# action, and these. getUpdates, getMe, answerCallbackQuery, setMyCommands... are not paced.
_MESSAGE_METHODS = frozenset(
    {
        "copymessage",
        "copymessages",
        "forwardmessage",
        "forwardmessages",
        "editmessagetext",
        "editmessagecaption",
        "editmessagemedia",
        "editmessagereplymarkup",
    }
)
_NOT_MESSAGES = frozenset({"sendchataction"})
# Failures raised before the request left this machine: a message retried after one of these
# cannot arrive twice. A read timeout or a 5xx may come after Telegram posted it.
_NEVER_SENT = (httpx.PoolTimeout, httpx.ConnectError, httpx.ConnectTimeout)


def is_message_method(endpoint: str) -> bool:
    """Whether a Bot API method sends or edits a message (and so counts against the limits)."""
    name = endpoint.lower()
    return name in _MESSAGE_METHODS or (name.startswith("send") and name not in _NOT_MESSAGES)


@dataclass(frozen=True, slots=True)
class Window:
    """At most `limit` messages in any `period` seconds."""

    limit: int
    period: float


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


class _Chat:
    """One chat's window of recent releases, its pause, and its requests waiting in line."""

    __slots__ = ("key", "paused_until", "pending", "queued", "releases", "window")

    def __init__(self, key: ChatKey, window: Window | None) -> None:
        self.key = key
        self.window = window
        self.releases: deque[float] = deque(maxlen=window.limit if window else 1)
        self.paused_until = 0.0
        self.pending: deque[asyncio.Future[None]] = deque()
        self.queued = False  # has an entry in the dispatcher's heap

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


class TelegramRateLimiter(BaseRateLimiter[int]):
    """Paces message requests to Telegram's global, per-chat and per-group limits.

    `rate_limit_args` (an int) overrides `max_retries` for one call, as with PTB's
    AIORateLimiter. Unlike that reference, this limiter also retries network failures (not
    400 Bad Request or 403 Forbidden) with backoff: any request whose failure proves it was
    never sent, and requests that do not send messages whatever the failure;
    `retry_unconfirmed_sends=True` retries unconfirmed messages too, at the risk of duplicates.
    Above 30 messages a second Telegram charges for broadcasts: the sends must then carry
    `allow_paid_broadcast=True`.
    """

    def __init__(
        self,
        global_per_s: float = GLOBAL_PER_S,
        private_per_s: float = PRIVATE_PER_S,
        private_burst: int = PRIVATE_BURST,
        group_limit: int = GROUP_LIMIT,
        group_period: float = GROUP_PERIOD,
        *,
        max_retries: int = MAX_RETRIES,
        network_retries: int = NETWORK_RETRIES,
        retry_unconfirmed_sends: bool = False,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        margin: float = MARGIN,
        global_pause_after: int = GLOBAL_PAUSE_AFTER,
        rng: random.Random | None = None,
    ) -> None:
        if not 0 < global_per_s <= MAX_GLOBAL_PER_S:
            raise ValueError(f"global_per_s must be in (0, {MAX_GLOBAL_PER_S:g}]")
        if private_per_s <= 0 or private_burst < 1 or group_limit < 1 or group_period <= 0:
            raise ValueError("per-chat limits must be positive")
        if max_retries < 0 or network_retries < 0 or not 0 <= margin < 1:
            raise ValueError("retries must be >= 0 and margin in [0, 1)")
        self.max_retries = max_retries
        self.network_retries = network_retries
        self.retry_unconfirmed_sends = retry_unconfirmed_sends
        # Private chats: "1 a second with a burst of b" is b messages in any b seconds.
        self.private = Window(private_burst, private_burst / private_per_s)
        self.group = Window(group_limit, group_period)
        self.overall = Window(max(1, int(global_per_s)), 1.0)
        self.stats = RateLimiterStats()
        self._stretch = 1.0 + margin
        self._interval = self._stretch / global_per_s
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._global_pause_after = global_pause_after
        # asyncio's clock: the moments it sleeps until are on the same scale.
        self._clock = time.monotonic
        self._rng = rng or random.Random()
        self._chats: dict[ChatKey, _Chat] = {}
        self._sweep_at = _SWEEP_AT
        # Chats with requests waiting, by (ready time, arrival order, chat).
        self._heap: list[tuple[float, int, ChatKey]] = []
        self._order = itertools.count()
        self._released: deque[float] = deque(maxlen=self.overall.limit)
        self._next_slot = 0.0
        self._paused_until = 0.0
        self._recent_429: deque[tuple[float, ChatKey]] = deque()
        self._arrived = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None

    @property
    def tracked_chats(self) -> int:
        """How many chats the limiter remembers; idle ones are forgotten as it goes."""
        return len(self._chats)

    # -- BaseRateLimiter -----------------------------------------------------------------------

    async def initialize(self) -> None:
        """Nothing to do: the dispatcher starts with the first message."""

    async def shutdown(self) -> None:
        """Stop the dispatcher; requests still waiting are cancelled."""
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
            self._dispatcher = None
        for chat in self._chats.values():
            for waiter in chat.pending:
                waiter.cancel()
        self._chats.clear()
        self._heap.clear()
        self._arrived = asyncio.Event()

    async def process_request(
        self,
        callback: Callback,
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Result:
        """Call the Bot API when the limits allow, retrying 429s and unsent requests."""
        max_retries = self.max_retries if rate_limit_args is None else rate_limit_args
        paced = is_message_method(endpoint)
        key = _chat_key(data.get("chat_id"))
        too_many = failures = 0
        while True:
            if paced:
                # A retry goes first in its chat's line, so parts keep their order.
                await self._acquire(key, retry=too_many + failures > 0)
            try:
                result = await callback(*args, **kwargs)
            except RetryAfter as exc:
                self.stats.note("too_many")
                if too_many >= max_retries:
                    log.warning("%s to %s: still 429 after %d retries", endpoint, key, too_many)
                    raise
                too_many += 1
                self.stats.note("retries")
                delay = _seconds(exc) + RETRY_AFTER_EXTRA
                log.info("%s to %s: 429, retrying in %.1f s", endpoint, key, delay)
                if paced:
                    self._pause(key, delay)
                else:
                    await asyncio.sleep(delay)
            except NetworkError as exc:
                if isinstance(exc, BadRequest):
                    raise
                self.stats.network_errors += 1
                unsent = isinstance(exc.__cause__, _NEVER_SENT)
                if failures >= self.network_retries or (
                    paced and not unsent and not self.retry_unconfirmed_sends
                ):
                    raise
                failures += 1
                self.stats.note("network_retries")
                await asyncio.sleep(self.backoff_delay(failures))
            else:
                if paced:
                    self.stats.sent += 1
                return result

    # -- pacing ----------------------------------------------------------------------------------

    def backoff_delay(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1, 2, ...) after a network failure."""
        delay = min(self._max_backoff, self._backoff * 2.0 ** (attempt - 1))
        # Jitter spreads the retries of many chats; keeping half of the delay keeps it a backoff.
        return delay * (0.5 + self._rng.random() / 2)

    async def _acquire(self, key: ChatKey, *, retry: bool) -> None:
        """Wait in the chat's line until the dispatcher releases this request."""
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="rate-limiter")
        chat = self._chat(key)
        waiter = asyncio.get_running_loop().create_future()
        if retry:
            chat.pending.appendleft(waiter)
        else:
            chat.pending.append(waiter)
        if not chat.queued:
            self._queue(chat)
        self._arrived.set()
        await waiter

    def _queue(self, chat: _Chat) -> None:
        # By the moment the chat became (or will become) ready: first come, first served.
        ready = max(chat.ready_at(self._stretch), self._clock())
        heapq.heappush(self._heap, (ready, next(self._order), chat.key))
        chat.queued = True

    async def _dispatch(self) -> None:
        """Release one request per global slot, to the chat that has been ready longest."""
        released: _Chat | None = None  # since the dispatcher last slept
        last: _Chat | None = None  # released just before it went to sleep
        planned = 0.0  # when it meant to wake up
        while True:
            now = self._clock()
            if last is not None and now - planned > STALL:
                self._held_up(last, now)
            last = None
            gate = max(self._paused_until, self._next_slot, self._window_gate())
            if gate > now:
                last, planned, released = released, gate, None
                await asyncio.sleep(gate - now)
                continue
            picked = self._pick(now)
            if isinstance(picked, _Chat):
                self._release(picked, now)
                released = picked
                continue
            # Nothing is ready: wait for the earliest chat, or for a new request.
            if picked is not None:
                last, planned = released, now + picked
            released = None
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(picked):
                    await self._arrived.wait()

    def _held_up(self, chat: _Chat, now: float) -> None:
        """The loop was blocked: count the last request as sent now, when it may have left.

        Otherwise it could reach Telegram late, in the same second as the messages that follow.
        """
        self.stats.stalls += 1
        if self._released:
            self._released[-1] = max(self._released[-1], now)
        if chat.releases:
            chat.releases[-1] = max(chat.releases[-1], now)

    def _window_gate(self) -> float:
        # Even spacing alone would do, but after a stall (GC, a busy loop) late releases could
        # bunch up: the window over the real release times keeps any second within the limit.
        if len(self._released) < self.overall.limit:
            return 0.0
        return self._released[0] + self.overall.period * self._stretch

    def _pick(self, now: float) -> _Chat | float | None:
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

    def _release(self, chat: _Chat, now: float) -> None:
        chat.pending.popleft().set_result(None)
        chat.releases.append(now)
        self._released.append(now)
        # Space from the previous slot, not from now, so that waking late does not slow the pace
        # (the window gate bounds the catch-up); after an idle spell start afresh.
        slot = self._next_slot if now - self._next_slot < self._interval else now
        self._next_slot = slot + self._interval
        if chat.pending:
            self._queue(chat)

    def _pause(self, key: ChatKey, delay: float) -> None:
        """A 429: pause the chat, or everything if it was not about one chat."""
        now = self._clock()
        until = now + delay
        if key is not None:
            chat = self._chat(key)
            chat.paused_until = max(chat.paused_until, until)
            self._recent_429.append((now, key))
            while self._recent_429[0][0] < now - GLOBAL_429_SPAN:
                self._recent_429.popleft()
            if len({k for _, k in self._recent_429}) < self._global_pause_after:
                return
        log.warning("429s across chats: pausing all messages for %.1f s", delay)
        self.stats.global_pauses += 1
        self._recent_429.clear()
        self._paused_until = max(self._paused_until, until)

    def _chat(self, key: ChatKey) -> _Chat:
        chat = self._chats.get(key)
        if chat is None:
            if len(self._chats) >= self._sweep_at:
                self._sweep()
            chat = self._chats[key] = _Chat(key, self._window_for(key))
        return chat

    def _sweep(self) -> None:
        now = self._clock()
        for key in [k for k, chat in self._chats.items() if chat.idle(now, self._stretch)]:
            del self._chats[key]
        self._sweep_at = max(_SWEEP_AT, 2 * len(self._chats))

    def _window_for(self, key: ChatKey) -> Window | None:
        if key is None:
            return None
        if isinstance(key, int) and key > 0:
            return self.private
        return self.group  # groups, supergroups and channels (negative ids or "@name")


def _chat_key(chat_id: object) -> ChatKey:
    """The chat a request goes to: an int id, a "@channelname", or None."""
    if chat_id is None or chat_id == "":
        return None
    if isinstance(chat_id, int):
        return chat_id
    text = str(chat_id)
    try:
        return int(text)
    except ValueError:
        return text


def _seconds(exc: RetryAfter) -> float:
    # A timedelta with PTB_TIMEDELTA=true (the app sets it), else a deprecated int.
    value: int | dt.timedelta = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
