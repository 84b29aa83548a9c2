"""The delivery table family: the ledger of what each chat has received, and the digests
with their outbox parts, queued until Telegram confirms them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence

from bot.models import OutboxPart
from bot.storage.base import StoreBase, timestamp


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

    async def last_digest_composed(self, chat_id: int) -> dt.datetime | None:
        """When the chat's most recent digest was composed (sent), or None if it never had one."""
        rows = await self._fetchall(
            "SELECT MAX(created_at) FROM digests WHERE chat_id = ?", (chat_id,)
        )
        return dt.datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    async def digest_chat(self, digest_id: int) -> int | None:
        """The chat a digest was composed for."""
        rows = await self._fetchall("SELECT chat_id FROM digests WHERE digest_id = ?", (digest_id,))
        return int(rows[0][0]) if rows else None
