"""Commands for the bot's admins (the admin_ids of the config) only: /stats. To anyone else
they are unknown commands."""

from __future__ import annotations

import datetime as dt
import html

from telegram import Update

from bot.delivery.ratelimit import TelegramRateLimiter
from bot.i18n import texts
from bot.storage.deliveries import EXPIRED, REFUSED
from bot.storage.store import utcnow
from bot.telegram.basics import unknown_command
from bot.telegram.common import Context, chat_translator, reply, services_of


async def stats(update: Update, context: Context) -> None:
    """/stats for the admins; to anyone else it is an unknown command, with no hint."""
    services = services_of(context)
    user = update.effective_user
    if user is None or user.id not in services.config.admin_ids:
        await unknown_command(update, context)
        return
    since = utcnow() - dt.timedelta(hours=24)
    counts = await services.store.counts(since)
    ended = await services.store.count_ended_parts(since)
    limiter = getattr(context.bot, "rate_limiter", None)
    recent = limiter.stats.recent() if isinstance(limiter, TelegramRateLimiter) else {}
    tr = await chat_translator(update, context)
    lines = [
        tr(
            texts.STATS,
            **counts,
            too_many=recent.get("too_many", 0),
            retries=recent.get("retries", 0) + recent.get("network_retries", 0),
        ),
        tr(
            texts.STATS_ENDED,
            refused=ended[REFUSED],
            expired=ended[EXPIRED],
            hours=f"{services.outbox.max_age.total_seconds() / 3600:g}",
        ),
    ]
    error = services.outbox.ledger.error
    if error is not None:
        lines.append(tr(texts.STATS_PAUSED, error=html.escape(error)))
    await reply(update, "\n".join(lines))
