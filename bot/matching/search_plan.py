"""Search plans: what the full-text index of the stored papers must find for a query.

A `SearchPlan` (bot.models) finds every paper its query matches, perhaps more, never fewer: the
exact matcher (`bot.matching.evaluator`) checks what it finds. A term becomes a `WordPattern`,
AND an `AllOf`, OR an `AnyOf`. A plan is exact when the index finds exactly the papers the
query matches; only exact plans are used under a negation (an inexact one there would lose
matches), otherwise the negation is left out and the plan finds more.

The index (bot.storage.search) stores each word as one token, different words as different
tokens, and a word starts with another exactly when its token starts with the other's token.
So a term's pattern is exact when each of its words is:

- not empty (an empty prefix would be every word: such a term has no plan);
- at most `_MAX_EXACT_WORD` characters: FTS5 cuts tokens to 32,768 bytes and the index spends
  at most 6 bytes on a character, so shorter words are never cut;
- a word of the normal form (letters, digits, marks), or a category name: the authors column
  holds a token "-" between authors, which a prefix "-" would find.

Every word `parse_query` gives is such a word. Each part of an AND is planned as itself or,
when only that is exact, excluded as its negation (negations pushed to the terms): "x -(-a OR
-b)" is planned as "x a b", "x (-a OR b)" as "x -(a -b)". So with exact terms a query or its
negation has an exact plan, and every query `parse_query` accepts (each side of its ORs has
a positive term) has one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from bot.matching.normalize import singular
from bot.matching.query import And, Not, Or, Query, Term
from bot.models import AllOf, AnyOf, SearchPlan, WordPattern

_TEXT_FIELDS = ("title", "abstract")
_MAX_EXACT_WORD = 4000

Planned = tuple[SearchPlan | None, bool]


def search_plan(query: Query) -> SearchPlan | None:
    """What finds every paper the query matches; None: every paper is a candidate."""
    return search_plan_exact(query)[0]


def search_plan_any(queries: Sequence[Query]) -> SearchPlan | None:
    """What finds every paper one of the queries matches; None if one of them has no plan
    (and for no queries: there is nothing to narrow)."""
    if not queries:
        return None
    return _any_of([search_plan_exact(query) for query in queries])[0]


def search_plan_exact(query: Query) -> Planned:
    """The query's plan and whether it is exact (finds exactly the papers the query matches)."""
    if isinstance(query, Term):
        return _term_plan(query)
    if isinstance(query, Not):
        if isinstance(query.child, Term):
            return None, False  # nothing finds the papers without a word but all papers
        return search_plan_exact(_negated(query.child))
    if isinstance(query, Or):
        return _any_of([search_plan_exact(child) for child in query.children])
    return _all_of(query.children)


def _negated(query: Query) -> Query:
    """The query that matches exactly the papers `query` does not, negations moved inwards."""
    if isinstance(query, Term):
        return Not(query)
    if isinstance(query, Not):
        return query.child
    if isinstance(query, And):
        return Or(tuple(map(_negated, query.children)))
    return And(tuple(map(_negated, query.children)))


# --- terms ------------------------------------------------------------------------------------


def _exact_word(word: str, field: str | None) -> bool:
    if not 0 < len(word) <= _MAX_EXACT_WORD:
        return False
    return field == "categories" or all(unicodedata.category(c)[0] in "LNM" for c in word)


def _term_plan(term: Term) -> Planned:
    """The pattern of a term, mirroring `bot.matching.evaluator.term_fields`."""
    words = term.words[:1] if term.field == "categories" else term.words  # one name
    if not words or (term.prefix and not words[-1]):
        return None, False
    fields = _TEXT_FIELDS if term.field is None else (term.field,)
    *before, last = words
    if not term.prefix:
        pattern = WordPattern(fields, tuple(before), (last,))
    else:
        # As _word_matches: words starting with the prefix, and the word it spells (models*
        # finds "model"), unless that starts with the prefix anyway.
        spelled = singular(last) if term.plurals else last
        also = () if spelled.startswith(last) else (spelled,)
        pattern = WordPattern(fields, tuple(before), also, last)
    return pattern, all(_exact_word(word, term.field) for word in words)


# --- AND and OR -------------------------------------------------------------------------------


def _all_of(children: Sequence[Query]) -> Planned:
    """Each child is a part, or, when only its negation's plan is exact, an exclusion."""
    parts: list[SearchPlan] = []
    excluding: list[SearchPlan] = []
    exact = True
    for child in children:
        plan, child_exact = search_plan_exact(child)
        if not child_exact:
            negation, negation_exact = search_plan_exact(_negated(child))
            if negation is not None and negation_exact:
                excluding.append(negation)
                continue
        if plan is not None:
            parts.append(plan)
        exact = exact and child_exact  # else the child is left out or found inexactly
    if not parts:
        return None, False  # only exclusions: every other paper is a candidate
    # Flat, for FTS5's parser: a part's own parts and exclusions join ours, and excluding
    # a OR b is excluding a and excluding b.
    flat_parts: list[SearchPlan] = []
    for part in parts:
        if isinstance(part, AllOf):
            flat_parts += part.parts
            excluding += part.excluding
        else:
            flat_parts.append(part)
    flat_excluding: list[SearchPlan] = []
    for part in excluding:
        flat_excluding += part.parts if isinstance(part, AnyOf) else (part,)
    unique = tuple(dict.fromkeys(flat_parts))
    if len(unique) == 1 and not flat_excluding:
        return unique[0], exact
    return AllOf(unique, tuple(dict.fromkeys(flat_excluding))), exact


def _any_of(planned: Sequence[Planned]) -> Planned:
    """Papers found by any of the plans; None if one of them is None (every paper)."""
    parts: list[SearchPlan] = []
    for plan, _ in planned:
        if plan is None:
            return None, False
        parts += plan.parts if isinstance(plan, AnyOf) else (plan,)
    unique = tuple(dict.fromkeys(parts))
    exact = all(exact for _, exact in planned)
    return (unique[0] if len(unique) == 1 else AnyOf(unique)), exact
