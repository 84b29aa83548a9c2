"""Tests for bot.matching.evaluator (the reference) and bot.matching.engine (the indexed engine,
with its word_index and compiled_query) giving its answers."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.matching import word_index as word_index_module
from bot.matching.engine import Engine
from bot.matching.evaluator import evaluate, matched_fields, occurrences, term_fields
from bot.matching.normalize import document
from bot.matching.parser import parse_query
from bot.matching.query import QueryError, Term
from bot.models import Paper


def make_paper(
    title: str = "A title",
    abstract: str = "An abstract.",
    authors: tuple[str, ...] = ("Ada Lovelace",),
    categories: tuple[str, ...] = ("cs.LG",),
    **kwargs: Any,
) -> Paper:
    fields: dict[str, Any] = {"arxiv_id": "2508.13167"}
    fields.update(kwargs)
    return Paper(title=title, abstract=abstract, authors=authors, categories=categories, **fields)


PAPER = make_paper(
    "Text-to-Image Diffusion Models",
    "We study flow matching for medical imaging. GANs are popular.",
    ('J\\"org M\\"uller', "Yann LeCun"),
    ("cs.CV", "cs.LG"),
)


def fields_of(query: str, paper: Paper = PAPER) -> tuple[str, ...] | None:
    return matched_fields(parse_query(query), document(paper))


def reference(queries: list[str], paper: Paper) -> list[tuple[int, tuple[str, ...]]]:
    """What the engine must answer: the reference evaluator on each valid query."""
    found = []
    for number, text in enumerate(queries):
        try:
            query = parse_query(text)
        except QueryError:
            continue
        fields = matched_fields(query, document(paper))
        if fields is not None:
            found.append((number, fields))
    return found


# --- the reference evaluator ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("diffusion", ("title",)),
        ("model", ("title",)),  # models in the title
        ("diffusion -medical", None),
        ("diffusion -cardiac", ("title",)),
        ('"text-to-image" OR t2i', ("title",)),
        ("text to image", ("title",)),  # three words, each somewhere
        ('cat:cs.CV (diffusion OR "flow matching")', ("title", "abstract", "categories")),
        ("au:hinton", None),
        ("au:lecun", ("authors",)),
        ("au:jörg", ("authors",)),
        ("au:jorg", ("authors",)),
        ('au:"yann lecun"', ("authors",)),
        ('au:"lecun jorg"', None),  # a phrase never spans two authors
        ("diffus*", ("title",)),
        ("ti:flow", None),
        ("abs:flow", ("abstract",)),
        ("gan", ("abstract",)),
        ("cat:cs.*", ("categories",)),
        ("cat:cs.cv", ("categories",)),
        ("cat:cs.AI", None),
        ('"image diffusion model"', ("title",)),
        ('"diffusion image"', None),  # words in order, next to each other
        ("matching -(flow medical)", None),
        ("matching -(flow cardiac)", ("abstract",)),
    ],
)
def test_reference_examples(query: str, expected: tuple[str, ...] | None) -> None:
    """The reference evaluator answers the issue's examples as specified, with fields."""
    assert fields_of(query) == expected


def test_fields_are_where_positive_terms_occur() -> None:
    """A match reports the fields of every positive term that occurs, none of excluded ones."""
    assert fields_of("diffusion OR flow") == ("title", "abstract")
    assert fields_of("diffusion -survey") == ("title",)
    assert fields_of("diffusion OR au:nobody") == ("title",)
    assert fields_of("(diffusion gan) OR lecun") == ("title", "abstract")


def test_term_fields_and_occurrences() -> None:
    """term_fields names the fields a term occurs in; occurrences gives word positions."""
    doc = document(PAPER)
    assert term_fields(Term(("diffusion",)), doc) == ("title",)
    assert term_fields(Term(("diffusion",), "abstract"), doc) == ()
    assert term_fields(Term(("cs.",), "categories", prefix=True), doc) == ("categories",)
    words = ("a", "b", "a", "b", "c")
    assert list(occurrences(Term(("a", "b")), words)) == [0, 2]
    assert list(occurrences(Term(("b", "c")), words)) == [3]


