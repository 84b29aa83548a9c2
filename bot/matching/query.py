"""The query tree of /subscribe and /latest, its canonical text, and the error a query can raise.

A parsed query (`bot.matching.parser.parse_query`) is an immutable tree of `Term`s joined by
`Not`, `And` and `Or`; equal trees are the same query up to spelling. `describe` gives its
canonical text. `QueryError` is what every part of the language raises for a query that cannot
be used.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass

from bot.messages import UserError

_SHORT_NAMES = {"title": "ti", "abstract": "abs", "authors": "au", "categories": "cat"}
_SHOWN_TERM = 40


class QueryError(UserError, ValueError):
    """A query that cannot be used; ``message`` is an English sentence for the user.

    ``position`` is the 0-based offset in the query of what is wrong (None when it is the
    query as a whole); messages count characters from 1, as people do. The message is a
    `N_` text filled with ``params``: `localized(tr)` says it in another language.
    """

    def __init__(self, template: str, position: int | None = None, **params: object) -> None:
        super().__init__(template, **params)
        self.message = str(self)
        self.position = position


# --- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """A word, phrase or prefix in normal form, in one field or (None) title and abstract."""

    words: tuple[str, ...]  # for categories: one category name, casefolded
    field: str | None = None  # "title", "abstract", "authors", "categories"
    prefix: bool = False  # the last word is a prefix (diffus*, cat:cs.*)
    text: str = dataclasses.field(default="", compare=False)  # as typed
    position: int = dataclasses.field(default=0, compare=False)

    @property
    def plurals(self) -> bool:
        """Whether the field's words had the plural rule applied (not names, not categories)."""
        return self.field not in ("authors", "categories")


@dataclass(frozen=True, slots=True)
class Not:
    child: Query
    position: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Query, ...]


Query = Term | Not | And | Or


def shown(text: str) -> str:
    """A piece of a query as an error message shows it: spaces collapsed, long ones cut."""
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN_TERM else text[: _SHOWN_TERM - 1].rstrip() + "\u2026"


# --- terms of the tree ------------------------------------------------------------------------


def iter_terms(query: Query, positive: bool = True) -> Iterator[tuple[Term, bool]]:
    """Every term of the query with whether it is positive (under an even number of NOTs)."""
    if isinstance(query, Term):
        yield query, positive
    elif isinstance(query, Not):
        yield from iter_terms(query.child, not positive)
    else:
        for child in query.children:
            yield from iter_terms(child, positive)


def positive_terms(query: Query) -> tuple[Term, ...]:
    """The distinct terms that count for a match (not excluded), in the order typed."""
    return tuple(dict.fromkeys(term for term, positive in iter_terms(query) if positive))


# --- canonical text ---------------------------------------------------------------------------


def _describe_term(term: Term) -> str:
    field = f"{_SHORT_NAMES[term.field]}:" if term.field else ""
    if term.prefix:
        return field + "-".join(term.words) + "*"
    if len(term.words) == 1:
        return field + term.words[0]
    return field + '"' + " ".join(term.words) + '"'


def describe(query: Query) -> str:
    """The canonical text of a query: equal for queries that are the same up to spelling,
    word order within AND and OR, and repetition ("Diffusion  models" = "model diffusion")."""
    if isinstance(query, Term):
        return _describe_term(query)
    if isinstance(query, Not):
        inner = describe(query.child)
        return "-" + (inner if isinstance(query.child, Term) else f"({inner})")
    parts = sorted({describe(child) for child in query.children})
    if len(parts) == 1:
        return parts[0]
    if isinstance(query, Or):
        return " OR ".join(parts)
    wrapped = {describe(child) for child in query.children if isinstance(child, Or)}
    return " ".join(f"({part})" if part in wrapped else part for part in parts)
