"""Tests for bot.index.search through the bot: /latest and /export search the full-text index,
and answer exactly what scanning every stored paper with the exact matcher answers."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from bot.arxiv.categories import in_categories
from bot.arxiv.feeds import parse_feed
from bot.config import Config
from bot.delivery.markdown import render_markdown
from bot.index.search import latest_hits, match_new_queries
from bot.matching.ranking import match_papers
from bot.models import Hit, Paper
from bot.storage import search as storage_search
from bot.storage.store import Store, utcnow
from bot.telegram.subscriptions import subscription_key
from tests.conftest import TRUNCATED_ATOM, USER, BotUnderTest, ids_in

DAY_ONE = parse_feed(TRUNCATED_ATOM.read_bytes()).papers  # what the bot fixture stores
CHOSEN = ("cs.AI",)  # the test configuration's categories
# The deepest nesting the query language allows (8 levels), negations at every level.
DEEPEST = (
    "language (planning OR -(memory OR -(policy OR -(vision OR -(graph* OR -(benchmark"
    " OR -(agent* OR -(reasoning OR -learning))))))))"
)
QUERIES = [
    '"large language model"',  # a phrase
    "agent*",  # a prefix
    "diffusion -video",  # a negation
    "llm* -agent",
    '"language model" -(reasoning OR agent*)',
    "au:wang",  # an author
    'au:"Yang"',
    "cat:cs.CL",  # a category
    "cat:cs.* -cat:cs.LG",
    "ti:(agent OR agents) -cat:cs.CL",
    "learning OR planning",
    "reason* benchmark*",
    DEEPEST,
]


def earlier_days() -> list[Paper]:
    """Copies of the real feed's papers announced in the last nine days (today's feed is
    2025's, stored today), some in a category the chat does not read, some withdrawn."""
    today = utcnow().date()
    papers = []
    for n, paper in enumerate(DAY_ONE[:70]):
        papers.append(
            dataclasses.replace(
                paper,
                arxiv_id=f"2512.{n:05d}",
                announced=today - dt.timedelta(days=n % 9),
                categories=paper.categories if n % 4 else ("math.ST",),
                withdrawn=n % 13 == 5,
            )
        )
    return papers


async def stored(store: Store) -> list[Paper]:
    return [paper async for batch in store.papers_newest_first() for paper in batch]


def naive_latest(papers: list[Paper], queries: list[str], count: int) -> list[str]:
    """What /latest showed before the index for a store this small (one batch): every stored
    paper in the chat's categories matched, ranked, the first `count`."""
    return [hit.paper.arxiv_id for hit in match_papers(in_categories(papers, CHOSEN), queries)][
        :count
    ]


@pytest.fixture
async def searched(bot: BotUnderTest) -> BotUnderTest:
    """The bot with the real feed's papers and earlier days' papers stored (not indexed yet:
    the first search indexes them)."""
    await bot.services.store.add_papers(earlier_days())
    return bot


async def test_latest_finds_what_scanning_every_paper_finds(searched: BotUnderTest) -> None:
    """/latest <query> for phrases, prefixes, negations, authors, categories and the deepest
    query allowed shows the papers, in the order, of the exact matcher over every stored paper
    in the chat's categories."""
    papers = await stored(searched.services.store)
    assert len(papers) == 86 + 70
    for query in QUERIES:
        expected = naive_latest(papers, [query], 5)
        assert expected, query
        count = len(searched.telegram.messages_to(USER))
        await searched.ask(f"/latest {query}")
        assert ids_in((await searched.settle())[count:]) == expected, query
    assert not await searched.services.store.has_unindexed()
    assert searched.telegram.violations == []


async def test_latest_of_the_subscriptions_finds_what_scanning_finds(
    searched: BotUnderTest,
) -> None:
    """/latest 20 over several subscriptions: the same papers, in the same order, as the exact
    matcher over every stored paper, with every query that matched each."""
    queries = ["diffusion -video", "au:wang", "cat:cs.CL", "agent*"]
    await searched.ask("/subscribe " + ", ".join(queries))
    papers = await stored(searched.services.store)
    expected = match_papers(in_categories(papers, CHOSEN), queries)[:20]
    count = len(searched.telegram.messages_to(USER))
    await searched.ask("/latest 20", replies=2)
    assert ids_in((await searched.settle())[count:]) == [hit.paper.arxiv_id for hit in expected]
    found = await latest_hits(searched.services, queries, CHOSEN, 20)
    assert found == expected


