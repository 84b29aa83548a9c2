"""Papers on request, apart from the digest: /latest (the newest stored matches), /search
(arXiv's API, older papers too) and /export (a Markdown file of the last days' matches)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import html
import logging
from collections.abc import AsyncIterator, Sequence
from zoneinfo import ZoneInfo

from telegram import Update
from telegram.constants import ChatAction, ParseMode
from telegram.error import TelegramError

from bot.arxiv.api import ArxivApiError
from bot.arxiv.search_query import is_id_list, to_arxiv_query
from bot.delivery.digest import render_digest
from bot.delivery.markdown import export_filename, render_markdown
from bot.i18n import category_texts, texts
from bot.i18n.translate import Translator
from bot.index.indexing import ensure_indexed
from bot.index.search import announced_hits, latest_hits
from bot.matching.query import QueryError
from bot.matching.ranking import KeywordError, broken_queries
from bot.models import Hit
from bot.storage.store import utcnow
from bot.telegram.common import (
    NO_PREVIEW,
    Context,
    ascii_number,
    chat_translator,
    command_args,
    current_chat,
    echo,
    quoted,
    reply,
    services_of,
    shorten,
)
from bot.telegram.queries import query_list, unknown_categories

log = logging.getLogger(__name__)

LATEST_DEFAULT, LATEST_MAX = 5, 20
SEARCH_RESULTS = 10  # per /search; arXiv's API allows more, a chat wants few
SEARCH_MAX_IDS = SEARCH_RESULTS  # ids looked up by one /search
SHOWN_QUERY_LENGTH = 100  # characters of a /search query its answer repeats
TYPING_EVERY = 4.0  # seconds; Telegram shows "typing…" for 5 s


async def latest(update: Update, context: Context) -> None:
    """/latest [N] or /latest <query>: the newest stored matches, without marking them sent."""
    args = command_args(update)
    chat = await current_chat(update, context)
    services = services_of(context)
    tr = await chat_translator(update, context)
    count, notice = LATEST_DEFAULT, ""
    number = ascii_number(args)
    if number is not None:
        count = number
        if count < 1:
            await reply(update, tr(texts.LATEST_USAGE, max=LATEST_MAX))
            return
        if count > LATEST_MAX:
            count, notice = LATEST_MAX, tr(texts.SHOWING_AT_MOST, max=LATEST_MAX)
        args = ""
    if args:
        try:
            keywords = query_list(args)
        except KeywordError as exc:
            usage = tr(texts.LATEST_USAGE, max=LATEST_MAX)
            await reply(update, f"{html.escape(exc.localized(tr))}\n{usage}")
            return
        unknown = unknown_categories(keywords)
        if unknown:
            await reply(update, "\n".join(category_texts.unknown_category(e, tr) for e in unknown))
            return
    else:
        keywords = await services.store.subscriptions_for(chat.chat_id)
        if not keywords:
            await reply(update, tr(texts.NO_SUBSCRIPTIONS))
            return
        broken_queries(chat.chat_id, keywords)  # logged; /list marks them
    hits = await latest_hits(services, keywords, services.categories_of(chat), count)
    if not hits:
        kept = services.config.paper_retention_days
        await reply(update, tr(texts.NO_MATCH_YET, keywords=quoted(keywords), days=kept))
        return
    if notice:
        await reply(update, notice)
    await _send_papers(update, hits[:count], tr(texts.LATEST_HEADING), tr)


async def _send_papers(update: Update, hits: Sequence[Hit], heading: str, tr: Translator) -> None:
    """Papers as a digest is laid out (one or more messages), as an answer to a command."""
    # Rendering is CPU work (a second for hundreds of papers): off the event loop.
    messages = await asyncio.to_thread(lambda: list(render_digest(hits, heading=heading, tr=tr)))
    for text in messages:
        await update.effective_message.reply_text(  # type: ignore[union-attr]
            text, parse_mode=ParseMode.HTML, link_preview_options=NO_PREVIEW
        )


async def search(update: Update, context: Context) -> None:
    """/search <query>: ask arXiv's API (older papers too), newest first, cached for a day."""
    args = command_args(update)
    tr = await chat_translator(update, context)
    if not args:
        await reply(update, tr(texts.SEARCH_USAGE))
        return
    ids = args.replace(",", " ").split()
    if is_id_list(args) and len(ids) > SEARCH_MAX_IDS:
        await reply(update, tr(texts.SEARCH_TOO_MANY_IDS, count=len(ids), max=SEARCH_MAX_IDS))
        return
    try:
        api_query = to_arxiv_query(args)
    except QueryError as exc:
        await reply(update, f"{html.escape(exc.localized(tr))}\n{tr(texts.SEARCH_USAGE)}")
        return
    services = services_of(context)
    try:
        async with _typing(context, update):  # the polite fetcher may wait 3 s and more
            results = await services.search.search(api_query, max_results=SEARCH_RESULTS)
    except ArxivApiError as exc:
        await reply(update, html.escape(exc.localized(tr)))
        return
    if not results.papers:
        await reply(update, tr(texts.SEARCH_EMPTY, query=echo(args, SHOWN_QUERY_LENGTH)))
        return
    keywords = () if is_id_list(args) else (args,)
    hits = [Hit(paper, keywords) for paper in results.papers[:SEARCH_RESULTS]]
    shown = shorten(" ".join(args.split()), SHOWN_QUERY_LENGTH)  # the heading is escaped later
    if results.total > len(hits):
        heading = tr(
            texts.SEARCH_HEADING_SOME, query=shown, shown=len(hits), total=f"{results.total:,}"
        )
    else:
        heading = tr(texts.SEARCH_HEADING, query=shown)
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


async def export(update: Update, context: Context) -> None:
    """/export [days]: a Markdown file of the papers that matched the chat's keywords in the
    last `days` days (today included, in the chat's time zone), delivered or not."""
    args = command_args(update)
    tr = await chat_translator(update, context)
    services = services_of(context)
    usage = tr(
        texts.EXPORT_USAGE,
        default=texts.EXPORT_DEFAULT_DAYS,
        max=texts.EXPORT_MAX_DAYS,
        kept=services.config.paper_retention_days,
    )
    days = texts.EXPORT_DEFAULT_DAYS
    if args:
        number = ascii_number(args)
        if number is None or not 1 <= number <= texts.EXPORT_MAX_DAYS:
            await reply(update, usage)
            return
        days = number
    chat = await current_chat(update, context)
    keywords = await services.store.subscriptions_for(chat.chat_id)
    if not keywords:
        await reply(update, tr(texts.NO_SUBSCRIPTIONS))
        return
    last = utcnow().astimezone(ZoneInfo(chat.timezone)).date()
    first = last - dt.timedelta(days=days - 1)
    await ensure_indexed(services)
    hits = await announced_hits(services.store, keywords, services.categories_of(chat), first, last)
    if not hits:
        await reply(update, tr(texts.EXPORT_EMPTY, first=first, last=last))
        return
    document = await asyncio.to_thread(
        render_markdown,
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
