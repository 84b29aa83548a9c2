"""Match papers to a chat's queries, rank the hits, find what to bold, parse /subscribe lists.

The query language is `bot.matching.parser` (its tree `bot.matching.query`), the normal form
`bot.matching.normalize`, and the matching itself `bot.matching.engine.Engine`; this module is
what the handlers and jobs call.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.matching.engine import Engine
from bot.matching.evaluator import occurrences
from bot.matching.normalize import FORMAT_TABLE, CharTable, document, normalize, words
from bot.matching.parser import MAX_QUERY_LENGTH, parse_query
from bot.matching.query import QueryError, Term, describe, positive_terms
from bot.matching.tokenizer import QUOTES
from bot.messages import N_
from bot.models import Document, Hit, Match, Paper

__all__ = [
    "MAX_KEYWORD_LENGTH",
    "MAX_QUERY_LENGTH",
    "MAX_SUBSCRIPTIONS",
    "KeywordError",
    "QueryError",
    "broken_queries",
    "clear_highlight_caches",
    "highlight_spans",
    "hit_of",
    "match_documents",
    "match_papers",
    "normalize",
    "paper_text",
    "parse_keywords",
    "rank",
    "validate_keyword",
]

MAX_SUBSCRIPTIONS = 50
MAX_KEYWORD_LENGTH = MAX_QUERY_LENGTH
KeywordError = QueryError  # the name the handlers know

# Queries are split on commas (ASCII and full-width, as typed with CJK keyboards) and on line
# breaks, because users naturally type one query per line; quotes protect both.
_SEPARATORS = frozenset(",\uff0c\n")
_SHOWN_QUERY_LENGTH = 40
log = logging.getLogger(__name__)

# Paper fields are joined with a line break so that a phrase cannot match across the end of the
# title and the start of the abstract.
_FIELD_SEPARATOR = " \n "
_WORD_RUN = re.compile("w+")


def _run_char(codepoint: int) -> str:
    """Letters, digits and marks (and format characters, which join words) map to w."""
    kind = unicodedata.category(chr(codepoint))
    return "w" if kind[0] in "LNM" or kind == "Cf" else " "


# Displayed text is mapped character for character, so runs of "w" keep their offsets.
_RUN_TABLE = CharTable(_run_char)
_NEW_STYLE_ID = re.compile(r"\d{4}\.\d{4,5}")


# --- matching ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def _normalized_fields(title: str, abstract: str) -> str:
    return f"{normalize(title)}{_FIELD_SEPARATOR}{normalize(abstract)}"


def paper_text(paper: Paper) -> str:
    """The paper's title and abstract in normal form (cached: papers are matched for many chats)."""
    return _normalized_fields(paper.title, paper.abstract)


def match_papers(papers: Iterable[Paper], queries: Sequence[str]) -> list[Hit]:
    """A hit for each paper that matches at least one query, most relevant first (see `rank`).

    Each hit lists the matching queries as given, in the given order, with the fields where
    their terms occur. Queries that do not parse are skipped (stored ones may predate a
    grammar change); validate new ones with `parse_keywords` or `bot.matching.parser.parse_query`.
    """
    return match_documents([(paper, document(paper)) for paper in papers], queries)


def match_documents(papers: Sequence[tuple[Paper, Document]], queries: Sequence[str]) -> list[Hit]:
    """`match_papers` for papers whose normal form is known (stored at ingest)."""
    found_by_paper = Engine(enumerate(queries)).match_batch([doc for _, doc in papers])
    hits = []
    for (paper, _), found in zip(papers, found_by_paper, strict=True):
        if found:
            hits.append(
                hit_of(paper, [(queries[index], fields) for index, fields in sorted(found)])
            )
    return rank(hits)


def hit_of(paper: Paper, matches: Iterable[tuple[str, tuple[str, ...]]]) -> Hit:
    """A hit from the queries that match the paper (in the chat's order) and their fields."""
    found = tuple(Match(query, fields) for query, fields in matches)
    return Hit(paper, tuple(match.query for match in found), found)


