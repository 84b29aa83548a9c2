"""Telegram's refusals for good: a 400 other than a migration ends the part (never the
chat's later digests), its papers wait for the next digest that can be sent, the chat's owner
is told where possible, /stats and /metrics count it; and no part waits for ever."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.config import ConfigError, load_config
from bot.delivery.digest import DigestPart
from bot.delivery.limiter_stats import RateLimiterStats
from bot.delivery.outbox import Outbox, Outcome
from bot.delivery.refusals import Verdict, classify
from bot.i18n import texts
from bot.storage.store import Store
from tests.conftest import TOKEN, USER, BotUnderTest, StartBot, free_port, ids_in, noon_zone
from tests.fakes import FakeBotAPI
from tests.fakes.clock import FakeClock
from tests.papers import numbered_paper

GROUP = -1009100
ADMIN = 9101
CHANNEL = -1009200
CHANNEL_NAME = "arxiv_refusals"
EIGHT = dt.time(8, 0)


def plain(html_text: str) -> str:
    """A text of bot/i18n/texts.py as the user sees it (tags gone), up to its first field."""
    for tag in ("<b>", "</b>", "<i>", "</i>", "<code>", "</code>"):
        html_text = html_text.replace(tag, "")
    return html_text.split("{")[0]


async def in_group(bot: BotUnderTest, text: str, **kwargs: Any) -> None:
    await bot.ask(text, chat_id=GROUP, chat_type="supergroup", user_id=ADMIN, **kwargs)


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url)


def sample(metrics: str, name: str, **labels: str) -> float:
    label_text = ",".join(f'{key}="{value}"' for key, value in labels.items())
    series = f"{name}{{{label_text}}}" if labels else name
    match = re.search(rf"^{re.escape(series)} (\S+)$", metrics, re.MULTILINE)
    assert match is not None, f"{series} not in the metrics"
    return float(match.group(1))


# -- the classes of answers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "in_topic", "verdict"),
    [
        (NetworkError("Bad Gateway"), False, Verdict.RETRY_NOW),
        (TimedOut(), False, Verdict.RETRY_NOW),
        (RetryAfter(dt.timedelta(seconds=3)), False, Verdict.RETRY_LATER),
        (InvalidToken("Unauthorized"), False, Verdict.RETRY_LATER),
        (Conflict("Conflict: terminated by other getUpdates"), False, Verdict.RETRY_LATER),
        (TelegramError("Invalid server response"), False, Verdict.RETRY_LATER),
        (ChatMigrated(-1001234), False, Verdict.MIGRATED),
        (Forbidden("Forbidden: bot was blocked by the user"), False, Verdict.GONE),
        (BadRequest("Bad Request: chat not found"), False, Verdict.GONE),
        (BadRequest("Bad Request: message thread not found"), True, Verdict.TOPIC_GONE),
        (BadRequest("Bad Request: TOPIC_CLOSED"), True, Verdict.CHAT_REFUSES),
        (
            BadRequest("Bad Request: not enough rights to send text messages to the chat"),
            False,
            Verdict.CHAT_REFUSES,
        ),
        (
            BadRequest("Bad Request: need administrator rights in the channel chat"),
            False,
            Verdict.CHAT_REFUSES,
        ),
        (BadRequest("Bad Request: CHAT_WRITE_FORBIDDEN"), False, Verdict.CHAT_REFUSES),
        (BadRequest("Bad Request: message is too long"), False, Verdict.PART_REFUSED),
        (BadRequest("Bad Request: can't parse entities"), False, Verdict.PART_REFUSED),
        (BadRequest("Bad Request: message thread not found"), False, Verdict.PART_REFUSED),
        (BadRequest("Bad Request: something new"), False, Verdict.PART_REFUSED),
    ],
)
def test_every_answer_is_retried_or_ends_the_part(
    error: TelegramError, in_topic: bool, verdict: Verdict
) -> None:
    """Each Bot API error is one of: retry now, retry at the next flush, follow the chat,
    the chat is gone, the topic is gone, or a refusal for good (of the chat, or of this one
    message); an unknown 400 is a refusal of the message."""
    assert classify(error, in_topic=in_topic) is verdict


async def test_the_fake_refuses_like_telegram(telegram: FakeBotAPI) -> None:
    """The fake Bot API answers a restricted bot and a closed topic with Telegram's 400s;
    the general topic of that forum still takes messages."""
    telegram.make_forum(GROUP)
    telegram.add_channel(CHANNEL, CHANNEL_NAME)
    async with Bot(TOKEN, base_url=telegram.base_url) as client:
        telegram.close_topic(GROUP, 7)
        with pytest.raises(BadRequest, match=r"(?i)topic_closed"):
            await client.send_message(GROUP, "in the topic", message_thread_id=7)
        await client.send_message(GROUP, "in General")
        telegram.reopen_topic(GROUP, 7)
        await client.send_message(GROUP, "in the topic again", message_thread_id=7)
        telegram.restrict_bot(GROUP)
        with pytest.raises(BadRequest, match=r"(?i)not enough rights to send text messages"):
            await client.send_message(GROUP, "restricted")
        telegram.restrict_bot(CHANNEL)
        with pytest.raises(BadRequest, match=r"(?i)need administrator rights in the channel"):
            await client.send_message(CHANNEL, "restricted")
        telegram.unrestrict_bot(GROUP)
        await client.send_message(GROUP, "allowed again")
    assert [m.plain_text for m in telegram.messages_to(GROUP)] == [
        "in General",
        "in the topic again",
        "allowed again",
    ]


# -- end to end: the real application against the fake Bot API ---------------------------------


async def test_a_group_that_restricted_the_bot_does_not_block_its_later_digests(
    start_bot: StartBot, telegram: FakeBotAPI
) -> None:
    """A group that took the bot's right to post: the digest's parts end at once (nothing
    stays pending, nothing is retried), its papers are not counted as delivered; once the
    group lets the bot post again, the next digest brings them. /stats and /metrics count the
    parts refused."""
    port = free_port()
    async with start_bot(admin_ids=frozenset({ADMIN}), health_port=port) as bot:
        await bot.wait_for_papers(86)
        await bot.ask(f"/timezone {noon_zone()}", chat_id=ADMIN, user_id=ADMIN)
        telegram.set_member(GROUP, ADMIN, "administrator")
        await in_group(bot, "/subscribe diffusion")
        store = bot.services.store
        telegram.restrict_bot(GROUP)
        sends = len(telegram.calls_to("sendMessage"))
        await bot.run_job(f"digest:{GROUP}")
        assert await store.pending_parts(GROUP) == []
        assert await store.delivered_ids(GROUP) == set()
        await bot.run_job("outbox")
        assert len(telegram.calls_to("sendMessage")) == sends + 1, "one try, no retry"
        ended = (await store.count_ended_parts(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))[
            "refused"
        ]
        assert ended >= 1
        (figures,) = await bot.ask("/stats", chat_id=ADMIN, user_id=ADMIN)
        assert f"\n{ended} digest messages refused by Telegram" in figures.plain_text
        metrics = (await get(f"http://127.0.0.1:{port}/metrics")).text
        assert sample(metrics, "arxiv_bot_digest_parts_ended_total", reason="refused") == ended

        telegram.unrestrict_bot(GROUP)
        before = len(telegram.messages_to(GROUP))
        await bot.run_job(f"digest:{GROUP}")
        digest = await bot.press_more(GROUP)
        shown = ids_in(digest[before:])
        assert shown
        assert set(shown) == await store.delivered_ids(GROUP)
        assert await store.pending_parts(GROUP) == []
    assert telegram.violations == []


async def test_a_closed_topic_ends_the_digest_and_tells_the_general_topic(
    bot: BotUnderTest,
) -> None:
    """A forum whose digest topic was closed: the digest ends unsent, the General topic is
    told why, the papers wait; once the topic is open again they come there."""
    telegram = bot.telegram
    telegram.set_member(GROUP, ADMIN, "administrator")
    telegram.make_forum(GROUP)
    await in_group(bot, "/subscribe diffusion", message_thread_id=7)
    telegram.close_topic(GROUP, 7)
    store = bot.services.store
    before = len(telegram.messages_to(GROUP))
    await bot.run_job(f"digest:{GROUP}")
    (notice,) = (await bot.settle(GROUP))[before:]
    assert notice.message_thread_id is None, "told in the General topic"
    assert plain(texts.DIGEST_TOPIC_REFUSED) in notice.plain_text
    assert "topic_closed" in notice.plain_text.lower()
    assert await store.pending_parts(GROUP) == []
    assert await store.delivered_ids(GROUP) == set()

    telegram.reopen_topic(GROUP, 7)
    before = len(telegram.messages_to(GROUP))
    await bot.run_job(f"digest:{GROUP}")
    digest = (await bot.press_more(GROUP))[before:]
    assert ids_in(digest)
    assert {message.message_thread_id for message in digest} == {7}
    assert set(ids_in(digest)) == await store.delivered_ids(GROUP)


async def test_a_channel_that_took_the_bots_rights_sends_the_digest_to_its_owner(
    bot: BotUnderTest,
) -> None:
    """The bot lost its admin rights in a linked channel (400 "need administrator rights"):
    the private chat behind it is told, and gets the digest instead of waiting for ever."""
    telegram = bot.telegram
    telegram.add_channel(CHANNEL, CHANNEL_NAME)
    telegram.set_member(CHANNEL, USER, "creator")
    telegram.set_member(CHANNEL, telegram.bot_id, "administrator", can_post_messages=True)
    await bot.ask("/subscribe diffusion")
    await bot.ask(f"/channel @{CHANNEL_NAME}")
    telegram.restrict_bot(CHANNEL)
    before = len(telegram.messages_to(USER))
    await bot.run_job(f"digest:{USER}")
    private = (await bot.press_more(USER))[before:]
    assert f"I can no longer post in @{CHANNEL_NAME}" in private[0].plain_text
    assert ids_in(private[1:])
    assert set(ids_in(private)) == await bot.services.store.delivered_ids(USER)
    assert await bot.services.store.pending_parts() == []
    assert telegram.messages_to(CHANNEL) == []


async def test_one_refused_message_ends_alone_and_the_chat_is_told(bot: BotUnderTest) -> None:
    """Telegram refuses one message of a digest: that part ends, the rest of the digest
    still goes, the chat is told once, and the refused part's papers come with the next
    digest."""
    telegram = bot.telegram
    await bot.ask('/subscribe "large language model", agent')
    store = bot.services.store
    telegram.fail_next(chat_id=USER, status=400, description="Bad Request: message is too long")
    before = len(telegram.messages_to(USER))
    sends = len(telegram.calls_to("sendMessage"))
    await bot.run_job(f"digest:{USER}")
    first = (await bot.press_more())[before:]
    refused_text = telegram.calls_to("sendMessage")[sends]["text"]  # the part refused
    refused = re.findall(r'href="https://arxiv\.org/abs/([^"]+)"', refused_text)
    assert refused
    notices = [m for m in first if plain(texts.DIGEST_REFUSED) in m.plain_text]
    assert len(notices) == 1
    assert "message is too long" in notices[0].plain_text.lower()
    sent = ids_in(first)
    assert sent, "the rest of the digest went out"
    assert await store.pending_parts(USER) == []
    assert set(sent) == await store.delivered_ids(USER)
    assert not set(refused) & set(sent), "the refused part is not delivered"

    before = len(telegram.messages_to(USER))
    await bot.ask("/digest")  # returns once its first message came
    again = ids_in((await bot.press_more())[before:])
    assert set(refused) <= set(again), "its papers came with the next digest"
    assert not set(again) & set(sent), "and nothing twice"


# -- the maximum age -------------------------------------------------------------------------


@pytest.fixture
async def clock_store(tmp_path: Path) -> AsyncIterator[tuple[Store, FakeClock]]:
    clock = FakeClock(start=dt.datetime(2025, 8, 21, 8, tzinfo=dt.UTC).timestamp())
    store = await Store.open(
        tmp_path / "bot.sqlite3", clock=lambda: dt.datetime.fromtimestamp(clock.now, dt.UTC)
    )
    await store.add_papers([numbered_paper(n) for n in range(1, 5)])
    await store.ensure_chat(1, EIGHT, "UTC")
    yield store, clock
    await store.close()


async def nap(seconds: float) -> None:
    """The outbox's backoff between tries, without the wait."""


