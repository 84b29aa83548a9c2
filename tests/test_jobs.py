"""The pipeline end to end: feed → store → match → digest → Telegram, through the fakes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from dataclasses import replace

from bot.feeds import parse_feed
from bot.jobs import ARXIV_TZ, POLL_JOB, digest_job_name
from bot.models import Paper
from bot.store import utcnow
from tests.conftest import (
    TRUNCATED_ATOM,
    USER,
    BotUnderTest,
    StartBot,
    eventually,
    ids_in,
    mentions,
)
from tests.fakes import FakeBotAPI, FeedServer
from tests.feedgen import atom_feed, rss_feed

DAY_ONE = parse_feed(TRUNCATED_ATOM.read_bytes()).papers
OTHER = 2002


def generated(n: int, title: str, abstract: str = "We study a thing.") -> Paper:
    return Paper(
        arxiv_id=f"2508.{90000 + n}",
        title=title,
        authors=("Ada Lovelace",),
        abstract=abstract,
        categories=("cs.AI",),
        announce_type="new",
        announced=dt.date(2025, 8, 21),
    )


async def test_digest_has_every_matching_paper_once_and_nothing_else(bot: BotUnderTest) -> None:
    """/digest sends exactly the stored papers that mention the keyword; a second sends none."""
    expected = {p.arxiv_id for p in DAY_ONE if mentions("diffusion", p)}
    assert len(expected) >= 3, "the real feed has several diffusion papers"
    await bot.ask("/subscribe diffusion")
    first = await bot.ask("/digest")
    digest = await bot.settle()
    received = ids_in(digest)
    assert sorted(received) == sorted(expected)
    assert len(received) == len(set(received))
    assert f"{len(expected)} papers" in first[0].plain_text
    assert all(m.link_preview_disabled for m in digest if m.text.startswith("<b>arXiv"))
    again = await bot.ask("/digest")
    assert ids_in(again) == []
    assert "Nothing new" in again[0].plain_text
    assert bot.telegram.violations == []


async def test_phrase_and_tricky_keywords_end_to_end(bot: BotUnderTest) -> None:
    """A phrase matches across the real abstracts' wording; GAN matches no 'organ'."""
    phrase = "large language model"
    expected = {p.arxiv_id for p in DAY_ONE if mentions(phrase, p)}
    await bot.ask(f'/subscribe "{phrase}", GAN')
    await bot.ask("/digest")
    assert len(ids_in(await bot.settle())) < len(expected), "long digests wait behind More"
    assert set(ids_in(await bot.press_more())) == expected
    assert bot.telegram.violations == []


async def test_daily_push_then_restart_with_overlapping_feed(
    start_bot: StartBot, feeds: FeedServer, telegram: FakeBotAPI
) -> None:
    """After a restart with the next day's overlapping feed, only the new matches arrive."""
    async with start_bot() as bot:
        await bot.wait_for_papers(86)
        await bot.ask("/subscribe diffusion")
        await bot.run_job(digest_job_name(USER))
        first = ids_in(await bot.settle())
    assert set(first) == {p.arxiv_id for p in DAY_ONE if mentions("diffusion", p)}

    repeated = [p for p in DAY_ONE if mentions("diffusion", p)] + list(DAY_ONE[:30])
    revised = replace(repeated[0], version=2, announce_type="replace", title="Revised title")
    fresh = [
        generated(1, "Diffusion-based planning for agents"),
        generated(2, "Score models", "A latent diffusion, trained fast."),
        generated(3, "Organ segmentation with GANs", "No such word here."),
    ]
    day_two = [revised, *repeated[1:], *fresh]
    updated = dt.datetime(2025, 8, 21, 0, 0, 20, tzinfo=ARXIV_TZ)
    feeds.set_response("/rss/cs.AI", rss_feed(day_two, categories="cs.AI", updated=updated))

    async with start_bot(arxiv_rss_base=feeds.url + "/rss/") as bot:
        await bot.wait_for_papers(86 + len(fresh))
        before = len(telegram.messages_to(USER))
        await bot.run_job(digest_job_name(USER))
        second = ids_in((await bot.settle())[before:])
        assert sorted(second) == ["2508.90001", "2508.90002"]
        stored = await bot.services.store.get_paper(revised.arxiv_id)
        assert stored is not None
        assert (stored.version, stored.title) == (2, "Revised title")
        # Nothing left: the next daily run sends no message at all.
        count = len(telegram.messages_to(USER))
        await bot.run_job(digest_job_name(USER))
        assert len(await bot.settle()) == count
    assert telegram.violations == []


