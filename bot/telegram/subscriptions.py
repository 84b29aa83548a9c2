"""What a chat follows: its keywords (/subscribe, with a preview of last week's matches;
/unsubscribe; /list) and its arXiv categories (/categories)."""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Sequence

from telegram import Update

from bot.arxiv import categories as arxiv_categories
from bot.i18n import category_texts, texts
from bot.i18n.translate import Translator
from bot.index.search import match_new_queries
from bot.matching.parser import parse_query
from bot.matching.query import QueryError, describe
from bot.matching.ranking import (
    MAX_SUBSCRIPTIONS,
    KeywordError,
    broken_queries,
)
from bot.models import Chat
from bot.services import Services
from bot.storage.store import Store, utcnow
from bot.telegram.common import (
    Context,
    chat_translator,
    command_args,
    current_chat,
    quoted,
    reply,
    services_of,
    shorten,
)
from bot.telegram.queries import query_list, unknown_categories

PREVIEW_DAYS, PREVIEW_TITLES = 7, 3
PREVIEW_TITLE_LENGTH = 200  # characters of a title shown in a preview
MAX_CHAT_CATEGORIES = 20


def subscription_key(query: str) -> str:
    """One key per meaning: `Diffusion  models` and `diffusion model` are one subscription."""
    try:
        return describe(parse_query(query))
    except QueryError:  # stored before a rule change: it still has to be listable/removable
        return query


async def subscribe(update: Update, context: Context) -> None:
    """/subscribe kw1, "a phrase", kw3"""
    args = command_args(update)
    tr = await chat_translator(update, context)
    if not args:
        await reply(update, tr(texts.SUBSCRIBE_USAGE))
        return
    try:
        keywords = query_list(args)
    except KeywordError as exc:
        await reply(update, f"{html.escape(exc.localized(tr))}\n{tr(texts.SUBSCRIBE_USAGE)}")
        return
    unknown = unknown_categories(keywords)
    if unknown:  # cat:cs.LGG would be accepted and never match
        refusals = [category_texts.unknown_category(error, tr) for error in unknown]
        await reply(update, "\n".join([*refusals, tr(texts.NOTHING_CHANGED)]))
        return
    chat = await current_chat(update, context)
    store = services_of(context).store
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
        lines.append(tr(texts.SUBSCRIBED, keywords=quoted(fresh)))
        lines += await _preview(services_of(context), chat, fresh, tr)
    if already:
        lines.append(tr(texts.ALREADY_FOLLOWING, keywords=quoted(already)))
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
    """Match the new queries against the papers that may still be pending (once: digests
    read these matches), and say how many papers of the last week (in the chat's
    categories) each matches, with up to three titles."""
    since = utcnow() - dt.timedelta(days=PREVIEW_DAYS)
    found = await match_new_queries(
        services,
        [(subscription_key(query), query) for query in queries],
        services.categories_of(chat),
        since,
    )
    lines = []
    for number, query in enumerate(queries):
        hits = found.hits[query]
        label = f"<b>{html.escape(query)}</b>"
        if not hits:
            lines.append(tr(texts.PREVIEW_NONE, query=label, days=PREVIEW_DAYS))
            continue
        counts = {"query": label, "hits": len(hits), "papers": found.papers, "days": PREVIEW_DAYS}
        if number >= PREVIEW_TITLES:  # many queries at once: counts only, keep it short
            lines.append(tr(texts.PREVIEW_COUNT, **counts))
            continue
        lines.append(tr(texts.PREVIEW_EXAMPLES, **counts))
        lines += [
            f"• {html.escape(shorten(hit.paper.title, PREVIEW_TITLE_LENGTH))}"
            for hit in hits[:PREVIEW_TITLES]
        ]
    return lines


