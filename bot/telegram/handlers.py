"""Thin command handlers: parse the arguments, call the store or the pipeline, reply."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import logging
from collections.abc import AsyncIterator, Sequence
from zoneinfo import ZoneInfo

from telegram import Chat as TelegramChat
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import services as services_mod
from bot.arxiv import categories as arxiv_categories
from bot.arxiv.api import ArxivApiError
from bot.arxiv.categories import in_categories
from bot.arxiv.search_query import is_id_list, to_arxiv_query
from bot.config import parse_time, parse_timezone
from bot.delivery.digest import MAX_MESSAGE_LENGTH, render_digest, split_blocks
from bot.delivery.markdown import export_filename, render_markdown
from bot.delivery.outbox import MORE_PREFIX
from bot.delivery.ratelimit import TelegramRateLimiter
from bot.i18n import texts
from bot.i18n.translate import LANGUAGES, Translator, language_for, parse_language, translator
from bot.matching.query import QueryError, describe, parse_query
from bot.matching.ranking import (
    MAX_QUERY_LENGTH,
    MAX_SUBSCRIPTIONS,
    KeywordError,
    match_papers,
    parse_keywords,
)
from bot.models import Chat, Hit
from bot.pipeline import send_digest
from bot.schedule import follow_moved_chat, schedule_digest
from bot.services import Services
from bot.storage.store import Store, utcnow

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
LATEST_DEFAULT, LATEST_MAX = 5, 20
PREVIEW_DAYS, PREVIEW_TITLES = 7, 3
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
SEARCH_RESULTS = 10  # per /search; arXiv's API allows more, a chat wants few
MAX_CHAT_CATEGORIES = 20
TYPING_EVERY = 4.0  # seconds; Telegram shows "typing…" for 5 s


def _services(context: Context) -> Services:
    return services_mod.get(context.bot_data)


def subscription_key(query: str) -> str:
    """One key per meaning: `Diffusion  models` and `diffusion model` are one subscription."""
    try:
        return describe(parse_query(query))
    except QueryError:  # stored before a rule change: it still has to be listable/removable
        return query


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


async def _chat(update: Update, context: Context) -> Chat:
    services = _services(context)
    chat_id = update.effective_chat.id if update.effective_chat else 0
    chat = await services.store.get_chat(chat_id)
    if chat is None:  # track_chat runs first; this only guards against a missed update
        chat, _ = await services.store.ensure_chat(
            chat_id, services.config.digest_time, services.config.digest_timezone
        )
    return chat


async def _tr(update: Update, context: Context) -> Translator:
    """The translator of the chat the update came from (English for an unknown chat)."""
    chat = update.effective_chat
    language = await _services(context).store.language_of(chat.id) if chat else None
    return translator(language)


async def track_chat(update: Update, context: Context) -> None:
    """Runs before every handler: register new chats, reactivate chats that came back,
    and follow a group that became a supergroup to its new id."""
    if update.effective_chat is None:
        return
    if update.effective_chat.type == TelegramChat.CHANNEL:
        return  # a linked channel is managed from a private chat, not a chat of its own
    services = _services(context)
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
    services = _services(context)
    if await services.store.get_chat(old_id) is None:
        return  # already moved (Telegram announces a migration twice), or never known
    log.info("Group %s became supergroup %s; moving it", old_id, new_id)
    await services.store.move_chat(old_id, new_id)
    if context.job_queue is not None:
        await follow_moved_chat(context.job_queue, services.store, old_id, new_id)


async def start(update: Update, context: Context) -> None:
    """Welcome and how to begin."""
    chat = await _chat(update, context)
    tr = await _tr(update, context)
    await reply(
        update, tr(texts.START, time=chat.digest_time.strftime("%H:%M"), timezone=chat.timezone)
    )


async def help_command(update: Update, context: Context) -> None:
    default = ", ".join(_services(context).config.arxiv_categories)
    tr = await _tr(update, context)
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


async def subscribe(update: Update, context: Context) -> None:
    """/subscribe kw1, "a phrase", kw3"""
    args = command_args(update)
    tr = await _tr(update, context)
    if not args:
        await reply(update, tr(texts.SUBSCRIBE_USAGE))
        return
    try:
        keywords = parse_keywords(args)
    except KeywordError as exc:
        await reply(update, f"{html.escape(exc.localized(tr))}\n{tr(texts.SUBSCRIBE_USAGE)}")
        return
    chat = await _chat(update, context)
    store = _services(context).store
    existing = await store.subscriptions_for(chat.chat_id)
    have = {subscription_key(k) for k in existing}
    fresh = [k for k in keywords if subscription_key(k) not in have]
    already = [k for k in keywords if subscription_key(k) in have]
    if len(existing) + len(fresh) > MAX_SUBSCRIPTIONS:
        await reply(
            update,
            tr(
                texts.TOO_MANY_SUBSCRIPTIONS,
                count=len(existing),
                adding=len(fresh),
                max=MAX_SUBSCRIPTIONS,
            ),
        )
        return
    await store.add_subscriptions(chat.chat_id, [(subscription_key(k), k) for k in fresh])
    lines = []
    if fresh:
        lines.append(tr(texts.SUBSCRIBED, keywords=_quoted(fresh)))
        lines += await _preview(_services(context), chat, fresh, tr)
    if already:
        lines.append(tr(texts.ALREADY_FOLLOWING, keywords=_quoted(already)))
    lines.append(
        tr(
            texts.FOLLOWING_SUMMARY,
            count=len(existing) + len(fresh),
            time=f"{chat.digest_time:%H:%M}",
            timezone=html.escape(chat.timezone),
        )
    )
    lines += await _topic_note(update, store, chat.chat_id, tr)
    await reply(update, "\n".join(lines))


async def _topic_note(update: Update, store: Store, chat_id: int, tr: Translator) -> list[str]:
    """In a forum, digests go to the topic where /subscribe was last sent; say so when that
    changes."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or not chat.is_forum:
        return []
    topic = message.message_thread_id if message.is_topic_message else None
    before = await store.get_thread(chat_id)
    if topic == before:
        return []
    await store.set_thread(chat_id, topic)
    if topic is None:
        return [tr(texts.TOPIC_GENERAL)]
    return [tr(texts.TOPIC_CHOSEN if before is None else texts.TOPIC_MOVED)]


