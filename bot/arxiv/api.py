"""The arXiv search API (export.arxiv.org/api/query) for /search: query, parse, cache.

A user's query ("diffusion au:hinton ti:\"flow matching\" cat:cs.LG") is translated into
arXiv's search syntax, fetched through the shared `PoliteFetcher` (the API has the same
one-request-every-3-seconds rule as the feeds), parsed into `Paper`s, and kept for a day.
Every failure becomes an `ArxivApiError` whose text can be shown to the user as it is.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import io
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import feedparser

from bot.arxiv.calendar import eastern_date
from bot.arxiv.feed_entries import ARXIV_NS, collapse_ws, is_withdrawn
from bot.arxiv.fetcher import CATEGORY_RE, SEARCH_LANE, PoliteFetcher
from bot.arxiv.http import FetchBusy, FetchError
from bot.arxiv.ids import parse_arxiv_id
from bot.messages import N_, UserError
from bot.models import Paper

API_URL = "https://export.arxiv.org/api/query"
MAX_RESULTS = 50  # per request; more would be slow for arXiv and too long for a chat
MAX_QUERY_LENGTH = 300
CACHE_TTL = dt.timedelta(days=1)
# Seconds a search waits for its turn at arXiv (behind a poll's request) before saying so.
QUEUE_TIMEOUT = 10.0

# Fields a user may name, and what arXiv calls them.
FIELDS = {
    "all": "all",
    "ti": "ti",
    "title": "ti",
    "abs": "abs",
    "abstract": "abs",
    "au": "au",
    "author": "au",
    "cat": "cat",
    "category": "cat",
    "co": "co",
    "comment": "co",
    "jr": "jr",
}
OPERATORS = {"AND": "AND", "OR": "OR", "ANDNOT": "ANDNOT", "NOT": "ANDNOT"}

RATE_LIMITED = N_("arXiv is rate-limiting us, try again in a minute.")
UNAVAILABLE = N_("arXiv's search is not available right now, try again later.")
UNREACHABLE = N_("Could not reach arXiv, try again later.")
UNEXPECTED = N_("arXiv answered with something that is not a search result, try again later.")
BUSY = N_("arXiv is busy with our other requests right now, try again in a minute.")

# Tokens of a user query: a quoted phrase, a parenthesis, or a word (which may be a field
# name followed by a quoted phrase: ti:"flow matching").
_TOKEN = re.compile(r'"[^"]*"?|[()]|[^\s()"]+(?:"[^"]*"?)?')
# Characters with a meaning in arXiv's (Lucene) syntax, removed from search terms.
_SYNTAX_CHARS = re.compile(r'[()":\\\[\]{}^~*?!]')


class ArxivApiError(UserError):
    """The search failed; str() is a message for the user, in English; `localized(tr)` says
    it in another language (the message is a `N_` text filled with ``params``)."""

    def __init__(
        self, user_message: str, *, status_code: int | None = None, **params: object
    ) -> None:
        super().__init__(user_message, **params)
        self.user_message = str(self)
        self.status_code = status_code


@dataclasses.dataclass(frozen=True, slots=True)
class SearchResults:
    """One page of search results."""

    papers: tuple[Paper, ...]
    total: int  # results arXiv has in all (opensearch:totalResults)
    start: int  # index of the first paper here among them
    url: str  # what was asked


# ---------------------------------------------------------------------------------------------
# Query building


def build_search_query(user_query: str) -> str:
    """A user's query in arXiv's search_query syntax (before URL encoding).

    Words and "quoted phrases" search all fields (all:); ti:, abs:, au:, cat: (and title:,
    abstract:, author:, category:) name one; AND, OR, ANDNOT (or NOT) and parentheses combine
    them, and terms side by side must all match. ArxivApiError for an empty query or a cat:
    that is not written like a category.
    """
    if len(user_query) > MAX_QUERY_LENGTH:
        raise ArxivApiError(
            N_("That search is too long (at most {max} characters)."), max=MAX_QUERY_LENGTH
        )
    parts: list[str] = []  # terms, operators and parentheses, in order
    for token in _TOKEN.findall(user_query):
        if token in ("(", ")"):
            parts.append(token)
        elif token in OPERATORS:
            parts.append(OPERATORS[token])
        else:
            term = _term(token)
            if term:
                parts.append(term)
    query = " ".join(_tidy(parts)).replace("( ", "(").replace(" )", ")")
    if not query:
        raise ArxivApiError(N_("Tell me what to search for, e.g. /search diffusion au:hinton"))
    return query


def _term(token: str) -> str | None:
    """One search term: field:value, the value quoted when it has several words."""
    field, value = "all", token
    name, colon, rest = token.partition(":")
    if colon and name.lower() in FIELDS and rest:
        field, value = FIELDS[name.lower()], rest
    words = _SYNTAX_CHARS.sub(" ", value).split()
    if not words:
        return None
    if field == "cat":
        category = value.strip('"')
        if not CATEGORY_RE.match(category):
            raise ArxivApiError(
                N_("{category} is not an arXiv category; categories look like cs.LG or hep-th."),
                category=repr(category),
            )
        return f"cat:{category}"
    text = " ".join(words)
    return f'{field}:"{text}"' if len(words) > 1 else f"{field}:{text}"


def _tidy(parts: Sequence[str]) -> list[str]:
    """Drop parentheses if unbalanced, stray operators; put AND between adjacent terms."""
    depth = 0
    balanced = True
    for part in parts:
        depth += {"(": 1, ")": -1}.get(part, 0)
        balanced = balanced and depth >= 0
    if not balanced or depth != 0:
        parts = [part for part in parts if part not in ("(", ")")]
    tidy: list[str] = []
    for part in parts:
        previous = tidy[-1] if tidy else None
        if part in OPERATORS.values():
            if previous is None or previous == "(":
                if part == "ANDNOT":
                    raise ArxivApiError(
                        N_("NOT needs something to search for before it, e.g. diffusion NOT video.")
                    )
                continue  # nothing to combine with
            if previous in OPERATORS.values():
                tidy[-1] = part  # "a AND OR b": the last one wins
                continue
        elif part == ")":
            if previous in OPERATORS.values():
                tidy.pop()
            if tidy and tidy[-1] == "(":
                tidy.pop()  # "()" means nothing
                continue
        elif previous is not None and previous not in OPERATORS.values() and previous != "(":
            tidy.append("AND")  # "(a) b" or "a b": both must match
        tidy.append(part)
    while tidy and tidy[-1] in OPERATORS.values():
        tidy.pop()
    return tidy


def search_url(
    user_query: str, *, start: int = 0, max_results: int = 10, base: str = API_URL
) -> str:
    """The API URL for a user's query, newest submissions first.

    A query that is only arXiv ids (old or new style) asks for those papers (id_list).
    """
    max_results = min(max(1, max_results), MAX_RESULTS)
    start = max(0, start)
    ids = [parse_arxiv_id(token) for token in user_query.replace(",", " ").split()]
    if ids and all(ids):
        id_list = ",".join(
            f"{ident}v{version}" if version else ident
            for ident, version in (found for found in ids if found)
        )
        params: dict[str, str] = {
            "id_list": id_list,
            "start": str(start),
            "max_results": str(max_results),
        }
    else:
        params = {
            "search_query": build_search_query(user_query),
            "start": str(start),
            "max_results": str(max_results),
            "sortBy": "submittedDate",
            "sortOrder": "descending",
        }
    # quote_plus: spaces become "+" and quotes "%22", as in arXiv's own examples.
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote_plus, safe=":,/")
    return f"{base}?{query}"


def normalize_url(url: str) -> str:
    """The same request written one way: host in lower case, parameters sorted."""
    parts = urllib.parse.urlsplit(url)
    params = sorted(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote_plus, safe=":,/")
    return urllib.parse.urlunsplit(
        (parts.scheme.lower(), parts.netloc.lower(), parts.path, query, "")
    )


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_api_response(data: bytes, url: str = "") -> SearchResults:
    """Parse an API answer (Atom, old and new formats) into papers; pure.

    An error entry (arXiv's answer to a bad query, with HTTP 400) raises ArxivApiError with
    arXiv's explanation; so does a body that is not an Atom feed.
    """
    result = feedparser.parse(io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False)
    if not str(result.get("version", "")).startswith("atom"):
        raise ArxivApiError(UNEXPECTED)
    entries = result.get("entries", [])
    for entry in entries:
        if "/api/errors" in _text(entry, "id"):
            detail = collapse_ws(_text(entry, "summary")) or "unknown error"
            raise ArxivApiError(  # arXiv's explanation itself stays in English
                N_("arXiv could not run that search: {detail}."), status_code=400, detail=detail
            )
    arxiv_prefix = _arxiv_prefix(result.get("namespaces", {}))
    papers: dict[str, Paper] = {}
    for entry in entries:
        paper = _paper(entry, arxiv_prefix)
        if paper is not None:
            papers.setdefault(paper.arxiv_id, paper)
    feed = result.get("feed", {})
    return SearchResults(
        papers=tuple(papers.values()),
        total=_int(feed.get("opensearch_totalresults"), default=len(papers)),
        start=_int(feed.get("opensearch_startindex"), default=0),
        url=url,
    )


def _arxiv_prefix(namespaces: Mapping[str, str]) -> str:
    """feedparser names arXiv's elements by the document's prefix (arxiv_comment, ...)."""
    for prefix, uri in namespaces.items():
        if uri == ARXIV_NS and prefix:
            return prefix
    return "arxiv"


def _paper(entry: Mapping[str, Any], arxiv_prefix: str) -> Paper | None:
    ident = parse_arxiv_id(_text(entry, "id"))
    if ident is None:
        return None
    arxiv_id, version = ident
    categories = [tag.get("term", "") for tag in entry.get("tags", []) if isinstance(tag, dict)]
    primary = entry.get(f"{arxiv_prefix}_primary_category")
    if isinstance(primary, dict) and primary.get("term"):
        categories.insert(0, primary["term"])
    authors = [
        collapse_ws(author.get("name", ""))
        for author in entry.get("authors", [])
        if isinstance(author, dict)
    ]
    abstract = collapse_ws(_text(entry, "summary"))
    comment = collapse_ws(_text(entry, f"{arxiv_prefix}_comment"))
    return Paper(
        arxiv_id=arxiv_id,
        title=collapse_ws(_text(entry, "title")),
        authors=tuple(name for name in authors if name),
        abstract=abstract,
        withdrawn=is_withdrawn(abstract, comment),
        categories=tuple(dict.fromkeys(cat.strip() for cat in categories if cat.strip())),
        version=version or 1,
        # The API does not say when a paper was announced; the first version's submission
        # day (US/Eastern, like the feeds' dates) is the closest it gives.
        announced=_eastern_day(_text(entry, "published")),
    )


def _text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    return value if isinstance(value, str) else ""


def _int(value: Any, *, default: int) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return default


def _eastern_day(stamp: str) -> dt.date | None:
    try:
        moment = dt.datetime.fromisoformat(stamp.strip())
    except ValueError:
        return None
    return eastern_date(moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC))


# ---------------------------------------------------------------------------------------------
# The client


class ArxivSearch:
    """/search's client: polite fetching, parsing, and a cache of answers for `ttl`.

    Its requests have their own back-off (a Retry-After drawn by a search holds back searches
    only) and wait at most `queue_timeout` seconds for their turn. `clock` (monotonic seconds)
    is there for tests.
    """

    def __init__(
        self,
        fetcher: PoliteFetcher,
        *,
        base: str = API_URL,
        ttl: dt.timedelta = CACHE_TTL,
        max_entries: int = 256,
        attempts: int = 2,
        queue_timeout: float = QUEUE_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetcher = fetcher
        self._base = base
        self._ttl = ttl.total_seconds()
        self._max_entries = max_entries
        self._attempts = attempts
        self._queue_timeout = queue_timeout
        self._clock = clock
        self._cache: collections.OrderedDict[str, tuple[float, SearchResults]] = (
            collections.OrderedDict()
        )

    async def search(self, query: str, *, start: int = 0, max_results: int = 10) -> SearchResults:
        """Papers matching `query`, newest first; ArxivApiError with a message for the user."""
        url = search_url(query, start=start, max_results=max_results, base=self._base)
        key = normalize_url(url)
        cached = self._cache.get(key)
        if cached is not None and self._clock() < cached[0]:
            self._cache.move_to_end(key)
            return cached[1]
        try:
            fetched = await self._fetcher.fetch(
                url,
                conditional=False,
                remember=False,
                attempts=self._attempts,
                lane=SEARCH_LANE,
                queue_timeout=self._queue_timeout,
            )
        except FetchError as exc:
            raise _user_error(exc) from exc
        results = parse_api_response(fetched.body, url)
        self._cache[key] = (self._clock() + self._ttl, results)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return results

    def clear(self) -> None:
        self._cache.clear()


def _user_error(exc: FetchError) -> ArxivApiError:
    """What to tell the user about a failed request."""
    if isinstance(exc, FetchBusy):
        return ArxivApiError(BUSY)
    status = exc.status_code
    if status == 400 and exc.body:
        try:
            parse_api_response(exc.body)
        except ArxivApiError as explained:
            return explained
        return ArxivApiError(N_("arXiv could not run that search."), status_code=400)
    if status == 429 or (status is None and exc.retry_after is not None):
        return ArxivApiError(RATE_LIMITED, status_code=status)
    if status is not None and status >= 500:
        return ArxivApiError(UNAVAILABLE, status_code=status)
    if status is not None:
        return ArxivApiError(
            N_("arXiv answered HTTP {status}; try again later."), status_code=status, status=status
        )
    return ArxivApiError(UNREACHABLE)
