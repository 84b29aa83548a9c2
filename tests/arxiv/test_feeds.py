"""Tests for parsing arXiv's Atom/RSS feeds (bot.arxiv.feeds, its ElementTree fast path
bot.arxiv.feed_fast_path, and bot.arxiv.feed_entries) and for bot.arxiv.http (the HTTP client,
and telling a feed from a page)."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.arxiv.calendar import ARXIV_TZ
from bot.arxiv.feed_document import prepare_document
from bot.arxiv.feed_entries import (
    MAX_ABSTRACT,
    MAX_ANNOUNCE_TYPE,
    MAX_AUTHOR_NAME,
    MAX_AUTHORS,
    MAX_AUTHORS_TEXT,
    MAX_CATEGORIES,
    MAX_CATEGORY,
    MAX_TITLE,
    collapse_ws,
    is_withdrawn,
    split_authors,
)
from bot.arxiv.feeds import ParsedFeed, _parse_fast, _parse_with_feedparser, parse_feed
from bot.arxiv.http import FeedError, check_is_feed, make_http_client
from bot.config import Config
from bot.delivery.digest import MAX_MESSAGE_LENGTH, format_paper, telegram_length
from bot.models import Hit, Paper
from bot.pipeline.polls import FeedOutcome, FeedStatus, ingest_feed
from bot.services import Services
from tests.conftest import pipeline
from tests.fakes import FeedServer
from tests.fakes.clock import FakeClock
from tests.feedgen import (
    atom_feed,
    in_title,
    rss_feed,
    sample_papers,
    well_formed_prefix,
    with_entity_bomb,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "arxiv"
TRUNCATED = FIXTURES / "atom-cs.AI-2025-08-20-truncated.xml"
SUNDAY_EMPTY = FIXTURES / "atom-cs-2025-11-23-sunday-empty.xml"
UPDATED = dt.datetime(2025, 8, 20, 4, 0, 19, tzinfo=dt.UTC)
URL = "https://rss.arxiv.org/rss/cs.AI"
UA = "arxiv-digest-bot/0.1.0 (tests)"

FEED_FORMATS: dict[str, Callable[..., bytes]] = {"atom": atom_feed, "rss": rss_feed}


def paper(**changes: object) -> Paper:
    """A plausible paper; keyword arguments override single fields."""
    base = Paper(
        arxiv_id="2508.00001",
        title="A Title",
        authors=("Ada Lovelace", "Alan Turing"),
        abstract="We study things.",
        categories=("cs.AI", "cs.LG"),
        announce_type="new",
        version=1,
        announced=dt.date(2025, 8, 20),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def atom_entry(body: str) -> bytes:
    """A minimal Atom document around one hand-written entry body (for malformed cases)."""
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<feed xmlns:arxiv="http://arxiv.org/schemas/atom"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns="http://www.w3.org/2005/Atom">\n'
        f"<updated>2025-08-20T04:00:19+00:00</updated>\n<entry>{body}</entry>\n</feed>\n"
    ).encode()


@pytest.fixture(scope="module")
def truncated() -> ParsedFeed:
    return parse_feed(TRUNCATED.read_bytes())


# --- the real truncated cs.AI Atom feed ---------------------------------------------------------


def test_truncated_feed_is_bozo_but_keeps_complete_entries(truncated: ParsedFeed) -> None:
    """A cut-off feed is reported as malformed, yet its 86 complete entries are all kept."""
    assert truncated.bozo
    assert truncated.problem is not None
    assert "no element found" in truncated.problem
    assert len(truncated.papers) == 86
    assert truncated.skipped == 1  # the 87th entry stops before its summary
    assert "2508.13435" not in {p.arxiv_id for p in truncated.papers}


def test_truncated_feed_announce_type_counts(truncated: ParsedFeed) -> None:
    """Of the complete entries, 41 are new submissions and 45 cross-lists."""
    assert Counter(p.announce_type for p in truncated.papers) == {"new": 41, "cross": 45}


def test_truncated_feed_date_is_the_feed_updated_time(truncated: ParsedFeed) -> None:
    """`updated` is the feed's own timestamp, as an aware UTC datetime."""
    assert truncated.updated == UPDATED.replace(microsecond=866337)


def test_known_entry_field_by_field(truncated: ParsedFeed) -> None:
    """The first entry of the real feed maps to a Paper with every field as arXiv shows it."""
    first = truncated.papers[0]
    assert first.arxiv_id == "2508.13167"
    assert first.version == 1
    assert first.title == (
        "Chain-of-Agents: End-to-End Agent Foundation Models via Multi-Agent Distillation "
        "and Agentic RL"
    )
    assert len(first.authors) == 30
    assert first.authors[0] == "Weizhen Li"
    assert first.authors[-1] == "Wangchunshu Zhou"
    assert first.abstract.startswith("Recent advances in large language models")
    assert "Announce Type" not in first.abstract
    assert first.abstract.endswith("agent models and agentic RL.")
    assert first.categories == ("cs.AI", "cs.CL")
    assert first.announce_type == "new"
    assert first.announced == dt.date(2025, 8, 20)
    assert first.url == "https://arxiv.org/abs/2508.13167"


def test_tex_in_author_names_and_angle_brackets_in_abstracts_are_kept(
    truncated: ParsedFeed,
) -> None:
    """TeX accents stay as written, and "<think>" in an abstract is text, not stripped HTML."""
    authors = {name for p in truncated.papers for name in p.authors}
    assert {"Nikola Pi\\v{z}urica", 'J\\"org Hoffmann', "Hendrik Kra{\\ss}"} <= authors
    by_id = {p.arxiv_id: p for p in truncated.papers}
    assert "delimited by <think> and <answer> tags" in by_id["2508.13382"].abstract
    assert "p < 0.001 and Cohen's d > 23" in by_id["2508.13171"].abstract


def test_well_formed_prefix_parses_cleanly_to_the_same_papers(truncated: ParsedFeed) -> None:
    """Closing the truncated feed after its last entry gives a valid feed with the same papers."""
    fixed = parse_feed(well_formed_prefix(TRUNCATED.read_bytes()))
    assert not fixed.bozo
    assert fixed.problem is None
    assert fixed.skipped == 0
    assert fixed.papers == truncated.papers


def test_bozo_and_skipped_entries_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    """A malformed feed logs a warning with the problem and the number of entries kept."""
    with caplog.at_level(logging.WARNING, logger="bot.arxiv.feeds"):
        parse_feed(TRUNCATED.read_bytes())
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no element found" in m and "kept 86" in m for m in messages)
    assert any("skipped 1" in m for m in messages)


def test_real_papers_round_trip_through_both_generated_formats(truncated: ParsedFeed) -> None:
    """The 86 real papers, re-serialised as Atom and as RSS 2.0, parse back unchanged."""
    for fmt, build in FEED_FORMATS.items():
        again = parse_feed(build(truncated.papers, categories="cs.AI", updated=UPDATED))
        assert not again.bozo, fmt
        assert again.papers == truncated.papers, fmt


# --- the real empty weekend feed --------------------------------------------------------------


