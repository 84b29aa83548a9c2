"""Tests for bot.storage.search: the texts of the full-text index and the FTS5 expressions of
search plans, against a real FTS5 table made by migration 9's statement."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.matching.normalize import document
from bot.models import AllOf, AnyOf, Document, Paper, SearchPlan, WordPattern
from bot.storage.search import COLUMNS, document_from_columns, fts_query, index_columns
from tests.paper_index import paper_index

FUZZ = settings(max_examples=300, deadline=None, derandomize=True)

# Words a normal form never has, but a hostile feed's category or a future bug might: empty,
# the author separator, upper case, spaces, FTS5 syntax, the private-use characters the
# encoding uses, a surrogate, and a word that merely looks like an encoded one.
ODD_WORDS = ["", "-", "--", ".", "A", "a b", '"', "*", "(", "\ue041", "\ue080", "\ue080\ue041"]
ODD_WORDS += ["\ud800", "a\ue07f", "cs.AI", "cs ai", "x-", "-x", "é", "\U000f0000"]

any_text = st.text(st.characters(exclude_categories=()), max_size=6)  # surrogates too
any_words = st.lists(st.one_of(st.sampled_from(ODD_WORDS), any_text), max_size=5).map(tuple)


@st.composite
def documents(draw: st.DrawFn, words: st.SearchStrategy[tuple[str, ...]] = any_words) -> Document:
    return Document(
        title=draw(words),
        abstract=draw(words),
        authors=tuple(draw(st.lists(words, max_size=3))),
        categories=draw(words),
    )


def pattern(
    fields: tuple[str, ...] = ("title", "abstract"),
    words: tuple[str, ...] = (),
    last: tuple[str, ...] = (),
    prefix: str | None = None,
) -> WordPattern:
    return WordPattern(fields, words, last, prefix)


# --- the stored texts -------------------------------------------------------------------------


def test_columns_of_a_normal_form_are_its_words() -> None:
    """A normal form is stored readably: words, authors each followed by "-", categories."""
    paper = Paper(
        "2508.13167", "Diffusion Models", ("Jörg Müller", "Yann LeCun"), "Text.", ("cs.AI",)
    )
    assert index_columns(document(paper)) == (
        "diffusion model",
        "text",
        "jorg muller - yann lecun -",
        "cs.ai",
    )


@FUZZ
@given(documents())
def test_columns_read_back_as_the_document(doc: Document) -> None:
    """document_from_columns gives back exactly the document, whatever its words."""
    assert document_from_columns(*index_columns(doc)) == doc


def test_odd_documents_stay_apart() -> None:
    """Documents that simple joining would confuse have different columns."""
    confusable = [
        Document((), (), (), ()),
        Document(("",), (), ((),), ("",)),
        Document(("a b",), (), (("a",), ("b",)), ("cs ai",)),
        Document(("a", "b"), (), (("a", "-", "b"),), ("cs", "ai")),
        Document(("A",), (), ((), ()), ("\ue041",)),
    ]
    columns = [index_columns(doc) for doc in confusable]
    assert len(set(columns)) == len(confusable)
    assert [document_from_columns(*texts) for texts in columns] == confusable


def test_words_read_back_are_the_words_written() -> None:
    """Words read back (not interned: read-back documents live for one search) equal the
    normal form's, encoded or not."""
    first = document_from_columns("diffusion model", "", "", "cs.ai")
    second = document_from_columns("model", "", "a\ue041 -", "")
    assert first.title[1] == second.title[0] == "model"
    assert second.authors == (("aA",),)


def test_authors_column_must_end_an_author() -> None:
    """A column that is not one written by index_columns is refused, not misread."""
    with pytest.raises(ValueError, match="authors"):
        document_from_columns("", "", "jorg muller", "")


@FUZZ
@given(st.lists(documents(), min_size=1, max_size=3))
def test_every_word_is_one_token(docs: list[Document]) -> None:
    """FTS5's tokenizer keeps each stored word as one token, as stored: no splitting or folding
    (hence equal tokens are equal words, as the round trip shows)."""
    with paper_index(docs) as index:
        for number, doc in enumerate(docs):
            for column, text in zip(COLUMNS, index_columns(doc), strict=True):
                assert index.tokens(number, column) == (text.split(" ") if text else [])
            assert len(index.tokens(number, "authors")) == sum(len(a) + 1 for a in doc.authors)


# --- expressions ------------------------------------------------------------------------------


