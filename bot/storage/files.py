"""The database's files are readable by the bot's user only, however the bot is run.

The database holds every chat's subscriptions and settings. SQLite creates the -wal and -shm
files with the database file's permissions, whatever the umask: so the database file is
created 0600 before SQLite opens it, and one found with wider permissions (a bot started
from a shell with umask 022 before this was so) is tightened at start, its log files with
it. A data folder the bot creates is 0700.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700
OTHERS = 0o077  # the group's and everyone's permission bits
# The database file and those SQLite keeps beside it.
SUFFIXES = ("", "-wal", "-shm", "-journal")


def make_private_folder(folder: Path) -> None:
    """Create `folder` (and missing parents) if it is missing, itself 0700."""
    folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)


def prepare_database_file(path: Path) -> None:
    """Before SQLite opens `path`: create it empty and 0600 if it is missing (SQLite takes an
    empty file for a new database), else tighten it and its log files to the owner's bits."""
    make_private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        for suffix in SUFFIXES:
            tighten(path.with_name(path.name + suffix))


def tighten(path: Path) -> None:
    """Take the group's and others' permissions off `path` if it has any (logged once, by
    its name only); a missing file is left missing."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if not mode & OTHERS:
        return
    tight = mode & ~OTHERS
    try:
        path.chmod(tight)
    except OSError as exc:  # another user's file: said, and the bot goes on
        log.warning(
            "The database file %s is readable by others (mode %04o) and could not be made "
            "private: %s; run chmod %o on it",
            path.name,
            mode,
            exc.strerror,
            tight,
        )
        return
    log.info(
        "The database file %s was readable by others (mode %04o): now %04o", path.name, mode, tight
    )
