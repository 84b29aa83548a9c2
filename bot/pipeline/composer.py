"""Composing the digests of many chats at once: the chats due at the same minute are served
together (`bot.ops.batches`), with one read of the database for all of them, the CPU work in
the worker process (a thread for small batches), and one transaction that queues every digest
and records every run. A digest's messages after the visible ones are held without their text
(`bot.delivery.digest.render_held` makes it when "More" releases them).

A chat's digest is its pending matches (read from the matches stored at ingest: nothing is
matched here), in the chat's categories, ranked and rendered in its language under a header
naming the arXiv announcement days since its previous digest. A chat whose queries,
settings, categories and lookback are those its previous digest read with reads only the
matches written since (`bot.storage.digest_runs`).

A daily run that finds nothing for a chat that asked for it (`Chat.tell_no_match`) queues a
one-line note instead, recorded as a digest of no papers naming the announcement day: once
per announcement day, never for a day without one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.arxiv.calendar import (
    announced_through,
    covered_days,
    eastern_date,
    last_announcement_day,
)
from bot.arxiv.categories import covers
from bot.delivery.digest import DigestPart, render_parts
from bot.delivery.outbox import LedgerUnavailable, composed_digest
from bot.i18n import texts
from bot.i18n.translate import Translator, translator
from bot.index.runs import before_digests
from bot.matching.ranking import broken_queries, rank
from bot.models import Chat, Hit, Match, Paper
from bot.ops.batches import Coalescer
from bot.services import Services
from bot.storage.digest_rows import ComposedDigest, DigestRows, encode_digests
from bot.storage.digest_runs import DigestInputs, PendingBatch, PendingRead
from bot.storage.index import mask_fields

# Chats composed together at most: what a batch holds (its matches, ~3 messages of 4 kB a
# chat) stays within tens of MB, and what is read and decoded once per batch (the papers of
# the day) is shared by many chats.
BATCH_LIMIT = 500
# Batches composed at once: one reads or writes the database (in SQLite's thread, without
# the GIL) while the other is decoded, ranked and rendered (in the worker process). Drafting a
# third in a thread of the bot beside the busy worker was ~15% faster, but each drafting
# process holds a batch and the rendering caches (~160 MB more at the peak, over 1 GB).
WORKERS = 2
# Batches of at least this many chats are ranked and rendered in the worker process
# (bot.ops.processes), on the other core; smaller ones (a /digest, a few chats due at the
# same minute) in a thread, which costs no process start and no copying.
PROCESS_FROM = 50
_BATCHES = "digests"


@dataclass(frozen=True, slots=True)
class DigestRequest:
    """Compose the chat's digest at `now`; `daily`: it is the chat's daily run (recorded)."""

    chat_id: int
    now: dt.datetime
    daily: bool = False


@dataclass(frozen=True, slots=True)
class Composed:
    """What a request queued: its digest's papers (0: no digest), or (`note`) the line
    saying that nothing matched the announcement."""

    papers: int = 0
    note: bool = False


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a chat's digest is made of, but its matches."""

    request: DigestRequest
    inputs: DigestInputs
    fingerprint: str
    read: PendingRead | None  # None: nothing to read (no queries)
    categories: tuple[str, ...]
    lookback_days: int
    tr: Translator
    through: dt.date  # the newest announcement day whose papers are in
    covered: dt.date | None  # the last one the chat's previous digest named (None: none)


def digest_batches(services: Services) -> Coalescer[DigestRequest, Composed]:
    """The services' digest coalescer: each request's result is what it queued."""
    found = services.batches.get(_BATCHES)
    if found is None:
        serve = functools.partial(compose_batch, services)
        found = Coalescer(serve, limit=BATCH_LIMIT, workers=WORKERS)
        services.batches[_BATCHES] = found
    coalescer: Coalescer[DigestRequest, Composed] = found
    return coalescer


async def compose_batch(
    services: Services, requests: Sequence[DigestRequest]
) -> list[Composed | BaseException]:
    """Compose the requested digests into the outbox; per request, what it queued or the
    exception its caller gets. A chat asked for twice is composed twice, in turn."""
    first_of: dict[int, DigestRequest] = {}
    for request in requests:
        first_of.setdefault(request.chat_id, request)
    first = list(first_of.values())
    results = dict(zip(map(id, first), await _compose(services, first), strict=True))
    again = [r for r in requests if id(r) not in results]
    if again:
        results.update(zip(map(id, again), await compose_batch(services, again), strict=True))
    return [results[id(r)] for r in requests]


