"""The outbox: queue a digest's parts in the store, send them, mark each one sent when
Telegram confirms it. A crash between the two loses nothing: pending parts are sent on start.

Every answer has its handling (`bot.delivery.refusals` classifies them): 403 or "chat not
found" make the chat inactive and drop its queue; a group upgraded to a supergroup moves to its
new id and the part goes there; network failures, timeouts and 5xx are retried at once with
exponential backoff and full jitter (only this chat waits), a bounded number of times, after
which the part stays queued for the next flush. 429s are the rate limiter's
(bot/delivery/ratelimit.py), which waits and retries them itself. Any other 400 is a refusal for
good: the part ends unsent (with the rest of the chat's queue when the chat refuses every
message: the bot was restricted, the topic closed), its papers leave the ledger for the chat's
next digest, and the chat's owner is told where that is possible. No part waits for ever: one
still unsent `max_age` after it was queued ends the same way.

A group's parts go to the forum topic it chose with /subscribe (a deleted topic: the general
topic from then on); a private chat that linked a channel has its parts posted there (a
channel that refuses the bot: the link turns inactive, the chat is told and gets them).

When the ledger cannot be written (a full disk), sending stops until it can
(`bot.delivery.ledger`); a part sent but not recorded is never sent again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import ChatMigrated, TelegramError

from bot.delivery.digest import DigestPart, held_ids, render_held_parts
from bot.delivery.ledger import Ledger
from bot.delivery.limiter_stats import RateLimiterStats
from bot.delivery.notices import Target, channel_lost, tell_owner
from bot.delivery.refusals import Verdict, classify, describe, reason
from bot.i18n import texts
from bot.i18n.translate import ENGLISH_TEXTS, Translator, translator
from bot.models import OutboxPart
from bot.storage.deliveries import EXPIRED, REFUSED, DatabaseError
from bot.storage.digest_rows import ComposedDigest, DigestRows
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
# A part still unsent this long after it was queued ends unsent (its papers wait for the next
# digest, which covers them anyway): a day, the time between two digests.
DEFAULT_MAX_AGE = dt.timedelta(hours=24)

ChatMoved = Callable[[int, int], Awaitable[None]]


class Outcome(enum.Enum):
    SENT = "sent"
    GONE = "gone"  # blocked, kicked or deleted: the chat is inactive, its parts dropped
    ENDED = "ended"  # refused for good, or too old: parts ended unsent, their papers kept
    FAILED = "failed"  # anything else: the unsent parts stay queued for the next flush
    PAUSED = "paused"  # the ledger cannot be written: nothing is sent until it can


class LedgerUnavailable(Exception):
    """The outbox cannot write its ledger (a full disk): no digest is queued or sent."""


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
    /stats and /metrics read, as they read the parts ended and whether sending is paused)
    and logged. A timeout may come after Telegram posted the message, so such a retry can
    show it twice: at most once per timeout. A part refused for good, or still unsent
    `max_age` after it was queued, ends unsent. `on_moved(old, new)` runs after a group's
    data moved to its supergroup id. `sleep` and `rand` are there for tests.
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
        max_age: dt.timedelta = DEFAULT_MAX_AGE,
        stats: RateLimiterStats | None = None,
        on_moved: ChatMoved | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if attempts < 1 or backoff < 0 or max_backoff < 0:
            raise ValueError("attempts must be >= 1 and the backoff >= 0")
        if max_age <= dt.timedelta(0):
            raise ValueError("max_age must be positive")
        self._store = store
        # Above 30 messages/s Telegram charges per message, and only for sends that say so.
        self._paid = True if paid_broadcast else None
        self.visible_parts = visible_parts
        self.attempts = attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self.max_age = max_age
        self.stats = stats if stats is not None else RateLimiterStats()
        self._on_moved = on_moved
        self._sleep = sleep
        self._rand = rand
        self._slots = asyncio.Semaphore(concurrency)
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.ledger = Ledger(store, self.stats)

    async def enqueue(self, chat_id: int, parts: Sequence[DigestPart]) -> int:
        """Queue a digest (its papers now count as delivered); returns its id. Raises
        LedgerUnavailable when the ledger cannot be written."""
        return (await self.enqueue_runs([composed_digest(chat_id, parts)]))[chat_id]

    async def enqueue_runs(self, digests: Sequence[ComposedDigest] | DigestRows) -> dict[int, int]:
        """Queue many chats' digests and record their runs in one transaction (their papers
        now count as delivered); returns each queued digest's id by chat. Raises
        LedgerUnavailable when the ledger cannot be written (then nothing was queued)."""
        if not await self.ledger.writable():
            raise LedgerUnavailable(self.ledger.error)
        try:
            return await self._store.compose_digests(digests, self.visible_parts)
        except DatabaseError as exc:
            self.ledger.failed(exc)
            raise LedgerUnavailable(str(exc)) from exc

    async def flush_chat(self, bot: Bot, chat_id: int, *, after_move: bool = False) -> Outcome:
        """Send the chat's pending parts in order, each marked sent once confirmed.

        A group found to have become a supergroup is moved, and its parts are then sent under
        the supergroup's own lock, so that no other flush of the supergroup sends them too.
        """
        async with self._slots, self._locks[chat_id]:
            try:
                outcome, moved_to = await self._flush_chat(bot, chat_id, may_move=not after_move)
            except DatabaseError as exc:
                self.ledger.failed(exc)
                return Outcome.PAUSED
        if moved_to is not None:
            return await self.flush_chat(bot, moved_to, after_move=True)
        return outcome

    async def _flush_chat(
        self, bot: Bot, chat_id: int, *, may_move: bool
    ) -> tuple[Outcome, int | None]:
        """The outcome, and the supergroup the chat moved to (then nothing more was sent)."""
        if not await self.ledger.writable():
            return Outcome.PAUSED, None
        outcome = Outcome.SENT
        stale = await self._store.stale_parts(chat_id, self.max_age)
        if stale:
            hours = self.max_age.total_seconds() / 3600
            await self._end(stale, EXPIRED, f"still unsent after {hours:g} h")
            outcome = Outcome.ENDED
        refused: list[tuple[Target, str]] = []  # parts Telegram refused: where, and why
        moved_to: int | None = None
        for part in await self._store.pending_parts(chat_id):
            if self.ledger.error is not None:
                outcome = Outcome.PAUSED  # another chat's record failed meanwhile
                break
            if self.ledger.is_unrecorded(part):
                continue  # sent already; its record waits for the database
            result, target, go_on = await self._deliver(bot, part, refused, may_move=may_move)
            if target != chat_id:  # moved to its supergroup: flushed again under that lock
                moved_to = target
                break
            if result is not Outcome.SENT:
                outcome = result
            if not go_on:
                break
        if refused:  # once per flush, however many of its parts Telegram refused
            await tell_owner(bot, self._store, *refused[-1])
        return outcome, moved_to

    async def flush(self, bot: Bot) -> Counter[Outcome]:
        """Send everything pending, interleaving chats; returns outcomes per chat."""
        if not await self.ledger.writable():
            return Counter({Outcome.PAUSED: 1})
        chats = list(dict.fromkeys(part.chat_id for part in await self._store.pending_parts()))
        outcomes = await asyncio.gather(*(self.flush_chat(bot, chat) for chat in chats))
        return Counter(outcomes)

    async def more(self, bot: Bot, digest_id: int, chat_id: int) -> int:
        """Release and send the next page of a digest held behind its "More" button."""
        try:
            held = await self._store.held_parts(digest_id, chat_id, self.visible_parts)
            released = await self._store.release_held_parts(
                digest_id, chat_id, await self._rendered(held)
            )
        except DatabaseError as exc:
            self.ledger.failed(exc)
            raise
        if released:
            await self.flush_chat(bot, chat_id)
        return released

    async def _rendered(self, parts: Sequence[tuple[int, str | None]]) -> dict[int, str | None]:
        """Held parts' texts by part number, rendered now for those held without one (a
        page is a few papers, but a whole digest's pages are many: off the event loop)."""
        needed = [arxiv_id for _, held in parts if held is not None for arxiv_id in held_ids(held)]
        papers = await self._store.papers_by_id(needed) if needed else {}
        return await asyncio.to_thread(render_held_parts, parts, papers)

    async def last_digest_texts(self, chat_id: int) -> list[str]:
        """The messages of the chat's most recent digest, in order, whatever their status
        (held ones rendered as they would be released now)."""
        parts = await self._store.last_digest_parts(chat_id)
        texts = await self._rendered([(number, held) for number, (_, held) in enumerate(parts)])
        return [texts[number] or text for number, (text, _) in enumerate(parts)]

    def backoff_delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed try: full jitter, capped."""
        ceiling = min(self._max_backoff, self._backoff * 2.0 ** (failures - 1))
        return self._rand() * ceiling

    # -- one part ------------------------------------------------------------------------------

    async def _deliver(
        self, bot: Bot, part: OutboxPart, refused: list[tuple[Target, str]], *, may_move: bool
    ) -> tuple[Outcome, int, bool]:
        """Send one part and mark it sent, handling Telegram's answer; returns the outcome,
        the chat the part is now addressed to (a migrated group's new id), and whether the
        chat's next part may follow. A part refused on its own is noted in `refused`."""
        failures = 0
        while True:
            target = await self.target(part.chat_id)
            try:
                await self._post(bot, part, target)
            except TelegramError as error:
                exc = error
            else:
                if await self.ledger.record_sent(part):
                    return Outcome.SENT, part.chat_id, True
                return Outcome.PAUSED, part.chat_id, False
            verdict = classify(exc, in_topic=target.thread_id is not None)
            if isinstance(exc, ChatMigrated) and may_move:
                # The group became a supergroup: move everything; flush_chat delivers it there.
                old, new = part.chat_id, int(exc.new_chat_id)
                log.info("Chat %s migrated to %s; moving it", old, new)
                await self._store.move_chat(old, new)
                if self._on_moved is not None:
                    await self._on_moved(old, new)
                return Outcome.SENT, new, False
            elif target.channel is not None and verdict in (Verdict.GONE, Verdict.CHAT_REFUSES):
                # The channel is lost, not the chat: tell it, and the part goes there.
                await channel_lost(bot, self._store, target.channel, describe(exc))
            elif verdict is Verdict.GONE:
                return await self._gone(part.chat_id, describe(exc)), part.chat_id, False
            elif verdict is Verdict.TOPIC_GONE:
                # The topic was deleted: the general topic from now on (so only once).
                log.warning(
                    "Topic %s of chat %s is gone (%s); digests go to its general topic",
                    target.thread_id,
                    part.chat_id,
                    describe(exc),
                )
                await self._store.set_thread(part.chat_id, None)
            elif verdict is Verdict.CHAT_REFUSES:
                # Every part would meet the same answer: the chat's queue ends at once.
                queue = await self._store.pending_parts(part.chat_id)
                await self._end(queue, REFUSED, describe(exc))
                if target.thread_id is not None:  # the general topic may still take a word
                    await tell_owner(bot, self._store, target, reason(exc), topic=True)
                return Outcome.ENDED, part.chat_id, False
            elif verdict is Verdict.PART_REFUSED:
                await self._end([part], REFUSED, describe(exc))
                refused.append((target, reason(exc)))
                return Outcome.ENDED, part.chat_id, True
            elif verdict is Verdict.RETRY_NOW and failures + 1 < self.attempts:
                failures += 1
                delay = self.backoff_delay(failures)
                self.stats.note("network_retries")
                log.warning(
                    "Part %d/%d of digest %d for chat %s failed (%s); retry %d of %d in %.1f s",
                    part.part_no,
                    part.parts_total,
                    part.digest_id,
                    part.chat_id,
                    describe(exc),
                    failures,
                    self.attempts - 1,
                    delay,
                )
                await self._sleep(delay)
            else:  # later: no answer after the last try, a 429, the token, a second migration
                log.warning(
                    "Part %d/%d of digest %d for chat %s not sent%s (%s);"
                    " it stays queued for the next flush",
                    part.part_no,
                    part.parts_total,
                    part.digest_id,
                    part.chat_id,
                    f" after {failures + 1} tries" if verdict is Verdict.RETRY_NOW else "",
                    describe(exc),
                )
                return Outcome.FAILED, part.chat_id, False

    async def _end(self, parts: Sequence[OutboxPart], why: str, detail: str) -> None:
        """End parts unsent (refused for good, or too old): counted, logged, their papers
        back for the chat's next digest."""
        ended = await self._store.end_parts(parts, why)
        self.stats.note("parts_expired" if why == EXPIRED else "parts_refused", ended)
        for part in parts:
            log.warning(
                "Part %d/%d of digest %d for chat %s ended unsent, %s (%s);"
                " its papers wait for the chat's next digest",
                part.part_no,
                part.parts_total,
                part.digest_id,
                part.chat_id,
                why,
                detail,
            )

    async def target(self, chat_id: int) -> Target:
        """Where the chat's parts go now: its active linked channel, else the chat (in its
        forum topic, if any)."""
        link = await self._store.channel_link(chat_id)
        if link is not None and link.active:
            return Target(link.channel_id, channel=link)
        return Target(chat_id, thread_id=await self._store.get_thread(chat_id))

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


def composed_digest(
    chat_id: int,
    parts: Sequence[DigestPart],
    *,
    read: tuple[int, str] | None = None,
    daily_at: dt.datetime | None = None,
    through: dt.date | None = None,
) -> ComposedDigest:
    """A digest's parts as the outbox records them: held ones (always the last) without text."""
    return ComposedDigest(
        chat_id,
        [(part.text, part.arxiv_ids) for part in parts if part.held is None],
        read=read,
        daily_at=daily_at,
        held=[(part.held, part.arxiv_ids) for part in parts if part.held is not None],
        through=through,
    )


async def deliver(bot: Bot, store: Store, chat_id: int, parts: Sequence[DigestPart]) -> Outcome:
    """Queue one digest for one chat and send it (all parts visible)."""
    outbox = Outbox(store, visible_parts=max(len(parts), 1))
    await outbox.enqueue(chat_id, parts)
    return await outbox.flush_chat(bot, chat_id)
