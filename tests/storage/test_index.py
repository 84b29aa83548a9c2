"""Tests for bot.storage.index on a real SQLite file: index rows by announcement day, texts
that change while they are indexed, pending matches, searches, pruning, completeness."""

from __future__ import annotations

import datetime as dt
import itertools
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import closing
from dataclasses import replace
from pathlib import Path

import pytest

from bot.matching.normalize import document
from bot.models import AllOf, AnyOf, Chat, Paper, SearchPlan, WordPattern
from bot.storage.index import FIELD_BITS
from bot.storage.search import STACK_BUDGET, fts_query
from bot.storage.store import Store

START = dt.datetime(2025, 8, 20, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
EIGHT = dt.time(8, 0)
TITLE = FIELD_BITS["title"]


class Clock:
    """The time the store stamps rows with; tests move it."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def paper(n: int, **changes: object) -> Paper:
    base = Paper(
        arxiv_id=f"2508.{n:05d}",
        title=f"Diffusion paper {n}",
        authors=("Ada Lovelace", "Jörg Müller"),
        abstract="We study diffusion.",
        categories=("cs.AI",),
        announced=START.date(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "bot.sqlite3", clock=clock)
    yield store
    await store.close()


def rows(store_path: Path, sql: str) -> list[tuple[object, ...]]:
    """What a second connection reads from the database file (committed rows only)."""
    with closing(sqlite3.connect(store_path)) as db:
        return list(db.execute(sql))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "bot.sqlite3"


async def index_all(store: Store, matches: Sequence[tuple[str, str, int]] = ()) -> int:
    """Index every unindexed paper as the pipeline does (without matching), storing `matches`."""
    batch = await store.unindexed_papers(START, 10_000)
    return await store.save_index([(item, document(item.paper)) for item in batch], matches)


async def ids_newest_first(
    store: Store, plan: SearchPlan | None = None, **bounds: int
) -> list[str]:
    return [item.paper.arxiv_id for item in await store.search_papers(plan, **bounds)]


# --- index rows ---------------------------------------------------------------------------------


async def test_rows_follow_the_announcement_day_whatever_order_papers_are_indexed_in(
    store: Store, clock: Clock
) -> None:
    """Papers indexed out of order (the newest day first, an older day last) are found
    newest day first; within a day, those indexed later after those indexed earlier."""
    days = [START.date() + n * DAY for n in range(3)]
    await store.add_papers([paper(30, announced=days[2]), paper(31, announced=days[2])])
    assert await index_all(store) == 2
    await store.add_papers([paper(10, announced=days[0])])
    assert await index_all(store) == 1
    await store.add_papers([paper(21, announced=days[1]), paper(20, announced=days[1])])
    assert await index_all(store) == 2
    await store.add_papers([paper(11, announced=days[0])])
    assert await index_all(store) == 1
    assert await ids_newest_first(store) == [
        "2508.00031",
        "2508.00030",
        "2508.00021",
        "2508.00020",
        "2508.00011",
        "2508.00010",
    ]
    middle = await store.search_papers(None)
    low, high = middle[3].seq, middle[1].seq  # [low, high): the second day's two papers
    assert await ids_newest_first(store, low=low, high=high) == ["2508.00021", "2508.00020"]
    assert await ids_newest_first(store, limit=2) == ["2508.00031", "2508.00030"]


async def test_a_paper_without_a_trustworthy_date_is_filed_under_the_day_it_was_stored(
    store: Store, clock: Clock
) -> None:
    """A paper is indexed under the day it was stored, or its announcement day when that is
    later by at most a week: never before the day it came, so that the papers a digest may
    still carry are all in the rows of the lookback window."""
    clock.now = START + 10 * DAY
    await store.add_papers(
        [
            paper(1, announced=None),
            paper(2, announced=dt.date(2019, 1, 1)),
            paper(3, announced=START.date() + 8 * DAY),
            paper(4, announced=START.date() + 30 * DAY),
            paper(5, announced=START.date() + 12 * DAY),
        ]
    )
    days = {item.paper.arxiv_id: item.day for item in await store.unindexed_papers(START, 10)}
    stored = (START + 10 * DAY).date()
    assert days == {
        "2508.00001": stored,
        "2508.00002": stored,
        "2508.00003": stored,
        "2508.00004": stored,
        "2508.00005": START.date() + 12 * DAY,
    }


async def test_unindexed_papers_come_most_recently_stored_first_marked_recent(
    store: Store, clock: Clock
) -> None:
    """After an upgrade, papers that may still be pending are indexed first; `recent` says
    which were stored or revised since the time asked about."""
    for n in range(4):
        clock.now = START + n * DAY
        await store.add_papers([paper(n)])
    clock.now = START + 5 * DAY
    await store.add_papers([paper(0, version=2, announce_type="replace", title="Revised")])
    found = await store.unindexed_papers(START + 2 * DAY, 3)
    assert [(item.paper.arxiv_id, item.recent) for item in found] == [
        ("2508.00000", True),
        ("2508.00003", True),
        ("2508.00002", True),
    ]
    rest = await store.unindexed_papers(START + 2 * DAY, 10)
    assert [(item.paper.arxiv_id, item.recent) for item in rest][3:] == [("2508.00001", False)]


async def test_first_seq_since_is_the_lowest_row_of_recent_papers(
    store: Store, clock: Clock
) -> None:
    """The rows of papers stored or revised since a time start at first_seq_since: a revised
    old paper moves to the rows of the day it was revised."""
    assert await store.first_seq_since(START) is None
    await store.add_papers([paper(1)])
    clock.now = START + 3 * DAY
    await store.add_papers([paper(2, announced=(START + 3 * DAY).date())])
    await index_all(store)
    rows_by_id = {item.paper.arxiv_id: item.seq for item in await store.search_papers(None)}
    assert await store.first_seq_since(START + 2 * DAY) == rows_by_id["2508.00002"]
    await store.add_papers([paper(1, version=2, announce_type="replace")])
    await index_all(store)
    revised = {item.paper.arxiv_id: item.seq for item in await store.search_papers(None)}
    assert revised["2508.00001"] > revised["2508.00002"]
    assert await store.first_seq_since(START + 2 * DAY) == revised["2508.00002"]


# --- texts that change --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2, "announce_type": "replace", "title": "A new title"},
        {"version": 2, "announce_type": "replace"},  # a new version, the same text
        {"abstract": "We study diffusion, mended."},  # the same version, its text repaired
    ],
)
async def test_a_paper_changed_while_it_was_indexed_is_left_for_the_next_run(
    store: Store, change: dict[str, object]
) -> None:
    """save_index skips a paper whose stored version or text changed after it was read, with
    its matches; the next run indexes what is stored now."""
    await store.add_papers([paper(1), paper(2)])
    read = await store.unindexed_papers(START, 10)
    await store.add_papers([paper(1, **change)])  # meanwhile, a poll stores a change
    matches = [("k", "2508.00001", TITLE), ("k", "2508.00002", TITLE)]
    saved = await store.save_index([(item, document(item.paper)) for item in read], matches)
    assert saved == 1
    assert await ids_newest_first(store) == ["2508.00002"]
    (left,) = await store.unindexed_papers(START, 10)
    assert left.paper == await store.get_paper("2508.00001")
    assert await matched_ids(store, "k") == ["2508.00002"]
    assert await index_all(store) == 1
    assert not await store.has_unindexed()


async def test_a_paper_indexed_meanwhile_is_not_indexed_twice(store: Store, db_path: Path) -> None:
    """save_index of papers another run indexed since they were read changes nothing: one
    row each in paper_words, their first matches kept."""
    await store.add_papers([paper(1)])
    read = await store.unindexed_papers(START, 10)
    pairs = [(item, document(item.paper)) for item in read]
    assert await store.save_index(pairs, [("a", "2508.00001", TITLE)]) == 1
    first = await store.search_papers(None)
    assert await store.save_index(pairs, [("b", "2508.00001", TITLE)]) == 0
    assert await store.search_papers(None) == first
    assert rows(db_path, "SELECT COUNT(*) FROM paper_words") == [(1,)]
    assert rows(db_path, "SELECT query_key FROM query_matches") == [("a",)]


async def matched_ids(store: Store, key: str, since: dt.datetime = START - DAY) -> list[str]:
    """The papers the query `key` is stored as matching, seen by a chat following it."""
    chat_id = 999
    await store.ensure_chat(chat_id, EIGHT, "UTC")
    await store.add_subscriptions(chat_id, [(key, key)])
    chat = await store.toggle_announcements(chat_id, "revisions")
    assert chat is not None
    found = await store.pending_matches(chat, since)
    await store.remove_all_subscriptions(chat_id)
    await store.toggle_announcements(chat_id, "revisions")
    return sorted(p.arxiv_id for p, _ in found)


@pytest.mark.parametrize(
    ("change", "unindexed"),
    [
        ({"version": 2, "announce_type": "replace", "title": "A new title"}, True),
        ({"version": 2, "announce_type": "replace-cross", "categories": ("cs.CV",)}, True),
        ({"abstract": "Mended."}, True),  # a repair of the same version
        ({}, False),  # the same version and text again: nothing to do
        ({"version": 1, "title": "Lower\ufffd"}, False),  # a garbled copy repairs nothing
    ],
)
async def test_a_new_version_or_a_repair_takes_the_paper_out_of_the_index(
    store: Store, db_path: Path, change: dict[str, object], unindexed: bool
) -> None:
    """add_papers with a higher version or a repaired text unindexes the paper (its row in
    paper_words and its matches go); the same text again changes nothing."""
    await store.add_papers([paper(1), paper(2)])
    await index_all(store, [("k", "2508.00001", TITLE), ("k", "2508.00002", TITLE)])
    await store.add_papers([paper(1, **change)])
    assert await store.has_unindexed() is unindexed
    expected = ["2508.00002"] if unindexed else ["2508.00001", "2508.00002"]
    assert sorted(await ids_newest_first(store)) == expected
    assert await matched_ids(store, "k") == expected
    assert rows(db_path, "SELECT COUNT(*) FROM paper_words") == [(len(expected),)]


# --- pending matches ----------------------------------------------------------------------------

# Papers in every state a digest distinguishes; each is matched by the query "k".
STATES = {
    "new": paper(1),
    "cross": paper(2, announce_type="cross"),
    "withdrawn": paper(3, withdrawn=True),
    "old": paper(4),  # stored before the window
    "revised": paper(5),  # stored before the window, a v2 in it
    "revised-withdrawn": paper(6),  # a v2 in the window withdraws it
    "cross-revised": paper(7, announce_type="cross"),  # a cross-list, replaced the same day
    "first-seen-as-replace": paper(8, version=3, announce_type="replace"),
    "replace-cross": paper(9, announce_type="cross"),  # replace-cross v2 in the window
}
WINDOW = START + 3 * DAY


# Which papers chats received: nothing; every one; some of them.
DELIVERIES: dict[str, list[str]] = {
    "none": [],
    "all": [p.arxiv_id for p in STATES.values()],
    "some": [STATES[k].arxiv_id for k in ("new", "revised", "revised-withdrawn", "cross")],
}
FLAGS = list(itertools.product([False, True], repeat=3))  # want new, cross, revisions


@pytest.mark.parametrize("delivered", sorted(DELIVERIES))
@pytest.mark.parametrize("received", ["first versions", "last versions"])
async def test_pending_matches_are_the_undelivered_papers_a_chat_wants(
    store: Store, clock: Clock, delivered: str, received: str
) -> None:
    """For every choice of new papers, cross-lists and revisions, and what the chat received
    (which papers, which versions): the chat's pending matches are exactly its
    `undelivered_papers` that its queries match, with the chat's queries as typed."""
    chats = [100 + number for number in range(len(FLAGS))]
    for chat_id, flags in zip(chats, FLAGS, strict=True):
        await store.ensure_chat(chat_id, EIGHT, "UTC")
        for setting, wanted, default in zip(
            ("new", "cross", "revisions"), flags, (True, True, False), strict=True
        ):
            if wanted != default:
                await store.toggle_announcements(chat_id, setting)
        await store.add_subscriptions(chat_id, [("other", "Other"), ("k", "K typed")])
    await store.add_papers([STATES[k] for k in ("old", "revised", "revised-withdrawn")])
    await store.add_papers([STATES["replace-cross"]])
    clock.now = WINDOW + DAY
    await store.add_papers(
        [STATES[k] for k in ("new", "cross", "withdrawn", "cross-revised", "first-seen-as-replace")]
    )
    if received == "first versions":
        for chat_id in chats:
            await store.mark_delivered(chat_id, DELIVERIES[delivered])
    await store.add_papers(
        [
            replace(STATES["revised"], version=2, announce_type="replace"),
            replace(
                STATES["revised-withdrawn"], version=2, announce_type="replace", withdrawn=True
            ),
            replace(STATES["cross-revised"], version=2, announce_type="replace-cross"),
            replace(STATES["replace-cross"], version=2, announce_type="replace-cross"),
        ]
    )
    if received == "last versions":
        for chat_id in chats:
            await store.mark_delivered(chat_id, DELIVERIES[delivered])
    await index_all(store, [("k", p.arxiv_id, TITLE) for p in STATES.values()])
    seen = set()
    for chat_id in chats:
        chat = await store.get_chat(chat_id)
        assert chat is not None
        pending = await store.pending_matches(chat, WINDOW)
        expected = await store.undelivered_papers(chat, WINDOW)
        assert {p.arxiv_id: p for p, _ in pending} == {p.arxiv_id: p for p in expected}, chat
        assert len(pending) == len(expected)
        assert all(queries == [("K typed", TITLE)] for _, queries in pending)
        seen.add(frozenset(p.arxiv_id for p in expected))
    if delivered != "all":  # else at most the revisions are pending
        assert len(seen) > 2, "the chats' choices make a difference"


async def test_pending_matches_need_a_followed_query_and_the_window(
    store: Store, clock: Clock
) -> None:
    """A paper is pending only through a query the chat follows now, and only when stored or
    revised since `since`; several queries of the chat come in its order."""
    await store.add_papers([paper(1), paper(2)])
    await index_all(
        store, [("a", "2508.00001", TITLE), ("b", "2508.00001", 2), ("c", "2508.00002", 1)]
    )
    chat, _ = await store.ensure_chat(5, EIGHT, "UTC")
    await store.add_subscriptions(5, [("b", "B")])
    clock.now = START + dt.timedelta(seconds=1)
    await store.add_subscriptions(5, [("a", "A")])
    (found,) = await store.pending_matches(chat, START)
    assert (found[0].arxiv_id, found[1]) == ("2508.00001", [("B", 2), ("A", TITLE)])
    assert await store.pending_matches(chat, START + DAY) == []
    await store.remove_subscription(5, "b")
    await store.remove_subscription(5, "a")
    assert await store.pending_matches(chat, START) == []


# --- completeness of the queries' matches -------------------------------------------------------


async def test_a_query_nobody_follows_any_more_is_no_longer_complete(store: Store) -> None:
    """Queries matched over the window are complete; queries_to_match lists every followed
    query once (one text of it) and forgets the completeness of those nobody follows, so a
    query followed again is matched again."""
    for chat_id in (1, 2):
        await store.ensure_chat(chat_id, EIGHT, "UTC")
    await store.add_subscriptions(1, [("diffusion model", "Diffusion  models"), ("x", "x")])
    await store.add_subscriptions(2, [("diffusion model", "diffusion model")])
    assert sorted(await store.unmatched_queries()) == [
        ("diffusion model", "Diffusion  models"),
        ("x", "x"),
    ]
    assert await store.unmatched_queries(2) == [("diffusion model", "diffusion model")]
    await store.add_query_matches(["diffusion model", "x"], [])
    assert await store.unmatched_queries() == []
    await store.remove_subscription(1, "x")
    await store.add_subscriptions(1, [("x", "x")])  # nobody looked in between: still complete
    assert await store.unmatched_queries() == []
    await store.remove_subscription(1, "x")
    assert sorted(await store.queries_to_match()) == [("diffusion model", "Diffusion  models")]
    await store.add_subscriptions(2, [("x", "x")])
    assert await store.unmatched_queries() == [("x", "x")]
    assert await store.unmatched_queries(1) == []


async def test_matches_are_added_only_for_indexed_papers(store: Store) -> None:
    """add_query_matches stores matches of indexed papers; one of a paper taken out of the
    index meanwhile (a revision) is dropped, and the paper is matched when indexed again."""
    await store.add_papers([paper(1), paper(2)])
    await index_all(store)
    await store.add_papers([paper(2, version=2, announce_type="replace")])
    await store.add_query_matches(["k"], [("k", "2508.00001", TITLE), ("k", "2508.00002", TITLE)])
    assert await matched_ids(store, "k") == ["2508.00001"]


# --- searches -----------------------------------------------------------------------------------


def too_deep(levels: int) -> SearchPlan:
    """A plan nested deeper than FTS5's parser allows."""
    plan: SearchPlan = WordPattern(("title",), (), ("diffusion",))
    for n in range(levels):
        other = WordPattern(("abstract",), (), (f"w{n}",))
        plan = AnyOf((other, AllOf((other, plan)))) if n % 2 else AllOf((plan,), (other,))
    return plan


async def test_a_plan_too_deep_for_fts5_searches_every_paper_in_the_range(store: Store) -> None:
    """A plan FTS5 cannot parse makes every indexed paper in the range a candidate, newest
    first (the exact matcher then decides); a plan it can parse finds only its papers."""
    deep = too_deep(STACK_BUDGET)
    with pytest.raises(ValueError, match="too deeply"):
        fts_query(deep)
    await store.add_papers([paper(n, title="Other" if n % 2 else "Diffusion") for n in range(5)])
    await index_all(store)
    everything = await ids_newest_first(store)
    assert len(everything) == 5
    assert await ids_newest_first(store, deep) == everything
    assert await ids_newest_first(store, deep, limit=2) == everything[:2]
    plan = WordPattern(("title",), (), ("diffusion",))
    assert await ids_newest_first(store, plan) == [i for i in everything if int(i[-1]) % 2 == 0]


# --- pruning ------------------------------------------------------------------------------------


async def test_prune_papers_deletes_old_papers_with_their_rows_and_ledger(
    store: Store, clock: Clock, db_path: Path
) -> None:
    """Papers last stored or revised before the cutoff go, in batches, with their full-text
    rows and deliveries; recent ones (a revised old paper too) stay whole. Their matches went
    long before (prune_matches); any left are read by nobody (they name no stored text)."""
    await store.add_papers([paper(n) for n in range(5)])
    clock.now = START + 10 * DAY
    await store.add_papers([paper(10), paper(0, version=2, announce_type="replace")])
    await index_all(store, [("k", f"2508.{n:05d}", TITLE) for n in (0, 1, 2, 3, 4, 10)])
    await store.ensure_chat(1, EIGHT, "UTC")
    await store.mark_delivered(1, [f"2508.{n:05d}" for n in (0, 1, 2, 10)])
    assert await store.prune_papers(START + 5 * DAY, batch=2) == 4
    assert await store.prune_papers(START + 5 * DAY, batch=2) == 0
    kept = ["2508.00000", "2508.00010"]
    assert sorted(await ids_newest_first(store)) == kept
    assert await store.count_papers() == 2
    assert sorted(await store.delivered_ids(1)) == kept
    assert rows(db_path, "SELECT COUNT(*) FROM paper_words") == [(2,)]
    assert rows(
        db_path,
        "SELECT m.arxiv_id FROM query_matches m JOIN papers p"
        " ON p.arxiv_id = m.arxiv_id AND p.seq = m.seq ORDER BY m.arxiv_id",
    ) == [(arxiv_id,) for arxiv_id in kept]


async def test_prune_matches_forgets_only_the_matches_of_papers_of_earlier_days(
    store: Store, clock: Clock, db_path: Path
) -> None:
    """prune_matches(day) drops the matches of papers indexed under days before `day` (the
    announcement day), and keeps the papers and every other match."""
    for n in range(4):
        clock.now = START + n * DAY
        await store.add_papers([paper(n, announced=(START + n * DAY).date())])
    await index_all(store, [(key, f"2508.{n:05d}", TITLE) for n in range(4) for key in "ab"])
    assert await store.prune_matches((START + 2 * DAY).date()) == 4
    assert rows(db_path, "SELECT DISTINCT arxiv_id FROM query_matches ORDER BY arxiv_id") == [
        ("2508.00002",),
        ("2508.00003",),
    ]
    assert await store.count_papers() == 4
    assert not await store.has_unindexed()


async def test_pending_matches_of_a_chat_that_wants_nothing_new(store: Store) -> None:
    """A chat with new papers, cross-lists and revisions all off has nothing pending."""
    await store.add_papers([paper(1)])
    await index_all(store, [("k", "2508.00001", TITLE)])
    chat = Chat(5, EIGHT, "UTC", want_new=False, want_cross=False, want_revisions=False)
    await store.ensure_chat(5, EIGHT, "UTC")
    await store.add_subscriptions(5, [("k", "k")])
    assert await store.pending_matches(chat, START) == []
    assert await store.undelivered_papers(chat, START) == []


async def test_the_queries_followed_are_read_again_after_every_change(store: Store) -> None:
    """queries_to_match is remembered between indexing runs, but every change of the
    subscriptions (added, removed, a chat moved) shows in the next answer."""
    for chat_id in (1, 2):
        await store.ensure_chat(chat_id, EIGHT, "UTC")
    await store.add_subscriptions(1, [("gan", "GAN")])
    assert await store.queries_to_match() == [("gan", "GAN")]
    await store.add_subscriptions(2, [("diffusion", "diffusion")])
    assert sorted(await store.queries_to_match()) == [("diffusion", "diffusion"), ("gan", "GAN")]
    await store.remove_subscription(1, "gan")
    assert await store.queries_to_match() == [("diffusion", "diffusion")]
    await store.move_chat(2, 3)
    await store.add_subscriptions(3, [("x", "x")])
    assert sorted(await store.queries_to_match()) == [("diffusion", "diffusion"), ("x", "x")]
    await store.remove_all_subscriptions(3)
    assert await store.queries_to_match() == []
    # Nothing changed: the same answer, without reading the subscriptions again.
    await store._db.execute("DROP TABLE subscriptions")
    assert await store.queries_to_match() == []
