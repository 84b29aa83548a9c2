"""What composing the digests of many chats at once reads: their settings, queries,
language, last digest and read marks, and their pending matches (the transaction that queues
the digests is `bot.storage.deliveries`'s `compose_digests`).

A digest reads the pending matches of its chat's queries. Every write of matches stamps its
rows with a run number that only grows (`match_runs`); a chat records the last run its digest
read, with a fingerprint of what decided what it read (its queries, settings, categories and
lookback, made by the pipeline). While the fingerprint holds, the next digest reads only the
matches of later runs: the earlier ones were delivered then or are still excluded by the
same rules. Anything else that can make an earlier match pending again (a part that never
went out leaves the ledger) clears the chat's mark, and its next digest reads the whole
window.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.models import Chat, Paper
from bot.storage.base import StoreBase, timestamp
from bot.storage.chats import CHAT_COLUMNS, chat_from_row
from bot.storage.index import day_seqs
from bot.storage.papers import PAPER_COLUMNS, paper_from_row

_CHUNK = 500  # chats or ids per statement, well under SQLite's bound-parameter limit
# Papers kept decoded between reads, beyond those a read needs: more than a day's digests
# show (~5,000).
_KEPT_PAPERS = 10_000


@dataclass(frozen=True, slots=True)
class DigestInputs:
    """What a chat's digest is composed from, besides its matches."""

    chat: Chat
    keywords: tuple[tuple[str, str], ...]  # (key, query as typed), oldest first
    language: str | None
    last_composed: dt.datetime | None  # when its last digest was composed
    read_run: int  # the last run of matches its previous digest read (0: none)
    read_for: str | None  # the fingerprint of what decided what that digest read
    # The last announcement day its last digest named (None: no digest, or one composed
    # before digests recorded it: then its `last_composed` tells).
    last_through: dt.date | None = None


@dataclass(frozen=True, slots=True)
class PendingRead:
    """A chat whose pending matches are read: stored or revised since `since`, written by a
    run after `after_run` (0: any)."""

    chat: Chat
    since: dt.datetime
    after_run: int = 0


# A paper pending for a chat, and the chat's queries that match it (as typed, in the chat's
# order) with the fields each matched in (a mask of bot.storage.index.FIELD_BITS).
PendingPaper = tuple[Paper, tuple[tuple[str, int], ...]]


class PendingBatch:
    """Pending matches of many chats: per chat, each pending paper with the chat's queries
    that match it (`pending`, papers in no particular order), and the last run of matches
    read.

    It holds what was read as read (JSON: integers, and each chat's queries by row;
    `DigestRunStore._pending_json`) with the papers by index row, and decodes it when first
    asked: where the digests are composed (the worker process), not in the bot's process,
    which only reads and writes. Pickled as read.
    """

    __slots__ = ("_by_seq", "_chat_ids", "_decoded", "_texts", "run")

    def __init__(
        self,
        run: int,
        chat_ids: Sequence[int] = (),
        texts: Sequence[tuple[str, str]] = (),
        papers_by_seq: dict[int, Paper] | None = None,
    ) -> None:
        self.run = run
        self._chat_ids = list(chat_ids)
        self._texts = list(texts)
        self._by_seq = papers_by_seq or {}
        self._decoded: dict[int, list[PendingPaper]] | None = None

    def __getstate__(self) -> tuple[Any, ...]:
        return self.run, self._chat_ids, self._texts, self._by_seq

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.run, self._chat_ids, self._texts, self._by_seq = state
        self._decoded = None

    @property
    def pending(self) -> dict[int, list[PendingPaper]]:
        return self.decode()

    def decode(self) -> dict[int, list[PendingPaper]]:
        """Each chat's pending papers, decoded once (CPU work). The matches and the papers
        were read together under the store's lock: a paper missing is a broken invariant,
        raised (LookupError), never a match dropped in silence."""
        if self._decoded is None:
            pending: dict[int, list[PendingPaper]] = {chat_id: [] for chat_id in self._chat_ids}
            by_seq = self._by_seq
            for rows, followed in self._texts:
                queries: dict[int, tuple[int, str]] = {}  # by row: (place, query as typed)
                for _, row, query, place in json.loads(followed):
                    queries[row] = place, query
                flat = json.loads(rows)
                at = 0
                while at < len(flat):
                    chat_id, seq, count = flat[at : at + 3]
                    pairs = flat[at + 3 : at + 3 + 2 * count]
                    at += 3 + 2 * count
                    paper = by_seq.get(seq)
                    if paper is None:
                        raise LookupError(f"index row {seq} vanished mid-read")
                    matched = sorted(
                        (*queries[row], mask)
                        for row, mask in zip(pairs[::2], pairs[1::2], strict=True)
                    )
                    pending[chat_id].append(
                        (paper, tuple((query, mask) for _, query, mask in matched))
                    )
            self._decoded = pending
        return self._decoded


