"""The chats table family: each chat's settings (schedule, timezone, language,
announcements, categories, forum topic), its keyword subscriptions and its channel link,
and a chat's move to a new id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from bot.models import ChannelLink, Chat
from bot.storage.base import StoreBase, timestamp

CHAT_COLUMNS = (
    "chat_id, digest_time, timezone, active, last_digest_at,"
    " want_new, want_cross, want_revisions, categories, tell_no_match"
)
# Settings a chat can toggle, by the name the handlers use.
ANNOUNCEMENT_SETTINGS = {"new": "want_new", "cross": "want_cross", "revisions": "want_revisions"}
TOGGLES = {**ANNOUNCEMENT_SETTINGS, "nomatch": "tell_no_match"}


class ChatStore(StoreBase):
    """Chats, their subscriptions and their channel links."""

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
            f"SELECT {CHAT_COLUMNS} FROM chats WHERE chat_id = ?", (chat_id,)
        )
        return chat_from_row(rows[0]) if rows else None

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
            f"SELECT {CHAT_COLUMNS} FROM chats WHERE active = 1 ORDER BY chat_id"
        )
        return [chat_from_row(row) for row in rows]

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
        """Flip one of the chat's announcement choices ("new", "cross", "revisions"), or its
        note on days that matched nothing ("nomatch")."""
        column = TOGGLES[setting]  # a fixed column name, never user text
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

    async def record_digest(self, chat_id: int, moment: dt.datetime) -> None:
        await self._write(
            "UPDATE chats SET last_digest_at = ? WHERE chat_id = ?", (timestamp(moment), chat_id)
        )

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
        self._changes["subscriptions"] += 1
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
        # Again once committed: what was read and remembered in between is stale too.
        self._changes["subscriptions"] += 1
        return added

    async def remove_subscription(self, chat_id: int, key: str) -> bool:
        removed = await self._write(
            "DELETE FROM subscriptions WHERE chat_id = ? AND keyword_key = ?", (chat_id, key)
        )
        self._changes["subscriptions"] += 1
        return removed > 0

    async def remove_all_subscriptions(self, chat_id: int) -> int:
        removed = await self._write("DELETE FROM subscriptions WHERE chat_id = ?", (chat_id,))
        self._changes["subscriptions"] += 1
        return removed

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

    # A chat's move to a new id --------------------------------------------------------

    async def move_chat(self, old_id: int, new_id: int) -> None:
        """A group became a supergroup: its settings, keywords, ledger and outbox follow."""
        self._changes["subscriptions"] += 1
        async with self._transaction():
            await self._db.execute(
                "INSERT INTO chats (chat_id, active, digest_time, timezone, created_at,"
                " last_digest_at, want_new, want_cross, want_revisions, categories,"
                " tell_no_match)"
                " SELECT ?, active, digest_time, timezone, created_at, last_digest_at,"
                " want_new, want_cross, want_revisions, categories, tell_no_match"
                " FROM chats WHERE chat_id = ?"
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
        self._changes["subscriptions"] += 1


def chat_from_row(row: Sequence[Any]) -> Chat:
    chat_id, digest_time, timezone, active, last_digest_at, new, cross, revisions, cats, note = row
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
        tell_no_match=bool(note),
    )
