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
* Every window is kept as Telegram sees it: a message holds its place from its release until
  a window's length after its answer, so no delay on the way (network jitter, a busy loop, a
  slow server) can put more than the limit into any one second of Telegram's clock.
* A 429 pauses only that chat for `retry_after` (429s for several chats at once: everything),
  then the request is retried, at most `max_retries` times. Network failures are retried with
  exponential backoff and jitter, but a message is re-sent only when the failure proves that
  it never left (so a retry cannot post it twice).

This module is the python-telegram-bot side: which requests count, the dispatcher task that
waits for the slots, and the retries. The windows, lines and slots themselves are kept by
`bot.delivery.pacing.Pacer`; what is counted is `bot.delivery.limiter_stats.RateLimiterStats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import BaseRateLimiter

from bot.delivery.limiter_stats import RateLimiterStats
from bot.delivery.pacing import ChatKey, ChatLine, Pacer, Window

log = logging.getLogger(__name__)

Result = bool | dict[str, Any] | list[dict[str, Any]]
Callback = Callable[..., Coroutine[Any, Any, Result]]

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
# 429s for this many different chats within pacing.GLOBAL_429_SPAN seconds: the global limit.
GLOBAL_PAUSE_AFTER = 3
# Waking this much after the planned moment means the event loop was held up (a long garbage
# collection, a blocking call): the request released just before may have left only now. It
# is counted (stats.stalls); the windows hold each request until its answer anyway.
STALL = 0.005

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
        # asyncio's clock: the moments it sleeps until are on the same scale.
        self._pacer = Pacer(
            global_per_s,
            self.private,
            self.group,
            margin=margin,
            global_pause_after=global_pause_after,
            clock=time.monotonic,
        )
        self.overall = self._pacer.overall
        self.stats = RateLimiterStats()
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._rng = rng or random.Random()
        # Set when a request arrives or an answer comes: the dispatcher may have work.
        self._wake = asyncio.Event()
        self._dispatcher: asyncio.Task[None] | None = None

    @property
    def tracked_chats(self) -> int:
        """How many chats the limiter remembers; idle ones are forgotten as it goes."""
        return self._pacer.tracked_chats

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
        self._pacer.cancel_waiting()
        self._wake = asyncio.Event()

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
                try:
                    result = await callback(*args, **kwargs)
                finally:
                    if paced:  # answered, failed or cancelled: its window places start to free
                        self._finish(key)
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

    # -- waiting for a slot, and backing off ---------------------------------------------------

    def backoff_delay(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1, 2, ...) after a network failure."""
        delay = min(self._max_backoff, self._backoff * 2.0 ** (attempt - 1))
        # Jitter spreads the retries of many chats; keeping half of the delay keeps it a backoff.
        return delay * (0.5 + self._rng.random() / 2)

    async def _acquire(self, key: ChatKey, *, retry: bool) -> None:
        """Wait in the chat's line until the dispatcher releases this request."""
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="rate-limiter")
        waiter = asyncio.get_running_loop().create_future()
        self._pacer.wait_in_line(key, waiter, retry=retry)
        self._wake.set()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # released just as it was cancelled
                self._finish(key)
            raise

    def _finish(self, key: ChatKey) -> None:
        """A released request has its answer (or gave up): tell the pacer, wake the dispatcher."""
        self._pacer.finish(key, self._pacer.clock())
        self._wake.set()

    async def _dispatch(self) -> None:
        """Release one request per global slot, to the chat that has been ready longest."""
        pacer = self._pacer
        released = False  # since the dispatcher last slept
        last = False  # it released a request just before it went to sleep
        planned = 0.0  # when it meant to wake up
        while True:
            now = pacer.clock()
            if last and now - planned > STALL:
                self.stats.stalls += 1
            last = False
            gate = pacer.gate()
            if gate > now:
                last, planned, released = released, gate, False
                await self._wait(gate - now)
                continue
            picked = pacer.pick(now)
            if isinstance(picked, ChatLine):
                pacer.release(picked, now)
                released = True
                continue
            # Nothing is ready: wait for the earliest chat, an answer, or a new request.
            if picked is not None and picked < math.inf:
                last, planned = released, now + picked
            released = False
            await self._wait(picked, wake=True)

    async def _wait(self, seconds: float | None, *, wake: bool = False) -> None:
        """Sleep `seconds`; None or inf: until woken (an answer came, or a new request);
        `wake`: a wake-up also ends a finite sleep."""
        if seconds is not None and seconds < math.inf and not wake:
            await asyncio.sleep(seconds)
            return
        self._wake.clear()
        timeout = seconds if seconds is not None and seconds < math.inf else None
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._wake.wait()

    def _pause(self, key: ChatKey, delay: float) -> None:
        """A 429: pause the chat, or everything if it was not about one chat."""
        if self._pacer.pause(key, delay):
            log.warning("429s across chats: pausing all messages for %.1f s", delay)
            self.stats.global_pauses += 1


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
