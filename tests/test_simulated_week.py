"""A simulated week of arXiv, Monday to Monday, through the real pipeline on a fake clock.

The loopback feed server plays arXiv: it serves each day's feed from its midnight rebuild
(US/Eastern), empty feeds on the weekend and after Thanksgiving (an arXiv holiday), and this
week's mishaps: a 503 with Retry-After on Tuesday, Tuesday's feed still served after
Wednesday's rebuild (stale), a truncated feed on Thursday. Three chats with different
categories, keywords and time zones get their daily digests through the outbox and the fake
Bot API. The schedule is bot.pipeline.run_poll's own plan, stepped by the test: no real waiting.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from telegram import Bot

from bot.arxiv.calendar import ARXIV_HOLIDAYS, is_announcement_day, rebuild_time
from bot.config import Config
from bot.models import Paper
from bot.pipeline.digests import daily_digest
from bot.pipeline.polls import PollPlan, run_poll
from bot.services import Services
from tests.conftest import TOKEN, ids_in, mentions, pipeline
from tests.fakes import FakeBotAPI, FeedServer
from tests.fakes.clock import FakeClock
from tests.fakes.feed_server import Answer
from tests.feedgen import rss_feed

ET = ZoneInfo("America/New_York")
MONDAY = dt.date(2026, 11, 23)
THANKSGIVING = dt.date(2026, 11, 26)  # no announcement that evening: Friday's feed is empty
START = dt.datetime(2026, 11, 23, 3, 0, tzinfo=ET)  # the bot's first start, Monday 03:00
END = dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC)  # after every chat's Monday digest
WITHDRAWN = "This paper has been withdrawn by the author due to an error in Lemma 3."
OLD_STYLE = "hep-th/0505137"


@dataclasses.dataclass(frozen=True)
class SimChat:
    chat_id: int
    timezone: str
    digest_time: dt.time
    categories: tuple[str, ...] | None  # None: the configured default
    query: str

    def wants(self, paper: Paper, default: tuple[str, ...]) -> bool:
        """Independent oracle: in the chat's categories, and its query matches."""
        if not set(paper.categories) & set(self.categories or default):
            return False
        if self.query.startswith("cat:"):
            return self.query[4:] in paper.categories
        return mentions(self.query, paper)


DEFAULT_CATEGORIES = ("cs.AI", "cs.LG")
CHATS = (
    SimChat(101, "UTC", dt.time(8, 0), None, "diffusion"),
    SimChat(102, "Asia/Tokyo", dt.time(7, 30), ("hep-th",), "cat:hep-th"),
    SimChat(103, "America/New_York", dt.time(6, 0), ("math.ST", "cs.LG"), "estimator"),
)
FEED_PATH = "/rss/cs.AI+cs.LG+hep-th+math.ST"  # the union of what the chats draw from


def announcement_days() -> list[dt.date]:
    days = [MONDAY + dt.timedelta(days=n) for n in range(8)]
    return [day for day in days if is_announcement_day(day)]


def day_papers(index: int, day: dt.date) -> list[Paper]:
    """A day's announcements, shaped as arXiv lists them: new, then cross-lists."""
    base = 10000 + 100 * index

    def make(n: int, title: str, cats: tuple[str, ...], kind: str, abstract: str) -> Paper:
        return Paper(
            arxiv_id=f"2611.{base + n:05d}",
            title=f"{title} ({day:%a})",
            authors=("Ada Lovelace (Univ. of London, UK)", "Émile Borel (ENS, Paris) and Co"),
            abstract=abstract,
            categories=cats,
            announce_type=kind,
            announced=day,
        )

    return [
        make(1, "Diffusion planners", ("cs.AI",), "new", "We plan with diffusion models."),
        make(2, "Score matching", ("cs.LG", "cs.AI"), "new", "A latent diffusion, made fast."),
        make(3, "Planning agents", ("cs.AI",), "new", "Agents plan with search."),
        make(4, "Minimax rates", ("math.ST",), "new", "A minimax estimator for densities."),
        make(5, "String compactifications", ("hep-th",), "new", "Calabi-Yau vacua counted."),
        make(6, "Optimizers", ("cs.LG",), "new", "Adaptive steps for training."),
        make(7, "Kernel estimators", ("math.ST", "cs.LG"), "cross", "An estimator of kernels."),
        make(8, "Black hole entropy", ("gr-qc", "hep-th"), "cross", "Horizons and their area."),
    ]


