"""Groups and channels: who may change a group's keywords and settings, and /channel, which
posts a private chat's digests in a channel that the user and the bot administer.

In groups and supergroups only the administrators (the creator included, and anonymous
admins, whose messages come from the group itself) change subscriptions and settings; the
guard runs before every handler and refuses the others politely, so the handlers stay as
they are. Admin status comes from getChatMember and is cached for a minute.
"""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from telegram import Chat, ChatMember, ChatMemberAdministrator, Message, Update
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import services as services_mod
from bot.i18n import texts
from bot.telegram.common import chat_translator, command_args, echo, reply
from bot.telegram.settings import LANG_PREFIX, SETTINGS_PREFIX

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
ADMIN_TTL = 60.0  # seconds an answer of getChatMember is trusted
_CACHE_KEY = "admin_cache"
_CACHE_PRUNE_AT = 10_000
# Commands that change a group's keywords or settings (/categories and /lang only with a
# choice), and the buttons that do (the /settings and /lang ones).
CHANGING_COMMANDS = frozenset(
    {"subscribe", "unsubscribe", "time", "timezone", "settings", "digest"}
)
CHANGING_WITH_A_CHOICE = frozenset({"categories", "lang"})
CHANGING_BUTTONS = (SETTINGS_PREFIX, LANG_PREFIX)
ADMIN_STATUSES = frozenset({ChatMember.OWNER, ChatMember.ADMINISTRATOR})
GROUP_TYPES = frozenset({Chat.GROUP, Chat.SUPERGROUP})
# Usernames have at most 32 characters, chat ids at most 20 digits with their sign.
MAX_CHANNEL_REFERENCE = 64
_CHAT_ID = re.compile(r"-?[0-9]{1,20}")


def parse_command(text: str, bot_username: str) -> tuple[str, str] | None:
    """The command (lower case) and its arguments, if the text is a command for this bot:
    `/cmd` or `/cmd@ThisBot`. None for other text and for a command addressed to another bot."""
    if not text.startswith("/"):
        return None
    word, *rest = text.split(maxsplit=1)  # any whitespace ends the command, as for PTB
    name, _, addressee = word[1:].partition("@")
    if not name or (addressee and addressee.casefold() != bot_username.casefold()):
        return None
    return name.casefold(), rest[0].strip() if rest else ""


def changes_settings(command: str, args: str) -> bool:
    """Whether the command changes the chat's keywords or settings (so needs an admin)."""
    if command in CHANGING_COMMANDS:
        return True
    if command in CHANGING_WITH_A_CHOICE:  # without a choice they only show (or list)
        words = args.replace(",", " ").split()
        return bool(words) and not (command == "categories" and words[0].casefold() == "list")
    return False


class AdminCache:
    """Who is an admin of which group, as getChatMember last said, for `ttl` seconds."""

    def __init__(self, ttl: float = ADMIN_TTL, clock: Callable[[], float] = time.monotonic):
        self._ttl = ttl
        self._clock = clock
        self._known: dict[tuple[int, int], tuple[float, bool]] = {}

    def get(self, chat_id: int, user_id: int) -> bool | None:
        known = self._known.get((chat_id, user_id))
        if known is None or known[0] <= self._clock():
            return None
        return known[1]

    def put(self, chat_id: int, user_id: int, is_admin: bool) -> None:
        now = self._clock()
        if len(self._known) >= _CACHE_PRUNE_AT:
            self._known = {key: v for key, v in self._known.items() if v[0] > now}
        self._known[(chat_id, user_id)] = (now + self._ttl, is_admin)


def admin_cache(bot_data: dict[Any, Any]) -> AdminCache:
    cache = bot_data.get(_CACHE_KEY)
    if not isinstance(cache, AdminCache):
        cache = bot_data[_CACHE_KEY] = AdminCache()
    return cache


async def is_admin(context: Context, chat_id: int, user_id: int) -> bool | None:
    """Whether the user administers the chat; None when Telegram could not be asked."""
    cache = admin_cache(context.bot_data)
    known = cache.get(chat_id, user_id)
    if known is not None:
        return known
    try:
        member = await context.bot.get_chat_member(chat_id, user_id)
    except TelegramError as exc:
        log.warning("Could not check the admins of chat %s: %s", chat_id, exc.message)
        return None
    verdict = member.status in ADMIN_STATUSES
    cache.put(chat_id, user_id, verdict)
    return verdict


async def may_change(context: Context, message: Message) -> bool | None:
    """Whether the sender of the message may change its group's settings (None: unknown)."""
    if message.sender_chat is not None:
        # An anonymous admin writes as the group; a channel writing in its discussion group
        # is no admin of the group.
        return message.sender_chat.id == message.chat.id
    if message.from_user is None:
        return False
    return await is_admin(context, message.chat.id, message.from_user.id)