async def test_no_part_is_retried_for_ever(
    clock_store: tuple[Store, FakeClock], telegram: FakeBotAPI
) -> None:
    """A part that Telegram keeps failing (5xx) stays queued, flush after flush, until it is
    older than the maximum age: then it ends unsent (with the part held behind its "More"
    button), is not tried again, and its papers wait for the next digest."""
    store, clock = clock_store
    stats = RateLimiterStats()
    box = Outbox(store, visible_parts=1, max_age=dt.timedelta(hours=24), stats=stats, sleep=nap)
    await box.enqueue(1, [DigestPart("one", ("2508.00001",)), DigestPart("two", ("2508.00002",))])
    telegram.fail_next(status=500, times=1000)
    async with Bot(TOKEN, base_url=telegram.base_url) as client:
        assert await box.flush_chat(client, 1) is Outcome.FAILED
        clock.now += 23 * 3600
        assert await box.flush_chat(client, 1) is Outcome.FAILED
        tries = len(telegram.calls_to("sendMessage"))
        clock.now += 2 * 3600
        assert await box.flush_chat(client, 1) is Outcome.ENDED
        assert await box.flush(client) == {}
    assert len(telegram.calls_to("sendMessage")) == tries, "not tried again"
    assert telegram.sent == []
    assert await store.pending_parts(1) == []
    assert await store.delivered_ids(1) == set()
    assert stats.parts_expired == 2
    since = dt.datetime(2025, 8, 21, tzinfo=dt.UTC)
    assert await store.count_ended_parts(since) == {"refused": 0, "expired": 2}