def test_sunday_feed_is_empty_not_broken() -> None:
    """The weekend feed has no entries: zero papers, not malformed, dated 00:00 EST."""
    parsed = parse_feed(SUNDAY_EMPTY.read_bytes())
    assert parsed.papers == ()
    assert not parsed.bozo
    assert parsed.problem is None
    assert parsed.skipped == 0
    assert parsed.updated is not None
    assert parsed.updated.replace(microsecond=0) == dt.datetime(
        2025, 11, 23, 5, 0, 4, tzinfo=dt.UTC
    )


def test_rss_channel_date_is_last_build_date() -> None:
    """For RSS the feed date comes from the channel's lastBuildDate, in UTC."""
    built = dt.datetime(2025, 9, 22, 4, 0, 11, tzinfo=dt.UTC)
    parsed = parse_feed(rss_feed([], categories="cs.AI", updated=built))
    assert parsed == ParsedFeed(papers=(), updated=built, bozo=False, problem=None, skipped=0)


# --- generated feeds: both formats ------------------------------------------------------------


@pytest.mark.parametrize("fmt", FEED_FORMATS)
def test_old_style_ids(fmt: str) -> None:
    """Pre-2007 ids like hep-th/0505137 keep their archive prefix and lose only the version."""
    papers = (
        paper(arxiv_id="hep-th/0505137", version=2, categories=("hep-th",)),
        paper(arxiv_id="cond-mat/0011267", categories=("cond-mat.str-el", "cond-mat")),
        paper(arxiv_id="math.AP/0601001", categories=("math.AP",)),
    )
    parsed = parse_feed(FEED_FORMATS[fmt](papers, categories="hep-th", updated=UPDATED))
    assert parsed.papers == papers
    assert parsed.papers[0].url == "https://arxiv.org/abs/hep-th/0505137"


def test_cross_lists_carry_their_primary_category_first(truncated: ParsedFeed) -> None:
    """In the real cs.AI feed, every cross-list lists another primary first, then cs.AI;
    new submissions list cs.AI first."""
    crosses = [p for p in truncated.papers if p.announce_type == "cross"]
    assert len(crosses) == 45
    assert all(p.categories[0] != "cs.AI" and "cs.AI" in p.categories[1:] for p in crosses)
    assert all(p.is_cross_list for p in crosses)
    by_id = {p.arxiv_id: p for p in truncated.papers}
    assert by_id["2508.00875"].categories == ("cs.CY", "cs.AI")
    news = [p for p in truncated.papers if p.announce_type == "new"]
    assert all(p.categories[0] == "cs.AI" and not p.is_cross_list for p in news)


@pytest.mark.parametrize("fmt", FEED_FORMATS)
def test_cross_list_primary_first_in_both_formats(fmt: str) -> None:
    """A cross-list from math.ST keeps math.ST first in RSS and in Atom."""
    cross = paper(announce_type="cross", categories=("math.ST", "cs.LG", "stat.TH"))
    (parsed,) = parse_feed(FEED_FORMATS[fmt]([cross], categories="cs.LG", updated=UPDATED)).papers
    assert parsed.categories == ("math.ST", "cs.LG", "stat.TH")


@pytest.mark.parametrize(
    "abstract",
    [
        "This paper has been withdrawn by the author due to a crucial sign error in equation 3.",
        "This paper has been withdrawn by arXiv administrators because of plagiarism.",
        "This submission has been withdrawn.",
        "The manuscript was withdrawn because of an error in the data.",
        "Withdrawn.",
        "withdrawn",
        "Withdrawn by the authors (duplicate of 2508.00001).",
        "Paper withdrawn due to an error in Lemma 2.",
        "The authors have withdrawn this paper.",
    ],
)
def test_withdrawal_notices_are_recognised(abstract: str) -> None:
    """arXiv's withdrawal notice, and the old habit of replacing the abstract with it, count."""
    assert is_withdrawn(abstract)


@pytest.mark.parametrize(
    "abstract",
    [
        "We study drugs withdrawn from sale and their effect on patients.",
        "Withdrawal-based estimators for the survival of withdrawn cohorts.",
        "Withdrawing liquidity from markets: a model.",
        "",
    ],
)
def test_mentions_of_withdrawal_are_not_withdrawals(abstract: str) -> None:
    """A paper about withdrawals, or a later mention of the word, is not withdrawn."""
    assert not is_withdrawn(abstract)


def test_withdrawal_from_an_api_comment() -> None:
    """The API's arxiv:comment carries the reason: it counts when the abstract is unchanged."""
    assert is_withdrawn("We prove a theorem.", "This paper has been withdrawn by Jane Doe")
    assert not is_withdrawn("We prove a theorem.", "10 pages, 3 figures")


@pytest.mark.parametrize("fmt", FEED_FORMATS)
def test_withdrawn_replacement_parses_as_withdrawn(fmt: str) -> None:
    """A replacement whose abstract is the withdrawal notice parses with withdrawn=True;
    the old-style id survives too."""
    notice = "This paper has been withdrawn by the author due to an error in Section 4."
    gone = paper(arxiv_id="hep-th/0505137", announce_type="replace", version=3, abstract=notice)
    (parsed,) = parse_feed(FEED_FORMATS[fmt]([gone], updated=UPDATED)).papers
    assert parsed.withdrawn
    assert (parsed.arxiv_id, parsed.version) == ("hep-th/0505137", 3)
    (kept,) = parse_feed(FEED_FORMATS[fmt]([paper()], updated=UPDATED)).papers
    assert not kept.withdrawn


@pytest.mark.parametrize("fmt", FEED_FORMATS)
def test_replace_with_version_3(fmt: str) -> None:
    """A replacement announces the new version: type "replace", version 3, a revision."""
    original = paper(announce_type="replace", version=3)
    (parsed,) = parse_feed(FEED_FORMATS[fmt]([original], updated=UPDATED)).papers
    assert parsed == original
    assert parsed.is_revision


@pytest.mark.parametrize("fmt", FEED_FORMATS)
def test_titles_and_abstracts_have_whitespace_collapsed(fmt: str) -> None:
    """Line breaks, tabs and runs of spaces in titles/abstracts become single spaces."""
    messy = paper(
        title="  Deep\n  Learning\t\tfor\r\n Everything  ",
        abstract="\n  We   show\nthat\t it works. \n",
    )
    (parsed,) = parse_feed(FEED_FORMATS[fmt]([messy], updated=UPDATED)).papers
    assert parsed.title == "Deep Learning for Everything"
    assert parsed.abstract == "We show that it works."


@pytest.mark.parametrize("fmt", FEED_FORMATS)
def test_duplicate_ids_first_wins(fmt: str) -> None:
    """An id listed twice in one feed yields one paper: the first occurrence."""
    first = paper(title="First")
    second = paper(title="Second", announce_type="cross")
    other = paper(arxiv_id="2508.00002")
    parsed = parse_feed(FEED_FORMATS[fmt]([first, other, second], updated=UPDATED))
    assert parsed.papers == (first, other)
    assert parsed.skipped == 0


def test_rss_pub_date_uses_rfc822_with_eastern_offset() -> None:
    """Generated RSS dates look like arXiv's: EDT in summer, EST in winter."""
    summer = rss_feed([paper()], updated=UPDATED).decode()
    winter = rss_feed([paper(announced=dt.date(2025, 1, 6))], updated=UPDATED).decode()
    assert "<pubDate>Wed, 20 Aug 2025 00:00:00 -0400</pubDate>" in summer
    assert "<pubDate>Mon, 06 Jan 2025 00:00:00 -0500</pubDate>" in winter
    assert '<guid isPermaLink="false">oai:arXiv.org:2508.00001v1</guid>' in summer
    assert "Announce Type: new \nAbstract: We study things.</description>" in summer
    (parsed,) = parse_feed(winter.encode()).papers
    assert parsed.announced == dt.date(2025, 1, 6)


