"""The outbox: queue a digest's parts in the store, send them, mark each one sent when
Telegram confirms it. A crash between the two loses nothing: pending parts are sent on start.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError

from bot.digest import DigestPart
from bot.models import OutboxPart
from bot.store import Store

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
MORE_PREFIX = "more:"
DEFAULT_VISIBLE_PARTS = 3
DEFAULT_CONCURRENCY = 256  # chats sent to at once; the rate limiter paces the messages


class Outcome(enum.Enum):
    SENT = "sent"
    GONE = "gone"  # blocked, kicked or deleted: the chat is inactive, its parts dropped
    FAILED = "failed"  # anything else: the unsent parts stay queued for the next flush


def more_button(part: OutboxPart) -> InlineKeyboardMarkup:
    """ "More (4/6)" under the last part shown; the callback data survives restarts."""
    label = f"More ({part.part_no + 1}/{part.parts_total})"
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=f"{MORE_PREFIX}{part.digest_id}")]]
    )


class Outbox:
    """Queues digests and sends what is pending, one chat at a time per chat, many chats
    at once, so that multi-message digests do not hold the rate down to one chat's pace."""

    def __init__(
        self,
        store: Store,
        visible_parts: int = DEFAULT_VISIBLE_PARTS,
        concurrency: int = DEFAULT_CONCURRENCY,
        paid_broadcast: bool = False,
    ) -> None:
        self._store = store
        # Above 30 messages/s Telegram charges per message, and only for sends that say so.
        self._paid = True if paid_broadcast else None
        self.visible_parts = visible_parts
        self._slots = asyncio.Semaphore(concurrency)
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def enqueue(self, chat_id: int, parts: Sequence[DigestPart]) -> int:
        """Queue a digest (its papers now count as delivered); returns its id."""
        return await self._store.compose_digest(
            chat_id, [(part.text, part.arxiv_ids) for part in parts], self.visible_parts
        )

    async def flush_chat(self, bot: Bot, chat_id: int) -> Outcome:
        """Send the chat's pending parts in order, each marked sent once confirmed."""
        async with self._slots, self._locks[chat_id]:
            for part in await self._store.pending_parts(chat_id):
                outcome = await self._send(bot, part)
                if outcome is not Outcome.SENT:
                    return outcome
        return Outcome.SENT

    async def flush(self, bot: Bot) -> Counter[Outcome]:
        """Send everything pending, interleaving chats; returns outcomes per chat."""
        chats = list(dict.fromkeys(part.chat_id for part in await self._store.pending_parts()))
        outcomes = await asyncio.gather(*(self.flush_chat(bot, chat) for chat in chats))
        return Counter(outcomes)

    async def more(self, bot: Bot, digest_id: int, chat_id: int) -> int:
        """Release and send the next page of a digest held behind its "More" button."""
        released = await self._store.release_held_parts(digest_id, chat_id, self.visible_parts)
        if released:
            await self.flush_chat(bot, chat_id)
        return released

    async def _send(self, bot: Bot, part: OutboxPart, *, moved: bool = False) -> Outcome:
        markup = more_button(part) if part.more_after else None
        try:
            await bot.send_message(
                part.chat_id,
                part.text,
                parse_mode=ParseMode.HTML,
                link_preview_options=NO_PREVIEW,
                reply_markup=markup,
                allow_paid_broadcast=self._paid,
            )
        except ChatMigrated as exc:
            if moved:  # Telegram never migrates a chat twice in a row; do not loop
                return Outcome.FAILED
            # The group became a supergroup: move everything, then deliver there.
            log.info("Chat %s migrated to %s; moving it", part.chat_id, exc.new_chat_id)
            await self._store.move_chat(part.chat_id, exc.new_chat_id)
            return await self._send(bot, replace(part, chat_id=exc.new_chat_id), moved=True)
        except Forbidden as exc:
            return await self._gone(part.chat_id, exc.message)
        except BadRequest as exc:
            if "chat not found" in exc.message.lower():
                return await self._gone(part.chat_id, exc.message)
            log.error(
                "Telegram refused part %d/%d of digest %d for chat %s: %s",
                part.part_no,
                part.parts_total,
                part.digest_id,
                part.chat_id,
                exc.message,
            )
            return Outcome.FAILED
        except TelegramError as exc:
            log.warning(
                "Part %d/%d of digest %d for chat %s not sent, will retry: %s",
                part.part_no,
                part.parts_total,
                part.digest_id,
                part.chat_id,
                exc,
            )
            return Outcome.FAILED
        await self._store.mark_part_sent(part)
        return Outcome.SENT

    async def _gone(self, chat_id: int, reason: str) -> Outcome:
        dropped = await self._store.drop_pending_parts(chat_id)
        await self._store.set_active(chat_id, False)
        log.info(
            "Chat %s is gone (%s): marked inactive, %d pending parts dropped",
            chat_id,
            reason,
            dropped,
        )
        return Outcome.GONE


async def deliver(bot: Bot, store: Store, chat_id: int, parts: Sequence[DigestPart]) -> Outcome:
    """Queue one digest for one chat and send it (all parts visible)."""
    outbox = Outbox(store, visible_parts=max(len(parts), 1))
    await outbox.enqueue(chat_id, parts)
    return await outbox.flush_chat(bot, chat_id)
