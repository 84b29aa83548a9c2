"""Tests for bot.pipeline.composer: the digests due together composed in batches, each chat's
digest its own (what the old one-chat-at-a-time path composed), one chat's failure its own,
and a digest that reads only what was written since the chat's previous one."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.config import Config
from bot.delivery.digest import render_parts
from bot.delivery.outbox import LedgerUnavailable
from bot.i18n.translate import translator
from bot.index.runs import after_poll
from bot.models import Hit, Paper, UrlState
from bot.pipeline import composer
from bot.pipeline.digests import compose_digest, pending_hits
from bot.services import Services
from bot.storage.digest_runs import PendingBatch, PendingRead
from bot.storage.store import Store
from bot.telegram.subscriptions import subscription_key
from tests.conftest import TOKEN, pipeline
from tests.fakes.clock import FakeClock

NOW = dt.datetime(2025, 8, 20, 12, 0, tzinfo=dt.UTC)
CHATS = range(1, 31)
WORDS = ["diffusion", "graph", "agent", "video", "robot"]


def paper(n: int) -> Paper:
    words = [WORDS[n % 5], WORDS[(n // 5) % 5]]
    return Paper(
        arxiv_id=f"2508.{n:05d}",
        title=f"A {words[0]} paper {n}",
        authors=("Ada Lovelace",),
        abstract=f"We study {words[1]}.",
        categories=("cs.AI",),
        announced=NOW.date(),
    )


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    config = Config(bot_token=TOKEN, database_path=tmp_path / "bot.sqlite3")
    async with pipeline(config, FakeClock(NOW.timestamp())) as built:
        for chat_id in CHATS:
            await built.store.ensure_chat(chat_id, dt.time(8, 0), "UTC")
            queries = [WORDS[chat_id % 5], WORDS[(chat_id * 3) % 5]]
            await follow(built, chat_id, *queries)
        await built.store.add_papers([paper(n) for n in range(1, 41)])
        await after_poll(built, NOW)
        yield built


async def follow(services: Services, chat_id: int, *queries: str) -> None:
    await services.store.add_subscriptions(chat_id, [(subscription_key(q), q) for q in queries])


async def compose_all(
    services: Services, chat_ids: Sequence[int], daily: bool = False
) -> list[Any]:
    """Every chat's digest at once, as the JobQueue starts the jobs due at the same minute."""

    async def one(chat_id: int) -> int:
        async with services.digest_locks[chat_id]:
            return await compose_digest(services, chat_id, now=NOW, daily=daily)

    return await asyncio.gather(*(one(chat_id) for chat_id in chat_ids), return_exceptions=True)


async def expected_texts(services: Services, chat_id: int, hits: list[Hit]) -> list[str]:
    """The chat's first digest as rendered from its pending hits, one chat at a time."""
    assert await services.store.get_chat(chat_id) is not None
    days = composer.digest_days(None, NOW.date(), hits, services.config.digest_lookback_days)
    return [part.text for part in render_parts(hits, days=days, tr=translator(None))]


