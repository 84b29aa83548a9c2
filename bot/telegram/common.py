"""What every command family shares: the services, chat and translator of an update, the
command's arguments, and the reply in the chat the update came from."""

from __future__ import annotations

import html
from collections.abc import Sequence

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot import services as services_mod
from bot.delivery.digest import MAX_MESSAGE_LENGTH, split_blocks
from bot.i18n.translate import Translator, translator
from bot.models import Chat
from bot.services import Services

Context = ContextTypes.DEFAULT_TYPE
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def services_of(context: Context) -> Services:
    """What the handlers share at run time: the store, the outbox, the config and the rest."""
    return services_mod.get(context.bot_data)


def command_args(update: Update) -> str:
    """The text after the command word (`/cmd@BotName rest` → `rest`)."""
    message = update.effective_message
    text = message.text if message and message.text else ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


async def reply(update: Update, text: str) -> None:
    """Answer in the chat the update came from, HTML, no link previews, split if long."""
    message = update.effective_message
    if message is None:
        return
    for part in split_blocks("", text.split("\n"), MAX_MESSAGE_LENGTH, separator="\n"):
        await message.reply_text(part, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW)


async def current_chat(update: Update, context: Context) -> Chat:
    """The stored chat the update came from (registered now if it was missed)."""
    services = services_of(context)
    chat_id = update.effective_chat.id if update.effective_chat else 0
    chat = await services.store.get_chat(chat_id)
    if chat is None:  # track_chat runs first; this only guards against a missed update
        chat, _ = await services.store.ensure_chat(
            chat_id, services.config.digest_time, services.config.digest_timezone
        )
    return chat


async def chat_translator(update: Update, context: Context) -> Translator:
    """The translator of the chat the update came from (English for an unknown chat)."""
    chat = update.effective_chat
    language = await services_of(context).store.language_of(chat.id) if chat else None
    return translator(language)


def quoted(keywords: Sequence[str]) -> str:
    """Keywords in bold, comma-separated, for a reply."""
    return ", ".join(f"<b>{html.escape(k)}</b>" for k in keywords)