async def _compose(
    services: Services, requests: Sequence[DigestRequest]
) -> list[Composed | BaseException]:
    plans, batch = await _read(services, requests)
    # Ranking and rendering thousands of papers is CPU work: off the event loop, in one go.
    drafting = services.drafting.run if len(plans) >= PROCESS_FROM else asyncio.to_thread
    visible = services.outbox.visible_parts
    results, rows = await drafting(_composed, list(plans.values()), batch, visible)
    try:
        await services.outbox.enqueue_runs(rows)
    except LedgerUnavailable as exc:  # nothing was queued, for any of them
        results = {chat_id: exc for chat_id in results}
    return [results.get(request.chat_id, Composed()) for request in requests]


async def _read(
    services: Services, requests: Sequence[DigestRequest]
) -> tuple[dict[int, _Plan], PendingBatch]:
    """The requested chats' plans (unknown chats left out) and pending matches, once every
    paper stored is indexed and every query followed matched."""
    store = services.store
    await before_digests(services, min(request.now for request in requests))
    inputs = await store.digest_inputs([request.chat_id for request in requests])
    feed_day = await store.newest_feed_day()  # one for the batch
    plans = {
        request.chat_id: _plan(services, request, inputs[request.chat_id], feed_day)
        for request in requests
        if request.chat_id in inputs
    }
    reads = [plan.read for plan in plans.values() if plan.read is not None]
    return plans, await store.pending_for(reads) if reads else PendingBatch(0)


async def plan_of(services: Services, request: DigestRequest) -> tuple[_Plan | None, PendingBatch]:
    """What the chat's digest would read at the request's time (None: an unknown chat)."""
    plans, batch = await _read(services, [request])
    return plans.get(request.chat_id), batch


def _composed(
    plans: Sequence[_Plan], batch: PendingBatch, visible: int
) -> tuple[dict[int, Composed | BaseException], DigestRows]:
    """Each chat's result (what it queued, or why its digest could not be made) and the
    rows that queue the digests and notes made and record their runs, encoded for the
    transaction (CPU work, for the worker process or a thread)."""
    by_chat = {plan.inputs.chat.chat_id: plan for plan in plans}
    records: list[ComposedDigest] = []
    results: dict[int, Composed | BaseException] = {}
    for chat_id, draft in _draft_all(plans, batch, visible).items():
        if isinstance(draft, BaseException):
            results[chat_id] = draft
            continue
        plan = by_chat[chat_id]
        note = not draft and _note_due(plan)
        if note:
            text = plan.tr(texts.NO_MATCH_NOTE, day=plan.tr.day(plan.through))
            draft = [DigestPart(text, ())]
        papers = len({arxiv_id for part in draft for arxiv_id in part.arxiv_ids})
        results[chat_id] = Composed(papers, note)
        daily_at = plan.request.now if plan.request.daily else None
        read = (batch.run, plan.fingerprint)
        records.append(
            composed_digest(chat_id, draft, read=read, daily_at=daily_at, through=plan.through)
        )
    return results, encode_digests(records, visible)


def _note_due(plan: _Plan) -> bool:
    """Whether the chat's run, which found nothing, owes it the line that nothing matched:
    its daily run, the chat asked for it and follows queries, and an announcement came
    since its last digest (or note) that is today's or yesterday's (US/Eastern; a run
    before the day's feed is in sees it the next day): once per announcement day, and
    never on a day without one."""
    chat = plan.inputs.chat
    recent = plan.through >= eastern_date(plan.request.now) - dt.timedelta(days=1)
    return (
        plan.request.daily
        and chat.tell_no_match
        and plan.read is not None
        and (plan.covered is None or plan.covered < plan.through)
        and recent
    )


