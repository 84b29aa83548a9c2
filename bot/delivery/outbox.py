"""The outbox: queue a digest's parts in the store, send them, mark each one sent when
Telegram confirms it. A crash between the two loses nothing: pending parts are sent on start.

Every answer has its handling: 403 or "chat not found" make the chat inactive and drop its
queue; a group upgraded to a supergroup moves to its new id and the part goes there; network
failures, timeouts and 5xx are retried at once with exponential backoff and full jitter (only
this chat waits), a bounded number of times, after which the part stays queued for the next
flush. 429s are the rate limiter's (bot/delivery/ratelimit.py), which waits and retries them
itself.

A group's parts go to the forum topic it chose with /subscribe (a deleted topic: the general
topic from then on); a private chat that linked a channel has its parts posted there (a
channel that refuses the bot: the link turns inactive, the chat is told and gets them).
"""

from __future__ import annotations

import asyncio
import enum
import html
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, TelegramError

from bot.delivery.digest import DigestPart
from bot.delivery.limiter_stats import RateLimiterStats
from bot.i18n import texts
from bot.i18n.translate import ENGLISH_TEXTS, Translator, translator
from bot.models import ChannelLink, OutboxPart
from bot.storage.store import Store

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
MORE_PREFIX = "more:"
DEFAULT_VISIBLE_PARTS = 3
DEFAULT_CONCURRENCY = 256  # chats sent to at once; the rate limiter paces the messages
# Network failures, timeouts and 5xx: attempts per part in one flush, and the backoff between
# them (full jitter: uniform in [0, min(cap, base * 2**(n-1))] before attempt n + 1).
DEFAULT_ATTEMPTS = 4
DEFAULT_BACKOFF = 1.0
DEFAULT_MAX_BACKOFF = 30.0

ChatMoved = Callable[[int, int], Awaitable[None]]


class Outcome(enum.Enum):
    SENT = "sent"
    GONE = "gone"  # blocked, kicked or deleted: the chat is inactive, its parts dropped
    FAILED = "failed"  # anything else: the unsent parts stay queued for the next flush


@dataclass(frozen=True)
class Target:
    """Where a chat's digest parts are posted: the chat itself (in a forum topic if it
    chose one), or the channel it linked."""

    chat_id: int
    thread_id: int | None = None
    channel: ChannelLink | None = None


def more_button(part: OutboxPart, tr: Translator = ENGLISH_TEXTS) -> InlineKeyboardMarkup:
    """ "More (4/6)" under the last part shown; the callback data survives restarts."""
    label = tr(texts.MORE_BUTTON, page=part.part_no + 1, pages=part.parts_total)
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=f"{MORE_PREFIX}{part.digest_id}")]]
    )


