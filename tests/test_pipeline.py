"""The pipeline end to end: feed → store → match → digest → Telegram, through the fakes."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import threading
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from bot.arxiv import calendar
from bot.arxiv.calendar import ARXIV_TZ, next_poll_time
from bot.arxiv.feeds import parse_feed
from bot.arxiv.fetcher import FEED_ITEM_LIMIT
from bot.config import Config
from bot.models import Hit, Paper
from bot.pipeline import composer as composer_mod
from bot.pipeline.composer import digest_days
from bot.pipeline.polls import FeedStatus, PollPlan, ingest, ingest_feed, plan_next_poll, run_poll
from bot.schedule import POLL_JOB, digest_job_name
from bot.services import Services
from bot.storage.store import utcnow
from tests.conftest import (
    TRUNCATED_ATOM,
    USER,
    BotUnderTest,
    StartBot,
    eventually,
    ids_in,
    mentions,
    pipeline,
)
from tests.fakes import FakeBotAPI, FeedServer
from tests.fakes.clock import FakeClock
from tests.fakes.feed_server import Answer
from tests.feedgen import atom_feed, rss_feed, well_formed_prefix

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


async def test_a_digest_answered_slowly_by_telegram_arrives_whole(bot: BotUnderTest) -> None:
    """Telegram answers each message of a digest half a second late: /digest still sends
    every matching paper, once (the test waits for the bot to finish, not for a pause)."""
    expected = {p.arxiv_id for p in DAY_ONE if mentions("diffusion", p)}
    await bot.ask("/subscribe diffusion")
    bot.telegram.answer_late(seconds=0.5, chat_id=USER, times=20)
    await bot.ask("/digest")
    received = ids_in(await bot.settle())
    assert sorted(received) == sorted(expected)
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


async def test_one_poll_chain_plans_its_next_poll(bot: BotUnderTest) -> None:
    """The start-up poll plans the next one (a retry: the real feed is truncated and from
    2025, unless arXiv's next rebuild comes sooner); a poll run by hand replaces the pending
    poll, it never starts a second chain."""
    assert bot.app.job_queue is not None
    (job,) = bot.app.job_queue.get_jobs_by_name(POLL_JOB)
    assert isinstance(job.data, PollPlan)
    assert job.data.when > utcnow()
    assert job.data.when <= next_poll_time(utcnow())
    await bot.run_job(POLL_JOB)
    (again,) = bot.app.job_queue.get_jobs_by_name(POLL_JOB)
    assert again is not job
    assert isinstance(again.data, PollPlan)
    if job.data.attempt:  # the retry chain counts on from the start-up poll
        assert again.data.attempt in (0, job.data.attempt + 1)


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


# --- ingest_feed / ingest: one poll, on a fake clock --------------------------------------------

WEDNESDAY = dt.datetime(2025, 8, 20, 0, 10, tzinfo=ARXIV_TZ)  # 10 min after the rebuild
CLEAN = well_formed_prefix(TRUNCATED_ATOM.read_bytes())  # the real feed, cut after an entry
ATOM = "application/atom+xml"


@pytest.fixture
async def services(config: Config) -> AsyncIterator[Services]:
    clock = FakeClock(WEDNESDAY.timestamp())
    async with pipeline(config, clock) as built:
        yield built


def url_of(services: Services) -> str:
    return services.config.arxiv_rss_base + "cs.AI"


async def test_clean_feed_is_stored_remembered_and_then_costs_nothing(
    services: Services, feeds: FeedServer
) -> None:
    """A clean feed is stored and its ETag and feed day persisted; the next poll is a 304
    that is neither parsed nor stale."""
    feeds.set_response("/atom/cs.AI", CLEAN, content_type=ATOM, headers={"ETag": '"w1"'})
    url = url_of(services)
    first = await ingest_feed(services.fetcher, services.store, url, now=WEDNESDAY)
    assert (first.status, first.entries, len(first.new)) == (FeedStatus.CHANGED, 86, 86)
    assert (first.feed_day, first.stale, first.needs_retry) == (dt.date(2025, 8, 20), False, False)
    assert first.counts == {"cs.AI": 86}
    state, day = (await services.store.fetch_state())[url]
    assert (state.etag, day) == ('"w1"', dt.date(2025, 8, 20))
    second = await ingest_feed(services.fetcher, services.store, url, now=WEDNESDAY, last_day=day)
    assert (second.status, second.new, second.stale) == (FeedStatus.UNCHANGED, (), False)
    assert feeds.requests[-1].headers["If-None-Match"] == '"w1"'


@pytest.mark.parametrize(
    "answer",
    [
        Answer(b"<!DOCTYPE html><html><body>Oops</body></html>", content_type="text/html"),
        Answer(b""),
        Answer(b"<html>Not Found</html>", status=404, content_type="text/html"),
        Answer(b"<html>busy</html>", status=503, content_type="text/html"),
        Answer(CLEAN, content_type=ATOM, delay=1.0),  # longer than the client's timeout
    ],
    ids=["html-page", "empty-body", "404", "503", "timeout"],
)
async def test_broken_answers_are_failures_never_no_new_papers(
    config: Config, feeds: FeedServer, answer: Answer
) -> None:
    """An HTML page, an empty body, a 4xx, a 5xx (after the fetcher's retries) or a timeout
    is a failure to retry: nothing stored, nothing remembered; the next poll gets the feed."""
    clock = FakeClock(WEDNESDAY.timestamp())
    async with pipeline(dataclasses.replace(config, http_timeout=0.3), clock) as services:
        feeds.script("/atom/cs.AI", *([answer] * 4))
        feeds.set_response("/atom/cs.AI", CLEAN, content_type=ATOM)
        url = url_of(services)
        failed = await ingest_feed(services.fetcher, services.store, url, now=WEDNESDAY)
        assert (failed.status, failed.needs_retry) == (FeedStatus.FAILED, True)
        assert await services.store.count_papers() == 0
        assert await services.store.fetch_state() == {}
        feeds.clear_response("/atom/cs.AI")
        feeds.set_response("/atom/cs.AI", CLEAN, content_type=ATOM)
        later = WEDNESDAY + dt.timedelta(minutes=15)
        clock.now = max(clock.now, later.timestamp())
        again = await ingest_feed(services.fetcher, services.store, url, now=later)
        assert (again.status, len(again.new)) == (FeedStatus.CHANGED, 86)


async def test_truncated_feed_keeps_its_entries_and_is_fetched_again(
    services: Services, feeds: FeedServer
) -> None:
    """A truncated feed keeps the 86 entries that parsed and is not remembered: the next
    poll asks without If-None-Match and reads the whole feed."""
    whole = atom_feed(
        [*parse_feed(CLEAN).papers, generated(1, "The entry after the cut")],
        categories="cs.AI",
        updated=WEDNESDAY,
    )
    cut = whole[: whole.rindex(b"<entry>") + 200]
    feeds.set_response("/atom/cs.AI", cut, content_type=ATOM, headers={"ETag": '"t1"'})
    url = url_of(services)
    partial = await ingest_feed(services.fetcher, services.store, url, now=WEDNESDAY)
    assert (partial.status, len(partial.new), partial.needs_retry) == (
        FeedStatus.PARTIAL,
        86,
        True,
    )
    assert await services.store.fetch_state() == {}
    feeds.set_response("/atom/cs.AI", whole, content_type=ATOM, headers={"ETag": '"t2"'})
    whole_poll = await ingest_feed(services.fetcher, services.store, url, now=WEDNESDAY)
    assert "If-None-Match" not in feeds.requests[-1].headers
    assert (whole_poll.status, [p.arxiv_id for p in whole_poll.new]) == (
        FeedStatus.CHANGED,
        ["2508.90001"],
    )


async def test_yesterdays_feed_after_the_rebuild_is_stale_until_it_changes(
    services: Services, feeds: FeedServer
) -> None:
    """Wednesday's feed still served on Thursday is stale, parsed or answered with a 304;
    Thursday's feed is not."""
    thursday = WEDNESDAY + dt.timedelta(days=1)
    feeds.set_response("/atom/cs.AI", CLEAN, content_type=ATOM, headers={"ETag": '"w"'})
    url = url_of(services)
    stale = await ingest_feed(services.fetcher, services.store, url, now=thursday)
    assert (stale.status, stale.stale, stale.feed_day) == (
        FeedStatus.CHANGED,
        True,
        dt.date(2025, 8, 20),
    )
    still = await ingest_feed(
        services.fetcher, services.store, url, now=thursday, last_day=stale.feed_day
    )
    assert (still.status, still.stale) == (FeedStatus.UNCHANGED, True)
    fresh_paper = replace(generated(2, "Fresh"), announced=dt.date(2025, 8, 21))
    body = atom_feed([fresh_paper], categories="cs.AI", updated=thursday - dt.timedelta(minutes=9))
    feeds.set_response("/atom/cs.AI", body, content_type=ATOM, headers={"ETag": '"t"'})
    fresh = await ingest_feed(
        services.fetcher, services.store, url, now=thursday, last_day=stale.feed_day
    )
    assert (fresh.status, fresh.stale, fresh.feed_day) == (
        FeedStatus.CHANGED,
        False,
        dt.date(2025, 8, 21),
    )


async def test_ingest_polls_the_categories_the_chats_need_in_one_url(
    services: Services, feeds: FeedServer
) -> None:
    """Without subscriptions the configured categories are polled; then the union of what
    chats with subscriptions draw from, '+'-joined into one request."""
    feeds.set_response("/atom/cs.AI", CLEAN, content_type=ATOM)
    report = await ingest(services, WEDNESDAY)
    assert [feed.url for feed in report.feeds] == [url_of(services)]
    assert len(report.new) == 86
    await services.store.ensure_chat(1, dt.time(8), "UTC")
    await services.store.add_subscriptions(1, [("diffusion", "diffusion")])
    await services.store.ensure_chat(2, dt.time(8), "UTC")
    await services.store.add_subscriptions(2, [("strings", "strings")])
    await services.store.set_categories(2, ["hep-th", "cs.AI"])
    feeds.set_response("/atom/cs.AI+hep-th", CLEAN, content_type=ATOM)
    report = await ingest(services, WEDNESDAY)
    assert [r.path for r in feeds.requests][-1] == "/atom/cs.AI+hep-th"
    assert report.feeds[0].counts == {"cs.AI": 86, "hep-th": 0}
    assert await services.store.category_sizes() == {"cs.AI": 86, "hep-th": 0}


# --- the poll schedule: a pure function stepped by hand -----------------------------------------


def eastern(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=ARXIV_TZ)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (eastern(2026, 11, 24, 0, 10), eastern(2026, 11, 25, 0, 10)),  # Tue -> Wed
        (eastern(2026, 11, 23, 23, 59), eastern(2026, 11, 24, 0, 10)),  # just before midnight
        (eastern(2026, 11, 26, 0, 10), eastern(2026, 11, 27, 0, 10)),  # Thanksgiving -> Fri
        (eastern(2026, 11, 28, 0, 10), eastern(2026, 11, 29, 0, 10)),  # Sat -> Sun
        (eastern(2026, 3, 8, 0, 10), eastern(2026, 3, 9, 0, 10)),  # over the switch to EDT
        (eastern(2026, 11, 1, 0, 10), eastern(2026, 11, 2, 0, 10)),  # over the switch to EST
    ],
)
def test_regular_polls_follow_arxivs_rebuilds(now: dt.datetime, expected: dt.datetime) -> None:
    """After a good poll the next is 10 minutes after the next midnight rebuild, every day:
    weekends and arXiv holidays are polled too (an unchanged feed costs a conditional GET);
    midnight is New York's in summer and winter."""
    plan = plan_next_poll(now, needs_retry=False)
    assert plan == PollPlan(expected)
    assert plan.when.utcoffset() == expected.utcoffset()


