"""The upgrade to matching once per announcement: a database as the previous release left it
(migrations 1 to 8: no index, no stored matches) is migrated, indexed and matched at start-up,
and loses nothing that was pending."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import aiosqlite
import pytest

from bot.arxiv.categories import in_categories
from bot.config import Config
from bot.index import indexing
from bot.index.indexing import index_papers
from bot.index.search import latest_hits
from bot.matching.ranking import match_papers
from bot.models import Hit
from bot.pipeline.digests import pending_hits
from bot.services import Services
from bot.storage.base import timestamp
from bot.storage.migrations import MIGRATIONS
from bot.storage.store import utcnow
from bot.telegram.subscriptions import subscription_key
from tests.conftest import TOKEN, TRUNCATED_ATOM, StartBot, ids_in, pipeline
from tests.fakes import FeedServer
from tests.fakes.clock import FakeClock

LOOKBACK = dt.timedelta(days=7)
ATOM = "application/atom+xml"
# Chats as the old release kept them: (id, want_new, want_cross, want_revisions, categories,
# queries). 102 and 103 follow one subscription typed two ways.
CHATS = [
    (101, 1, 1, 0, None, ["diffusion", "au:turing"]),
    (102, 1, 1, 1, "cs.CV cs.AI", ["Diffusion  models"]),
    (103, 1, 0, 0, None, ["diffusion model", "zeppelin"]),
]


@dataclasses.dataclass(frozen=True)
class OldPaper:
    arxiv_id: str
    title: str
    categories: tuple[str, ...]
    age: dt.timedelta  # since it was first stored
    announce_type: str = "new"
    version: int = 1
    revised: dt.timedelta | None = None  # since its last version was stored
    withdrawn: bool = False
    authors: tuple[str, ...] = ("Jörg Müller",)  # stored as the old release wrote them
    first_type: str | None = None  # how it was first announced, when not announce_type


PAPERS = [
    # Pending for 101 (diffusion); not for 102 nor 103 (no "model").
    OldPaper("2507.90001", "Diffusion for agents", ("cs.AI",), dt.timedelta(days=1)),
    # Delivered to 101 already; pending for 102 and 103 (diffusion model).
    OldPaper("2507.90002", "Diffusion models of graphs", ("cs.AI",), dt.timedelta(days=2)),
    # Older than the lookback window: pending for nobody, found by /latest.
    OldPaper("2507.90003", "Zeppelin diffusion", ("cs.AI",), dt.timedelta(days=20)),
    # A cross-list: not for 103, which turned cross-lists off.
    OldPaper(
        "2507.90004", "Diffusion models in video", ("cs.CV", "cs.AI"), dt.timedelta(days=2), "cross"
    ),
    # Revised (v2) yesterday: pending as a revision for 102, which received v1 and wants
    # revisions; as new for 101 and 103, which never received it.
    OldPaper(
        "2507.90005",
        "Diffusion models for Turing machines",
        ("cs.AI",),
        dt.timedelta(days=3),
        "replace",
        version=2,
        revised=dt.timedelta(days=1),
        authors=("Alan Turing",),
        first_type="new",
    ),
    # Withdrawn: pending for nobody.
    OldPaper("2507.90006", "Diffusion withdrawn", ("cs.AI",), dt.timedelta(days=1), withdrawn=True),
    # In no chat's categories.
    OldPaper("2507.90007", "Diffusion in statistics", ("math.ST",), dt.timedelta(days=1)),
]
DELIVERED = [(101, "2507.90002", 1), (102, "2507.90005", 1), (103, "2507.90007", 1)]


async def old_database(path: Path, now: dt.datetime) -> None:
    """The database the previous release leaves: migrations 1 to 8 applied as Store._migrate
    applies them, and its chats, subscriptions, papers and ledger."""
    path.parent.mkdir(parents=True, exist_ok=True)
    async with aiosqlite.connect(path) as db:
        await db.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        for number, statements in enumerate(MIGRATIONS[:8], start=1):
            for statement in statements:
                await db.execute(statement)
            await db.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (number, timestamp(now - dt.timedelta(days=30))),
            )
        for chat_id, new, cross, revisions, categories, queries in CHATS:
            await db.execute(
                "INSERT INTO chats (chat_id, active, digest_time, timezone, created_at,"
                " last_digest_at, want_new, want_cross, want_revisions, categories)"
                " VALUES (?, 1, ?, 'UTC', ?, ?, ?, ?, ?, ?)",
                (
                    chat_id,
                    f"{now + dt.timedelta(hours=12):%H:%M}",  # no daily digest during a test
                    timestamp(now - dt.timedelta(days=30)),
                    timestamp(now),  # no digest owed: no catch-up at start
                    new,
                    cross,
                    revisions,
                    categories,
                ),
            )
            for offset, query in enumerate(queries):
                await db.execute(
                    "INSERT INTO subscriptions (chat_id, keyword_key, keyword, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    (
                        chat_id,
                        subscription_key(query),
                        query,
                        timestamp(now - dt.timedelta(days=10, microseconds=-offset)),
                    ),
                )
        for paper in PAPERS:
            first_seen = now - paper.age
            updated = now - paper.revised if paper.revised is not None else first_seen
            await db.execute(
                "INSERT INTO papers (arxiv_id, version, title, authors, abstract, categories,"
                " announce_type, announced, first_seen_at, updated_at, first_announce_type,"
                " withdrawn) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    paper.arxiv_id,
                    paper.version,
                    paper.title,
                    json.dumps(list(paper.authors), ensure_ascii=False),
                    "We study it.",
                    json.dumps(list(paper.categories)),
                    paper.announce_type,
                    first_seen.date().isoformat(),
                    timestamp(first_seen),
                    timestamp(updated),
                    paper.first_type or paper.announce_type,
                    int(paper.withdrawn),
                ),
            )
        await db.executemany(
            "INSERT INTO deliveries (chat_id, arxiv_id, delivered_at, version) VALUES (?, ?, ?, ?)",
            [(chat, arxiv_id, timestamp(now), version) for chat, arxiv_id, version in DELIVERED],
        )
        await db.commit()


async def reference(services: Services, chat_id: int, now: dt.datetime) -> list[Hit]:
    """The chat's digest as the previous release made it: its undelivered papers of the
    window in its categories, matched against its queries at digest time."""
    store = services.store
    chat = await store.get_chat(chat_id)
    assert chat is not None
    papers = await store.undelivered_papers(chat, now - LOOKBACK)
    return match_papers(
        in_categories(papers, services.categories_of(chat)), await store.subscriptions_for(chat_id)
    )


# What was pending before the upgrade, among the old papers, by chat.
PENDING = {
    101: {"2507.90001", "2507.90004", "2507.90005"},
    102: {"2507.90002", "2507.90004", "2507.90005"},
    103: {"2507.90002", "2507.90005"},
}


async def test_the_first_start_after_the_upgrade_loses_no_pending_paper(
    start_bot: StartBot, feeds: FeedServer, tmp_path: Path
) -> None:
    """The real start-up on an old database: migration 9 applies, every stored paper (and the
    start-up poll's) is indexed; each chat's /digest carries what was pending, exactly as the
    old matching at digest time computes it, and no delivered paper; /latest finds old papers."""
    path = tmp_path / "old" / "bot.sqlite3"
    await old_database(path, utcnow())
    # The feed of the chats' categories: the real cs.AI feed of 20 August 2025.
    feeds.set_response("/atom/cs.AI+cs.CV", TRUNCATED_ATOM.read_bytes(), content_type=ATOM)
    async with start_bot(database_path=path) as bot:
        await bot.wait_for_papers(len(PAPERS) + 86)  # and the start-up poll's real feed
        store = bot.services.store
        assert await store.schema_version() == len(MIGRATIONS)
        assert not await store.has_unindexed()
        for chat_id, *_ in CHATS:
            expected = await reference(bot.services, chat_id, utcnow())
            old = {hit.paper.arxiv_id for hit in expected} & {p.arxiv_id for p in PAPERS}
            assert old == PENDING[chat_id], chat_id
            assert await pending_hits(bot.services, chat_id) == expected
            await bot.ask("/digest", chat_id=chat_id)
            digest = ids_in(await bot.press_more(chat_id))
            assert digest == [hit.paper.arxiv_id for hit in expected], chat_id
        (answer,) = await bot.ask("/latest zeppelin", chat_id=101)
        assert ids_in([answer]) == ["2507.90003"]
        assert bot.telegram.violations == []


async def test_indexing_an_old_database_in_batches_matches_what_can_be_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Indexing after the upgrade, a few papers at a time, most recently stored first: every
    paper is indexed and searchable, each chat's pending hits equal the old reference."""
    monkeypatch.setattr(indexing, "BATCH", 2)
    now = dt.datetime(2025, 8, 20, 12, 0, tzinfo=dt.UTC)
    path = tmp_path / "bot.sqlite3"
    await old_database(path, now)
    config = Config(bot_token=TOKEN, database_path=path, arxiv_categories=("cs.AI",))
    async with pipeline(config, FakeClock(now.timestamp())) as services:
        store = services.store
        assert await store.has_unindexed()
        run = await index_papers(services, now)
        assert (run.indexed, run.matched) == (len(PAPERS), len(PAPERS) - 1)  # not the old one
        assert not await store.has_unindexed()
        for chat_id, *_ in CHATS:
            expected = await reference(services, chat_id, now)
            assert {hit.paper.arxiv_id for hit in expected} == PENDING[chat_id]
            assert await pending_hits(services, chat_id, now) == expected
        everything = await latest_hits(services, ["diffusion OR turing"], ("cs", "math"), 20)
        assert sorted(hit.paper.arxiv_id for hit in everything) == sorted(
            p.arxiv_id for p in PAPERS
        )
