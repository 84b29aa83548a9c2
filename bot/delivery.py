"""Send rendered messages to one chat and record in the ledger what Telegram confirmed."""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, TelegramError

from bot.digest import DigestPart
from bot.store import Store

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class Outcome(enum.Enum):
    SENT = "sent"
    GONE = "gone"  # blocked, kicked or deleted: the chat is now inactive
    FAILED = "failed"  # anything else; what was not confirmed is retried next time


async def deliver(bot: Bot, store: Store, chat_id: int, parts: Sequence[DigestPart]) -> Outcome:
    """Send the parts in order; each part's papers are marked delivered once Telegram confirms.

    Rate limits and 429 retries are the application's rate limiter's job; here we only
    decide what an error means for this chat. One chat's failure never raises.
    """
    for number, part in enumerate(parts, start=1):
        try:
            await bot.send_message(
                chat_id, part.text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
            )
        except Forbidden as exc:
            log.info("Chat %s is gone (%s); marking it inactive", chat_id, exc.message)
            await store.set_active(chat_id, False)
            return Outcome.GONE
        except BadRequest as exc:
            if "chat not found" in exc.message.lower():
                log.info("Chat %s not found; marking it inactive", chat_id)
                await store.set_active(chat_id, False)
                return Outcome.GONE
            log.error(
                "Telegram refused part %d/%d for chat %s: %s",
                number,
                len(parts),
                chat_id,
                exc.message,
            )
            return Outcome.FAILED
        except ChatMigrated as exc:
            log.warning("Chat %s migrated to %s; not delivered", chat_id, exc.new_chat_id)
            return Outcome.FAILED
        except TelegramError as exc:
            log.warning(
                "Sending part %d/%d to chat %s failed: %s", number, len(parts), chat_id, exc
            )
            return Outcome.FAILED
        if part.arxiv_ids:
            await store.mark_delivered(chat_id, part.arxiv_ids)
    return Outcome.SENT
