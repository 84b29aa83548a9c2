"""The papers table family: the papers seen in the feeds, the queries that pick them (by
date, newest first, not yet delivered to a chat), and the fetch state of each feed URL.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from bot.models import Chat, Paper, UrlState
from bot.storage.base import StoreBase, timestamp

PAPER_COLUMNS = (
    "arxiv_id, version, title, authors, abstract, categories, announce_type, announced, withdrawn"
)
_CHUNK = 500  # ids per IN (...) list: well under SQLite's bound-parameter limit
# COALESCE keeps papers without a date last on every database (NULL ordering differs).
_NEWEST_FIRST = "COALESCE(announced, '') DESC, first_seen_at DESC, arxiv_id DESC"


class PaperStore(StoreBase):
    """Papers and the fetch state of the feeds they came from."""

    async def add_papers(self, papers: Iterable[Paper]) -> list[Paper]:
        """Store papers; return only those never seen before.

        A paper already stored is updated when the feed carries a higher version (a
        replacement), and is not new. A copy of the stored version whose title, authors or
        abstract differ repairs that text (a bad byte that garbled it, fixed at the source),
        unless it holds more U+FFFD than the stored text; it is not new either, and nothing
        else changes (nor does the paper become pending again). The same paper twice in the
        input counts once.
        """
        batch = {paper.arxiv_id: paper for paper in reversed(list(papers))}
        ordered = list(reversed(batch.values()))  # first occurrence wins, order kept
        if not ordered:
            return []
        stamp = timestamp(self._clock())
        self._changes["papers"] += 1
        async with self._transaction():
            known = await self._stored_texts([paper.arxiv_id for paper in ordered])
            await self._db.executemany(
                f"INSERT INTO papers ({PAPER_COLUMNS},"
                " first_announce_type, first_seen_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (arxiv_id) DO UPDATE SET"
                " version = excluded.version, title = excluded.title,"
                " authors = excluded.authors, abstract = excluded.abstract,"
                " categories = excluded.categories, announce_type = excluded.announce_type,"
                " withdrawn = excluded.withdrawn, updated_at = excluded.updated_at"
                " WHERE excluded.version > papers.version",
                [(*_paper_row(paper), paper.announce_type, stamp, stamp) for paper in ordered],
            )
            repairs = []
            for paper in ordered:
                text = text_of(paper)
                if paper.arxiv_id in known and _repairs(known[paper.arxiv_id], paper.version, text):
                    repairs.append((*text, int(paper.withdrawn), paper.arxiv_id, paper.version))
            await self._db.executemany(
                "UPDATE papers SET title = ?, authors = ?, abstract = ?, withdrawn = ?"
                " WHERE arxiv_id = ? AND version = ?",
                repairs,
            )
            changed = [
                paper.arxiv_id
                for paper in ordered
                if paper.arxiv_id in known and paper.version > known[paper.arxiv_id][0]
            ]
            await self._unindex(changed + [repair[-2] for repair in repairs])
        return [paper for paper in ordered if paper.arxiv_id not in known]

    async def _unindex(self, ids: Sequence[str]) -> None:
        """Take papers whose text changed out of the index (inside the caller's transaction):
        the pipeline indexes and matches the new text; matches of the old one are ignored
        (their index row is gone) until pruned."""
        for start in range(0, len(ids), _CHUNK):
            part = ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(part))
            await self._db.execute(
                "DELETE FROM paper_words WHERE rowid IN"
                f" (SELECT seq FROM papers WHERE arxiv_id IN ({marks}) AND seq IS NOT NULL)",
                part,
            )
            await self._db.execute(
                f"UPDATE papers SET seq = NULL WHERE arxiv_id IN ({marks})", part
            )

    async def _stored_texts(self, ids: Sequence[str]) -> dict[str, tuple[int, _Text]]:
        """The stored version and text of those of `ids` that are stored."""
        known: dict[str, tuple[int, _Text]] = {}
        for start in range(0, len(ids), _CHUNK):
            part = ids[start : start + _CHUNK]
            marks = ", ".join("?" * len(part))
            rows = await self._fetchall(
                "SELECT arxiv_id, version, title, authors, abstract FROM papers"
                f" WHERE arxiv_id IN ({marks})",
                part,
            )
            known.update((row[0], (int(row[1]), (row[2], row[3], row[4]))) for row in rows)
        return known

    async def get_paper(self, arxiv_id: str) -> Paper | None:
        rows = await self._fetchall(
            f"SELECT {PAPER_COLUMNS} FROM papers WHERE arxiv_id = ?", (arxiv_id,)
        )
        return paper_from_row(rows[0]) if rows else None

    async def papers_by_id(self, arxiv_ids: Sequence[str]) -> dict[str, Paper]:
        """The stored papers among these, by arXiv id."""
        rows = await self._fetchall(
            f"SELECT {PAPER_COLUMNS} FROM papers"
            " WHERE arxiv_id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(arxiv_ids)),),
        )
        papers = (paper_from_row(row) for row in rows)
        return {paper.arxiv_id: paper for paper in papers}

    async def count_papers(self) -> int:
        rows = await self._fetchall("SELECT COUNT(*) FROM papers")
        return int(rows[0][0])

    async def recent_papers(self, since: dt.datetime) -> list[Paper]:
        """Papers first stored at or after `since`, newest first."""
        rows = await self._fetchall(
            f"SELECT {PAPER_COLUMNS} FROM papers WHERE first_seen_at >= ? ORDER BY {_NEWEST_FIRST}",
            (timestamp(since),),
        )
        return [paper_from_row(row) for row in rows]

    async def categories_since(self, since: dt.datetime) -> list[tuple[str, ...]]:
        """The categories of each paper first stored at or after `since`."""
        rows = await self._fetchall(
            "SELECT categories FROM papers WHERE first_seen_at >= ?", (timestamp(since),)
        )
        return [tuple(json.loads(row[0])) for row in rows]

    async def papers_announced_between(self, first: dt.date, last: dt.date) -> list[Paper]:
        """Papers arXiv announced from `first` to `last` (US/Eastern days, both included),
        newest first; withdrawn ones are left out (there is nothing left to read)."""
        rows = await self._fetchall(
            f"SELECT {PAPER_COLUMNS} FROM papers"
            " WHERE announced >= ? AND announced <= ? AND withdrawn = 0"
            " ORDER BY announced DESC, arxiv_id DESC",
            (first.isoformat(), last.isoformat()),
        )
        return [paper_from_row(row) for row in rows]

    async def papers_newest_first(self, batch: int = 500) -> AsyncIterator[list[Paper]]:
        """Every stored paper, newest first, in batches (for searches that stop early)."""
        offset = 0
        while True:
            rows = await self._fetchall(
                f"SELECT {PAPER_COLUMNS} FROM papers ORDER BY {_NEWEST_FIRST} LIMIT ? OFFSET ?",
                (batch, offset),
            )
            if not rows:
                return
            yield [paper_from_row(row) for row in rows]
            offset += batch

    async def undelivered_papers(self, chat: Chat, since: dt.datetime) -> list[Paper]:
        """Papers stored or revised since `since` that the chat wants and has not received.

        New papers and cross-lists count by how they were first announced, so that a quick
        replacement does not hide them; a revision counts for chats that want revisions when
        the chat has not received that version yet. A withdrawn paper is never pending as
        new; its withdrawal reaches only chats that want revisions and received the paper.
        """
        first_types = [t for t, on in (("new", chat.want_new), ("cross", chat.want_cross)) if on]
        first_marks = ", ".join("?" * len(first_types)) or "NULL"
        rows = await self._fetchall(
            f"SELECT {PAPER_COLUMNS} FROM papers p WHERE"
            f" (p.first_seen_at >= ? AND p.first_announce_type IN ({first_marks})"
            "  AND p.withdrawn = 0"
            "  AND NOT EXISTS (SELECT 1 FROM deliveries d"
            "   WHERE d.chat_id = ? AND d.arxiv_id = p.arxiv_id))"
            " OR (? = 1 AND p.updated_at >= ? AND p.version > 1"
            "  AND p.announce_type IN ('replace', 'replace-cross')"
            "  AND NOT EXISTS (SELECT 1 FROM deliveries d"
            "   WHERE d.chat_id = ? AND d.arxiv_id = p.arxiv_id AND d.version >= p.version)"
            "  AND (p.withdrawn = 0 OR EXISTS (SELECT 1 FROM deliveries d"
            "   WHERE d.chat_id = ? AND d.arxiv_id = p.arxiv_id)))"
            f" ORDER BY {_NEWEST_FIRST}",
            (
                timestamp(since),
                *first_types,
                chat.chat_id,
                int(chat.want_revisions),
                timestamp(since),
                chat.chat_id,
                chat.chat_id,
            ),
        )
        return [paper_from_row(row) for row in rows]

    # Fetch state ----------------------------------------------------------------------

    async def fetch_state(self) -> dict[str, tuple[UrlState, dt.date | None]]:
        """Per feed URL: the fetcher's validators and the feed day last ingested from it."""
        rows = await self._fetchall(
            "SELECT url, etag, last_modified, sha256, feed_day FROM fetch_state"
        )
        return {
            url: (
                UrlState(etag, last_modified, sha256),
                dt.date.fromisoformat(day) if day else None,
            )
            for url, etag, last_modified, sha256, day in rows
        }

    async def newest_feed_day(self) -> dt.date | None:
        """The newest feed day ingested from any feed URL (None: none yet)."""
        rows = await self._fetchall("SELECT MAX(feed_day) FROM fetch_state")
        return dt.date.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    async def save_fetch_state(
        self, url: str, state: UrlState, feed_day: dt.date | None = None
    ) -> None:
        """Remember a feed URL's validators (and the feed day ingested, when known)."""
        await self._write(
            "INSERT INTO fetch_state (url, etag, last_modified, sha256, feed_day, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (url) DO UPDATE SET etag = excluded.etag,"
            " last_modified = excluded.last_modified, sha256 = excluded.sha256,"
            " feed_day = COALESCE(excluded.feed_day, fetch_state.feed_day),"
            " updated_at = excluded.updated_at",
            (
                url,
                state.etag,
                state.last_modified,
                state.sha256,
                feed_day.isoformat() if feed_day else None,
                timestamp(self._clock()),
            ),
        )


# A paper's text as stored: title, authors (JSON), abstract.
_Text = tuple[str, str, str]


def text_of(paper: Paper) -> _Text:
    return paper.title, json.dumps(list(paper.authors), ensure_ascii=False), paper.abstract


def _repairs(stored: tuple[int, _Text], version: int, text: _Text) -> bool:
    """Whether `text` of `version` should replace the stored text: same version, other text,
    and no more U+FFFD (the mark of an undecodable byte) than the stored one."""
    stored_version, stored_text = stored
    return (
        version == stored_version
        and text != stored_text
        and sum(part.count("\ufffd") for part in text)
        <= sum(part.count("\ufffd") for part in stored_text)
    )


def _paper_row(paper: Paper) -> tuple[Any, ...]:
    title, authors, abstract = text_of(paper)
    return (
        paper.arxiv_id,
        paper.version,
        title,
        authors,
        abstract,
        json.dumps(list(paper.categories)),
        paper.announce_type,
        paper.announced.isoformat() if paper.announced else None,
        int(paper.withdrawn),
    )


def paper_from_row(row: Sequence[Any]) -> Paper:
    arxiv_id, version, title, authors, abstract, categories, announce_type, announced, gone = row
    return Paper(
        arxiv_id=arxiv_id,
        version=int(version),
        title=title,
        authors=tuple(json.loads(authors)),
        abstract=abstract,
        categories=tuple(json.loads(categories)),
        announce_type=announce_type,
        announced=dt.date.fromisoformat(announced) if announced else None,
        withdrawn=bool(gone),
    )
