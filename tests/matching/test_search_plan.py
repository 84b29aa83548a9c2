"""Tests for bot.matching.search_plan: the plans of queries, and what they find in a real FTS5
index of papers (bot.storage.search) compared with the reference evaluator."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.matching.evaluator import evaluate
from bot.matching.normalize import document
from bot.matching.parser import parse_query
from bot.matching.query import And, Not, Or, Query, QueryError, Term
from bot.matching.search_plan import search_plan, search_plan_any, search_plan_exact
from bot.models import AllOf, AnyOf, Document, Paper, WordPattern
from bot.storage import search
from bot.storage.search import fts_query
from tests.paper_index import paper_index

FUZZ = settings(max_examples=300, deadline=None, derandomize=True)
TEXT = ("title", "abstract")


def make_paper(
    title: str = "",
    abstract: str = "",
    authors: tuple[str, ...] = (),
    categories: tuple[str, ...] = ("cs.LG",),
    **kwargs: Any,
) -> Paper:
    return Paper("2508.13167", title, authors, abstract, categories, **kwargs)


def text(*words: str) -> WordPattern:
    """A pattern of title and abstract: consecutive words."""
    return WordPattern(TEXT, words[:-1], words[-1:])


def found(query: str, papers: list[Paper]) -> list[int]:
    """Which papers the plan of a query finds in an index of them."""
    with paper_index([document(paper) for paper in papers]) as index:
        return sorted(index.find(search_plan(parse_query(query))))


# --- plans ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "plan"),
    [
        ("diffusion", text("diffusion")),
        ('"flow matching"', text("flow", "matching")),
        ("diffusion -medical", AllOf((text("diffusion"),), (text("medical"),))),
        (
            '"flow matching" -(a b)',
            AllOf((text("flow", "matching"),), (AllOf((text("a"), text("b"))),)),
        ),
        ("a -(b OR c)", AllOf((text("a"),), (text("b"), text("c")))),
        ("a (b OR c)", AllOf((text("a"), AnyOf((text("b"), text("c")))))),
        ("models*", WordPattern(TEXT, (), ("model",), "models")),
        ("diffus*", WordPattern(TEXT, (), (), "diffus")),
        ("flow match*", AllOf((text("flow"), WordPattern(TEXT, (), (), "match")))),
        ("text-to-imag*", WordPattern(TEXT, ("text", "to"), (), "imag")),
        ("ti:models", WordPattern(("title",), (), ("model",))),
        ('au:"Jörg Müller"', WordPattern(("authors",), ("jorg",), ("muller",))),
        ("au:models*", WordPattern(("authors",), (), (), "models")),  # names keep plurals
        ("cat:cs.*", WordPattern(("categories",), (), (), "cs.")),
        ("cat:cs.CV", WordPattern(("categories",), (), ("cs.cv",))),
        ("x -(-a OR -b)", AllOf((text("x"), text("a"), text("b")))),
        ("x (-a OR b)", AllOf((text("x"),), (AllOf((text("a"),), (text("b"),)),))),
    ],
)
def test_plans_of_queries(query: str, plan: WordPattern | AllOf | AnyOf) -> None:
    """Terms become patterns, AND and OR flat parts, negations exclusions; all exact."""
    assert search_plan_exact(parse_query(query)) == (plan, True)


def test_what_cannot_be_narrowed_has_no_plan() -> None:
    """A negation alone or in an OR, only negations, or an empty prefix leave every paper a
    candidate (parse_query refuses all of these)."""
    a, b = Term(("a",)), Term(("b",))
    assert search_plan_exact(Not(a)) == (None, False)
    assert search_plan_exact(Or((a, Not(b)))) == (None, False)
    assert search_plan_exact(And((Not(a), Not(b)))) == (None, False)
    assert search_plan_exact(Term(("",), prefix=True)) == (None, False)
    assert search_plan_any([a, Not(b)]) is None
    assert search_plan_any([]) is None


def test_a_negated_group_is_planned_through_its_terms() -> None:
    """-(-a OR -b) alone is a b: a negation is pushed through its group when that helps."""
    a, b = Term(("a",)), Term(("b",))
    assert search_plan_exact(Not(Or((Not(a), Not(b))))) == (AllOf((text("a"), text("b"))), True)
    assert search_plan_exact(Not(And((Not(a), b)))) == (None, False)  # a OR -b: every paper


def test_inexact_terms_are_never_excluded() -> None:
    """Words the index may not find exactly make a plan inexact, and are never excluded."""
    long = Term(("a" * 4001,))
    dash = Term(("-",), "authors", prefix=True)  # the authors' separator starts with "-"
    x = Term(("x",))
    assert search_plan_exact(long) == (text("a" * 4001), False)
    assert search_plan_exact(Term(("a" * 4000,)))[1]
    assert search_plan_exact(dash) == (WordPattern(("authors",), (), (), "-"), False)
    assert search_plan_exact(And((x, Not(long)))) == (text("x"), False)
    assert search_plan_exact(And((x, Not(dash)))) == (text("x"), False)
    assert search_plan_exact(Or((x, long))) == (AnyOf((text("x"), text("a" * 4001))), False)
    assert search_plan_exact(Term(("cs.*",), "categories"))[1]  # any category name is exact


def test_a_category_term_is_its_first_word() -> None:
    """As the evaluator, a category term compares its one name (words[0])."""
    term = Term(("cs.cv", "ignored"), "categories")
    assert search_plan(term) == WordPattern(("categories",), (), ("cs.cv",))


def test_search_plan_any_joins_the_queries() -> None:
    """Plans of several queries are one flat AnyOf."""
    queries = [parse_query(q) for q in ("diffusion", "flow OR gan", "diffusion")]
    assert search_plan_any(queries) == AnyOf((text("diffusion"), text("flow"), text("gan")))
    assert search_plan_any(queries[:1]) == text("diffusion")


# --- what plans find --------------------------------------------------------------------------


def test_pushed_negation_finds_the_papers_without_the_word() -> None:
    """diffusion -medical finds diffusion papers that do not mention medical."""
    papers = [
        make_paper("Diffusion models", "For medical imaging."),
        make_paper("Diffusion models", "For art."),
        make_paper("Flow matching", "Medical."),
    ]
    assert found("diffusion -medical", papers) == [1]


def test_an_excluded_group_excludes_only_the_whole_group() -> None:
    """ "flow matching" -(a b) keeps papers with only one of a and b."""
    papers = [
        make_paper("Flow matching", "a b"),
        make_paper("Flow matching", "a"),
        make_paper("Flow matching", "b only"),
        make_paper("Flow", "matching"),
    ]
    assert found('"flow matching" -(a b)', papers) == [1, 2]


def test_an_author_phrase_never_spans_two_authors() -> None:
    """au:"jörg müller" finds Jörg Müller, not a Jörg followed by a Müller."""
    papers = [
        make_paper(authors=("Jörg Müller", "Yann LeCun")),
        make_paper(authors=("Anna Jörg", "Müller Thomas")),
        make_paper(authors=('J\\"org M\\"uller',)),
    ]
    assert found('au:"jörg müller"', papers) == [0, 2]
    assert found('au:"muller yann"', papers) == []


def test_a_prefix_finds_the_word_it_spells() -> None:
    """models* finds "model" (the normal form of models) and words starting with models."""
    papers = [make_paper("A model"), make_paper("Modelsim"), make_paper("Modelling")]
    assert found("models*", papers) == [0, 1]
    assert found("model*", papers) == [0, 1, 2]


def test_a_category_prefix_finds_the_archive() -> None:
    """cat:cs.* finds cs.AI and cs.LG papers, not physics.comp-ph."""
    papers = [
        make_paper(categories=("cs.AI",)),
        make_paper(categories=("physics.comp-ph", "cs.LG")),
        make_paper(categories=("physics.comp-ph",)),
    ]
    assert found("cat:cs.*", papers) == [0, 1]
    assert found("cat:physics.comp-ph", papers) == [1, 2]


# The queries of the README, the /help text and the matching tests.
REAL_QUERIES = [
    "diffusion -medical",
    '"text-to-image" OR t2i',
    'cat:cs.CV (diffusion OR "flow matching")',
    "au:hinton",
    "au:lecun",
    "au:Jörg",
    'au:"Yann LeCun"',
    "diffus*",
    "models* -model",
    "ti:model abs:gan",
    "gan OR lecun OR cat:math.*",
    "flow match*",
    "matching -(flow cardiac)",
    "(a OR b) (c OR d) (e OR f) (g OR h) (i OR j) (k OR l) (m OR n) diffusion",
    "graph neural network",
    "ti:(a OR b)",
    "x -(a b)",
    "au:Jörg OR Text-to-Imag*",
    "cat:cs.*",
    "cat:cs.cv",
    '"image diffusion model"',
    'J\\"org',
]


def test_real_queries_give_valid_exact_expressions() -> None:
    """Every example query has an exact plan whose expression FTS5 accepts."""
    with paper_index([document(make_paper("Graph neural network", "Diffusion."))]) as index:
        for text_ in REAL_QUERIES:
            plan, exact = search_plan_exact(parse_query(text_))
            assert plan is not None
            assert exact, text_
            index.match(fts_query(plan))  # no sqlite3.OperationalError
        every = search_plan_any([parse_query(text_) for text_ in REAL_QUERIES])
        assert every is not None
        index.match(fts_query(every))


# --- plans against the reference evaluator, on random queries and papers ----------------------

VOCABULARY = ["model", "models", "Modelling", "modelsim", "diffusion", "diffusions", "flow"]
VOCABULARY += ["matching", "query", "queries", "class", "classes", "gas", "Jörg", "jorg", "a"]
NAMES = ["Jörg Müller", 'J\\"org M\\"uller', "Yann LeCun", "Müller Yann", "Ada Models", "—"]
CATEGORIES = ["cs.AI", "cs.LG", "hep-th", "cond-mat.str-el", " CS.cv ", "cs", "odd name!", ""]
# Documents no normal form gives, with words the index must still keep apart.
ODD_WORDS = ["model", "models", "Model", "-", "", "mod-el", "model\ue06d", "modelé", "jorg"]

words = st.sampled_from(VOCABULARY)
separators = st.sampled_from([" ", "-", ", ", " (", ") "])


@st.composite
def texts(draw: st.DrawFn, max_words: int = 8) -> str:
    return "".join(word + draw(separators) for word in draw(st.lists(words, max_size=max_words)))


@st.composite
def papers_documents(draw: st.DrawFn) -> Document:
    paper = make_paper(
        draw(texts(5)),
        draw(texts()),
        tuple(draw(st.lists(st.sampled_from(NAMES), max_size=3))),
        tuple(draw(st.lists(st.sampled_from(CATEGORIES), max_size=2, unique=True))),
    )
    return document(paper)


odd_words = st.lists(st.sampled_from(ODD_WORDS), max_size=4).map(tuple)
odd_documents = st.builds(
    Document, odd_words, odd_words, st.lists(odd_words, max_size=2).map(tuple), odd_words
)
documents = st.lists(st.one_of(papers_documents(), odd_documents), min_size=1, max_size=6)


@st.composite
def terms(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["word", "phrase", "prefix", "ti", "abs", "au", "cat"]))
    word = draw(words)
    if kind == "word":
        return word
    if kind == "phrase":
        return '"' + " ".join(draw(st.lists(words, min_size=1, max_size=3))) + '"'
    if kind == "prefix":
        return word[: draw(st.integers(3, 7))] + "*"
    if kind in ("ti", "abs"):
        return f"{kind}:{draw(st.one_of(words, st.just('model*')))}"
    if kind == "au":
        names = ["jorg", "müller", '"jörg müller"', '"muller yann"', "mül*", "model*", "models"]
        return "au:" + draw(st.sampled_from(names))
    return "cat:" + draw(st.sampled_from(["cs.AI", "cs.*", "cs*", "hep-th", "cond-mat.*"]))


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    pair = st.tuples(children, children)
    return st.one_of(
        pair.map(lambda p: f"{p[0]} {p[1]}"),
        pair.map(lambda p: f"{p[0]} OR {p[1]}"),
        pair.map(lambda p: f"({p[0]}) -({p[1]})"),
        pair.map(lambda p: f"({p[0]}) (-({p[1]}) OR {p[0]})"),
        pair.map(lambda p: f"{p[0]} -(-({p[1]}) OR -({p[0]}))"),
        pair.map(lambda p: f"ti:({p[0]} OR {p[1]})"),
        pair.map(lambda p: f"({p[0]} | {p[1]}) AND NOT ({p[1]})"),
    )


queries = st.recursive(terms(), combine, max_leaves=6)


def parsed(text_: str) -> Query | None:
    try:
        return parse_query(text_)
    except QueryError:
        return None


@FUZZ
@given(st.lists(queries, min_size=1, max_size=3), documents)
def test_plans_find_what_queries_match(texts_: list[str], docs: list[Document]) -> None:
    """A plan finds every paper its query matches, and exactly those when it says it is exact
    (which every parsed query's plan is); so does the plan of several queries."""
    chosen = [query for query in map(parsed, texts_) if query is not None]
    with paper_index(docs) as index:
        for query in chosen:
            plan, exact = search_plan_exact(query)
            matches = {number for number, doc in enumerate(docs) if evaluate(query, doc)}
            assert exact
            assert index.find(plan) == matches
        if chosen:
            anywhere = {n for n, doc in enumerate(docs) if any(evaluate(q, doc) for q in chosen)}
            assert index.find(search_plan_any(chosen)) == anywhere


# A word FTS5 cuts (32,768 bytes), and papers that only inexact plans would find.
LONG = "a" * 33_000
BORDERLINE = [
    Document((LONG + "b",), (), (("model",), ("-x",)), ("-",)),
    Document(("model",), (), (("model",),), ("mod",)),
]


@st.composite
def hand_built(draw: st.DrawFn, depth: int = 2) -> Query:
    """Queries parse_query would refuse: bare negations, odd words, long words."""
    if depth == 0 or draw(st.booleans()):
        field = draw(st.sampled_from([None, "authors", "categories"]))
        word = draw(st.sampled_from(["model", "mod", "-", "", LONG]))
        prefix = draw(st.booleans())
        term = Term((word,), field, prefix)
        return Not(term) if draw(st.booleans()) else term
    children = tuple(draw(st.lists(hand_built(depth - 1), min_size=1, max_size=3)))
    kind = draw(st.sampled_from(["and", "or", "not"]))
    return And(children) if kind == "and" else Or(children) if kind == "or" else Not(children[0])


@FUZZ
@given(hand_built(), st.lists(odd_documents, min_size=1, max_size=6))
@example(Term((LONG,)), [])
@example(And((Term(("model",), "authors"), Not(Term(("-",), "authors", prefix=True)))), [])
def test_plans_of_any_query_find_at_least_its_matches(query: Query, docs: list[Document]) -> None:
    """For any query tree, even one parse_query refuses, a plan finds every paper the query
    matches, exactly those when it says so."""
    docs = [*docs, *BORDERLINE]
    plan, exact = search_plan_exact(query)
    matches = {number for number, doc in enumerate(docs) if evaluate(query, doc)}
    with paper_index(docs) as index:
        found_ = index.find(plan)
    assert found_ >= matches
    if exact:
        assert found_ == matches


# Templates of one or two levels of parentheses: parsed queries nest at most 8 deep.
LEVELS = ["a -(X)", "a -(b OR X)", "a (b OR X)", "-(-a OR X) c", "a -(-b OR X)", "a b -(c OR X)"]
LEVELS += ["a (b OR -(X))", "a -(b (c OR X))", "x -(a OR b OR (X))", "(X) b", "(X OR b) c"]


@FUZZ
@given(st.lists(st.sampled_from(LEVELS), min_size=1, max_size=8))
@example(["a (b OR X)"] * 8)
@example(["a b -(c OR X)"] * 8)
def test_the_deepest_queries_give_expressions(levels: list[str]) -> None:
    """Queries nested as deep as the language allows, alone or with others, have expressions
    FTS5 parses, within the parser stack that bot.storage.search says they need at most."""
    text_ = "z"
    for level in levels:
        text_ = level.replace("X", text_)
    query = parsed(text_)
    if query is None:
        return  # too deep
    plans = [search_plan(query), search_plan_any([parse_query("y"), query])]
    with paper_index([]) as index, mock.patch.object(search, "STACK_BUDGET", 51):
        for plan in plans:
            assert plan is not None
            index.match(fts_query(plan))