def the_week() -> dict[dt.date, list[Paper]]:
    """What arXiv announces on each feed day, revisions and a withdrawal included."""
    week = {day: day_papers(i, day) for i, day in enumerate(announcement_days())}
    monday = week[MONDAY]
    tuesday, wednesday = MONDAY + dt.timedelta(days=1), MONDAY + dt.timedelta(days=2)
    week[tuesday] += [
        dataclasses.replace(
            monday[0], announce_type="replace", version=2, title="Diffusion planners, v2"
        ),
        Paper(
            OLD_STYLE,
            "Ghost condensation",
            ("N. Arkani-Hamed",),
            "A consistent infrared modification of gravity.",
            ("hep-th",),
            "replace",
            3,
            tuesday,
        ),
    ]
    week[wednesday] += [
        dataclasses.replace(
            monday[3], announce_type="replace", version=2, abstract=WITHDRAWN, withdrawn=True
        )
    ]
    return week


class Arxiv:
    """What the feed server answers at a given moment, with the week's mishaps."""

    def __init__(self, server: FeedServer) -> None:
        self.server = server
        self.week = the_week()
        self.mishaps_done: set[str] = set()

    def feed(self, day: dt.date) -> bytes:
        built = rebuild_time(day) + dt.timedelta(seconds=20)
        papers = self.week.get(day, [])
        return rss_feed(papers, categories=FEED_PATH.removeprefix("/rss/"), updated=built)

    def serve(self, moment: dt.datetime) -> None:
        """Set what arXiv serves now: the feed of its last rebuild (late on Wednesday)."""
        day = moment.astimezone(ET).date()
        wednesday = MONDAY + dt.timedelta(days=2)
        if day == wednesday and moment < rebuild_time(day) + dt.timedelta(minutes=30):
            day -= dt.timedelta(days=1)  # the rebuild is late: Tuesday's feed, same ETag
        self.server.set_response(FEED_PATH, self.feed(day), headers={"ETag": f'"{day}"'})
        tuesday, thursday = MONDAY + dt.timedelta(days=1), MONDAY + dt.timedelta(days=3)
        if day == tuesday and "503" not in self.mishaps_done:
            self.mishaps_done.add("503")
            self.server.script(
                FEED_PATH, Answer("busy", status=503, headers={"Retry-After": "120"})
            )
        if day == thursday and "truncated" not in self.mishaps_done:
            self.mishaps_done.add("truncated")
            whole = self.feed(day)
            cut = whole[: whole.index(b"<item>", whole.index(b"<item>") + 1) + 300]
            self.server.script(FEED_PATH, Answer(cut, headers={"ETag": '"cut"'}))


def next_digest(chat: SimChat, after: dt.datetime) -> dt.datetime:
    zone = ZoneInfo(chat.timezone)
    local = after.astimezone(zone)
    slot = dt.datetime.combine(local.date(), chat.digest_time, tzinfo=zone)
    return slot if slot > local else slot + dt.timedelta(days=1)


@pytest.fixture
async def week(
    telegram: FakeBotAPI, tmp_path: Path
) -> AsyncIterator[tuple[Services, FeedServer, FakeClock]]:
    clock = FakeClock(START.timestamp())
    async with FeedServer(clock=clock) as server:
        config = Config(
            bot_token=TOKEN,
            bot_api_url=telegram.base_url,
            arxiv_rss_base=server.url + "/rss/",
            arxiv_categories=DEFAULT_CATEGORIES,
            database_path=tmp_path / "week.sqlite3",
            http_timeout=5,
        )
        async with pipeline(config, clock) as services:
            yield services, server, clock