class Outbox:
    """Queues digests and sends what is pending, one chat at a time per chat, many chats
    at once, so that multi-message digests do not hold the rate down to one chat's pace.

    A part that meets a network failure, a timeout or a 5xx is tried up to `attempts` times
    in all, with full-jitter exponential backoff (`backoff` seconds doubling up to
    `max_backoff`) between tries; each retry is noted in `stats` (the rate limiter's, which
    /stats reads) and logged. A timeout may come after Telegram posted the message, so such a
    retry can show it twice: at most once per timeout. `on_moved(old, new)` runs after a
    group's data moved to its supergroup id. `sleep` and `rand` are there for tests.
    """

    def __init__(
        self,
        store: Store,
        visible_parts: int = DEFAULT_VISIBLE_PARTS,
        concurrency: int = DEFAULT_CONCURRENCY,
        paid_broadcast: bool = False,
        *,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = DEFAULT_BACKOFF,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        stats: RateLimiterStats | None = None,
        on_moved: ChatMoved | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if attempts < 1 or backoff < 0 or max_backoff < 0:
            raise ValueError("attempts must be >= 1 and the backoff >= 0")
        self._store = store
        # Above 30 messages/s Telegram charges per message, and only for sends that say so.
        self._paid = True if paid_broadcast else None
        self.visible_parts = visible_parts
        self.attempts = attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self.stats = stats if stats is not None else RateLimiterStats()
        self._on_moved = on_moved
        self._sleep = sleep
        self._rand = rand
        self._slots = asyncio.Semaphore(concurrency)
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def enqueue(self, chat_id: int, parts: Sequence[DigestPart]) -> int:
        """Queue a digest (its papers now count as delivered); returns its id."""
        return await self._store.compose_digest(
            chat_id, [(part.text, part.arxiv_ids) for part in parts], self.visible_parts
        )

    async def flush_chat(self, bot: Bot, chat_id: int) -> Outcome:
        """Send the chat's pending parts in order, each marked sent once confirmed."""
        async with self._slots, self._locks[chat_id]:
            target = chat_id  # the supergroup's id once the group turns out to have moved
            for part in await self._store.pending_parts(chat_id):
                outcome, target = await self._deliver(bot, replace(part, chat_id=target))
                if outcome is not Outcome.SENT:
                    return outcome
        return Outcome.SENT

    async def flush(self, bot: Bot) -> Counter[Outcome]:
        """Send everything pending, interleaving chats; returns outcomes per chat."""
        chats = list(dict.fromkeys(part.chat_id for part in await self._store.pending_parts()))
        outcomes = await asyncio.gather(*(self.flush_chat(bot, chat) for chat in chats))
        return Counter(outcomes)

    async def more(self, bot: Bot, digest_id: int, chat_id: int) -> int:
        """Release and send the next page of a digest held behind its "More" button."""
        released = await self._store.release_held_parts(digest_id, chat_id, self.visible_parts)
        if released:
            await self.flush_chat(bot, chat_id)
        return released

    def backoff_delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed try: full jitter, capped."""
        ceiling = min(self._max_backoff, self._backoff * 2.0 ** (failures - 1))
        return self._rand() * ceiling

    async def _deliver(self, bot: Bot, part: OutboxPart) -> tuple[Outcome, int]:
        """Send one part and mark it sent, handling Telegram's answer; returns the outcome
        and the chat the part is now addressed to (a migrated group's new id)."""
        failures = 0
        moved = False
        while True:
            target = await self.target(part.chat_id)
            try:
                await self._post(bot, part, target)
            except ChatMigrated as exc:
                if moved:  # Telegram never migrates a chat twice in a row; do not loop
                    self._refused(part, str(exc))
                    return Outcome.FAILED, part.chat_id
                # The group became a supergroup: move everything, then deliver there.
                old, new = part.chat_id, int(exc.new_chat_id)
                log.info("Chat %s migrated to %s; moving it", old, new)
                await self._store.move_chat(old, new)
                if self._on_moved is not None:
                    await self._on_moved(old, new)
                part, moved = replace(part, chat_id=new), True
            except Forbidden as exc:
                if target.channel is not None:  # the channel is lost, not the chat
                    await self._channel_lost(bot, target.channel, exc.message)
                    continue
                return await self._gone(part.chat_id, exc.message), part.chat_id
            except BadRequest as exc:  # a NetworkError subclass, but no network failure
                if target.channel is not None and "chat not found" in exc.message.lower():
                    await self._channel_lost(bot, target.channel, exc.message)
                    continue
                if target.thread_id is not None and "thread not found" in exc.message.lower():
                    # The topic was deleted: the general topic from now on (so only once).
                    log.warning(
                        "Topic %s of chat %s is gone (%s); digests go to its general topic",
                        target.thread_id,
                        part.chat_id,
                        exc.message,
                    )
                    await self._store.set_thread(part.chat_id, None)
                    continue
                if "chat not found" in exc.message.lower():
                    return await self._gone(part.chat_id, exc.message), part.chat_id
                self._refused(part, exc.message)
                return Outcome.FAILED, part.chat_id
            except NetworkError as exc:  # no answer, a timeout, or a 5xx
                failures += 1
                if failures >= self.attempts:
                    log.warning(
                        "Part %d/%d of digest %d for chat %s not sent after %d tries (%s);"
                        " it stays queued for the next flush",
                        part.part_no,
                        part.parts_total,
                        part.digest_id,
                        part.chat_id,
                        failures,
                        _describe(exc),
                    )
                    return Outcome.FAILED, part.chat_id
                delay = self.backoff_delay(failures)
                self.stats.note("network_retries")
                log.warning(
                    "Part %d/%d of digest %d for chat %s failed (%s); retry %d of %d in %.1f s",
                    part.part_no,
                    part.parts_total,
                    part.digest_id,
                    part.chat_id,
                    _describe(exc),
                    failures,
                    self.attempts - 1,
                    delay,
                )
                await self._sleep(delay)
            except TelegramError as exc:
                # A 429 the rate limiter gave up on, or an answer we cannot read.
                log.warning(
                    "Part %d/%d of digest %d for chat %s not sent, will retry: %s",
                    part.part_no,
                    part.parts_total,
                    part.digest_id,
                    part.chat_id,
                    _describe(exc),
                )
                return Outcome.FAILED, part.chat_id
            else:
                await self._store.mark_part_sent(part)
                return Outcome.SENT, part.chat_id

    async def target(self, chat_id: int) -> Target:
        """Where the chat's parts go now: its active linked channel, else the chat (in its
        forum topic, if any)."""
        link = await self._store.channel_link(chat_id)
        if link is not None and link.active:
            return Target(link.channel_id, channel=link)
        return Target(chat_id, thread_id=await self._store.get_thread(chat_id))

    async def _channel_lost(self, bot: Bot, link: ChannelLink, reason: str) -> None:
        """The bot may no longer post in the linked channel: mark the link inactive and tell
        the private chat that manages it, where the digests go from now on."""
        await self._store.set_channel_active(link.chat_id, False)
        log.info(
            "Cannot post in channel %s linked by chat %s (%s): link inactive",
            link.channel_id,
            link.chat_id,
            reason,
        )
        tr = translator(await self._store.language_of(link.chat_id))
        try:
            await bot.send_message(
                link.chat_id,
                tr(texts.CHANNEL_LOST, channel=html.escape(link.title), ref=html.escape(link.ref)),
                parse_mode=ParseMode.HTML,
            )
        except TelegramError as exc:  # the digest part that follows meets the same answer
            log.info("Could not tell chat %s: %s", link.chat_id, _describe(exc))

    async def _post(self, bot: Bot, part: OutboxPart, target: Target) -> None:
        markup = None
        if part.more_after:  # in the chat's language, read when the button is drawn
            language = await self._store.language_of(part.chat_id)
            markup = more_button(part, translator(language))
        await bot.send_message(
            target.chat_id,
            part.text,
            message_thread_id=target.thread_id,
            parse_mode=ParseMode.HTML,
            link_preview_options=NO_PREVIEW,
            reply_markup=markup,
            allow_paid_broadcast=self._paid,
        )

    def _refused(self, part: OutboxPart, reason: str) -> None:
        log.error(
            "Telegram refused part %d/%d of digest %d for chat %s: %s",
            part.part_no,
            part.parts_total,
            part.digest_id,
            part.chat_id,
            reason,
        )

    async def _gone(self, chat_id: int, reason: str) -> Outcome:
        dropped = await self._store.drop_pending_parts(chat_id)
        await self._store.set_active(chat_id, False)
        log.info(
            "Chat %s is gone (%s): marked inactive, %d pending parts dropped",
            chat_id,
            reason,
            dropped,
        )
        return Outcome.GONE


def _describe(exc: TelegramError) -> str:
    """The error's kind and Telegram's (or httpx's) message; no URL, so never the token."""
    return f"{type(exc).__name__}: {exc.message}"


async def deliver(bot: Bot, store: Store, chat_id: int, parts: Sequence[DigestPart]) -> Outcome:
    """Queue one digest for one chat and send it (all parts visible)."""
    outbox = Outbox(store, visible_parts=max(len(parts), 1))
    await outbox.enqueue(chat_id, parts)
    return await outbox.flush_chat(bot, chat_id)