async def _preview(
    services: Services, chat: Chat, queries: Sequence[str], tr: Translator
) -> list[str]:
    """How many papers of the last week (in the chat's categories) each new query matches,
    with up to three titles."""
    since = utcnow() - dt.timedelta(days=PREVIEW_DAYS)
    papers = in_categories(await services.store.recent_papers(since), services.categories_of(chat))
    lines = []
    for number, query in enumerate(queries):
        hits = await asyncio.to_thread(match_papers, papers, [query])
        label = f"<b>{html.escape(query)}</b>"
        if not hits:
            lines.append(tr(texts.PREVIEW_NONE, query=label, days=PREVIEW_DAYS))
            continue
        counts = {"query": label, "hits": len(hits), "papers": len(papers), "days": PREVIEW_DAYS}
        if number >= PREVIEW_TITLES:  # many queries at once: counts only, keep it short
            lines.append(tr(texts.PREVIEW_COUNT, **counts))
            continue
        lines.append(tr(texts.PREVIEW_EXAMPLES, **counts))
        lines += [f"• {html.escape(hit.paper.title)}" for hit in hits[:PREVIEW_TITLES]]
    return lines


async def unsubscribe(update: Update, context: Context) -> None:
    """/unsubscribe kw, /unsubscribe all"""
    args = command_args(update)
    tr = await _tr(update, context)
    if not args:
        await reply(update, tr(texts.UNSUBSCRIBE_USAGE))
        return
    chat = await _chat(update, context)
    store = _services(context).store
    if args.casefold() == "all":
        removed = await store.remove_all_subscriptions(chat.chat_id)
        await reply(update, tr(texts.REMOVED_ALL, count=removed))
        return
    try:
        keywords = parse_keywords(args)
    except KeywordError as exc:
        await reply(update, f"{html.escape(exc.localized(tr))}\n{tr(texts.UNSUBSCRIBE_USAGE)}")
        return
    gone = [
        k for k in keywords if await store.remove_subscription(chat.chat_id, subscription_key(k))
    ]
    missing = [k for k in keywords if k not in gone]
    lines = []
    if gone:
        lines.append(tr(texts.UNSUBSCRIBED, keywords=_quoted(gone)))
    if missing:
        lines.append(tr(texts.NOT_FOLLOWING, keywords=_quoted(missing)))
    await reply(update, "\n".join(lines))