def _tier(hit: Hit) -> int:
    """0: a query hit the title or named an author; 1: the abstract; 2: categories only."""
    fields = {name for match in hit.matches for name in match.fields}
    if fields & {"title", "authors"}:
        return 0
    return 1 if "abstract" in fields else 2


def _age(paper: Paper) -> tuple[int, bool, str]:
    """Grows with time: announcement day, then new-style ids (2508.13167), which grow too."""
    day = paper.announced.toordinal() if paper.announced else 0
    return day, _NEW_STYLE_ID.fullmatch(paper.arxiv_id) is not None, paper.arxiv_id


def rank(hits: Iterable[Hit]) -> list[Hit]:
    """Most relevant first: title (or author) hits before abstract hits before category-only
    hits, then more distinct matching queries first, then newest first."""
    newest_first = sorted(hits, key=lambda hit: _age(hit.paper), reverse=True)  # stable
    return sorted(newest_first, key=lambda hit: (_tier(hit), -len(set(hit.keywords))))


# Every digest checks its chat's queries: 100,000 subscriptions hold more distinct queries than
# parse_query's cache, and parsing them all again each morning took seconds of the event loop.
@functools.lru_cache(maxsize=1 << 17)
def _parse_error(query: str) -> QueryError | None:
    """Why the query does not parse (None: it does)."""
    try:
        parse_query(query)
    except QueryError as error:
        return error.with_traceback(None)  # kept: its frames need not be
    return None


def broken_queries(chat_id: int, queries: Sequence[str]) -> dict[str, QueryError]:
    """The stored queries that no longer parse (stored before a change of the query language),
    with why; each is logged, as it matches nothing until the chat replaces it."""
    broken: dict[str, QueryError] = {}
    for query in queries:
        if (error := _parse_error(query)) is not None:
            broken[query] = error
            log.warning(
                "Chat %s follows a query that no longer parses and matches nothing: %r (%s)",
                chat_id,
                query,
                error,
            )
    return broken


# --- highlighting -----------------------------------------------------------------------------


@functools.lru_cache(maxsize=16_384)
def _query_title_terms(text: str) -> tuple[Term, ...]:
    """A query's positive title and unfielded terms, none if it does not parse (cached: a
    chat's queries are highlighted in the title of every paper of its digest)."""
    try:
        query = parse_query(text)
    except QueryError:
        return ()
    return tuple(term for term in positive_terms(query) if term.field in (None, "title"))


@dataclass(frozen=True, slots=True)
class _Title:
    """A displayed title's words in normal form, where each came from, and where each is."""

    tokens: tuple[str, ...]
    runs: tuple[tuple[int, int], ...]  # the characters each token came from
    positions: Mapping[str, tuple[int, ...]]  # token: its indices in tokens


@functools.lru_cache(maxsize=8192)
def _title(text: str) -> _Title:
    """The title's words (cached: a title is highlighted for every chat it is sent to)."""
    tokens: list[str] = []
    runs: list[tuple[int, int]] = []
    for run in _WORD_RUN.finditer(text.translate(_RUN_TABLE)):
        for token in words(text[run.start() : run.end()]):
            tokens.append(token)
            runs.append(run.span())
    positions: dict[str, tuple[int, ...]] = {}
    for index, token in enumerate(tokens):
        positions[token] = (*positions.get(token, ()), index)
    return _Title(tuple(tokens), tuple(runs), positions)


def _starts(term: Term, title: _Title) -> Iterable[int]:
    """`occurrences` of the term in the title, without scanning it for most terms.

    Words match by equality, except the last word of a prefix term: a single word is looked up,
    and a term missing one of its verbatim words cannot occur.
    """
    if len(term.words) == 1 and not term.prefix:
        return title.positions.get(term.words[0], ())
    exact = term.words[:-1] if term.prefix else term.words
    if not all(word in title.positions for word in exact):
        return ()
    return occurrences(term, title.tokens)