# --- hand-written entries: edge cases ---------------------------------------------------------

_ENTRY = (
    "<id>oai:arXiv.org:2508.00009v2</id><title>T</title>"
    '<link href="https://arxiv.org/abs/2508.00009" rel="alternate" type="text/html"/>'
    "<summary>{summary}</summary><category term='cs.AI'/>"
    "<published>{published}</published>{extra}<dc:creator>A B</dc:creator>"
)


def one_entry(
    summary: str = "arXiv:2508.00009v2 Announce Type: new \nAbstract: Text.",
    published: str = "2025-08-20T00:00:00-04:00",
    extra: str = "<arxiv:announce_type>new</arxiv:announce_type>",
) -> ParsedFeed:
    return parse_feed(atom_entry(_ENTRY.format(summary=summary, published=published, extra=extra)))


def test_announced_date_is_taken_in_the_timestamps_own_offset() -> None:
    """Late evening Eastern time is still that day, although in UTC it is the next one."""
    (parsed,) = one_entry(published="2025-08-20T23:30:00-04:00").papers
    assert parsed.announced == dt.date(2025, 8, 20)


def test_missing_or_garbled_date_gives_none() -> None:
    """An unreadable published date leaves `announced` empty instead of failing the entry."""
    (parsed,) = one_entry(published="sometime soon").papers
    assert parsed.announced is None


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ("arXiv:2508.00009v2 Announce Type: new \nAbstract: Text.", "Text."),
        ("arXiv:2508.00009v2   Announce  Type:new\n\nAbstract:\n  Text.", "Text."),
        ("\n arXiv:2508.00009v2 Announce Type: replace-cross\r\nAbstract: Text.", "Text."),
        ("Text without any prefix.", "Text without any prefix."),
        (
            "Abstract: kept, since this is no arXiv prefix.",
            "Abstract: kept, since this is no arXiv prefix.",
        ),
    ],
)
def test_abstract_prefix_removed_robustly(summary: str, expected: str) -> None:
    """Exactly the "arXiv:… Announce Type: … Abstract:" prefix is removed, whatever its spacing."""
    (parsed,) = one_entry(summary=summary).papers
    assert parsed.abstract == expected


def test_announce_type_falls_back_to_prefix_then_new() -> None:
    """Without arxiv:announce_type the prefix's type is used, and "new" without either."""
    (from_prefix,) = one_entry(
        summary="arXiv:2508.00009v2 Announce Type: replace-cross \nAbstract: Text.", extra=""
    ).papers
    (default,) = one_entry(summary="Text.", extra="").papers
    assert from_prefix.announce_type == "replace-cross"
    assert default.announce_type == "new"


def test_identity_falls_back_to_the_link() -> None:
    """If the id is not an OAI identifier, the arXiv id comes from the abs link."""
    body = _ENTRY.format(summary="Text.", published="", extra="").replace(
        "oai:arXiv.org:2508.00009v2", "urn:something-else"
    )
    (parsed,) = parse_feed(atom_entry(body)).papers
    assert parsed.arxiv_id == "2508.00009"
    assert parsed.version == 1


@pytest.mark.parametrize(
    "body",
    [
        "<id>oai:arXiv.org:2508.00009v1</id><title>No abstract</title>",
        "<id>oai:arXiv.org:2508.00009v1</id><title>T</title><summary>  \n </summary>",
        "<id>oai:arXiv.org:2508.00009v1</id><title>T</title>"
        "<summary>arXiv:2508.00009v1 Announce Type: new \nAbstract: </summary>",
        "<id>no-id-here</id><title>T</title><summary>Text.</summary>",
    ],
)
def test_incomplete_entries_are_skipped_and_counted(body: str) -> None:
    """Entries without an arXiv id or without abstract text are skipped, not half-filled."""
    parsed = parse_feed(atom_entry(body))
    assert parsed.papers == ()
    assert parsed.skipped == 1


@pytest.mark.parametrize(
    ("creators", "expected"),
    [
        ("A One, B Two, C Three", ("A One", "B Two", "C Three")),
        ("A One, B Two and C Three", ("A One", "B Two", "C Three")),
        ("A One, B Two, and C Three", ("A One", "B Two", "C Three")),
        ("A One and B Two", ("A One", "B Two")),
        (" A  One ,, \n B Two, ", ("A One", "B Two")),
        ("Ferdinand Andersen, Sandy Anderson", ("Ferdinand Andersen", "Sandy Anderson")),
        ("A One (MIT, USA), B Two (ETH)", ("A One (MIT, USA)", "B Two (ETH)")),
        (
            "A One (Dept. of Physics, Univ. X and Univ. Y), B Two (Lab (Z, W) and Q) and C Three",
            (
                "A One (Dept. of Physics, Univ. X and Univ. Y)",
                "B Two (Lab (Z, W) and Q)",
                "C Three",
            ),
        ),
        ("Mikol\\'a\\v{s} Janota", ("Mikol\\'a\\v{s} Janota",)),
        ("", ()),
    ],
)
def test_split_authors(creators: str, expected: tuple[str, ...]) -> None:
    """dc:creator lists split on commas and a final "and", trimmed, without empty names."""
    assert split_authors(creators) == expected


def test_non_feed_input_gives_no_papers() -> None:
    """Bytes that are not a feed (HTML, plain text, nothing) parse to no papers and no date."""
    for data in (b"Rate exceeded.", b"<html><body>Oops</body></html>", b""):
        parsed = parse_feed(data)
        assert parsed.papers == ()
        assert parsed.updated is None


def test_body_is_never_opened_as_a_path(tmp_path: Path) -> None:
    """A body that happens to be a file name is parsed as text, not read from disk."""
    feed_file = tmp_path / "feed.xml"
    feed_file.write_bytes(atom_feed([paper()], updated=UPDATED))
    assert parse_feed(str(feed_file).encode()).papers == ()


# --- property: both formats carry the same data -------------------------------------------------


def looks_double_encoded(text: str) -> bool:
    """True if feedparser would "repair" this text as UTF-8 mis-read as Latin-1.

    feedparser re-decodes any element text that is entirely Latin-1 and forms valid UTF-8 when
    encoded (so "Â£" becomes "£"). That is a feedparser quirk, identical for RSS and Atom, that
    real arXiv text does not trigger; generated text that would trigger it is left out.
    """
    try:
        return text.encode("latin-1").decode("utf-8") != text
    except UnicodeError:
        return False


