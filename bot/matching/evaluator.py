"""The reference matcher: whether one paper matches one query, by walking the tree.

`evaluate` and `matched_fields` scan the paper's words for each term; they are simple rather
than fast. `bot.matching.engine.Engine` gives exactly their answers for all subscriptions at
once (tests/matching/test_engine.py checks it on random queries and papers), and ranking uses
`occurrences` to find what to bold.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from bot.matching.normalize import singular
from bot.matching.query import And, Not, Query, Term, positive_terms
from bot.models import Document

FIELDS = ("title", "abstract", "authors", "categories")


def _word_matches(word: str, wanted: str, prefix: bool, plurals: bool) -> bool:
    """A prefix matches words that start with it, and the word it spells (models* ⊇ model)."""
    if not prefix:
        return word == wanted
    return word.startswith(wanted) or word == (singular(wanted) if plurals else wanted)


def occurrences(term: Term, tokens: Sequence[str]) -> Iterator[int]:
    """Where the term's words start among the tokens (words of one field in normal form)."""
    span, last = len(term.words), len(term.words) - 1
    for start in range(len(tokens) - span + 1):
        if all(
            _word_matches(tokens[start + i], wanted, term.prefix and i == last, term.plurals)
            for i, wanted in enumerate(term.words)
        ):
            yield start


def _occurs(term: Term, tokens: Sequence[str]) -> bool:
    return next(occurrences(term, tokens), None) is not None


def term_fields(term: Term, doc: Document) -> tuple[str, ...]:
    """The fields of the paper in which the term occurs."""
    if term.field == "categories":
        name = term.words[0]
        found = any(c.startswith(name) if term.prefix else c == name for c in doc.categories)
        return ("categories",) if found else ()
    if term.field == "authors":
        return ("authors",) if any(_occurs(term, author) for author in doc.authors) else ()
    fields = ("title", "abstract") if term.field is None else (term.field,)
    return tuple(name for name in fields if _occurs(term, getattr(doc, name)))


def evaluate(query: Query, doc: Document) -> bool:
    """Whether the paper matches the query."""
    if isinstance(query, Term):
        return bool(term_fields(query, doc))
    if isinstance(query, Not):
        return not evaluate(query.child, doc)
    if isinstance(query, And):
        return all(evaluate(child, doc) for child in query.children)
    return any(evaluate(child, doc) for child in query.children)


def matched_fields(query: Query, doc: Document) -> tuple[str, ...] | None:
    """None if the paper does not match; else the fields where its positive terms occur."""
    if not evaluate(query, doc):
        return None
    found = {name for term in positive_terms(query) for name in term_fields(term, doc)}
    return tuple(name for name in FIELDS if name in found)
