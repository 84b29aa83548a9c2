"""`python -m bot export` and `python -m bot preview` as real processes: no token, no
Telegram; the export reads a real SQLite file, the preview a feed file or the loopback feed
server standing in for arXiv."""

from __future__ import annotations

import datetime as dt
import socket
import stat
from pathlib import Path

import pytest

from bot.arxiv.feeds import parse_feed
from bot.models import Paper
from bot.storage.store import Store
from tests.conftest import FIXTURES, TRUNCATED_ATOM, mentions
from tests.excerpt import excerpt_papers, excerpt_without_quirks
from tests.fakes import FeedServer
from tests.feedgen import atom_feed
from tests.process import bot_env, run_to_end

ATOM = "application/atom+xml; charset=utf-8"


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """A clean environment without any BOT_TOKEN: these commands must not need one."""
    return bot_env(tmp_path, NO_COLOR="1", **extra)


async def run_cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    """Run `python -m bot <args>`; its exit status, stdout and stderr."""
    return await run_to_end(env, *args)


async def _database_with(tmp_path: Path, papers: list[Paper]) -> None:
    store = await Store.open(tmp_path / "bot.sqlite3")
    try:
        await store.add_papers(papers)
    finally:
        await store.close()


# --- export -----------------------------------------------------------------------------------