async def test_scheduled_digest_without_matches_sends_nothing(bot: BotUnderTest) -> None:
    """A chat whose keywords match nothing gets no message from the daily job."""
    await bot.ask("/subscribe quantum chromodynamics")
    count = len(bot.telegram.messages_to(USER))
    await bot.run_job(digest_job_name(USER))
    assert len(await bot.settle()) == count


async def test_429_is_waited_out_and_retried(bot: BotUnderTest) -> None:
    """Telegram's 429 with retry_after delays the digest; it still arrives whole."""
    await bot.ask("/subscribe diffusion")
    bot.telegram.fail_next("sendMessage", chat_id=USER, status=429, retry_after=1)
    count = len(bot.telegram.messages_to(USER))
    await bot.run_job(digest_job_name(USER))
    digest = (await bot.settle())[count:]
    assert set(ids_in(digest)) == {p.arxiv_id for p in DAY_ONE if mentions("diffusion", p)}
    assert [r[1] for r in bot.telegram.rejected] == [429]


async def test_blocked_chat_goes_inactive_and_others_still_get_theirs(bot: BotUnderTest) -> None:
    """A 403 marks only that chat inactive, keeps its data, and the next chat is served."""
    await bot.ask("/subscribe diffusion")
    await bot.ask("/subscribe diffusion", chat_id=OTHER)
    bot.telegram.block(USER)
    await bot.run_job(digest_job_name(USER))
    await bot.run_job(digest_job_name(OTHER))
    assert ids_in(await bot.settle(OTHER))
    chat = await bot.services.store.get_chat(USER)
    assert chat is not None
    assert not chat.active
    assert await bot.services.store.subscriptions_for(USER) == ["diffusion"]
    assert await bot.services.store.delivered_ids(USER) == set()
    # The user unblocks and writes: the chat is active again and gets everything.
    bot.telegram.unblock(USER)
    await bot.ask("/digest")
    assert set(ids_in(await bot.settle())) == {
        p.arxiv_id for p in DAY_ONE if mentions("diffusion", p)
    }
    reactivated = await bot.services.store.get_chat(USER)
    assert reactivated is not None
    assert reactivated.active


async def test_failed_feed_fetch_keeps_papers_and_polls_again(
    bot: BotUnderTest, feeds: FeedServer
) -> None:
    """A 503 or an HTML error page is not 'no new papers': nothing is lost, the next poll works."""
    feeds.set_response("/atom/cs.AI", "<html><body>Service unavailable</body></html>", status=503)
    await bot.run_job(POLL_JOB)
    feeds.set_response(
        "/atom/cs.AI", b"<!DOCTYPE html><html><body>oops</body></html>", content_type="text/html"
    )
    await bot.run_job(POLL_JOB)
    assert await bot.services.store.count_papers() == 86


async def test_polls_are_scheduled_after_arxiv_midnight_and_repeat(bot: BotUnderTest) -> None:
    """Polls run daily just after midnight New York time (DST included), and every few hours."""
    assert bot.app.job_queue is not None
    jobs = bot.app.job_queue.get_jobs_by_name(POLL_JOB)
    daily = [j for j in jobs if "cron" in str(j.trigger).lower()]
    assert len(daily) == 1
    next_run = daily[0].next_t.astimezone(ARXIV_TZ)
    assert (next_run.hour, next_run.minute) == (0, 10)
    assert any("interval" in str(j.trigger).lower() for j in jobs)


async def test_feed_requests_carry_a_descriptive_user_agent(
    bot: BotUnderTest, feeds: FeedServer
) -> None:
    """arXiv sees who we are."""
    agent = feeds.requests[0].headers["User-Agent"]
    assert agent.startswith("arxiv-digest-bot/")


