"""Tests for bot.storage.digest_runs and the digest run transaction (bot.storage.deliveries)
on a real SQLite file: run numbers, reads after a chat's mark, inputs of many chats at once,
one transaction for many digests, and what clears a chat's mark."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.models import Chat, Paper
from bot.storage.digest_rows import (
    PART_HELD,
    PART_IDS,
    PART_IS_HELD,
    PART_NUMBER,
    PART_TEXT,
    ComposedDigest,
    encode_digests,
)
from bot.storage.digest_runs import PendingBatch, PendingRead
from bot.storage.index import FIELD_BITS
from bot.storage.store import Store
from tests.storage.test_index import START, Clock, index_all, paper

EIGHT = dt.time(8, 0)
TITLE = FIELD_BITS["title"]
ABSTRACT = FIELD_BITS["abstract"]
KEY = "diffusion"
WEEK_AGO = START - dt.timedelta(days=7)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
async def store(tmp_path: Path, clock: Clock) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "bot.sqlite3", clock=clock)
    yield store
    await store.close()


def column(path: Path, sql: str) -> list[object]:
    with closing(sqlite3.connect(path)) as db:
        return [row[0] for row in db.execute(sql)]


async def chat_following(store: Store, chat_id: int, *queries: str) -> Chat:
    await store.ensure_chat(chat_id, EIGHT, "UTC")
    await store.add_subscriptions(chat_id, [(query.lower(), query) for query in queries])
    chat = await store.get_chat(chat_id)
    assert chat is not None
    return chat


def matches_of(batch: PendingBatch) -> dict[int, list[tuple[str, str, int]]]:
    """The batch's pending matches as (arxiv id, query as typed, field mask) rows per chat."""
    return {
        chat_id: [(paper.arxiv_id, *match) for paper, found in papers for match in found]
        for chat_id, papers in batch.pending.items()
    }


def papers_of(batch: PendingBatch) -> dict[str, Paper]:
    """The papers pending for any of the batch's chats, by arxiv id."""
    return {paper.arxiv_id: paper for papers in batch.pending.values() for paper, _ in papers}


async def test_every_write_of_matches_takes_a_later_run(store: Store, tmp_path: Path) -> None:
    await store.add_papers([paper(1), paper(2)])
    await index_all(store, [(KEY, "2508.00001", TITLE)])
    await store.add_query_matches([KEY], [(KEY, "2508.00002", ABSTRACT)])
    await store.add_papers([paper(3)])
    await index_all(store, [(KEY, "2508.00003", TITLE)])
    runs = column(tmp_path / "bot.sqlite3", "SELECT run FROM query_matches ORDER BY arxiv_id")
    assert runs == [1, 2, 3]
    assert column(tmp_path / "bot.sqlite3", "SELECT last FROM match_runs") == [3]


async def test_a_read_after_a_run_sees_only_the_matches_written_since(store: Store) -> None:
    chat = await chat_following(store, 1, KEY)
    await store.add_papers([paper(1), paper(2)])
    await index_all(store, [(KEY, "2508.00001", TITLE)])
    first = await store.pending_for([PendingRead(chat, WEEK_AGO)])
    assert first.run == 1
    assert matches_of(first) == {1: [("2508.00001", KEY, TITLE)]}
    assert set(papers_of(first)) == {"2508.00001"}
    await store.add_papers([paper(3)])
    await index_all(store, [(KEY, "2508.00003", ABSTRACT)])
    later = await store.pending_for([PendingRead(chat, WEEK_AGO, after_run=first.run)])
    assert later.run == 2
    assert matches_of(later) == {1: [("2508.00003", KEY, ABSTRACT)]}
    whole = await store.pending_for([PendingRead(chat, WEEK_AGO)])
    assert sorted(matches_of(whole)[1]) == [
        ("2508.00001", KEY, TITLE),
        ("2508.00003", KEY, ABSTRACT),
    ]


