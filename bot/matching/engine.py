"""Match papers against many subscriptions at once: one pass per paper over an index of terms.

`Engine` indexes the distinct terms of all subscriptions by normalised word (single words,
prefixes, and word pairs for phrases). Each paper's words are looked up once, which gives the
terms that occur in it and in which fields. Queries are then checked together for a batch of
papers, and only those that a found term can satisfy: a single term or an OR of terms by the
papers of its terms, anything else compiled to set operations on those papers. Identical
queries (equal trees: `Diffusion  models` and `diffusion model`) are checked once for all
their subscriptions, whose results are prepared when the engine is built.

`evaluate` and `matched_fields` are the simple reference: they walk the tree and scan the
paper's words. The engine gives exactly their answers (tests/test_engine.py checks it on
random queries and papers).
"""

from __future__ import annotations

import contextlib
import gc
import itertools
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TypeAlias, TypeVar

from bot.matching.normalize import Document, document, singular
from bot.matching.parser import parse_query
from bot.matching.query import And, Not, Or, Query, QueryError, Term, positive_terms
from bot.models import Paper

FIELDS = ("title", "abstract", "authors", "categories")
_TITLE, _ABSTRACT, _AUTHORS, _CATEGORIES = 1, 2, 4, 8
_FIELDS_OF = tuple(
    tuple(name for bit, name in enumerate(FIELDS) if mask >> bit & 1) for mask in range(16)
)
_AUTHOR_SEPARATOR = "|"  # between two authors' words: never a word, so phrases cannot span it
_MAX_LEARNED = 500_000  # words whose prefix matches are remembered

Result: TypeAlias = list[tuple[int, tuple[str, ...]]]


# --- the reference evaluator ------------------------------------------------------------------


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


# --- the index of words -----------------------------------------------------------------------


def _same(word: str) -> str:
    return word


_Payload: TypeAlias = tuple[int, ...]
_K = TypeVar("_K", str, tuple[str, str])