async def test_digest_job_follows_time_and_zone(bot: BotUnderTest) -> None:
    """/time and /timezone move the chat's daily job to that local time."""
    await bot.ask("/time 07:45")
    await bot.ask("/timezone Asia/Shanghai")
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name(digest_job_name(USER))
    local = job.next_t.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert (local.hour, local.minute) == (7, 45)
    await eventually(lambda: _zone_is(bot, "Asia/Shanghai"))


async def _zone_is(bot: BotUnderTest, zone: str) -> bool:
    chat = await bot.services.store.get_chat(USER)
    return chat is not None and chat.timezone == zone


async def test_revision_reaches_only_chats_that_asked_marked_as_revised(
    bot: BotUnderTest, feeds: FeedServer
) -> None:
    """A v2 replacement of a delivered paper goes to chats with revisions on, once, marked."""
    target = next(p for p in DAY_ONE if mentions("diffusion", p))
    await bot.ask("/subscribe diffusion")
    await bot.ask("/subscribe diffusion", chat_id=OTHER)
    (menu,) = await bot.ask("/settings", chat_id=OTHER)
    bot.telegram.press_button(OTHER, menu.message_id, "settings:revisions")
    await bot.telegram.wait_for_call("editMessageReplyMarkup")
    for chat in (USER, OTHER):
        await bot.run_job(digest_job_name(chat))
    revised = replace(target, version=2, announce_type="replace", title="Sharper diffusion")
    updated = dt.datetime(2025, 8, 21, 0, 0, 20, tzinfo=ARXIV_TZ)
    feeds.set_response("/atom/cs.AI", atom_feed([revised], categories="cs.AI", updated=updated))
    await bot.run_job(POLL_JOB)
    counts = {chat: len(await bot.settle(chat)) for chat in (USER, OTHER)}
    for chat in (USER, OTHER):
        await bot.run_job(digest_job_name(chat))
    assert len(await bot.settle(USER)) == counts[USER], "no revisions for the default chat"
    (notice,) = (await bot.settle(OTHER))[counts[OTHER] :]
    assert ids_in([notice]) == [target.arxiv_id]
    assert "revised v2" in notice.plain_text
    await bot.run_job(digest_job_name(OTHER))
    assert len(await bot.settle(OTHER)) == counts[OTHER] + 1, "the revision came once"


async def test_digest_job_cut_off_after_composing_is_caught_up_without_a_second_digest(
    start_bot: StartBot, telegram: FakeBotAPI
) -> None:
    """A daily digest is recorded as done only once it is composed and sent: a process that
    dies while sending it leaves the slot missed, and after the restart the catch-up finds the
    papers already queued, composes no second digest, and the digest arrives once."""
    expected = sorted(p.arxiv_id for p in DAY_ONE if mentions("diffusion", p))
    started = utcnow()
    async with start_bot() as bot:
        await bot.wait_for_papers(86)
        await bot.ask("/subscribe diffusion")
        store = bot.services.store
        missed = started - dt.timedelta(days=2)
        await store.record_digest(USER, missed)
        before = len(telegram.messages_to(USER))
        # Sending stalls after composing (a 429 pauses the chat for 30 s); the process dies.
        telegram.fail_next("sendMessage", chat_id=USER, retry_after=30)
        job = asyncio.create_task(bot.run_job(digest_job_name(USER)))
        await telegram.wait_for_call("sendMessage", count=len(telegram.calls_to("sendMessage")) + 1)
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        chat = await store.get_chat(USER)
        assert chat is not None
        assert chat.last_digest_at == missed, "not recorded before the digest was sent"

    async def caught_up(bot: BotUnderTest) -> bool:
        chat = await bot.services.store.get_chat(USER)
        return chat is not None and chat.last_digest_at is not None and chat.last_digest_at > missed

    async with start_bot() as bot:
        await eventually(lambda: caught_up(bot), timeout=10)
        received = ids_in((await bot.settle())[before:])
        counts = await bot.services.store.counts(started)
    assert sorted(received) == expected
    assert counts["digests"] == 1
    assert counts["pending_parts"] == 0
