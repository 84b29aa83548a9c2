"""The outbox: queued parts survive restarts, long digests page behind "More", gone chats drop."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.delivery.digest import DigestPart
from bot.delivery.limiter_stats import RateLimiterStats
from bot.delivery.outbox import Outbox, Outcome
from bot.models import Chat
from bot.schedule import due_since, missed_digest
from bot.storage.store import Store, utcnow
from tests.conftest import (
    TOKEN,
    USER,
    BotUnderTest,
    StartBot,
    eventually,
    ids_in,
    noon_zone,
)
from tests.fakes import FakeBotAPI
from tests.papers import numbered_paper

EIGHT = dt.time(8, 0)


def part(text: str, *ids: str) -> DigestPart:
    return DigestPart(text=text, arxiv_ids=ids)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "bot.sqlite3")
    await store.add_papers([numbered_paper(n) for n in range(1, 7)])
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
    held = await store.held_parts(digest, 1, 3)
    assert held == [(4, None), (5, None)]  # their texts are stored
    assert await store.release_held_parts(digest, 1, dict(held)) == 2
    assert [p.part_no for p in await store.pending_parts(1)] == [2, 3, 4, 5]
    assert await store.release_held_parts(digest, 1, dict(held)) == 0  # released already


async def test_release_needs_the_right_chat(store: Store) -> None:
    """Another chat cannot release a digest that is not its own."""
    digest = await store.compose_digest(1, [("a", ["2508.00001"]), ("b", [])], visible=1)
    assert await store.held_parts(digest, 2, 3) == []
    assert await store.release_held_parts(digest, 2, {2: None}) == 0
    assert await store.held_parts(digest, 1, 3) == [(2, None)]


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


# -- sending: Telegram's answers, retries with backoff ----------------------------------------


class Sleeps:
    """Stands in for asyncio.sleep: records each backoff and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
async def ptb(telegram: FakeBotAPI) -> AsyncIterator[Bot]:
    """A python-telegram-bot client of the fake Bot API, no rate limiter."""
    async with Bot(TOKEN, base_url=telegram.base_url) as client:
        yield client


def outbox(store: Store, sleeps: Sleeps, **kwargs: Any) -> Outbox:
    """An outbox whose jitter is always the top of the range, so the delays are exact."""
    return Outbox(store, sleep=sleeps, rand=lambda: 1.0, **kwargs)


