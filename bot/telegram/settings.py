"""A chat's settings: when its digest comes (/time, /timezone), which announcements go into
it and whether a day that matched nothing gets a line (/settings and its buttons), and the
language the bot speaks there (/lang and its buttons)."""

from __future__ import annotations

import datetime as dt
import html

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest

from bot.config import parse_time, parse_timezone
from bot.i18n import texts
from bot.i18n.translate import LANGUAGES, Translator, parse_language, translator
from bot.models import Chat
from bot.schedule import schedule_digest
from bot.telegram.common import (
    Context,
    chat_translator,
    command_args,
    current_chat,
    echo,
    echo_repr,
    reply,
    services_of,
)


async def set_time(update: Update, context: Context) -> None:
    """/time HH:MM"""
    chat = await current_chat(update, context)
    tr = await chat_translator(update, context)
    given = command_args(update)
    try:
        when = parse_time(given)
    except ValueError:
        usage = tr(texts.TIME_USAGE, timezone=html.escape(chat.timezone))
        await reply(update, f"{tr(texts.BAD_TIME, given=echo_repr(given))}\n{usage}")
        return
    await _reschedule(update, context, chat, when, chat.timezone)


async def set_timezone(update: Update, context: Context) -> None:
    """/timezone Area/City"""
    chat = await current_chat(update, context)
    tr = await chat_translator(update, context)
    given = command_args(update)
    try:
        zone = parse_timezone(given)  # refuses over-long names and tz database folders too
    except ValueError:
        error = tr(texts.BAD_TIMEZONE, given=echo_repr(given))
        await reply(update, f"{error}\n{tr(texts.TIMEZONE_USAGE)}")
        return
    await _reschedule(update, context, chat, chat.digest_time, zone)


async def _reschedule(
    update: Update, context: Context, chat: Chat, when: dt.time, zone: str
) -> None:
    store = services_of(context).store
    await store.set_digest_time(chat.chat_id, when)
    await store.set_timezone(chat.chat_id, zone)
    updated = await store.get_chat(chat.chat_id)
    if updated is not None and context.job_queue is not None:
        schedule_digest(context.job_queue, updated)
    tr = await chat_translator(update, context)
    await reply(update, tr(texts.DIGEST_NOW_AT, time=f"{when:%H:%M}", timezone=html.escape(zone)))


SETTINGS_PREFIX = "settings:"

_SETTING_LABELS = (
    ("new", texts.SETTING_NEW),
    ("cross", texts.SETTING_CROSS),
    ("revisions", texts.SETTING_REVISIONS),
    ("nomatch", texts.SETTING_NO_MATCH),
)


def settings_keyboard(chat: Chat, tr: Translator) -> InlineKeyboardMarkup:
    """One toggle button per announcement kind, and one for the line on a day that matched
    nothing; the callback data names the setting."""
    state = {
        "new": chat.want_new,
        "cross": chat.want_cross,
        "revisions": chat.want_revisions,
        "nomatch": chat.tell_no_match,
    }
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"{'✅' if state[key] else '⬜'} {tr(label)}",
                    callback_data=SETTINGS_PREFIX + key,
                )
            ]
            for key, label in _SETTING_LABELS
        ]
    )


async def settings(update: Update, context: Context) -> None:
    """/settings: which announcements (new, cross-lists, revisions) go into the digest, and
    whether a day that matched nothing gets a line."""
    chat = await current_chat(update, context)
    tr = await chat_translator(update, context)
    if update.effective_message is not None:
        await update.effective_message.reply_text(
            f"{tr(texts.SETTINGS)}\n{tr(texts.SETTINGS_NO_MATCH)}",
            parse_mode=ParseMode.HTML,
            reply_markup=settings_keyboard(chat, tr),
        )


async def settings_button(update: Update, context: Context) -> None:
    """A press on a /settings button: flip that setting and redraw the buttons."""
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    setting = (query.data or "").removeprefix(SETTINGS_PREFIX)
    tr = await chat_translator(update, context)
    if setting not in dict(_SETTING_LABELS):
        await query.answer(tr(texts.BUTTON_EXPIRED))
        return
    chat = await services_of(context).store.toggle_announcements(update.effective_chat.id, setting)
    if chat is None:
        await query.answer()
        return
    await query.answer(tr(texts.SAVED))
    await query.edit_message_reply_markup(reply_markup=settings_keyboard(chat, tr))


LANG_PREFIX = "lang:"


def language_keyboard(current: str) -> InlineKeyboardMarkup:
    """One button per language; the current one is ticked."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    f"{'✅ ' if code == current else ''}{name}", callback_data=LANG_PREFIX + code
                )
                for code, name in LANGUAGES.items()
            ]
        ]
    )


async def lang(update: Update, context: Context) -> None:
    """/lang shows the chat's language with buttons; /lang zh or /lang en switches."""
    chat = await current_chat(update, context)
    tr = await chat_translator(update, context)
    args = command_args(update)
    if not args:
        if update.effective_message is not None:
            await update.effective_message.reply_text(
                tr(texts.LANG_CURRENT),
                parse_mode=ParseMode.HTML,
                reply_markup=language_keyboard(tr.language),
            )
        return
    language = parse_language(args)
    if language is None:
        await reply(update, tr(texts.LANG_UNKNOWN, given=echo(args)))
        return
    await services_of(context).store.set_language(chat.chat_id, language)
    await reply(update, translator(language)(texts.LANG_SET))


async def lang_button(update: Update, context: Context) -> None:
    """A press on a /lang button: switch, answer in the new language, redraw the buttons."""
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    language = (query.data or "").removeprefix(LANG_PREFIX)
    if language not in LANGUAGES:
        await query.answer((await chat_translator(update, context))(texts.BUTTON_EXPIRED))
        return
    await services_of(context).store.set_language(update.effective_chat.id, language)
    tr = translator(language)
    await query.answer(tr(texts.SAVED))
    keyboard = language_keyboard(language)
    if getattr(query.message, "reply_markup", None) == keyboard:
        return  # the current language was tapped: the message already says so
    try:
        await query.edit_message_text(
            tr(texts.LANG_CURRENT),
            parse_mode=ParseMode.HTML,
            reply_markup=keyboard,
        )
    except BadRequest as exc:  # "message is not modified": it says so already
        if "not modified" not in exc.message:
            raise
