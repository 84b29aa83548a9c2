"""Tests for bot.arxiv.api: /search's query syntax, the API's answers, errors and cache."""

from __future__ import annotations

import datetime as dt
import urllib.parse
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bot.arxiv.api import (
    RATE_LIMITED,
    UNEXPECTED,
    UNREACHABLE,
    ArxivApiError,
    ArxivSearch,
    build_search_query,
    normalize_url,
    parse_api_response,
    search_url,
)
from bot.arxiv.fetcher import PoliteFetcher
from bot.arxiv.ids import parse_arxiv_id
from tests.conftest import TEST_USER_AGENT as UA
from tests.fakes.clock import FakeClock
from tests.fakes.feed_server import Answer, FeedServer

FIXTURES = Path(__file__).parents[1] / "fixtures" / "arxiv"
LEGACY = FIXTURES / "api-legacy-2016-10-09-au_del_maestro-10-entries.xml"
ELECTRON = FIXTURES / "api-2025-11-21-all_electron-10-entries.xml"
ALL_ALL = FIXTURES / "api-2025-11-23-all_all-10-entries.xml"
RETRIEVAL = FIXTURES / "api-2026-08-21-all_retrieval-15-entries.xml"
ZERO = FIXTURES / "api-2025-11-23-zero-results.xml"
ERROR_400 = FIXTURES / "api-2026-04-12-http400-error-incorrect-id.xml"
API_PATH = "/api/query"


def query_params(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


# Identifiers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2508.13167", ("2508.13167", None)),
        ("2508.13167v2", ("2508.13167", 2)),
        ("arXiv:2508.13167v2", ("2508.13167", 2)),
        ("1201.4869", ("1201.4869", None)),
        ("hep-th/0505137", ("hep-th/0505137", None)),
        ("hep-th/0505137v1", ("hep-th/0505137", 1)),
        ("math.AP/0601001", ("math.AP/0601001", None)),
        ("cond-mat/0011267v1", ("cond-mat/0011267", 1)),
        ("https://arxiv.org/abs/hep-th/0505137v1", ("hep-th/0505137", 1)),
        ("http://arxiv.org/abs/2608.20331v1", ("2608.20331", 1)),
        ("https://arxiv.org/pdf/2508.13167v3.pdf", ("2508.13167", 3)),
        ("diffusion", None),
        ("2508.131", None),
        ("hep-th/05051", None),
    ],
)
def test_arxiv_ids_in_every_usual_form(text: str, expected: tuple[str, int | None] | None) -> None:
    """New and old-style ids, with or without version, prefix or link, are recognised."""
    assert parse_arxiv_id(text) == expected


# Query syntax ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "query"),
    [
        ("diffusion", "all:diffusion"),
        ("diffusion models", "all:diffusion AND all:models"),
        ('"flow matching"', 'all:"flow matching"'),
        ('ti:"flow matching" au:lipman', 'ti:"flow matching" AND au:lipman'),
        ("title:graph author:del_maestro", "ti:graph AND au:del_maestro"),
        ("abs:transformer cat:cs.LG", "abs:transformer AND cat:cs.LG"),
        ("gan OR vae", "all:gan OR all:vae"),
        ("diffusion NOT video", "all:diffusion ANDNOT all:video"),
        ("diffusion ANDNOT video", "all:diffusion ANDNOT all:video"),
        ("(gan OR vae) cat:cs.CV", "(all:gan OR all:vae) AND cat:cs.CV"),
        ("AND gan OR", "all:gan"),
        ("gan AND OR vae", "all:gan OR all:vae"),
        ("gan ( vae", "all:gan AND all:vae"),
        ("foo:bar", 'all:"foo bar"'),
        ("x^2 wild*card?", 'all:"x 2" AND all:"wild card"'),
        ("CAT:hep-th", "cat:hep-th"),
    ],
)
def test_user_queries_become_arxiv_syntax(typed: str, query: str) -> None:
    """Words, phrases, fields, operators and parentheses map onto arXiv's search syntax."""
    assert build_search_query(typed) == query


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "what to search for"),
        ("()", "what to search for"),
        ("cat:not/a/category", "not an arXiv category"),
        ("NOT video", "NOT needs something"),
        ("x" * 301, "too long"),
    ],
)
def test_unusable_queries_get_a_clear_message(typed: str, message: str) -> None:
    """An empty query, a malformed category or a lone NOT is explained to the user."""
    with pytest.raises(ArxivApiError, match=message):
        build_search_query(typed)


def test_search_url_asks_for_newest_first() -> None:
    """The URL has search_query, start, max_results and sorts by submission date, newest
    first; quotes are %22 and spaces + as in arXiv's manual."""
    url = search_url('ti:"flow matching" au:lipman', start=20, max_results=5)
    assert url.startswith("https://export.arxiv.org/api/query?search_query=")
    assert "ti:%22flow+matching%22+AND+au:lipman" in url
    assert query_params(url) == {
        "search_query": 'ti:"flow matching" AND au:lipman',
        "start": "20",
        "max_results": "5",
        "sortBy": "submittedDate",
        "sortOrder": "descending",
    }