async def guard(update: Update, context: Context) -> None:
    """Runs before every handler: in a group, a member who is not an admin is refused what
    would change the group's keywords or settings, politely; the handlers never see it."""
    chat = update.effective_chat
    if chat is None or chat.type not in GROUP_TYPES:
        return
    query = update.callback_query
    if query is not None:
        if not (query.data or "").startswith(CHANGING_BUTTONS):
            return
        if await is_admin(context, chat.id, query.from_user.id):
            return
        await query.answer(
            (await chat_translator(update, context))(texts.ADMINS_ONLY_BUTTON), show_alert=True
        )
        raise ApplicationHandlerStop
    message = update.message or update.edited_message  # commands answer edits too
    if message is None or not message.text:
        return
    command = parse_command(message.text, context.bot.username)
    if command is None or not changes_settings(*command):
        return
    allowed = await may_change(context, message)
    if allowed:
        return
    log.info("Refused /%s to a non-admin in chat %s", command[0], chat.id)
    tr = await chat_translator(update, context)
    await reply(update, tr(texts.ADMINS_ONLY if allowed is False else texts.ADMIN_CHECK_FAILED))
    raise ApplicationHandlerStop


# /channel ------------------------------------------------------------------------------------


def channel_reference(arg: str) -> int | str | None:
    """What the user typed (`@name`, `name`, `t.me/name`, `-100…`) as getChat takes it; None
    for what cannot name a chat (longer than any username or chat id)."""
    arg = arg.removeprefix("https://").removeprefix("http://").removeprefix("t.me/")
    if len(arg) > MAX_CHANNEL_REFERENCE:
        return None
    if _CHAT_ID.fullmatch(arg):
        return int(arg)
    return arg if arg.startswith("@") else "@" + arg


async def channel(update: Update, context: Context) -> None:
    """/channel [@name | id | off]: post this private chat's digests in a channel instead."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return
    tr = await chat_translator(update, context)
    if chat.type != Chat.PRIVATE:
        await reply(update, tr(texts.CHANNEL_PRIVATE_ONLY))
        return
    store = services_mod.get(context.bot_data).store
    args = command_args(update).split()
    link = await store.channel_link(chat.id)
    if not args:
        if link is None:
            await reply(update, tr(texts.CHANNEL_NONE))
            return
        shown = texts.CHANNEL_SHOW if link.active else texts.CHANNEL_INACTIVE
        await reply(update, tr(shown, channel=html.escape(link.title), ref=html.escape(link.ref)))
        return
    if args[0].casefold() == "off":
        if link is not None and await store.unlink_channel(chat.id):
            await reply(update, tr(texts.CHANNEL_UNLINKED, channel=html.escape(link.title)))
        else:
            await reply(update, tr(texts.CHANNEL_NOT_LINKED))
        return
    await _link_channel(update, context, args[0], user.id)


async def _link_channel(update: Update, context: Context, arg: str, user_id: int) -> None:
    """Link the channel if it is one, the bot may post there and the user administers it."""
    bot, shown = context.bot, echo(arg)
    tr = await chat_translator(update, context)
    reference = channel_reference(arg)
    if reference is None:
        await reply(update, tr(texts.CHANNEL_NOT_FOUND, channel=shown))
        return
    try:
        found = await bot.get_chat(reference)
    except (BadRequest, Forbidden):
        await reply(update, tr(texts.CHANNEL_NOT_FOUND, channel=shown))
        return
    except TelegramError:
        await reply(update, tr(texts.CHANNEL_CHECK_FAILED, channel=shown))
        return
    if found.type != Chat.CHANNEL:
        await reply(update, tr(texts.CHANNEL_NOT_A_CHANNEL, channel=shown))
        return
    title = f"@{found.username}" if found.username else (found.title or str(found.id))
    ref = f"@{found.username}" if found.username else str(found.id)
    names = {"channel": html.escape(title), "ref": html.escape(ref)}
    try:
        me = await bot.get_chat_member(found.id, bot.id)
    except (BadRequest, Forbidden):  # not a member at all: the member list is closed to it
        me = None
    except TelegramError:
        await reply(update, tr(texts.CHANNEL_CHECK_FAILED, channel=shown))
        return
    if not (isinstance(me, ChatMemberAdministrator) and me.can_post_messages):
        await reply(update, tr(texts.CHANNEL_BOT_NOT_ADMIN, **names))
        return
    allowed = await is_admin(context, found.id, user_id)
    if allowed is None:
        await reply(update, tr(texts.CHANNEL_CHECK_FAILED, channel=shown))
        return
    if not allowed:
        await reply(update, tr(texts.CHANNEL_USER_NOT_ADMIN, **names))
        return
    chat_id = update.effective_chat.id  # type: ignore[union-attr]  # checked by the caller
    await services_mod.get(context.bot_data).store.link_channel(chat_id, found.id, title, user_id)
    log.info("Chat %s linked channel %s", chat_id, found.id)
    await reply(update, tr(texts.CHANNEL_LINKED, **names))