class _WordIndex:
    """Word patterns (words, prefixes, phrases) of one kind of field, found in one pass.

    Each pattern carries, for each channel (title and abstract share the patterns of text
    fields), the terms that occur where it occurs; `find` returns those terms.
    """

    def __init__(self, plurals: bool, channels: int) -> None:
        self._stem = singular if plurals else _same
        self._channels = range(channels)
        self._patterns: dict[tuple[tuple[str, ...], bool], int] = {}
        self._payloads: list[list[list[int]]] = [[] for _ in self._channels]  # [channel][pattern]
        self._exact: dict[str, list[int]] = {}  # single words, and what prefixes spell
        self._prefixes: dict[str, list[int]] = {}
        self._shortest_prefix = 0
        # Phrases by their first two words, or first word when the second is a prefix, with
        # the substrings that confirm the rest (none for a two-word phrase).
        self._pairs: dict[tuple[str, str], list[tuple[int, tuple[str, ...]]]] = {}
        self._firsts: dict[str, list[tuple[int, tuple[str, ...]]]] = {}
        # After freeze(), by channel: terms by word, by word pair, by first word.
        self._words: list[dict[str, _Payload]] = []
        self._pair_terms: list[dict[tuple[str, str], list[tuple[_Payload, tuple[str, ...]]]]] = []
        self._pair_keys: list[frozenset[tuple[str, str]]] = []
        self._first_terms: list[dict[str, list[tuple[_Payload, tuple[str, ...]]]]] = []
        self._seen: set[str] = set()  # words whose prefix patterns are in _words

    def __len__(self) -> int:
        return len(self._patterns)

    def add(self, words: tuple[str, ...], prefix: bool, channel: int, term: int) -> None:
        """Index a term: it occurs in ``channel`` wherever the pattern (words, prefix) does."""
        key = (words, prefix)
        pattern = self._patterns.get(key)
        if pattern is None:
            pattern = self._patterns[key] = len(self._patterns)
            for payloads in self._payloads:
                payloads.append([])
            self._register(pattern, words, prefix)
        self._payloads[channel][pattern].append(term)

    def _register(self, pattern: int, words: tuple[str, ...], prefix: bool) -> None:
        last = words[-1]
        if len(words) == 1:
            self._exact.setdefault(self._stem(last) if prefix else last, []).append(pattern)
            if prefix:
                self._prefixes.setdefault(last, []).append(pattern)
            return
        head = " " + " ".join(words[:-1]) + " "
        if prefix:
            spelled = head + self._stem(last) + " "  # what models* also matches: model
            confirm: tuple[str, ...] = tuple(dict.fromkeys((head + last, spelled)))
        else:
            confirm = (head + last + " ",) if len(words) > 2 else ()
        if len(words) == 2 and prefix:
            self._firsts.setdefault(words[0], []).append((pattern, confirm))
        else:
            self._pairs.setdefault((words[0], words[1]), []).append((pattern, confirm))

    def _terms(self, channel: int, patterns: Iterable[int]) -> _Payload:
        payloads = self._payloads[channel]
        return tuple(term for pattern in patterns for term in payloads[pattern])

    def _by_channel(
        self, source: dict[_K, list[tuple[int, tuple[str, ...]]]], channel: int
    ) -> dict[_K, list[tuple[_Payload, tuple[str, ...]]]]:
        """Phrase entries with the channel's terms instead of patterns (none: left out)."""
        found: dict[_K, list[tuple[_Payload, tuple[str, ...]]]] = {}
        for key, entries in source.items():
            with_terms = [(self._terms(channel, (p,)), confirm) for p, confirm in entries]
            if any(terms for terms, _ in with_terms):
                found[key] = [(terms, confirm) for terms, confirm in with_terms if terms]
        return found

    def freeze(self) -> None:
        """Prepare the lookups once all patterns are added (again: forget learned words)."""
        self._words, self._pair_terms, self._first_terms = [], [], []
        for channel in self._channels:
            self._words.append(
                {w: self._terms(channel, patterns) for w, patterns in self._exact.items()}
            )
            self._pair_terms.append(self._by_channel(self._pairs, channel))
            self._first_terms.append(self._by_channel(self._firsts, channel))
        self._pair_keys = [frozenset(pairs) for pairs in self._pair_terms]
        self._shortest_prefix = min(map(len, self._prefixes), default=0)
        self._seen = set()

    def _learn(self, words: set[str]) -> None:
        """Remember which prefix patterns each new word completes."""
        prefixes, shortest = self._prefixes, self._shortest_prefix
        for word in words:
            found = [
                pattern
                for end in range(shortest, len(word) + 1)
                for pattern in prefixes.get(word[:end], ())
            ]
            if found:
                for channel, known in zip(self._channels, self._words, strict=True):
                    known[word] = known.get(word, ()) + self._terms(channel, found)
        self._seen |= words

    def find(self, tokens: Sequence[str], channel: int) -> list[int]:
        """The terms of the channel that occur in the words (some possibly twice)."""
        present = set(tokens)
        if self._prefixes:
            if len(self._seen) > _MAX_LEARNED:
                self.freeze()  # a long-running engine must not grow without bound
            unseen = present - self._seen
            if unseen:
                self._learn(unseen)
        words = self._words[channel]
        found = list(itertools.chain.from_iterable(map(words.__getitem__, words.keys() & present)))
        padded = ""
        pairs = self._pair_terms[channel]
        if pairs and len(tokens) > 1:
            for pair in self._pair_keys[channel].intersection(itertools.pairwise(tokens)):
                for terms, confirm in pairs[pair]:
                    if confirm:
                        padded = padded or " " + " ".join(tokens) + " "
                        if not _contains(padded, confirm):
                            continue
                    found += terms
        firsts = self._first_terms[channel]
        for word in firsts.keys() & present if firsts else ():
            padded = padded or " " + " ".join(tokens) + " "
            for terms, confirm in firsts[word]:
                if _contains(padded, confirm):
                    found += terms
        return found


def _contains(text: str, needles: tuple[str, ...]) -> bool:
    return any(needle in text for needle in needles)


# --- compiling queries ------------------------------------------------------------------------


