"""Commands for the bot's admins (the admin_ids of the config) only: /stats. To anyone else
they are unknown commands."""

from __future__ import annotations

import datetime as dt
import html
from zoneinfo import ZoneInfo

from telegram import Update

from bot.i18n import texts
from bot.i18n.translate import Translator
from bot.services import Services
from bot.storage.deliveries import EXPIRED, REFUSED
from bot.telegram.basics import unknown_command
from bot.telegram.common import Context, chat_translator, current_chat, reply, services_of


async def stats(update: Update, context: Context) -> None:
    """/stats for the admins; to anyone else it is an unknown command, with no hint."""
    services = services_of(context)
    user = update.effective_user
    if user is None or user.id not in services.config.admin_ids:
        await unknown_command(update, context)
        return
    chat = await current_chat(update, context)  # "today" is in its time zone
    tr = await chat_translator(update, context)
    await reply(update, await stats_text(services, tr, chat.timezone, services.clock()))


def local_midnight(now: dt.datetime, zone: str) -> dt.datetime:
    """When today began in `zone` (its 00:00, or the first moment of the day if a clock
    change skips 00:00), as of `now`."""
    tz = ZoneInfo(zone)
    midnight = dt.datetime.combine(now.astimezone(tz).date(), dt.time(0), tzinfo=tz)
    # A 00:00 that a clock change skipped maps (fold 0) to the change itself: the day's start.
    return midnight.astimezone(dt.UTC)


async def stats_text(services: Services, tr: Translator, zone: str, now: dt.datetime) -> str:
    """The figures: the totals now, and today's since 00:00 in the admin's time zone `zone`."""
    since = local_midnight(now, zone)
    store = services.store
    counts = await store.counts(since)
    ended = await store.count_ended_parts(since)
    daily = await services.outbox.stats.daily_counts(store, since)
    lines = [
        tr(
            texts.STATS,
            **counts,
            timezone=html.escape(zone),
            too_many=daily["too_many"],
            retries=daily["retries"] + daily["network_retries"],
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
    return "\n".join(lines)
