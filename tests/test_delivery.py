"""The outbox: queued parts survive restarts, long digests page behind "More", gone chats drop."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.digest import DigestPart
from bot.jobs import due_since, missed_digest
from bot.models import Chat, Paper
from bot.store import Store, utcnow
from tests.conftest import USER, BotUnderTest, StartBot, ids_in
from tests.fakes import FakeBotAPI

EIGHT = dt.time(8, 0)


def paper(n: int) -> Paper:
    return Paper(
        arxiv_id=f"2508.{n:05d}",
        title=f"Paper {n}",
        authors=("A",),
        abstract="About diffusion.",
        categories=("cs.AI",),
        announced=dt.date(2025, 8, 20),
    )


def part(text: str, *ids: str) -> DigestPart:
    return DigestPart(text=text, arxiv_ids=ids)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "bot.sqlite3")
    await store.add_papers([paper(n) for n in range(1, 7)])
    await store.ensure_chat(1, EIGHT, "UTC")
    yield store
    await store.close()


async def test_compose_queues_parts_and_ledger_at_once(store: Store) -> None:
    """Composing records every part and every paper; parts past the visible ones are held."""
    parts = [(f"part {n}", [f"2508.{n:05d}"]) for n in range(1, 6)]
    digest = await store.compose_digest(1, parts, visible=3)
    pending = await store.pending_parts(1)
    assert [(p.digest_id, p.part_no, p.parts_total) for p in pending] == [
        (digest, 1, 5),
        (digest, 2, 5),
        (digest, 3, 5),
    ]
    assert [p.more_after for p in pending] == [False, False, True]
    assert len(await store.delivered_ids(1)) == 5
    await store.mark_part_sent(pending[0])
    assert [p.part_no for p in await store.pending_parts(1)] == [2, 3]
    assert await store.release_held_parts(digest, 1, 3) == 2
    assert [p.part_no for p in await store.pending_parts(1)] == [2, 3, 4, 5]


async def test_release_needs_the_right_chat(store: Store) -> None:
    """Another chat cannot release a digest that is not its own."""
    digest = await store.compose_digest(1, [("a", ["2508.00001"]), ("b", [])], visible=1)
    assert await store.release_held_parts(digest, 2, 3) == 0


async def test_dropping_a_gone_chat_returns_its_papers_to_pending(store: Store) -> None:
    """Dropped parts were never delivered: their papers leave the ledger."""
    await store.compose_digest(1, [("a", ["2508.00001"]), ("b", ["2508.00002"])], visible=1)
    assert await store.drop_pending_parts(1) == 2
    assert await store.pending_parts(1) == []
    assert await store.delivered_ids(1) == set()


async def test_migrated_group_keeps_everything(store: Store) -> None:
    """A group's keywords, ledger, settings and queued parts follow it to its new id."""
    await store.ensure_chat(-100, EIGHT, "Asia/Tokyo")
    await store.add_subscriptions(-100, [("diffusion", "diffusion")])
    await store.compose_digest(-100, [("a", ["2508.00001"])], visible=1)
    await store.move_chat(-100, -1009)
    assert await store.get_chat(-100) is None
    moved = await store.get_chat(-1009)
    assert moved is not None
    assert moved.timezone == "Asia/Tokyo"
    assert await store.subscriptions_for(-1009) == ["diffusion"]
    assert await store.delivered_ids(-1009) == {"2508.00001"}
    assert [p.chat_id for p in await store.pending_parts()] == [-1009]


