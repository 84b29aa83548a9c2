"""The application's metrics: counted per application, exposed in Prometheus's text format."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bot.delivery.limiter_stats import RateLimiterStats
from bot.ops.metrics import Metrics

NOW = dt.datetime(2024, 3, 11, 4, 10, tzinfo=dt.UTC)


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, parsed back by prometheus-client's own parser."""
    found = {}
    for family in text_string_to_metric_families(metrics.exposition().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_two_applications_count_apart() -> None:
    """Each Metrics has its own registry: what one counts, the other does not see."""
    first, second = Metrics(), Metrics()
    first.poll_done(new_papers=5, failed_feeds=0)
    assert samples(first)[("arxiv_bot_papers_ingested_total", ())] == 5
    assert samples(second)[("arxiv_bot_papers_ingested_total", ())] == 0


def test_a_poll_where_every_feed_answered_is_the_last_successful_one() -> None:
    """A poll without a failed feed counts as ok and sets the last successful poll time; a
    failed one counts its failed feeds as fetch errors and leaves that time alone."""
    metrics = Metrics(clock=lambda: NOW)
    metrics.poll_done(new_papers=3, failed_feeds=0)
    assert metrics.last_successful_poll == NOW
    later = Metrics(clock=lambda: NOW + dt.timedelta(hours=1))
    later.poll_done(new_papers=0, failed_feeds=2)
    later.poll_broke()
    assert later.last_successful_poll is None
    found = samples(later)
    assert found[("arxiv_bot_polls_total", (("outcome", "failed"),))] == 1
    assert found[("arxiv_bot_polls_total", (("outcome", "error"),))] == 1
    assert found[("arxiv_bot_polls_total", (("outcome", "ok"),))] == 0
    assert found[("arxiv_bot_fetch_errors_total", ())] == 3
    assert samples(metrics)[("arxiv_bot_last_successful_poll_timestamp_seconds", ())] == (
        NOW.timestamp()
    )


def test_digests_count_matches_always_and_the_digest_once_sent() -> None:
    """A digest's papers count as matches; the digest counts as sent only when delivered."""
    metrics = Metrics()
    metrics.digest_sent(4, delivered=True)
    metrics.digest_sent(2, delivered=False)
    found = samples(metrics)
    assert found[("arxiv_bot_matches_total", ())] == 6
    assert found[("arxiv_bot_digests_sent_total", ())] == 1


def test_limiter_counts_are_read_when_scraped() -> None:
    """Messages sent, 429s and retries come from the rate limiter's stats at scrape time."""
    stats = RateLimiterStats()
    metrics = Metrics()
    metrics.watch_limiter(stats)
    stats.sent = 7
    stats.note("too_many")
    stats.note("retries")
    stats.note("network_retries")
    stats.note("network_retries")
    found = samples(metrics)
    assert found[("arxiv_bot_messages_sent_total", ())] == 7
    assert found[("arxiv_bot_telegram_429_total", ())] == 1
    assert found[("arxiv_bot_retries_total", (("reason", "rate_limit"),))] == 1
    assert found[("arxiv_bot_retries_total", (("reason", "network"),))] == 2


def test_command_latency_is_a_histogram_by_command() -> None:
    """Each observation lands in its command's histogram."""
    metrics = Metrics()
    metrics.command_latency.labels("subscribe").observe(0.02)
    metrics.command_latency.labels("subscribe").observe(3.0)
    found = samples(metrics)
    key = ("arxiv_bot_command_duration_seconds_count", (("command", "subscribe"),))
    assert found[key] == 2
    bucket = (
        "arxiv_bot_command_duration_seconds_bucket",
        (("command", "subscribe"), ("le", "0.025")),
    )
    assert found[bucket] == 1


def test_process_memory_and_python_version_are_exposed() -> None:
    """Operators also see the process's resident memory (where /proc exists) and Python."""
    found = samples(Metrics())
    names = {name for name, _ in found}
    assert "python_info" in names
    if Path("/proc/self/stat").exists():
        assert found[("process_resident_memory_bytes", ())] > 0
