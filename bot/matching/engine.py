"""Match papers against many subscriptions at once: one pass per paper over an index of terms.

`Engine` indexes the distinct terms of all subscriptions by normalised word (single words,
prefixes, and word pairs for phrases). Each paper's words are looked up once, which gives the
terms that occur in it and in which fields. Queries are then checked together for a batch of
papers, and only those that a found term can satisfy: a single term or an OR of terms by the
papers of its terms, anything else compiled to set operations on those papers. Identical
queries (equal trees: `Diffusion  models` and `diffusion model`) are checked once for all
their subscriptions, whose results are prepared when the engine is built.

The index of words is `bot.matching.word_index`, the compiled queries
`bot.matching.compiled_query`. `bot.matching.evaluator` is the simple reference: it walks the
tree and scans the paper's words. The engine gives exactly its answers
(tests/matching/test_engine.py checks it on random queries and papers).
"""

from __future__ import annotations

import contextlib
import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import TypeAlias

from bot.matching.compiled_query import Part, compile_query, guarantee
from bot.matching.evaluator import FIELDS
from bot.matching.normalize import document
from bot.matching.parser import parse_query
from bot.matching.query import Or, Query, QueryError, Term, positive_terms
from bot.matching.word_index import WordIndex
from bot.models import Document, Paper

_TITLE, _ABSTRACT, _AUTHORS, _CATEGORIES = 1, 2, 4, 8
_FIELDS_OF = tuple(
    tuple(name for bit, name in enumerate(FIELDS) if mask >> bit & 1) for mask in range(16)
)
_AUTHOR_SEPARATOR = "|"  # between two authors' words: never a word, so phrases cannot span it

Result: TypeAlias = list[tuple[int, tuple[str, ...]]]


# --- the engine -------------------------------------------------------------------------------

_NO_RESULT: Result = []  # never extended: results are only added to other lists
_MASKS = {None: (1, 2, 3), "title": (1,), "abstract": (2,), "authors": (4,), "categories": (8,)}