_text_chars = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Cn"))
# Free text mixing arbitrary characters with the markup-like pieces real abstracts contain.
_snippets = st.sampled_from(["<", ">", "&", "&amp;", "&lt;b&gt;", "<think>", "$\\alpha$", "\\'e"])
_texts = (
    st.lists(st.one_of(st.text(_text_chars, max_size=12), _snippets, st.just("\n  ")), max_size=10)
    .map("".join)
    .filter(lambda s: not looks_double_encoded(s))
)
_prose = _texts.filter(lambda s: bool(s.strip()))
_names = (
    st.text(
        st.characters(
            codec="utf-8", exclude_categories=("Cc", "Cs", "Cn"), exclude_characters=",()"
        ),
        min_size=1,
        max_size=30,
    )
    .map(collapse_ws)
    .filter(lambda s: bool(s) and not re.search(r"(^|\s)and(\s|$)", s))
    .filter(lambda s: not looks_double_encoded(s))
)
_new_ids = st.from_regex(r"\A[0-9]{4}\.[0-9]{4,5}\Z")
_old_ids = st.builds(
    "{}/{:07d}".format,
    st.sampled_from(["hep-th", "math", "cond-mat", "astro-ph", "math.AP", "q-bio"]),
    st.integers(0, 9_999_999),
)
_papers = st.builds(
    Paper,
    arxiv_id=st.one_of(_new_ids, _old_ids),
    title=_texts,
    authors=st.lists(_names, max_size=5).map(tuple),
    abstract=_prose,
    categories=st.lists(
        st.sampled_from(["cs.AI", "cs.CL", "math.AP", "hep-th", "astro-ph.CO", "q-bio.NC"]),
        min_size=1,
        max_size=4,
        unique=True,
    ).map(tuple),
    announce_type=st.sampled_from(["new", "cross", "replace", "replace-cross"]),
    version=st.integers(1, 40),
    announced=st.dates(dt.date(1991, 8, 14), dt.date(2040, 12, 31)),
)


def normalised(p: Paper) -> Paper:
    """What parsing should give back for a paper: whitespace collapsed in the free text."""
    abstract = collapse_ws(p.abstract)
    return replace(
        p, title=collapse_ws(p.title), abstract=abstract, withdrawn=is_withdrawn(abstract)
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(papers=st.lists(_papers, max_size=4, unique_by=lambda p: p.arxiv_id))
def test_property_rss_and_atom_round_trip(papers: list[Paper]) -> None:
    """Any papers serialised as RSS and as Atom parse back to the same, normalised Papers."""
    expected = tuple(normalised(p) for p in papers)
    from_atom = parse_feed(atom_feed(papers, categories="cs.AI+hep-th", updated=UPDATED))
    from_rss = parse_feed(rss_feed(papers, categories="cs.AI+hep-th", updated=UPDATED))
    assert not from_atom.bozo
    assert not from_rss.bozo
    assert from_atom.papers == expected
    assert from_rss.papers == expected


# --- the ElementTree fast path against the feedparser path ---------------------------------------

API_FIXTURES = sorted(FIXTURES.glob("api-*.xml"))
_RSS_HEAD = (
    "<?xml version='1.0' encoding='UTF-8'?>\n"
    '<rss xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/"'
    ' version="2.0"><channel><lastBuildDate>Wed, 20 Aug 2025 04:00:19 +0000</lastBuildDate>'
)
_RSS_ITEM = (
    "<title>{title}</title><link>https://arxiv.org/abs/2508.00009</link>"
    "<description>arXiv:2508.00009v2 Announce Type: cross \nAbstract: {abstract}</description>"
    '<guid isPermaLink="false">oai:arXiv.org:2508.00009v2</guid><category>cs.AI</category>'
    "<pubDate>Wed, 20 Aug 2025 00:00:00 -0400</pubDate>"
    "<arxiv:announce_type>cross</arxiv:announce_type><dc:creator>A One and B Two</dc:creator>"
)


def rss_item(
    body: str = _RSS_ITEM.format(title="T", abstract="Text."), head: str = _RSS_HEAD
) -> bytes:
    """A minimal RSS document around one hand-written item body."""
    return f"{head}<item>{body}</item></channel></rss>\n".encode()


def assert_fast_path_agrees(data: bytes) -> ParsedFeed:
    """The fast path takes the document and reads it exactly as the feedparser path does."""
    fast = _parse_fast(data)
    assert fast is not None, "the fast path declined the document"
    assert fast == _parse_with_feedparser(data)
    return fast


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(well_formed_prefix(TRUNCATED.read_bytes()), id="cs.AI-cut-at-last-entry"),
        pytest.param(SUNDAY_EMPTY.read_bytes(), id="sunday-empty"),
    ],
)
def test_fast_path_matches_feedparser_on_real_feeds(data: bytes) -> None:
    """arXiv's own Atom feeds take the fast path and give feedparser's result, field for field."""
    parsed = assert_fast_path_agrees(data)
    assert parsed == parse_feed(data)


def test_fast_path_reads_all_86_real_papers(truncated: ParsedFeed) -> None:
    """The fast path's reading of the real feed (closed after its last entry) is complete."""
    fast = _parse_fast(well_formed_prefix(TRUNCATED.read_bytes()))
    assert fast is not None
    assert fast.papers == truncated.papers
    assert fast.updated == truncated.updated


def test_truncated_feed_goes_to_feedparser_and_stays_bozo() -> None:
    """Malformed XML is declined by the fast path; feedparser keeps what parsed and says bozo."""
    data = TRUNCATED.read_bytes()
    assert _parse_fast(data) is None
    parsed = parse_feed(data)
    assert parsed == _parse_with_feedparser(data)
    assert parsed.bozo
    assert len(parsed.papers) == 86


@pytest.mark.parametrize("path", API_FIXTURES, ids=lambda path: path.name)
def test_other_arxiv_documents_parse_as_feedparser_reads_them(path: Path) -> None:
    """API responses (Atom with author elements, arxiv:comment, ...) parse as feedparser reads
    them; only the one without entries is plain enough for the fast path."""
    data = path.read_bytes()
    assert (_parse_fast(data) is None) == (b"<entry>" in data)
    assert parse_feed(data) == _parse_with_feedparser(data)


_DTD_ITEM = _RSS_ITEM.format(title="&t;", abstract="&t; text")
_RSS_BODY_HEAD = _RSS_HEAD.partition("\n")[2]


@pytest.mark.parametrize(
    ("data", "kept"),
    [
        pytest.param(
            rss_item(
                _DTD_ITEM,
                head='<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY t "Entity title">]>\n'
                + _RSS_BODY_HEAD,
            ),
            0,
            id="internal-entity",
        ),
        pytest.param(
            rss_item(
                _DTD_ITEM,
                head='<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "ha">'
                + "".join(f'<!ENTITY {chr(98 + i)} "{f"&{chr(97 + i)};" * 10}">' for i in range(9))
                + '<!ENTITY t "&j;">]>\n'
                + _RSS_BODY_HEAD,
            ),
            0,
            id="billion-laughs",
        ),
        pytest.param(
            rss_item(
                _DTD_ITEM,
                head='<?xml version="1.0"?>\n<!-- <x --><!DOCTYPE rss [<!-- ]> -->'
                '<!ENTITY t "]>Entity title">\n<?pi ]> ?>]><!-- c -->\n' + _RSS_BODY_HEAD,
            ),
            0,
            id="brackets-in-quotes-comments-and-pis",
        ),
        pytest.param(
            rss_item(
                _DTD_ITEM,
                head='<?xml version="1.0"?>\n<!DOCTYPE rss SYSTEM "http://127.0.0.1:9/x.dtd">\n'
                + _RSS_BODY_HEAD,
            ),
            0,
            id="external-dtd",
        ),
        pytest.param(
            rss_item(head='<?xml version="1.0"?>\n<!DOCTYPE rss>\n' + _RSS_BODY_HEAD),
            1,
            id="doctype-only",
        ),
    ],
)
def test_dtd_documents_are_refused_unread(data: bytes, kept: int) -> None:
    """A DOCTYPE is cut out before any parser reads it: no entity is declared or expanded, an
    entry that uses one is skipped and counted as malformed, the rest of the feed is kept."""
    assert _parse_fast(data) is None  # the fast path never reads a DTD itself
    parsed = parse_feed(data)
    assert parsed.dtd_refused
    assert not parsed.bozo
    assert len(parsed.papers) == kept
    assert (parsed.skipped, parsed.malformed) == (1 - kept, 1 - kept)
    assert not any("ha" in p.title or "Entity" in p.title for p in parsed.papers)