def _cost(term: Term) -> float:
    """A guess of how often a term occurs, to pick the rarest terms as a query's triggers."""
    if term.field == "categories":
        return 10_000.0 if term.prefix else 1_000.0
    if term.field == "authors":
        return 1.0
    cost = 100.0 / len(term.words) ** 2 * (4 if term.prefix else 1)
    return cost / 5 if term.field == "title" else cost


def _guarantee(query: Query) -> frozenset[Term] | None:
    """Terms one of which occurs in every matching paper (None: no such set; parse_query
    refuses those queries). From an AND, the rarest child's terms are enough."""
    if isinstance(query, Term):
        return frozenset((query,))
    if isinstance(query, Not):
        return None
    parts = [_guarantee(child) for child in query.children]
    if isinstance(query, Or):
        return None if None in parts else frozenset().union(*filter(None, parts))
    sets = [part for part in parts if part is not None]
    return min(sets, key=lambda terms: sum(map(_cost, terms)), default=None)


class _Part:
    """A compiled part of a query: the papers of a batch in which it holds (kept sets: the
    result must not be modified)."""

    __slots__ = ()

    def papers(self, batch: _Batch) -> set[int]:
        raise NotImplementedError


class _Leaf(_Part):
    __slots__ = ("tid",)

    def __init__(self, tid: int) -> None:
        self.tid = tid

    def papers(self, batch: _Batch) -> set[int]:
        return batch.papers[self.tid]


class _Not(_Part):
    __slots__ = ("child",)

    def __init__(self, child: _Part) -> None:
        self.child = child

    def papers(self, batch: _Batch) -> set[int]:
        return batch.universe - self.child.papers(batch)


class _All(_Part):
    """An AND: the papers of all its positive parts, less those of its negated parts."""

    __slots__ = ("unwanted", "wanted")

    def __init__(self, wanted: list[_Part], unwanted: list[_Part]) -> None:
        self.wanted, self.unwanted = tuple(wanted), tuple(unwanted)

    def papers(self, batch: _Batch) -> set[int]:
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


class _Any(_Part):
    __slots__ = ("parts",)

    def __init__(self, parts: list[_Part]) -> None:
        self.parts = tuple(parts)

    def papers(self, batch: _Batch) -> set[int]:
        return set().union(*(part.papers(batch) for part in self.parts))


def _compile(query: Query, term_id: Callable[[Term], int]) -> _Part:
    """The query as set operations on the papers that contain each of its terms."""
    if isinstance(query, Term):
        return _Leaf(term_id(query))
    if isinstance(query, Not):
        return _Not(_compile(query.child, term_id))
    if isinstance(query, Or):
        return _Any([_compile(child, term_id) for child in query.children])
    wanted = [_compile(c, term_id) for c in query.children if not isinstance(c, Not)]
    unwanted = [_compile(c.child, term_id) for c in query.children if isinstance(c, Not)]
    return _All(wanted, unwanted)


# --- the engine -------------------------------------------------------------------------------

_NO_RESULT: Result = []  # never extended: results are only added to other lists
_MASKS = {None: (1, 2, 3), "title": (1,), "abstract": (2,), "authors": (4,), "categories": (8,)}


class Engine:
    """All subscriptions' queries, indexed to match papers in one pass each.

    Subscriptions are (id, query text) pairs. A query that does not parse is skipped and its
    QueryError kept in ``rejected`` (stored subscriptions may predate a grammar change; one
    bad query must not stop the others). Results are ``(subscription id, fields)`` pairs, the
    fields as in `matched_fields`, grouped by query in no particular order.

    Each paper's words are looked up in the index once, giving the terms that occur in it and
    where. Queries are then checked for the whole batch at once, and only those that one of
    the found terms can satisfy: each kind of query with set operations on the papers that
    contain its terms (see `_Batch`).
    """

    def __init__(self, subscriptions: Iterable[tuple[int, str]]) -> None:
        self.rejected: dict[int, QueryError] = {}
        self._text = _WordIndex(plurals=True, channels=2)  # title, abstract
        self._authors = _WordIndex(plurals=False, channels=1)
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
        self._compiled: dict[int, _Part] = {}
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
            self._compiled[number] = _compile(query, self._term)
            for term in _guarantee(query) or ():
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
            batch = _Batch(self, [self._hits(doc) for doc in docs])
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


class _Batch:
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
