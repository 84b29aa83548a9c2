"""Tests for bot.index.runs: what the pipeline runs after a poll and before a digest, on the
time it is given (a fake clock far from the wall clock's), never on the wall clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.config import Config
from bot.index.runs import after_poll
from bot.models import Paper
from bot.pipeline.digests import pending_hits
from bot.services import Services
from bot.telegram.subscriptions import subscription_key
from tests.conftest import TOKEN, pipeline
from tests.fakes.clock import FakeClock

# A year before the wall clock: a window computed from the wall clock holds none of these.
NOW = dt.datetime(2025, 8, 20, 12, 0, tzinfo=dt.UTC)
CHAT = 7


def diffusion(n: int) -> Paper:
    return Paper(
        arxiv_id=f"2508.{n:05d}",
        title=f"Diffusion {n}",
        authors=("Ada Lovelace",),
        abstract="We study diffusion.",
        categories=("cs.AI",),
        announced=NOW.date(),
    )


@pytest.fixture
async def services(tmp_path: Path) -> AsyncIterator[Services]:
    config = Config(bot_token=TOKEN, database_path=tmp_path / "bot.sqlite3")
    async with pipeline(config, FakeClock(NOW.timestamp())) as built:
        await built.store.ensure_chat(CHAT, dt.time(8, 0), "UTC")
        yield built


async def test_a_digest_indexes_what_a_cut_short_poll_left_for_its_own_now(
    services: Services,
) -> None:
    """Papers stored by a poll cut short before indexing are indexed and matched when the
    digest at `now` reads the matches, as recent by that `now`: they are pending."""
    await services.store.add_subscriptions(CHAT, [(subscription_key("diffusion"), "diffusion")])
    await after_poll(services, NOW)
    await services.store.add_papers([diffusion(1), diffusion(2)])  # and the poll stops here
    hits = await pending_hits(services, CHAT, NOW)
    assert sorted(hit.paper.arxiv_id for hit in hits) == ["2508.00001", "2508.00002"]
    assert not await services.store.has_unindexed()


async def test_a_query_added_to_the_database_is_completed_over_the_window_of_now(
    services: Services,
) -> None:
    """A query added to the database directly, after its papers were indexed, is matched
    against the lookback window of the digest's `now` (by the next poll, or the digest)."""
    await services.store.add_papers([diffusion(1)])
    await after_poll(services, NOW)
    await services.store.add_subscriptions(CHAT, [(subscription_key("diffusion"), "diffusion")])
    hits = await pending_hits(services, CHAT, NOW)
    assert [hit.paper.arxiv_id for hit in hits] == ["2508.00001"]
    await services.store.add_subscriptions(CHAT, [(subscription_key("study"), "study")])
    await after_poll(services, NOW)  # a poll that stored nothing completes it
    assert await services.store.unmatched_queries() == []
    chat = await services.store.get_chat(CHAT)
    assert chat is not None
    (found,) = await services.store.pending_matches(chat, NOW - dt.timedelta(days=7))
    assert found[1] == [("diffusion", 3), ("study", 2)]  # title and abstract; abstract
