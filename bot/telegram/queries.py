"""The queries of /subscribe, /unsubscribe and /latest, as the handlers check them beyond the
query language (`bot.matching`): how many one command may carry, whether the categories they
name exist at arXiv, and which stored ones no longer parse."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from bot.arxiv import categories as arxiv_categories
from bot.i18n import texts
from bot.matching.parser import parse_query
from bot.matching.query import QueryError, Term, iter_terms
from bot.matching.ranking import MAX_SUBSCRIPTIONS, parse_keywords

log = logging.getLogger(__name__)


def query_list(args: str) -> list[str]:
    """The queries of a command's arguments (`parse_keywords`); QueryError for more than a
    chat may follow (MAX_SUBSCRIPTIONS), as for a malformed one."""
    queries = parse_keywords(args)
    if len(queries) > MAX_SUBSCRIPTIONS:
        raise QueryError(texts.TOO_MANY_QUERIES, count=len(queries), max=MAX_SUBSCRIPTIONS)
    return queries


def _typed_category(term: Term) -> str:
    """The category as the user typed it in a cat: term, without its field."""
    _, colon, rest = term.text.partition(":")
    return rest if colon else term.text


def _exists(term: Term) -> bool:
    """Whether a cat: term can name a category of arXiv: a known category (or an archive of
    its own, such as hep-th), or for cat:cs.* the start of one."""
    name = term.words[0]
    if not term.prefix:
        return arxiv_categories.lookup(name) is not None
    names = (*arxiv_categories.CATEGORIES, *arxiv_categories.ALIASES)
    return any(known.casefold().startswith(name) for known in names)


def unknown_categories(queries: Sequence[str]) -> list[arxiv_categories.UnknownCategory]:
    """The categories named by the queries' cat: terms that arXiv does not have (cat:cs.LGG),
    each once, with suggestions; the queries must parse."""
    unknown: dict[str, arxiv_categories.UnknownCategory] = {}
    for query in queries:
        for term, _ in iter_terms(parse_query(query)):
            if term.field != "categories" or _exists(term):
                continue
            typed = _typed_category(term)
            if typed.casefold() not in unknown:
                suggestions = arxiv_categories.suggestions(typed.rstrip("*"))
                unknown[typed.casefold()] = arxiv_categories.UnknownCategory(typed, suggestions)
    return list(unknown.values())