class Engine:
    """All subscriptions' queries, indexed to match papers in one pass each.

    Subscriptions are (id, query text) pairs. A query that does not parse is skipped and its
    QueryError kept in ``rejected`` (stored subscriptions may predate a grammar change; one
    bad query must not stop the others). Results are ``(subscription id, fields)`` pairs, the
    fields as in `bot.matching.evaluator.matched_fields`, grouped by query in no particular order.

    Each paper's words are looked up in the index once, giving the terms that occur in it and
    where. Queries are then checked for the whole batch at once, and only those that one of
    the found terms can satisfy: each kind of query with set operations on the papers that
    contain its terms (see `Batch`).
    """

    def __init__(self, subscriptions: Iterable[tuple[int, str]]) -> None:
        self.rejected: dict[int, QueryError] = {}
        self._text = WordIndex(plurals=True, channels=2)  # title, abstract
        self._authors = WordIndex(plurals=False, channels=1)
        self._term_ids: dict[Term, int] = {}
        self._masks: list[tuple[int, ...]] = []  # by term: the field masks it can have
        self._category_exact: dict[str, list[int]] = {}
        self._category_prefixes: dict[str, list[int]] = {}
        self._category_cache: dict[str, tuple[int, ...]] = {}
        # By term: the query that is just this term (or -1), the ORs of terms it is in, and
        # the other queries it triggers (one of their rarest terms occurs in every match).
        self._direct: list[int] = []
        self._ors: dict[int, list[int]] = {}
        self._compound: dict[int, list[int]] = {}
        # By query: subscription ids, positive terms, what a match reports by field mask, and
        # for the other queries their compiled form.
        self._subscribers: list[tuple[int, ...]] = []
        self._positive: list[tuple[int, ...]] = []
        self._results: list[list[Result]] = []
        self._compiled: dict[int, Part] = {}
        for query, ids in self._group(subscriptions).items():
            self._add(query, tuple(ids))
        self._text.freeze()
        self._authors.freeze()

    def _group(self, subscriptions: Iterable[tuple[int, str]]) -> dict[Query, list[int]]:
        """Subscription ids by parsed query: each distinct text is parsed once."""
        parsed: dict[str, Query | QueryError] = {}
        groups: dict[Query, list[int]] = {}
        for subscription, text in subscriptions:
            query = parsed.get(text)
            if query is None:
                try:
                    query = parse_query(text)
                except QueryError as error:
                    query = error
                parsed[text] = query
            if isinstance(query, QueryError):
                self.rejected[subscription] = query
            else:
                groups.setdefault(query, []).append(subscription)
        return groups

    def _term(self, term: Term) -> int:
        """The id of a term, indexed on first sight."""
        if term in self._term_ids:
            return self._term_ids[term]
        tid = self._term_ids[term] = len(self._term_ids)
        self._direct.append(-1)
        self._masks.append(_MASKS[term.field])
        if term.field == "categories":
            index = self._category_prefixes if term.prefix else self._category_exact
            index.setdefault(term.words[0], []).append(tid)
        elif term.field == "authors":
            self._authors.add(term.words, term.prefix, 0, tid)
        else:
            if term.field in (None, "title"):
                self._text.add(term.words, term.prefix, 0, tid)
            if term.field in (None, "abstract"):
                self._text.add(term.words, term.prefix, 1, tid)
        return tid

    def _add(self, query: Query, subscribers: tuple[int, ...]) -> None:
        number = len(self._subscribers)
        self._subscribers.append(subscribers)
        positive = tuple(map(self._term, positive_terms(query)))
        self._positive.append(positive)
        self._results.append(self._result_table(subscribers, positive))
        if isinstance(query, Term):
            self._direct[positive[0]] = number
        elif isinstance(query, Or) and all(isinstance(child, Term) for child in query.children):
            for tid in positive:
                self._ors.setdefault(tid, []).append(number)
        else:
            self._compiled[number] = compile_query(query, self._term)
            for term in guarantee(query) or ():
                self._compound.setdefault(self._term(term), []).append(number)

    def _category_terms(self, name: str) -> tuple[int, ...]:
        found = self._category_cache.get(name)
        if found is None:
            found = (*self._category_exact.get(name, ()),)
            for end in range(1, len(name) + 1):
                found += (*self._category_prefixes.get(name[:end], ()),)
            self._category_cache[name] = found
        return found

    def _hits(self, doc: Document) -> dict[int, int]:
        """The terms that occur in the paper, with the fields they occur in (bit masks)."""
        if not len(self._text):
            found: dict[int, int] = {}
        else:
            found = dict.fromkeys(self._text.find(doc.abstract, 1), _ABSTRACT)
            get = found.get
            for tid in self._text.find(doc.title, 0):
                found[tid] = get(tid, 0) | _TITLE
        if len(self._authors) and doc.authors:
            names = [word for author in doc.authors for word in (*author, _AUTHOR_SEPARATOR)]
            found.update(dict.fromkeys(self._authors.find(names, 0), _AUTHORS))
        if self._category_exact or self._category_prefixes:
            for name in doc.categories:
                found.update(dict.fromkeys(self._category_terms(name), _CATEGORIES))
        return found

    def _result_table(
        self, subscribers: tuple[int, ...], positive: tuple[int, ...]
    ) -> list[Result]:
        """By field mask, what a match reports: made now for every mask the terms can give."""
        masks = {0}
        for tid in positive:
            masks |= {mask | more for mask in masks for more in self._masks[tid]}
        table: list[Result] = [_NO_RESULT] * 16
        for mask in masks - {0}:
            fields = _FIELDS_OF[mask]
            table[mask] = [(subscriber, fields) for subscriber in subscribers]
        return table

    def match(self, paper: Paper | Document) -> Result:
        """The subscriptions the paper matches, with the fields where their terms occur."""
        return self.match_batch((paper,))[0]

    def match_batch(self, papers: Iterable[Paper | Document]) -> list[Result]:
        """`match` for each paper, in order (faster than one by one)."""
        docs = [paper if isinstance(paper, Document) else document(paper) for paper in papers]
        with _collection_paused():
            batch = Batch(self, [self._hits(doc) for doc in docs])
            batch.direct()
            batch.ors()
            batch.compound()
        return batch.out