def _query_spans(text: str, query: str) -> tuple[tuple[int, int], ...]:
    """`highlight_spans` of one query. Not cached: a day's (title, query) pairs outnumber any
    cache, and most queries' words are not in the title, which one lookup each shows."""
    terms = _query_title_terms(query)
    if not terms:
        return ()
    title = _title(text)
    runs = title.runs
    spans = [
        (runs[start][0], runs[start + len(term.words) - 1][1])
        for term in terms
        for start in _starts(term, title)
    ]
    return _merged(spans) if len(spans) > 1 else tuple(spans)


def _merged(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """The ranges sorted, overlapping ones merged."""
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(spans):
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((begin, end))
    return tuple(merged)


def highlight_spans(text: str, queries: Sequence[str]) -> list[tuple[int, int]]:
    """Character ranges of ``text`` (a title as displayed, LaTeX already rendered) covered by
    the queries' positive title and unfielded terms: sorted, overlapping ones merged."""
    if len(queries) == 1:
        return list(_query_spans(text, queries[0]))
    return list(_merged(span for query in queries for span in _query_spans(text, query)))


def clear_highlight_caches() -> None:
    """Forget the parsed queries and the titles' words kept for highlighting (for tests and
    benchmarks that start cold)."""
    _query_title_terms.cache_clear()
    _title.cache_clear()


# --- parsing /subscribe arguments -------------------------------------------------------------


def _shorten(text: str, length: int = _SHOWN_QUERY_LENGTH) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "\u2026"


def validate_keyword(keyword: str) -> str:
    """The query cleaned up (invisible characters dropped, spaces collapsed), or QueryError."""
    cleaned = " ".join(keyword.translate(FORMAT_TABLE).split())
    if not cleaned:
        raise QueryError(
            N_("One of the queries is empty. Check for a stray comma or empty quotes.")
        )
    parse_query(cleaned)
    return cleaned


def _is_stray(item: str, beside_line_break: bool) -> bool:
    """A blank item left by a comma at the end of a line or by a blank line: ignored."""
    return beside_line_break and not item.split()


def _split_query_list(args: str) -> list[str]:
    """Split at separators outside quotes; the quotes stay (they make phrases).

    Blank items between two commas are kept for validation to reject. An unclosed quote
    runs to the end, where the query parser reports it.
    """
    items: list[str] = []
    current: list[str] = []
    quoted = after_line_break = False
    for char in args:
        if char in QUOTES:
            quoted = not quoted
        elif char in _SEPARATORS and not quoted:
            line_break = char == "\n"
            item = "".join(current)
            if not _is_stray(item, line_break or after_line_break):
                items.append(item)
            current, after_line_break = [], line_break
            continue
        current.append(char)
    if not _is_stray(item := "".join(current), after_line_break):
        items.append(item)
    return items


def parse_keywords(args: str) -> list[str]:
    """Queries from a command's arguments: ``diffusion -medical, "flow matching", au:hinton``.

    Commas or line breaks separate queries; quoted text may contain both. Each query is
    checked with `bot.matching.parser.parse_query` (QueryError, prefixed with the query when
    there are
    several) and returned cleaned up, without duplicates (same `describe`), first kept.
    """
    if not args.translate(FORMAT_TABLE).split():
        raise QueryError(
            N_('Please give at least one keyword or query, e.g. diffusion, "flow matching".')
        )
    items = _split_query_list(args)
    queries: list[str] = []
    seen: set[str] = set()
    for item in items:
        try:
            query = validate_keyword(item)
        except QueryError as error:
            if len(items) == 1:
                raise
            cleaned = _shorten(" ".join(item.split()))
            raise QueryError(
                N_("In “{query}”: {error}"), error.position, query=cleaned, error=error
            ) from None
        key = describe(parse_query(query))
        if key not in seen:
            seen.add(key)
            queries.append(query)
    return queries
