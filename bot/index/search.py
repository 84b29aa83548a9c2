"""Searches of the stored papers: the full-text index finds the candidates, newest first, and
the exact matcher checks them on their stored normal form (nothing is normalised again).

`latest_hits` serves /latest, `announced_hits` /export, `match_new_queries` a /subscribe: its
queries are matched against the lookback window once (the matches a digest reads), and the
same matches give the preview.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from bot.arxiv.categories import covers
from bot.index.indexing import QueryMatcher, ensure_indexed, matching_since
from bot.matching.parser import parse_query
from bot.matching.query import Query, QueryError
from bot.matching.ranking import hit_of, match_documents, rank
from bot.matching.search_plan import search_plan_any
from bot.models import Hit, SearchPlan
from bot.services import Services
from bot.storage.index import StoredPaper, day_seqs, mask_fields
from bot.storage.store import Store, utcnow

FIRST_CHUNK = 200  # candidates checked first by /latest; then four times more each round
MAX_CHUNK = 5_000


def plan_for(queries: Sequence[str]) -> SearchPlan | None:
    """What finds every paper one of the queries may match (None: every paper); queries that
    do not parse match nothing and are left out."""
    parsed: list[Query] = []
    for text in queries:
        try:
            parsed.append(parse_query(text))
        except QueryError:
            continue
    return search_plan_any(parsed) if parsed else None


async def latest_hits(
    services: Services, queries: Sequence[str], categories: Sequence[str], count: int
) -> list[Hit]:
    """The newest stored papers in the categories that match one of the queries (at most
    `count`), the newest candidates checked first, each round's hits ranked."""
    await ensure_indexed(services)
    store = services.store
    plan = plan_for(queries)
    hits: list[Hit] = []
    high: int | None = None
    chunk = max(FIRST_CHUNK, 2 * count)
    while len(hits) < count:
        found = await store.search_papers(plan, high=high, limit=chunk)
        if not found:
            break
        hits += await asyncio.to_thread(_check, found, queries, categories)
        if len(found) < chunk:
            break
        high, chunk = found[-1].seq, min(4 * chunk, MAX_CHUNK)
    return hits[:count]


async def announced_hits(
    store: Store,
    queries: Sequence[str],
    categories: Sequence[str] | None,
    first: dt.date,
    last: dt.date,
) -> list[Hit]:
    """The papers announced from `first` to `last` (withdrawn ones left out) in the
    categories (None: any) that match one of the queries, ranked."""
    # No upper bound: a paper announced in the period but revised since is indexed under the
    # day of its revision.
    low, _ = day_seqs(first, last)
    found = await store.search_papers(plan_for(queries), low=low)
    kept = [
        item
        for item in found
        if item.paper.announced is not None
        and first <= item.paper.announced <= last
        and not item.paper.withdrawn
    ]
    return await asyncio.to_thread(_check, kept, queries, categories)


@dataclass(frozen=True, slots=True)
class NewQueryMatches:
    """A subscription's new queries matched against the stored papers of the last days."""

    hits: dict[str, list[Hit]]  # by query: the preview's papers (stored since `since`), ranked
    papers: int  # papers stored since `since` in the chat's categories


async def match_new_queries(
    services: Services,
    queries: Sequence[tuple[str, str]],
    categories: Sequence[str],
    preview_since: dt.datetime,
    now: dt.datetime | None = None,
) -> NewQueryMatches:
    """Match new subscriptions' (key, text) queries against the papers that may still be
    pending, once, and store the matches (digests read them); give the preview too."""
    found, matches = await match_window(services, queries, preview_since, now)
    text_of = dict(queries)
    texts = list(text_of.values())
    recent = {
        item.paper.arxiv_id: item.paper
        for item in found
        if item.first_seen_at >= preview_since and covers(categories, item.paper.categories)
    }
    by_query: dict[str, list[Hit]] = {text: [] for text in texts}
    for key, arxiv_id, mask in matches:
        if arxiv_id in recent:
            text = text_of[key]
            by_query[text].append(hit_of(recent[arxiv_id], [(text, mask_fields(mask))]))
    stored = await services.store.categories_since(preview_since)
    return NewQueryMatches(
        {text: rank(hits) for text, hits in by_query.items()},
        sum(covers(categories, cats) for cats in stored),
    )


async def match_window(
    services: Services,
    queries: Sequence[tuple[str, str]],
    since: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> tuple[list[StoredPaper], list[tuple[str, str, int]]]:
    """Match (key, text) queries against the papers that may still be pending (and those
    stored since `since`), once, and store the matches: digests read them. Returns the
    papers searched and the matches.

    Between two indexing runs: a run matches with the queries followed when it began, so a
    paper it indexes after this search was matched with these queries too.
    """
    await ensure_indexed(services)
    store = services.store
    start = matching_since(services, now or utcnow())
    start = min(start, since) if since is not None else start
    texts = [text for _, text in queries]
    async with services.index_lock:
        low = await store.first_seq_since(start)
        found = [] if low is None else await store.search_papers(plan_for(texts), low=low)
        matcher = await asyncio.to_thread(QueryMatcher, queries)
        matches = await asyncio.to_thread(
            matcher.match, [(item.paper.arxiv_id, item.document) for item in found]
        )
        await store.add_query_matches([key for key, _ in queries], matches)
    return found, matches


async def complete_matches(
    services: Services, chat_id: int | None = None, now: dt.datetime | None = None
) -> None:
    """Match the queries followed (by the chat, or by anyone) whose matches are not complete:
    added to the database otherwise than by /subscribe, or followed again after nobody did."""
    missing = await services.store.unmatched_queries(chat_id)
    if missing:
        await match_window(services, missing, now=now)


def _check(
    found: Sequence[StoredPaper], queries: Sequence[str], categories: Sequence[str] | None
) -> list[Hit]:
    """The exact matcher on candidates in the categories (None: any); CPU work, for a worker
    thread."""
    pairs = [
        (item.paper, item.document)
        for item in found
        if categories is None or covers(categories, item.paper.categories)
    ]
    return match_documents(pairs, queries)