async def list_subscriptions(update: Update, context: Context) -> None:
    """Show the chat's keywords and digest time."""
    chat = await _chat(update, context)
    keywords = await _services(context).store.subscriptions_for(chat.chat_id)
    tr = await _tr(update, context)
    when = tr(
        texts.DIGEST_AT, time=f"{chat.digest_time:%H:%M}", timezone=html.escape(chat.timezone)
    )
    if not keywords:
        await reply(update, f"{tr(texts.NO_SUBSCRIPTIONS)}\n{when}")
        return
    lines = [tr(texts.YOU_FOLLOW, count=len(keywords))]
    lines += [f"{n}. {html.escape(k)}" for n, k in enumerate(keywords, start=1)]
    await reply(update, "\n".join([*lines, when]))


async def latest(update: Update, context: Context) -> None:
    """/latest [N] or /latest <query>: the newest stored matches, without marking them sent."""
    args = command_args(update)
    chat = await _chat(update, context)
    services = _services(context)
    tr = await _tr(update, context)
    count, notice = LATEST_DEFAULT, ""
    if args and args.lstrip("+-").isdigit():
        count = int(args)
        if count < 1:
            await reply(update, tr(texts.LATEST_USAGE, max=LATEST_MAX))
            return
        if count > LATEST_MAX:
            count, notice = LATEST_MAX, tr(texts.SHOWING_AT_MOST, max=LATEST_MAX)
        args = ""
    if args:
        try:
            keywords = parse_keywords(args)
        except KeywordError as exc:
            usage = tr(texts.LATEST_USAGE, max=LATEST_MAX)
            await reply(update, f"{html.escape(exc.localized(tr))}\n{usage}")
            return
    else:
        keywords = await services.store.subscriptions_for(chat.chat_id)
        if not keywords:
            await reply(update, tr(texts.NO_SUBSCRIPTIONS))
            return
    hits, chosen = [], services.categories_of(chat)
    async for batch in services.store.papers_newest_first():
        hits += await asyncio.to_thread(match_papers, in_categories(batch, chosen), keywords)
        if len(hits) >= count:
            break
    if not hits:
        await reply(update, tr(texts.NO_MATCH_YET, keywords=_quoted(keywords)))
        return
    if notice:
        await reply(update, notice)
    await _send_papers(update, hits[:count], tr(texts.LATEST_HEADING), tr)


async def _send_papers(update: Update, hits: Sequence[Hit], heading: str, tr: Translator) -> None:
    """Papers as a digest is laid out (one or more messages), as an answer to a command."""
    for text in render_digest(hits, heading=heading, tr=tr):
        await update.effective_message.reply_text(  # type: ignore[union-attr]
            text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
        )