def _plan(
    services: Services, request: DigestRequest, inputs: DigestInputs, feed_day: dt.date | None
) -> _Plan:
    chat = inputs.chat
    categories = services.categories_of(chat)
    lookback = services.config.digest_lookback_days
    fingerprint = read_fingerprint(chat, [key for key, _ in inputs.keywords], categories, lookback)
    read = None
    if inputs.keywords:
        broken_queries(chat.chat_id, [keyword for _, keyword in inputs.keywords])  # logged
        after = inputs.read_run if inputs.read_for == fingerprint else 0
        read = PendingRead(chat, request.now - dt.timedelta(days=lookback), after)
    language = translator(inputs.language)
    through = announced_through(request.now, feed_day)
    return _Plan(
        request,
        inputs,
        fingerprint,
        read,
        categories,
        lookback,
        language,
        through,
        covered_before(inputs),
    )


def covered_before(inputs: DigestInputs) -> dt.date | None:
    """The last announcement day the chat's previous digest named (None: it had none). A
    digest composed before digests recorded it named the last one on or before its day."""
    if inputs.last_through is None and inputs.last_composed is not None:
        return last_announcement_day(eastern_date(inputs.last_composed))
    return inputs.last_through


def read_fingerprint(
    chat: Chat, keys: Sequence[str], categories: Sequence[str], lookback_days: int
) -> str:
    """What decides which of the stored matches a chat's digest reads: while it is the same,
    a digest reads only the matches written since the previous one read."""
    decided = [
        sorted(keys),
        [chat.want_new, chat.want_cross, chat.want_revisions],
        sorted(categories),
        lookback_days,
    ]
    return hashlib.blake2b(json.dumps(decided).encode(), digest_size=12).hexdigest()


def _draft_all(
    plans: Sequence[_Plan], batch: PendingBatch, visible: int
) -> dict[int, list[DigestPart] | BaseException]:
    """Each chat's digest as messages (none: nothing pending), the first `visible` with their
    text and the others held, or why it could not be made: one chat's failure is its own (CPU
    work, for the worker process or a thread)."""
    drafts: dict[int, list[DigestPart] | BaseException] = {}
    memo: dict[Any, object] = {}  # what the batch's chats share: which papers they cover
    batch.decode()  # here, once: a broken read fails the whole batch, not each chat in turn
    for plan in plans:
        chat_id = plan.inputs.chat.chat_id
        try:
            hits = chat_hits(plan, batch, memo)
            days = digest_days(plan.covered, plan.through, hits, plan.lookback_days)
            drafts[chat_id] = (
                render_parts(hits, days=days, tr=plan.tr, rendered=visible) if hits else []
            )
        except Exception as exc:  # the chat's caller raises it; the others go on
            drafts[chat_id] = exc
    return drafts


def chat_hits(plan: _Plan, batch: PendingBatch, memo: dict[Any, object] | None = None) -> list[Hit]:
    """The chat's pending papers in its categories, each with its queries that match it (in
    the chat's order) and where, most relevant first (`memo`: what the chats of a batch
    compute once for all of them)."""
    memo = {} if memo is None else memo
    if plan.read is None:
        return []
    hits = []
    for paper, found in batch.pending.get(plan.inputs.chat.chat_id, ()):
        if _covered(memo, plan.categories, paper):
            keywords = tuple(query for query, _ in found)
            hits.append(Hit(paper, keywords, tuple(_match(query, mask) for query, mask in found)))
    return rank(hits)


def _covered(memo: dict[Any, object], categories: tuple[str, ...], paper: Paper) -> bool:
    """`covers`, remembered for the batch: its chats mostly share their categories."""
    key = (categories, paper.arxiv_id)
    known = memo.get(key)
    if known is None:
        known = memo[key] = covers(categories, paper.categories)
    return bool(known)


# The same object for the same match, in every batch of the process: rendering's caches are
# keyed by matches, and find them by identity.
@functools.lru_cache(maxsize=1 << 16)
def _match(query: str, mask: int) -> Match:
    """The match of a query in the fields of `mask`."""
    return Match(query, mask_fields(mask))


def digest_days(
    covered: dt.date | None, through: dt.date, hits: Sequence[Hit], max_days: int
) -> list[dt.date]:
    """The announcement days a digest names: those since the one its chat's previous digest
    named last (`covered`) up to `through`, at most `max_days` days' worth, and its papers'
    (`bot.arxiv.calendar.covered_days`)."""
    announced = [hit.paper.announced for hit in hits if hit.paper.announced is not None]
    return covered_days(covered, through, announced, max_days=max(1, max_days))