def test_expression_examples() -> None:
    """Patterns are column filters of quoted phrases; AND, NOT and OR join parenthesised parts."""
    flow = pattern(words=("flow",), last=("matching",))
    assert fts_query(flow) == '{title abstract} : ("flow matching")'
    models = pattern(last=("model",), prefix="models")
    assert fts_query(models) == '{title abstract} : ("model" OR "models" *)'
    names = pattern(("authors",), ("jorg",), (), "mul")
    assert fts_query(names) == '{authors} : ("jorg mul" *)'
    assert fts_query(AllOf((flow, models), (names,))) == (
        '({title abstract} : ("flow matching")) AND ({title abstract} : ("model" OR "models" *))'
        ' NOT ({authors} : ("jorg mul" *))'
    )
    assert fts_query(AnyOf((flow, names))) == (
        '({title abstract} : ("flow matching")) OR ({authors} : ("jorg mul" *))'
    )
    odd = pattern(("categories",), (), ('a"b OR c', "NOT"))
    assert fts_query(odd) == (
        '{categories} : ("a\ue022b\ue020\ue04f\ue052\ue020c" OR "\ue04e\ue04f\ue054")'
    )


def test_several_exclusions_exclude_each() -> None:
    """x NOT a NOT b finds papers with x and neither a nor b (NOT is left-associative)."""
    docs = [Document((w,), (), (), ()) for w in ("x", "a")] + [Document(("x", "a"), (), (), ())]
    docs += [Document(("x", "b"), (), (), ()), Document(("b",), (), (), ())]
    x, a, b = (pattern(("title",), last=(w,)) for w in "xab")
    with paper_index(docs) as index:
        assert index.find(AllOf((x,), (a, b))) == {0}
        assert index.find(AllOf((x, x), (a, b))) == {0}


@pytest.mark.parametrize(
    "plan",
    [
        pattern(prefix=""),
        pattern(),
        pattern(fields=()),
        pattern(fields=("title", "body"), last=("x",)),
        AnyOf(()),
        AllOf((), (pattern(last=("x",)),)),
    ],
)
def test_plans_fts5_cannot_search_are_refused(plan: SearchPlan) -> None:
    """An empty prefix, pattern or part, or an unknown field: ValueError, never bad syntax."""
    with pytest.raises(ValueError, match=r"\w"):
        fts_query(plan)


def test_too_deep_a_plan_is_refused() -> None:
    """A plan nested beyond what FTS5's parser takes is refused with a ValueError."""
    plan: SearchPlan = pattern(last=("x",))
    for _ in range(40):
        plan = AllOf((pattern(last=("y",)), pattern(last=("z",))), (pattern(last=("w",)), plan))
    with pytest.raises(ValueError, match="nested too deeply"):
        fts_query(plan)


LEAF = pattern(words=("a", "b"), last=("c", "d"), prefix="e")
# Ways of nesting a plan in another, each keeping a different amount on FTS5's parser stack.
LEVELS: list[Callable[[SearchPlan], SearchPlan]] = [
    lambda plan: AnyOf((LEAF, plan)),
    lambda plan: AnyOf((plan, LEAF)),
    lambda plan: AllOf((LEAF, plan)),
    lambda plan: AllOf((plan,), (LEAF,)),
    lambda plan: AllOf((LEAF,), (plan,)),
    lambda plan: AllOf((LEAF, LEAF), (LEAF, plan)),
]


@pytest.mark.parametrize("level", range(len(LEVELS)))
def test_the_deepest_plans_written_parse(level: int) -> None:
    """For each way of nesting, the deepest plan fts_query writes is one FTS5 parses."""
    plan: SearchPlan = LEAF
    expression, depth = fts_query(plan), 0
    while depth < 100:
        try:
            expression = fts_query(LEVELS[level](plan))
        except ValueError:
            break
        plan, depth = LEVELS[level](plan), depth + 1
    assert depth > 14  # deeper than any parsed query's plan
    with paper_index([]) as index:
        index.match(expression)


@FUZZ
@given(st.lists(st.sampled_from(range(len(LEVELS))), max_size=40))
def test_expressions_are_refused_or_parse(levels: list[int]) -> None:
    """However a plan nests, fts_query refuses it or FTS5 parses its expression."""
    plan: SearchPlan = LEAF
    for level in levels:
        plan = LEVELS[level](plan)
    try:
        expression = fts_query(plan)
    except ValueError:
        assert len(levels) > 14  # only plans deeper than any parsed query's
        return
    with paper_index([]) as index:
        index.match(expression)  # no sqlite3.OperationalError: parser stack overflow


# --- what expressions find --------------------------------------------------------------------

# Few words, so that patterns often occur; among them what could break exactness.
SMALL_WORDS = ["a", "ab", "b", "A", "-", "", "-a", "a b", "é", "\ue041", "\ue080a", '"', "a."]
PREFIXES = ["a", "-", "\ue080", "A", "é", '"', "a ", "", "-a"]
small_words = st.lists(st.sampled_from(SMALL_WORDS), max_size=6).map(tuple)


