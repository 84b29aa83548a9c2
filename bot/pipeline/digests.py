"""A chat's digest: its pending matches composed into the outbox (with those of the other
chats due at the same time, `bot.pipeline.composer`), then sent."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from telegram import Bot

from bot.delivery.outbox import LedgerUnavailable, Outcome
from bot.models import Hit
from bot.pipeline.composer import Composed, DigestRequest, chat_hits, digest_batches, plan_of
from bot.services import Services

log = logging.getLogger(__name__)


async def daily_digest(
    bot: Bot, services: Services, chat_id: int, now: dt.datetime | None = None
) -> int:
    """A chat's daily run: send what is pending (often nothing, or the chat's line that
    nothing matched the announcement), and record the run."""
    try:
        # The run is recorded with its digest, in one transaction: a process killed before
        # leaves the slot missed, and the restart catches it up; killed after, the outbox
        # sends what was queued.
        return await send_digest(bot, services, chat_id, now=now or services.clock(), daily=True)
    except LedgerUnavailable as exc:  # a full disk: the papers wait for the next digest
        log.warning("Digest for chat %s not sent: sending is paused (%s)", chat_id, exc)
        return 0


async def send_digest(
    bot: Bot,
    services: Services,
    chat_id: int,
    *,
    now: dt.datetime | None = None,
    daily: bool = False,
) -> int:
    """Send the chat its pending digest now; returns how many papers it carried (0: none).

    Its header names the arXiv announcement days since the chat's previous digest ("Fri 8
    Mar – Mon 11 Mar"). A daily run with nothing sends the chat's line that nothing matched,
    if it asked for it.
    """  # noqa: RUF002 - the en dash is the typographic range sign the header uses
    async with services.digest_locks[chat_id]:
        composed = await _compose(services, chat_id, now=now, daily=daily)
        papers = composed.papers
        if composed.note:  # no digest, but its line
            outcome = await services.outbox.flush_chat(bot, chat_id)
            log.info("Nothing matched for chat %s: its note %s", chat_id, outcome.value)
        if not papers:
            return 0
        outcome = await services.outbox.flush_chat(bot, chat_id)
        services.metrics.digest_sent(papers, delivered=outcome is Outcome.SENT)
        log.info("Digest for chat %s: %d papers, %s", chat_id, papers, outcome.value)
        return papers


async def compose_digest(
    services: Services, chat_id: int, *, now: dt.datetime | None = None, daily: bool = False
) -> int:
    """Queue the chat's pending digest in the outbox; returns how many papers it carries
    (0: no digest). With `daily`, the chat's daily run is recorded with it (and a chat that
    asked for it gets its line that nothing matched). Callers hold the chat's digest lock."""
    return (await _compose(services, chat_id, now=now, daily=daily)).papers


async def _compose(
    services: Services, chat_id: int, *, now: dt.datetime | None, daily: bool
) -> Composed:
    request = DigestRequest(chat_id, now or services.clock(), daily)
    return await digest_batches(services).submit(request)


async def pending_hits(
    services: Services, chat_id: int, now: dt.datetime | None = None
) -> list[Hit]:
    """The chat's matching papers that it has not received yet, most relevant first, as its
    digest at `now` would read them (nothing is recorded)."""
    plan, batch = await plan_of(services, DigestRequest(chat_id, now or services.clock()))
    # Decoding the read and ranking it is CPU work: off the event loop.
    return await asyncio.to_thread(chat_hits, plan, batch) if plan is not None else []