async def test_many_chats_are_read_at_once_each_by_its_own_rules(store: Store) -> None:
    everything = await chat_following(store, 1, KEY)
    no_cross = dataclasses.replace(await chat_following(store, 2, KEY), want_cross=False)
    nothing = await chat_following(store, 3)
    await store.add_papers([paper(1), paper(2, announce_type="cross")])
    await index_all(store, [(KEY, "2508.00001", TITLE), (KEY, "2508.00002", TITLE)])
    await store.mark_delivered(1, ["2508.00001"])
    batch = await store.pending_for(
        [PendingRead(chat, WEEK_AGO) for chat in (everything, no_cross, nothing)]
    )
    assert matches_of(batch) == {
        1: [("2508.00002", KEY, TITLE)],
        2: [("2508.00001", KEY, TITLE)],
        3: [],
    }
    assert set(papers_of(batch)) == {"2508.00001", "2508.00002"}
    assert papers_of(batch)["2508.00002"] == paper(2, announce_type="cross")


async def test_inputs_of_many_chats_come_in_one_read(store: Store, clock: Clock) -> None:
    await chat_following(store, 1, "b", "a")
    clock.now += dt.timedelta(minutes=1)
    await store.add_subscriptions(1, [("c", "C")])
    await chat_following(store, 2)
    await store.set_language(2, "zh")
    digest_id = await store.compose_digest(2, [("text", ["2508.00001"])], visible=3)
    assert digest_id > 0
    found = await store.digest_inputs([1, 2, 404])
    assert set(found) == {1, 2}
    assert found[1].keywords == (("b", "b"), ("a", "a"), ("c", "C"))  # as typed, oldest first
    assert found[1].language is None
    assert found[1].last_composed is None
    assert (found[1].read_run, found[1].read_for) == (0, None)
    assert found[2].keywords == ()
    assert found[2].language == "zh"
    assert found[2].last_composed == clock.now
    assert found[2].last_through is None  # a digest that named no day
    assert found[2].chat == await store.get_chat(2)


async def test_inputs_carry_the_day_the_latest_digest_named(store: Store, clock: Clock) -> None:
    """A chat's inputs carry the last announcement day its latest digest named (a note
    that nothing matched, a digest of no papers, counts)."""
    await chat_following(store, 1)
    for day, papers in ((7, ["2508.00001"]), (8, []), (11, ["2508.00002"])):
        clock.now += dt.timedelta(days=1)
        named = ComposedDigest(1, [("text", papers)], through=dt.date(2024, 3, day))
        await store.compose_digests([named], visible=3)
    inputs = (await store.digest_inputs([1]))[1]
    assert inputs.last_through == dt.date(2024, 3, 11)
    assert inputs.last_composed == clock.now
    clock.now += dt.timedelta(days=1)
    await store.compose_digests([ComposedDigest(1, [("note", [])], through=None)], visible=3)
    assert (await store.digest_inputs([1]))[1].last_through is None


