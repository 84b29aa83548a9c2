"""One bot per database: the instance lock is exclusive and never outlives its holder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bot.ops.lock import AlreadyRunning, FileLock, instance_lock


def test_second_lock_on_the_same_database_is_refused_with_a_clear_message(
    tmp_path: Path,
) -> None:
    """While one holder has the lock, another is refused, told the database and holder's pid."""
    database = tmp_path / "data" / "bot.sqlite3"
    with FileLock(database):
        with pytest.raises(AlreadyRunning) as refused:
            instance_lock(database).acquire()
        message = str(refused.value)
        assert f"pid {os.getpid()}" in message
        assert str(database) in message
        assert "already running" in message


def test_lock_is_free_again_after_release(tmp_path: Path) -> None:
    """A released lock can be taken by the next instance, and the lock file stays."""
    database = tmp_path / "bot.sqlite3"
    first = FileLock(database)
    first.acquire()
    first.release()
    second = FileLock(database)
    second.acquire()
    assert first.path.exists()
    assert first.path.read_text().strip() == str(os.getpid())
    second.release()


def test_locks_on_different_databases_do_not_interfere(tmp_path: Path) -> None:
    """Two bots on two databases both run."""
    with FileLock(tmp_path / "a.sqlite3"), FileLock(tmp_path / "b.sqlite3"):
        pass


@pytest.mark.usefixtures("shell_umask")
def test_lock_file_and_a_folder_it_creates_are_private(tmp_path: Path) -> None:
    """With a shell's umask 022, the lock file is created 0600 and a missing data folder 0700."""
    lock = FileLock(tmp_path / "data" / "bot.sqlite3")
    with lock:
        assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
        assert stat.S_IMODE(lock.path.parent.stat().st_mode) == 0o700


@pytest.mark.usefixtures("shell_umask")
def test_a_lock_file_readable_by_others_is_tightened(tmp_path: Path) -> None:
    """A lock file left 0644 by an earlier version is 0600 once the lock is taken."""
    lock = FileLock(tmp_path / "bot.sqlite3")
    lock.path.touch(mode=0o644)
    assert stat.S_IMODE(lock.path.stat().st_mode) == 0o644
    with lock:
        assert stat.S_IMODE(lock.path.stat().st_mode) == 0o600
