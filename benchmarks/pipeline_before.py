"""Pipeline benchmark, before: today's digest path on the data of benchmarks/pipeline_data.py.

This measures the code as of this commit, which matches papers to queries when a digest is
composed, not at ingest: these are the "before" figures of the README. Run from the
repository root (about 14 minutes on 2 slow cores: populating 1, the two compose samples 5,
/latest 6, /subscribe 2; peak memory about 250 MB, the database about 550 MB on disk):

    .venv/bin/python -m benchmarks.pipeline_before
    .venv/bin/python -m benchmarks.pipeline_before --chats 500 --history 10 --sample 20  # a look

The database (SQLite, in a temporary folder deleted at the end) is filled through the Store
API by `benchmarks.pipeline_data.populate`: 10,000 chats with 10 queries each, 90 days of
papers stored day by day on a fake clock, and a digest recorded yesterday for every chat.
Then, with the code of this commit:

(a) ingest: `Store.add_papers` of the new day's 3,000 entries (today's ingest matches nothing).

(b) compose: for a fixed random sample of active chats, one after the other, what the daily
    job does before sending (`bot.pipeline.send_digest` without its flush): `pending_hits`,
    `render_parts`, the outbox's `enqueue` (one transaction: the outbox parts and the ledger),
    then `record_digest`. The time is extrapolated linearly to all active chats. Today's code
    matches, every day, every paper of the last `digest_lookback_days` (7) that the chat has
    not received: in the steady state that is the new day plus the earlier days' papers that
    matched nothing. So the sampled chats are first brought to that state: yesterday they got
    a digest of what matched them in the window (computed with one Engine over the sample's
    queries and recorded with `Store.compose_digest`, then marked sent), so what is pending
    for them now is the new day's matches, and today's code finds them by re-reading and
    re-matching about five days of papers. This is `before_compose_s_extrapolated`. For
    comparison, a second sample of chats, with the lookback set to 1 day (only the new day
    considered, nothing to bring to a steady state), gives the lower bound of today's design.

(c) /latest <query>: the handler's logic for 20 queries (bot.telegram.papers.latest, without
    Telegram): `query_list`, then batches of `Store.papers_newest_first` matched with
    `match_papers` in the default categories until 5 hits, then `render_digest` of them. A
    query stops after --latest-cap seconds (120) and counts as ">120 s".

(d) /subscribe with 50 queries, for a new chat: the handler's store calls and
    `bot.telegram.subscriptions._preview` (each query matched against the last 7 days'
    papers). `_preview` reads the wall clock (`utcnow`); it is given the benchmark's clock.

Peak memory is the process's peak resident set size (ru_maxrss). The last line is

    before_ingest_s=<s> before_compose_s_extrapolated=<s> before_latest_p95_ms=<ms>
    before_subscribe_s=<s> peak_mb=<MB>

(one line), with a p95 of ">120000" if it is a capped query.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import math
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from unittest import mock

from benchmarks.memory import peak_mb
from benchmarks.pipeline_data import (
    CHATS,
    DEFAULT_CATEGORIES,
    HISTORY_DAYS,
    PAPERS_PER_DAY,
    SEED,
    ChatSpec,
    Clock,
    World,
    describe_sizes,
    digest_time,
    latest_queries,
    populate,
    subscribe_argument,
)
from bot.arxiv.api import ArxivSearch
from bot.arxiv.categories import in_categories
from bot.arxiv.fetcher import PoliteFetcher
from bot.arxiv.http import make_http_client
from bot.config import Config
from bot.delivery.digest import render_digest, render_parts
from bot.delivery.outbox import Outbox
from bot.i18n.translate import translator
from bot.matching.engine import Engine
from bot.matching.ranking import match_papers
from bot.models import Hit
from bot.pipeline import digest_days, pending_hits
from bot.services import Services
from bot.storage.store import Store
from bot.telegram import subscriptions as subscriptions_handlers
from bot.telegram.papers import LATEST_DEFAULT
from bot.telegram.queries import query_list, unknown_categories
from bot.telegram.subscriptions import subscription_key

SAMPLE = 100  # chats composed, in each of the two samples
LATEST_CAP = 120.0  # seconds a /latest query may run


def _services(store: Store, lookback_days: int) -> Services:
    """The services the digest path runs on; the network ones are built but never used."""
    config = Config(
        bot_token="0:benchmark-token-never-used-000",
        arxiv_categories=DEFAULT_CATEGORIES,
        digest_lookback_days=lookback_days,
    )
    http = make_http_client("arxiv-digest-bot benchmark (no requests)")
    fetcher = PoliteFetcher(http)
    return Services(
        config=config,
        store=store,
        http=http,
        outbox=Outbox(store, visible_parts=config.max_digest_messages),
        fetcher=fetcher,
        search=ArxivSearch(fetcher, base=config.arxiv_api_url),
    )


async def _steady_state(
    services: Services, sample: Sequence[ChatSpec], now: dt.datetime
) -> list[int]:
    """Give each sampled chat, at `now` (yesterday's digest), a digest of every paper of the
    lookback window that matches it, as the daily runs before would have; returns their
    sizes."""
    store = services.store
    since = now - dt.timedelta(days=services.config.digest_lookback_days)
    window = await store.recent_papers(since)
    owners = [number for number, spec in enumerate(sample) for _ in spec.queries]
    queries = list(enumerate(query for spec in sample for query in spec.queries))
    matched: list[set[str]] = [set() for _ in sample]
    for paper, found in zip(window, Engine(queries).match_batch(window), strict=True):
        for subscription, _ in found:
            matched[owners[subscription]].add(paper.arxiv_id)
    del window
    sizes = []
    for spec, ids in zip(sample, matched, strict=True):
        chat = await store.get_chat(spec.chat_id)
        assert chat is not None
        pending = in_categories(
            await store.undelivered_papers(chat, since), services.categories_of(chat)
        )
        delivered = sorted(ids & {paper.arxiv_id for paper in pending})
        sizes.append(len(delivered))
        if delivered:
            await store.compose_digest(spec.chat_id, [("(yesterday's digest)", delivered)], 3)
            for part in await store.pending_parts(spec.chat_id):
                await store.mark_part_sent(part)
        await store.record_digest(spec.chat_id, now)
    return sizes


async def _compose(services: Services, chat_id: int, now: dt.datetime) -> tuple[int, float]:
    """bot.pipeline.send_digest and daily_digest without the flush: match, render, enqueue,
    record. Returns the digest's size and the seconds spent in pending_hits."""
    started = time.perf_counter()
    hits = await pending_hits(services, chat_id, now)
    matching = time.perf_counter() - started
    chat = await services.store.get_chat(chat_id)
    if hits and chat is not None:
        last = await services.store.last_digest_composed(chat_id)
        days = digest_days(chat, last, now, services.config.digest_lookback_days)
        tr = translator(await services.store.language_of(chat_id))
        parts = await asyncio.to_thread(render_parts, hits, days=days, tr=tr)
        await services.outbox.enqueue(chat_id, parts)
    await services.store.record_digest(chat_id, now)
    return len(hits), matching


async def _compose_sample(
    services: Services, sample: Sequence[ChatSpec], now: dt.datetime, active: int, label: str
) -> float:
    """Compose the sample's digests one after the other; print and return the extrapolation."""
    times, sizes, matching = [], [], 0.0
    for spec in sample:
        started = time.perf_counter()
        size, in_pending = await _compose(services, spec.chat_id, now)
        times.append(time.perf_counter() - started)
        sizes.append(size)
        matching += in_pending
    total = sum(times)
    extrapolated = total / len(sample) * active
    ordered = sorted(times)
    print(
        f"compose, {label}: {total:.1f} s for a fixed random sample of {len(sample)} active "
        f"chats ({total / len(sample) * 1000:.0f} ms a chat: p50 "
        f"{statistics.median(ordered) * 1000:.0f} ms, p90 "
        f"{ordered[int(0.9 * (len(ordered) - 1))] * 1000:.0f} ms, max "
        f"{ordered[-1] * 1000:.0f} ms; {matching / total:.0%} of it in pending_hits), "
        f"extrapolated linearly to all {active} active chats: {extrapolated:.0f} s"
    )
    print(f"  papers in those digests: {describe_sizes(sizes)}")
    return extrapolated


async def _breakdown(services: Services, sample: Sequence[ChatSpec], now: dt.datetime) -> None:
    """Where pending_hits spends its time: reading the undelivered papers, matching them."""
    store, reading, matching, papers = services.store, 0.0, 0.0, 0
    since = now - dt.timedelta(days=services.config.digest_lookback_days)
    for spec in sample:
        started = time.perf_counter()
        chat = await store.get_chat(spec.chat_id)
        assert chat is not None
        keywords = await store.subscriptions_for(spec.chat_id)
        pending = in_categories(
            await store.undelivered_papers(chat, since), services.categories_of(chat)
        )
        read = time.perf_counter()
        match_papers(pending, keywords)
        reading += read - started
        matching += time.perf_counter() - read
        papers += len(pending)
    print(
        f"  pending_hits again for {len(sample)} of them (the same papers, now delivered): "
        f"{papers / len(sample):.0f} papers a chat; reading them (SQL, rows to Papers, "
        f"categories) {reading / len(sample) * 1000:.0f} ms a chat, matching (normalising, "
        f"Engine, ranking) {matching / len(sample) * 1000:.0f} ms"
    )


async def _latest(store: Store, query: str, cap: float) -> tuple[float, int, int, bool]:
    """/latest <query> as the handler runs it; seconds, hits, papers read, capped."""
    started = time.perf_counter()
    keywords = query_list(query)
    assert not unknown_categories(keywords)
    hits: list[Hit] = []
    read, capped = 0, False
    async for batch in store.papers_newest_first():
        read += len(batch)
        hits += await asyncio.to_thread(
            match_papers, in_categories(batch, DEFAULT_CATEGORIES), keywords
        )
        if len(hits) >= LATEST_DEFAULT:
            break
        if time.perf_counter() - started > cap:
            capped = True
            break
    if hits:
        await asyncio.to_thread(lambda: list(render_digest(hits[:LATEST_DEFAULT])))
    return time.perf_counter() - started, len(hits), read, capped


def _ms(seconds: float, capped: bool, cap: float) -> str:
    return f">{cap * 1000:.0f}" if capped else f"{seconds * 1000:.0f}"


async def _subscribe(services: Services, clock: Clock, argument: str) -> tuple[float, int, int]:
    """A new chat's /subscribe of 50 queries: the handler's store calls and its preview.
    Returns seconds, queries added, and lines of preview."""
    store = services.store
    chat, _ = await store.ensure_chat(1, dt.time(8, 0), "UTC")
    started = time.perf_counter()
    keywords = query_list(argument)
    assert not unknown_categories(keywords)
    existing = await store.subscriptions_for(chat.chat_id)
    have = {subscription_key(k) for k in existing}
    fresh = [k for k in keywords if subscription_key(k) not in have]
    added = await store.add_subscriptions(chat.chat_id, [(subscription_key(k), k) for k in fresh])
    with mock.patch.object(subscriptions_handlers, "utcnow", clock):
        lines = await subscriptions_handlers._preview(services, chat, fresh, translator("en"))
    return time.perf_counter() - started, added, len(lines)


async def run(
    chat_count: int, history: int, per_day: int, sample_size: int, cap: float, seed: int
) -> str:
    world = World(seed)
    with tempfile.TemporaryDirectory(prefix="pipeline-before-") as folder:
        clock = Clock(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        store = await Store.open(Path(folder) / "bench.sqlite3", clock=clock)
        services = _services(store, lookback_days=7)
        try:
            started = time.perf_counter()
            specs, day = await populate(
                store, clock, world, chat_count=chat_count, history=history, per_day=per_day
            )
            stored = await store.count_papers()
            size_mb = (Path(folder) / "bench.sqlite3").stat().st_size / 1e6
            print(
                f"populate: {len(specs)} chats, {sum(len(s.queries) for s in specs)} "
                f"subscriptions, {history} days of papers ({stored} stored, database "
                f"{size_mb:.0f} MB): {time.perf_counter() - started:.0f} s"
            )
            active = [spec for spec in specs if spec.active]
            picked = random.Random(seed + 1).sample(active, min(2 * sample_size, len(active)))
            steady, one_day = picked[: len(picked) // 2], picked[len(picked) // 2 :]

            clock.now = digest_time(day.date - dt.timedelta(days=1))
            started = time.perf_counter()
            sizes = await _steady_state(services, steady, clock.now)
            took = time.perf_counter() - started
            print(
                f"steady state for the first sample (not timed): {took:.0f} s; yesterday's "
                f"digests, with every paper of the window that matched: {describe_sizes(sizes)}"
            )

            clock.now = day.poll_time
            started = time.perf_counter()
            new = await store.add_papers(day.papers)
            ingest = time.perf_counter() - started
            print(
                f"(a) ingest of the new day ({day.date}): {ingest:.2f} s for "
                f"{len(day.papers)} entries, {len(new)} new papers (no matching)"
            )

            now = digest_time(day.date)
            clock.now = now
            compose = await _compose_sample(
                services, steady, now, len(active), "steady state, 7-day lookback"
            )
            await _breakdown(services, steady[:10], now)
            await _compose_sample(
                _services(store, lookback_days=1),
                one_day,
                now,
                len(active),
                "another sample, lookback of 1 day (the new day alone)",
            )

            results = []
            for kind, query in latest_queries(world):
                seconds, found, read, capped = await _latest(store, query, cap)
                results.append((seconds, capped))
                print(
                    f"  /latest {query} ({kind}): {_ms(seconds, capped, cap)} ms, "
                    f"{min(found, LATEST_DEFAULT)} shown, {read} papers read"
                    + (" (capped)" if capped else "")
                )
            ordered = sorted(results)
            p50 = ordered[math.ceil(0.50 * len(ordered)) - 1]  # nearest rank
            p95 = ordered[math.ceil(0.95 * len(ordered)) - 1]
            print(
                f"(c) /latest, {len(ordered)} queries: p50 {_ms(*p50, cap)} ms, "
                f"p95 {_ms(*p95, cap)} ms, {sum(c for _, c in results)} capped at {cap:.0f} s"
            )

            clock.now = now + dt.timedelta(hours=1)
            argument = subscribe_argument(world)
            seconds, added, lines = await _subscribe(services, clock, argument)
            print(
                f"(d) /subscribe of {added} queries (store and preview of the last 7 days): "
                f"{seconds:.1f} s, {lines} preview lines"
            )
        finally:
            await services.http.aclose()
            await store.close()
    peak = peak_mb()
    print(f"peak memory: {peak:.0f} MB (ru_maxrss: the whole process's peak resident set)")
    return (
        f"before_ingest_s={ingest:.2f} before_compose_s_extrapolated={compose:.0f} "
        f"before_latest_p95_ms={_ms(*p95, cap)} before_subscribe_s={seconds:.1f} "
        f"peak_mb={peak:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--chats", type=int, default=CHATS)
    parser.add_argument("--history", type=int, default=HISTORY_DAYS, help="days of papers")
    parser.add_argument("--per-day", type=int, default=PAPERS_PER_DAY)
    parser.add_argument("--sample", type=int, default=SAMPLE, help="chats in each sample")
    parser.add_argument("--latest-cap", type=float, default=LATEST_CAP, help="seconds")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    line = asyncio.run(
        run(args.chats, args.history, args.per_day, args.sample, args.latest_cap, args.seed)
    )
    print(line)


if __name__ == "__main__":
    main()
