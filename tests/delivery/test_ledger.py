"""A full disk: when the outbox cannot write its ledger it stops sending (and /healthz says
503) until it can, and a part Telegram accepted is never sent again because its record
failed."""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from telegram import Bot

from bot.delivery.digest import DigestPart
from bot.delivery.limiter_stats import RateLimiterStats
from bot.delivery.outbox import LedgerUnavailable, Outbox, Outcome
from bot.storage.store import Store
from tests.conftest import TOKEN, USER, StartBot, free_port, ids_in
from tests.fakes import FakeBotAPI
from tests.papers import numbered_paper

EIGHT = dt.time(8, 0)
ADMIN = 777
FULL = "database or disk is full"  # what SQLite says (SQLITE_FULL)


class FillingDisk(Store):
    """The real store on a disk that fills up: while `full`, every write transaction fails
    as SQLite's commit does on a full disk (nothing of it is kept); reads go on."""

    full = False

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        async with super()._transaction():
            yield
            if self.full:
                raise sqlite3.OperationalError(FULL)


@pytest.fixture
async def disk(tmp_path: Path) -> AsyncIterator[FillingDisk]:
    store = await FillingDisk.open(tmp_path / "bot.sqlite3")
    await store.add_papers([numbered_paper(n) for n in range(1, 6)])
    for chat in (1, 2):
        await store.ensure_chat(chat, EIGHT, "UTC")
    yield store
    await store.close()


async def test_a_part_sent_but_not_recorded_is_never_sent_again(
    disk: FillingDisk, telegram: FakeBotAPI
) -> None:
    """The disk fills between Telegram's confirmation and its record: that part is not sent
    again, flush after flush, nothing else is sent (to any chat) and no digest is queued
    while the database cannot be written; once it can, the record is made and the rest goes
    out, each message once."""
    stats = RateLimiterStats()
    box = Outbox(disk, stats=stats)
    await box.enqueue(1, [DigestPart("1a", ("2508.00001",)), DigestPart("1b", ("2508.00002",))])
    await box.enqueue(2, [DigestPart("2a", ("2508.00003",))])
    async with Bot(TOKEN, base_url=telegram.base_url) as client:
        disk.full = True
        assert await box.flush_chat(client, 1) is Outcome.PAUSED
        assert [m.text for m in telegram.sent] == ["1a"]
        assert stats.ledger_error == FULL
        for _ in range(5):  # the outbox job, every minute
            assert await box.flush(client) == {Outcome.PAUSED: 1}
            assert await box.flush_chat(client, 2) is Outcome.PAUSED
        with pytest.raises(LedgerUnavailable):
            await box.enqueue(2, [DigestPart("2b", ("2508.00004",))])
        assert [m.text for m in telegram.sent] == ["1a"], "nothing more, nothing again"

        disk.full = False
        assert await box.flush(client) == {Outcome.SENT: 2}
    assert sorted(m.text for m in telegram.sent) == ["1a", "1b", "2a"]
    assert stats.ledger_error is None
    assert await disk.pending_parts() == []
    assert await disk.delivered_ids(2) == {"2508.00003"}, "the refused compose left nothing"


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.get(url)


async def test_a_full_disk_pauses_sending_and_healthz_says_so(
    start_bot: StartBot, telegram: FakeBotAPI
) -> None:
    """The real application on a database that cannot grow (SQLite's max_page_count): the
    digest due is neither queued nor sent, /healthz answers 503 naming the cause, /stats and
    /metrics say sending is paused, and the outbox job sends nothing; once the database can
    grow again, /healthz is 200 and the next digest goes out."""
    port = free_port()
    async with start_bot(health_port=port, admin_ids=frozenset({ADMIN})) as bot:
        await bot.wait_for_papers(86)
        await bot.ask("/subscribe diffusion")
        store = bot.services.store
        db = store._db  # the bot's own connection: the limit is per connection
        (pages,) = await (await db.execute("PRAGMA page_count")).fetchone() or (0,)
        await db.execute(f"PRAGMA max_page_count = {pages}")
        sends = len(telegram.calls_to("sendMessage"))

        await bot.run_job(f"digest:{USER}")
        await bot.run_job("outbox")
        assert len(telegram.calls_to("sendMessage")) == sends, "nothing sent"
        assert await store.pending_parts(USER) == []
        assert await store.delivered_ids(USER) == set()
        health = await get(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 503
        assert health.json()["sending_paused"] == FULL
        metrics = (await get(f"http://127.0.0.1:{port}/metrics")).text
        assert "arxiv_bot_sending_paused 1.0" in metrics
        (figures,) = await bot.ask("/stats", chat_id=ADMIN, user_id=ADMIN)
        assert f"Sending is paused: the database cannot be written ({FULL})" in figures.plain_text
        (answer,) = await bot.ask("/digest")
        assert answer.plain_text.startswith("I cannot send digests right now")

        await db.execute("PRAGMA max_page_count = 1073741823")
        await bot.run_job("outbox")
        health = await get(f"http://127.0.0.1:{port}/healthz")
        assert health.status_code == 200
        assert health.json()["sending_paused"] is None
        before = len(telegram.messages_to(USER))
        await bot.run_job(f"digest:{USER}")
        digest = (await bot.press_more())[before:]
        assert ids_in(digest)
        assert set(ids_in(digest)) == await store.delivered_ids(USER)