@st.composite
def patterns(draw: st.DrawFn) -> WordPattern:
    fields = tuple(draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=2, unique=True)))
    prefix = draw(st.one_of(st.none(), st.sampled_from(PREFIXES)))
    last = draw(small_words)[:2] if prefix is None or draw(st.booleans()) else ()
    if not last and prefix is None:
        prefix = "a"
    return pattern(fields, draw(small_words)[:1], last, prefix)


plans = st.recursive(
    patterns(),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda parts: AnyOf(tuple(parts))),
        st.builds(
            lambda parts, excluding: AllOf(tuple(parts), tuple(excluding)),
            st.lists(children, min_size=1, max_size=2),
            st.lists(children, max_size=2),
        ),
    ),
    max_leaves=6,
)


def _occurs(pattern: WordPattern, words: tuple[str, ...]) -> bool:
    span = len(pattern.words)
    for start in range(len(words) - span):
        last = words[start + span]
        if words[start : start + span] == pattern.words and (
            last in pattern.last
            or (pattern.last_prefix is not None and last.startswith(pattern.last_prefix))
        ):
            return True
    return False


def described(plan: SearchPlan, doc: Document) -> bool:
    """Whether a document has what the plan describes (the meaning given in bot.models)."""
    if isinstance(plan, AnyOf):
        return any(described(part, doc) for part in plan.parts)
    if isinstance(plan, AllOf):
        return all(described(part, doc) for part in plan.parts) and not any(
            described(part, doc) for part in plan.excluding
        )
    sequences = {
        "title": [doc.title],
        "abstract": [doc.abstract],
        "authors": list(doc.authors),
        "categories": [doc.categories],
    }
    return any(_occurs(plan, words) for field in plan.fields for words in sequences[field])


def _patterns(plan: SearchPlan) -> list[WordPattern]:
    if isinstance(plan, WordPattern):
        return [plan]
    parts = plan.parts + (plan.excluding if isinstance(plan, AllOf) else ())
    return [found for part in parts for found in _patterns(part)]


def _exactly_searched(pattern: WordPattern) -> bool:
    """Not the known exception: a prefix "-" of authors also finds their separator."""
    return not (pattern.last_prefix == "-" and "authors" in pattern.fields)


@FUZZ
@given(plans, st.lists(documents(small_words), min_size=2, max_size=8))
def test_expressions_find_what_plans_describe(plan: SearchPlan, docs: list[Document]) -> None:
    """An expression finds exactly the documents with what its plan describes, whatever the
    words (upper case, spaces, "-", the encoding's own characters), prefixes included."""
    try:
        expression = fts_query(plan)
    except ValueError:
        assert any(pattern.last_prefix == "" for pattern in _patterns(plan))
        return
    with paper_index(docs) as index:
        found = index.match(expression)
    wanted = {number for number, doc in enumerate(docs) if described(plan, doc)}
    if all(map(_exactly_searched, _patterns(plan))):
        assert found == wanted
    elif isinstance(plan, WordPattern):
        assert found >= wanted


@FUZZ
@given(patterns(), st.lists(documents(small_words), min_size=2, max_size=8))
def test_patterns_find_what_they_describe(pattern: WordPattern, docs: list[Document]) -> None:
    """A pattern finds exactly the documents where its words occur; more only for the
    exception, never fewer."""
    try:
        expression = fts_query(pattern)
    except ValueError:
        assert pattern.last_prefix == ""
        return
    with paper_index(docs) as index:
        found = index.match(expression)
    wanted = {number for number, doc in enumerate(docs) if described(pattern, doc)}
    assert found == wanted if _exactly_searched(pattern) else found >= wanted


def test_a_prefix_dash_of_authors_finds_more() -> None:
    """The one inexact prefix: "-" in authors also finds their separator, never fewer papers;
    elsewhere it finds exactly the words starting with "-", the word "-" too."""
    docs = [Document((), (), (("a",), ("b",)), ()), Document(("-x",), (), (("-x",),), ())]
    docs += [Document(("-",), (), (), ())]
    with paper_index(docs) as index:
        assert index.find(pattern(("authors",), prefix="-")) == {0, 1}
        assert index.find(pattern(("authors",), ("a",), prefix="-")) == {0}
        assert index.find(pattern(("title",), prefix="-")) == {1, 2}


def test_words_beyond_fts5s_token_size_find_more() -> None:
    """FTS5 cuts tokens to 32,768 bytes: a longer word finds words that differ only later."""
    long = "a" * 40_000
    docs = [Document((long + "b",), (), (), ()), Document((long[:100],), (), (), ())]
    with paper_index(docs) as index:
        assert index.find(pattern(("title",), last=(long + "c",))) == {0}
        assert index.find(pattern(("title",), last=(long[:100],))) == {1}
        assert index.find(pattern(("title",), prefix=long[:32_000])) == {0}
