"""The index table family: each paper's normal form in the full-text index (`paper_words`,
FTS5), the papers each distinct query matches (`query_matches`), and what they give: a chat's
pending matches, and searches of the stored papers.

A paper is indexed once per text: `papers.seq` is its row in `paper_words`, NULL until the
pipeline has normalised and matched it (`unindexed_papers`, `save_index`) and again whenever a
new version or a repaired text replaces it. Row numbers grow with the announcement day
(`day << 20` plus a counter), so "newest first" is "highest row first", whatever order papers
were indexed in. Matching is the pipeline's; only the SQL and the index's syntax live here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.models import Document, Paper, SearchPlan
from bot.storage.base import StoreBase, timestamp
from bot.storage.papers import PAPER_COLUMNS, paper_from_row, text_of
from bot.storage.search import document_from_columns, fts_query, index_columns

_DAY_BITS = 20  # up to a million papers indexed per announcement day
# A paper is indexed under the day it was stored, or its announcement day when that is later
# by at most this (a feed's odd date must not put it among papers of another year).
_DAY_SLACK = dt.timedelta(days=7)
_CHUNK = 500  # ids per IN (...) list, well under SQLite's bound-parameter limit
# Matched fields as the bits of query_matches.fields, in the order hits list them.
FIELD_BITS = {"title": 1, "abstract": 2, "authors": 4, "categories": 8}


def fields_mask(fields: Sequence[str]) -> int:
    mask = 0
    for name in fields:
        mask |= FIELD_BITS[name]
    return mask


def _fields_of(mask: int) -> tuple[str, ...]:
    return tuple(name for name, bit in FIELD_BITS.items() if mask & bit)


# Every mask's fields, computed once: digests look up hundreds of thousands a day.
_MASK_FIELDS = tuple(_fields_of(mask) for mask in range(1 << len(FIELD_BITS)))


def mask_fields(mask: int) -> tuple[str, ...]:
    return _MASK_FIELDS[mask] if 0 <= mask < len(_MASK_FIELDS) else _fields_of(mask)


def day_seqs(first: dt.date, last: dt.date) -> tuple[int, int]:
    """The range [low, high) of index rows of papers announced from `first` to `last`."""
    return first.toordinal() << _DAY_BITS, (last.toordinal() + 1) << _DAY_BITS


@dataclass(frozen=True, slots=True)
class Unindexed:
    """A stored paper whose text is not indexed yet."""

    paper: Paper
    day: dt.date  # its announcement day (else the day it was stored): where its row goes
    recent: bool  # stored or revised since the `since` asked about: it must be matched


@dataclass(frozen=True, slots=True)
class StoredPaper:
    """A paper found in the index, with its normal form."""

    seq: int
    paper: Paper
    document: Document
    first_seen_at: dt.datetime


class IndexStore(StoreBase):
    """The full-text index of normal forms, and the matches of the subscriptions' queries."""

    # Indexing ------------------------------------------------------------------------

    async def unindexed_papers(self, since: dt.datetime, limit: int) -> list[Unindexed]:
        """Up to `limit` papers whose text is not indexed, most recently stored or revised
        first (after an upgrade, those that can still be pending are indexed first)."""
        rows = await self._fetchall(
            f"SELECT {PAPER_COLUMNS}, first_seen_at, updated_at, updated_at >= ? FROM papers"
            " WHERE seq IS NULL ORDER BY updated_at DESC, arxiv_id LIMIT ?",
            (timestamp(since), limit),
        )
        found = []
        for row in rows:
            paper = paper_from_row(row[:-3])
            seen = dt.datetime.fromisoformat(row[-3]).date()
            # The day it was stored or revised (a revision keeps its first announcement's
            # date), or its announcement day when that is later by at most a week: never
            # earlier than it came, so the papers that may be pending are all in the rows of
            # the lookback window's days.
            day = dt.datetime.fromisoformat(row[-2]).astimezone(dt.UTC).date()
            announced = paper.announced
            if announced is not None and day < announced <= seen + _DAY_SLACK:
                day = announced
            found.append(Unindexed(paper, day, bool(row[-1])))
        return found

    async def has_unindexed(self) -> bool:
        """Whether a stored paper's text is not indexed yet."""
        seen = self._changes["papers"]
        if self._clean_at["papers"] == seen:
            return False
        rows = await self._fetchall("SELECT 1 FROM papers WHERE seq IS NULL LIMIT 1")
        if not rows:
            self._clean_at["papers"] = seen
        return bool(rows)

    async def save_index(
        self,
        indexed: Sequence[tuple[Unindexed, Document]],
        matches: Sequence[tuple[str, str, int]],
    ) -> int:
        """Index the papers' normal forms and store their matches (query key, arxiv id,
        field mask), in one transaction: a paper is indexed together with its matches.

        A paper whose stored text changed since it was read (a new version, a repair) is
        left unindexed, with its matches: it is read again. Returns how many were indexed.
        """
        if not indexed:
            return 0
        order = sorted(indexed, key=lambda item: (item[0].day, item[0].paper.arxiv_id))
        async with self._transaction():
            seqs = await self._next_seqs([item.day for item, _ in order])
            await self._db.executemany(
                "UPDATE papers SET seq = ? WHERE arxiv_id = ? AND version = ?"
                " AND title = ? AND authors = ? AND abstract = ? AND seq IS NULL",
                [
                    (seq, item.paper.arxiv_id, item.paper.version, *text_of(item.paper))
                    for seq, (item, _) in zip(seqs, order, strict=True)
                ],
            )
            wanted = {item.paper.arxiv_id: seq for seq, (item, _) in zip(seqs, order, strict=True)}
            done = await self._seqs_of(list(wanted))
            taken = {arxiv_id for arxiv_id, seq in done.items() if wanted[arxiv_id] == seq}
            run = await self._next_run()
            words, rows = await asyncio.to_thread(_index_rows, order, matches, wanted, taken, run)
            await self._db.executemany(
                "INSERT INTO paper_words (rowid, title, abstract, authors, categories)"
                " VALUES (?, ?, ?, ?, ?)",
                words,
            )
            await self._db.executemany(
                "INSERT OR REPLACE INTO query_matches"
                " (query_key, seq, arxiv_id, version, fields, run) VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
        return len(taken)

    async def _next_seqs(self, days: Sequence[dt.date]) -> list[int]:
        """Fresh row numbers for papers of these days (sorted), never used before: a row of
        query_matches names the text it matched by its row (inside the caller's transaction)."""
        last: dict[dt.date, int] = {}
        seqs = []
        for day in days:
            if day not in last:
                low, _ = day_seqs(day, day)
                rows = await self._fetchall(
                    "SELECT last_seq FROM index_days WHERE day = ?", (day.toordinal(),)
                )
                last[day] = int(rows[0][0]) if rows else low - 1
            last[day] += 1
            if last[day] >= day_seqs(day, day)[1]:  # a million (re)indexed papers in a day
                raise RuntimeError(f"no index rows left for {day}")
            seqs.append(last[day])
        await self._db.executemany(
            "INSERT INTO index_days (day, last_seq) VALUES (?, ?)"
            " ON CONFLICT (day) DO UPDATE SET last_seq = excluded.last_seq",
            [(day.toordinal(), seq) for day, seq in last.items()],
        )
        return seqs

    async def _next_run(self) -> int:
        """The number that stamps the matches written now (inside the caller's transaction):
        greater than every earlier one, so a digest can ask for the matches written since
        it last read (bot.storage.digest_runs)."""
        await self._db.execute("UPDATE match_runs SET last = last + 1")
        rows = await self._fetchall("SELECT last FROM match_runs")
        return int(rows[0][0])

    async def _seqs_of(self, ids: Sequence[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for start in range(0, len(ids), _CHUNK):
            part = ids[start : start + _CHUNK]
            rows = await self._fetchall(
                f"SELECT arxiv_id, seq FROM papers WHERE arxiv_id IN ({', '.join('?' * len(part))})"
                " AND seq IS NOT NULL",
                part,
            )
            found.update((row[0], int(row[1])) for row in rows)
        return found

    async def add_query_matches(
        self, keys: Sequence[str], matches: Sequence[tuple[str, str, int]]
    ) -> None:
        """Store matches (query key, arxiv id, field mask) of papers already indexed, found by
        matching the queries of `keys` against the lookback window: they are complete."""
        async with self._transaction():
            await self._db.executemany(
                "INSERT OR IGNORE INTO matched_queries (query_key) VALUES (?)",
                [(key,) for key in keys],
            )
            run = await self._next_run()
            await self._db.executemany(
                "INSERT OR REPLACE INTO query_matches"
                " (query_key, arxiv_id, seq, version, fields, run)"
                " SELECT ?, arxiv_id, seq, version, ?, ? FROM papers"
                " WHERE arxiv_id = ? AND seq IS NOT NULL",
                [(key, mask, run, arxiv_id) for key, arxiv_id, mask in matches],
            )

    async def queries_to_match(self) -> list[tuple[str, str]]:
        """Every distinct query followed by any chat, (key, one text of it), for an indexing
        run to match; those nobody follows are no longer complete (matched_queries). In one
        transaction, so that no subscription changes in between."""
        # Remembered until subscriptions change (counted before and after each change is
        # committed): reading 100,000 subscriptions took a twentieth of a poll's indexing.
        seen = self._changes["subscriptions"]
        if self._followed is not None and self._followed[0] == seen:
            return list(self._followed[1])
        async with self._transaction():
            await self._db.execute(
                "DELETE FROM matched_queries WHERE query_key NOT IN"
                " (SELECT keyword_key FROM subscriptions)"
            )
            rows = await self._fetchall(
                "SELECT keyword_key, MIN(keyword) FROM subscriptions GROUP BY keyword_key"
            )
        found = [(str(row[0]), str(row[1])) for row in rows]
        self._followed = (seen, found)
        return list(found)

    async def unmatched_queries(self, chat_id: int | None = None) -> list[tuple[str, str]]:
        """Queries followed (by the chat, or by anyone) whose matches are not complete: (key,
        one text of it). A query is complete once matched against the lookback window."""
        seen = self._changes["subscriptions"]
        if self._clean_at["subscriptions"] == seen:
            return []
        where, params = ("AND s.chat_id = ?", (chat_id,)) if chat_id is not None else ("", ())
        rows = await self._fetchall(
            "SELECT s.keyword_key, MIN(s.keyword) FROM subscriptions s"
            " LEFT JOIN matched_queries q ON q.query_key = s.keyword_key"
            f" WHERE q.query_key IS NULL {where} GROUP BY s.keyword_key",
            params,
        )
        if not rows and chat_id is None:
            self._clean_at["subscriptions"] = seen
        return [(str(row[0]), str(row[1])) for row in rows]

    # Reading ---------------------------------------------------------------------------

    async def first_seq_since(self, since: dt.datetime) -> int | None:
        """The lowest index row of the papers stored or revised since `since` (None: none)."""
        rows = await self._fetchall(
            "SELECT MIN(seq) FROM papers WHERE updated_at >= ?", (timestamp(since),)
        )
        return int(rows[0][0]) if rows[0][0] is not None else None

    async def search_papers(
        self,
        plan: SearchPlan | None,
        *,
        low: int = 0,
        high: int | None = None,
        limit: int | None = None,
    ) -> list[StoredPaper]:
        """Indexed papers the plan finds (every one when None) with rows in [low, high),
        newest first, at most `limit`: candidates for the exact matcher."""
        bounds = [low, high if high is not None else 1 << 62, limit if limit is not None else -1]
        expression = None
        if plan is not None:
            try:
                expression = fts_query(plan)
            except ValueError:  # too deep for FTS5's parser: every paper is a candidate
                expression = None
        columns = (
            f"p.seq, {_qualified('p')}, p.first_seen_at,"
            " w.title, w.abstract, w.authors, w.categories"
        )
        if expression is None:
            sql = (
                f"SELECT {columns} FROM papers p JOIN paper_words w ON w.rowid = p.seq"
                " WHERE p.seq >= ? AND p.seq < ? ORDER BY p.seq DESC LIMIT ?"
            )
            params: list[Any] = bounds
        else:
            sql = (
                f"SELECT {columns} FROM paper_words w JOIN papers p ON p.seq = w.rowid"
                " WHERE paper_words MATCH ? AND w.rowid >= ? AND w.rowid < ?"
                " ORDER BY w.rowid DESC LIMIT ?"
            )
            params = [expression, *bounds]
        rows = await self._fetchall(sql, params)
        # Reading thousands of normal forms back is CPU work: a worker thread.
        return await asyncio.to_thread(lambda: [_stored(row) for row in rows])

    # Pruning ---------------------------------------------------------------------------

    async def prune_matches(self, before: dt.date) -> int:
        """Forget the matches of papers indexed under days before `before`: they can no
        longer be pending (those of a text since replaced go with it). A scan of the whole
        table: a daily maintenance job runs it, not the poll."""
        low, _ = day_seqs(before, before)
        return await self._write("DELETE FROM query_matches WHERE seq < ?", (low,))

    async def prune_papers(self, before: dt.datetime, batch: int = 2_000) -> int:
        """Delete papers last stored or revised before `before`, with their index rows and
        ledger entries (their matches went long before); in batches, so that other writers
        get their turn."""
        removed = 0
        while True:
            async with self._transaction():
                rows = await self._fetchall(
                    "SELECT arxiv_id, seq FROM papers WHERE updated_at < ? LIMIT ?",
                    (timestamp(before), batch),
                )
                ids = [(row[0],) for row in rows]
                await self._db.executemany(
                    "DELETE FROM paper_words WHERE rowid = ?",
                    [(row[1],) for row in rows if row[1] is not None],
                )
                for table in ("deliveries", "papers"):
                    await self._db.executemany(f"DELETE FROM {table} WHERE arxiv_id = ?", ids)
            removed += len(rows)
            if len(rows) < batch:
                return removed


def _index_rows(
    order: Sequence[tuple[Unindexed, Document]],
    matches: Sequence[tuple[str, str, int]],
    wanted: dict[str, int],
    taken: set[str],
    run: int,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of paper_words and query_matches for the papers taken (CPU work, for a worker
    thread: a day brings hundreds of thousands of matches)."""
    words = [
        (wanted[item.paper.arxiv_id], *index_columns(doc))
        for item, doc in order
        if item.paper.arxiv_id in taken
    ]
    versions = {item.paper.arxiv_id: item.paper.version for item, _ in order}
    # Sorted by the table's key: the day's rows go in in order, which is much faster.
    rows = sorted(
        (key, wanted[paper], paper, versions[paper], mask, run)
        for key, paper, mask in matches
        if paper in taken
    )
    return words, rows


def _qualified(alias: str) -> str:
    return ", ".join(f"{alias}.{name.strip()}" for name in PAPER_COLUMNS.split(","))


def _stored(row: Sequence[Any]) -> StoredPaper:
    count = len(PAPER_COLUMNS.split(","))
    return StoredPaper(
        seq=int(row[0]),
        paper=paper_from_row(row[1 : 1 + count]),
        document=document_from_columns(*row[2 + count : 6 + count]),
        first_seen_at=dt.datetime.fromisoformat(row[1 + count]),
    )