async def test_export_prints_the_diffusion_markdown_of_8_to_11_march(tmp_path: Path) -> None:
    """The issue's command, without a token: the excerpt's layout with the English heading;
    a paper that does not match and one outside the period are left out."""
    other = Paper(
        arxiv_id="2403.05001",
        title="Graph neural networks for molecules",
        authors=(),
        abstract="Message passing on molecular graphs.",
        categories=("cs.LG",),
        announced=excerpt_papers()[0].announced,
    )
    later = Paper(
        arxiv_id="2403.07001",
        title="Diffusion, a week later",
        authors=(),
        abstract="Still diffusion.",
        categories=("cs.CV",),
        announced=excerpt_papers()[0].announced.replace(day=12),  # type: ignore[union-attr]
    )
    await _database_with(tmp_path, [*excerpt_papers(), other, later])
    code, out, err = await run_cli(
        cli_env(tmp_path),
        "export",
        "--query",
        "diffusion",
        "--since",
        "2024-03-08",
        "--until",
        "2024-03-11",
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "# 2024-03-08--2024-03-11 diffusion: paper overview"
    assert lines[1:] == excerpt_without_quirks().splitlines()[1:]
    assert "2 papers" in err


async def test_export_writes_a_file_with_chinese_headings(tmp_path: Path) -> None:
    """--output writes the document (nothing on stdout); --lang zh gives Chinese headings."""
    await _database_with(tmp_path, excerpt_papers())
    target = tmp_path / "out.md"
    code, out, err = await run_cli(
        cli_env(tmp_path),
        "export",
        "--query",
        "diffusion",
        "--since",
        "2024-03-08",
        "--until",
        "2024-03-11",
        "--lang",
        "zh",
        "--output",
        str(target),
    )
    assert code == 0, err
    assert out == ""
    text = target.read_text(encoding="utf-8")
    assert text.splitlines()[0] == "# 2024-03-08--2024-03-11 diffusion 论文概览"
    assert text.count("\n## ") == 2


@pytest.mark.usefixtures("shell_umask")
async def test_export_file_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    """Run from a shell with umask 022, --output creates the file 0600 (it tells what someone
    follows); a file that exists already is rewritten and keeps its mode."""
    await _database_with(tmp_path, excerpt_papers())
    target = tmp_path / "out.md"
    args = ("export", "--query", "diffusion", "--since", "2024-03-08", "--until", "2024-03-11")
    code, _, err = await run_cli(cli_env(tmp_path), *args, "--output", str(target))
    assert code == 0, err
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    shared = tmp_path / "shared.md"
    shared.write_text("old")
    shared.chmod(0o644)
    code, _, err = await run_cli(cli_env(tmp_path), *args, "--output", str(shared))
    assert code == 0, err
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    assert shared.read_text(encoding="utf-8") == target.read_text(encoding="utf-8")


async def test_export_refuses_bad_input_and_a_missing_database(tmp_path: Path) -> None:
    """A malformed query or reversed dates: status 2 with the reason; no database: status 1,
    and no empty database is created."""
    env = cli_env(tmp_path)
    code, _, err = await run_cli(env, "export", "--query", '"open', "--since", "2024-03-08")
    assert (code, "Unbalanced quote" in err) == (2, True)
    code, _, err = await run_cli(
        env, "export", "--query", "x", "--since", "2024-03-11", "--until", "2024-03-08"
    )
    assert (code, "is after --until" in err) == (2, True)
    code, _, err = await run_cli(env, "export", "--query", "x", "--since", "2024-03-08")
    assert code == 1
    assert "no database at" in err
    assert not (tmp_path / "bot.sqlite3").exists()
    assert "Traceback" not in err


def one_line(err: str) -> bool:
    """An error told in one line on stderr, with no traceback."""
    return err.endswith("\n") and err.count("\n") == 1 and "Traceback" not in err


async def test_export_into_a_missing_folder_or_onto_a_folder_is_one_line_before_any_work(
    tmp_path: Path,
) -> None:
    """--output in a folder that does not exist, or naming a folder: status 2 and one line,
    before the database is even looked for; nothing is created."""
    env = cli_env(tmp_path)
    missing = tmp_path / "no" / "such" / "out.md"
    code, out, err = await run_cli(
        env, "export", "--query", "x", "--since", "2024-03-08", "--output", str(missing)
    )
    assert (code, out, one_line(err)) == (2, "", True)
    assert f"the folder {missing.parent} does not exist" in err
    code, out, err = await run_cli(
        env, "export", "--query", "x", "--since", "2024-03-08", "--output", str(tmp_path)
    )
    assert (code, out, one_line(err)) == (2, "", True)
    assert "is a folder: give a file name" in err
    assert not (tmp_path / "no").exists()
    assert not (tmp_path / "bot.sqlite3").exists()


# --- preview ----------------------------------------------------------------------------------


def _matching_titles(data: bytes, keyword: str) -> list[str]:
    """Titles of the feed's papers that mention the keyword (the tests' own oracle)."""
    return [p.title for p in parse_feed(data).papers if mentions(keyword, p)]


async def test_preview_prints_the_digest_of_a_feed_file_as_plain_text(tmp_path: Path) -> None:
    """A feed file and a query: the digest header and every matching paper as readable
    text, links spelled out, the abstract quoted, no HTML tags or entities left."""
    data = TRUNCATED_ATOM.read_bytes()
    code, out, err = await run_cli(
        cli_env(tmp_path), "preview", "diffusion", "--feed", str(TRUNCATED_ATOM), "--width", "0"
    )
    assert code == 0, err
    titles = _matching_titles(data, "diffusion")
    assert len(titles) == 4
    assert out.startswith(f"arXiv digest\nWed 20 Aug 2025 · {len(titles)} papers\n")
    for title in titles:
        assert title in out
    assert (
        "1. Counterfactual Probabilistic Diffusion with Expert Models <https://arxiv.org/abs/2508.13355>"
        in out
    )
    assert "  > Predicting counterfactual distributions" in out
    assert "<b>" not in out
    assert "<blockquote" not in out
    assert f"86 papers read from {TRUNCATED_ATOM}; 4 match." in err
    assert not (tmp_path / "bot.sqlite3").exists(), "a preview stores nothing"


async def test_preview_unescapes_entities(tmp_path: Path) -> None:
    """An abstract with <think> and <answer> (escaped in the feed and in the HTML) shows them
    as written."""
    code, out, err = await run_cli(
        cli_env(tmp_path), "preview", "Datarus", "--feed", str(TRUNCATED_ATOM)
    )
    assert code == 0, err
    assert "<think>" in out
    assert "&lt;" not in out


async def test_preview_without_feed_fetches_the_configured_categories(tmp_path: Path) -> None:
    """No --feed: the configured categories' feed is fetched, with the bot's User-Agent."""
    async with FeedServer() as feeds:
        feeds.set_response("/atom/cs.AI", TRUNCATED_ATOM.read_bytes(), content_type=ATOM)
        env = cli_env(tmp_path, ARXIV_RSS_BASE=feeds.url + "/atom/", ARXIV_CATEGORIES="cs.AI")
        code, out, err = await run_cli(env, "preview", "GaitCrafter")
        (request,) = feeds.requests_to("/atom/cs.AI")
    assert code == 0, err
    assert "GaitCrafter: Diffusion Model for Biometric Preserving Gait Synthesis" in out
    assert request.headers["user-agent"].startswith("arxiv-digest-bot/")


async def test_preview_of_a_feed_url_and_what_goes_wrong(tmp_path: Path) -> None:
    """A feed URL is fetched; an HTML page or a 404 is exit status 1 with the reason; a
    missing file or a malformed query is 2; a query nothing matches says so (status 0)."""
    env = cli_env(tmp_path)
    async with FeedServer() as feeds:
        feeds.set_response("/feed.xml", TRUNCATED_ATOM.read_bytes(), content_type=ATOM)
        feeds.set_response("/page", b"<html><body>Hi</body></html>", content_type="text/html")
        feeds.set_response("/gone", b"Not Found", status=404, content_type="text/plain")
        code, out, _ = await run_cli(env, "preview", "diffusion", "--feed", feeds.url + "/feed.xml")
        assert (code, "4 papers" in out) == (0, True)
        code, _, err = await run_cli(env, "preview", "diffusion", "--feed", feeds.url + "/page")
        assert (code, "HTML page" in err) == (1, True)
        code, _, err = await run_cli(env, "preview", "diffusion", "--feed", feeds.url + "/gone")
        assert (code, "404" in err) == (1, True)
    code, _, err = await run_cli(env, "preview", "diffusion", "--feed", str(tmp_path / "no.xml"))
    assert (code, "no such file" in err) == (2, True)
    code, _, err = await run_cli(env, "preview", "(diffusion", "--feed", str(TRUNCATED_ATOM))
    assert (code, "Unbalanced parenthesis" in err) == (2, True)
    empty = FIXTURES / "atom-cs-2025-11-23-sunday-empty.xml"
    code, out, _ = await run_cli(env, "preview", "diffusion", "--feed", str(empty))
    assert (code, out) == (0, "No paper of this feed matches diffusion.\n")
    assert "Traceback" not in err


async def test_preview_refuses_a_width_it_cannot_lay_out(tmp_path: Path) -> None:
    """A negative width, or one narrower than 20 columns, is status 2 in one line (it printed
    hundreds of one-word lines); 0 (no wrapping) and 20 are laid out."""
    env = cli_env(tmp_path)
    feed = str(TRUNCATED_ATOM)
    for width in ("-5", "1", "19"):
        code, out, err = await run_cli(
            env, "preview", "diffusion", "--feed", feed, "--width", width
        )
        assert (code, out, one_line(err)) == (2, "", True), width
        assert "give 0 (no wrapping) or at least 20 columns" in err
    for width in ("0", "20"):
        code, out, err = await run_cli(
            env, "preview", "diffusion", "--feed", feed, "--width", width
        )
        assert (code, "GaitCrafter:" in out) == (0, True), err


async def test_preview_of_a_file_that_is_not_a_feed_is_a_usage_error(tmp_path: Path) -> None:
    """A file that is not a feed (the README) is the caller's mistake: status 2, one line
    worded for a file, not for an HTTP response."""
    code, out, err = await run_cli(cli_env(tmp_path), "preview", "diffusion", "--feed", "README.md")
    assert (code, out, one_line(err)) == (2, "", True)
    assert "README.md is not an RSS or Atom feed" in err
    assert "response" not in err


async def test_preview_without_network_suggests_a_saved_feed(tmp_path: Path) -> None:
    """No --feed and the configured feed unreachable (nothing listens): status 1, the error in
    one line, which says how to preview without network."""
    with socket.socket() as probe:  # a loopback port nothing listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = cli_env(tmp_path, ARXIV_RSS_BASE=f"http://127.0.0.1:{port}/atom/")
    code, out, err = await run_cli(env, "preview", "diffusion")
    *retries, error = err.splitlines()  # a warning at each retry says why it waits
    assert (code, out, "Traceback" in err) == (1, "", False)
    assert all("attempt" in line for line in retries)
    assert error.startswith("arxiv-digest-bot preview: could not fetch the feed: ")
    assert error.endswith("; without network, give a saved feed file with --feed FILE")


async def test_help_lists_the_commands(tmp_path: Path) -> None:
    """`python -m bot --help` names every command and exits 0 (and starts no bot)."""
    code, out, _ = await run_cli(cli_env(tmp_path), "--help")
    assert code == 0
    assert "export" in out
    assert "preview" in out
    assert "backup" in out


async def test_preview_carries_what_a_new_chats_digest_would(tmp_path: Path) -> None:
    """As in a new chat's digest: new papers and cross-lists, not revisions or withdrawals."""
    day = dt.date(2025, 8, 20)
    papers = [
        Paper("2508.00001", "Diffusion new", (), "About diffusion.", ("cs.AI",), "new", 1, day),
        Paper(
            "2508.00002",
            "Diffusion cross",
            (),
            "About diffusion.",
            ("cs.LG", "cs.AI"),
            "cross",
            1,
            day,
        ),
        Paper(
            "2508.00003", "Diffusion revised", (), "About diffusion.", ("cs.AI",), "replace", 2, day
        ),
        Paper(
            "2508.00004",
            "Diffusion withdrawn",
            (),
            "This paper has been withdrawn.",
            ("cs.AI",),
            "new",
            1,
            day,
            withdrawn=True,
        ),
    ]
    feed = tmp_path / "feed.xml"
    updated = dt.datetime(2025, 8, 20, 4, tzinfo=dt.UTC)
    feed.write_bytes(atom_feed(papers, updated=updated))
    code, out, err = await run_cli(cli_env(tmp_path), "preview", "diffusion", "--feed", str(feed))
    assert code == 0, err
    assert "Diffusion new" in out
    assert "Diffusion cross" in out
    assert "revised" not in out
    assert "withdrawn" not in out
