"""A poll: fetch → parse → store, then index and match, and when the next poll runs.

A poll (`run_poll`) ingests every feed the chats need (`ingest`; `ingest_feed` fetches, parses
and stores one feed URL), has the new papers indexed and matched once against every query
followed (`bot.index`), and plans the next poll.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from bot.arxiv.calendar import (
    HOLIDAYS_KNOWN_THROUGH,
    calendar_out_of_date,
    current_feed_day,
    eastern_date,
    is_stale,
    next_daily_poll,
    stale_retry_delay,
)
from bot.arxiv.feeds import parse_feed
from bot.arxiv.fetcher import (
    CATEGORY_RE,
    FEED_ITEM_LIMIT,
    FetchStatus,
    PoliteFetcher,
    count_by_category,
    plan_feed_urls,
)
from bot.arxiv.http import FeedError, check_is_feed
from bot.config import Config
from bot.index.runs import after_poll
from bot.models import Paper
from bot.services import Services
from bot.storage.store import Store, utcnow

log = logging.getLogger(__name__)

# Categories are packed into one feed URL up to this many items seen last time: headroom
# under arXiv's 2,000, since a busy day (Monday, after a holiday) carries more.
PLAN_LIMIT = 1600
# A retry is never sooner than this after the poll that asked for it.
MIN_RETRY_GAP = dt.timedelta(minutes=1)


# --- poll: one run over the feeds, and when the next is due -----------------------------------


@dataclass(frozen=True, slots=True)
class PollPlan:
    """When the next poll runs, and whether it retries the same feed day."""

    when: dt.datetime
    attempt: int = 0  # retries of this feed day so far; 0 for a poll after a rebuild
    first_at: dt.datetime | None = None  # when this feed day's first poll ran


async def run_poll(
    services: Services,
    plan: PollPlan | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> PollPlan:
    """Poll the feeds (the run `plan` planned) and plan the next poll."""
    now = clock()
    retrying = plan is not None and plan.attempt > 0
    if not retrying and calendar_out_of_date(eastern_date(now)):
        log.warning(
            "arXiv's holiday table (bot/arxiv/calendar.py) has no entries for %d, only through"
            " %d: update it from https://info.arxiv.org/help/availability.html. Polls go on"
            " every day; days are labelled and late feeds judged as if %d had no holidays",
            eastern_date(now).year,
            HOLIDAYS_KNOWN_THROUGH,
            eastern_date(now).year,
        )
    first_at = plan.first_at if plan is not None and retrying and plan.first_at else now
    services.metrics.poll_started()  # /healthz judges a poll that runs too long
    try:
        report = await ingest(services, now)
        needs_retry = report.needs_retry
        services.metrics.poll_done(len(report.new), report.failed_feeds)
    except Exception:  # the chain must go on: a poll that broke is retried like a failed one
        log.exception("Feed poll broke; will try again")
        services.metrics.poll_broke()
        needs_retry = True
    finally:
        services.metrics.poll_finished()
    return plan_next_poll(
        clock(),
        needs_retry=needs_retry,
        attempt=plan.attempt if plan is not None else 0,
        first_at=first_at,
        **_poll_settings(services.config),
    )


def plan_next_poll(
    now: dt.datetime,
    *,
    needs_retry: bool,
    attempt: int = 0,
    first_at: dt.datetime | None = None,
    poll_delay: dt.timedelta = dt.timedelta(minutes=10),
    repoll_interval: dt.timedelta = dt.timedelta(hours=6),
) -> PollPlan:
    """The poll after one that ran at `now` (pure: a fake clock can step through it).

    Normally: shortly after arXiv's next midnight rebuild, every day (weekends and arXiv
    holidays too: the holiday table may be wrong, and an unchanged feed costs one
    conditional GET). After a stale, truncated or failed poll: again after
    stale_retry_delay(1), (2), ... counted from the day's first poll (`first_at`); once those
    are used up, a slow safety re-poll every `repoll_interval` until it works. A retry or
    re-poll due after the next rebuild gives way to it.
    """
    regular = next_daily_poll(now, poll_delay)
    if needs_retry:
        first = first_at or now
        delay = stale_retry_delay(attempt + 1)
        if delay is not None:
            when, attempt = max(first + delay, now + MIN_RETRY_GAP), attempt + 1
        else:
            when = now + repoll_interval
        if when < regular:
            return PollPlan(when, attempt, first)
    return PollPlan(regular)


def _poll_settings(config: Config) -> dict[str, dt.timedelta]:
    return {
        "poll_delay": dt.timedelta(minutes=config.poll_delay_minutes),
        "repoll_interval": dt.timedelta(hours=config.repoll_interval_hours),
    }


# --- ingest: fetch → parse → store ------------------------------------------------------------


class FeedStatus(StrEnum):
    CHANGED = "changed"  # parsed cleanly and stored; remembered for the next conditional GET
    PARTIAL = "partial"  # malformed or truncated: what parsed is stored, not remembered
    UNCHANGED = "unchanged"  # a 304, or the same bytes as last time: nothing to parse
    FAILED = "failed"  # no feed at all (error status, HTML page, empty body, timeout)


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """What one poll of one feed URL gave."""

    url: str
    status: FeedStatus
    entries: int = 0
    new: tuple[Paper, ...] = ()
    feed_day: dt.date | None = None  # the US/Eastern day of the feed ingested, when known
    stale: bool = False  # arXiv still served an earlier day than the one due
    counts: Mapping[str, int] = field(default_factory=dict)  # papers per requested category
    at_limit: bool = False  # it carried arXiv's maximum of items: some may be missing

    @property
    def needs_retry(self) -> bool:
        """Try again soon: nothing came, part of it, or yesterday's feed."""
        return self.stale or self.status in (FeedStatus.FAILED, FeedStatus.PARTIAL)