def test_prefix_matches_the_word_it_spells() -> None:
    """models* matches "model" (the normal form of models) as well as words starting with it."""
    paper = make_paper("Modelling", "A model.")
    assert fields_of("models*", paper) == ("abstract",)
    assert fields_of("model*", paper) == ("title", "abstract")
    assert fields_of("modelli*", paper) == ("title",)


def test_evaluate_not_and_or() -> None:
    """evaluate implements NOT, AND and OR over term occurrence."""
    doc = document(PAPER)
    assert evaluate(parse_query("diffusion (gan OR cardiac)"), doc)
    assert not evaluate(parse_query("diffusion cardiac"), doc)
    assert evaluate(parse_query("diffusion NOT (cardiac OR liver)"), doc)


# --- the engine -------------------------------------------------------------------------------

EXAMPLES = [
    "diffusion -medical",
    '"text-to-image" OR t2i',
    'cat:cs.CV (diffusion OR "flow matching")',
    "au:hinton",
    "au:lecun",
    "au:Jörg",
    "diffus*",
    "models* -model",
    "ti:model abs:gan",
    "gan OR lecun OR cat:math.*",
    "flow match*",
    "matching -(flow cardiac)",
    "(a OR b) (c OR d) (e OR f) (g OR h) (i OR j) (k OR l) (m OR n) diffusion",
]


def test_engine_examples_equal_reference() -> None:
    """On the issue's examples the engine answers what the reference evaluator answers."""
    engine = Engine(enumerate(EXAMPLES))
    assert sorted(engine.match(PAPER)) == reference(EXAMPLES, PAPER)
    assert engine.rejected == {}


def test_engine_large_query_uses_tree() -> None:
    """A query with too many alternatives for conjunctions is checked as a tree, equally."""
    query = "(a OR b) (c OR d) (e OR f) (g OR h) (i OR j) (k OR l) (m OR n) -z"
    engine = Engine([(7, query)])
    assert engine._compiled  # checked as a compiled tree
    paper = make_paper("a c e g i k m", "b d f h j l n")
    assert engine.match(paper) == [(7, ("title", "abstract"))]
    assert engine.match(make_paper("a c e g i k m z")) == []
    assert engine.match(make_paper("a c e g i k")) == []


def test_engine_skips_invalid_queries_and_keeps_the_errors() -> None:
    """Queries that do not parse are skipped, their QueryError kept by subscription id."""
    engine = Engine([(1, "diffusion"), (2, "a OR"), (3, '"unclosed')])
    assert set(engine.rejected) == {2, 3}
    assert "Dangling operator" in engine.rejected[2].message
    assert engine.match(PAPER) == [(1, ("title",))]


def test_engine_groups_identical_queries() -> None:
    """Subscriptions with the same query, spelled differently, all match."""
    engine = Engine([(1, "Diffusion  models"), (2, "model diffusion"), (3, "diffusion")])
    assert sorted(engine.match(PAPER)) == [(1, ("title",)), (2, ("title",)), (3, ("title",))]


def test_engine_batch_equals_one_by_one() -> None:
    """match_batch gives, paper by paper, what match gives."""
    papers = [PAPER, make_paper("Flow matching", "for text to image"), make_paper()]
    engine = Engine(enumerate(EXAMPLES))
    batch = engine.match_batch(papers)
    assert [sorted(found) for found in batch] == [sorted(engine.match(p)) for p in papers]
    assert engine.match_batch([]) == []


def test_engine_without_subscriptions_matches_nothing() -> None:
    """An empty engine answers empty lists."""
    assert Engine([]).match_batch([PAPER, PAPER]) == [[], []]


