"""What every chat meets, whatever it asks: track_chat, which runs before every handler
(registers the chat, wakes it up, follows a group that became a supergroup), /start and
/help, /id, the answers to unknown commands and plain text, and the error handler."""

from __future__ import annotations

import html
import logging

from telegram import Chat as TelegramChat
from telegram import Update

from bot.i18n import texts
from bot.i18n.translate import language_for, translator
from bot.matching.ranking import MAX_QUERY_LENGTH, MAX_SUBSCRIPTIONS
from bot.schedule import follow_moved_chat, schedule_digest
from bot.telegram.common import Context, chat_translator, current_chat, reply, services_of

log = logging.getLogger(__name__)


async def track_chat(update: Update, context: Context) -> None:
    """Runs before every handler: register new chats, reactivate chats that came back,
    and follow a group that became a supergroup to its new id."""
    if update.effective_chat is None:
        return
    if update.effective_chat.type == TelegramChat.CHANNEL:
        return  # a linked channel is managed from a private chat, not a chat of its own
    services = services_of(context)
    message = update.effective_message
    if message is not None and message.migrate_to_chat_id:
        # Sent in the old group, which is gone: move it, and do not register it again.
        await _follow_migration(context, update.effective_chat.id, message.migrate_to_chat_id)
        return
    if message is not None and message.migrate_from_chat_id:
        # Sent in the new supergroup (after the above, or instead of it): move before the
        # supergroup is registered with the defaults, so the group's settings are kept.
        await _follow_migration(context, message.migrate_from_chat_id, update.effective_chat.id)
    chat, before = await services.store.ensure_chat(
        update.effective_chat.id, services.config.digest_time, services.config.digest_timezone
    )
    if before is not None and not before.active:
        log.info("Chat %s is active again", chat.chat_id)
    user = update.effective_user
    if user is not None and await services.store.language_of(chat.chat_id) is None:
        # The first time the chat writes: speak the language of its user's Telegram app.
        language = language_for(user.language_code)
        await services.store.set_language(chat.chat_id, language, only_if_unset=True)
    if (before is None or not before.active) and context.job_queue is not None:
        schedule_digest(context.job_queue, chat)


async def _follow_migration(context: Context, old_id: int, new_id: int) -> None:
    services = services_of(context)
    if await services.store.get_chat(old_id) is None:
        return  # already moved (Telegram announces a migration twice), or never known
    log.info("Group %s became supergroup %s; moving it", old_id, new_id)
    await services.store.move_chat(old_id, new_id)
    if context.job_queue is not None:
        await follow_moved_chat(context.job_queue, services.store, old_id, new_id)


async def start(update: Update, context: Context) -> None:
    """Welcome and how to begin."""
    chat = await current_chat(update, context)
    tr = await chat_translator(update, context)
    await reply(
        update, tr(texts.START, time=chat.digest_time.strftime("%H:%M"), timezone=chat.timezone)
    )


async def help_command(update: Update, context: Context) -> None:
    default = ", ".join(services_of(context).config.arxiv_categories)
    tr = await chat_translator(update, context)
    await reply(
        update,
        tr(
            texts.HELP,
            max_subs=MAX_SUBSCRIPTIONS,
            max_len=MAX_QUERY_LENGTH,
            default=html.escape(default),
        )
        + tr(texts.HELP_GROUPS),
    )


async def show_ids(update: Update, context: Context) -> None:
    """/id: the user's Telegram id (what ADMIN_IDS wants) and the chat's, and the topic's."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    tr = await chat_translator(update, context)
    user = update.effective_user
    if message.sender_chat is not None or user is None or user.is_bot:
        # Sent on behalf of a chat (an anonymous group admin, a channel): Telegram does not
        # tell the bot who wrote it.
        lines = [tr(texts.ID_ANONYMOUS)]
    else:
        lines = [tr(texts.ID_USER, user_id=user.id)]
    if chat.type != TelegramChat.PRIVATE:
        lines.append(tr(texts.ID_CHAT, chat_id=chat.id))
    if message.is_topic_message and message.message_thread_id is not None:
        lines.append(tr(texts.ID_TOPIC, topic_id=message.message_thread_id))
    lines.append(tr(texts.ID_ADMINS))
    await reply(update, "\n".join(lines))


async def unknown_command(update: Update, context: Context) -> None:
    if not _addressed_to_me(update, context):
        return  # another bot's command, or a bare one in a group (maybe for another bot)
    text = update.effective_message.text if update.effective_message else ""
    command = (text or "").split(maxsplit=1)[0] if text else "?"
    tr = await chat_translator(update, context)
    await reply(update, tr(texts.UNKNOWN_COMMAND, command=html.escape(command[:64])))


async def not_a_command(update: Update, context: Context) -> None:
    await reply(update, (await chat_translator(update, context))(texts.NOT_A_COMMAND))


async def on_error(update: object, context: Context) -> None:
    """Log any handler error; tell the user something went wrong instead of going silent."""
    log.error("Error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            try:
                tr = await chat_translator(update, context)
            except Exception:  # the store may be what failed: say it in English then
                tr = translator(None)
            await reply(update, tr(texts.INTERNAL_ERROR))
        except Exception:  # the error may be Telegram itself being unreachable
            log.warning("Could not tell the user about the error", exc_info=True)


def _addressed_to_me(update: Update, context: Context) -> bool:
    """A command is for this bot if it names it (`/cmd@ThisBot`) or comes in a private chat."""
    message, chat = update.effective_message, update.effective_chat
    word = (message.text or "").split(maxsplit=1)[0] if message and message.text else ""
    _, _, addressee = word.partition("@")
    if addressee:
        return addressee.casefold() == (context.bot.username or "").casefold()
    return chat is None or chat.type == TelegramChat.PRIVATE
