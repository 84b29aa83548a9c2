"""One bot per database: an instance lock taken at start and held until the process ends.

Two bots on one database would both poll arXiv, both send every digest and fight over the
outbox. For SQLite the lock is an advisory `flock` on a file next to the database: the operating
system releases it when the process ends, however it ends (SIGKILL and crashes included), so a
restart is never blocked by a stale lock. A server database (PostgreSQL) would implement the
same small interface with a session-level advisory lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from pathlib import Path
from typing import Protocol


class AlreadyRunning(Exception):
    """Another instance holds the lock; the message says which database and how to find it."""


class InstanceLock(Protocol):
    """Held by at most one process at a time; `acquire` raises AlreadyRunning otherwise."""

    def acquire(self) -> None: ...

    def release(self) -> None: ...


class FileLock:
    """An exclusive, non-blocking flock on `<database>.lock`, holding the owner's pid; the
    file is its owner's only (0600), like the database's, and so is a folder it creates."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise AlreadyRunning(
                f"another instance (pid {owner}) is already running on the database "
                f"{self.database}; stop it first (lock file {self.path})"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            # Made by an earlier version, 0644: private like the rest; another user's stays.
            with contextlib.suppress(PermissionError):
                os.fchmod(fd, 0o600)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        # The file stays: removing it could let a third process lock a new inode while a second
        # one still waits on the old one.
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def instance_lock(database: Path) -> InstanceLock:
    """The lock for the configured database (only SQLite files for now)."""
    return FileLock(database)