class DigestRunStore(StoreBase):
    """What the digests of many chats at once are composed from.

    Each read returns one row, a JSON array, decoded off the event loop: a statement that
    returns thousands of rows takes the GIL back after every row, and beside a busy thread
    (another batch's rendering) each of those waits up to the interpreter's switch interval
    (5 ms), which makes 20,000 rows take seconds instead of milliseconds.
    """

    async def digest_inputs(self, chat_ids: Sequence[int]) -> dict[int, DigestInputs]:
        """The chats' settings, queries, language, last digest (when, and the last
        announcement day it named) and read marks (unknown chats are left out)."""
        ids = json.dumps(list(chat_ids))
        chats = await self._json(
            f"SELECT json_group_array(json_array({CHAT_COLUMNS}, language, read_run, read_for))"
            " FROM chats WHERE chat_id IN (SELECT value FROM json_each(?))",
            (ids,),
        )
        keywords = await self._json(
            "SELECT json_group_array(json_array(chat_id, created_at, keyword, keyword_key))"
            " FROM subscriptions WHERE chat_id IN (SELECT value FROM json_each(?))",
            (ids,),
        )
        last = await self._json(
            # Each chat's latest digest, found by one seek in digests_by_chat (its digests
            # are never pruned: a scan of them all would grow by one row a day).
            "SELECT json_group_array(json_array(g.chat_id, g.created_at, g.through_day))"
            " FROM json_each(?) AS c JOIN digests g ON g.digest_id ="
            " (SELECT d.digest_id FROM digests d WHERE d.chat_id = c.value"
            "  ORDER BY d.created_at DESC, d.digest_id DESC LIMIT 1)",
            (ids,),
        )
        followed: dict[int, list[tuple[str, str, str]]] = {}
        for chat_id, created, keyword, key in keywords:
            followed.setdefault(int(chat_id), []).append((created, keyword, key))
        composed = {int(chat_id): dt.datetime.fromisoformat(at) for chat_id, at, _ in last}
        through = {int(chat_id): dt.date.fromisoformat(day) for chat_id, _, day in last if day}
        found = {}
        for row in chats:
            chat = chat_from_row(row[:-3])
            found[chat.chat_id] = DigestInputs(
                chat,
                tuple((key, keyword) for _, keyword, key in sorted(followed.get(chat.chat_id, []))),
                row[-3],
                composed.get(chat.chat_id),
                int(row[-2]),
                row[-1],
                through.get(chat.chat_id),
            )
        return found

    async def pending_for(self, reads: Sequence[PendingRead]) -> PendingBatch:
        """The chats' matched papers that they may still receive, with their queries that
        match them and where.

        Pending as `undelivered_papers` says (new and cross-listed papers by how they were
        first announced, revisions for chats that want them, never a withdrawn paper as new),
        stored or revised since the read's `since`, matched by a query the chat follows now.
        Read while no write is under way, so that the run read up to covers every row read.
        """
        async with self._lock:
            rows = await self._fetchall("SELECT last FROM match_runs")
            run = int(rows[0][0])
            found = [
                await self._pending_json(reads[start : start + _CHUNK])
                for start in range(0, len(reads), _CHUNK)
            ]
            # A paper's text and row never change without a new index row (bot.storage.index),
            # so papers read before are kept by their row: most of a day's digests show the
            # same few thousand papers, decoded once.
            kept = self._papers_by_seq
            needed = {int(seq) for _, seqs, _ in found for seq in json.loads(seqs)}
            papers = {seq: kept[seq] for seq in needed if seq in kept}
            if missing := sorted(needed - papers.keys()):
                rows = await self._fetchall(
                    f"SELECT json_group_array(json_array(seq, {PAPER_COLUMNS})) FROM papers"
                    " WHERE seq IN (SELECT value FROM json_each(?))",
                    (json.dumps(missing),),
                )
                papers |= await asyncio.to_thread(_decoded_papers, str(rows[0][0]))
        # Kept for the next batches only once this one holds its papers; the oldest go first.
        kept.update(papers)
        for seq in list(itertools.islice(kept, max(0, len(kept) - _KEPT_PAPERS))):
            del kept[seq]
        chat_ids = [read.chat.chat_id for read in reads]
        return PendingBatch(run, chat_ids, [(rows, queries) for rows, _, queries in found], papers)

    async def _json(self, sql: str, params: Sequence[Any]) -> list[Any]:
        rows = await self._fetchall(sql, params)
        found = json.loads(rows[0][0])
        assert isinstance(found, list)
        return found

    async def _pending_json(self, reads: Sequence[PendingRead]) -> tuple[str, str, str]:
        """The reads' matches as one flat JSON array of integers: for each chat and paper, the
        chat id, the paper's index row, how many of the chat's queries match it, then each
        query's row and field mask; the index rows they name; and the chats' queries,
        [chat id, row, query as typed, place] (their order: by when they were added, then by
        text)."""
        values, params = [], []
        for read in reads:
            chat = read.chat
            # A paper stored or revised since `since` is indexed under that day or a later
            # one: only the matches of the window are read.
            first = read.since.astimezone(dt.UTC).date() - dt.timedelta(days=1)
            low, _ = day_seqs(first, first)
            values.append("(?, ?, ?, ?, ?, ?, ?)")
            params += [
                chat.chat_id,
                low,
                timestamp(read.since),
                "new" if chat.want_new else None,
                "cross" if chat.want_cross else None,
                int(chat.want_revisions),
                read.after_run,
            ]
        rows = await self._fetchall(
            "WITH w (chat_id, low, stamp, new_type, cross_type, revisions, after_run) AS"
            f" (VALUES {', '.join(values)}),"
            " found AS MATERIALIZED (SELECT w.chat_id, s.rowid AS query, m.fields, m.seq"
            " FROM w JOIN subscriptions s ON s.chat_id = w.chat_id"
            " JOIN query_matches m ON m.query_key = s.keyword_key AND m.seq >= w.low"
            " JOIN papers p ON p.arxiv_id = m.arxiv_id AND p.seq = m.seq"  # the current text's
            # Checked before the paper's row is read: most matches were delivered already.
            " WHERE m.run > w.after_run AND NOT EXISTS (SELECT 1 FROM deliveries d"
            "  WHERE d.chat_id = w.chat_id AND d.arxiv_id = m.arxiv_id AND d.version >= m.version)"
            " AND p.updated_at >= w.stamp AND ("
            " (p.first_seen_at >= w.stamp AND p.first_announce_type IN (w.new_type, w.cross_type)"
            "  AND p.withdrawn = 0"
            "  AND NOT EXISTS (SELECT 1 FROM deliveries d"
            "   WHERE d.chat_id = w.chat_id AND d.arxiv_id = p.arxiv_id))"
            " OR (w.revisions = 1 AND p.version > 1"
            "  AND p.announce_type IN ('replace', 'replace-cross')"
            "  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.chat_id = w.chat_id"
            "   AND d.arxiv_id = p.arxiv_id AND d.version >= p.version)"
            "  AND (p.withdrawn = 0 OR EXISTS (SELECT 1 FROM deliveries d"
            "   WHERE d.chat_id = w.chat_id AND d.arxiv_id = p.arxiv_id)))))"
            # Integers only, unnested: a tenth of the decoding of an array a match.
            " SELECT (SELECT '[' || IFNULL(group_concat(paper), '') || ']' FROM"
            "  (SELECT chat_id || ',' || seq || ',' || COUNT(*) || ',' || group_concat(query"
            "   || ',' || fields) AS paper FROM found GROUP BY chat_id, seq)),"
            " (SELECT json_group_array(DISTINCT seq) FROM found),"
            " (SELECT json_group_array(json_array(chat_id, rowid, keyword, place)) FROM"
            "  (SELECT chat_id, rowid, keyword, ROW_NUMBER() OVER (PARTITION BY chat_id"
            "   ORDER BY created_at, keyword, keyword_key) AS place"
            "   FROM subscriptions WHERE chat_id IN (SELECT chat_id FROM w)))",
            params,
        )
        return str(rows[0][0]), str(rows[0][1]), str(rows[0][2])

    async def pending_matches(
        self, chat: Chat, since: dt.datetime
    ) -> list[tuple[Paper, list[tuple[str, int]]]]:
        """One chat's pending matches in the whole window: each paper with the chat's queries
        that match it (as typed, in the chat's order) and their field masks."""
        batch = await self.pending_for([PendingRead(chat, since)])
        return [(paper, list(found)) for paper, found in batch.pending[chat.chat_id]]


def _decoded_papers(text: str) -> dict[int, Paper]:
    """Papers by index row, from their JSON (CPU work, for a worker thread)."""
    return {int(row[0]): paper_from_row(row[1:]) for row in json.loads(text)}