async def test_latest_reads_further_rounds_when_the_newest_candidates_are_elsewhere(
    searched: BotUnderTest,
) -> None:
    """More than a round of newer candidates in a category the chat does not read: /latest
    goes on to older ones and still shows what scanning every paper shows."""
    today = utcnow().date()
    elsewhere = [
        Paper(
            arxiv_id=f"2512.9{n:04d}",
            title=f"Diffusion elsewhere {n}",
            authors=("Ada Lovelace",),
            abstract="We study diffusion.",
            categories=("cs.CV",),
            announced=today,
        )
        for n in range(260)
    ]
    await searched.services.store.add_papers(elsewhere)
    papers = await stored(searched.services.store)
    expected = naive_latest(papers, ["diffusion"], 20)
    assert expected
    found = await latest_hits(searched.services, ["diffusion"], CHOSEN, 20)
    assert [hit.paper.arxiv_id for hit in found] == expected


async def test_latest_answers_alike_when_fts5_cannot_take_the_plan(
    searched: BotUnderTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With every plan refused as too deep for FTS5's parser, searches fall back to every
    stored paper as a candidate, and answer the same."""
    monkeypatch.setattr(storage_search, "STACK_BUDGET", -1)
    papers = await stored(searched.services.store)
    for query in QUERIES:
        found = await latest_hits(searched.services, [query], CHOSEN, 5)
        assert [hit.paper.arxiv_id for hit in found] == naive_latest(papers, [query], 5), query


async def test_export_has_what_scanning_the_period_finds(searched: BotUnderTest) -> None:
    """/export and /export 3: the document holds exactly the papers announced in the period,
    in the chat's categories, not withdrawn, that the exact matcher finds, delivered or not."""
    queries = ["agent*", "diffusion -video", "cat:cs.CL"]
    await searched.ask("/subscribe " + ", ".join(queries))
    store = searched.services.store
    await store.mark_delivered(USER, [p.arxiv_id for p in earlier_days()[:10]])
    today = utcnow().date()
    for days in (7, 3):
        first = today - dt.timedelta(days=days - 1)
        period = await store.papers_announced_between(first, today)
        expected: list[Hit] = match_papers(in_categories(period, CHOSEN), queries)
        assert len(expected) >= 3
        documents = len(searched.telegram.documents_to(USER))
        searched.telegram.user_sends(USER, f"/export {days}")
        document = (await searched.telegram.wait_for_documents(USER, documents + 1))[-1]
        assert document.content.decode("utf-8") == render_markdown(
            [hit.paper for hit in expected], first=first, last=today, topic=", ".join(queries)
        )
        assert document.caption == f"{len(expected)} papers, {first} to {today}"


async def test_the_subscribe_preview_finds_what_scanning_the_last_week_finds(
    searched: BotUnderTest, config: Config
) -> None:
    """The preview of new queries (matched once over the window, as /subscribe does) shows,
    per query, the papers first stored in the last week, in the chat's categories, that the
    exact matcher finds, ranked; papers stored eight days ago are left out of it."""
    now = utcnow()
    store = await Store.open(config.database_path, clock=lambda: now - dt.timedelta(days=8))
    try:
        await store.add_papers(
            [dataclasses.replace(p, arxiv_id=f"2511.{n:05d}") for n, p in enumerate(DAY_ONE)]
        )
    finally:
        await store.close()
    since = now - dt.timedelta(days=7)
    week = in_categories(await searched.services.store.recent_papers(since), CHOSEN)
    assert len(week) < len(await stored(searched.services.store))
    queries = [(subscription_key(query), query) for query in QUERIES]
    preview = await match_new_queries(searched.services, queries, CHOSEN, since)
    assert preview.papers == len(week)
    for _, query in queries:
        assert preview.hits[query] == match_papers(week, [query]), query