def test_missed_digest_is_detected_once() -> None:
    """A slot that passed while the bot was down is owed; a slot already run is not."""
    now = dt.datetime(2025, 8, 21, 9, 30, tzinfo=dt.UTC)
    chat = Chat(1, EIGHT, "UTC", last_digest_at=dt.datetime(2025, 8, 20, 8, 0, 1, tzinfo=dt.UTC))
    assert due_since(chat, now) == dt.datetime(2025, 8, 21, 8, 0, tzinfo=dt.UTC)
    assert missed_digest(chat, now)
    done = Chat(1, EIGHT, "UTC", last_digest_at=dt.datetime(2025, 8, 21, 8, 0, 2, tzinfo=dt.UTC))
    assert not missed_digest(done, now)
    early = dt.datetime(2025, 8, 21, 7, 0, tzinfo=dt.UTC)
    assert not missed_digest(chat, early), "yesterday's slot was served"


def test_slot_is_computed_in_the_chats_zone() -> None:
    """08:00 in Tokyo is 23:00 UTC the day before."""
    chat = Chat(1, EIGHT, "Asia/Tokyo", last_digest_at=None)
    now = dt.datetime(2025, 8, 21, 0, 30, tzinfo=dt.UTC)
    assert due_since(chat, now) == dt.datetime(2025, 8, 20, 23, 0, tzinfo=dt.UTC)
    assert not missed_digest(chat, now)


async def test_parts_queued_before_a_crash_are_sent_on_start(
    start_bot: StartBot, telegram: FakeBotAPI
) -> None:
    """Parts composed but never sent (the process died) go out when the bot starts again."""
    async with start_bot() as bot:
        await bot.wait_for_papers(86)
        await bot.ask("/subscribe diffusion")
        store = bot.services.store
        ids = ("2508.13167",)
        # As if the process was killed right after composing: queued, nothing sent.
        await store.compose_digest(USER, [("<b>queued before the crash</b>", ids)], visible=3)
    async with start_bot():
        messages = await telegram.wait_for_messages(USER, 2)
    assert messages[-1].text == "<b>queued before the crash</b>"
    assert sum(m.text == "<b>queued before the crash</b>" for m in telegram.sent) == 1


async def test_more_button_works_after_a_restart(start_bot: StartBot, telegram: FakeBotAPI) -> None:
    """The "More" button of a digest sent before a restart still delivers the next page."""
    async with start_bot(max_digest_messages=1) as bot:
        await bot.wait_for_papers(86)
        await bot.ask('/subscribe "large language model"')
        await bot.ask("/digest")
        first = await bot.settle()
        (with_button,) = [m for m in first if m.callback_data]
        assert with_button.callback_data[0].startswith("more:")
        assert with_button.buttons[0]["text"].startswith("More (2/")
    async with start_bot(max_digest_messages=1) as bot:
        telegram.press_button(USER, with_button.message_id, with_button.callback_data[0])
        await telegram.wait_for_call("editMessageReplyMarkup")
        everything = await bot.press_more()
    assert len(ids_in(everything)) == len(set(ids_in(everything)))
    assert telegram.violations == []


async def test_catch_up_digest_after_downtime_is_sent_once(
    start_bot: StartBot, telegram: FakeBotAPI
) -> None:
    """A digest that came due while the bot was down is sent after start, once."""
    async with start_bot() as bot:
        await bot.wait_for_papers(86)
        await bot.ask("/subscribe diffusion")
        await bot.services.store.record_digest(USER, utcnow() - dt.timedelta(days=2))
    before = len(telegram.messages_to(USER))
    async with start_bot() as bot:
        await telegram.wait_for_messages(USER, before + 1)
        after_first = await bot.settle()
    assert ids_in(after_first[before:])
    async with start_bot() as bot:
        assert len(await bot.settle(quiet=1.0)) == len(after_first), "no second catch-up"


async def test_blocked_chat_drops_queue_and_keeps_papers_for_later(bot: BotUnderTest) -> None:
    """A 403 while sending drops the queue; when the user returns, the papers come."""
    await bot.ask("/subscribe diffusion")
    bot.telegram.block(USER)
    await bot.ask("/digest", replies=0)
    await bot.settle()
    assert await bot.services.store.pending_parts(USER) == []
    bot.telegram.unblock(USER)
    await bot.ask("/digest")
    assert ids_in(await bot.settle())


