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

# What the database raises when it cannot be read or written (a full disk, a broken file).
DatabaseError = sqlite3.Error
# Why a part ended unsent (outbox.end_reason).
REFUSED = "refused"  # Telegram refused it for good (a 400 other than a migration)
EXPIRED = "expired"  # still unsent after the maximum age
# The write probe allocates this much, so that a database that cannot grow fails it.
_PROBE_BYTES = 16_384


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
                "INSERT INTO outbox"
                " (digest_id, part_no, chat_id, text, arxiv_ids, status, queued_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        digest_id,
                        number,
                        chat_id,
                        text,
                        json.dumps(list(ids)),
                        "pending" if number <= visible else "held",
                        now if number <= visible else None,
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
                "UPDATE outbox SET status = 'pending', queued_at = ?"
                " WHERE digest_id = ? AND part_no = ?",
                [(timestamp(self._clock()), digest_id, row[0]) for row in rows],
            )
        return len(rows)

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
            await self._db.executemany(
                "DELETE FROM deliveries WHERE chat_id = ? AND arxiv_id = ?",
                [(chat_id, arxiv_id) for arxiv_id in ids],
            )
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

    async def last_digest_texts(self, chat_id: int) -> list[str]:
        """The messages of the chat's most recent digest, in order, whatever their status."""
        rows = await self._fetchall(
            "SELECT text FROM outbox WHERE digest_id ="
            " (SELECT MAX(digest_id) FROM digests WHERE chat_id = ?) ORDER BY part_no",
            (chat_id,),
        )
        return [str(row[0]) for row in rows]

    async def digest_chat(self, digest_id: int) -> int | None:
        """The chat a digest was composed for."""
        rows = await self._fetchall("SELECT chat_id FROM digests WHERE digest_id = ?", (digest_id,))
        return int(rows[0][0]) if rows else None
