"""A copy of the bot's database made with SQLite's online backup API: one consistent snapshot,
safe while the bot runs (it keeps writing beside the copy), unlike a plain copy of a database
in WAL mode, whose last commits may still be in the -wal file beside it."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.storage.files import PRIVATE_FILE

# The bot writes in short transactions; a snapshot waits this long for one to end.
BUSY_TIMEOUT_S = 30.0


class BackupError(Exception):
    """The backup could not be made; the message says why. Nothing is left at the target."""


@dataclass(frozen=True)
class BackupSummary:
    """What the copy holds, for the operator to check at a glance."""

    schema_version: int
    chats: int
    subscriptions: int
    papers: int
    size_bytes: int


def backup_database(source: Path, target: Path, *, replace: bool = False) -> BackupSummary:
    """Copy the database at `source` to `target` (readable by its owner only), checked.

    The copy is written beside the target and renamed into place only once complete and
    checked, so a failed or interrupted backup never leaves a half-written file under the
    target's name. An existing target is refused unless `replace`."""
    if not source.is_file():
        raise BackupError(f"there is no database at {source}")
    if target.exists() and not replace:
        raise BackupError(f"{target} already exists (give --force to replace it)")
    partial = target.with_name(target.name + ".partial")
    try:
        _create_private(partial)
        summary = _copy(source, partial)
        os.replace(partial, target)
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"SQLite: {exc}") from None
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return summary


def _create_private(path: Path) -> None:
    """An empty file only its owner may read: a backup holds every chat's data."""
    path.unlink(missing_ok=True)
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE))


def _copy(source: Path, partial: Path) -> BackupSummary:
    with contextlib.closing(sqlite3.connect(source, timeout=BUSY_TIMEOUT_S)) as live:
        version = _schema_version(live, source)
        with contextlib.closing(sqlite3.connect(partial)) as copy:
            # pages=-1: the whole database in one step, so one read transaction, one snapshot.
            live.backup(copy, pages=-1)
            # The copy stands alone: one file, no -wal beside it.
            copy.execute("PRAGMA journal_mode=DELETE")
            (check,) = copy.execute("PRAGMA quick_check").fetchone()
            if check != "ok":
                raise BackupError(f"the copy failed SQLite's check: {check}")
            chats, subscriptions, papers = (
                int(copy.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                for table in ("chats", "subscriptions", "papers")
            )
    with partial.open("rb+") as handle:
        os.fsync(handle.fileno())
    return BackupSummary(version, chats, subscriptions, papers, partial.stat().st_size)


def _schema_version(live: sqlite3.Connection, source: Path) -> int:
    try:
        (version,) = live.execute("SELECT MAX(version) FROM schema_migrations").fetchone()
    except sqlite3.DatabaseError:
        raise BackupError(f"{source} is not the bot's database") from None
    if version is None:
        raise BackupError(f"{source} is not the bot's database")
    return int(version)
