"""The rate limiter keeps Telegram's limits, fills the global rate and retries what it may.

Windows are shortened (a private chat of 20/s, a group of 2 per 0.2 s, 200/s in all) so that the
behaviour shows in a fraction of a second; the timing checks give way to a slow machine only on
the side of speed (never early, and "fast enough" with room to spare).
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import random
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import ExtBot

import bot.delivery.pacing as pacing_mod
from bot.delivery.ratelimit import TelegramRateLimiter, is_message_method
from tests.fakes import FakeBotAPI

FAST: dict[str, Any] = {
    "global_per_s": 200,
    "private_per_s": 20,
    "private_burst": 2,  # 2 in any 0.1 s
    "group_limit": 2,
    "group_period": 0.2,
}
# How late a recorded call may be against the moment the limiter released it.
SLACK = 0.005

MakeLimiter = Callable[..., TelegramRateLimiter]


@pytest.fixture
async def make_limiter() -> AsyncIterator[MakeLimiter]:
    """Limiters with the FAST limits unless told otherwise, shut down after the test."""
    made: list[TelegramRateLimiter] = []

    def make(**changes: Any) -> TelegramRateLimiter:
        made.append(TelegramRateLimiter(**{**FAST, **changes}))
        return made[-1]

    yield make
    for limiter in made:
        await limiter.shutdown()


class FakeTelegram:
    """Stands in for PTB's request callback: records each call; scripted failures first."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, str, Any]] = []
        self.failures: dict[Any, list[BaseException]] = {}
        self.blocking: dict[Any, float] = {}  # chat -> seconds to block the event loop, once
        self.unblocked: dict[Any, float] = {}

    def fail(self, chat_id: Any, *errors: BaseException) -> None:
        self.failures.setdefault(chat_id, []).extend(errors)

    async def post(self, endpoint: str, data: dict[str, Any]) -> dict[str, Any]:
        chat_id = data.get("chat_id")
        self.calls.append((time.monotonic(), endpoint, chat_id))
        if chat_id in self.blocking:
            # Blocking is the point: the loop stalls as in a long garbage collection.
            time.sleep(self.blocking.pop(chat_id))  # noqa: ASYNC251
            self.unblocked[chat_id] = time.monotonic()
        if self.failures.get(chat_id):
            raise self.failures[chat_id].pop(0)
        return {"ok": True}

    def times(self, chat_id: Any = None) -> list[float]:
        return [t for t, _, chat in self.calls if chat_id is None or chat == chat_id]

    async def send(
        self,
        limiter: TelegramRateLimiter,
        chat_id: Any,
        endpoint: str = "sendMessage",
        rate_limit_args: int | None = None,
    ) -> Any:
        data = {"chat_id": chat_id} if chat_id is not None else {}
        return await limiter.process_request(
            self.post, (endpoint, data), {}, endpoint, data, rate_limit_args
        )


@pytest.fixture
def telegram() -> FakeTelegram:
    return FakeTelegram()


def retry_after(seconds: float) -> RetryAfter:
    return RetryAfter(dtm.timedelta(seconds=seconds))


def network_error(cause: Exception, kind: type[NetworkError] = NetworkError) -> NetworkError:
    """A NetworkError as PTB's HTTPXRequest raises it, from the httpx error."""
    try:
        raise kind(f"httpx.{type(cause).__name__}") from cause
    except NetworkError as exc:
        return exc


def most_in_window(times: list[float], period: float) -> int:
    """The most calls in any window of `period` seconds (half-open, as the referee counts)."""
    times = sorted(times)
    return max(
        (sum(1 for t in times[i:] if t < start + period) for i, start in enumerate(times)),
        default=0,
    )


# ---------------------------------------------------------------------------------------------
# What is paced, and the settings
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "paced"),
    [
        ("sendMessage", True),
        ("sendDocument", True),
        ("sendPhoto", True),
        ("copyMessage", True),
        ("forwardMessage", True),
        ("editMessageText", True),
        ("sendChatAction", False),
        ("getUpdates", False),
        ("getMe", False),
        ("answerCallbackQuery", False),
        ("setMyCommands", False),
    ],
)
def test_only_methods_that_post_or_edit_messages_are_paced(endpoint: str, paced: bool) -> None:
    """Sends, copies, forwards and edits count against the limits; other calls do not."""
    assert is_message_method(endpoint) is paced