@contextlib.contextmanager
def _collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector, as it was, while a batch is matched.

    Matching allocates hundreds of thousands of lists, sets and tuples that form no cycles:
    the collections they trigger (which walk the engine's index too) found nothing and took
    about a fifth of the time. Reference counting still frees everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Papers(dict[int, set[int]]):
    """By term, the set of papers of the batch that contain it, made on first use."""

    def __init__(self, postings: dict[int, list[tuple[int, list[int]]]]) -> None:
        super().__init__()
        self._postings = postings

    def __missing__(self, tid: int) -> set[int]:
        entries = self._postings.get(tid, ())
        found = self[tid] = {index for _, papers in entries for index in papers}
        return found


class Batch:
    """Papers being matched together: the terms found in each, and the papers of each term.

    Each kind of query is checked once for the whole batch with set operations on the papers
    of its terms; the loops over papers are written out (no call per paper) for speed.
    """

    def __init__(self, engine: Engine, hits: list[dict[int, int]]) -> None:
        self.engine = engine
        self.hits = hits  # by paper: term -> field mask
        self.out: list[Result] = [[] for _ in hits]
        self.universe = set(range(len(hits)))
        postings: defaultdict[int, list[int]] = defaultdict(list)
        for index, found in enumerate(hits):
            for tid, mask in found.items():
                postings[tid << 4 | mask].append(index)
        # By term: (field mask, the papers where it has those fields) for each mask it has,
        # and, when asked for, the set of all papers that contain it.
        self.postings: dict[int, list[tuple[int, list[int]]]] = {}
        for key, papers in postings.items():
            self.postings.setdefault(key >> 4, []).append((key & 15, papers))
        self.papers = _Papers(self.postings)
        self.terms = self.postings.keys()

    def _emit_term(self, query: int, tid: int, keep: set[int] | None) -> None:
        """The query matches the papers with the term (those in ``keep``, if given), with the
        term's fields."""
        table, out = self.engine._results[query], self.out
        for mask, papers in self.postings[tid]:
            chunk = table[mask]
            for index in papers if keep is None else keep.intersection(papers):
                out[index] += chunk

    def _emit_each(self, query: int, papers: Iterable[int]) -> None:
        """The query matches the papers, with the fields where its positive terms occur."""
        table, out, hits = self.engine._results[query], self.out, self.hits
        positive = self.engine._positive[query]
        if len(positive) == 2:  # the usual case, unrolled
            first, second = positive
            for index in papers:
                get = hits[index].get
                out[index] += table[get(first, 0) | get(second, 0)]
            return
        for index in papers:
            get, mask = hits[index].get, 0
            for tid in positive:
                mask |= get(tid, 0)
            out[index] += table[mask]

    def direct(self) -> None:
        """Queries that are a single term: the papers that contain it."""
        direct, results, out = self.engine._direct, self.engine._results, self.out
        for tid, entries in self.postings.items():
            query = direct[tid]
            if query >= 0:
                table = results[query]
                for mask, papers in entries:
                    chunk = table[mask]
                    for index in papers:
                        out[index] += chunk

    def ors(self) -> None:
        """ORs of terms: the papers that contain any of them."""
        engine, ors, terms, papers = self.engine, self.engine._ors, self.terms, self.papers
        queries: set[int] = set()
        for tid in terms & ors.keys():
            queries.update(ors[tid])
        for query in queries:
            present = [tid for tid in engine._positive[query] if tid in terms]
            if len(present) == 1:
                self._emit_term(query, present[0], None)
                continue
            seen: set[int] = set()
            several: set[int] = set()  # papers with more than one of the terms
            for tid in present:
                several |= seen & papers[tid]
                seen |= papers[tid]
            for tid in present:
                self._emit_term(query, tid, papers[tid] - several if several else None)
            self._emit_each(query, several)

    def compound(self) -> None:
        """Other queries, compiled to set operations, if one of their triggers occurs."""
        engine, compound = self.engine, self.engine._compound
        queries: set[int] = set()
        for tid in self.terms & compound.keys():
            queries.update(compound[tid])
        for query in queries:
            found = engine._compiled[query].papers(self)
            if not found:
                continue
            positive = engine._positive[query]
            if len(positive) == 1:  # every match has it: its fields are the query's
                self._emit_term(query, positive[0], found)
            else:
                self._emit_each(query, found)
