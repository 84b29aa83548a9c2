"""What the outbox tells a chat's owner when the digest cannot go where it should: the bot
lost its linked channel, or Telegram refused the digest for good.

The owner is told where that is possible: in the private chat behind a channel, in the
general topic of a forum whose digest topic refused, else in the chat itself. A notice is sent
once and never retried; one that fails is logged.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass

from telegram import Bot
from telegram.constants import ParseMode
from telegram.error import TelegramError

from bot.delivery.refusals import describe
from bot.i18n import texts
from bot.i18n.translate import translator
from bot.models import ChannelLink
from bot.storage.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Target:
    """Where a chat's digest parts are posted: the chat itself (in a forum topic if it
    chose one), or the channel it linked."""

    chat_id: int
    thread_id: int | None = None
    channel: ChannelLink | None = None


async def channel_lost(bot: Bot, store: Store, link: ChannelLink, reason: str) -> None:
    """The bot may no longer post in the linked channel: mark the link inactive and tell
    the private chat that manages it, where the digests go from now on."""
    await store.set_channel_active(link.chat_id, False)
    log.info(
        "Cannot post in channel %s linked by chat %s (%s): link inactive",
        link.channel_id,
        link.chat_id,
        reason,
    )
    tr = translator(await store.language_of(link.chat_id))
    try:
        await bot.send_message(
            link.chat_id,
            tr(texts.CHANNEL_LOST, channel=html.escape(link.title), ref=html.escape(link.ref)),
            parse_mode=ParseMode.HTML,
        )
    except TelegramError as exc:  # the digest part that follows meets the same answer
        log.info("Could not tell chat %s: %s", link.chat_id, describe(exc))


async def tell_owner(
    bot: Bot, store: Store, target: Target, why: str, *, topic: bool = False
) -> None:
    """Tell the chat's owner that Telegram refused its digest (`why`, its description): in
    the private chat behind a channel, else in the chat, in its general topic if it is a
    forum (`topic`: the digest topic refuses every message). Once, never retried: a notice
    that fails is logged."""
    if target.channel is not None:
        owner = target.channel.chat_id
        tr = translator(await store.language_of(owner))
        text = tr(
            texts.CHANNEL_PART_REFUSED,
            channel=html.escape(target.channel.title),
            reason=html.escape(why),
        )
    else:
        owner = target.chat_id
        tr = translator(await store.language_of(owner))
        notice = texts.DIGEST_TOPIC_REFUSED if topic else texts.DIGEST_REFUSED
        text = tr(notice, reason=html.escape(why))
    try:
        await bot.send_message(owner, text, parse_mode=ParseMode.HTML)
    except TelegramError as exc:
        log.info("Could not tell chat %s that its digest was refused: %s", owner, describe(exc))