async def test_one_transaction_queues_every_digest_and_records_every_run(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    for chat_id in (1, 2, 3):
        await chat_following(store, chat_id, KEY)
    await store.add_papers([paper(1), paper(2, version=3)])
    daily = START + dt.timedelta(hours=2)
    ids = await store.compose_digests(
        [
            ComposedDigest(1, [("one", ["2508.00001"]), ("two", ["2508.00002"])], (7, "f1")),
            ComposedDigest(2, [], (7, "f2"), daily_at=daily),  # nothing pending: only its run
            ComposedDigest(3, [("three", ["2508.00002"])], None, daily_at=daily),
        ],
        visible=1,
    )
    assert set(ids) == {1, 3}
    path = tmp_path / "bot.sqlite3"
    assert column(path, "SELECT chat_id FROM digests ORDER BY digest_id") == [1, 3]
    assert column(path, "SELECT status FROM outbox ORDER BY digest_id, part_no") == [
        "pending",
        "held",
        "pending",
    ]
    assert await store.delivered_ids(1) == {"2508.00001", "2508.00002"}
    assert column(path, "SELECT version FROM deliveries WHERE chat_id = 3") == [3]
    assert column(path, "SELECT read_run || read_for FROM chats WHERE read_for IS NOT NULL") == [
        "7f1",
        "7f2",
    ]
    for chat_id, last in ((1, START), (2, daily), (3, daily)):
        chat = await store.get_chat(chat_id)
        assert chat is not None
        assert chat.last_digest_at == last
    assert await store.last_digest_parts(1) == [("one", None), ("two", None)]


# Message text as it comes: HTML, quotes, backslashes, line breaks, CJK, and characters beyond
# the BMP (mathematical letters from titles' LaTeX, emoji), and a NUL.
TRICKY_TEXTS = [
    '<b>\U0001d4aa(n log n)</b> "quoted" \\ back\nslash\n中文摘要 \U0001f642',
    "",
    "\u2028\u2029\x7f tab\t end",
    "before\x00after",
]


async def test_message_text_is_stored_exactly(store: Store) -> None:
    """The parts' text goes to SQLite as UTF-8 and comes back character for character."""
    for chat_id in range(1, len(TRICKY_TEXTS) + 1):
        await chat_following(store, chat_id, KEY)
    await store.add_papers([paper(1)])
    await store.compose_digests(
        [
            ComposedDigest(chat_id, [(text, ["2508.00001"]), ("more", ["2508.00001"])])
            for chat_id, text in enumerate(TRICKY_TEXTS, 1)
        ],
        visible=2,
    )
    for chat_id, text in enumerate(TRICKY_TEXTS, 1):
        assert await store.last_digest_parts(chat_id) == [(text, None), ("more", None)]


# Any text that can be written as UTF-8 (a lone surrogate cannot), NUL and line separators
# included: the texts go beside the JSON, not in it.
SENDABLE = st.characters(exclude_categories=["Cs"])


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(SENDABLE), min_size=1, max_size=4),
    held=st.text(SENDABLE, max_size=20),
)
def test_encoded_parts_read_back_in_sqlite_as_they_were(texts: list[str], held: str) -> None:
    """What the transaction reads of encode_digests's parts (the columns it inserts, over the
    JSON rows and the UTF-8 texts) is each part's number, text, ids and held recipe."""
    digest = ComposedDigest(
        7, [(text, ["2508.00001", "2508.00002"]) for text in texts], held=[(held, ["x"])]
    )
    rows = encode_digests([digest], visible=len(texts))
    with closing(sqlite3.connect(":memory:")) as db:
        read = db.execute(
            f"SELECT {PART_NUMBER}, {PART_TEXT}, {PART_IDS}, {PART_HELD}, {PART_IS_HELD}"
            " FROM json_each(?1) AS p",
            (rows.parts, rows.texts),
        ).fetchall()
    expected = [
        (n, text, '["2508.00001","2508.00002"]', None, 0) for n, text in enumerate(texts, 1)
    ]
    assert read == [*expected, (len(texts) + 1, "", '["x"]', held, 1)]


