"""Commands for the bot's admins (the admin_ids of the config) only: /stats. To anyone else
they are unknown commands."""

from __future__ import annotations

import datetime as dt

from telegram import Update

from bot.delivery.ratelimit import TelegramRateLimiter
from bot.i18n import texts
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
    counts = await services.store.counts(utcnow() - dt.timedelta(hours=24))
    limiter = getattr(context.bot, "rate_limiter", None)
    recent = limiter.stats.recent() if isinstance(limiter, TelegramRateLimiter) else {}
    tr = await chat_translator(update, context)
    await reply(
        update,
        tr(
            texts.STATS,
            **counts,
            too_many=recent.get("too_many", 0),
            retries=recent.get("retries", 0) + recent.get("network_retries", 0),
        ),
    )
