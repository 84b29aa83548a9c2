"""Wiring: build the application, its handlers and jobs, and its start-up and shutdown hooks."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from telegram import Bot, BotCommand, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import services as services_mod
from bot.arxiv.api import ArxivSearch
from bot.arxiv.fetcher import PoliteFetcher
from bot.arxiv.http import MiB, make_http_client
from bot.config import Config
from bot.delivery.outbox import DEFAULT_CONCURRENCY as OUTBOX_CONCURRENCY
from bot.delivery.outbox import MORE_PREFIX, Outbox
from bot.delivery.ratelimit import TelegramRateLimiter
from bot.i18n import texts
from bot.i18n.translate import CHINESE, ENGLISH, translator
from bot.index.indexing import index_papers
from bot.ops.health import (
    HealthServer,
    PollLimits,
    database_check,
    feed_bound,
    outbox_check,
    poll_check,
    sending_check,
)
from bot.ops.metrics import Metrics
from bot.schedule import (
    follow_moved_chat,
    missed_digest,
    save_counts,
    schedule_catch_up,
    schedule_counts,
    schedule_digest,
    schedule_outbox,
    schedule_polls,
    schedule_retention,
)
from bot.services import Services
from bot.storage.store import Store, utcnow
from bot.telegram import admin, basics, digests, groups, papers, settings, subscriptions
from bot.telegram.updates import MAX_CONCURRENT_UPDATES, BotApplication, ChatOrderedProcessor

log = logging.getLogger(__name__)

# 429s are answered by waiting retry_after and trying again, a bounded number of times.
RATE_LIMIT_RETRIES = 5
FREE_MESSAGES_PER_S = 30  # Telegram's free broadcast ceiling; beyond it, paid broadcasts
# Connections to the Bot API: one for every request that can be in flight at once, so that no
# request waits for one: each update being handled (its own call, and the "typing…" action
# beside it), each chat the outbox sends to at once, and a few to spare. python-telegram-bot's
# default (256) is what the updates alone can take, and a request that then waits out its
# 1 s pool timeout is dropped unsent ("Pool timeout").
CONNECTION_POOL_SIZE = 2 * MAX_CONCURRENT_UPDATES + OUTBOX_CONCURRENCY + 16
# How long a request may wait for a free connection all the same (a stalled event loop, a
# burst beyond the above): it has not been sent, so waiting is safe, and the wait is bounded.
POOL_TIMEOUT = 30.0

COMMAND_HANDLERS = (
    ("start", basics.start),
    ("help", basics.help_command),
    ("subscribe", subscriptions.subscribe),
    ("unsubscribe", subscriptions.unsubscribe),
    ("list", subscriptions.list_subscriptions),
    ("latest", papers.latest),
    ("search", papers.search),
    ("categories", subscriptions.categories),
    ("digest", digests.digest_now),
    ("time", settings.set_time),
    ("timezone", settings.set_timezone),
    ("settings", settings.settings),
    ("export", papers.export),
    ("channel", groups.channel),
    ("lang", settings.lang),
    ("id", basics.show_ids),
    ("stats", admin.stats),  # admins only, and not in the command menu
)


def build_application(config: Config) -> Application:  # type: ignore[type-arg]
    """The python-telegram-bot application with every handler; nothing is started yet."""
    app = (
        Application.builder()
        .application_class(BotApplication)
        .concurrent_updates(ChatOrderedProcessor())
        .token(config.bot_token)
        .base_url(config.bot_api_url)
        .connection_pool_size(CONNECTION_POOL_SIZE)
        .pool_timeout(POOL_TIMEOUT)
        .rate_limiter(
            TelegramRateLimiter(
                global_per_s=config.telegram_global_per_s,
                private_per_s=config.telegram_private_per_s,
                private_burst=config.telegram_private_burst,
                group_limit=config.telegram_group_per_min,
                max_retries=RATE_LIMIT_RETRIES,
            )
        )
        .post_init(on_startup)
        .post_shutdown(on_shutdown)
        .build()
    )
    app.bot_data["config"] = config
    # Group -2 runs first: in groups, only admins change the group's keywords and settings.
    app.add_handler(TypeHandler(Update, groups.guard), group=-2)
    # Group -1 runs before the commands: every chat that writes is known and active.
    app.add_handler(TypeHandler(Update, basics.track_chat), group=-1)
    for name, callback in COMMAND_HANDLERS:
        app.add_handler(CommandHandler(name, callback))
    app.add_handler(
        CallbackQueryHandler(settings.settings_button, pattern=f"^{settings.SETTINGS_PREFIX}")
    )
    app.add_handler(CallbackQueryHandler(digests.more_button, pattern=f"^{MORE_PREFIX}"))
    app.add_handler(CallbackQueryHandler(settings.lang_button, pattern=f"^{settings.LANG_PREFIX}"))
    app.add_handler(MessageHandler(filters.COMMAND, basics.unknown_command))
    app.add_handler(MessageHandler(filters.ChatType.PRIVATE & filters.TEXT, basics.not_a_command))
    app.add_error_handler(basics.on_error)
    attach_metrics(app)
    return app


async def register_commands(bot: Bot) -> None:
    """The command menu: English by default, Chinese for Telegram apps set to Chinese."""
    for language, code in ((ENGLISH, None), (CHINESE, "zh")):
        tr = translator(language)
        menu = [BotCommand(name, tr(text)) for name, text in texts.COMMANDS]
        await bot.set_my_commands(menu, language_code=code)


async def on_startup(app: Application) -> None:  # type: ignore[type-arg]
    """Open the database and HTTP client, register the command menu, schedule the jobs."""
    config: Config = app.bot_data["config"]
    if app.job_queue is None:
        raise RuntimeError("the job-queue extra of python-telegram-bot is not installed")
    job_queue = app.job_queue
    store = await Store.open(config.database_path)
    http = make_http_client(config.user_agent, timeout=config.http_timeout)
    limiter = app.bot.rate_limiter
    outbox = Outbox(
        store,
        visible_parts=config.max_digest_messages,
        paid_broadcast=config.telegram_global_per_s > FREE_MESSAGES_PER_S,
        attempts=config.telegram_send_attempts,
        backoff=config.telegram_retry_backoff,
        max_age=dt.timedelta(hours=config.telegram_part_max_age_hours),
        # Its retries count with the limiter's, where /stats reads them.
        stats=limiter.stats if isinstance(limiter, TelegramRateLimiter) else None,
        on_moved=functools.partial(follow_moved_chat, job_queue, store),
    )
    fetcher = PoliteFetcher(
        http, deadline=config.http_deadline, max_body=config.http_max_body_mb * MiB
    )
    fetcher.load_state({url: state for url, (state, _) in (await store.fetch_state()).items()})
    services_mod.attach(
        app.bot_data,
        Services(
            config=config,
            store=store,
            http=http,
            outbox=outbox,
            fetcher=fetcher,
            search=ArxivSearch(
                fetcher, base=config.arxiv_api_url, queue_timeout=config.search_queue_timeout
            ),
            metrics=app.bot_data[METRICS_KEY],
        ),
    )
    await register_commands(app.bot)
    if await store.has_unindexed():  # after an upgrade, or a poll cut short: index them now
        log.info("Indexing and matching the stored papers not indexed yet")
        await index_papers(services_mod.get(app.bot_data))
    schedule_polls(job_queue, config)
    schedule_outbox(job_queue)
    schedule_counts(job_queue)
    schedule_retention(job_queue)
    chats = await store.active_chats()
    now = utcnow()
    for chat in chats:
        schedule_digest(job_queue, chat)
        if missed_digest(chat, now):
            schedule_catch_up(job_queue, chat)
    log.info(
        "Started as @%s: %d active chats, feed %s, database %s",
        app.bot.username,
        len(chats),
        config.feed_url,
        config.database_path,
    )
    # What a new operator does next: the bot only answers, so someone has to write first.
    log.info("Open https://t.me/%s in Telegram and send /start", app.bot.username)
    await start_health_server(app)


async def on_shutdown(app: Application) -> None:  # type: ignore[type-arg]
    """Close what on_startup opened."""
    await stop_health_server(app)
    services = services_mod.detach(app.bot_data)
    if services is not None:
        await save_counts(services)  # the application has stopped: nothing more is noted
        await services.http.aclose()
        await asyncio.to_thread(services.drafting.close)
        await services.store.close()
    log.info("Stopped")


def stop_arxiv(app: Application) -> None:  # type: ignore[type-arg]
    """The bot is stopping: every request to arXiv in flight (a poll, a /search) and every
    wait for one ends now, so that stopping never waits for a slow or hostile server."""
    with contextlib.suppress(RuntimeError):  # not started (yet): nothing in flight
        services_mod.get(app.bot_data).fetcher.close()


METRICS_KEY = "metrics"
HEALTH_KEY = "health_server"


def attach_metrics(app: Application) -> None:  # type: ignore[type-arg]
    """The application's own Metrics in bot_data: the rate limiter's counts exposed, and every
    command handler timed (a wrapper around its callback, so the handlers stay as they are)."""
    metrics = Metrics()
    app.bot_data[METRICS_KEY] = metrics
    limiter = app.bot.rate_limiter
    if isinstance(limiter, TelegramRateLimiter):
        metrics.watch_limiter(limiter.stats)
    for group in app.handlers.values():
        for handler in group:
            if isinstance(handler, CommandHandler):
                command = min(handler.commands)
                handler.callback = _timed(command, handler.callback, metrics)


def _timed(command: str, callback: Any, metrics: Metrics) -> Any:
    @functools.wraps(callback)
    async def timed(update: object, context: object) -> Any:
        started = time.perf_counter()
        try:
            return await callback(update, context)
        finally:
            metrics.command_latency.labels(command).observe(time.perf_counter() - started)

    return timed


async def start_health_server(app: Application) -> None:  # type: ignore[type-arg]
    """Serve /healthz and /metrics when health_port is set (off by default)."""
    config: Config = app.bot_data["config"]
    if not config.health_port:
        return

    metrics: Metrics = app.bot_data[METRICS_KEY]
    store = services_mod.get(app.bot_data).store
    limits = PollLimits(
        poll_delay=dt.timedelta(minutes=config.poll_delay_minutes),
        grace=dt.timedelta(hours=config.health_poll_grace_hours),
        start_grace=dt.timedelta(minutes=config.health_start_grace_minutes),
        feed_bound=feed_bound(config.http_deadline),
    )
    checks = {
        "poll": poll_check(metrics, limits),
        "database": database_check(store),
        "outbox": outbox_check(
            store,
            grace=dt.timedelta(minutes=config.health_outbox_grace_minutes),
            visible=config.max_digest_messages,
        ),
        "sending": sending_check(metrics),
    }
    server = HealthServer(
        metrics,
        checks,
        pending=store.count_pending_parts,
        host=config.health_host,
        port=config.health_port,
    )
    try:
        await server.start()
    except OSError as exc:  # the port is taken or the address is not ours
        # The bot still delivers digests; a supervisor asking /healthz sees it missing.
        log.error(
            "Cannot serve /healthz and /metrics on %s:%d (%s); running without them",
            config.health_host,
            config.health_port,
            exc,
        )
        await server.stop()
        return
    app.bot_data[HEALTH_KEY] = server


async def stop_health_server(app: Application) -> None:  # type: ignore[type-arg]
    server = app.bot_data.pop(HEALTH_KEY, None)
    if isinstance(server, HealthServer):
        await server.stop()


@contextlib.asynccontextmanager
async def running(config: Config, poll_interval: float = 0.0) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    """Run the application inside the current event loop, as `run_polling` does (for tests)."""
    app = build_application(config)
    await app.initialize()
    try:
        await on_startup(app)
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=poll_interval, timeout=config.polling_timeout)
        await app.start()
        try:
            yield app
        finally:
            stop_arxiv(app)
            await app.updater.stop()
            await app.stop()
    finally:
        await app.shutdown()
        await on_shutdown(app)
