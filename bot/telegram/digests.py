"""The digest on demand: /digest sends the pending one now, and a press on a digest's
"More (k/n)" button releases its next page."""

from __future__ import annotations

import html

from telegram import Chat as TelegramChat
from telegram import Update

from bot.delivery.outbox import MORE_PREFIX
from bot.i18n import texts
from bot.pipeline import send_digest
from bot.services import Services
from bot.telegram.common import Context, chat_translator, current_chat, reply, services_of


async def digest_now(update: Update, context: Context) -> None:
    """/digest: send the pending digest now, or say that nothing is pending."""
    chat = await current_chat(update, context)
    services = services_of(context)
    tr = await chat_translator(update, context)
    if not await services.store.subscriptions_for(chat.chat_id):
        await reply(update, tr(texts.NO_SUBSCRIPTIONS))
        return
    sent = await send_digest(context.bot, services, chat.chat_id)
    if sent == 0:
        await reply(update, tr(texts.NOTHING_PENDING))
        return
    link = await services.store.channel_link(chat.chat_id)
    if link is not None and link.active:  # else the user sees nothing happen here
        await reply(update, tr(texts.DIGEST_POSTED, channel=html.escape(link.title)))


async def more_button(update: Update, context: Context) -> None:
    """A press on a digest's "More (k/n)" button: send its next page."""
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    digest = (query.data or "").removeprefix(MORE_PREFIX)
    tr = await chat_translator(update, context)
    if not digest.isdigit():
        await query.answer(tr(texts.BUTTON_EXPIRED))
        return
    services = services_of(context)
    owner = await _digest_owner(services, int(digest), update.effective_chat)
    released = await services.outbox.more(context.bot, int(digest), owner)
    await query.answer(None if released else tr(texts.DIGEST_COMPLETE))
    # The button has done its job; the next page carries its own if more remains.
    await query.edit_message_reply_markup(reply_markup=None)


async def _digest_owner(services: Services, digest_id: int, chat: TelegramChat) -> int:
    """The chat a digest's button press is for: in a linked channel, the private chat that
    manages it (the channel itself is nobody's chat)."""
    if chat.type != TelegramChat.CHANNEL:
        return chat.id
    owner = await services.store.digest_chat(digest_id)
    link = await services.store.channel_link(owner) if owner is not None else None
    return (
        owner if owner is not None and link is not None and link.channel_id == chat.id else chat.id
    )
