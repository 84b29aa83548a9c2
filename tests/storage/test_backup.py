"""The database's backup (bot/storage/backup.py): one consistent, checked, private copy, made
while the bot's own connection stays open and keeps writing."""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
from pathlib import Path

import pytest

from bot.storage.backup import BackupError, backup_database
from bot.storage.store import Store
from tests.excerpt import excerpt_papers


async def _running_store(path: Path) -> Store:
    """A store as the running bot holds it: open, with a chat, keywords and papers."""
    store = await Store.open(path)
    await store.ensure_chat(7, dt.time(8, 0), "UTC")
    await store.add_subscriptions(7, [("diffusion", "diffusion"), ("gan", "GAN")])
    await store.add_papers(excerpt_papers())
    return store


async def test_a_backup_of_the_live_database_holds_every_commit(tmp_path: Path) -> None:
    """With the bot's connection open and its last commits still in the -wal file (not yet in
    the database file), the backup holds them all; it is one file in rollback mode, checked,
    and readable by its owner only."""
    live = tmp_path / "bot.sqlite3"
    store = await _running_store(live)
    try:
        assert (tmp_path / "bot.sqlite3-wal").stat().st_size > 0
        target = tmp_path / "backup.sqlite3"
        summary = backup_database(live, target)
    finally:
        await store.close()
    assert (summary.chats, summary.subscriptions, summary.papers) == (1, 2, len(excerpt_papers()))
    assert summary.schema_version > 0
    assert summary.size_bytes == target.stat().st_size
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not (tmp_path / "backup.sqlite3-wal").exists()
    assert not (tmp_path / "backup.sqlite3.partial").exists()
    copy = sqlite3.connect(target)
    try:
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert copy.execute("SELECT COUNT(*) FROM papers").fetchone() == (len(excerpt_papers()),)
    finally:
        copy.close()


async def test_the_bot_reopens_a_restored_backup(tmp_path: Path) -> None:
    """A backup put in place of the database (the README's restore steps) is the bot's
    database again: the store opens it and finds the chat's keywords."""
    store = await _running_store(tmp_path / "bot.sqlite3")
    try:
        backup_database(tmp_path / "bot.sqlite3", tmp_path / "backup.sqlite3")
    finally:
        await store.close()
    restored = tmp_path / "restored" / "bot.sqlite3"
    restored.parent.mkdir()
    restored.write_bytes((tmp_path / "backup.sqlite3").read_bytes())
    store = await Store.open(restored)
    try:
        assert await store.subscriptions_for(7) == ["diffusion", "GAN"]
    finally:
        await store.close()


async def test_an_existing_target_is_kept_unless_replacing(tmp_path: Path) -> None:
    """A file already at the target is refused, untouched; with `replace` it is replaced."""
    store = await _running_store(tmp_path / "bot.sqlite3")
    await store.close()
    target = tmp_path / "backup.sqlite3"
    target.write_text("yesterday's backup")
    with pytest.raises(BackupError, match="already exists"):
        backup_database(tmp_path / "bot.sqlite3", target)
    assert target.read_text() == "yesterday's backup"
    summary = backup_database(tmp_path / "bot.sqlite3", target, replace=True)
    assert summary.chats == 1


def test_a_missing_or_foreign_database_leaves_nothing_behind(tmp_path: Path) -> None:
    """No database, or a file that is not the bot's database: refused with the reason, and no
    file (not even a partial one) is left at the target."""
    target = tmp_path / "backup.sqlite3"
    with pytest.raises(BackupError, match="there is no database"):
        backup_database(tmp_path / "missing.sqlite3", target)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database at all, but long enough to look like a header " * 20)
    with pytest.raises(BackupError, match="is not the bot's database"):
        backup_database(notes, target)
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).close()
    with pytest.raises(BackupError, match="is not the bot's database"):
        backup_database(other, target)
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "notes.txt",
        "other.sqlite3",
    ]
