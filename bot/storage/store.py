"""Every SQL statement of the bot: chats, subscriptions, papers and the delivery ledger.

Callers speak the domain (`subscriptions_for(chat)`, `mark_delivered(chat, papers)`); no SQL
leaves this module. Statements are parameterised and portable (a PostgreSQL backend will
implement the same methods).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from bot.models import ChannelLink, Chat, OutboxPart, Paper, UrlState
from bot.storage.base import StoreBase, timestamp
from bot.storage.migrations import MIGRATIONS

log = logging.getLogger(__name__)

_PAPER_COLUMNS = (
    "arxiv_id, version, title, authors, abstract, categories, announce_type, announced, withdrawn"
)
_CHAT_COLUMNS = (
    "chat_id, digest_time, timezone, active, last_digest_at,"
    " want_new, want_cross, want_revisions, categories"
)
# Settings a chat can toggle, by the name the handlers use.
ANNOUNCEMENT_SETTINGS = {"new": "want_new", "cross": "want_cross", "revisions": "want_revisions"}
# COALESCE keeps papers without a date last on every database (NULL ordering differs).
_NEWEST_FIRST = "COALESCE(announced, '') DESC, first_seen_at DESC, arxiv_id DESC"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Store(StoreBase):
    """The bot's database. Open with `await Store.open(path)`, close with `await close()`."""

    def __init__(self, db: aiosqlite.Connection, clock: Callable[[], dt.datetime] = utcnow) -> None:
        """Rows are stamped with `clock` (UTC now unless a fake is given)."""
        super().__init__(db, clock)

    @classmethod
    async def open(cls, path: Path, *, clock: Callable[[], dt.datetime] = utcnow) -> Store:
        """Open (creating it if needed) the database, in WAL mode, with migrations applied."""
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path)
        store = cls(db, clock)
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL never corrupts and survives a killed process; only a power
            # cut can undo the last commits (a part then goes out again: never lost). It
            # shortens each commit, so a kill catches fewer sent-but-unrecorded parts.
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            await store._migrate()
        except BaseException:
            await db.close()
            raise
        return store

    async def close(self) -> None:
        await self._db.close()

    async def _migrate(self) -> None:
        await self._write(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = {row[0] for row in await self._fetchall("SELECT version FROM schema_migrations")}
        for number, statements in enumerate(MIGRATIONS, start=1):
            if number in done:
                continue
            # One transaction per migration: a crash never leaves one half applied.
            async with self._transaction():
                for statement in statements:
                    await self._db.execute(statement)
                await self._db.execute(
                    "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                    (number, timestamp(self._clock())),
                )
            log.info("Applied database migration %d", number)

    async def schema_version(self) -> int:
        rows = await self._fetchall("SELECT MAX(version) FROM schema_migrations")
        return int(rows[0][0] or 0)

    # Chats ---------------------------------------------------------------------------

    async def ensure_chat(
        self, chat_id: int, digest_time: dt.time, timezone: str
    ) -> tuple[Chat, Chat | None]:
        """Register a chat that writes to the bot, active; returns it and how it was before."""
        before = await self.get_chat(chat_id)
        if before is None:
            now = timestamp(self._clock())
            await self._write(
                # last_digest_at starts now: no digest is owed for the time before.
                "INSERT INTO chats"
                " (chat_id, active, digest_time, timezone, created_at, last_digest_at)"
                " VALUES (?, 1, ?, ?, ?, ?) ON CONFLICT (chat_id) DO NOTHING",
                (chat_id, digest_time.strftime("%H:%M"), timezone, now, now),
            )
        elif not before.active:
            await self.set_active(chat_id, True)
        chat = await self.get_chat(chat_id)
        assert chat is not None
        return chat, before

    async def get_chat(self, chat_id: int) -> Chat | None:
        rows = await self._fetchall(
            f"SELECT {_CHAT_COLUMNS} FROM chats WHERE chat_id = ?", (chat_id,)
        )
        return _chat(rows[0]) if rows else None

    async def language_of(self, chat_id: int) -> str | None:
        """The language the bot speaks with the chat; None if none was chosen yet."""
        rows = await self._fetchall("SELECT language FROM chats WHERE chat_id = ?", (chat_id,))
        return str(rows[0][0]) if rows and rows[0][0] is not None else None

    async def set_language(
        self, chat_id: int, language: str, *, only_if_unset: bool = False
    ) -> None:
        """Speak `language` with the chat from now on; with only_if_unset, keep a chosen one."""
        sql = "UPDATE chats SET language = ? WHERE chat_id = ?"
        await self._write(sql + " AND language IS NULL" * only_if_unset, (language, chat_id))

    async def active_chats(self) -> list[Chat]:
        rows = await self._fetchall(
            f"SELECT {_CHAT_COLUMNS} FROM chats WHERE active = 1 ORDER BY chat_id"
        )
        return [_chat(row) for row in rows]

    async def set_active(self, chat_id: int, active: bool) -> None:
        await self._write("UPDATE chats SET active = ? WHERE chat_id = ?", (int(active), chat_id))

    async def set_digest_time(self, chat_id: int, when: dt.time) -> None:
        await self._write(
            "UPDATE chats SET digest_time = ? WHERE chat_id = ?",
            (when.strftime("%H:%M"), chat_id),
        )

    async def set_timezone(self, chat_id: int, timezone: str) -> None:
        await self._write("UPDATE chats SET timezone = ? WHERE chat_id = ?", (timezone, chat_id))

    async def toggle_announcements(self, chat_id: int, setting: str) -> Chat | None:
        """Flip one of the chat's announcement choices ("new", "cross", "revisions")."""
        column = ANNOUNCEMENT_SETTINGS[setting]  # a fixed column name, never user text
        await self._write(f"UPDATE chats SET {column} = 1 - {column} WHERE chat_id = ?", (chat_id,))
        return await self.get_chat(chat_id)

    async def set_categories(self, chat_id: int, categories: Sequence[str] | None) -> None:
        """The arXiv categories the chat's digests draw from; None restores the default."""
        value = " ".join(categories) if categories else None
        await self._write("UPDATE chats SET categories = ? WHERE chat_id = ?", (value, chat_id))

    async def categories_in_use(self, default: Sequence[str]) -> list[str]:
        """The union of the categories active chats with subscriptions draw from, sorted;
        chats without a choice of their own count as `default`."""
        rows = await self._fetchall(
            "SELECT DISTINCT c.categories FROM chats c WHERE c.active = 1"
            " AND EXISTS (SELECT 1 FROM subscriptions s WHERE s.chat_id = c.chat_id)"
        )
        wanted: set[str] = set()
        for (value,) in rows:
            wanted.update(value.split() if value else default)
        return sorted(wanted)

    # Subscriptions -------------------------------------------------------------------

    async def subscriptions_for(self, chat_id: int) -> list[str]:
        """The chat's keywords as typed, oldest first."""
        rows = await self._fetchall(
            "SELECT keyword FROM subscriptions WHERE chat_id = ? ORDER BY created_at, keyword",
            (chat_id,),
        )
        return [row[0] for row in rows]

    async def add_subscriptions(self, chat_id: int, keywords: Iterable[tuple[str, str]]) -> int:
        """Add (key, keyword) pairs; a key the chat already has is left alone. Returns added."""
        now = self._clock()
        added = 0
        async with self._transaction():
            for offset, (key, keyword) in enumerate(keywords):
                # Distinct timestamps keep the order the user typed them in.
                stamp = timestamp(now + dt.timedelta(microseconds=offset))
                cursor = await self._db.execute(
                    "INSERT INTO subscriptions (chat_id, keyword_key, keyword, created_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (chat_id, keyword_key) DO NOTHING",
                    (chat_id, key, keyword, stamp),
                )
                added += cursor.rowcount
        return added

    async def remove_subscription(self, chat_id: int, key: str) -> bool:
        removed = await self._write(
            "DELETE FROM subscriptions WHERE chat_id = ? AND keyword_key = ?", (chat_id, key)
        )
        return removed > 0

    async def remove_all_subscriptions(self, chat_id: int) -> int:
        return await self._write("DELETE FROM subscriptions WHERE chat_id = ?", (chat_id,))

    # Papers --------------------------------------------------------------------------

    async def add_papers(self, papers: Iterable[Paper]) -> list[Paper]:
        """Store papers; return only those never seen before.

        A paper already stored is updated when the feed carries a higher version (a
        replacement), and is not new. The same paper twice in the input counts once.
        """
        batch = {paper.arxiv_id: paper for paper in reversed(list(papers))}
        ordered = list(reversed(batch.values()))  # first occurrence wins, order kept
        if not ordered:
            return []
        stamp = timestamp(self._clock())
        async with self._transaction():
            known = await self._known_ids([paper.arxiv_id for paper in ordered])
            await self._db.executemany(
                f"INSERT INTO papers ({_PAPER_COLUMNS},"
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
        return [paper for paper in ordered if paper.arxiv_id not in known]

    async def _known_ids(self, ids: Sequence[str]) -> set[str]:
        known: set[str] = set()
        chunk = 500  # stay well under SQLite's bound-parameter limit
        for start in range(0, len(ids), chunk):
            part = ids[start : start + chunk]
            marks = ", ".join("?" * len(part))
            rows = await self._fetchall(
                f"SELECT arxiv_id FROM papers WHERE arxiv_id IN ({marks})", part
            )
            known.update(row[0] for row in rows)
        return known

    async def get_paper(self, arxiv_id: str) -> Paper | None:
        rows = await self._fetchall(
            f"SELECT {_PAPER_COLUMNS} FROM papers WHERE arxiv_id = ?", (arxiv_id,)
        )
        return _paper(rows[0]) if rows else None

    async def count_papers(self) -> int:
        rows = await self._fetchall("SELECT COUNT(*) FROM papers")
        return int(rows[0][0])

    async def recent_papers(self, since: dt.datetime) -> list[Paper]:
        """Papers first stored at or after `since`, newest first."""
        rows = await self._fetchall(
            f"SELECT {_PAPER_COLUMNS} FROM papers WHERE first_seen_at >= ?"
            f" ORDER BY {_NEWEST_FIRST}",
            (timestamp(since),),
        )
        return [_paper(row) for row in rows]

    async def papers_announced_between(self, first: dt.date, last: dt.date) -> list[Paper]:
        """Papers arXiv announced from `first` to `last` (US/Eastern days, both included),
        newest first; withdrawn ones are left out (there is nothing left to read)."""
        rows = await self._fetchall(
            f"SELECT {_PAPER_COLUMNS} FROM papers"
            " WHERE announced >= ? AND announced <= ? AND withdrawn = 0"
            " ORDER BY announced DESC, arxiv_id DESC",
            (first.isoformat(), last.isoformat()),
        )
        return [_paper(row) for row in rows]

    async def papers_newest_first(self, batch: int = 500) -> AsyncIterator[list[Paper]]:
        """Every stored paper, newest first, in batches (for searches that stop early)."""
        offset = 0
        while True:
            rows = await self._fetchall(
                f"SELECT {_PAPER_COLUMNS} FROM papers ORDER BY {_NEWEST_FIRST} LIMIT ? OFFSET ?",
                (batch, offset),
            )
            if not rows:
                return
            yield [_paper(row) for row in rows]
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
            f"SELECT {_PAPER_COLUMNS} FROM papers p WHERE"
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
        return [_paper(row) for row in rows]

    # Delivery ledger -----------------------------------------------------------------

    async def mark_delivered(self, chat_id: int, arxiv_ids: Iterable[str]) -> None:
        """Record that the chat received these papers (in their stored version); they are
        never pending for it again, unless a later version comes and it wants revisions."""
        async with self._transaction():
            await self._record_deliveries(chat_id, list(arxiv_ids), timestamp(self._clock()))

    async def _record_deliveries(self, chat_id: int, arxiv_ids: Sequence[str], stamp: str) -> None:
        await self._db.executemany(
            "INSERT INTO deliveries (chat_id, arxiv_id, version, delivered_at)"
            " SELECT ?, arxiv_id, version, ? FROM papers WHERE arxiv_id = ?"
            " ON CONFLICT (chat_id, arxiv_id) DO UPDATE SET"
            " version = excluded.version, delivered_at = excluded.delivered_at"
            " WHERE excluded.version > deliveries.version",
            [(chat_id, stamp, arxiv_id) for arxiv_id in arxiv_ids],
        )

    # Outbox ---------------------------------------------------------------------------

    async def compose_digest(
        self, chat_id: int, parts: Sequence[tuple[str, Sequence[str]]], visible: int
    ) -> int:
        """Queue a digest's parts (text, arxiv ids) and record its papers in the ledger.

        One transaction: either the whole digest is queued and its papers count as
        delivered, or nothing is. Parts after the first `visible` are held behind a
        "More" button. Returns the digest id.
        """
        now = timestamp(self._clock())
        papers = sorted({arxiv_id for _, ids in parts for arxiv_id in ids})
        async with self._transaction():
            cursor = await self._db.execute(
                "INSERT INTO digests (chat_id, created_at, parts_total, papers)"
                " VALUES (?, ?, ?, ?)",
                (chat_id, now, len(parts), len(papers)),
            )
            digest_id = cursor.lastrowid
            assert digest_id is not None
            await self._db.executemany(
                "INSERT INTO outbox (digest_id, part_no, chat_id, text, arxiv_ids, status)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        digest_id,
                        number,
                        chat_id,
                        text,
                        json.dumps(list(ids)),
                        "pending" if number <= visible else "held",
                    )
                    for number, (text, ids) in enumerate(parts, start=1)
                ],
            )
            await self._record_deliveries(chat_id, papers, now)
        return digest_id

    async def pending_parts(self, chat_id: int | None = None) -> list[OutboxPart]:
        """Parts waiting to be sent, oldest digest first, in part order."""
        where, params = ("AND o.chat_id = ?", (chat_id,)) if chat_id is not None else ("", ())
        rows = await self._fetchall(
            "SELECT o.digest_id, o.part_no, g.parts_total, o.chat_id, o.text, o.arxiv_ids,"
            " EXISTS (SELECT 1 FROM outbox n WHERE n.digest_id = o.digest_id"
            "  AND n.part_no = o.part_no + 1 AND n.status = 'held')"
            " FROM outbox o JOIN digests g ON g.digest_id = o.digest_id"
            f" WHERE o.status = 'pending' {where}"
            " ORDER BY o.digest_id, o.part_no",
            params,
        )
        return [
            OutboxPart(
                digest_id=int(row[0]),
                part_no=int(row[1]),
                parts_total=int(row[2]),
                chat_id=int(row[3]),
                text=row[4],
                arxiv_ids=tuple(json.loads(row[5])),
                more_after=bool(row[6]),
            )
            for row in rows
        ]

    async def count_pending_parts(self) -> int:
        """How many parts wait to be sent (held ones, behind a "More" button, not counted)."""
        rows = await self._fetchall("SELECT COUNT(*) FROM outbox WHERE status = 'pending'")
        return int(rows[0][0])

    async def mark_part_sent(self, part: OutboxPart) -> None:
        await self._write(
            "UPDATE outbox SET status = 'sent', sent_at = ? WHERE digest_id = ? AND part_no = ?",
            (timestamp(self._clock()), part.digest_id, part.part_no),
        )

    async def drop_pending_parts(self, chat_id: int) -> int:
        """Give up on a chat's unsent parts (it blocked the bot or was deleted).

        Their papers leave the ledger again: they were never delivered, so a chat that
        comes back gets them in its next digest.
        """
        async with self._transaction():
            rows = await self._fetchall(
                "SELECT arxiv_ids FROM outbox WHERE chat_id = ? AND status IN ('pending', 'held')",
                (chat_id,),
            )
            unsent = sorted({arxiv_id for row in rows for arxiv_id in json.loads(row[0])})
            await self._db.executemany(
                "DELETE FROM deliveries WHERE chat_id = ? AND arxiv_id = ?",
                [(chat_id, arxiv_id) for arxiv_id in unsent],
            )
            await self._db.execute(
                "UPDATE outbox SET status = 'dropped'"
                " WHERE chat_id = ? AND status IN ('pending', 'held')",
                (chat_id,),
            )
        return len(rows)

    async def release_held_parts(self, digest_id: int, chat_id: int, count: int) -> int:
        """Queue the next `count` held parts of a digest (a press on its "More" button)."""
        async with self._transaction():
            rows = await self._fetchall(
                "SELECT part_no FROM outbox"
                " WHERE digest_id = ? AND chat_id = ? AND status = 'held'"
                " ORDER BY part_no LIMIT ?",
                (digest_id, chat_id, count),
            )
            await self._db.executemany(
                "UPDATE outbox SET status = 'pending' WHERE digest_id = ? AND part_no = ?",
                [(digest_id, row[0]) for row in rows],
            )
        return len(rows)

    async def move_chat(self, old_id: int, new_id: int) -> None:
        """A group became a supergroup: its settings, keywords, ledger and outbox follow."""
        async with self._transaction():
            await self._db.execute(
                "INSERT INTO chats (chat_id, active, digest_time, timezone, created_at,"
                " last_digest_at, want_new, want_cross, want_revisions, categories)"
                " SELECT ?, active, digest_time, timezone, created_at, last_digest_at,"
                " want_new, want_cross, want_revisions, categories FROM chats WHERE chat_id = ?"
                " ON CONFLICT (chat_id) DO NOTHING",
                (new_id, old_id),
            )
            await self._db.execute(  # the group's language too (migration 6)
                "UPDATE chats SET language = COALESCE(language,"
                " (SELECT language FROM chats WHERE chat_id = ?)) WHERE chat_id = ?",
                (old_id, new_id),
            )
            for table, key in (("subscriptions", "keyword_key"), ("deliveries", "arxiv_id")):
                # Rows the new chat already has win; the rest move over.
                await self._db.execute(
                    f"DELETE FROM {table} WHERE chat_id = ? AND {key} IN"
                    f" (SELECT {key} FROM {table} WHERE chat_id = ?)",
                    (old_id, new_id),
                )
                await self._db.execute(
                    f"UPDATE {table} SET chat_id = ? WHERE chat_id = ?", (new_id, old_id)
                )
            for table in ("outbox", "digests"):
                await self._db.execute(
                    f"UPDATE {table} SET chat_id = ? WHERE chat_id = ?", (new_id, old_id)
                )
            await self._db.execute("DELETE FROM chats WHERE chat_id = ?", (old_id,))

    async def counts(self, since: dt.datetime) -> dict[str, int]:
        """Figures for the admin view; digests and messages count from `since`."""
        queries = {
            "chats": ("SELECT COUNT(*) FROM chats", ()),
            "active_chats": ("SELECT COUNT(*) FROM chats WHERE active = 1", ()),
            "subscriptions": ("SELECT COUNT(*) FROM subscriptions", ()),
            "papers": ("SELECT COUNT(*) FROM papers", ()),
            "digests": ("SELECT COUNT(*) FROM digests WHERE created_at >= ?", (timestamp(since),)),
            "messages": (
                "SELECT COUNT(*) FROM outbox WHERE status = 'sent' AND sent_at >= ?",
                (timestamp(since),),
            ),
            "pending_parts": ("SELECT COUNT(*) FROM outbox WHERE status = 'pending'", ()),
            "held_parts": ("SELECT COUNT(*) FROM outbox WHERE status = 'held'", ()),
        }
        result = {}
        for name, (sql, params) in queries.items():
            rows = await self._fetchall(sql, params)
            result[name] = int(rows[0][0])
        return result

    async def delivered_ids(self, chat_id: int) -> set[str]:
        rows = await self._fetchall("SELECT arxiv_id FROM deliveries WHERE chat_id = ?", (chat_id,))
        return {row[0] for row in rows}

    async def last_digest_composed(self, chat_id: int) -> dt.datetime | None:
        """When the chat's most recent digest was composed (sent), or None if it never had one."""
        rows = await self._fetchall(
            "SELECT MAX(created_at) FROM digests WHERE chat_id = ?", (chat_id,)
        )
        return dt.datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    async def record_digest(self, chat_id: int, moment: dt.datetime) -> None:
        await self._write(
            "UPDATE chats SET last_digest_at = ? WHERE chat_id = ?", (timestamp(moment), chat_id)
        )

    # Forum topics and channels ---------------------------------------------------------

    async def get_thread(self, chat_id: int) -> int | None:
        """The forum topic the chat's digests go to; None: the general topic (or no forum)."""
        rows = await self._fetchall("SELECT thread_id FROM chats WHERE chat_id = ?", (chat_id,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    async def set_thread(self, chat_id: int, thread_id: int | None) -> None:
        await self._write("UPDATE chats SET thread_id = ? WHERE chat_id = ?", (thread_id, chat_id))

    async def channel_link(self, chat_id: int) -> ChannelLink | None:
        """The channel the private chat's digests are posted in, active or not."""
        rows = await self._fetchall(
            "SELECT chat_id, channel_id, title, active FROM channel_links WHERE chat_id = ?",
            (chat_id,),
        )
        if not rows:
            return None
        chat, channel, title, active = rows[0]
        return ChannelLink(int(chat), int(channel), title, bool(active))

    async def link_channel(self, chat_id: int, channel_id: int, title: str, user_id: int) -> None:
        """Post the chat's digests in the channel from now on (replacing an earlier link)."""
        await self._write(
            "INSERT INTO channel_links (chat_id, channel_id, title, linked_by, active, linked_at)"
            " VALUES (?, ?, ?, ?, 1, ?) ON CONFLICT (chat_id) DO UPDATE SET"
            " channel_id = excluded.channel_id, title = excluded.title,"
            " linked_by = excluded.linked_by, active = 1, linked_at = excluded.linked_at",
            (chat_id, channel_id, title, user_id, timestamp(self._clock())),
        )

    async def unlink_channel(self, chat_id: int) -> bool:
        return await self._write("DELETE FROM channel_links WHERE chat_id = ?", (chat_id,)) > 0

    async def set_channel_active(self, chat_id: int, active: bool) -> None:
        await self._write(
            "UPDATE channel_links SET active = ? WHERE chat_id = ?", (int(active), chat_id)
        )

    async def digest_chat(self, digest_id: int) -> int | None:
        """The chat a digest was composed for."""
        rows = await self._fetchall("SELECT chat_id FROM digests WHERE digest_id = ?", (digest_id,))
        return int(rows[0][0]) if rows else None

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


def _paper_row(paper: Paper) -> tuple[Any, ...]:
    return (
        paper.arxiv_id,
        paper.version,
        paper.title,
        json.dumps(list(paper.authors), ensure_ascii=False),
        paper.abstract,
        json.dumps(list(paper.categories)),
        paper.announce_type,
        paper.announced.isoformat() if paper.announced else None,
        int(paper.withdrawn),
    )


def _paper(row: Sequence[Any]) -> Paper:
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


def _chat(row: Sequence[Any]) -> Chat:
    chat_id, digest_time, timezone, active, last_digest_at, new, cross, revisions, cats = row
    return Chat(
        chat_id=int(chat_id),
        digest_time=dt.time.fromisoformat(digest_time),
        timezone=timezone,
        active=bool(active),
        last_digest_at=dt.datetime.fromisoformat(last_digest_at) if last_digest_at else None,
        want_new=bool(new),
        want_cross=bool(cross),
        want_revisions=bool(revisions),
        categories=tuple(cats.split()) if cats else None,
    )