def test_engine_forgets_learned_words_and_stays_correct(monkeypatch: pytest.MonkeyPatch) -> None:
    """When its memory of words seen is full it starts over, with the same answers."""
    monkeypatch.setattr(word_index_module, "_MAX_LEARNED", 2)
    engine = Engine([(0, "diffus*"), (1, "imag*")])
    papers = [PAPER, make_paper("Imagination", "and diffusions")] * 3
    expected = [
        [(0, ("title",)), (1, ("title", "abstract"))],
        [(0, ("abstract",)), (1, ("title",))],
    ]
    assert [sorted(found) for found in engine.match_batch(papers)] == expected * 3
    assert [reference(["diffus*", "imag*"], paper) for paper in papers] == expected * 3


def test_engine_leaves_the_garbage_collector_as_it_was() -> None:
    """Matching pauses the cyclic garbage collector and restores its state afterwards."""
    import gc

    engine = Engine([(1, "diffusion")])
    assert gc.isenabled()
    engine.match(PAPER)
    assert gc.isenabled()
    gc.disable()
    try:
        engine.match(PAPER)
        assert not gc.isenabled()
    finally:
        gc.enable()


# --- the engine against the reference on random queries and papers ---------------------------

VOCABULARY = [
    "model",
    "models",
    "diffusion",
    "diffusions",
    "Diffusion",
    "text",
    "to",
    "image",
    "flow",
    "matching",
    "neural",
    "net",
    "networks",
    "query",
    "queries",
    "class",
    "classes",
    "gas",
    "lens",
    "Jörg",
    "jorg",
    "ab",
    "a",
]
NAMES = ['J\\"org M\\"uller', "Jörg Muller", "Yann LeCun", "Ada Lovelace", "Li Wei"]
CATEGORIES = ["cs.CV", "cs.LG", "math.PR", "hep-th"]

words = st.sampled_from(VOCABULARY)
separators = st.sampled_from([" ", "-", ", ", "\n", " (", ") "])


@st.composite
def texts(draw: st.DrawFn, max_words: int = 12) -> str:
    chosen = draw(st.lists(words, max_size=max_words))
    return "".join(word + draw(separators) for word in chosen)


@st.composite
def papers(draw: st.DrawFn) -> Paper:
    return make_paper(
        draw(texts(6)),
        draw(texts()),
        tuple(draw(st.lists(st.sampled_from(NAMES), max_size=3))),
        tuple(draw(st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=2, unique=True))),
    )


@st.composite
def terms(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["word", "phrase", "prefix", "ti", "abs", "au", "cat"]))
    word = draw(words)
    if kind == "word":
        return word
    if kind == "phrase":
        return '"' + " ".join(draw(st.lists(words, min_size=1, max_size=3))) + '"'
    if kind == "prefix":
        return word[: draw(st.integers(3, 6))] + "*"
    if kind in ("ti", "abs"):
        return f"{kind}:{word}"
    if kind == "au":
        return "au:" + draw(st.sampled_from(["jorg", "müller", '"yann lecun"', "lov*", "wei"]))
    return "cat:" + draw(st.sampled_from(["cs.CV", "cs.*", "math*", "hep-th", "cs.lg"]))


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda p: f"{p[0]} {p[1]}"),
        pair.map(lambda p: f"{p[0]} OR {p[1]}"),
        pair.map(lambda p: f"({p[0]}) -{p[1]}" if " " not in p[1] else f"{p[0]} -({p[1]})"),
        pair.map(lambda p: f"({p[0]} | {p[1]})"),
        pair.map(lambda p: f"{p[0]} AND NOT ({p[1]})"),
    )


queries = st.recursive(terms(), combine, max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(queries, min_size=1, max_size=8), st.lists(papers(), min_size=1, max_size=4))
def test_engine_equals_reference(texts_: list[str], papers_: list[Paper]) -> None:
    """On random queries and papers the engine gives exactly the reference evaluator's answers."""
    engine = Engine(enumerate(texts_))
    for paper, found in zip(papers_, engine.match_batch(papers_), strict=True):
        assert sorted(found) == reference(texts_, paper)
    assert sorted(engine.match(papers_[0])) == reference(texts_, papers_[0])