async def unsubscribe(update: Update, context: Context) -> None:
    """/unsubscribe kw, /unsubscribe all"""
    args = command_args(update)
    tr = await chat_translator(update, context)
    if not args:
        await reply(update, tr(texts.UNSUBSCRIBE_USAGE))
        return
    chat = await current_chat(update, context)
    store = services_of(context).store
    if args.casefold() == "all":
        removed = await store.remove_all_subscriptions(chat.chat_id)
        await reply(update, tr(texts.REMOVED_ALL, count=removed))
        return
    try:
        keywords = query_list(args)
    except KeywordError as exc:
        await reply(update, f"{html.escape(exc.localized(tr))}\n{tr(texts.UNSUBSCRIBE_USAGE)}")
        return
    gone = [
        k for k in keywords if await store.remove_subscription(chat.chat_id, subscription_key(k))
    ]
    missing = [k for k in keywords if k not in gone]
    lines = []
    if gone:
        lines.append(tr(texts.UNSUBSCRIBED, keywords=quoted(gone)))
    if missing:
        lines.append(tr(texts.NOT_FOLLOWING, keywords=quoted(missing)))
    await reply(update, "\n".join(lines))


async def list_subscriptions(update: Update, context: Context) -> None:
    """Show the chat's keywords and digest time."""
    chat = await current_chat(update, context)
    keywords = await services_of(context).store.subscriptions_for(chat.chat_id)
    tr = await chat_translator(update, context)
    when = tr(
        texts.DIGEST_AT, time=f"{chat.digest_time:%H:%M}", timezone=html.escape(chat.timezone)
    )
    if not keywords:
        await reply(update, f"{tr(texts.NO_SUBSCRIPTIONS)}\n{when}")
        return
    broken = broken_queries(chat.chat_id, keywords)
    lines = [tr(texts.YOU_FOLLOW, count=len(keywords))]
    for number, keyword in enumerate(keywords, start=1):
        line = f"{number}. {html.escape(keyword)}"
        if keyword in broken:
            why = html.escape(broken[keyword].localized(tr))
            line += " " + tr(texts.QUERY_BROKEN, error=why)
        lines.append(line)
    await reply(update, "\n".join([*lines, when]))


async def categories(update: Update, context: Context) -> None:
    """/categories [list [archive] | default | cat1 cat2 …]: show, explain or choose."""
    args = command_args(update).replace(",", " ").replace("+", " ").split()
    chat = await current_chat(update, context)
    services = services_of(context)
    default = services.config.arxiv_categories
    tr = await chat_translator(update, context)
    if not args:
        await reply(update, category_texts.chat_categories(chat.categories, default, tr=tr))
        return
    if args[0].casefold() == "list":
        await reply(update, category_texts.taxonomy(args[1] if len(args) > 1 else None, tr))
        return
    if len(args) == 1 and args[0].casefold() in ("default", "reset"):
        await services.store.set_categories(chat.chat_id, None)
        await reply(
            update, category_texts.chat_categories(None, default, tr(texts.BACK_TO_DEFAULT), tr)
        )
        return
    if len(args) > MAX_CHAT_CATEGORIES:
        await reply(update, tr(texts.TOO_MANY_CATEGORIES, count=len(args), max=MAX_CHAT_CATEGORIES))
        return
    known, unknown = arxiv_categories.split_known(args)
    if unknown:
        refusals = [category_texts.unknown_category(error, tr) for error in unknown]
        await reply(update, "\n".join([*refusals, tr(texts.NOTHING_CHANGED)]))
        return
    await services.store.set_categories(chat.chat_id, known)
    lines = [category_texts.chat_categories(known, default, tr(texts.DONE), tr)]
    aliases = [
        tr(texts.CATEGORY_ALIAS, typed=html.escape(typed), merged=html.escape(merged))
        for typed in args
        if (merged := arxiv_categories.validate(typed)) != arxiv_categories.lookup(typed)
    ]
    if aliases:
        lines.append("(" + "; ".join(aliases) + ".)")
    lines.append(tr(texts.NEXT_ANNOUNCEMENT))
    await reply(update, "\n".join(lines))
