"""Index and match at ingest: each stored paper is normalised once, its normal form indexed,
and, while it can still be pending, matched once against every distinct query followed.

A run takes the papers not indexed yet (a poll's new papers and revisions, or every stored
paper after an upgrade), newest first, in batches: normalising and matching run in a worker
thread, and each batch is stored in one transaction with its matches, so a crash in between
leaves the papers unindexed and the next run (at the next poll, digest or start) redoes them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.matching.engine import Engine
from bot.matching.normalize import document
from bot.models import Document
from bot.services import Services
from bot.storage.index import Unindexed, fields_mask
from bot.storage.store import utcnow

log = logging.getLogger(__name__)

BATCH = 2_000  # papers normalised, matched and stored at a time
# Papers stored or revised this long before the lookback window are matched too: a digest's
# window may start a little earlier than this run's (a clock set back, a slow day).
WINDOW_MARGIN = dt.timedelta(days=2)
_LOG_PROGRESS = 20_000  # an upgrade indexes every stored paper: say how far it is


@dataclass(frozen=True, slots=True)
class IndexRun:
    """What one run did."""

    indexed: int = 0  # papers whose normal form was indexed
    matched: int = 0  # of those, papers matched against the queries followed
    matches: int = 0  # (query, paper) matches stored
    seconds: float = 0.0


class QueryMatcher:
    """Distinct queries in one engine: (key, text) pairs in, key matches out. Queries added
    later go to a second, small engine, built again at each addition (cheap), so that the
    large one is never rebuilt for a day's few new queries."""

    def __init__(self, queries: Sequence[tuple[str, str]]) -> None:
        self.keys = [key for key, _ in queries]
        self.known = set(self.keys)
        self.engine = Engine(enumerate(text for _, text in queries))
        self.added: list[tuple[str, str]] = []
        self._added_engine: Engine | None = None

    def add(self, queries: Sequence[tuple[str, str]]) -> None:
        """Take more queries (keys not known yet)."""
        self.added += queries
        self.known.update(key for key, _ in queries)
        self._added_engine = Engine(enumerate(text for _, text in self.added))

    def unfollowed(self, followed: set[str]) -> int:
        """How many of its queries are followed no more."""
        return len(self.known - followed)

    def match(self, papers: Sequence[tuple[str, Document]]) -> list[tuple[str, str, int]]:
        """(query key, arxiv id, field mask) for each match among the papers."""
        docs = [doc for _, doc in papers]
        found = self._matches(papers, self.engine.match_batch(docs), self.keys)
        if self._added_engine is not None:
            keys = [key for key, _ in self.added]
            found += self._matches(papers, self._added_engine.match_batch(docs), keys)
        return found

    @staticmethod
    def _matches(
        papers: Sequence[tuple[str, Document]],
        results: Sequence[list[tuple[int, tuple[str, ...]]]],
        keys: Sequence[str],
    ) -> list[tuple[str, str, int]]:
        return [
            (keys[index], arxiv_id, fields_mask(fields))
            for (arxiv_id, _), found in zip(papers, results, strict=True)
            for index, fields in found
        ]


# The engine of every query followed is kept from one run to the next (building it for 40,000
# queries takes seconds): a run adds the queries followed since. Queries followed no more stay
# in it (their matches are stored, and read by nobody), and added ones in its small second
# engine, until either is this share of it: then it is built again.
REBUILD_SHARE = 0.25


async def current_matcher(services: Services) -> QueryMatcher:
    """The engine of every query followed now: the kept one, brought up to date."""
    queries = await services.store.queries_to_match()
    kept = services.index_cache.get("matcher")
    followed = {key for key, _ in queries}
    if (
        isinstance(kept, QueryMatcher)
        and kept.unfollowed(followed) <= REBUILD_SHARE * len(kept.keys)
        and len(kept.added) <= REBUILD_SHARE * len(kept.keys)
    ):
        new = [(key, text) for key, text in queries if key not in kept.known]
        if new:
            await asyncio.to_thread(kept.add, new)
        return kept
    matcher = await asyncio.to_thread(QueryMatcher, queries)
    services.index_cache["matcher"] = matcher
    return matcher


def matching_since(services: Services, now: dt.datetime) -> dt.datetime:
    """Papers stored or revised since then may still be pending: they are matched."""
    return now - dt.timedelta(days=services.config.digest_lookback_days) - WINDOW_MARGIN


async def index_papers(services: Services, now: dt.datetime | None = None) -> IndexRun:
    """Index every paper not indexed yet; match those that may still be pending."""
    store = services.store
    started = time.perf_counter()
    since = matching_since(services, now or utcnow())
    indexed = matched = matches = 0
    async with services.index_lock:
        # No paper of the window indexed yet (a new database, or just upgraded): this run
        # matches the whole window, so its queries' matches will be complete.
        whole_window = await store.first_seq_since(since) is None
        matcher: QueryMatcher | None = None
        while batch := await store.unindexed_papers(since, BATCH):
            if matcher is None and any(item.recent for item in batch):
                matcher = await current_matcher(services)
            docs, found = await asyncio.to_thread(_normalise_and_match, batch, matcher)
            saved = await store.save_index(list(zip(batch, docs, strict=True)), found)
            if saved == 0:  # every paper changed meanwhile: the next run takes them
                whole_window = False
                break
            indexed += saved
            matched += sum(item.recent for item in batch)
            matches += len(found)
            if indexed // _LOG_PROGRESS != (indexed - saved) // _LOG_PROGRESS:
                log.info("Indexed %d stored papers so far", indexed)
        if whole_window and matcher is not None:
            await store.add_query_matches(list(matcher.known), [])
    run = IndexRun(indexed, matched, matches, time.perf_counter() - started)
    if run.indexed:
        log.info(
            "Indexed %d papers, matched %d of them: %d matches, in %.1f s",
            run.indexed,
            run.matched,
            run.matches,
            run.seconds,
        )
    return run


async def ensure_indexed(services: Services, now: dt.datetime | None = None) -> None:
    """Index what a poll stored but did not index (cut short), before a search or digest
    reads the index."""
    if await services.store.has_unindexed():
        await index_papers(services, now)


def _normalise_and_match(
    batch: Sequence[Unindexed], matcher: QueryMatcher | None
) -> tuple[list[Document], list[tuple[str, str, int]]]:
    """CPU work, in a worker thread: each paper's normal form, and the recent ones' matches."""
    docs = [document(item.paper) for item in batch]
    recent = [
        (item.paper.arxiv_id, doc) for item, doc in zip(batch, docs, strict=True) if item.recent
    ]
    return docs, matcher.match(recent) if matcher is not None and recent else []
