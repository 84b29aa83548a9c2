"""What every command family shares: the services, chat and translator of an update, the
command's arguments, what of them an answer may echo, and the reply in the chat the update
came from (always within Telegram's limits)."""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Sequence

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot import services as services_mod
from bot.delivery.digest import MAX_MESSAGE_LENGTH, split_blocks, telegram_length
from bot.i18n.translate import Translator, translator
from bot.models import Chat
from bot.services import Services

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
ECHO_LENGTH = 40  # characters of the user's input an answer repeats
# A line of a reply longer than this (Telegram's length) is cut: room is left for the "(2/3)"
# line that split_blocks puts at the top of a continued reply.
MAX_LINE_LENGTH = MAX_MESSAGE_LENGTH - 64
_ELLIPSIS = "\u2026"
_TAG = re.compile(r"<[^>]*>")
_ASCII_NUMBER = re.compile(r"[+-]?[0-9]+")


def services_of(context: Context) -> Services:
    """What the handlers share at run time: the store, the outbox, the config and the rest."""
    return services_mod.get(context.bot_data)


def command_args(update: Update) -> str:
    """The text after the command word (`/cmd@BotName rest` → `rest`)."""
    message = update.effective_message
    text = message.text if message and message.text else ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def shorten(text: str, length: int) -> str:
    """Plain text cut to at most `length` characters (UTF-16 units, as Telegram counts), with
    "…" where it was cut; never inside a surrogate pair."""
    units = text.encode("utf-16-le", "surrogatepass")
    if len(units) // 2 <= length:
        return text
    cut = units[: 2 * max(0, length - 1)].decode("utf-16-le", "ignore")
    return cut.rstrip() + _ELLIPSIS


def echo(text: str, length: int = ECHO_LENGTH) -> str:
    """A piece of what the user typed, for an answer to repeat: spaces collapsed, at most
    `length` characters, HTML-escaped."""
    return html.escape(shorten(" ".join(text.split()), length))


def echo_repr(text: str, length: int = ECHO_LENGTH) -> str:
    """As `echo`, in quotes, as Python writes a string ('08:30'); for time and zone names."""
    return html.escape(repr(shorten(" ".join(text.split()), length)))


def ascii_number(text: str, digits: int = 9) -> int | None:
    """An integer typed with ASCII digits ("12", "+3", "-1"); None for anything else, from
    superscripts ("²") to other scripts' digits. More than `digits` digits count as a number
    too large for any use: returned as 10 ** digits, so a range check refuses or caps it."""
    text = text.strip()
    if not _ASCII_NUMBER.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    magnitude = text.lstrip("+-")
    return sign * (int(magnitude) if len(magnitude) <= digits else 10**digits)


def _fitting(line: str) -> str:
    """The line if Telegram can show it; else its visible text cut to fit (markup dropped).

    Every value a handler puts into an answer is bounded; this is the last guard, so that an
    answer is never refused by Telegram for its length."""
    if telegram_length(line) <= MAX_LINE_LENGTH:
        return line
    log.warning("Cut a reply line of %d characters to fit Telegram", telegram_length(line))
    visible = html.unescape(_TAG.sub("", line))
    return html.escape(shorten(visible, MAX_LINE_LENGTH), quote=False)


async def reply(update: Update, text: str) -> None:
    """Answer in the chat the update came from, HTML, no link previews, split if long (a line
    too long for one message is cut)."""
    message = update.effective_message
    if message is None:
        return
    lines = [_fitting(line) for line in text.split("\n")]
    for part in split_blocks("", lines, MAX_MESSAGE_LENGTH, separator="\n"):
        if not _TAG.sub("", part).strip():
            continue  # Telegram refuses an empty message
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