def test_search_url_bounds_its_numbers() -> None:
    """max_results stays within 1..50 and start is never negative."""
    params = query_params(search_url("gan", start=-3, max_results=500))
    assert (params["start"], params["max_results"]) == ("0", "50")


def test_ids_are_looked_up_by_id_list() -> None:
    """A query of arXiv ids, old-style included, asks for exactly those papers."""
    assert query_params(search_url("hep-th/0505137")) == {
        "id_list": "hep-th/0505137",
        "start": "0",
        "max_results": "10",
    }
    assert query_params(search_url("arXiv:2508.13167v2, cond-mat/0011267"))["id_list"] == (
        "2508.13167v2,cond-mat/0011267"
    )


def test_normalized_url_ignores_parameter_order_and_host_case() -> None:
    """Two spellings of one request share a cache entry."""
    one = "https://EXPORT.arxiv.org/api/query?start=0&search_query=all:gan&max_results=10"
    two = "https://export.arxiv.org/api/query?search_query=all%3Agan&max_results=10&start=0"
    assert normalize_url(one) == normalize_url(two)


# Parsing real answers -------------------------------------------------------------------------


def test_legacy_answer() -> None:
    """The 2016 format (namespaces declared on each element, wrapped titles) parses: ten
    papers of 31, primary category first, titles on one line."""
    results = parse_api_response(LEGACY.read_bytes())
    assert (len(results.papers), results.total, results.start) == (10, 31, 0)
    first = results.papers[0]
    assert first.arxiv_id == "1201.4869"
    assert first.version == 1
    assert first.title == "A Luttinger Liquid Core Inside Helium-4 Filled Nanopores"
    assert first.authors == ("Adrian Del Maestro",)
    assert first.categories[0] == "cond-mat.mes-hall"
    assert first.abstract.startswith("As helium-4 is cooled below 2.17 K")
    assert "\n" not in first.abstract
    assert all("\n" not in paper.title for paper in results.papers)


def test_new_answer_with_old_style_ids() -> None:
    """The 2025 format with old-style ids (cond-mat/0011267v1, hep-th/0505137v1) gives
    versionless ids and the version apart."""
    results = parse_api_response(ELECTRON.read_bytes())
    ids = [paper.arxiv_id for paper in results.papers]
    assert len(ids) == 10
    assert results.total == 175141
    assert "cond-mat/0011267" in ids
    assert "hep-th/0505137" in ids
    first = results.papers[0]
    assert first.version == 1
    assert first.categories == ("cond-mat.supr-con", "cond-mat.str-el")
    assert len(first.authors) == 8
    assert first.authors[-1] == "Joerg Fink"
    assert first.announced == dt.date(2000, 11, 15)
    assert first.url == "https://arxiv.org/abs/cond-mat/0011267"


@pytest.mark.parametrize(("fixture", "count"), [(ALL_ALL, 10), (RETRIEVAL, 15)])
def test_recent_answers(fixture: Path, count: int) -> None:
    """Every entry of the 2025 and 2026 answers becomes a complete paper."""
    papers = parse_api_response(fixture.read_bytes()).papers
    assert len(papers) == count
    for paper in papers:
        assert paper.title
        assert paper.abstract
        assert paper.authors
        assert paper.categories
        assert parse_arxiv_id(paper.arxiv_id) == (paper.arxiv_id, None)


def test_zero_results() -> None:
    """No results is an empty, successful answer (total 0), not an error."""
    results = parse_api_response(ZERO.read_bytes())
    assert results.papers == ()
    assert results.total == 0


def test_withdrawal_in_the_comment_marks_the_paper_withdrawn() -> None:
    """The API gives arXiv's comment: a paper whose comment says it was withdrawn is marked
    so; the real answer's papers, with ordinary comments, are not."""
    real = ELECTRON.read_bytes()
    assert not any(p.withdrawn for p in parse_api_response(real).papers)
    marked = real.replace(
        b"<arxiv:comment>7 pages, 3 figures, to appear in J. Electron Spectrosc</arxiv:comment>",
        b"<arxiv:comment>This paper has been withdrawn by the author</arxiv:comment>",
    )
    assert marked != real
    assert [p.withdrawn for p in parse_api_response(marked).papers].count(True) == 1


def test_error_entry_is_an_error_with_arxivs_reason() -> None:
    """The 400 answer's error entry becomes ArxivApiError quoting arXiv's explanation."""
    with pytest.raises(ArxivApiError, match="incorrect id format for abc") as caught:
        parse_api_response(ERROR_400.read_bytes())
    assert caught.value.status_code == 400


@pytest.mark.parametrize("body", [b"Rate exceeded.", b"", b"<html><body>Oops</body></html>"])
def test_a_body_that_is_not_atom_is_an_error(body: bytes) -> None:
    """Plain text, nothing or an HTML page is never read as "no results"."""
    with pytest.raises(ArxivApiError, match="not a search result"):
        parse_api_response(body)


# The client -----------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=0.0)