def test_the_holiday_table_does_not_decide_when_to_poll() -> None:
    """From Wednesday before Thanksgiving to the Tuesday after, one poll a day at 00:10, the
    holiday and the weekend included."""
    now, whens = eastern(2026, 11, 25, 0, 10), []
    for _ in range(6):
        now = plan_next_poll(now, needs_retry=False).when
        whens.append(now)
    assert whens == [eastern(2026, 11, d, 0, 10) for d in (26, 27, 28, 29, 30)] + [
        eastern(2026, 12, 1, 0, 10)
    ]


async def test_a_poll_warns_when_the_holiday_table_is_out_of_date(
    services: Services, feeds: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A poll in a year the holiday table has entries for says nothing about it; a poll in a
    year without entries warns that the table needs updating, and still polls."""
    feeds.set_response("/atom/cs.AI", CLEAN, content_type=ATOM)
    known = eastern(2026, 12, 9, 0, 10)
    await run_poll(services, PollPlan(known), clock=lambda: known)
    assert "holiday" not in caplog.text
    later = eastern(2027, 1, 6, 0, 10)
    asked = len(feeds.requests)
    await run_poll(services, PollPlan(later), clock=lambda: later)
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "holiday" in r.message]
    assert len(warnings) == 1
    assert "2027" in warnings[0].getMessage()
    assert len(feeds.requests) == asked + 1


async def test_a_day_the_holiday_table_wrongly_lists_is_polled_and_stored(
    config: Config, feeds: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The holiday table wrongly says arXiv announced nothing on Tuesday evening, but it did:
    the polls that follow their own plan from Tuesday 00:10 still fetch Wednesday's feed and
    store its papers before Thursday's rebuild replaces it."""
    tuesday = eastern(2026, 11, 24, 0, 10)
    wrong = frozenset({*calendar.ARXIV_HOLIDAYS, dt.date(2026, 11, 24)})
    monkeypatch.setattr(calendar, "ARXIV_HOLIDAYS", wrong)
    assert not calendar.is_announcement_day(dt.date(2026, 11, 25))
    wednesdays = [
        replace(generated(n, f"Wednesday {n}"), announced=dt.date(2026, 11, 25)) for n in range(3)
    ]
    clock = FakeClock(tuesday.timestamp())

    def now() -> dt.datetime:
        return dt.datetime.fromtimestamp(clock.now, dt.UTC)

    async with pipeline(config, clock) as services:
        plan = PollPlan(tuesday)
        while plan.when < eastern(2026, 11, 26, 0, 0):
            clock.now = max(clock.now, plan.when.timestamp())
            day = now().astimezone(ARXIV_TZ).date()
            papers = wednesdays if day == dt.date(2026, 11, 25) else []
            built = dt.datetime.combine(day, dt.time(0, 0, 20), tzinfo=ARXIV_TZ)
            feeds.set_response(
                "/atom/cs.AI",
                atom_feed(papers, categories="cs.AI", updated=built),
                content_type=ATOM,
            )
            plan = await run_poll(services, plan, clock=now)
        stored = {paper.arxiv_id for paper in await services.store.recent_papers(tuesday)}
    assert stored == {paper.arxiv_id for paper in wednesdays}


def test_retries_are_bounded_then_a_slow_safety_repoll() -> None:
    """A stale or broken poll is retried 15, 30 and 60 minutes after the day's first poll,
    then every 6 hours (the re-poll interval) until it works or the next rebuild comes."""
    first = eastern(2026, 11, 24, 0, 10)
    now, attempt, whens = first, 0, []
    for _ in range(7):
        plan = plan_next_poll(now, needs_retry=True, attempt=attempt, first_at=first)
        whens.append(plan.when - first)
        now, attempt = plan.when, plan.attempt
        if plan.first_at is None:
            break
    minutes = [int(w.total_seconds() // 60) for w in whens]
    assert minutes == [15, 30, 60, 60 + 360, 60 + 720, 60 + 1080, 1440]
    assert plan == PollPlan(eastern(2026, 11, 25, 0, 10)), "the next rebuild wins"


def test_a_retry_is_never_sooner_than_a_minute_after_the_poll() -> None:
    """A poll that took longer than its retry delay retries a minute later, not at once."""
    first = eastern(2026, 11, 24, 0, 10)
    late = first + dt.timedelta(minutes=20)
    plan = plan_next_poll(late, needs_retry=True, attempt=0, first_at=first)
    assert plan.when == late + dt.timedelta(minutes=1)


def test_safety_repoll_never_more_often_than_configured() -> None:
    """The safety re-poll uses the configured interval."""
    first = eastern(2026, 11, 24, 0, 10)
    plan = plan_next_poll(
        first,
        needs_retry=True,
        attempt=3,
        first_at=first,
        repoll_interval=dt.timedelta(hours=2),
    )
    assert plan.when == first + dt.timedelta(hours=2)


def test_digest_days_name_the_announcement_days_since_the_last_digest() -> None:
    """A Monday digest after one that named Thursday names Friday and Monday; a first digest,
    its papers' days; a long absence, the announcement days of the look-back only."""
    monday, thursday = dt.date(2024, 3, 11), dt.date(2024, 3, 7)
    friday = dt.date(2024, 3, 8)
    hits = [
        Hit(dataclasses.replace(DAY_ONE[0], announced=friday)),
        Hit(dataclasses.replace(DAY_ONE[1], announced=None)),
    ]
    assert digest_days(thursday, monday, hits, 7) == [friday, monday]
    assert digest_days(None, monday, hits, 7) == [friday]
    long_ago = digest_days(monday - dt.timedelta(days=40), monday, [], 7)
    assert long_ago == [dt.date(2024, 3, d) for d in (5, 6, 7, 8, 11)]


async def test_same_bytes_under_a_new_etag_are_not_parsed_but_remembered(
    services: Services, feeds: FeedServer
) -> None:
    """A 200 with the bytes already ingested is unchanged (no parse); its new ETag is kept
    for the next conditional GET."""
    url = url_of(services)
    feeds.set_response("/atom/cs.AI", CLEAN, content_type=ATOM, headers={"ETag": '"a"'})
    await ingest_feed(services.fetcher, services.store, url, now=WEDNESDAY)
    feeds.set_response("/atom/cs.AI", CLEAN, content_type=ATOM, headers={"ETag": '"b"'})
    same = await ingest_feed(services.fetcher, services.store, url, now=WEDNESDAY)
    assert (same.status, same.entries) == (FeedStatus.UNCHANGED, 0)
    assert (await services.store.fetch_state())[url][0].etag == '"b"'
    await ingest_feed(services.fetcher, services.store, url, now=WEDNESDAY)
    assert feeds.requests[-1].headers["If-None-Match"] == '"b"'


def capped_day(per_category: int = 1200) -> dict[str, list[Paper]]:
    """A busy day: `per_category` papers in each of cs.AI and cs.LG, more than arXiv's 2,000
    items together, so the joined feed is cut at the cap and its overflow is in neither."""
    return {
        cat: [
            Paper(f"2508.{offset + n:05d}", f"T{offset + n}", ("A",), "x", (cat,))
            for n in range(per_category)
        ]
        for offset, cat in ((0, "cs.AI"), (per_category, "cs.LG"))
    }


def serve_capped_day(feeds: FeedServer, day: dict[str, list[Paper]], updated: dt.datetime) -> None:
    """arXiv's answers for that day: the joined feed at the cap, each category whole."""
    joined = [p for pair in zip(day["cs.AI"], day["cs.LG"], strict=True) for p in pair]
    cut = joined[:FEED_ITEM_LIMIT]
    feeds.set_response(
        "/atom/cs.AI+cs.LG", atom_feed(cut, categories="cs.AI+cs.LG", updated=updated)
    )
    for cat, papers in day.items():
        feeds.set_response(f"/atom/{cat}", atom_feed(papers, categories=cat, updated=updated))


async def test_a_feed_at_arxivs_item_limit_is_split_and_fetched_again_in_the_same_poll(
    services: Services, feeds: FeedServer
) -> None:
    """2,000 items may be a cut list: the same poll asks again for each category on its own,
    so the overflow is stored that day, not lost; the next poll asks for them apart."""
    day = capped_day()
    serve_capped_day(feeds, day, WEDNESDAY)
    await services.store.ensure_chat(1, dt.time(8), "UTC")
    await services.store.add_subscriptions(1, [("x", "x")])
    await services.store.set_categories(1, ["cs.AI", "cs.LG"])
    report = await ingest(services, WEDNESDAY)
    assert [r.path for r in feeds.requests] == ["/atom/cs.AI+cs.LG", "/atom/cs.AI", "/atom/cs.LG"]
    assert await services.store.count_papers() == 2400
    assert len(report.new) == 2400
    await ingest(services, WEDNESDAY)
    assert [r.path for r in feeds.requests][3:] == ["/atom/cs.AI", "/atom/cs.LG"]


async def test_the_split_is_remembered_across_a_restart(
    start_bot: StartBot, feeds: FeedServer
) -> None:
    """The per-category sizes live in the database: after a restart, the first poll of the
    real application asks for the categories apart at once, never for the cut joined feed."""
    serve_capped_day(feeds, capped_day(), utcnow())
    async with start_bot(arxiv_categories=("cs.AI", "cs.LG")) as bot:
        await bot.wait_for_papers(2400, timeout=60)
    assert [r.path for r in feeds.requests] == ["/atom/cs.AI+cs.LG", "/atom/cs.AI", "/atom/cs.LG"]
    async with start_bot(arxiv_categories=("cs.AI", "cs.LG")):
        await feeds.wait_for_requests(5, timeout=60)
    assert [r.path for r in feeds.requests][3:] == ["/atom/cs.AI", "/atom/cs.LG"]


async def test_digest_job_cut_off_after_composing_is_sent_once_after_the_restart(
    start_bot: StartBot, telegram: FakeBotAPI
) -> None:
    """A daily run is recorded in the transaction that queues its digest: a process that dies
    while sending it has queued it whole and recorded the run, so after the restart no
    catch-up composes a second digest, the outbox sends the rest, and the digest arrives
    once."""
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
        assert chat.last_digest_at is not None
        assert chat.last_digest_at > missed, "recorded with the queued digest"
        assert (await store.counts(started))["pending_parts"] > 0

    async def all_sent(bot: BotUnderTest) -> bool:
        return (await bot.services.store.counts(started))["pending_parts"] == 0

    async with start_bot() as bot:
        await eventually(lambda: all_sent(bot), timeout=10)
        received = ids_in((await bot.settle())[before:])
        counts = await bot.services.store.counts(started)
    assert sorted(received) == expected
    assert counts["digests"] == 1


async def test_a_slow_digest_rendering_holds_up_no_other_chat(
    bot: BotUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A digest is rendered off the event loop: while one chat's digest is being rendered,
    another user's /help is answered, and the digest arrives whole afterwards."""
    rendering, release = threading.Event(), threading.Event()
    waited_out: list[bool] = []
    real = composer_mod.render_parts

    def slow_render(*args: Any, **kwargs: Any) -> Any:
        rendering.set()
        waited_out.append(not release.wait(timeout=60))  # True: nobody released it in time
        return real(*args, **kwargs)

    monkeypatch.setattr(composer_mod, "render_parts", slow_render)
    await bot.ask("/subscribe diffusion")
    before = len(bot.telegram.messages_to(USER))
    bot.telegram.user_sends(USER, "/digest")
    assert await asyncio.to_thread(rendering.wait, 30)
    (answer,) = await bot.ask("/help", chat_id=USER + 1)
    assert "/subscribe" in answer.plain_text
    release.set()
    await bot.telegram.wait_for_messages(USER, before + 1)
    digest = (await bot.settle())[before:]
    assert set(ids_in(digest)) == {p.arxiv_id for p in DAY_ONE if mentions("diffusion", p)}
    assert waited_out == [False]