async def test_a_week_delivers_every_paper_once_and_never_hammers_arxiv(
    week: tuple[Services, FeedServer, FakeClock], telegram: FakeBotAPI
) -> None:
    """Mon..Mon with a weekend, Thanksgiving, a 503 with Retry-After, a stale and a truncated
    feed: each chat gets every matching announcement exactly once, no revision or withdrawal
    as new, polls every day (the weekend and the holiday too: the calendar does not decide),
    and never two requests within 3 s."""
    services, server, clock = week
    store = services.store
    arxiv = Arxiv(server)
    assert THANKSGIVING in ARXIV_HOLIDAYS

    def now() -> dt.datetime:
        return dt.datetime.fromtimestamp(clock.now, dt.UTC)

    for chat in CHATS:
        await store.ensure_chat(chat.chat_id, chat.digest_time, chat.timezone)
        await store.add_subscriptions(chat.chat_id, [(chat.query, chat.query)])
        if chat.categories:
            await store.set_categories(chat.chat_id, list(chat.categories))
    digests = {chat.chat_id: next_digest(chat, START) for chat in CHATS}
    plan = PollPlan(START)
    polls: list[tuple[dt.datetime, PollPlan]] = []
    async with Bot(TOKEN, base_url=telegram.base_url) as bot:
        while True:
            chat_id, due = min(digests.items(), key=lambda item: item[1])
            when = min(plan.when, due)
            if when > END:
                break
            clock.now = max(clock.now, when.timestamp())  # a fetch may have waited past it
            if plan.when <= due:
                arxiv.serve(now())
                polls.append((now(), plan))
                plan = await run_poll(services, plan, clock=now)
            else:
                await daily_digest(bot, services, chat_id, now())
                chat = next(c for c in CHATS if c.chat_id == chat_id)
                digests[chat_id] = next_digest(chat, now())

    # Every matching announcement, exactly once, to each chat; nothing else.
    first_listings = [
        p for day in arxiv.week.values() for p in day if p.announce_type in ("new", "cross")
    ]
    for chat in CHATS:
        received = ids_in(telegram.messages_to(chat.chat_id))
        expected = {p.arxiv_id for p in first_listings if chat.wants(p, DEFAULT_CATEGORIES)}
        assert len(expected) >= 5
        assert Counter(received) == Counter(expected), chat
    assert telegram.violations == []

    # arXiv was asked politely: 3 s apart on the fake clock, and on every day, the weekend
    # and the day after Thanksgiving included (their feeds are empty, but a wrong holiday
    # table must not cost a day of papers).
    times = [request.time for request in server.requests]
    assert all(b - a >= 3.0 for a, b in itertools.pairwise(times))
    asked_on = {dt.datetime.fromtimestamp(t, ET).date() for t in times}
    assert asked_on == {MONDAY + dt.timedelta(days=n) for n in range(8)}
    quiet = [MONDAY + dt.timedelta(days=n) for n in (4, 5, 6)]  # Fri after Thanksgiving, Sat, Sun
    asked = Counter(dt.datetime.fromtimestamp(t, ET).date() for t in times)
    assert [asked[day] for day in quiet] == [1, 1, 1], "an empty day's feed costs one request"
    assert {request.path for request in server.requests} == {FEED_PATH}

    # The 503's Retry-After was waited out; the stale Wednesday cost 304s and was retried
    # until fresh; the truncated Thursday was not remembered: fetched again in full.
    statuses = [(dt.datetime.fromtimestamp(r.time, ET), r) for r in server.requests]
    tuesday_requests = [t for t, _ in statuses if t.date() == MONDAY + dt.timedelta(days=1)]
    assert tuesday_requests[1] - tuesday_requests[0] >= dt.timedelta(seconds=120)
    wednesday_polls = [
        (t.astimezone(ET).strftime("%H:%M"), p.attempt)
        for t, p in polls
        if t.astimezone(ET).date() == MONDAY + dt.timedelta(days=2)
    ]
    assert wednesday_polls == [("00:10", 0), ("00:25", 1), ("00:40", 2)]
    wednesday = [r for t, r in statuses if t.date() == MONDAY + dt.timedelta(days=2)]
    assert [r.headers.get("If-None-Match") for r in wednesday] == ['"2026-11-24"'] * 3
    thursday = [r for t, r in statuses if t.date() == MONDAY + dt.timedelta(days=3)]
    assert [r.headers.get("If-None-Match") for r in thursday] == ['"2026-11-25"'] * 2

    # Revisions and withdrawals updated the store without being pushed.
    revised = await store.get_paper(arxiv.week[MONDAY][0].arxiv_id)
    gone = await store.get_paper(arxiv.week[MONDAY][3].arxiv_id)
    old = await store.get_paper(OLD_STYLE)
    assert revised is not None
    assert gone is not None
    assert old is not None
    assert (revised.version, revised.title) == (2, "Diffusion planners, v2")
    assert (gone.version, gone.withdrawn) == (2, True)
    assert (old.version, old.url) == (3, "https://arxiv.org/abs/hep-th/0505137")
    assert revised.authors == (
        "Ada Lovelace (Univ. of London, UK)",
        "Émile Borel (ENS, Paris)",
        "Co",
    )

    # After the weekend and the holiday, Monday's digest names the announcement days since
    # Thursday's: Monday alone (Friday's feed was empty after Thanksgiving). In Tokyo, whose
    # mornings come before arXiv's midnight rebuild, Tuesday's digest names Monday's too.
    monday_digest = telegram.messages_to(101)[-1].plain_text
    assert "\nMon 30 Nov 2026 · " in monday_digest
    assert "\nMon 30 Nov 2026 · " in telegram.messages_to(102)[-1].plain_text
    assert "cross-list from math.ST" in telegram.messages_to(103)[0].plain_text