@dataclass(frozen=True, slots=True)
class PollReport:
    """One poll of every feed URL."""

    feeds: tuple[FeedOutcome, ...]

    @property
    def new(self) -> list[Paper]:
        return [paper for feed in self.feeds for paper in feed.new]

    @property
    def needs_retry(self) -> bool:
        return any(feed.needs_retry for feed in self.feeds)

    @property
    def failed_feeds(self) -> int:
        """Feed URLs that gave no feed at all (a 304 or yesterday's feed is an answer)."""
        return sum(feed.status is FeedStatus.FAILED for feed in self.feeds)


async def ingest(services: Services, now: dt.datetime | None = None) -> PollReport:
    """Poll every feed the chats need: their categories, packed into few '+'-joined URLs.

    The categories are those of active chats with subscriptions (the configured ones until
    there are any), so nothing is fetched that no chat reads. A joined feed found at arXiv's
    item limit may have lost items: its categories are asked for again, each on its own, in
    this same poll, so its overflow is stored today.
    """
    now = now or utcnow()
    config = services.config
    in_use = await services.store.categories_in_use(config.arxiv_categories)
    categories = [cat for cat in in_use if CATEGORY_RE.match(cat)] or list(config.arxiv_categories)
    base = config.arxiv_rss_base
    # The sizes of the last feeds (kept in the database, so a restart plans as well).
    sizes = await services.store.category_sizes()
    urls = plan_feed_urls(base, categories, sizes, limit=PLAN_LIMIT)
    async with services.poll_lock:  # one poll at a time (the fetcher spaces the requests)
        known = await services.store.fetch_state()
        outcomes = []
        while urls:
            url = urls.pop(0)
            last_day = known[url][1] if url in known else None
            outcome = await ingest_feed(
                services.fetcher, services.store, url, now=now, last_day=last_day
            )
            await services.store.save_category_sizes(outcome.counts)
            services.metrics.feed_polled()
            outcomes.append(outcome)
            if outcome.at_limit and len(outcome.counts) > 1:
                split = plan_feed_urls(base, outcome.counts, outcome.counts, limit=PLAN_LIMIT)
                log.info("Asking again for %s apart: %s", url, ", ".join(split))
                urls += [part for part in split if part != url]
        await after_poll(services, now)  # indexed and matched once, against every query
    return PollReport(tuple(outcomes))


async def ingest_feed(
    fetcher: PoliteFetcher,
    store: Store,
    url: str,
    *,
    now: dt.datetime,
    last_day: dt.date | None = None,
) -> FeedOutcome:
    """Fetch one feed URL politely, parse it off the event loop, store its papers.

    Never raises for a failed fetch: an error status, an HTML page, an empty body or a
    timeout is logged and reported as FAILED, never as "no new papers". The fetch state (ETag,
    content hash, feed day) is remembered and persisted only after the papers are stored and
    only for a feed that parsed cleanly, so a truncated feed is fetched again in full.
    `last_day` is the feed day ingested last time: an unchanged feed still on an earlier day
    than today's is stale.
    """
    try:
        result = await fetcher.fetch(url, validate=check_is_feed, remember=False)
    except FeedError as exc:
        log.warning("Feed poll failed, will try again: %s", exc)
        return FeedOutcome(url, FeedStatus.FAILED)
    if not result.changed:
        if result.status is FetchStatus.UNCHANGED:  # the same bytes under new validators
            fetcher.remember(result)
            await store.save_fetch_state(url, result.state)
        stale = last_day is not None and last_day < current_feed_day(now)
        return FeedOutcome(url, FeedStatus.UNCHANGED, feed_day=last_day, stale=stale)
    parsed = await asyncio.to_thread(parse_feed, result.body)
    new = await store.add_papers(parsed.papers)
    item_days = [paper.announced for paper in parsed.papers if paper.announced is not None]
    if parsed.updated is not None:
        feed_day: dt.date | None = eastern_date(parsed.updated)
    else:
        feed_day = max(item_days, default=None)
    stale = is_stale(parsed.updated, item_days, now)
    if parsed.bozo:
        status = FeedStatus.PARTIAL
        log.warning(
            "Malformed feed %s (%s): kept %d entries, will fetch it again",
            url,
            parsed.problem,
            len(parsed.papers),
        )
    else:
        status = FeedStatus.CHANGED
        fetcher.remember(result)
        await store.save_fetch_state(url, result.state, feed_day)
    wanted = url.rpartition("/")[2].split("+")
    counts = count_by_category(wanted, (paper.categories for paper in parsed.papers))
    at_limit = len(parsed.papers) + parsed.skipped >= FEED_ITEM_LIMIT
    if at_limit:
        # Items may be missing: count each category as more than half a feed, so that each
        # is asked for on its own (in this poll, by `ingest`, and in the next ones).
        if len(counts) > 1:
            log.warning("Feed %s is at arXiv's %d-item limit; splitting it", url, FEED_ITEM_LIMIT)
        else:  # one category: there is no smaller feed to ask for
            log.warning(
                "Feed %s is at arXiv's %d-item limit: items may be missing", url, FEED_ITEM_LIMIT
            )
        counts = {cat: max(n, FEED_ITEM_LIMIT // 2 + 1) for cat, n in counts.items()}
    log.info(
        "Polled %s: feed of %s, %d entries, %d new%s",
        url,
        feed_day,
        len(parsed.papers),
        len(new),
        " (stale: the previous day)" if stale else "",
    )
    return FeedOutcome(
        url, status, len(parsed.papers), tuple(new), feed_day, stale, counts, at_limit
    )