async def test_a_page_released_by_more_counts_its_age_from_the_press(
    clock_store: tuple[Store, FakeClock], telegram: FakeBotAPI
) -> None:
    """A page held behind "More" for longer than the maximum age is not ended when it is
    released: its age counts from the press."""
    store, clock = clock_store
    stats = RateLimiterStats()
    box = Outbox(store, visible_parts=1, max_age=dt.timedelta(hours=24), stats=stats, sleep=nap)
    digest = await box.enqueue(
        1, [DigestPart("one", ("2508.00001",)), DigestPart("two", ("2508.00002",))]
    )
    async with Bot(TOKEN, base_url=telegram.base_url) as client:
        assert await box.flush_chat(client, 1) is Outcome.SENT
        clock.now += 30 * 3600
        telegram.fail_next(status=500, times=1000)
        assert await box.more(client, digest, 1) == 1
        assert [p.part_no for p in await store.pending_parts(1)] == [2]
        clock.now += 25 * 3600
        assert await box.flush_chat(client, 1) is Outcome.ENDED
    assert await store.pending_parts(1) == []
    assert await store.delivered_ids(1) == {"2508.00001"}
    assert stats.parts_expired == 1


def test_the_maximum_age_is_a_setting() -> None:
    """TELEGRAM_PART_MAX_AGE_HOURS sets it (default a day); nonsense stops the start."""
    base = {"BOT_TOKEN": TOKEN, "BOT_CONFIG": "config/bot.toml"}
    assert load_config(base).telegram_part_max_age_hours == 24
    assert (
        load_config({**base, "TELEGRAM_PART_MAX_AGE_HOURS": "6"}).telegram_part_max_age_hours == 6
    )
    for bad in ("0", "-1", "soon"):
        with pytest.raises(ConfigError, match="TELEGRAM_PART_MAX_AGE_HOURS"):
            load_config({**base, "TELEGRAM_PART_MAX_AGE_HOURS": bad})


async def test_the_application_uses_the_maximum_age(start_bot: StartBot) -> None:
    """The running bot's outbox ends parts after the configured age."""
    async with start_bot(telegram_part_max_age_hours=6) as bot:
        assert bot.services.outbox.max_age == dt.timedelta(hours=6)