def test_a_doctype_that_never_ends_refuses_the_whole_document() -> None:
    """A DOCTYPE whose internal subset is never closed cannot be cut out: nothing is read, and
    the feed is reported as broken, never as "no new papers"."""
    data = rss_item(head='<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY t "x">\n' + _RSS_HEAD)
    parsed = parse_feed(data)
    assert parsed.papers == ()
    assert (parsed.bozo, parsed.dtd_refused) == (True, True)
    assert parsed.problem is not None
    assert "DOCTYPE" in parsed.problem


def test_dtd_text_in_a_document_expat_cannot_check_refuses_it() -> None:
    """A document that is not well-formed before its DOCTYPE (so expat cannot tell a
    declaration from text) is refused rather than handed to feedparser, whose lenient reading
    declared and expanded the entity."""
    head = 'junk\n<!DOCTYPE rss [\n<!ENTITY t "Entity title">\n]>\n' + _RSS_BODY_HEAD
    parsed = parse_feed(rss_item(_DTD_ITEM, head=head))
    assert parsed.papers == ()
    assert (parsed.bozo, parsed.dtd_refused) == (True, True)


def test_entity_declaration_as_text_is_no_dtd() -> None:
    """ "<!ENTITY" inside CDATA is text, not a declaration: read as feedparser reads it."""
    data = rss_item(_RSS_ITEM.format(title="<![CDATA[<!ENTITY x 'y'>]]>", abstract="Text."))
    assert _parse_fast(data) is None
    parsed = parse_feed(data)
    assert parsed == _parse_with_feedparser(data)
    assert not parsed.dtd_refused
    assert [p.title for p in parsed.papers] == ["<!ENTITY x 'y'>"]


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(rss_item(), id="plain-item"),
        pytest.param(
            rss_item(head=_RSS_HEAD.replace("<?xml version='1.0' encoding='UTF-8'?>\n", "")),
            id="no-xml-declaration",
        ),
        pytest.param(
            rss_item(
                _RSS_ITEM.format(
                    title="A &amp;amp; B &lt;i&gt;x&lt;/i&gt; <![CDATA[<b>]]> a<!-- c -->b",
                    abstract="&amp;lt;think&amp;gt; &#38;#60; Pi\u017eurica caf\u00e9",
                )
            ),
            id="entities-cdata-comments-non-ascii",
        ),
        pytest.param(
            atom_entry(
                "<id>urn:not-arxiv</id><title type='html'>T</title>"
                '<link href="https://arxiv.org/abs/2508.00001" rel="related"/>'
                '<link href="https://arxiv.org/pdf/2508.00002" rel="alternate"'
                ' type="application/pdf"/>'
                "<summary type='text'>Text.</summary>"
            ),
            id="atom-no-alternate-html-link",
        ),
        pytest.param(
            atom_entry(
                '<id>urn:not-arxiv</id><link href="https://arxiv.org/abs/2508.00001"/>'
                '<link href="https://arxiv.org/abs/2508.00002v3" rel="alternate"/>'
                "<summary>Text.</summary><category term=' cs.AI' scheme='s'>cs.LG</category>"
                "<category scheme='x'/><category term='cs.AI'/>"
            ),
            id="atom-last-alternate-link-and-mixed-categories",
        ),
        pytest.param(
            rss_item(
                "<guid>https://arxiv.org/abs/2508.00003v2</guid><description>Text.</description>"
                "<category domain='d'/><category>cs.CL</category><category> cs.AI </category>"
            ),
            id="rss-permalink-guid-and-categories",
        ),
        pytest.param(
            rss_item(
                _RSS_ITEM + "<arxiv:DOI>10.1000/x</arxiv:DOI>"
                "<arxiv:journal_reference>J. 1 (2025)</arxiv:journal_reference>"
            ),
            id="arxiv-doi-and-journal-reference",
        ),
    ],
)
def test_fast_path_reads_edge_documents_as_feedparser_does(data: bytes) -> None:
    """Entities, CDATA, comments, other links and category forms: the same reading as feedparser."""
    assert_fast_path_agrees(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(
            rss_item(_RSS_ITEM.format(title="\u00c3\u00a9tude", abstract="x")), id="mojibake"
        ),
        pytest.param(rss_item(_RSS_ITEM.format(title="a\u0085b", abstract="x")), id="c1-control"),
        pytest.param(rss_item(_RSS_ITEM.format(title="a<b>bold</b>", abstract="x")), id="markup"),
        pytest.param(rss_item(_RSS_ITEM + "<title>Second</title>"), id="repeated-title"),
        pytest.param(rss_item(_RSS_ITEM + "<dc:date>2025-01-01</dc:date>"), id="other-element"),
        pytest.param(
            rss_item(
                _RSS_ITEM.replace(
                    '<guid isPermaLink="false">oai:arXiv.org:2508.00009v2',
                    "<guid>https:///arxiv.org/abs/2508.00009v4",
                )
            ),
            id="uri-feedparser-rewrites",
        ),
        pytest.param(
            rss_item(
                head=_RSS_HEAD.replace("<channel>", '<channel xml:base="https://arxiv.org/abs/">')
            ),
            id="xml-base",
        ),
        pytest.param(
            rss_item(head=_RSS_HEAD.replace("UTF-8", "ISO-8859-1")),
            id="latin-1-document",
        ),
        pytest.param(
            atom_entry(
                "<id>oai:arXiv.org:2508.00009v1</id><summary type='xhtml'>Text.</summary>"
                "<author><name>A One</name></author>"
            ),
            id="atom-xhtml-and-author",
        ),
        pytest.param(
            atom_entry(
                "<id>oai:arXiv.org:2508.00009v1</id><summary>Text.</summary>"
                '<announce_type xmlns="http://arxiv.org/schemas/atom">cross</announce_type>'
            ).replace(b'xmlns:arxiv="http://arxiv.org/schemas/atom"', b""),
            id="arxiv-namespace-without-prefix",
        ),
        pytest.param(
            rss_item(_RSS_ITEM + "<arxiv:Announce_Type>new</arxiv:Announce_Type>"),
            id="arxiv-element-feedparser-lowercases",
        ),
        pytest.param(b"<html><body>Oops</body></html>", id="html"),
    ],
)
def test_fast_path_declines_what_feedparser_reads_differently(data: bytes) -> None:
    """Where feedparser would rewrite or re-map something, the document is left to feedparser."""
    assert _parse_fast(data) is None
    assert parse_feed(data) == _parse_with_feedparser(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(papers=st.lists(_papers, max_size=5), fmt=st.sampled_from(sorted(FEED_FORMATS)))
def test_property_fast_path_matches_feedparser(papers: list[Paper], fmt: str) -> None:
    """Generated RSS and Atom feeds (repeated ids included) take the fast path, same result."""
    assert_fast_path_agrees(FEED_FORMATS[fmt](papers, categories="cs.AI+hep-th", updated=UPDATED))


# Text feedparser rewrites (mojibake, C1 controls) or that breaks XML: any path, same result.
_wild_texts = st.lists(
    st.one_of(
        st.text(st.characters(min_codepoint=0, max_codepoint=0x17F), max_size=8),
        st.sampled_from(["\u00c3\u00a9", "\u00c2\u00a3", "\x85", "https:///x", "]]>"]),
    ),
    max_size=4,
).map("".join)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=_wild_texts,
    abstract=_wild_texts,
    creators=_wild_texts,
    fmt=st.sampled_from(sorted(FEED_FORMATS)),
)
def test_property_parse_feed_equals_feedparser_on_any_text(
    title: str, abstract: str, creators: str, fmt: str
) -> None:
    """Whichever path a document takes, parse_feed gives exactly the feedparser path's result
    on the prepared document, which is the very bytes sent unless they held characters XML
    forbids (C0 controls), and then differs only in those, each now U+FFFD."""
    data = FEED_FORMATS[fmt](
        [Paper("2508.00001", title, tuple(creators.split(",")), abstract, ("cs.AI",))],
        updated=UPDATED,
    )
    document = prepare_document(data)
    forbidden = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
    assert document.data == forbidden.sub("\ufffd".encode(), data)
    assert (document.data == data) == (document.repairs == ())
    expected = replace(_parse_with_feedparser(document.data), repairs=document.repairs)
    assert parse_feed(data) == expected