async def search(update: Update, context: Context) -> None:
    """/search <query>: ask arXiv's API (older papers too), newest first, cached for a day."""
    args = command_args(update)
    tr = await _tr(update, context)
    if not args:
        await reply(update, tr(texts.SEARCH_USAGE))
        return
    try:
        api_query = to_arxiv_query(args)
    except QueryError as exc:
        await reply(update, f"{html.escape(exc.localized(tr))}\n{tr(texts.SEARCH_USAGE)}")
        return
    services = _services(context)
    try:
        async with _typing(context, update):  # the polite fetcher may wait 3 s and more
            results = await services.search.search(api_query, max_results=SEARCH_RESULTS)
    except ArxivApiError as exc:
        await reply(update, html.escape(exc.localized(tr)))
        return
    if not results.papers:
        await reply(update, tr(texts.SEARCH_EMPTY, query=html.escape(args)))
        return
    keywords = () if is_id_list(args) else (args,)
    hits = [Hit(paper, keywords) for paper in results.papers[:SEARCH_RESULTS]]
    if results.total > len(hits):
        heading = tr(
            texts.SEARCH_HEADING_SOME, query=args, shown=len(hits), total=f"{results.total:,}"
        )
    else:
        heading = tr(texts.SEARCH_HEADING, query=args)
    await _send_papers(update, hits, heading, tr)


@contextlib.asynccontextmanager
async def _typing(context: Context, update: Update) -> AsyncIterator[None]:
    """Show "typing…" in the chat until the block ends (Telegram clears it after 5 s)."""
    chat = update.effective_chat

    async def keep_typing() -> None:
        while chat is not None:
            try:
                await context.bot.send_chat_action(chat.id, ChatAction.TYPING)
            except TelegramError:  # only a courtesy: never let it fail the command
                log.debug("Could not send the typing action", exc_info=True)
            await asyncio.sleep(TYPING_EVERY)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def categories(update: Update, context: Context) -> None:
    """/categories [list [archive] | default | cat1 cat2 …]: show, explain or choose."""
    args = command_args(update).replace(",", " ").replace("+", " ").split()
    chat = await _chat(update, context)
    services = _services(context)
    default = services.config.arxiv_categories
    tr = await _tr(update, context)
    if not args:
        await reply(update, texts.chat_categories(chat.categories, default, tr=tr))
        return
    if args[0].casefold() == "list":
        await reply(update, texts.taxonomy(args[1] if len(args) > 1 else None, tr))
        return
    if len(args) == 1 and args[0].casefold() in ("default", "reset"):
        await services.store.set_categories(chat.chat_id, None)
        await reply(update, texts.chat_categories(None, default, tr(texts.BACK_TO_DEFAULT), tr))
        return
    if len(args) > MAX_CHAT_CATEGORIES:
        await reply(update, tr(texts.TOO_MANY_CATEGORIES, count=len(args), max=MAX_CHAT_CATEGORIES))
        return
    known, unknown = arxiv_categories.split_known(args)
    if unknown:
        refusals = [texts.unknown_category(error, tr) for error in unknown]
        await reply(update, "\n".join([*refusals, tr(texts.NOTHING_CHANGED)]))
        return
    await services.store.set_categories(chat.chat_id, known)
    lines = [texts.chat_categories(known, default, tr(texts.DONE), tr)]
    aliases = [
        tr(texts.CATEGORY_ALIAS, typed=html.escape(typed), merged=html.escape(merged))
        for typed in args
        if (merged := arxiv_categories.validate(typed)) != arxiv_categories.lookup(typed)
    ]
    if aliases:
        lines.append("(" + "; ".join(aliases) + ".)")
    lines.append(tr(texts.NEXT_ANNOUNCEMENT))
    await reply(update, "\n".join(lines))


async def digest_now(update: Update, context: Context) -> None:
    """/digest: send the pending digest now, or say that nothing is pending."""
    chat = await _chat(update, context)
    services = _services(context)
    tr = await _tr(update, context)
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


