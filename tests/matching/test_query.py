"""Tests for the query language (bot.matching.tokenizer, parser, checks and query): the grammar,
every refusal and its message, limits, canonical text."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.matching.checks import implies
from bot.matching.parser import MAX_QUERY_LENGTH, parse_query
from bot.matching.query import And, Not, Or, Query, QueryError, Term, describe, positive_terms
from bot.matching.tokenizer import MAX_DEPTH, MAX_TERMS


def error_of(text: str) -> QueryError:
    with pytest.raises(QueryError) as caught:
        parse_query(text)
    return caught.value


def word(text: str, field: str | None = None) -> Term:
    return Term(tuple(text.split()), field)


# --- the grammar ------------------------------------------------------------------------------


def test_issue_examples() -> None:
    """The four examples of the issue parse into the intended trees."""
    assert parse_query("diffusion -medical") == And((word("diffusion"), Not(word("medical"))))
    assert parse_query('"text-to-image" OR t2i') == Or((word("text to image"), word("t2i")))
    assert parse_query('cat:cs.CV (diffusion OR "flow matching")') == And(
        (Term(("cs.cv",), "categories"), Or((word("diffusion"), word("flow matching"))))
    )
    assert parse_query("au:hinton") == word("hinton", "authors")


def test_precedence_not_and_or() -> None:
    """NOT binds tighter than AND, AND tighter than OR; parentheses group."""
    a, b, c = word("a"), word("b"), word("c")
    assert parse_query("a b OR c") == Or((And((a, b)), c))
    assert parse_query("a OR b c") == Or((a, And((b, c))))
    assert parse_query("NOT a b") == And((Not(a), b))
    assert parse_query("(a OR b) c") == And((Or((a, b)), c))
    assert parse_query("a -(b OR c)") == And((a, Not(Or((b, c)))))


def test_operator_spellings() -> None:
    """AND is optional, | is OR, - and NOT negate; only uppercase words are operators."""
    a, b = word("a"), word("b")
    assert parse_query("a AND b") == parse_query("a b") == And((a, b))
    assert parse_query("a | b") == parse_query("a|b") == parse_query("a OR b") == Or((a, b))
    assert parse_query("a AND NOT b") == parse_query("a -b") == And((a, Not(b)))
    assert parse_query("cats or dogs") == And((word("cat"), word("or"), word("dog")))
    assert parse_query('"OR" gate') == And((word("or"), word("gate")))


def test_double_negation_cancels() -> None:
    """NOT NOT x is x, however many pairs there are (no recursion on long chains)."""
    assert parse_query("NOT NOT x") == word("x")
    assert parse_query("-" * 200 + "x") == word("x")
    assert parse_query("y -(-x)") == And((word("y"), word("x")))


def test_fields_are_case_insensitive_with_long_names() -> None:
    """ti:, abs:, au:, cat: and title:, abstract:, author:, category:, in any case."""
    assert parse_query("TI:x") == parse_query("title:x") == word("x", "title")
    assert parse_query("Abs:x") == parse_query("abstract:x") == word("x", "abstract")
    assert parse_query('Au:"Yann LeCun"') == parse_query('author:"yann lecun"')
    assert parse_query('au:"Yann LeCun"') == Term(("yann", "lecun"), "authors")
    assert parse_query("CAT:cs.cv") == parse_query("category:cs.CV")


def test_field_applies_to_a_group() -> None:
    """A field before parentheses applies to the terms inside that have none."""
    assert parse_query("ti:(a OR b)") == Or((word("a", "title"), word("b", "title")))
    assert parse_query("ti:(abs:a OR b)") == Or((word("a", "abstract"), word("b", "title")))


def test_unfielded_terms_search_title_and_abstract() -> None:
    """A term without a field has field None: title and abstract."""
    term = parse_query("diffusion")
    assert isinstance(term, Term)
    assert term.field is None


def test_categories_are_whole_names_or_prefixes() -> None:
    """cat: takes a whole category name (casefolded) or a prefix ending in *."""
    assert parse_query("cat:cs.CV") == Term(("cs.cv",), "categories")
    assert parse_query('cat:"cs.CV"') == Term(("cs.cv",), "categories")
    assert parse_query("cat:cs.*") == Term(("cs.",), "categories", prefix=True)
    assert parse_query("cat:cs*") == Term(("cs",), "categories", prefix=True)
    assert parse_query("cat:hep-th") == Term(("hep-th",), "categories")


def test_prefixes() -> None:
    """A word ending in * is a prefix, kept as typed (no plural rule: diffus* stays diffus)."""
    assert parse_query("diffus*") == Term(("diffus",), prefix=True)
    assert parse_query("queries*") == Term(("queries",), prefix=True)
    assert parse_query("flow-match*") == Term(("flow", "match"), prefix=True)
    assert parse_query("au:lec*") == Term(("lec",), "authors", prefix=True)


def test_words_are_normalised() -> None:
    """Terms are in normal form: case, accents, hyphens, plurals, LaTeX."""
    assert parse_query("Text-to-Images") == word("text to image")
    assert parse_query("Jörg") == parse_query("jorg") == parse_query('J\\"org') == word("jorg")
    assert parse_query("au:Müllers") == word("mullers", "authors")  # names keep their s
    assert parse_query(r"$\alpha$-stable") == word("\u03b1 stable")
    assert parse_query("\u201cflow matching\u201d") == word("flow matching")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3:1 ratio", And((word("3 1"), word("ratio")))),
        ("http://example.org/x", word("http example org x")),
        ("C++: fast", And((word("c"), word("fast")))),
        ("note: this", And((word("note"), word("this")))),
    ],
)
def test_colons_that_are_not_fields(text: str, expected: Query) -> None:
    """Only letters and a colon directly followed by a value make a field; the rest are words."""
    assert parse_query(text) == expected


def test_terms_keep_their_source_and_position() -> None:
    """Each term remembers its text as typed and where it starts (not part of equality)."""
    query = parse_query('diffusion  au:"Yann LeCun"')
    assert isinstance(query, And)
    first, second = query.children
    assert isinstance(first, Term)
    assert isinstance(second, Term)
    assert (first.text, first.position) == ("diffusion", 0)
    assert (second.text, second.position) == ('au:"Yann LeCun"', 11)


def test_positive_terms() -> None:
    """positive_terms lists the distinct terms not under an odd number of NOTs, in order."""
    query = parse_query("a -b (c OR -(d -e)) a")
    assert positive_terms(query) == (word("a"), word("c"), word("e"))


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b\u200d", "\ufeff "])
def test_empty_query(text: str) -> None:
    """An empty, blank or invisible query is refused as empty."""
    error = error_of(text)
    assert error.message == 'The query is empty: type a word or a "quoted phrase".'
    assert error.position is None


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        (
            'diffusion "flow',
            'Unbalanced quote: the " at position 11 is never closed.',
            10,
        ),
        (
            "a \u201cb",
            "Unbalanced quote: the \u201c at position 3 is never closed.",
            2,
        ),
        (
            "(a OR b",
            "Unbalanced parenthesis: the ( at position 1 is never closed.",
            0,
        ),
        (
            "a (b (c)",
            "Unbalanced parenthesis: the ( at position 3 is never closed.",
            2,
        ),
        (
            "a OR b)",
            "Unbalanced parenthesis: the ) at position 7 has no ( before it.",
            6,
        ),
        ("a OR", "Dangling operator: OR at position 3 needs a term on both sides.", 2),
        ("OR a", "Dangling operator: OR at position 1 needs a term on both sides.", 0),
        ("a |", "Dangling operator: | at position 3 needs a term on both sides.", 2),
        ("a AND", "Dangling operator: AND at position 3 needs a term on both sides.", 2),
        ("a AND OR b", "Dangling operator: AND at position 3 needs a term on both sides.", 2),
        ("(OR a)", "Dangling operator: OR at position 2 needs a term on both sides.", 1),
        ("NOT", "Dangling operator: NOT at position 1 needs a term right after it.", 0),
        ("a NOT", "Dangling operator: NOT at position 3 needs a term right after it.", 2),
        (
            "-",
            "Dangling operator: the - at position 1 must be directly followed by the term it "
            "excludes, as in -medical.",
            0,
        ),
        (
            "a - b",
            "Dangling operator: the - at position 3 must be directly followed by the term it "
            "excludes, as in -medical.",
            2,
        ),
        ("()", "Empty parentheses at position 1: put a term inside or remove them.", 0),
        ("a ( )", "Empty parentheses at position 3: put a term inside or remove them.", 2),
        (
            "foo:bar",
            "Unknown field foo: at position 1. The fields are ti: (title), abs: (abstract), au: "
            '(author) and cat: (category); to search for the text, put it in quotes: "foo:bar".',
            0,
        ),
        (
            "a ti:",
            "The field ti: at position 3 needs a value right after the colon, as in ti:diffusion.",
            2,
        ),
        (
            "a ti:-x",
            "To exclude a term of a field, put the - before the field, as in -ti:x (see "
            "position 6).",
            5,
        ),
        (
            "!!!",
            "The term “!!!” at position 1 has no letters or digits, so it could never match a "
            "paper.",
            0,
        ),
        (
            "a ???",
            "The term “???” at position 3 has no letters or digits, so it could never match a "
            "paper.",
            2,
        ),
        (
            "-diffusion",
            "The query only excludes terms: at least one positive term is needed, as in "
            "diffusion -medical.",
            0,
        ),
        (
            "NOT (a OR b)",
            "The query only excludes terms: at least one positive term is needed, as in "
            "diffusion -medical.",
            0,
        ),
        (
            "a OR -b",
            "Each side of OR needs a positive term: the part at position 6 only excludes, so it "
            "would match almost every paper.",
            5,
        ),
        (
            "diffusion -diffusion",
            "The query can never match: “diffusion” is both required and excluded (at position "
            "12).",
            11,
        ),
        (
            '"diffusion model" -models',
            'The query can never match: every paper with “"diffusion model"” also has '
            "“models”, which it excludes at position 20.",
            19,
        ),
        (
            "ti:x -x",
            "The query can never match: every paper with “ti:x” also has “x”, which it excludes "
            "at position 7.",
            6,
        ),
        (
            "(a OR b) -a -b",
            "The query can never match: “a” is both required and excluded (at position 11).",
            10,
        ),
        (
            "di*",
            "The prefix “di*” at position 1 is too broad: the word before the * needs at least "
            "3 letters.",
            0,
        ),
        (
            "dif*fusion",
            "A * can only end a word, as in diffus*: see “dif*fusion” at position 1.",
            0,
        ),
        (
            "cat:???",
            "cat: at position 1 needs an arXiv category such as cs.CV, or the start of one "
            "followed by * (cat:cs.*).",
            0,
        ),
        (
            "cat:cs",
            "cat:cs at position 1 names a whole archive, and papers are filed under its "
            "categories: use cat:cs.* for all of them, or one such as cs.CV.",
            0,
        ),
    ],
)
def test_refusals_name_the_problem_and_where(text: str, message: str, position: int) -> None:
    """Each malformed query gets its message, counting positions from 1, and .position from 0."""
    error = error_of(text)
    assert error.message == message
    assert str(error) == message
    assert error.position == position


def test_satisfiable_negations_are_accepted() -> None:
    """Excluding something narrower or elsewhere is fine: it can still match."""
    for text in ('model -"diffusion model"', "x -ti:x", "abs:x -ti:x", "models* -model"):
        parse_query(text)


def test_query_error_is_a_value_error() -> None:
    """QueryError is a ValueError with message and position."""
    error = error_of("a OR")
    assert isinstance(error, ValueError)
    assert (error.message, error.position) == (str(error), 2)


# --- limits -----------------------------------------------------------------------------------


def test_limits() -> None:
    """The documented limits."""
    assert (MAX_QUERY_LENGTH, MAX_TERMS, MAX_DEPTH) == (300, 30, 8)


def test_length_limit() -> None:
    """300 characters are fine; 301 are refused, saying how long it is."""
    parse_query("a" * MAX_QUERY_LENGTH)
    error = error_of("a" * (MAX_QUERY_LENGTH + 1))
    assert error.message == "The query is too long: 301 characters, at most 300 are allowed."


def test_ten_thousand_characters_are_refused_at_once() -> None:
    """A 10,000-character query is refused for its length, whatever it contains."""
    for text in ("x" * 10_000, "(" * 5_000 + ")" * 5_000, '"' * 10_000):
        assert error_of(text).message.startswith("The query is too long: 10000 characters")


def test_five_hundred_ors() -> None:
    """500 ORs are refused: by length when spelled out, by the number of terms when short."""
    assert "too long" in error_of(" OR ".join(["word"] * 501)).message
    error = error_of("|".join("abcdefghij"[i % 10] for i in range(150)))
    assert error.message.startswith("Too many terms: the query has more than 30")
    assert error.position == 60


def test_term_limit() -> None:
    """30 terms are fine; the 31st is refused where it is."""
    parse_query(" ".join(["w"] * MAX_TERMS))
    error = error_of(" ".join(["w"] * (MAX_TERMS + 1)))
    assert error.message == (
        "Too many terms: the query has more than 30 (the one at position 61 is one too many). "
        "Split it into several subscriptions."
    )


def test_depth_limit() -> None:
    """8 levels of parentheses are fine; a 9th, or 10,000, are refused without recursion."""
    parse_query("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH)
    error = error_of("(" * 9 + "a" + ")" * 9)
    assert error.message == (
        "Too deeply nested: the ( at position 9 opens level 9 of parentheses; at most 8 levels "
        "are allowed."
    )
    assert "too long" in error_of("(" * 10_000 + "a" + ")" * 10_000).message
    assert error_of("(" * 149 + "a").position == 8


# --- canonical text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Diffusion  models", "diffusion model"),
        ("a b", "b AND a"),
        ("a OR b", "b | a"),
        ("(a OR b) c", "c (b OR a)"),
        ("a a", "a"),
        ("Text-to-Image", '"text to image"'),
        ("ti:(a OR b)", "ti:b OR title:a"),
        ("cat:CS.cv", 'category:"cs.CV"'),
        ("NOT NOT a", "a"),
    ],
)
def test_describe_is_the_same_for_the_same_query(first: str, second: str) -> None:
    """describe gives one text for queries that differ in spelling, order or repetition."""
    assert describe(parse_query(first)) == describe(parse_query(second))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Diffusion  models", "diffusion model"),
        ('cat:cs.CV (diffusion OR "flow matching")', '("flow matching" OR diffusion) cat:cs.cv'),
        ("diffusion -medical", "-medical diffusion"),
        ("x -(a b)", "-(a b) x"),
        ("au:Jörg OR Text-to-Imag*", "au:jorg OR text-to-imag*"),
    ],
)
def test_describe_examples(text: str, expected: str) -> None:
    """describe writes words in normal form, sorted, with the fewest parentheses."""
    assert describe(parse_query(text)) == expected


def test_describe_differs_for_different_queries() -> None:
    """Different queries have different canonical texts."""
    texts = ["a b", "a OR b", '"a b"', "a -b", "ti:a", "abc*", "abc", "cat:cs.*", "cat:cs.cv"]
    assert len({describe(parse_query(text)) for text in texts}) == len(texts)


# --- implication ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "other", "expected"),
    [
        ("diffusion", "diffusion", True),
        ('"diffusion model"', "model", True),
        ('"diffusion model"', '"model diffusion"', False),
        ("ti:x", "x", True),
        ("x", "ti:x", False),
        ("diffusion", "diffus*", True),
        ("diffus*", "diffusion", False),
        ("diffusion*", "diffus*", True),
        ("cat:cs.cv", "cat:cs.*", True),
        ("cat:cs.*", "cat:cs.cv", False),
        ("au:lecun", "lecun", False),
    ],
)
def test_implies(term: str, other: str, expected: bool) -> None:
    """implies is true only when every paper with the first term has the second."""
    first, second = parse_query(term), parse_query(other)
    assert isinstance(first, Term)
    assert isinstance(second, Term)
    assert implies(first, second) is expected


# --- arbitrary input --------------------------------------------------------------------------

SYNTAX = st.text(alphabet=st.sampled_from('ab c-*:()|"\u201c\\ ORANDNOTtiaucs.$'), max_size=60)


@settings(max_examples=500)
@given(st.one_of(st.text(max_size=400), SYNTAX))
def test_parser_raises_only_its_own_error(text: str) -> None:
    """Any input parses or raises QueryError with a sentence and a position inside the text."""
    try:
        query = parse_query(text)
    except QueryError as error:
        failure: QueryError | None = error
    else:
        failure = None
        assert positive_terms(query)
        assert describe(query)
    if failure is not None:
        assert re.match(r"[A-Z\u201cc].*[.)]$", failure.message), failure.message
        assert failure.position is None or 0 <= failure.position < len(text)


@settings(max_examples=300)
@given(SYNTAX)
def test_describe_round_trips(text: str) -> None:
    """The canonical text parses to a query with the same canonical text."""
    try:
        query = parse_query(text)
    except QueryError:
        return
    canonical = describe(query)
    if len(canonical) <= MAX_QUERY_LENGTH:
        assert describe(parse_query(canonical)) == canonical
