"""The delivery table family: the ledger of what each chat has received, and the digests
with their outbox parts, queued until Telegram confirms them.

A part is 'pending' (to send), 'held' (behind a "More" button), 'sent', 'dropped' (its chat
is gone) or 'failed' (ended unsent: refused for good, or too old). The papers of a part that
never went out leave the ledger again, so that they come with the chat's next digest.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterable, Sequence

from bot.models import OutboxPart
from bot.storage.base import StoreBase, timestamp
from bot.storage.digest_rows import (
    PART_HELD,
    PART_IDS,
    PART_IS_HELD,
    PART_NUMBER,
    PART_TEXT,
    ComposedDigest,
    DigestRows,
    as_json,
    encode_digests,
)

# What the database raises when it cannot be read or written (a full disk, a broken file).
DatabaseError = sqlite3.Error
# Why a part ended unsent (outbox.end_reason).
REFUSED = "refused"  # Telegram refused it for good (a 400 other than a migration)
EXPIRED = "expired"  # still unsent after the maximum age
# The write probe allocates this much, so that a database that cannot grow fails it.
_PROBE_BYTES = 16_384


def _at(row: str, index: int) -> str:
    """The SQL of item `index` of a json_each row's array (`row` the json_each alias)."""
    return f"json_extract({row}.value, '$[{index}]')"


# Papers enter chats' ledgers in their stored version: (timestamp, JSON [[chat id, arxiv id]]).
_RECORD_DELIVERIES = (
    "INSERT INTO deliveries (chat_id, arxiv_id, version, delivered_at)"
    f" SELECT {_at('d', 0)}, p.arxiv_id, p.version, ? FROM json_each(?) AS d"
    f" JOIN papers p ON p.arxiv_id = {_at('d', 1)} WHERE true"  # WHERE: the upsert's syntax
    " ON CONFLICT (chat_id, arxiv_id) DO UPDATE SET"
    " version = excluded.version, delivered_at = excluded.delivered_at"
    " WHERE excluded.version > deliveries.version"
)


