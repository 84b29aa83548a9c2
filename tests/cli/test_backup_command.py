"""`python -m bot backup FILE` as a real process: no token; a checked copy of the database of
DATABASE_URL, one line on stderr saying what it holds; bad targets refused in one line."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from bot.storage.store import Store
from tests.cli.test_cli import cli_env, run_cli
from tests.excerpt import excerpt_papers


async def test_backup_copies_the_database_while_it_is_open(tmp_path: Path) -> None:
    """While the bot's connection is open, the command copies every commit, says what the copy
    holds in one line, and exits 0; run again onto the same file it refuses (status 2)
    unless --force."""
    store = await Store.open(tmp_path / "bot.sqlite3")
    try:
        await store.ensure_chat(7, dt.time(8, 0), "UTC")
        await store.add_papers(excerpt_papers())
        code, out, err = await run_cli(cli_env(tmp_path), "backup", str(tmp_path / "b.sqlite3"))
        assert code == 0, err
        assert out == ""
        assert f"1 chats, 0 subscriptions, {len(excerpt_papers())} papers" in err
        assert len(err.strip().splitlines()) == 1
        code, _, err = await run_cli(cli_env(tmp_path), "backup", str(tmp_path / "b.sqlite3"))
        assert code == 2
        assert "already exists (give --force to replace it)" in err
        code, _, err = await run_cli(
            cli_env(tmp_path), "backup", "--force", str(tmp_path / "b.sqlite3")
        )
        assert code == 0, err
    finally:
        await store.close()
    copy = sqlite3.connect(tmp_path / "b.sqlite3")
    try:
        assert copy.execute("SELECT COUNT(*) FROM chats").fetchone() == (1,)
    finally:
        copy.close()


async def test_backup_refuses_bad_targets_and_a_missing_database(tmp_path: Path) -> None:
    """A folder, a file in a missing folder (status 2) and no database (status 1): one line on
    stderr each, no traceback, nothing written."""
    env = cli_env(tmp_path)
    code, _, err = await run_cli(env, "backup", str(tmp_path))
    assert (code, err.count("\n")) == (2, 1)
    assert "is a folder: give a file name" in err
    code, _, err = await run_cli(env, "backup", str(tmp_path / "nope" / "b.sqlite3"))
    assert (code, err.count("\n")) == (2, 1)
    assert "does not exist (create it first)" in err
    code, _, err = await run_cli(env, "backup", str(tmp_path / "b.sqlite3"))
    assert (code, err.count("\n")) == (1, 1)
    assert "no database at" in err
    assert "Traceback" not in err
    assert _names(tmp_path) == []


def _names(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())
