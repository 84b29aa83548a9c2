"""What the limiter counts, and the 429s and retries per quarter hour that /stats reads:
buffered in memory, saved to a real SQLite database, read back from both without counting
any twice."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.delivery.limiter_stats import KEEP, RateLimiterStats, bucket_of
from bot.storage.store import Store

START = dt.datetime(2026, 3, 9, 15, 50, 12, tzinfo=dt.UTC)
MIDNIGHT = dt.datetime(2026, 3, 9, 16, 0, tzinfo=dt.UTC)  # 00:00 in Asia/Shanghai


class Wall:
    """A wall clock that moves only when told."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "bot.sqlite3")
    yield store
    await store.close()


def test_buckets_are_utc_quarter_hours() -> None:
    """A moment falls in the UTC quarter hour that contains it, whatever its own zone."""
    assert bucket_of(START) == dt.datetime(2026, 3, 9, 15, 45, tzinfo=dt.UTC)
    assert bucket_of(MIDNIGHT) == MIDNIGHT
    india = dt.timezone(dt.timedelta(hours=5, minutes=30))
    moment = dt.datetime(2026, 3, 10, 0, 7, tzinfo=india)  # 18:37 UTC the day before
    assert bucket_of(moment) == dt.datetime(2026, 3, 9, 18, 30, tzinfo=dt.UTC)


async def test_note_counts_totals_and_buffers_only_the_daily_kinds(store: Store) -> None:
    """Every kind noted adds to its total (for /metrics); 429s, retries and network retries
    also wait in memory, in the quarter hour of the clock, for the database."""
    wall = Wall(START)
    stats = RateLimiterStats(clock=wall)
    stats.note("too_many")
    stats.note("retries", 2)
    stats.note("parts_refused", 3)
    wall.now = MIDNIGHT
    stats.note("network_retries")
    totals = (stats.too_many, stats.retries, stats.parts_refused, stats.network_retries)
    assert totals == (1, 2, 3, 1)
    early = bucket_of(START)
    assert dict(stats.unflushed) == {
        (early, "too_many"): 1,
        (early, "retries"): 2,
        (MIDNIGHT, "network_retries"): 1,
    }
    assert await stats.daily_counts(store, early) == {
        "too_many": 1,
        "retries": 2,
        "network_retries": 1,
    }


async def test_flushed_and_unflushed_counts_are_read_once_each(store: Store) -> None:
    """Counts read back after a flush, and counts noted after it, add up to what was noted:
    none is counted both in memory and in the database; a flush with nothing new writes
    nothing more."""
    wall = Wall(MIDNIGHT)
    stats = RateLimiterStats(clock=wall)
    stats.note("too_many", 2)
    stats.note("retries", 2)
    await stats.flush(store)
    assert not stats.unflushed
    await stats.flush(store)
    wall.now = MIDNIGHT + dt.timedelta(minutes=20)
    stats.note("too_many")
    expected = {"too_many": 3, "retries": 2, "network_retries": 0}
    assert await stats.daily_counts(store, MIDNIGHT) == expected
    await stats.flush(store)
    assert await stats.daily_counts(store, MIDNIGHT) == expected
    assert await store.event_counts(MIDNIGHT) == {"too_many": 3, "retries": 2}


async def test_counts_noted_during_a_flush_wait_for_the_next(store: Store) -> None:
    """A 429 noted while a flush is writing is not lost with the counts it wrote: it stays in
    memory, is read once, and the next flush saves it."""
    stats = RateLimiterStats(clock=Wall(MIDNIGHT))
    stats.note("too_many")
    flushing = asyncio.create_task(stats.flush(store))
    await asyncio.sleep(0)  # the flush has taken its counts and waits on the database
    assert not flushing.done()
    stats.note("too_many")
    await flushing
    assert dict(stats.unflushed) == {(MIDNIGHT, "too_many"): 1}
    assert (await stats.daily_counts(store, MIDNIGHT))["too_many"] == 2
    await stats.flush(store)
    assert await store.event_counts(MIDNIGHT) == {"too_many": 2}


async def test_counts_survive_a_restart_and_a_failed_flush(tmp_path: Path) -> None:
    """Counts flushed before the database closes are read back by a new process's stats
    after it opens again; a flush that fails (the database is gone) keeps its counts in
    memory, and the next flush saves them."""
    path = tmp_path / "bot.sqlite3"
    store = await Store.open(path)
    stats = RateLimiterStats(clock=Wall(MIDNIGHT))
    stats.note("too_many", 4)
    stats.note("network_retries")
    await stats.flush(store)
    await store.close()
    stats.note("retries")
    with pytest.raises(ValueError, match="no active connection"):
        await stats.flush(store)
    assert dict(stats.unflushed) == {(MIDNIGHT, "retries"): 1}

    reopened = await Store.open(path)
    try:
        after_restart = RateLimiterStats(clock=Wall(MIDNIGHT))
        assert await after_restart.daily_counts(reopened, MIDNIGHT) == {
            "too_many": 4,
            "retries": 0,
            "network_retries": 1,
        }
        await stats.flush(reopened)
        assert not stats.unflushed
        assert (await after_restart.daily_counts(reopened, MIDNIGHT))["retries"] == 1
    finally:
        await reopened.close()


async def test_only_buckets_from_the_start_of_the_day_are_read(store: Store) -> None:
    """Counts before `since` are left out, in the database and in memory alike."""
    wall = Wall(START)
    stats = RateLimiterStats(clock=wall)
    stats.note("too_many", 5)  # 23:50 in Shanghai
    await stats.flush(store)
    stats.note("retries", 5)  # 23:50 too, not flushed
    wall.now = MIDNIGHT + dt.timedelta(minutes=5)  # 00:05
    stats.note("too_many")
    await stats.flush(store)
    stats.note("retries")
    assert await stats.daily_counts(store, MIDNIGHT) == {
        "too_many": 1,
        "retries": 1,
        "network_retries": 0,
    }
    assert (await stats.daily_counts(store, bucket_of(START)))["too_many"] == 6


async def test_a_flush_prunes_the_buckets_older_than_it_keeps(store: Store) -> None:
    """A flush drops the saved buckets from more than KEEP ago (35 days) and keeps newer."""
    wall = Wall(MIDNIGHT - KEEP - dt.timedelta(hours=1))
    stats = RateLimiterStats(clock=wall)
    stats.note("too_many", 7)
    wall.now = MIDNIGHT - KEEP + dt.timedelta(hours=1)
    stats.note("retries", 3)
    await stats.flush(store)
    assert await store.event_counts(MIDNIGHT - 2 * KEEP) == {"too_many": 7, "retries": 3}
    wall.now = MIDNIGHT
    stats.note("too_many")
    await stats.flush(store)
    assert await store.event_counts(MIDNIGHT - 2 * KEEP) == {"too_many": 1, "retries": 3}
