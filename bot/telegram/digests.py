"""The digest on demand: /digest sends the pending one now (or says why there is none, and
when arXiv's next announcement comes), and a press on a digest's "More (k/n)" button
releases its next page."""

from __future__ import annotations

import datetime as dt
import html
import logging
import re
from zoneinfo import ZoneInfo

from telegram import Chat as TelegramChat
from telegram import Update
from telegram.error import BadRequest

from bot.arxiv.calendar import announced_through, eastern_date, is_announcement_day, next_poll_time
from bot.delivery.outbox import MORE_PREFIX, LedgerUnavailable
from bot.i18n import texts
from bot.i18n.translate import Translator
from bot.models import Chat
from bot.pipeline.digests import send_digest
from bot.services import Services
from bot.telegram.common import Context, chat_translator, current_chat, reply, services_of

log = logging.getLogger(__name__)

# A digest's number as the button carries it; SQLite's integers stop at 19 digits.
_DIGEST_ID = re.compile(r"[1-9][0-9]{0,17}")


async def digest_now(update: Update, context: Context) -> None:
    """/digest: send the pending digest now, or say why nothing is pending."""
    chat = await current_chat(update, context)
    services = services_of(context)
    tr = await chat_translator(update, context)
    keywords = await services.store.subscriptions_for(chat.chat_id)
    if not keywords:
        await reply(update, tr(texts.NO_SUBSCRIPTIONS))
        return
    now = services.clock()
    try:
        sent = await send_digest(context.bot, services, chat.chat_id, now=now)
    except LedgerUnavailable:  # a full disk: nothing was queued or sent, the papers wait
        await reply(update, tr(texts.DIGESTS_PAUSED))
        return
    if sent == 0:
        feed_day = await services.store.newest_feed_day()
        delay = services.config.poll_delay_minutes
        await reply(update, why_nothing(chat, tr, now, feed_day, delay))
        return
    link = await services.store.channel_link(chat.chat_id)
    if link is not None and link.active:  # else the user sees nothing happen here
        await reply(update, tr(texts.DIGEST_POSTED, channel=html.escape(link.title)))


def why_nothing(
    chat: Chat, tr: Translator, now: dt.datetime, feed_day: dt.date | None, delay_minutes: int
) -> str:
    """Why /digest has nothing at `now`: arXiv announces nothing today (a weekend or an arXiv
    holiday, by its calendar), or nothing in its latest announcement in (the newest feed day
    ingested is `feed_day`) matched; and when its next announcement reaches the bot (its poll
    `delay_minutes` after the feed's rebuild), in the chat's time zone."""
    due = next_poll_time(now, dt.timedelta(minutes=delay_minutes)).astimezone(
        ZoneInfo(chat.timezone)
    )
    when = {
        "next_day": tr.day(due.date()),
        "time": f"{due:%H:%M}",
        "timezone": html.escape(chat.timezone),
    }
    today = eastern_date(now)
    if not is_announcement_day(today):
        return tr(texts.NO_ANNOUNCEMENT_TODAY, day=tr.day(today), **when)
    latest = announced_through(now, feed_day)
    return tr(texts.NOTHING_MATCHED_TODAY, day=tr.day(latest), **when)


async def more_button(update: Update, context: Context) -> None:
    """A press on a digest's "More (k/n)" button: send its next page.

    The callback data comes from the user's app and may be forged: anything but the number
    of a digest of this chat is answered as an expired button, and nothing else happens."""
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    data = (query.data or "").removeprefix(MORE_PREFIX)
    tr = await chat_translator(update, context)
    services = services_of(context)
    digest = int(data) if _DIGEST_ID.fullmatch(data) else None
    owner = await _digest_owner(services, digest, update.effective_chat) if digest else None
    if digest is None or owner is None:
        await query.answer(tr(texts.BUTTON_EXPIRED))
        return
    released = await services.outbox.more(context.bot, digest, owner)
    await query.answer(None if released else tr(texts.DIGEST_COMPLETE))
    # The button has done its job; the next page carries its own if more remains.
    try:
        await query.edit_message_reply_markup(reply_markup=None)
    except BadRequest as exc:  # pressed twice, or the message is gone: nothing to take off
        log.info("Could not remove the More button of digest %s: %s", digest, exc.message)


async def _digest_owner(services: Services, digest_id: int, chat: TelegramChat) -> int | None:
    """The chat a digest's button press is for: the chat itself, or in a linked channel the
    private chat that manages it (the channel itself is nobody's chat); None when the digest
    is not one of theirs (or does not exist)."""
    owner = await services.store.digest_chat(digest_id)
    if owner == chat.id:
        return owner
    if owner is None or chat.type != TelegramChat.CHANNEL:
        return None
    link = await services.store.channel_link(owner)
    return owner if link is not None and link.channel_id == chat.id else None