async def set_time(update: Update, context: Context) -> None:
    """/time HH:MM"""
    chat = await _chat(update, context)
    tr = await _tr(update, context)
    given = command_args(update)
    try:
        when = parse_time(given)
    except ValueError:
        usage = tr(texts.TIME_USAGE, timezone=html.escape(chat.timezone))
        await reply(update, f"{tr(texts.BAD_TIME, given=html.escape(repr(given)))}\n{usage}")
        return
    await _reschedule(update, context, chat, when, chat.timezone)


async def set_timezone(update: Update, context: Context) -> None:
    """/timezone Area/City"""
    chat = await _chat(update, context)
    tr = await _tr(update, context)
    given = command_args(update)
    try:
        zone = parse_timezone(given)
    except ValueError:
        error = tr(texts.BAD_TIMEZONE, given=html.escape(repr(given)))
        await reply(update, f"{error}\n{tr(texts.TIMEZONE_USAGE)}")
        return
    await _reschedule(update, context, chat, chat.digest_time, zone)


async def _reschedule(
    update: Update, context: Context, chat: Chat, when: dt.time, zone: str
) -> None:
    store = _services(context).store
    await store.set_digest_time(chat.chat_id, when)
    await store.set_timezone(chat.chat_id, zone)
    updated = await store.get_chat(chat.chat_id)
    if updated is not None and context.job_queue is not None:
        schedule_digest(context.job_queue, updated)
    tr = await _tr(update, context)
    await reply(update, tr(texts.DIGEST_NOW_AT, time=f"{when:%H:%M}", timezone=html.escape(zone)))


SETTINGS_PREFIX = "settings:"
_SETTING_LABELS = (
    ("new", texts.SETTING_NEW),
    ("cross", texts.SETTING_CROSS),
    ("revisions", texts.SETTING_REVISIONS),
)


def settings_keyboard(chat: Chat, tr: Translator) -> InlineKeyboardMarkup:
    """One toggle button per announcement kind; the callback data names the setting."""
    state = {"new": chat.want_new, "cross": chat.want_cross, "revisions": chat.want_revisions}
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
    """/settings: which announcements (new, cross-lists, revisions) go into the digest."""
    chat = await _chat(update, context)
    tr = await _tr(update, context)
    if update.effective_message is not None:
        await update.effective_message.reply_text(
            tr(texts.SETTINGS), parse_mode=ParseMode.HTML, reply_markup=settings_keyboard(chat, tr)
        )


async def settings_button(update: Update, context: Context) -> None:
    """A press on a /settings button: flip that setting and redraw the buttons."""
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    setting = (query.data or "").removeprefix(SETTINGS_PREFIX)
    tr = await _tr(update, context)
    if setting not in dict(_SETTING_LABELS):
        await query.answer(tr(texts.BUTTON_EXPIRED))
        return
    chat = await _services(context).store.toggle_announcements(update.effective_chat.id, setting)
    if chat is None:
        await query.answer()
        return
    await query.answer(tr(texts.SAVED))
    await query.edit_message_reply_markup(reply_markup=settings_keyboard(chat, tr))


async def more_button(update: Update, context: Context) -> None:
    """A press on a digest's "More (k/n)" button: send its next page."""
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    digest = (query.data or "").removeprefix(MORE_PREFIX)
    tr = await _tr(update, context)
    if not digest.isdigit():
        await query.answer(tr(texts.BUTTON_EXPIRED))
        return
    services = _services(context)
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


async def stats(update: Update, context: Context) -> None:
    """/stats for the admins; to anyone else it is an unknown command, with no hint."""
    services = _services(context)
    user = update.effective_user
    if user is None or user.id not in services.config.admin_ids:
        await unknown_command(update, context)
        return
    counts = await services.store.counts(utcnow() - dt.timedelta(hours=24))
    limiter = getattr(context.bot, "rate_limiter", None)
    recent = limiter.stats.recent() if isinstance(limiter, TelegramRateLimiter) else {}
    tr = await _tr(update, context)
    await reply(
        update,
        tr(
            texts.STATS,
            **counts,
            too_many=recent.get("too_many", 0),
            retries=recent.get("retries", 0) + recent.get("network_retries", 0),
        ),
    )