# --- hostile feeds: entity bombs, bad characters, bad bytes -------------------------------------

GOOD = tuple(sample_papers(20))
BAD = sample_papers(1, first=21)[0]


def hostile_base(fmt: str) -> bytes:
    """A feed of the 20 good papers and, in the middle, the one a hostile variant spoils."""
    return FEED_FORMATS[fmt]([*GOOD[:10], BAD, *GOOD[10:]], updated=UPDATED)


@pytest.mark.parametrize("fmt", FEED_FORMATS)
def test_entity_bomb_is_refused_and_the_20_good_papers_kept(fmt: str) -> None:
    """Nested entities declared in a DOCTYPE hidden between comments (which expanded to a 1 MB
    title) are cut out unread: nothing expands, the entry that used them is skipped and counted,
    the 20 good papers parse exactly."""
    parsed = parse_feed(with_entity_bomb(hostile_base(fmt), BAD.arxiv_id))
    assert parsed.papers == GOOD
    assert (parsed.skipped, parsed.malformed, parsed.dtd_refused) == (1, 1, True)
    assert not parsed.bozo


# One entry that is not well-formed XML, in the title of BAD.
_BROKEN_MARKUP = {
    "surrogate-reference": b"&#xD800;",
    "reference-past-unicode": b"&#x110000;",
    "control-reference": b"&#1;",
    "undeclared-entity": b"&nbsp;",
    "bare-ampersand": b"R & D",
    "unclosed-tag": b"<b>bold",
}


