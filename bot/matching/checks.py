"""Checks on a whole parsed query: refuse those that would match almost every paper, or none.

`check_anchored` refuses a query that can match a paper without any of its positive terms
(diffusion OR -medical); `check_satisfiable` one that excludes what it requires (diffusion
-diffusion, "diffusion model" -model), found by a bounded search over the ways to satisfy
it, with `implies` between terms.
"""

from __future__ import annotations

from bot.matching.normalize import singular
from bot.matching.query import And, Not, Query, QueryError, Term, positive_terms, shown
from bot.messages import N_

_SAT_BUDGET = 2000  # branches explored when looking for a contradiction; beyond: accept


def _unanchored(node: Query) -> Not | None:
    """A NOT that lets the query match a paper in which none of its positive terms occurs."""
    if isinstance(node, Term):
        return None
    if isinstance(node, Not):
        return node
    culprits = [_unanchored(child) for child in node.children]
    if isinstance(node, And):
        return None if None in culprits else culprits[0]
    return next((culprit for culprit in culprits if culprit is not None), None)


def check_anchored(query: Query) -> None:
    """Refuse queries that match papers without any of their terms: they would match almost all."""
    culprit = _unanchored(query)
    if culprit is None:
        return
    if not positive_terms(query):
        raise QueryError(
            N_(
                "The query only excludes terms: at least one positive term is needed, as in "
                "diffusion -medical."
            ),
            culprit.position,
        )
    raise QueryError(
        N_(
            "Each side of OR needs a positive term: the part at position {at} only excludes, "
            "so it would match almost every paper."
        ),
        culprit.position,
        at=culprit.position + 1,
    )


def _covers(outer: str | None, inner: str | None) -> bool:
    """Whether every field searched by a term in ``outer`` is searched by one in ``inner``."""
    return outer == inner or (inner is None and outer in ("title", "abstract"))


def _word_implies(word: str, prefix: bool, other: str, other_prefix: bool, plurals: bool) -> bool:
    """Whether every text word matching (word, prefix) also matches (other, other_prefix)."""
    stem = singular if plurals else str
    if not other_prefix:
        return not prefix and word == other
    if not prefix:
        return word.startswith(other) or word == stem(other)
    # word* matches w when w starts with word or w == stem(word).
    spelled = stem(word)
    return word.startswith(other) and (spelled.startswith(other) or spelled == stem(other))


def implies(term: Term, other: Term) -> bool:
    """Whether ``other`` occurs in every paper in which ``term`` does (conservatively)."""
    if not _covers(term.field, other.field):
        return False
    if term.field == "categories":
        name, other_name = term.words[0], other.words[0]
        if other.prefix:
            return name.startswith(other_name)
        return not term.prefix and name == other_name
    span, last = len(other.words), len(term.words) - 1
    for start in range(len(term.words) - span + 1):
        if all(
            _word_implies(
                term.words[start + index],
                term.prefix and start + index == last,
                word,
                other.prefix and index == span - 1,
                term.plurals,
            )
            for index, word in enumerate(other.words)
        ):
            return True
    return False


class _Contradiction:
    """A search for one consistent way to satisfy the query (a small DPLL over its terms)."""

    def __init__(self) -> None:
        self.budget = _SAT_BUDGET
        self.conflict: tuple[Term, Term] | None = None

    def satisfiable(
        self, goals: list[tuple[Query, bool]], required: list[Term], excluded: list[Term]
    ) -> bool:
        self.budget -= 1
        if self.budget < 0:
            return True  # too many alternatives to try: give the query the benefit of the doubt
        goals, required, excluded = list(goals), list(required), list(excluded)
        while goals:
            node, wanted = goals.pop()
            if isinstance(node, Term):
                conflicts = (
                    [(node, other) for other in excluded if implies(node, other)]
                    if wanted
                    else [(other, node) for other in required if implies(other, node)]
                )
                if conflicts:
                    self.conflict = self.conflict or conflicts[0]
                    return False
                (required if wanted else excluded).append(node)
            elif isinstance(node, Not):
                goals.append((node.child, not wanted))
            elif isinstance(node, And) == wanted:  # all children must hold (or all fail)
                goals.extend((child, wanted) for child in node.children)
            else:
                return any(
                    self.satisfiable([*goals, (child, wanted)], required, excluded)
                    for child in node.children
                )
        return True


def check_satisfiable(query: Query) -> None:
    """Refuse a query that can match nothing because it excludes what it requires."""
    search = _Contradiction()
    if search.satisfiable([(query, True)], [], []) or search.conflict is None:
        return
    required, excluded = search.conflict
    at = excluded.position + 1
    if required == excluded:
        raise QueryError(
            N_(
                "The query can never match: “{term}” is both required and excluded "
                "(at position {at})."
            ),
            excluded.position,
            term=shown(excluded.text),
            at=at,
        )
    raise QueryError(
        N_(
            "The query can never match: every paper with “{required}” also has “{excluded}”, "
            "which it excludes at position {at}."
        ),
        excluded.position,
        required=shown(required.text),
        excluded=shown(excluded.text),
        at=at,
    )