async def unknown_command(update: Update, context: Context) -> None:
    if not _addressed_to_me(update, context):
        return  # another bot's command, or a bare one in a group (maybe for another bot)
    text = update.effective_message.text if update.effective_message else ""
    command = (text or "").split(maxsplit=1)[0] if text else "?"
    tr = await _tr(update, context)
    await reply(update, tr(texts.UNKNOWN_COMMAND, command=html.escape(command[:64])))


async def not_a_command(update: Update, context: Context) -> None:
    await reply(update, (await _tr(update, context))(texts.NOT_A_COMMAND))


async def on_error(update: object, context: Context) -> None:
    """Log any handler error; tell the user something went wrong instead of going silent."""
    log.error("Error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message is not None:
        try:
            try:
                tr = await _tr(update, context)
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


def _quoted(keywords: Sequence[str]) -> str:
    return ", ".join(f"<b>{html.escape(k)}</b>" for k in keywords)


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
    chat = await _chat(update, context)
    tr = await _tr(update, context)
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
        await reply(update, tr(texts.LANG_UNKNOWN, given=html.escape(args[:40])))
        return
    await _services(context).store.set_language(chat.chat_id, language)
    await reply(update, translator(language)(texts.LANG_SET))


async def lang_button(update: Update, context: Context) -> None:
    """A press on a /lang button: switch, answer in the new language, redraw the buttons."""
    query = update.callback_query
    if query is None or update.effective_chat is None:
        return
    language = (query.data or "").removeprefix(LANG_PREFIX)
    if language not in LANGUAGES:
        await query.answer((await _tr(update, context))(texts.BUTTON_EXPIRED))
        return
    await _services(context).store.set_language(update.effective_chat.id, language)
    tr = translator(language)
    await query.answer(tr(texts.SAVED))
    await query.edit_message_text(
        tr(texts.LANG_CURRENT), parse_mode=ParseMode.HTML, reply_markup=language_keyboard(language)
    )


async def export(update: Update, context: Context) -> None:
    """/export [days]: a Markdown file of the papers that matched the chat's keywords in the
    last `days` days (today included, in the chat's time zone), delivered or not."""
    args = command_args(update)
    tr = await _tr(update, context)
    usage = tr(texts.EXPORT_USAGE, default=texts.EXPORT_DEFAULT_DAYS, max=texts.EXPORT_MAX_DAYS)
    days = texts.EXPORT_DEFAULT_DAYS
    if args:
        if not args.isdigit() or not 1 <= int(args) <= texts.EXPORT_MAX_DAYS:
            await reply(update, usage)
            return
        days = int(args)
    chat = await _chat(update, context)
    services = _services(context)
    keywords = await services.store.subscriptions_for(chat.chat_id)
    if not keywords:
        await reply(update, tr(texts.NO_SUBSCRIPTIONS))
        return
    last = utcnow().astimezone(ZoneInfo(chat.timezone)).date()
    first = last - dt.timedelta(days=days - 1)
    papers = in_categories(
        await services.store.papers_announced_between(first, last), services.categories_of(chat)
    )
    hits = await asyncio.to_thread(match_papers, papers, keywords)
    if not hits:
        await reply(update, tr(texts.EXPORT_EMPTY, first=first, last=last))
        return
    document = render_markdown(
        [hit.paper for hit in hits],
        first=first,
        last=last,
        topic=", ".join(keywords),
        language=tr.language,
    )
    message = update.effective_message
    if message is not None:
        await message.reply_document(
            document.encode("utf-8"),
            filename=export_filename(first, last),
            caption=tr.plural(texts.EXPORT_CAPTION, len(hits), first=first, last=last),
        )