def test_backoff_is_exponential_full_jitter_and_capped(store: Store) -> None:
    """Delay n is uniform in [0, min(cap, base * 2**(n-1))]: rand scales the ceiling."""
    half = Outbox(store, backoff=1.0, max_backoff=5.0, rand=lambda: 0.5)
    assert [half.backoff_delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert Outbox(store, rand=lambda: 0.0).backoff_delay(3) == 0.0
    with pytest.raises(ValueError, match="attempts"):
        Outbox(store, attempts=0)


async def test_5xx_and_dropped_connections_are_retried_in_the_same_flush(
    store: Store, telegram: FakeBotAPI, ptb: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    """Two 502 pages and a dropped connection, then success: sent once, 3 retries counted."""
    caplog.set_level(logging.INFO, logger="bot.delivery.outbox")
    stats = RateLimiterStats()
    sleeps = Sleeps()
    box = outbox(store, sleeps, stats=stats)
    await box.enqueue(1, [part("<b>digest</b>", "2508.00001")])
    telegram.fail_next(status=502, html=True, times=2)
    telegram.drop_next()
    assert await box.flush_chat(ptb, 1) is Outcome.SENT
    assert [m.text for m in telegram.messages_to(1)] == ["<b>digest</b>"]
    assert len(telegram.calls_to("sendMessage")) == 4
    assert sleeps.delays == [1.0, 2.0, 4.0]
    assert stats.network_retries == 3
    assert (await stats.daily_counts(store, utcnow() - dt.timedelta(hours=1)))[
        "network_retries"
    ] == 3
    assert await store.pending_parts() == []
    assert "retry 1 of 3 in 1.0 s" in caplog.text
    assert "Bad Gateway" in caplog.text
    assert TOKEN not in caplog.text


async def test_after_the_last_attempt_the_part_waits_for_the_next_flush(
    store: Store, telegram: FakeBotAPI, ptb: Bot
) -> None:
    """A 500 on every try: the part stays queued, nothing is sent; the next flush sends it."""
    sleeps = Sleeps()
    box = outbox(store, sleeps, attempts=3, max_backoff=1.5)
    await box.enqueue(1, [part("one", "2508.00001"), part("two", "2508.00002")])
    telegram.fail_next(status=500, times=3)
    assert await box.flush_chat(ptb, 1) is Outcome.FAILED
    assert sleeps.delays == [1.0, 1.5]
    assert telegram.sent == []
    assert [p.part_no for p in await store.pending_parts(1)] == [1, 2]
    assert await box.flush(ptb) == {Outcome.SENT: 1}
    assert [m.text for m in telegram.messages_to(1)] == ["one", "two"]


async def test_a_timeout_repeats_at_most_that_part_once(store: Store, telegram: FakeBotAPI) -> None:
    """Telegram posted part 1 but answered too late: part 1 shows twice, nothing else does."""
    sleeps = Sleeps()
    box = outbox(store, sleeps)
    await box.enqueue(1, [part("one", "2508.00001"), part("two", "2508.00002")])
    telegram.answer_late(seconds=5.0)  # applies to the first call: part 1, confirmed late
    request = HTTPXRequest(read_timeout=0.2)
    async with Bot(TOKEN, base_url=telegram.base_url, request=request) as impatient:
        assert await box.flush_chat(impatient, 1) is Outcome.SENT
        assert await box.flush(impatient) == {}
    assert [m.text for m in telegram.messages_to(1)] == ["one", "one", "two"]
    assert len(sleeps.delays) == 1


async def test_refusals_are_not_retried(store: Store, telegram: FakeBotAPI, ptb: Bot) -> None:
    """A 400 (other than chat not found) ends the part at once, unsent, its paper out of the
    ledger (the chat is told); a 403 drops the queue at once."""
    sleeps = Sleeps()
    box = outbox(store, sleeps)
    await box.enqueue(1, [part("a", "2508.00001")])
    telegram.fail_next(status=400, description="Bad Request: can't parse entities")
    assert await box.flush_chat(ptb, 1) is Outcome.ENDED
    assert await store.delivered_ids(1) == set()
    assert await box.flush(ptb) == {}, "never tried again"
    await box.enqueue(1, [part("b", "2508.00002")])
    telegram.block(1)
    assert await box.flush_chat(ptb, 1) is Outcome.GONE
    texts_sent = [call["text"] for call in telegram.calls_to("sendMessage")]
    assert texts_sent[0] == "a"
    assert "Telegram refused a message" in texts_sent[1], "the chat was told"
    assert texts_sent[2:] == ["b"]
    assert sleeps.delays == []
    assert await store.pending_parts() == []


async def test_one_chat_backing_off_does_not_hold_up_the_others(
    store: Store, telegram: FakeBotAPI, ptb: Bot
) -> None:
    """While chat 1 waits out its backoff, chat 2's digest goes out."""
    await store.ensure_chat(2, EIGHT, "UTC")
    waiting, resume = asyncio.Event(), asyncio.Event()

    async def sleep(seconds: float) -> None:
        waiting.set()
        await resume.wait()

    box = Outbox(store, sleep=sleep)
    await box.enqueue(1, [part("for 1", "2508.00001")])
    await box.enqueue(2, [part("for 2", "2508.00002")])
    telegram.fail_next(chat_id=1, status=502)
    flushing = asyncio.create_task(box.flush(ptb))
    await waiting.wait()
    await telegram.wait_for_messages(2, 1)
    assert telegram.messages_to(1) == []
    resume.set()
    assert await flushing == {Outcome.SENT: 2}
    assert [m.text for m in telegram.messages_to(1)] == ["for 1"]


async def test_migrated_group_is_moved_and_served_at_its_new_id(
    store: Store, telegram: FakeBotAPI, ptb: Bot
) -> None:
    """400 migrate_to_chat_id: the data moves, the parts go to the new id, 5xx retried there."""
    old, new = -4200, -1004200
    await store.ensure_chat(old, EIGHT, "Asia/Tokyo")
    await store.add_subscriptions(old, [("diffusion", "diffusion")])
    moves: list[tuple[int, int]] = []

    async def on_moved(before: int, after: int) -> None:
        moves.append((before, after))

    sleeps = Sleeps()
    box = outbox(store, sleeps, on_moved=on_moved)
    await box.enqueue(old, [part("one", "2508.00001"), part("two", "2508.00002")])
    telegram.upgrade_group(old, new)
    telegram.fail_next(chat_id=new, status=502)
    assert await box.flush_chat(ptb, old) is Outcome.SENT
    assert [c["chat_id"] for c in telegram.calls_to("sendMessage")] == [old, new, new, new]
    assert [m.text for m in telegram.messages_to(new)] == ["one", "two"]
    assert moves == [(old, new)]
    assert await store.get_chat(old) is None
    chat = await store.get_chat(new)
    assert chat is not None
    assert chat.timezone == "Asia/Tokyo"
    assert await store.subscriptions_for(new) == ["diffusion"]
    assert await store.pending_parts() == []


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
    """/stats shows the figures to an admin, today's since 00:00 in the time zone of the
    admin's chat; anyone else gets 'unknown command', no hint."""
    admin = 777
    zone = noon_zone()
    async with start_bot(admin_ids=frozenset({admin})) as bot:
        await bot.wait_for_papers(86)
        await bot.ask(f"/timezone {zone}", chat_id=admin, user_id=admin)
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
    assert f"Today (since 00:00 {zone}):\n1 digests, " in text
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


async def test_a_flush_of_the_supergroup_during_the_move_repeats_no_part(
    start_bot: StartBot, telegram: FakeBotAPI
) -> None:
    """The outbox job flushing the supergroup while the digest's own flush is moving the group
    there (as happened under load): every part goes out once, in order."""
    group, supergroup = -4301, -1004301
    async with start_bot(telegram_group_per_min=1000, max_digest_messages=10) as bot:
        await bot.wait_for_papers(86)
        await bot.ask("/subscribe learning, model", chat_id=group, chat_type="group")
        telegram.upgrade_group(group, supergroup)
        outbox = bot.services.outbox
        moved = outbox._on_moved

        async def moved_then_flushed(old: int, new: int) -> None:
            if moved is not None:
                await moved(old, new)
            # another flush of the supergroup, at the worst moment: right after the move
            await outbox.flush_chat(bot.app.bot, new)

        outbox._on_moved = moved_then_flushed
        await bot.run_job(f"digest:{group}")
        messages = await bot.press_more(supergroup)
        shown = ids_in(messages)
        parts = [m for m in messages if ids_in([m])]
        assert len(parts) >= 2, "a digest of several parts, so that the rest could repeat"
        assert len(shown) == len(set(shown)), "no part twice"
        assert set(shown) == await bot.services.store.delivered_ids(supergroup)


async def test_migrated_group_is_served_at_its_supergroup_id(
    start_bot: StartBot, telegram: FakeBotAPI
) -> None:
    """A group upgraded to a supergroup: its digest, keywords, settings and schedule follow it
    to the new id, the next digest goes straight there, nothing is lost or repeated."""
    group, supergroup = -4300, -1004300
    async with start_bot(telegram_group_per_min=1000) as bot:
        await bot.wait_for_papers(86)
        await bot.ask("/subscribe diffusion", chat_id=group, chat_type="group")
        await bot.ask("/time 07:30", chat_id=group, chat_type="group")
        in_group = len(telegram.messages_to(group))
        telegram.upgrade_group(group, supergroup)

        await bot.run_job(f"digest:{group}")
        first = await bot.press_more(supergroup)
        store = bot.services.store
        shown = ids_in(first)
        assert shown
        assert len(shown) == len(set(shown))
        assert set(shown) == await store.delivered_ids(supergroup), "nothing lost"
        assert len(telegram.messages_to(group)) == in_group
        assert await store.get_chat(group) is None
        jobs = bot.app.job_queue
        assert not jobs.get_jobs_by_name(f"digest:{group}")
        assert jobs.get_jobs_by_name(f"digest:{supergroup}"), "the schedule followed"

        (listing,) = await bot.ask("/list", chat_id=supergroup, chat_type="supergroup")
        assert "diffusion" in listing.plain_text
        assert "07:30 (UTC)" in listing.plain_text
        await bot.ask('/subscribe "large language model"', chat_id=supergroup)
        before = len(telegram.messages_to(supergroup))
        sends_before = len(telegram.calls_to("sendMessage"))
        await bot.run_job(f"digest:{supergroup}")
        second = (await bot.press_more(supergroup))[before:]
        assert ids_in(second)
        counts = await store.counts(utcnow() - dt.timedelta(hours=1))
    later = telegram.calls_to("sendMessage")[sends_before:]
    assert {call["chat_id"] for call in later} == {supergroup}
    everything = shown + ids_in(second)
    assert len(everything) == len(set(everything)), "no paper twice"
    upgraded = [r for r in telegram.rejected if "upgraded to a supergroup" in r[2]]
    assert len(upgraded) == 1, "one 400 taught the bot the new id"
    assert (counts["pending_parts"], counts["held_parts"]) == (0, 0)
    assert telegram.violations == []


async def test_announced_upgrade_moves_the_group_before_any_digest(bot: BotUnderTest) -> None:
    """Telegram's migrate_to/migrate_from service messages move the group's keywords,
    settings and schedule at once: its digest goes straight to the supergroup, no 400."""
    group, supergroup = -4400, -1004400
    await bot.ask("/subscribe diffusion", chat_id=group, chat_type="group")
    await bot.ask("/timezone Asia/Tokyo", chat_id=group, chat_type="group")
    bot.telegram.upgrade_group(group, supergroup, announce=True)
    store = bot.services.store

    async def moved() -> bool:
        return await store.get_chat(group) is None and not bot.telegram.pending_updates

    await eventually(moved)
    jobs = bot.app.job_queue
    assert not jobs.get_jobs_by_name(f"digest:{group}")
    await bot.run_job(f"digest:{supergroup}")
    assert ids_in(await bot.settle(supergroup))
    (listing,) = await bot.ask("/list", chat_id=supergroup, chat_type="supergroup")
    assert "diffusion" in listing.plain_text
    assert "(Asia/Tokyo)" in listing.plain_text
    assert not [r for r in bot.telegram.rejected if "upgraded" in r[2]]
    assert await store.get_chat(group) is None, "the old id was not registered again"


async def test_5xx_storm_is_retried_at_once_and_shown_in_stats(
    start_bot: StartBot, telegram: FakeBotAPI
) -> None:
    """Two 502 pages and a dropped connection: the digest still arrives in the same flush,
    once, without waiting for the outbox job, and /stats counts the three retries."""
    admin = 777
    async with start_bot(admin_ids=frozenset({admin}), telegram_retry_backoff=0.05) as bot:
        await bot.wait_for_papers(86)
        await bot.ask(f"/timezone {noon_zone()}", chat_id=admin, user_id=admin)
        await bot.ask("/subscribe diffusion")
        before = len(telegram.messages_to(USER))
        sends_before = len(telegram.calls_to("sendMessage"))
        telegram.fail_next(chat_id=USER, status=502, html=True, times=2)
        telegram.drop_next(chat_id=USER)
        await bot.run_job(f"digest:{USER}")  # returns when its flush is done
        digest = telegram.messages_to(USER)[before:]
        assert await bot.services.store.pending_parts(USER) == []
        assert len(await bot.settle(quiet=0.5)) == before + len(digest), "nothing more came"
        (figures,) = await bot.ask("/stats", chat_id=admin, user_id=admin)
    shown = ids_in(digest)
    assert shown
    assert len(shown) == len(set(shown))
    sends = telegram.calls_to("sendMessage")[sends_before:]
    assert len([c for c in sends if c["chat_id"] == USER]) == len(digest) + 3, "each part once"
    assert [r[1] for r in telegram.rejected] == [502, 502, 0]
    assert "0 answers 429, 3 retries" in figures.plain_text