@pytest.mark.parametrize(
    "settings",
    [
        {"global_per_s": 0},
        {"global_per_s": 1001},
        {"private_per_s": 0},
        {"private_burst": 0},
        {"group_limit": 0},
        {"max_retries": -1},
        {"margin": 1.0},
    ],
)
def test_impossible_settings_are_refused(settings: dict[str, Any]) -> None:
    """A rate of 0 or above Telegram's 1,000/s, or a negative retry count, is an error."""
    with pytest.raises(ValueError, match=r"must"):
        TelegramRateLimiter(**settings)


def test_paid_broadcast_rate_is_accepted() -> None:
    """Bots that pay for broadcasts may go up to 1,000 messages a second."""
    assert TelegramRateLimiter(global_per_s=1000).overall.limit == 1000


async def test_other_methods_are_not_paced(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """getMe, chat actions and callback answers go at once even with a tiny message rate."""
    limiter = make_limiter(global_per_s=2)
    started = time.monotonic()
    await asyncio.gather(
        *(telegram.send(limiter, 7, "sendChatAction") for _ in range(10)),
        *(telegram.send(limiter, None, "getMe") for _ in range(10)),
        *(telegram.send(limiter, None, "answerCallbackQuery") for _ in range(10)),
    )
    assert time.monotonic() - started < 0.5
    assert limiter.stats.sent == 0


# ---------------------------------------------------------------------------------------------
# Pacing
# ---------------------------------------------------------------------------------------------


async def test_global_rate_is_even_never_early_and_full(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """Messages to many chats go one per 1/rate (plus the margin), never sooner, without gaps."""
    limiter = make_limiter()
    interval = 1.03 / 200
    await asyncio.gather(*(telegram.send(limiter, chat) for chat in range(1, 61)))
    times = sorted(telegram.times())
    for k, moment in enumerate(times):
        assert moment - times[0] >= k * interval - SLACK
    assert times[-1] - times[0] < 59 * interval * 1.5  # the pipe stays full
    assert limiter.stats.sent == 60


async def test_private_chat_gets_its_burst_then_its_rate(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """A private chat gets `private_burst` messages at once, then the window holds it back."""
    limiter = make_limiter()
    for _ in range(6):
        await telegram.send(limiter, 7)
    times = telegram.times(7)
    assert times[1] - times[0] < 0.05  # the burst
    for earlier, later in zip(times, times[2:], strict=False):
        assert later - earlier >= 0.1 * 1.03 - SLACK


async def test_groups_and_channels_get_the_group_window(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """Negative chat ids and "@channel" names take at most group_limit per group_period."""
    limiter = make_limiter()
    await asyncio.gather(
        *(telegram.send(limiter, -42) for _ in range(5)),
        *(telegram.send(limiter, "@arxiv_channel") for _ in range(5)),
    )
    for chat in (-42, "@arxiv_channel"):
        times = telegram.times(chat)
        assert len(times) == 5
        for earlier, later in zip(times, times[2:], strict=False):
            assert later - earlier >= 0.2 * 1.03 - SLACK


async def test_topics_of_a_forum_share_its_group_window(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """Sends to different topics (message_thread_id) of one supergroup count against that
    group's one window: Telegram limits the chat, not the topic."""
    limiter = make_limiter()

    async def send(topic: int) -> None:
        data = {"chat_id": -42, "message_thread_id": topic}
        await limiter.process_request(
            telegram.post, ("sendMessage", data), {}, "sendMessage", data, None
        )

    await asyncio.gather(*(send(topic) for topic in (1, 2, 3, 1, 2)))
    times = telegram.times(-42)
    assert len(times) == 5
    for earlier, later in zip(times, times[2:], strict=False):
        assert later - earlier >= 0.2 * 1.03 - SLACK


async def test_a_waiting_chat_does_not_hold_up_the_others(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """While one chat waits for its own slot, the global slots go to the other chats."""
    limiter = make_limiter(private_per_s=4, private_burst=1)  # one per 0.25 s in one chat

    async def digest(chat: int, parts: int) -> None:
        for _ in range(parts):
            await telegram.send(limiter, chat)

    await asyncio.gather(digest(1, 3), *(digest(chat, 1) for chat in range(2, 32)))
    slow = telegram.times(1)
    others = [t for t, _, chat in telegram.calls if chat != 1]
    assert slow[1] - slow[0] >= 0.25
    # 30 messages at 200/s take 0.15 s: all went while chat 1 waited for its second slot.
    assert max(others) < slow[1]


async def test_a_request_held_up_by_a_stalled_loop_counts_from_when_it_left(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """After the event loop stalls behind a released request, the window counts it as sent
    when the loop resumed, so the messages after it still keep a second apart."""
    limiter = make_limiter(global_per_s=5)  # 5 in any 1.03 s, one per 0.206 s
    telegram.blocking[1] = 0.3
    await asyncio.gather(*(telegram.send(limiter, chat) for chat in range(1, 7)))
    assert telegram.times(6)[0] - telegram.unblocked[1] >= 1.0
    assert limiter.stats.stalls >= 1  # more on a busy machine


class SlowTelegram(FakeTelegram):
    """Answers a chat's requests only when the test lets it (`answer(chat)`)."""

    def __init__(self) -> None:
        super().__init__()
        self.gates: dict[Any, asyncio.Event] = {}
        self.answered: dict[Any, list[float]] = {}

    def hold(self, *chats: Any) -> None:
        for chat in chats:
            self.gates[chat] = asyncio.Event()

    def answer(self, chat: Any) -> None:
        self.gates[chat].set()

    async def post(self, endpoint: str, data: dict[str, Any]) -> dict[str, Any]:
        result = await super().post(endpoint, data)
        chat = data.get("chat_id")
        if chat in self.gates:
            await self.gates[chat].wait()
            self.answered.setdefault(chat, []).append(time.monotonic())
        return result


async def test_a_message_holds_its_place_in_the_window_until_answered(
    make_limiter: MakeLimiter,
) -> None:
    """With the global limit of messages unanswered, the next waits for an answer, then a
    whole second after it: Telegram may have counted that message at any moment until then."""
    limiter = make_limiter(global_per_s=5)
    slow = SlowTelegram()
    slow.hold(1, 2, 3, 4, 5)
    first = [asyncio.create_task(slow.send(limiter, chat)) for chat in range(1, 6)]
    sixth = asyncio.create_task(slow.send(limiter, 6))
    async with asyncio.timeout(30):
        while len(slow.calls) < 5:
            await asyncio.sleep(0.01)
    await asyncio.sleep(1.2)  # a whole window: only an answer can let the sixth go
    assert slow.times(6) == []
    slow.answer(3)
    await sixth
    assert slow.times(6)[0] >= slow.answered[3][0] + 1.0
    for chat in (1, 2, 4, 5):
        slow.answer(chat)
    await asyncio.gather(*first)
    assert limiter.stats.sent == 6


async def test_a_chat_whose_messages_are_all_unanswered_waits_for_an_answer(
    make_limiter: MakeLimiter,
) -> None:
    """A private chat's window (2 in any 0.1 s here) also counts from the answers: the third
    message goes at least a window after the first answer, and the other chats go meanwhile."""
    limiter = make_limiter()
    slow = SlowTelegram()
    slow.hold(7)
    held = [asyncio.create_task(slow.send(limiter, 7)) for _ in range(2)]
    async with asyncio.timeout(30):
        while len(slow.times(7)) < 2:
            await asyncio.sleep(0.01)
    third = asyncio.create_task(slow.send(limiter, 7))
    await asyncio.gather(*(slow.send(limiter, chat) for chat in range(8, 20)))
    assert len(slow.times(7)) == 2
    slow.answer(7)
    await asyncio.gather(*held, third)
    assert slow.times(7)[2] >= slow.answered[7][0] + 0.1 * 1.03


async def test_ready_chats_are_served_first_come_first_served(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """Requests that are ready go out in the order they arrived."""
    limiter = make_limiter()
    await asyncio.gather(*(telegram.send(limiter, chat) for chat in range(1, 21)))
    assert [chat for _, _, chat in telegram.calls] == list(range(1, 21))


async def test_forgetting_idle_chats_keeps_their_windows(
    make_limiter: MakeLimiter, telegram: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limiter forgets chats as it goes, but never one whose window still matters."""
    monkeypatch.setattr(pacing_mod, "_SWEEP_AT", 8)
    limiter = make_limiter(global_per_s=1000, private_per_s=4, private_burst=2)  # 2 per 0.5 s
    await telegram.send(limiter, 1)
    await telegram.send(limiter, 1)
    await asyncio.gather(*(telegram.send(limiter, chat) for chat in range(2, 60)))
    await telegram.send(limiter, 1)
    first, _, third = telegram.times(1)
    assert third - first >= 0.5
    assert limiter.tracked_chats < 60


# ---------------------------------------------------------------------------------------------
# 429s
# ---------------------------------------------------------------------------------------------


async def test_429_pauses_only_that_chat_then_retries(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """A 429 for one chat holds back that chat for retry_after; the others go on."""
    limiter = make_limiter()
    telegram.fail(1, retry_after(0.2))
    await asyncio.gather(*(telegram.send(limiter, chat) for chat in range(1, 12)))
    refused, accepted = telegram.times(1)
    assert accepted - refused >= 0.2
    assert max(t for t, _, chat in telegram.calls if chat != 1) < refused + 0.2
    stats = limiter.stats
    assert (stats.too_many, stats.retries, stats.sent, stats.global_pauses) == (1, 1, 11, 0)


async def test_429s_from_several_chats_pause_everything(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """429s for several chats at once read as the global limit: every chat waits."""
    limiter = make_limiter(global_per_s=50, global_pause_after=2)
    telegram.fail(1, retry_after(0.2))
    telegram.fail(2, retry_after(0.2))
    await asyncio.gather(*(telegram.send(limiter, chat) for chat in (1, 2, 3)))
    second_429 = telegram.times(2)[0]
    assert telegram.times(3)[0] >= second_429 + 0.2
    assert limiter.stats.global_pauses == 1


async def test_429_without_a_chat_pauses_everything(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """A 429 for a message request that names no chat can only be the global limit."""
    limiter = make_limiter()
    telegram.fail(None, retry_after(0.1))
    await telegram.send(limiter, None, "editMessageText")
    assert limiter.stats.global_pauses == 1


async def test_429_retries_are_bounded_and_counted(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """After max_retries retries the 429 is raised; rate_limit_args overrides the count."""
    limiter = make_limiter(max_retries=2)
    telegram.fail(1, *(retry_after(0.01) for _ in range(10)))
    with pytest.raises(RetryAfter):
        await telegram.send(limiter, 1)
    assert len(telegram.times(1)) == 3
    with pytest.raises(RetryAfter):
        await telegram.send(limiter, 1, rate_limit_args=0)
    assert len(telegram.times(1)) == 4
    stats = limiter.stats
    assert (stats.too_many, stats.retries, stats.sent) == (4, 2, 0)


async def test_429_on_other_methods_is_waited_out(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """A 429 on a method that is not paced is retried after retry_after, pausing nothing."""
    limiter = make_limiter()
    telegram.fail(None, retry_after(0.05))
    assert await telegram.send(limiter, None, "getMe") == {"ok": True}
    assert len(telegram.calls) == 2
    assert (limiter.stats.retries, limiter.stats.global_pauses) == (1, 0)


# ---------------------------------------------------------------------------------------------
# Network failures
# ---------------------------------------------------------------------------------------------


async def test_failures_before_sending_are_retried_with_backoff(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """A message that never left (connect error, pool timeout) is retried after a backoff."""
    limiter = make_limiter(backoff=0.02)
    telegram.fail(
        1,
        network_error(httpx.ConnectError("refused")),
        network_error(httpx.PoolTimeout("pool"), TimedOut),
    )
    await telegram.send(limiter, 1)
    first, second, third = telegram.times(1)
    assert second - first >= 0.01  # at least half of 0.02 s
    assert third - second >= 0.02  # at least half of 0.04 s
    stats = limiter.stats
    assert (stats.network_errors, stats.network_retries, stats.sent) == (2, 2, 1)


async def test_a_message_that_may_have_arrived_is_not_sent_again(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """A read timeout on a send may follow delivery: it is raised, not retried (no duplicate)."""
    limiter = make_limiter(backoff=0.001)
    telegram.fail(1, network_error(httpx.ReadTimeout("slow"), TimedOut))
    with pytest.raises(TimedOut):
        await telegram.send(limiter, 1)
    assert len(telegram.times(1)) == 1
    telegram.fail(None, network_error(httpx.ReadTimeout("slow"), TimedOut))
    await telegram.send(limiter, None, "getMe")  # harmless to repeat
    assert len(telegram.calls) == 3


async def test_unconfirmed_sends_can_be_retried_on_request(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """retry_unconfirmed_sends=True retries sends after any network failure."""
    limiter = make_limiter(backoff=0.001, retry_unconfirmed_sends=True)
    telegram.fail(1, NetworkError("Bad Gateway"))
    await telegram.send(limiter, 1)
    assert len(telegram.times(1)) == 2


@pytest.mark.parametrize(
    "error", [BadRequest("Bad Request: chat not found"), Forbidden("Forbidden: bot was blocked")]
)
async def test_refusals_are_never_retried(
    make_limiter: MakeLimiter, telegram: FakeTelegram, error: Exception
) -> None:
    """400 and 403 are answers, not failures: raised at once."""
    limiter = make_limiter(backoff=0.001, retry_unconfirmed_sends=True)
    telegram.fail(1, error)
    with pytest.raises(type(error)):
        await telegram.send(limiter, 1)
    assert len(telegram.calls) == 1
    assert limiter.stats.network_errors == 0


async def test_network_retries_are_bounded(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """After network_retries retries the failure is raised."""
    limiter = make_limiter(backoff=0.001, network_retries=2)
    telegram.fail(1, *(network_error(httpx.ConnectError("down")) for _ in range(5)))
    with pytest.raises(NetworkError):
        await telegram.send(limiter, 1)
    assert len(telegram.calls) == 3
    assert (limiter.stats.network_errors, limiter.stats.network_retries) == (3, 2)


def test_backoff_doubles_with_jitter_up_to_a_ceiling() -> None:
    """Retry n waits between half and all of backoff * 2**(n-1), at most max_backoff."""
    limiter = TelegramRateLimiter(backoff=0.5, max_backoff=3.0, rng=random.Random(7))
    delays = [limiter.backoff_delay(n) for n in range(1, 6)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(3.0, 0.5 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jittered


# ---------------------------------------------------------------------------------------------
# Lifecycle
# ---------------------------------------------------------------------------------------------


async def test_a_cancelled_request_gives_up_its_place(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """A caller that gives up while waiting is skipped; the chat's window still holds."""
    limiter = make_limiter(private_per_s=4, private_burst=1)  # one per 0.25 s
    await telegram.send(limiter, 1)
    waiting = asyncio.create_task(telegram.send(limiter, 1))
    await asyncio.sleep(0.05)
    waiting.cancel()
    await telegram.send(limiter, 1)
    first, second = telegram.times(1)
    assert second - first >= 0.25
    assert waiting.cancelled()


async def test_shutdown_cancels_waiting_requests(
    make_limiter: MakeLimiter, telegram: FakeTelegram
) -> None:
    """Requests still waiting when the limiter shuts down are cancelled, not left hanging."""
    limiter = make_limiter(private_per_s=1, private_burst=1)
    await limiter.initialize()
    await telegram.send(limiter, 1)
    waiting = asyncio.create_task(telegram.send(limiter, 1))
    await asyncio.sleep(0.02)
    await limiter.shutdown()
    with pytest.raises(asyncio.CancelledError):
        await waiting


# ---------------------------------------------------------------------------------------------
# Through python-telegram-bot, against the fake Bot API enforcing the limits
# ---------------------------------------------------------------------------------------------

REFEREE: dict[str, Any] = {
    "private_per_s": 20,
    "private_burst": 2,
    "group_limit": 3,
    "group_period": 0.3,
}


@pytest.fixture
async def api() -> AsyncIterator[FakeBotAPI]:
    async with FakeBotAPI() as fake:
        yield fake


async def test_fan_out_passes_the_referee_with_every_part_once(api: FakeBotAPI) -> None:
    """Over 100 messages at 100/s to private chats and groups: no 429, all once, in order."""
    api.enforce_rate_limits(global_per_s=100, **REFEREE)
    limiter = TelegramRateLimiter(global_per_s=100, **REFEREE)
    chats = [*range(1, 31), -1, -2, -1001234]
    async with ExtBot(api.token, base_url=api.base_url, rate_limiter=limiter) as bot:

        async def digest(chat: int, parts: int) -> None:
            for part in range(parts):
                await bot.send_message(chat, f"part {part}")

        await asyncio.gather(*(digest(chat, 3 if chat > 0 else 4) for chat in chats))
    assert api.rate_limit_hits == []
    assert api.violations == []
    # At most the limit in any second; close to it, but a busy machine slows the loop down.
    assert 65 <= most_in_window([t for t, _ in api.message_times], 1.0) <= 100
    for chat in chats:
        expected = [f"part {n}" for n in range(3 if chat > 0 else 4)]
        assert [m.plain_text for m in api.messages_to(chat)] == expected
    assert limiter.stats.sent == len(api.sent) == 102


async def test_429_from_telegram_delays_that_chat_and_delivers_once(api: FakeBotAPI) -> None:
    """A 429 from the Bot API is waited out for that chat; the message then arrives once."""
    api.fail_next("sendMessage", chat_id=5, retry_after=1)
    limiter = TelegramRateLimiter(**FAST)
    async with ExtBot(api.token, base_url=api.base_url, rate_limiter=limiter) as bot:
        await asyncio.gather(*(bot.send_message(chat, "hello") for chat in range(1, 11)))
    assert [m.chat_id for m in api.sent].count(5) == 1
    assert api.sent[-1].chat_id == 5  # the others did not wait for it
    [accepted] = [t for t, chat in api.message_times if chat == 5]
    assert accepted - api.message_times[0][0] >= 1.0
    assert (limiter.stats.too_many, limiter.stats.retries, limiter.stats.sent) == (1, 1, 10)


def most_in_closed_window(times: list[float], period: float) -> int:
    """The most of the times in any closed window [t - period, t] (the strict referee's)."""
    times = sorted(times)
    return max(
        (sum(1 for t in times[i:] if t <= start + period) for i, start in enumerate(times)),
        default=0,
    )


async def test_strict_sliding_window_sees_no_429_in_a_fan_out(api: FakeBotAPI) -> None:
    """300 sends to 100 chats against the strict referee (closed windows, each request seen
    only after a random network delay of up to 0.1 s): not one 429, at most the limit in any
    second as the server saw it, each part once and in order. Whatever the delays and however
    slow the machine: a message holds its place in the window until Telegram has answered."""
    api.enforce_rate_limits(global_per_s=100, strict=True, jitter=0.1, seed=11, **REFEREE)
    limiter = TelegramRateLimiter(global_per_s=100, **REFEREE)
    chats = range(1, 101)
    async with ExtBot(api.token, base_url=api.base_url, rate_limiter=limiter) as bot:

        async def digest(chat: int) -> None:
            for part in range(3):
                await bot.send_message(chat, f"part {part}")

        await asyncio.gather(*(digest(chat) for chat in chats))
    assert api.rate_limit_hits == []
    assert most_in_closed_window([t for t, _ in api.message_times], 1.0) <= 100
    for chat in chats:
        assert [m.plain_text for m in api.messages_to(chat)] == ["part 0", "part 1", "part 2"]
    assert limiter.stats.sent == len(api.sent) == 300
    assert limiter.stats.too_many == 0