@pytest.fixture
def make_search(
    server: FeedServer, client: httpx.AsyncClient, clock: FakeClock
) -> Callable[..., ArxivSearch]:
    """An ArxivSearch on the loopback server, with a fake clock for spacing and the cache."""

    def make(**options: object) -> ArxivSearch:
        fetcher = PoliteFetcher(client, clock=clock, sleep=clock.sleep, rand=lambda: 0.0)
        return ArxivSearch(
            fetcher,
            base=server.url + API_PATH,
            clock=clock,
            **options,  # type: ignore[arg-type]
        )

    return make


async def test_search_fetches_parses_and_sends_the_query(
    server: FeedServer, make_search: Callable[..., ArxivSearch]
) -> None:
    """A search sends the translated query with the bot's User-Agent and returns papers."""
    server.set_response(API_PATH, RETRIEVAL.read_bytes(), content_type="application/atom+xml")
    results = await make_search().search("retrieval", max_results=15)
    assert len(results.papers) == 15
    request = server.requests[0]
    assert request.headers["user-agent"] == UA
    params = dict(urllib.parse.parse_qsl(request.query_string))
    assert params["search_query"] == "all:retrieval"
    assert params["sortBy"] == "submittedDate"


async def test_answers_are_cached_for_a_day(
    server: FeedServer, make_search: Callable[..., ArxivSearch], clock: FakeClock
) -> None:
    """The same search within a day costs no request; after a day it asks again."""
    server.set_response(API_PATH, LEGACY.read_bytes())
    search = make_search()
    first = await search.search("au:del_maestro")
    clock.now += 23 * 3600
    assert await search.search("au:del_maestro") is first
    assert len(server.requests) == 1
    clock.now += 2 * 3600
    await search.search("au:del_maestro")
    assert len(server.requests) == 2


async def test_cache_is_bounded(
    server: FeedServer, make_search: Callable[..., ArxivSearch]
) -> None:
    """The oldest answer goes when the cache is full."""
    server.set_response(API_PATH, ZERO.read_bytes())
    search = make_search(max_entries=2)
    for word in ("one", "two", "three", "one"):
        await search.search(word)
    assert len(server.requests) == 4  # "one" was evicted by "three"


async def test_400_error_entry_reaches_the_user(
    server: FeedServer, make_search: Callable[..., ArxivSearch]
) -> None:
    """arXiv's HTTP 400 with an error entry becomes a message with its reason; no retry."""
    server.set_response(API_PATH, ERROR_400.read_bytes(), status=400)
    with pytest.raises(ArxivApiError, match="incorrect id format for abc"):
        await make_search().search("abc OR def")
    assert len(server.requests) == 1


async def test_rate_limit_message(
    server: FeedServer, make_search: Callable[..., ArxivSearch], clock: FakeClock
) -> None:
    """429 "Rate exceeded." (plain text, no XML) is retried once, then explained."""
    server.set_response(API_PATH, "Rate exceeded.", status=429, content_type="text/plain")
    with pytest.raises(ArxivApiError) as caught:
        await make_search().search("gan")
    assert str(caught.value) == RATE_LIMITED
    assert str(caught.value) == "arXiv is rate-limiting us, try again in a minute."
    assert len(server.requests) == 2


async def test_rate_limit_then_answer(
    server: FeedServer, make_search: Callable[..., ArxivSearch]
) -> None:
    """One 429 with Retry-After, then the answer: the user just gets the results."""
    server.script(API_PATH, Answer("Rate exceeded.", status=429, headers={"Retry-After": "3"}))
    server.set_response(API_PATH, ALL_ALL.read_bytes())
    results = await make_search().search("all")
    assert len(results.papers) == 10


async def test_html_page_is_not_no_results(
    server: FeedServer, make_search: Callable[..., ArxivSearch]
) -> None:
    """An HTML page with 200 is an error for the user, and is not cached."""
    server.set_response(API_PATH, "<html><body>Maintenance</body></html>", content_type="text/html")
    search = make_search()
    with pytest.raises(ArxivApiError, match=UNEXPECTED):
        await search.search("gan")
    server.set_response(API_PATH, ZERO.read_bytes())
    assert (await search.search("gan")).total == 0


async def test_unavailable_and_unreachable(
    server: FeedServer, make_search: Callable[..., ArxivSearch]
) -> None:
    """A 503 and a timeout each give the user a message saying to try later."""
    server.set_response(API_PATH, "down", status=503)
    with pytest.raises(ArxivApiError, match="not available"):
        await make_search().search("gan")
    server.set_response(API_PATH, ZERO.read_bytes(), delay=5.0)
    with pytest.raises(ArxivApiError, match=UNREACHABLE):
        await make_search(attempts=1).search("vae")


async def test_searches_share_the_polite_spacing(
    server: FeedServer, make_search: Callable[..., ArxivSearch], clock: FakeClock
) -> None:
    """Two different searches through one fetcher are 3 s apart, like the feeds."""
    server.set_response(API_PATH, ZERO.read_bytes())
    search = make_search()
    await search.search("gan")
    await search.search("vae")
    assert clock.now == 3.0
