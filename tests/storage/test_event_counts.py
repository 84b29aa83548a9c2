"""The 429 and retry counts the store keeps per quarter hour, on a real SQLite file."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.storage.store import Store

NOON = dt.datetime(2026, 3, 9, 12, 0, tzinfo=dt.UTC)
QUARTER = dt.timedelta(minutes=15)


async def test_counts_add_up_per_bucket_and_survive_reopening(tmp_path: Path) -> None:
    """Counts added to a bucket add to what it holds; a read sums each kind over the buckets
    from a moment on; after the database is opened again the same counts are read back."""
    path = tmp_path / "bot.sqlite3"
    long_ago = NOON - dt.timedelta(days=40)
    store = await Store.open(path)
    try:
        assert await store.event_counts(NOON) == {}
        await store.add_event_counts(
            {(NOON, "too_many"): 2, (NOON + QUARTER, "too_many"): 1, (NOON, "retries"): 4},
            prune_before=long_ago,
        )
        await store.add_event_counts({(NOON, "too_many"): 3}, prune_before=long_ago)
        assert await store.event_counts(NOON) == {"too_many": 6, "retries": 4}
        assert await store.event_counts(NOON + QUARTER) == {"too_many": 1}
        assert await store.event_counts(NOON + 2 * QUARTER) == {}
    finally:
        await store.close()
    again = await Store.open(path)
    try:
        assert await again.event_counts(NOON - QUARTER) == {"too_many": 6, "retries": 4}
    finally:
        await again.close()


async def test_a_write_prunes_the_buckets_older_than_it_keeps(tmp_path: Path) -> None:
    """Each write drops the buckets that start before its `prune_before`, of every kind, and
    keeps the bucket that starts at it and the later ones."""
    store = await Store.open(tmp_path / "bot.sqlite3")
    try:
        old, edge = NOON - dt.timedelta(days=36), NOON - dt.timedelta(days=35)
        await store.add_event_counts(
            {(old, "too_many"): 5, (old, "retries"): 5, (edge, "retries"): 2},
            prune_before=old,
        )
        assert await store.event_counts(old) == {"too_many": 5, "retries": 7}
        await store.add_event_counts({(NOON, "too_many"): 1}, prune_before=edge)
        assert await store.event_counts(old) == {"retries": 2, "too_many": 1}
    finally:
        await store.close()
