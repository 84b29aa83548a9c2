"""Tests for bot.storage.checkpoints: the write-ahead log is copied into the database file
beside the writer, and nothing is left of it once the store is closed."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.models import Paper
from bot.storage.checkpoints import WRITER_CHECKPOINT_PAGES
from bot.storage.store import Store


def papers(count: int) -> list[Paper]:
    return [
        Paper(
            arxiv_id=f"2508.{n:05d}",
            title=f"Paper {n}",
            authors=("Ada Lovelace",),
            abstract="A long abstract. " * 100,
            categories=("cs.AI",),
        )
        for n in range(1, count + 1)
    ]


async def until(condition: Callable[[], bool]) -> None:
    """Wait for the condition, however slow the machine; fail after a minute."""
    async with asyncio.timeout(60):
        while not condition():
            await asyncio.sleep(0.01)


async def test_commits_are_checkpointed_beside_the_writer(tmp_path: Path) -> None:
    """The writer's own checkpoint is a safety net far away; after a commit, a background pass
    copies the log into the database file, which grows by what was written."""
    path = tmp_path / "bot.sqlite3"
    store = await Store.open(path)
    try:
        rows = await store._fetchall("PRAGMA wal_autocheckpoint")
        assert rows[0][0] == WRITER_CHECKPOINT_PAGES
        checkpointer = store._checkpointer
        assert checkpointer is not None
        size = path.stat().st_size
        passes = checkpointer.passes
        await store.add_papers(papers(300))  # ~500 kB
        await until(lambda: checkpointer.passes > passes)
        await until(lambda: path.stat().st_size > size + 400_000)
        logged, copied = await checkpointer.checkpoint()
        assert logged == copied
        assert await store.count_papers() == 300
    finally:
        await store.close()
    assert not path.with_name(path.name + "-wal").exists()
    reopened = await Store.open(path)
    try:
        assert await reopened.count_papers() == 300
    finally:
        await reopened.close()


async def test_a_failing_pass_is_logged_once_and_the_next_commit_tries_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A pass that fails (a full disk) neither stops the checkpoints nor fills the log."""
    store = await Store.open(tmp_path / "bot.sqlite3")
    try:
        checkpointer = store._checkpointer
        assert checkpointer is not None
        real = checkpointer.checkpoint

        async def failing() -> tuple[int, int]:
            raise sqlite3.OperationalError("database or disk is full")

        monkeypatch.setattr(checkpointer, "checkpoint", failing)
        for count in (1, 2):
            await store.add_papers(papers(count))
            await until(lambda count=count: checkpointer.failures >= count)
        warnings = [r for r in caplog.records if "checkpoint failed" in r.getMessage()]
        assert len(warnings) == 1
        monkeypatch.setattr(checkpointer, "checkpoint", real)
        passes = checkpointer.passes
        await store.add_papers(papers(3))
        await until(lambda: checkpointer.passes > passes)
    finally:
        await store.close()
