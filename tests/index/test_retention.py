"""Tests for bot.index.retention: a poll deletes papers past PAPER_RETENTION_DAYS (and the
matches that can no longer be pending); what is kept stays searchable."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from bot.config import Config
from bot.index.indexing import index_papers
from bot.index.retention import prune
from bot.index.search import latest_hits
from bot.models import Paper
from bot.schedule import RETENTION_JOB
from bot.storage.store import Store, utcnow
from tests.conftest import TOKEN, USER, StartBot, ids_in, pipeline
from tests.fakes.clock import FakeClock

DAY = dt.timedelta(days=1)


def zeppelin(arxiv_id: str, day: dt.date) -> Paper:
    return Paper(
        arxiv_id=arxiv_id,
        title=f"Zeppelin flights {arxiv_id}",
        authors=("Ada Lovelace",),
        abstract="We study airships.",
        categories=("cs.AI",),
        announced=day,
    )


async def store_as_of(path: Path, moment: dt.datetime, papers: list[Paper]) -> None:
    """Store papers as a poll at `moment` would have (a second connection to the file)."""
    store = await Store.open(path, clock=lambda: moment)
    try:
        await store.add_papers(papers)
    finally:
        await store.close()


async def test_the_daily_job_deletes_papers_past_retention_and_latest_no_longer_finds_them(
    start_bot: StartBot, config: Config
) -> None:
    """With PAPER_RETENTION_DAYS=10: papers last stored 30 days ago are found by /latest until
    the daily retention job runs, which deletes them with their ledger entries; papers of 2
    days ago stay."""
    async with start_bot(paper_retention_days=10) as bot:
        await bot.wait_for_papers(86)
        now = utcnow()
        old = [zeppelin("2507.00001", (now - 30 * DAY).date())]
        old.append(zeppelin("2507.00002", (now - 31 * DAY).date()))
        recent = [zeppelin("2508.99001", (now - 2 * DAY).date())]
        await store_as_of(config.database_path, now - 30 * DAY, old[:1])
        await store_as_of(config.database_path, now - 31 * DAY, old[1:])
        await store_as_of(config.database_path, now - 2 * DAY, recent)
        await bot.services.store.mark_delivered(USER, ["2507.00001", "2508.99001"])
        await bot.ask("/latest zeppelin")
        before = ids_in(await bot.settle())
        assert before == ["2508.99001", "2507.00001", "2507.00002"]
        await bot.run_job(RETENTION_JOB)
        await bot.idle()
        count = len(bot.telegram.messages_to(USER))
        await bot.ask("/latest zeppelin")
        assert ids_in((await bot.settle())[count:]) == ["2508.99001"]
        store = bot.services.store
        assert await store.get_paper("2507.00001") is None
        assert await store.delivered_ids(USER) == {"2508.99001"}
        assert await store.count_papers() == 86 + 1
        assert bot.telegram.violations == []


async def test_prune_keeps_what_may_be_pending_and_what_retention_keeps(tmp_path: Path) -> None:
    """prune at `now`: papers last stored before the retention period go; matches of papers
    older than the lookback window (and its margin) go, their papers stay searchable; the
    matches of papers in the window stay."""
    now = dt.datetime(2025, 8, 20, 12, 0, tzinfo=dt.UTC)
    config = Config(
        bot_token=TOKEN,
        database_path=tmp_path / "bot.sqlite3",
        digest_lookback_days=7,
        paper_retention_days=30,
    )
    clock = FakeClock((now - 40 * DAY).timestamp())
    async with pipeline(config, clock) as services:
        store = services.store
        await store.ensure_chat(USER, dt.time(8, 0), "UTC")
        await store.add_subscriptions(USER, [("zeppelin", "zeppelin")])
        for age, arxiv_id in ((40, "2507.00040"), (20, "2507.00020"), (1, "2508.00001")):
            clock.now = (now - age * DAY).timestamp()
            await store.add_papers([zeppelin(arxiv_id, (now - age * DAY).date())])
            await index_papers(services, now - age * DAY)
        chat = await store.get_chat(USER)
        assert chat is not None
        everything = now - 50 * DAY
        matched = [p.arxiv_id for p, _ in await store.pending_matches(chat, everything)]
        assert sorted(matched) == ["2507.00020", "2507.00040", "2508.00001"]
        # The matches of the papers of 20 and 40 days; the paper of 40 days.
        assert await prune(services, now) == (2, 1)
        matched = [p.arxiv_id for p, _ in await store.pending_matches(chat, everything)]
        assert matched == ["2508.00001"]
        found = await latest_hits(services, ["zeppelin"], ("cs.AI",), 10)
        assert [hit.paper.arxiv_id for hit in found] == ["2508.00001", "2507.00020"]
