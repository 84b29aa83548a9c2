"""The database's files are readable by the bot's user only, whatever the umask: created so,
or tightened at start. Real files; the process's umask is a shell's usual 022."""

from __future__ import annotations

import logging
import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest

from bot.storage.files import tighten
from bot.storage.store import Store
from tests.storage.test_store import paper


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("shell_umask")
async def test_a_new_database_its_log_files_and_folder_are_private(tmp_path: Path) -> None:
    """A new database is created 0600 in a new folder made 0700; SQLite's -wal and -shm,
    there after a write, are 0600 too (SQLite gives them the database file's mode)."""
    path = tmp_path / "data" / "bot.sqlite3"
    store = await Store.open(path)
    try:
        await store.add_papers([paper("2508.00001")])
        wal, shm = path.with_name("bot.sqlite3-wal"), path.with_name("bot.sqlite3-shm")
        assert wal.exists()
        assert shm.exists()
        assert {p.name: mode(p) for p in (path, wal, shm)} == {
            "bot.sqlite3": 0o600,
            "bot.sqlite3-wal": 0o600,
            "bot.sqlite3-shm": 0o600,
        }
        assert mode(path.parent) == 0o700
    finally:
        await store.close()


@pytest.mark.usefixtures("shell_umask")
async def test_an_existing_folder_keeps_its_mode(tmp_path: Path) -> None:
    """A folder the operator made (here 0755) is left as it is: only the files are the bot's."""
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    store = await Store.open(folder / "bot.sqlite3")
    await store.close()
    assert mode(folder) == 0o755
    assert mode(folder / "bot.sqlite3") == 0o600


@pytest.mark.usefixtures("shell_umask")
async def test_a_database_readable_by_others_is_tightened_at_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database made with umask 022 (0644), left with its -wal and -shm by a killed bot, is
    tightened to 0600 on opening, files and log alike; logged once at INFO per file, by name."""
    path = tmp_path / "bot.sqlite3"
    writer = sqlite3.connect(path)
    with closing(writer):
        writer.execute("PRAGMA journal_mode=WAL")
        writer.execute("CREATE TABLE t (x)")
        writer.commit()
        files = [path, path.with_name("bot.sqlite3-wal"), path.with_name("bot.sqlite3-shm")]
        assert [mode(p) for p in files] == [0o644] * 3
        with caplog.at_level(logging.INFO, logger="bot.storage.files"):
            store = await Store.open(path)
        try:
            assert [mode(p) for p in files] == [0o600] * 3
        finally:
            await store.close()
    notes = [r.getMessage() for r in caplog.records if r.name == "bot.storage.files"]
    assert notes == [
        f"The database file {name} was readable by others (mode 0644): now 0600"
        for name in ("bot.sqlite3", "bot.sqlite3-wal", "bot.sqlite3-shm")
    ]
    assert all(r.levelno == logging.INFO for r in caplog.records if r.name == "bot.storage.files")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="bot.storage.files"):
        store = await Store.open(path)
        await store.close()
    assert [r for r in caplog.records if r.name == "bot.storage.files"] == []


def test_a_file_that_cannot_be_tightened_is_told_and_left(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A file whose mode cannot be changed (procfs refuses every chmod, even root's) gives one
    warning with the chmod to run; nothing is raised."""
    proc_file = Path("/proc/self/status")
    if not proc_file.exists():
        pytest.skip("needs Linux's /proc")
    assert mode(proc_file) & 0o077
    with caplog.at_level(logging.WARNING, logger="bot.storage.files"):
        tighten(proc_file)
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert "status is readable by others (mode 0444)" in record.getMessage()
    assert "run chmod 400 on it" in record.getMessage()


def test_a_missing_or_private_file_is_left_alone(tmp_path: Path) -> None:
    """Nothing is created, and a file already 0600 is not touched."""
    tighten(tmp_path / "missing")
    assert not (tmp_path / "missing").exists()
    private = tmp_path / "private"
    private.touch(mode=0o600)
    tighten(private)
    assert mode(private) == 0o600