@pytest.mark.parametrize("payload", _BROKEN_MARKUP.values(), ids=_BROKEN_MARKUP)
@pytest.mark.parametrize("fmt", FEED_FORMATS)
def test_one_malformed_entry_is_skipped_and_counted_the_others_kept(
    fmt: str, payload: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """One entry that is not well-formed XML ("&#xD800;" made the whole feed fail) is skipped,
    counted and logged with its id; the 20 good papers parse exactly and the feed is read as
    sound (it is what the server serves: fetching it again gives the same)."""
    with caplog.at_level(logging.WARNING, logger="bot.arxiv"):
        parsed = parse_feed(in_title(hostile_base(fmt), BAD.arxiv_id, payload))
    assert parsed.papers == GOOD
    assert (parsed.skipped, parsed.malformed) == (1, 1)
    assert not parsed.bozo
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(BAD.arxiv_id in m and "malformed" in m for m in warnings)


_MARKUP_PIECES = st.sampled_from(
    (
        *(b"<", b">", b"&", b"&#xD800;", b"&#0;", b"&nbsp;", b"<!--", b"-->", b"<![CDATA[", b"]]>"),
        *(b"</title>", b"<entry>", b"</entry>", b"<item>", b"</item>", b"</feed>", b"<b>"),
        *(
            b"<!DOCTYPE x>",
            b"<!ENTITY a 'b'>",
            b"\x00",
            b"\xc3",
            b"\xff",
            b"<?pi?>",
            b"xmlns:d='x'",
        ),
    )
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.lists(st.one_of(_MARKUP_PIECES, st.binary(max_size=4)), max_size=6).map(b"".join),
    fmt=st.sampled_from(sorted(FEED_FORMATS)),
)
def test_property_whatever_one_entry_holds_the_others_are_read(payload: bytes, fmt: str) -> None:
    """Whatever bytes one entry's title holds (markup, bad references, bad bytes, tags that
    close or open entries), the 20 other papers of the feed parse exactly."""
    parsed = parse_feed(in_title(hostile_base(fmt), BAD.arxiv_id, payload))
    read = {paper.arxiv_id: paper for paper in parsed.papers}
    assert [read.get(paper.arxiv_id) for paper in GOOD] == list(GOOD)


@pytest.mark.parametrize("fmt", FEED_FORMATS)
def test_feedparser_path_skips_an_entry_it_cannot_read(fmt: str) -> None:
    """The feedparser path, given a document with an entry its loose parser cannot read (a
    surrogate reference raised UnicodeEncodeError out of feedparser), keeps the other entries
    and counts that one."""
    data = in_title(hostile_base(fmt), BAD.arxiv_id, b"&#xD800;")
    parsed = _parse_with_feedparser(data)
    assert parsed.papers == GOOD
    assert (parsed.skipped, parsed.malformed) == (1, 1)


@pytest.mark.parametrize("fmt", FEED_FORMATS)
def test_a_bad_reference_in_the_feeds_own_title_spoils_no_entry(fmt: str) -> None:
    """ "&#xD800;" in the feed's own title (outside every entry) costs the feed its date and
    makes it malformed (fetched again), but every one of its 21 entries is read."""
    spoiled = hostile_base(fmt).replace(
        b"updates on arXiv.org</title>", b"updates on arXiv.org&#xD800;</title>"
    )
    parsed = parse_feed(spoiled)
    assert parsed.papers == (*GOOD[:10], BAD, *GOOD[10:])
    assert (parsed.bozo, parsed.skipped) == (True, 0)


def test_many_malformed_entries_are_logged_in_few_lines(caplog: pytest.LogCaptureFixture) -> None:
    """2,000 malformed entries are all counted, but logged as the first ten and a count."""
    feed = atom_feed(sample_papers(2_000), updated=UPDATED)
    first_entry = feed.index(b"<entry>")
    spoiled = feed[:first_entry] + feed[first_entry:].replace(b"<title>", b"<title>&#xD800;")
    with caplog.at_level(logging.WARNING, logger="bot.arxiv"):
        parsed = parse_feed(spoiled)
    assert (parsed.papers, parsed.malformed, parsed.skipped) == ((), 2_000, 2_000)
    lines = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
    assert len(lines) <= 12
    assert any("1990 more" in line for line in lines)


@pytest.mark.parametrize("fmt", FEED_FORMATS)
def test_malformed_entry_in_a_truncated_feed(fmt: str) -> None:
    """A feed cut off inside its last entry goes to feedparser; an entry there that
    feedparser cannot read is skipped and counted, the cut one too, the others are kept and
    the feed stays malformed (fetched again)."""
    extra = sample_papers(1, first=22)[0]
    whole = FEED_FORMATS[fmt]([*GOOD[:10], BAD, *GOOD[10:], extra], updated=UPDATED)
    spoiled = in_title(whole, BAD.arxiv_id, b"&#xD800;")
    cut = spoiled[: spoiled.index(f"{extra.arxiv_id}v1".encode()) + 40]
    parsed = parse_feed(cut)
    assert parsed.papers == GOOD
    assert parsed.bozo
    assert (parsed.skipped, parsed.malformed) == (2, 1)


@pytest.mark.parametrize("fmt", FEED_FORMATS)
def test_one_invalid_utf8_byte_garbles_nothing_else(fmt: str) -> None:
    """One byte that is not UTF-8 (a Latin-1 "ö") in one title becomes one U+FFFD there; every
    other character of the feed ("Schrödinger", "Jörg Müller") is read as sent."""
    data = hostile_base(fmt).replace(BAD.title.encode(), BAD.title.encode("latin-1"))
    parsed = parse_feed(data)
    spoiled = replace(BAD, title=BAD.title.replace("ö", "\ufffd"))
    assert parsed.papers == (*GOOD[:10], spoiled, *GOOD[10:])
    assert not parsed.bozo


# The 21 papers' text in other encodings; what XML can only write as a reference is one.
_ENCODINGS = ["utf-8", "iso-8859-1", "windows-1252", "utf-16", "utf-16-be", "utf-32"]


def encoded(data: bytes, codec: str) -> bytes:
    """A UTF-8 feed re-encoded in `codec`, its XML declaration saying so."""
    text = data.decode().replace("encoding='UTF-8'", f"encoding='{codec}'", 1)
    return text.encode(codec, "xmlcharrefreplace")


@pytest.mark.parametrize("codec", _ENCODINGS)
def test_document_is_decoded_as_declared(codec: str) -> None:
    """A feed in another encoding (declared, and with a byte order mark where the codec writes
    one) is read as sent."""
    parsed = parse_feed(encoded(hostile_base("rss"), codec))
    assert parsed.papers == (*GOOD[:10], BAD, *GOOD[10:])


@pytest.mark.parametrize(
    ("codec", "bad", "sent"),
    [("windows-1252", b"\x81", "\u2013"), ("utf-16-le", b"\x00\xd8", "\u2013")],
    ids=["byte-cp1252-lacks", "lone-surrogate"],
)
def test_a_bad_byte_in_another_encoding_is_replaced_alone(
    codec: str, bad: bytes, sent: str
) -> None:
    """In a feed declared in another encoding, a byte (or code unit) that encoding cannot
    decode becomes one U+FFFD; the rest of the feed is read as sent."""
    marked = BAD.abstract.replace(sent, "¤")  # a character found nowhere else in the feed
    data = hostile_base("rss").replace(BAD.abstract.encode(), marked.encode())
    spoiled = encoded(data, codec).replace("¤".encode(codec), bad, 1)
    if codec == "utf-16-le":  # no byte order mark: the declaration is the only sign
        assert not spoiled.startswith(b"\xff\xfe")
    parsed = parse_feed(spoiled)
    expected = replace(BAD, abstract=BAD.abstract.replace(sent, "\ufffd"))
    assert parsed.papers == (*GOOD[:10], expected, *GOOD[10:])


def monster(arxiv_id: str = "2508.99999") -> Paper:
    """A paper with every field far over its bound."""
    return Paper(
        arxiv_id=arxiv_id,
        title="Giant " + "title words " * 20_000,
        authors=("N" * 5_000, *(f"Author {n}" for n in range(20_000))),
        abstract="Giant " + "abstract words " * 100_000,
        categories=("x" * 1_000, *(f"cat.N{n}" for n in range(200))),
        announce_type="replace" * 100,
        version=2,
    )


@pytest.mark.parametrize("fmt", FEED_FORMATS)
def test_every_stored_field_is_bounded(fmt: str) -> None:
    """A 240k-character title, a 1.5 MB abstract, 20,001 authors (one of 5,000 characters),
    201 categories and a 700-character announce type are cut to their bounds: cut text ends in
    "…", the author and category lists keep their first entries; the paper beside it is
    untouched."""
    big = monster()
    parsed = parse_feed(FEED_FORMATS[fmt]([big, GOOD[0]], updated=UPDATED))
    cut, good = parsed.papers
    assert good == GOOD[0]
    assert len(cut.title) == MAX_TITLE
    assert cut.title.endswith("…")
    assert collapse_ws(big.title).startswith(cut.title[:-1])
    assert len(cut.abstract) == MAX_ABSTRACT
    assert cut.abstract.endswith("…")
    assert collapse_ws(big.abstract).startswith(cut.abstract[:-1])
    assert len(cut.authors) == MAX_AUTHORS
    assert cut.authors[0] == "N" * (MAX_AUTHOR_NAME - 1) + "…"
    assert cut.authors[1:] == big.authors[1:MAX_AUTHORS]
    assert cut.categories == big.categories[1 : MAX_CATEGORIES + 1]  # "xxx…" is no category
    assert len(cut.announce_type) <= MAX_ANNOUNCE_TYPE


def test_all_author_names_together_are_bounded() -> None:
    """3,000 authors of 400 characters each (1.2 MB) keep the first names that fit in the
    bound on the whole list, whole."""
    names = tuple(f"{n:04d} " + "y" * 395 for n in range(3_000))
    parsed = parse_feed(atom_feed([replace(GOOD[0], authors=names)], updated=UPDATED))
    (cut,) = parsed.papers
    assert sum(len(name) for name in cut.authors) <= MAX_AUTHORS_TEXT
    assert len(cut.authors) >= MAX_AUTHORS_TEXT // 400 - 1
    assert cut.authors == names[: len(cut.authors)]


@pytest.mark.parametrize(
    ("length", "expected"),
    [(MAX_TITLE - 1, "whole"), (MAX_TITLE, "whole"), (MAX_TITLE + 1, "cut")],
)
def test_title_at_the_bound_is_kept_whole(length: int, expected: str) -> None:
    """A title of exactly the bound is kept whole; one character more and it is cut to the
    bound, ending in "…"."""
    title = ("word " * length)[: length - 1] + "z"
    (parsed,) = parse_feed(atom_feed([replace(GOOD[0], title=title)], updated=UPDATED)).papers
    if expected == "whole":
        assert parsed.title == title
    else:
        assert parsed.title == title[: MAX_TITLE - 1] + "…"


def test_real_papers_are_far_inside_the_bounds(truncated: ParsedFeed) -> None:
    """The bounds sit far above real arXiv papers: each of the 86 real ones uses at most a
    fifth of every bound (the longest real abstract is 1,957 characters, the most authors 30)."""
    for p in truncated.papers:
        assert 5 * len(p.title) <= MAX_TITLE
        assert 5 * len(p.abstract) <= MAX_ABSTRACT
        assert 5 * len(p.authors) <= MAX_AUTHORS
        assert 5 * max(map(len, p.authors)) <= MAX_AUTHOR_NAME
        assert 5 * sum(map(len, p.authors)) <= MAX_AUTHORS_TEXT
        assert 5 * len(p.categories) <= MAX_CATEGORIES
        assert 5 * max(map(len, p.categories)) <= MAX_CATEGORY


def test_a_bounded_paper_fits_a_digest_message() -> None:
    """The biggest paper a feed can now yield renders as one digest block within Telegram's
    4,096 characters."""
    (cut,) = parse_feed(atom_feed([monster()], updated=UPDATED)).papers
    block = format_paper(Hit(cut, keywords=("words",)), 1)
    assert telegram_length(block) <= MAX_MESSAGE_LENGTH


# --- hostile feeds polled for real: loopback server, fetcher, feed check, parse, store -----------

WEDNESDAY = dt.datetime(2025, 8, 20, 0, 10, tzinfo=ARXIV_TZ)  # 10 min after the rebuild


def _bad_byte(feed: bytes) -> bytes:
    return feed.replace(BAD.title.encode(), BAD.title.encode("latin-1"))


_SPOILERS: dict[str, tuple[Callable[[bytes], bytes], Paper | None]] = {
    "entity-bomb": (lambda feed: with_entity_bomb(feed, BAD.arxiv_id), None),
    "surrogate-reference": (lambda feed: in_title(feed, BAD.arxiv_id, b"&#xD800;"), None),
    "invalid-utf8-byte": (_bad_byte, replace(BAD, title=BAD.title.replace("ö", "\ufffd"))),
}


async def poll_once(services: Services, body: bytes, feeds: FeedServer) -> FeedOutcome:
    """Serve `body` as the cs.AI Atom feed and run one real poll of it."""
    feeds.set_response("/atom/cs.AI", body, content_type="application/atom+xml")
    url = services.config.arxiv_rss_base + "cs.AI"
    return await ingest_feed(services.fetcher, services.store, url, now=WEDNESDAY)


@pytest.mark.parametrize("spoiler", _SPOILERS.values(), ids=_SPOILERS)
async def test_a_poll_of_a_hostile_feed_stores_the_20_good_papers(
    config: Config, feeds: FeedServer, spoiler: tuple[Callable[[bytes], bytes], Paper | None]
) -> None:
    """A feed served on loopback with an entity bomb, a "&#xD800;" or an invalid UTF-8 byte in
    one entry, polled for real (fetch, feed check, parse off the loop, store): the 20 good
    papers are stored exactly, the spoiled one is skipped (or stored with one U+FFFD), and the
    feed counts as read, not as failed."""
    spoil, spoiled = spoiler
    async with pipeline(config, FakeClock(WEDNESDAY.timestamp())) as services:
        outcome = await poll_once(services, spoil(hostile_base("atom")), feeds)
        assert outcome.status is FeedStatus.CHANGED
        assert len(outcome.new) == 20 + (spoiled is not None)
        for paper in GOOD:
            assert await services.store.get_paper(paper.arxiv_id) == paper
        assert await services.store.get_paper(BAD.arxiv_id) == spoiled


async def test_a_clean_refetch_repairs_the_paper_a_bad_byte_spoiled(
    config: Config, feeds: FeedServer
) -> None:
    """After a poll stored a title with U+FFFD for an invalid byte, the next poll of the
    corrected feed (same paper, same version) repairs the stored paper without announcing it
    as new again."""
    async with pipeline(config, FakeClock(WEDNESDAY.timestamp())) as services:
        await poll_once(services, _bad_byte(hostile_base("atom")), feeds)
        stored = await services.store.get_paper(BAD.arxiv_id)
        assert stored is not None
        assert "\ufffd" in stored.title
        again = await poll_once(services, hostile_base("atom"), feeds)
        assert (again.status, again.new) == (FeedStatus.CHANGED, ())
        assert await services.store.get_paper(BAD.arxiv_id) == BAD


# --- check_is_feed: the fetcher's validator for feed URLs ---------------------------------------

FEED_BODY = rss_feed([paper()], updated=UPDATED)
HTML_PAGE = b"<!DOCTYPE html>\n<html><head><title>Error</title></head><body>Oops</body></html>"


def test_check_is_feed_accepts_feeds_even_labelled_html() -> None:
    """RSS and Atom documents pass, even when a proxy labels them text/html."""
    check_is_feed(FEED_BODY, "application/rss+xml", URL)
    check_is_feed(FEED_BODY, "text/html", URL)
    check_is_feed(SUNDAY_EMPTY.read_bytes(), "application/atom+xml", URL)


def test_check_is_feed_refuses_an_empty_body() -> None:
    """An empty 200 response is an error, not an empty feed."""
    with pytest.raises(FeedError, match="empty body") as info:
        check_is_feed(b"  \n", "application/rss+xml", URL)
    assert info.value.url == URL


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/rss+xml"])
def test_check_is_feed_refuses_html_pages(content_type: str) -> None:
    """An HTML page served with 200 is never taken for a feed, whatever its content type."""
    with pytest.raises(FeedError, match="HTML page"):
        check_is_feed(HTML_PAGE, content_type, URL)


@pytest.mark.parametrize("body", [b"<?xml version='1.0'?><error>busy</error>", b"Rate exceeded."])
def test_check_is_feed_refuses_other_xml_or_text(body: bytes) -> None:
    """XML with a non-feed root element, or plain text, is rejected as not a feed."""
    with pytest.raises(FeedError, match="not an RSS/Atom feed"):
        check_is_feed(body, "text/plain", URL)


async def test_make_http_client_settings() -> None:
    """The client sends our User-Agent, uses the timeout and follows redirects."""
    async with make_http_client(UA, timeout=12.5) as client:
        assert client.headers["User-Agent"] == UA
        assert client.timeout == httpx.Timeout(12.5)
        assert client.follow_redirects
    with pytest.raises(ValueError, match="User-Agent"):
        make_http_client("  ")


@pytest.mark.parametrize("make_feed", [rss_feed, atom_feed])
def test_entry_cut_off_after_its_abstract_is_not_kept_half_read(
    make_feed: Callable[..., bytes],
) -> None:
    """A feed truncated inside an entry, past its abstract but before its categories, keeps
    the complete entries only: the cut one waits for the next complete fetch rather than
    being stored without its categories."""
    papers = [
        Paper(f"2611.1000{n}", f"Title {n}", ("A. Author",), f"Abstract {n}.", ("cs.LG", "cs.AI"))
        for n in (1, 2, 3)
    ]
    whole = make_feed(papers, updated=dt.datetime(2026, 11, 26, 5, tzinfo=dt.UTC))
    cut = whole[: whole.index(b"Abstract 2.") + 40]
    assert b"cs.LG" not in cut[whole.index(b"Abstract 2.") :]  # cut before its categories
    parsed = parse_feed(cut)
    assert parsed.bozo
    assert [p.arxiv_id for p in parsed.papers] == ["2611.10001"]
    assert parsed.papers[0].categories == ("cs.LG", "cs.AI")
    assert parsed.skipped == 1
