"""A query compiled to set operations on the papers of a batch, and the terms that trigger it.

The engine checks a query that is more than a term or an OR of terms only when one of the
terms of `guarantee` occurs in a paper (one of them occurs in every match), and then as a
`Part`: `compile_query` turns the tree into intersections, unions and differences of the
batch's papers that contain each term.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.matching.query import Not, Or, Query, Term

if TYPE_CHECKING:
    from bot.matching.engine import Batch


def _cost(term: Term) -> float:
    """A guess of how often a term occurs, to pick the rarest terms as a query's triggers."""
    if term.field == "categories":
        return 10_000.0 if term.prefix else 1_000.0
    if term.field == "authors":
        return 1.0
    cost = 100.0 / len(term.words) ** 2 * (4 if term.prefix else 1)
    return cost / 5 if term.field == "title" else cost


def guarantee(query: Query) -> frozenset[Term] | None:
    """Terms one of which occurs in every matching paper (None: no such set; parse_query
    refuses those queries). From an AND, the rarest child's terms are enough."""
    if isinstance(query, Term):
        return frozenset((query,))
    if isinstance(query, Not):
        return None
    parts = [guarantee(child) for child in query.children]
    if isinstance(query, Or):
        return None if None in parts else frozenset().union(*filter(None, parts))
    sets = [part for part in parts if part is not None]
    return min(sets, key=lambda terms: sum(map(_cost, terms)), default=None)


class Part:
    """A compiled part of a query: the papers of a batch in which it holds (kept sets: the
    result must not be modified)."""

    __slots__ = ()

    def papers(self, batch: Batch) -> set[int]:
        raise NotImplementedError


class _Leaf(Part):
    __slots__ = ("tid",)

    def __init__(self, tid: int) -> None:
        self.tid = tid

    def papers(self, batch: Batch) -> set[int]:
        return batch.papers[self.tid]


class _Not(Part):
    __slots__ = ("child",)

    def __init__(self, child: Part) -> None:
        self.child = child

    def papers(self, batch: Batch) -> set[int]:
        return batch.universe - self.child.papers(batch)


class _All(Part):
    """An AND: the papers of all its positive parts, less those of its negated parts."""

    __slots__ = ("unwanted", "wanted")

    def __init__(self, wanted: list[Part], unwanted: list[Part]) -> None:
        self.wanted, self.unwanted = tuple(wanted), tuple(unwanted)

    def papers(self, batch: Batch) -> set[int]:
        found = self.wanted[0].papers(batch) if self.wanted else batch.universe
        for part in self.wanted[1:]:
            if not found:
                return found
            found = found & part.papers(batch)
        for part in self.unwanted:
            if not found:
                return found
            found = found - part.papers(batch)  # iterates the smaller set
        return found


class _Any(Part):
    __slots__ = ("parts",)

    def __init__(self, parts: list[Part]) -> None:
        self.parts = tuple(parts)

    def papers(self, batch: Batch) -> set[int]:
        return set().union(*(part.papers(batch) for part in self.parts))


def compile_query(query: Query, term_id: Callable[[Term], int]) -> Part:
    """The query as set operations on the papers that contain each of its terms."""
    if isinstance(query, Term):
        return _Leaf(term_id(query))
    if isinstance(query, Not):
        return _Not(compile_query(query.child, term_id))
    if isinstance(query, Or):
        return _Any([compile_query(child, term_id) for child in query.children])
    wanted = [compile_query(c, term_id) for c in query.children if not isinstance(c, Not)]
    unwanted = [compile_query(c.child, term_id) for c in query.children if isinstance(c, Not)]
    return _All(wanted, unwanted)