class DeliveryStore(StoreBase):
    """The delivery ledger, digests and the outbox."""

    async def mark_delivered(self, chat_id: int, arxiv_ids: Iterable[str]) -> None:
        """Record that the chat received these papers (in their stored version); they are
        never pending for it again, unless a later version comes and it wants revisions."""
        async with self._transaction():
            await self._record_deliveries(chat_id, list(arxiv_ids), timestamp(self._clock()))

    async def delivered_ids(self, chat_id: int) -> set[str]:
        rows = await self._fetchall("SELECT arxiv_id FROM deliveries WHERE chat_id = ?", (chat_id,))
        return {row[0] for row in rows}

    async def _record_deliveries(self, chat_id: int, arxiv_ids: Sequence[str], stamp: str) -> None:
        await self._db.execute(
            _RECORD_DELIVERIES, (stamp, as_json([[chat_id, arxiv_id] for arxiv_id in arxiv_ids]))
        )

    async def _unrecord_deliveries(self, chat_id: int, arxiv_ids: Sequence[str]) -> None:
        """Take papers that never reached the chat out of its ledger (inside the caller's
        transaction), and clear its read mark: matches its digests read already are pending
        again, so its next digest reads them all (bot.storage.digest_runs)."""
        await self._db.executemany(
            "DELETE FROM deliveries WHERE chat_id = ? AND arxiv_id = ?",
            [(chat_id, arxiv_id) for arxiv_id in arxiv_ids],
        )
        await self._db.execute("UPDATE chats SET read_run = 0 WHERE chat_id = ?", (chat_id,))

    # Outbox ---------------------------------------------------------------------------

    async def compose_digest(
        self, chat_id: int, parts: Sequence[tuple[str, Sequence[str]]], visible: int
    ) -> int:
        """Queue one digest's parts (text, arxiv ids) and record its papers in the ledger,
        as `compose_digests` does; returns the digest id."""
        if not parts:
            raise ValueError("a digest has at least one part")
        return (await self.compose_digests([ComposedDigest(chat_id, parts)], visible))[chat_id]

    async def compose_digests(
        self, digests: Sequence[ComposedDigest] | DigestRows, visible: int
    ) -> dict[int, int]:
        """Queue the digests' parts and record their papers in the ledger, and the chats'
        read marks and daily runs, in one transaction: either all of it happens or none (a
        digest's papers count as delivered exactly when its parts are queued). Parts after
        the first `visible` of a digest are held behind a "More" button (rows already encoded
        by `encode_digests` were held then). Returns each queued digest's id by chat."""
        rows = digests if isinstance(digests, DigestRows) else encode_digests(digests, visible)
        now = timestamp(self._clock())
        async with self._transaction():
            found = await self._fetchall("SELECT COALESCE(MAX(digest_id), 0) FROM digests")
            before = int(found[0][0])
            await self._db.execute(
                "INSERT INTO digests (chat_id, created_at, parts_total, papers, through_day)"
                f" SELECT {_at('r', 0)}, ?, {_at('r', 1)}, {_at('r', 2)}, {_at('r', 3)}"
                " FROM json_each(?) AS r",
                (now, rows.digests),
            )
            # The rows after `before` are these, one per chat: one writer, in its transaction.
            found = await self._fetchall(
                "SELECT json_group_object(chat_id, digest_id) FROM digests WHERE digest_id > ?",
                (before,),
            )
            ids = {
                int(chat_id): int(digest_id)
                for chat_id, digest_id in json.loads(found[0][0]).items()
            }
            # json_extract gives the part's array of arxiv ids as JSON text, as stored.
            await self._db.execute(
                "INSERT INTO outbox"
                " (digest_id, part_no, chat_id, text, arxiv_ids, status, queued_at, held)"
                f" SELECT g.digest_id, {PART_NUMBER}, g.chat_id, {PART_TEXT}, {PART_IDS},"
                f" IIF({PART_IS_HELD}, 'held', 'pending'), IIF({PART_IS_HELD}, NULL, ?3),"
                f" {PART_HELD} FROM json_each(?1) AS p"
                # The digest just inserted, found by chat and time (digests_by_chat). CROSS
                # JOIN keeps the parts the outer loop: the other way round reads them all for
                # every digest.
                " CROSS JOIN digests g ON g.chat_id = json_extract(p.value, '$[0]')"
                " AND g.created_at = ?3 AND g.digest_id > ?4",
                (rows.parts, rows.texts, now, before),
            )
            await self._db.execute(_RECORD_DELIVERIES, (now, rows.papers))
            await self._db.execute(
                f"UPDATE chats SET read_run = {_at('u', 1)}, read_for = {_at('u', 2)}"
                f" FROM json_each(?) AS u WHERE chats.chat_id = {_at('u', 0)}",
                (rows.reads,),
            )
            await self._db.execute(
                f"UPDATE chats SET last_digest_at = {_at('u', 1)}"
                f" FROM json_each(?) AS u WHERE chats.chat_id = {_at('u', 0)}",
                (rows.daily,),
            )
        return ids

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
            await self._unrecord_deliveries(chat_id, unsent)
            await self._db.execute(
                "UPDATE outbox SET status = 'dropped'"
                " WHERE chat_id = ? AND status IN ('pending', 'held')",
                (chat_id,),
            )
        return len(rows)

    async def held_parts(
        self, digest_id: int, chat_id: int, count: int
    ) -> list[tuple[int, str | None]]:
        """The next `count` held parts of a digest: part number, and what it is rendered
        from (None: its text is stored)."""
        rows = await self._fetchall(
            "SELECT part_no, held FROM outbox"
            " WHERE digest_id = ? AND chat_id = ? AND status = 'held'"
            " ORDER BY part_no LIMIT ?",
            (digest_id, chat_id, count),
        )
        return [(int(row[0]), row[1]) for row in rows]

    async def release_held_parts(
        self, digest_id: int, chat_id: int, texts: dict[int, str | None]
    ) -> int:
        """Queue these held parts of a digest (a press on its "More" button), by part
        number, with their rendered text (None: the one stored); parts released already
        are left as they are. Returns how many were released."""
        stamp = timestamp(self._clock())
        async with self._transaction():
            released = 0
            for part_no, text in sorted(texts.items()):
                cursor = await self._db.execute(
                    "UPDATE outbox SET status = 'pending', queued_at = ?,"
                    " text = COALESCE(?, text), held = NULL"
                    " WHERE digest_id = ? AND chat_id = ? AND part_no = ? AND status = 'held'",
                    (stamp, text, digest_id, chat_id, part_no),
                )
                released += cursor.rowcount
        return released

    # Parts that end unsent -------------------------------------------------------------

    async def end_parts(self, parts: Sequence[OutboxPart], reason: str) -> int:
        """End pending parts unsent ('failed', with `reason`): Telegram refused them for good,
        or they are too old. Held parts that only a "More" button on one of them could have
        released end with them. Their papers leave the ledger: they were never delivered, and
        come with the chat's next digest. Returns how many parts ended."""
        if not parts:
            return 0
        now = timestamp(self._clock())
        buttons = sorted({part.digest_id for part in parts if part.more_after})
        async with self._transaction():
            ended = await self._end([(part.digest_id, part.part_no) for part in parts], reason, now)
            for digest_id in buttons:  # its "More" button never went out
                held = await self._fetchall(
                    "SELECT part_no FROM outbox WHERE digest_id = ? AND status = 'held'",
                    (digest_id,),
                )
                ended += await self._end([(digest_id, int(row[0])) for row in held], reason, now)
        return ended

    async def _end(self, keys: Sequence[tuple[int, int]], reason: str, now: str) -> int:
        ended = 0
        for digest_id, part_no in keys:
            rows = await self._fetchall(
                "SELECT chat_id, arxiv_ids FROM outbox WHERE digest_id = ? AND part_no = ?"
                " AND status IN ('pending', 'held')",
                (digest_id, part_no),
            )
            if not rows:
                continue  # sent, dropped or ended meanwhile
            chat_id, ids = int(rows[0][0]), json.loads(rows[0][1])
            await self._unrecord_deliveries(chat_id, ids)
            await self._db.execute(
                "UPDATE outbox SET status = 'failed', ended_at = ?, end_reason = ?"
                " WHERE digest_id = ? AND part_no = ?",
                (now, reason, digest_id, part_no),
            )
            ended += 1
        return ended

    async def stale_parts(self, chat_id: int, max_age: dt.timedelta) -> list[OutboxPart]:
        """The chat's pending parts queued more than `max_age` ago (when their digest was
        composed, or their "More" button pressed)."""
        rows = await self._fetchall(
            "SELECT o.digest_id, o.part_no FROM outbox o"
            " JOIN digests g ON g.digest_id = o.digest_id"
            " WHERE o.status = 'pending' AND o.chat_id = ?"
            " AND COALESCE(o.queued_at, g.created_at) < ?",
            (chat_id, timestamp(self._clock() - max_age)),
        )
        stale = {(int(row[0]), int(row[1])) for row in rows}
        if not stale:
            return []
        return [p for p in await self.pending_parts(chat_id) if (p.digest_id, p.part_no) in stale]

    async def count_ended_parts(self, since: dt.datetime) -> dict[str, int]:
        """Parts ended unsent since `since`, by reason (REFUSED, EXPIRED)."""
        rows = await self._fetchall(
            "SELECT end_reason, COUNT(*) FROM outbox"
            " WHERE status = 'failed' AND ended_at >= ? GROUP BY end_reason",
            (timestamp(since),),
        )
        counts = {REFUSED: 0, EXPIRED: 0}
        counts.update({str(row[0]): int(row[1]) for row in rows})
        return counts

    async def probe_write(self) -> None:
        """Write and take back a few pages in one transaction: raises DatabaseError when the
        database cannot be written (a full disk), as the ledger's next write would."""
        async with self._transaction():
            await self._db.execute(
                "INSERT INTO write_probe (filler) VALUES (zeroblob(?))", (_PROBE_BYTES,)
            )
            await self._db.execute("DELETE FROM write_probe")

    async def last_digest_composed(self, chat_id: int) -> dt.datetime | None:
        """When the chat's most recent digest was composed (sent), or None if it never had one."""
        rows = await self._fetchall(
            "SELECT MAX(created_at) FROM digests WHERE chat_id = ?", (chat_id,)
        )
        return dt.datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    async def last_digest_parts(self, chat_id: int) -> list[tuple[str, str | None]]:
        """The messages of the chat's most recent digest, in order, whatever their status:
        each one's text, or what a held one is rendered from (bot.delivery.digest)."""
        rows = await self._fetchall(
            "SELECT text, held FROM outbox WHERE digest_id ="
            " (SELECT MAX(digest_id) FROM digests WHERE chat_id = ?) ORDER BY part_no",
            (chat_id,),
        )
        return [(str(row[0]), row[1]) for row in rows]

    async def digest_chat(self, digest_id: int) -> int | None:
        """The chat a digest was composed for."""
        rows = await self._fetchall("SELECT chat_id FROM digests WHERE digest_id = ?", (digest_id,))
        return int(rows[0][0]) if rows else None