async def test_a_failing_digest_run_records_nothing_for_any_chat(
    store: Store, tmp_path: Path
) -> None:
    for chat_id in (1, 2):
        await chat_following(store, chat_id, KEY)
    await store.add_papers([paper(1)])
    path = tmp_path / "bot.sqlite3"
    with closing(sqlite3.connect(path)) as db:  # the disk fills up at chat 2's part
        db.execute(
            "CREATE TRIGGER full_disk BEFORE INSERT ON outbox WHEN NEW.chat_id = 2"
            " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
        db.commit()
    runs = [
        ComposedDigest(1, [("one", ["2508.00001"])], (5, "f"), daily_at=START),
        ComposedDigest(2, [("two", ["2508.00001"])], (5, "f"), daily_at=START),
    ]
    with pytest.raises(sqlite3.DatabaseError, match="full"):
        await store.compose_digests(runs, visible=3)
    assert column(path, "SELECT COUNT(*) FROM digests") == [0]
    assert column(path, "SELECT COUNT(*) FROM outbox") == [0]
    assert column(path, "SELECT COUNT(*) FROM deliveries") == [0]
    assert column(path, "SELECT COUNT(*) FROM chats WHERE read_run > 0") == [0]


async def test_one_run_per_chat_at_a_time(store: Store) -> None:
    await chat_following(store, 1, KEY)
    with pytest.raises(ValueError, match="one digest run per chat"):
        await store.compose_digests(
            [ComposedDigest(1, [("a", ["x"])]), ComposedDigest(1, [("b", ["y"])])], visible=3
        )


@pytest.mark.parametrize("how", ["dropped", "refused"])
async def test_papers_that_leave_the_ledger_clear_the_chats_mark(
    store: Store, tmp_path: Path, how: str
) -> None:
    """Parts that never went out take their papers out of the ledger: matches the chat's
    digest read already are pending again, so its next digest must read them all."""
    await chat_following(store, 1, KEY)
    await chat_following(store, 2, KEY)
    await store.add_papers([paper(1)])
    await store.compose_digests(
        [
            ComposedDigest(1, [("one", ["2508.00001"])], (4, "f")),
            ComposedDigest(2, [("two", ["2508.00001"])], (4, "f")),
        ],
        visible=3,
    )
    if how == "dropped":
        await store.drop_pending_parts(1)
    else:
        await store.end_parts(await store.pending_parts(1), "refused")
    marks = column(tmp_path / "bot.sqlite3", "SELECT read_run FROM chats ORDER BY chat_id")
    assert marks == [0, 4]
    assert await store.delivered_ids(1) == set()


async def test_a_read_holds_every_paper_it_names_however_few_are_kept_between_reads(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Papers decoded once are kept by index row for later reads, at most so many; a read that
    needs more than that, or that needs papers kept long ago, still gets every one of them."""
    monkeypatch.setattr("bot.storage.digest_runs._KEPT_PAPERS", 2)
    chat = await chat_following(store, 1, KEY)
    await store.add_papers([paper(n) for n in range(1, 6)])
    await index_all(store, [(KEY, f"2508.{n:05d}", TITLE) for n in range(1, 6)])
    for _ in range(3):
        batch = await store.pending_for([PendingRead(chat, WEEK_AGO)])
        assert sorted(arxiv_id for arxiv_id, _, _ in matches_of(batch)[1]) == [
            f"2508.{n:05d}" for n in range(1, 6)
        ]
        assert set(papers_of(batch)) == {f"2508.{n:05d}" for n in range(1, 6)}
        assert papers_of(batch)["2508.00003"] == paper(3)
    await store.add_papers([paper(6)])
    await index_all(store, [(KEY, "2508.00006", TITLE)])
    batch = await store.pending_for([PendingRead(chat, WEEK_AGO)])
    assert len(matches_of(batch)[1]) == 6
    assert len(papers_of(batch)) == 6


def test_a_read_naming_a_paper_it_did_not_read_is_refused_whole() -> None:
    """The matches and the papers are read together: a row whose paper is missing is a broken
    invariant, raised when the batch is decoded, never a match dropped in silence."""
    # chat, index row, queries matching, then each one's row and fields
    rows = "[1,5,1,70,1, 2,6,2,80,1,81,2]"
    queries = '[[1,70,"gan",1],[2,80,"GAN",2],[2,81,"diffusion",1]]'  # chat, row, query, place
    batch = PendingBatch(3, [1, 2], [(rows, queries)], {5: paper(1)})
    with pytest.raises(LookupError, match=r"index row 6"):
        batch.decode()
    whole = PendingBatch(3, [1, 2, 9], [(rows, queries)], {5: paper(1), 6: paper(2)})
    assert whole.pending == {
        1: [(paper(1), (("gan", 1),))],
        2: [(paper(2), (("diffusion", 2), ("GAN", 1)))],  # in the chat's order
        9: [],
    }
    assert papers_of(whole) == {"2508.00001": paper(1), "2508.00002": paper(2)}