async def test_real_flood_limits_are_respected_end_to_end(
    start_bot: StartBot, telegram: FakeBotAPI
) -> None:
    """With Telegram's own limits enforced by the fake, a long digest arrives with no 429."""
    async with start_bot(
        telegram_private_per_s=1.0, telegram_private_burst=3, max_digest_messages=10
    ) as bot:
        await bot.wait_for_papers(86)
        telegram.enforce_rate_limits()
        await bot.ask('/subscribe "large language model", agent')
        await bot.ask("/digest")
        messages = await bot.settle(quiet=3.5)
    assert len(ids_in(messages)) >= 10
    assert telegram.rate_limit_hits == []
    assert telegram.violations == []


async def test_stats_for_admins_only(start_bot: StartBot, telegram: FakeBotAPI) -> None:
    """/stats shows the figures to an admin; anyone else gets 'unknown command', no hint."""
    admin = 777
    async with start_bot(admin_ids=frozenset({admin})) as bot:
        await bot.wait_for_papers(86)
        await bot.ask("/subscribe diffusion")
        await bot.ask("/digest")
        await bot.settle()
        (refusal,) = await bot.ask("/stats")
        assert "don't know the command /stats" in refusal.plain_text
        (figures,) = await bot.ask("/stats", chat_id=admin, user_id=admin)
    text = figures.plain_text
    assert "Chats: 2 (2 active)" in text
    assert "Subscriptions: 1" in text
    assert "Papers stored: 86" in text
    assert "Last 24 h: 1 digests" in text
    assert "0 answers 429" in text
    assert "Outbox: 0 parts pending" in text
    menu = [c["command"] for c in telegram.commands_for()]
    assert "stats" not in menu


async def test_deleted_group_goes_inactive_and_others_are_served(bot: BotUnderTest) -> None:
    """400 "chat not found" (a deleted group): inactive, queue dropped, the next chat served."""
    group, other = -4001, 4002
    await bot.ask("/subscribe diffusion", chat_id=group, chat_type="group")
    await bot.ask("/subscribe diffusion", chat_id=other)
    bot.telegram.missing_chat(group)
    await bot.run_job(f"digest:{group}")
    await bot.run_job(f"digest:{other}")
    assert ids_in(await bot.settle(other))
    chat = await bot.services.store.get_chat(group)
    assert chat is not None
    assert not chat.active
    assert await bot.services.store.pending_parts(group) == []
    assert await bot.services.store.subscriptions_for(group) == ["diffusion"]


async def test_429_storm_delays_but_loses_and_repeats_nothing(bot: BotUnderTest) -> None:
    """Several 429s in a row for one chat: the digest still arrives whole, each part once."""
    await bot.ask('/subscribe "large language model", agent')
    bot.telegram.fail_next("sendMessage", chat_id=USER, status=429, retry_after=1, times=3)
    before = len(bot.telegram.messages_to(USER))
    await bot.run_job(f"digest:{USER}")
    digest = (await bot.press_more())[before:]
    shown = ids_in(digest)
    assert len(shown) == len(set(shown))
    assert len(shown) >= 10
    assert [r[1] for r in bot.telegram.rejected] == [429, 429, 429]
    assert await bot.services.store.pending_parts(USER) == []


async def test_rates_above_30_per_second_use_paid_broadcasts(
    start_bot: StartBot, telegram: FakeBotAPI
) -> None:
    """A bot configured above Telegram's free 30/s marks its digest sends as paid broadcasts."""
    async with start_bot(telegram_global_per_s=100) as bot:
        await bot.wait_for_papers(86)
        await bot.ask("/subscribe diffusion")
        await bot.ask("/digest")
        await bot.settle()
    sends = telegram.calls_to("sendMessage")
    assert sends[-1].get("allow_paid_broadcast") is True
    assert "allow_paid_broadcast" not in sends[0], "replies are not broadcasts"