async def test_digests_started_together_are_composed_in_a_few_batches_each_its_own(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thirty chats due at the same minute: a couple of reads of the database, not thirty,
    and each chat's digest is exactly what it was pending (its own papers, ranked, rendered)."""
    expected = {chat_id: await pending_hits(services, chat_id, NOW) for chat_id in CHATS}
    reads: list[int] = []
    real = Store.pending_for

    async def counted(store: Store, batch: Sequence[PendingRead]) -> PendingBatch:
        reads.append(len(batch))
        return await real(store, batch)

    monkeypatch.setattr(Store, "pending_for", counted)
    sizes = await compose_all(services, CHATS)
    assert sizes == [len(expected[chat_id]) for chat_id in CHATS]
    assert all(size > 0 for size in sizes)
    assert sum(reads) == len(CHATS)
    assert len(reads) <= 3
    for chat_id in CHATS:
        texts = await services.outbox.last_digest_texts(chat_id)
        assert texts == await expected_texts(services, chat_id, expected[chat_id])
        assert await pending_hits(services, chat_id, NOW) == []


async def test_a_chat_whose_digest_cannot_be_made_fails_alone(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One chat's digest raises while the batch is composed: its caller gets the error, its
    run is not recorded (it runs again) and its papers stay pending; the others are queued."""
    broken = 7
    real = composer.chat_hits

    def chat_hits(plan: Any, batch: PendingBatch, memo: Any = None) -> list[Hit]:
        if plan.inputs.chat.chat_id == broken:
            raise ValueError("a paper that cannot be shown")
        return real(plan, batch, memo)

    yesterday = NOW - dt.timedelta(days=1)
    for chat_id in CHATS:
        await services.store.record_digest(chat_id, yesterday)
    monkeypatch.setattr(composer, "chat_hits", chat_hits)
    results = dict(zip(CHATS, await compose_all(services, CHATS, daily=True), strict=True))
    assert isinstance(results.pop(broken), ValueError)
    assert all(isinstance(size, int) and size > 0 for size in results.values())
    for chat_id in CHATS:
        chat = await services.store.get_chat(chat_id)
        assert chat is not None
        composed = await services.outbox.last_digest_texts(chat_id)
        if chat_id == broken:
            assert composed == []
            assert chat.last_digest_at == yesterday
            monkeypatch.setattr(composer, "chat_hits", real)
            assert await pending_hits(services, chat_id, NOW)
            monkeypatch.setattr(composer, "chat_hits", chat_hits)
        else:
            assert composed
            assert chat.last_digest_at == NOW


async def test_a_full_disk_fails_every_digest_of_the_batch_and_records_none(
    services: Services, tmp_path: Path
) -> None:
    with closing(sqlite3.connect(tmp_path / "bot.sqlite3")) as db:
        db.execute(
            "CREATE TRIGGER full_disk BEFORE INSERT ON deliveries"
            " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
        db.commit()
    results = await compose_all(services, CHATS, daily=True)
    assert all(isinstance(result, LedgerUnavailable) for result in results)
    for chat_id in CHATS:
        assert await services.outbox.last_digest_texts(chat_id) == []
        assert await pending_hits(services, chat_id, NOW)


async def test_a_digest_reads_what_came_since_and_all_again_when_the_chat_changed(
    services: Services,
) -> None:
    """After a digest, the next reads only the matches written since; a chat that follows a
    new query (or changes what it wants) reads its whole window again: the older papers of
    the new query come too."""
    chat_id = 3
    assert (await compose_all(services, [chat_id]))[0] > 0
    inputs = (await services.store.digest_inputs([chat_id]))[chat_id]
    assert inputs.read_run > 0
    assert inputs.read_for is not None
    await services.store.add_papers([paper(n) for n in range(41, 61)])
    await after_poll(services, NOW)
    newer = {hit.paper.arxiv_id for hit in await pending_hits(services, chat_id, NOW)}
    assert newer
    assert all(arxiv_id >= "2508.00041" for arxiv_id in newer)
    assert (await compose_all(services, [chat_id]))[0] == len(newer)
    unseen = [w for w in WORDS if w not in {WORDS[chat_id % 5], WORDS[(chat_id * 3) % 5]}]
    await follow(services, chat_id, unseen[0])
    older = {hit.paper.arxiv_id for hit in await pending_hits(services, chat_id, NOW)}
    assert any(arxiv_id < "2508.00041" for arxiv_id in older)
    assert (await compose_all(services, [chat_id]))[0] == len(older)
    assert await pending_hits(services, chat_id, NOW) == []
    await services.store.toggle_announcements(chat_id, "revisions")
    changed = (await services.store.digest_inputs([chat_id]))[chat_id]
    assert (await compose_all(services, [chat_id]))[0] == 0
    after = (await services.store.digest_inputs([chat_id]))[chat_id]
    assert after.read_for != changed.read_for


async def test_a_big_batch_is_drafted_in_the_worker_process_its_later_pages_held(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chats due together above the threshold are ranked and rendered in the worker process;
    a digest's pages after the visible ones are queued without their text, and rendered from
    what they hold they are the pages the chat's digest would have had."""
    long_papers = [
        dataclasses.replace(paper(n), abstract=f"We study {WORDS[n % 5]} at length. " * 60)
        for n in range(41, 61)
    ]
    await services.store.add_papers(long_papers)
    await after_poll(services, NOW)
    expected = {chat_id: await pending_hits(services, chat_id, NOW) for chat_id in CHATS}
    monkeypatch.setattr(composer, "PROCESS_FROM", 1)
    services.outbox.visible_parts = 1
    sizes = await compose_all(services, CHATS)
    assert sizes == [len(expected[chat_id]) for chat_id in CHATS]
    worker = services.drafting.pid()
    assert worker is not None
    assert worker != os.getpid()
    held = 0
    for chat_id in CHATS:
        parts = await services.store.last_digest_parts(chat_id)
        assert parts[0][0]
        assert parts[0][1] is None
        assert all(text == "" and recipe is not None for text, recipe in parts[1:])
        held += len(parts) - 1
        texts = await services.outbox.last_digest_texts(chat_id)
        assert texts == await expected_texts(services, chat_id, expected[chat_id])
    assert held > len(CHATS)


# The days a header names, and the line that nothing matched -----------------------------------

ET = ZoneInfo("America/New_York")
FEED = "https://rss.arxiv.org/rss/cs.AI"


def eastern(day: dt.date, hour: int = 4, minute: int = 0) -> dt.datetime:
    """A moment on a day in New York (by default after arXiv's rebuild and the poll)."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=ET).astimezone(dt.UTC)


class Week:
    """A pipeline on a fake clock, its days driven by hand: each day's feed comes in (its
    papers stored and matched, its day remembered as the poll does), then daily runs."""

    def __init__(self, services: Services, clock: FakeClock) -> None:
        self.services = services
        self.clock = clock

    async def feed(self, day: dt.date, *papers: Paper, at: dt.datetime | None = None) -> None:
        now = at or eastern(day, 0, 10)
        self.clock.now = now.timestamp()
        await self.services.store.add_papers(list(papers))
        await self.services.store.save_fetch_state(FEED, UrlState(), day)
        await after_poll(self.services, now)

    async def run(self, chat_id: int, now: dt.datetime, *, daily: bool = True) -> int:
        """The chat's run at `now`; the papers its digest carries."""
        self.clock.now = now.timestamp()
        async with self.services.digest_locks[chat_id]:
            return await compose_digest(self.services, chat_id, now=now, daily=daily)

    async def queued(self, chat_id: int) -> list[str]:
        """The texts queued for the chat (nothing is sent here), oldest first."""
        return [part.text for part in await self.services.store.pending_parts(chat_id)]


@pytest.fixture
async def week(tmp_path: Path) -> AsyncIterator[Week]:
    config = Config(bot_token=TOKEN, database_path=tmp_path / "week.sqlite3")
    clock = FakeClock(eastern(dt.date(2024, 3, 4)).timestamp())
    async with pipeline(config, clock) as built:
        yield Week(built, clock)


def announced(n: int, day: dt.date, topic: str = "diffusion") -> Paper:
    """Paper n, about `topic`, announced on `day`."""
    return dataclasses.replace(
        paper(n), title=f"A {topic} paper {n}", abstract=f"We study {topic}.", announced=day
    )


async def test_monday_digest_names_friday_to_monday_like_the_example(week: Week) -> None:
    """After Thursday's digest, a Friday that matched nothing and the weekend, Monday's
    digest names Friday to Monday, as the example digest's heading does
    ("2024-03-08--2024-03-11"), in English and in Chinese (arXiv's dates, whatever the
    chat's time zone); a chat's first digest names the days of its papers."""
    store = week.services.store
    for chat_id, zone in ((1, "Europe/Berlin"), (2, "Asia/Shanghai")):
        await store.ensure_chat(chat_id, dt.time(8, 0), zone)
        await follow(week.services, chat_id, "diffusion")
    await store.set_language(2, "zh")
    thursday, friday, monday = (dt.date(2024, 3, day) for day in (7, 8, 11))
    await week.feed(thursday, announced(1, thursday))
    for chat_id in (1, 2):
        assert await week.run(chat_id, eastern(thursday)) == 1
    first = await week.queued(1)
    assert first[0].startswith("<b>arXiv digest</b>\nThu 7 Mar 2024 · 1 paper")
    await week.feed(friday, announced(2, friday, "optimizers"))
    saturday, sunday = friday + dt.timedelta(days=1), friday + dt.timedelta(days=2)
    for day in (friday, saturday, sunday):
        if day != friday:
            await week.feed(day)
        for chat_id in (1, 2):
            assert await week.run(chat_id, eastern(day)) == 0
    await week.feed(monday, announced(3, monday))
    for chat_id in (1, 2):
        assert await week.run(chat_id, eastern(monday)) == 1
    english = (await week.queued(1))[-1]
    assert english.startswith("<b>arXiv digest</b>\nFri 8 Mar \u2013 Mon 11 Mar 2024 · 1 paper")
    chinese = (await week.queued(2))[-1].split("\n")[1]
    assert chinese == "2024年3月8日周五 \u2013 3月11日周一 · 1 篇论文"


async def test_a_digest_before_the_days_feed_is_in_names_the_day_before(week: Week) -> None:
    """A run after midnight in New York but before the poll took the new feed names the
    day whose papers it has; the next names the new day only."""
    store = week.services.store
    await store.ensure_chat(1, dt.time(6, 5), "Europe/Berlin")
    await follow(week.services, 1, "diffusion")
    monday, tuesday = dt.date(2024, 3, 11), dt.date(2024, 3, 12)
    await week.feed(monday, announced(1, monday))
    assert await week.run(1, eastern(monday)) == 1
    await store.add_papers([announced(2, monday)])  # a late paper, still Monday's
    await after_poll(week.services, eastern(monday, 12))
    assert await week.run(1, eastern(tuesday, 0, 5)) == 1
    assert (await week.queued(1))[-1].split("\n")[1] == "Mon 11 Mar 2024 · 1 paper"
    await week.feed(tuesday, announced(3, tuesday))
    assert await week.run(1, eastern(tuesday + dt.timedelta(days=1), 0, 5)) == 1
    assert (await week.queued(1))[-1].split("\n")[1] == "Tue 12 Mar 2024 · 1 paper"


async def test_a_digest_from_before_the_upgrade_counts_as_naming_its_day(week: Week) -> None:
    """A digest recorded without the day it named (composed before the upgrade) is taken
    to have named the last announcement day on or before the day it was composed."""
    store = week.services.store
    await store.ensure_chat(1, dt.time(8, 0), "UTC")
    await follow(week.services, 1, "diffusion")
    thursday, monday = dt.date(2024, 3, 7), dt.date(2024, 3, 11)
    week.clock.now = eastern(thursday, 9).timestamp()
    await store.compose_digest(1, [("an old digest", [])], visible=1)  # no day recorded
    inputs = (await store.digest_inputs([1]))[1]
    assert inputs.last_through is None
    assert composer.covered_before(inputs) == thursday
    await week.feed(monday, announced(1, monday))
    assert await week.run(1, eastern(monday)) == 1
    assert (await week.queued(1))[-1].split("\n")[1] == "Fri 8 Mar \u2013 Mon 11 Mar 2024 · 1 paper"


NOTE = "Nothing in arXiv's announcement of {} matched your keywords."


async def test_the_line_that_nothing_matched_is_off_by_default_and_once_a_day(
    week: Week, tmp_path: Path
) -> None:
    """A chat that turned the line on gets it on each announcement day its daily run finds
    nothing: once a day (a second run, a restart: no second line), never on the weekend,
    never from /digest; chats that did not turn it on, or follow nothing, get nothing."""
    store = week.services.store
    for chat_id in (1, 2, 3, 4):
        await store.ensure_chat(chat_id, dt.time(8, 0), "UTC")
    for chat_id in (1, 2, 4):
        await follow(week.services, chat_id, "zebra crossing")
    for chat_id in (2, 3, 4):
        chat = await store.toggle_announcements(chat_id, "nomatch")
        assert chat is not None
        assert chat.tell_no_match
    await store.set_language(4, "zh")
    wednesday = dt.date(2025, 8, 20)
    await week.feed(wednesday, announced(1, wednesday))
    for chat_id in (1, 2, 3, 4):
        assert await week.run(chat_id, eastern(wednesday, 8)) == 0
    assert await week.queued(2) == [NOTE.format("Wed 20 Aug")]
    assert await week.queued(4) == ["arXiv 8月20日周三的公告中没有与你的关键词匹配的论文。"]
    assert await week.queued(1) == []
    assert await week.queued(3) == []
    assert await week.run(2, eastern(wednesday, 9)) == 0  # a catch-up, the same day
    assert await week.run(2, eastern(wednesday, 10), daily=False) == 0  # /digest
    assert len(await week.queued(2)) == 1
    config = week.services.config
    async with pipeline(config, week.clock) as restarted:
        again = Week(restarted, week.clock)
        assert await again.run(2, eastern(wednesday, 11)) == 0
        assert len(await again.queued(2)) == 1
        await restarted.store.ensure_chat(5, dt.time(8, 0), "UTC")  # turns it on on Sunday
        await follow(restarted, 5, "zebra crossing")
        await restarted.store.toggle_announcements(5, "nomatch")
        for offset in range(1, 6):  # Thursday to Monday
            day = wednesday + dt.timedelta(days=offset)
            await again.feed(day)
            for chat_id in (2, 5) if offset >= 4 else (2,):
                await again.run(chat_id, eastern(day, 8))
        days = ["Wed 20 Aug", "Thu 21 Aug", "Fri 22 Aug", "Mon 25 Aug"]
        assert await again.queued(2) == [NOTE.format(day) for day in days]
        assert await again.queued(5) == [NOTE.format("Mon 25 Aug")]


async def test_no_line_for_the_empty_day_after_an_arxiv_holiday(week: Week) -> None:
    """Thanksgiving evening has no announcement: the Friday after it, and the weekend, get
    no line; the days around them do."""
    store = week.services.store
    await store.ensure_chat(1, dt.time(8, 0), "America/New_York")
    await follow(week.services, 1, "zebra crossing")
    await store.toggle_announcements(1, "nomatch")
    wednesday = dt.date(2025, 11, 26)
    for offset in range(6):  # Wednesday to Monday
        day = wednesday + dt.timedelta(days=offset)
        await week.feed(day)
        await week.run(1, eastern(day, 8))
    days = ["Wed 26 Nov", "Thu 27 Nov", "Mon 1 Dec"]
    assert await week.queued(1) == [NOTE.format(day) for day in days]


async def test_a_run_before_the_feed_gets_the_line_the_next_morning(week: Week) -> None:
    """A chat whose run comes before arXiv's rebuild in New York sees each day's feed the
    next morning: Thursday's line comes on Friday, Friday's on Saturday, and Sunday's and
    Monday's runs (Monday's feed not in yet) have none; the line names the day it is about."""
    store = week.services.store
    await store.ensure_chat(1, dt.time(6, 5), "Europe/Berlin")
    await follow(week.services, 1, "zebra crossing")
    await store.toggle_announcements(1, "nomatch")
    thursday = dt.date(2025, 8, 21)
    await week.feed(thursday, announced(1, thursday))
    for offset in (1, 2, 3, 4):  # the runs of Friday to Monday, at 00:05 in New York
        day = thursday + dt.timedelta(days=offset)
        await week.run(1, eastern(day, 0, 5))
        await week.feed(day, at=eastern(day, 0, 10))  # then the poll
    assert await week.queued(1) == [NOTE.format("Thu 21 Aug"), NOTE.format("Fri 22 Aug")]
