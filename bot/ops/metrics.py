"""What the bot counts, in Prometheus's terms, and what /healthz judges from.

One `Metrics` per application, each with its own registry (tests run several applications in
one process). The pipeline notes its events with small calls (`poll_started`, `feed_polled`,
`poll_done`, `poll_finished`, `digest_sent`); what the rate limiter and the outbox already
count (messages sent, 429s, retries, digest parts ended unsent, whether sending is paused) is
read from their stats when Prometheus scrapes, and so is the number of parts waiting in the
outbox. /healthz reads the pause there too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from bot.delivery.limiter_stats import RateLimiterStats

PREFIX = "arxiv_bot"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Command handling is a store call and a reply: milliseconds, or seconds behind a rate limit.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PollOutcome:
    OK = "ok"  # every feed answered (a 304 or an unchanged feed included)
    FAILED = "failed"  # at least one feed URL gave no feed (error status, timeout, HTML page)
    ERROR = "error"  # the poll itself broke (a bug, the database)


class Metrics:
    """The application's counters; for /healthz, when it started, when a poll last succeeded,
    and whether one is running (since when, and when a feed of it last finished)."""

    def __init__(self, clock: Callable[[], dt.datetime] | None = None) -> None:
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.registry = CollectorRegistry(auto_describe=True)
        self.started_at = self._clock()
        self.last_successful_poll: dt.datetime | None = None
        self._delivery: RateLimiterStats | None = None  # the limiter's and outbox's stats
        self.poll_running_since: dt.datetime | None = None
        self.last_feed_polled: dt.datetime | None = None  # a feed of the running poll finished
        reg = self.registry
        # The process's memory, CPU time and open files (Linux), and the Python version.
        ProcessCollector(registry=reg)
        PlatformCollector(registry=reg)
        self.polls = Counter(f"{PREFIX}_polls", "Feed polls, by outcome", ["outcome"], registry=reg)
        for outcome in (PollOutcome.OK, PollOutcome.FAILED, PollOutcome.ERROR):
            self.polls.labels(outcome)
        self.fetch_errors = Counter(
            f"{PREFIX}_fetch_errors", "Feed URLs that gave no feed, and broken polls", registry=reg
        )
        self.papers_ingested = Counter(
            f"{PREFIX}_papers_ingested", "Papers stored that were new", registry=reg
        )
        self.matches = Counter(
            f"{PREFIX}_matches", "Papers matched to a chat and put in its digest", registry=reg
        )
        self.digests_sent = Counter(
            f"{PREFIX}_digests_sent", "Digests whose visible parts were all sent", registry=reg
        )
        self.outbox_pending = Gauge(
            f"{PREFIX}_outbox_pending", "Digest parts waiting in the outbox", registry=reg
        )
        self.last_poll_timestamp = Gauge(
            f"{PREFIX}_last_successful_poll_timestamp_seconds",
            "Unix time of the last poll in which every feed answered",
            registry=reg,
        )
        self.command_latency = Histogram(
            f"{PREFIX}_command_duration_seconds",
            "Time to handle a command, by command",
            ["command"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )

    def now(self) -> dt.datetime:
        return self._clock()

    def poll_started(self) -> None:
        """A poll begins (its end is `poll_finished`, whatever the outcome)."""
        self.poll_running_since = self._clock()
        self.last_feed_polled = None

    def feed_polled(self) -> None:
        """One feed URL of the running poll is done with (fetched, failed or stored)."""
        self.last_feed_polled = self._clock()

    def poll_finished(self) -> None:
        """The running poll ended: completed, broken or cancelled."""
        self.poll_running_since = None
        self.last_feed_polled = None

    def poll_done(self, new_papers: int, failed_feeds: int) -> None:
        """A poll ran to its end: `failed_feeds` URLs gave no feed. Any other answer, a 304
        or yesterday's feed included, means arXiv was reached: the poll worked."""
        self.papers_ingested.inc(new_papers)
        if failed_feeds:
            self.fetch_errors.inc(failed_feeds)
            self.polls.labels(PollOutcome.FAILED).inc()
            return
        self.polls.labels(PollOutcome.OK).inc()
        self.last_successful_poll = self._clock()
        self.last_poll_timestamp.set(self.last_successful_poll.timestamp())

    def poll_broke(self) -> None:
        """A poll raised before it could finish."""
        self.fetch_errors.inc()
        self.polls.labels(PollOutcome.ERROR).inc()

    def digest_sent(self, papers: int, delivered: bool) -> None:
        """A digest of `papers` matches was composed; `delivered` when its parts went out."""
        self.matches.inc(papers)
        if delivered:
            self.digests_sent.inc()

    def watch_limiter(self, stats: RateLimiterStats) -> None:
        """Expose the rate limiter's counts (the outbox notes its retries, the parts it ends
        and whether it paused sending there too)."""
        self._delivery = stats
        self.registry.register(_LimiterCollector(stats))

    def sending_paused(self) -> str | None:
        """Why the outbox does not send (its ledger cannot be written), or None."""
        return self._delivery.ledger_error if self._delivery is not None else None

    def exposition(self) -> bytes:
        """The Prometheus text format of everything above."""
        return generate_latest(self.registry)


class _LimiterCollector(Collector):
    """Messages sent, 429s and retries, read from the limiter's stats at scrape time."""

    def __init__(self, stats: RateLimiterStats) -> None:
        self._stats = stats

    def describe(self) -> Iterable[Metric]:
        return list(self.collect())

    def collect(self) -> Iterator[Metric]:
        stats = self._stats
        yield _counter("messages_sent", "Messages Telegram accepted", stats.sent)
        yield _counter("telegram_429", "429 Too Many Requests answers", stats.too_many)
        retries = CounterMetricFamily(
            f"{PREFIX}_retries", "Requests repeated, by reason", labels=["reason"]
        )
        retries.add_metric(["rate_limit"], stats.retries)
        retries.add_metric(["network"], stats.network_retries)
        yield retries
        ended = CounterMetricFamily(
            f"{PREFIX}_digest_parts_ended",
            "Digest messages given up unsent, by reason: refused by Telegram for good, or"
            " still unsent after the maximum age (their papers wait for the next digest)",
            labels=["reason"],
        )
        ended.add_metric(["refused"], stats.parts_refused)
        ended.add_metric(["expired"], stats.parts_expired)
        yield ended
        yield GaugeMetricFamily(
            f"{PREFIX}_sending_paused",
            "1 while the outbox cannot write its ledger (a full disk) and sends nothing",
            value=int(stats.ledger_error is not None),
        )


def _counter(name: str, doc: str, value: int) -> CounterMetricFamily:
    return CounterMetricFamily(f"{PREFIX}_{name}", doc, value=value)
