"""Tests for bot.matching.ranking (and the normal form of bot.matching.normalize it re-exports):
normalising, plurals, matching papers to queries, ranking, highlighting and /subscribe argument
parsing."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pylatexenc.latex2text import LatexNodes2Text

from bot.matching import normalize as normalize_module
from bot.matching.evaluator import occurrences
from bot.matching.normalize import _IRREGULAR, _NOT_PLURAL, singular  # the rule's word lists
from bot.matching.parser import parse_query
from bot.matching.query import describe, positive_terms
from bot.matching.ranking import (
    MAX_KEYWORD_LENGTH,
    MAX_QUERY_LENGTH,
    MAX_SUBSCRIPTIONS,
    KeywordError,
    QueryError,
    _starts,  # the highlighting shortcut, tested against `occurrences`
    _title,
    highlight_spans,
    match_papers,
    normalize,
    paper_text,
    parse_keywords,
    rank,
    validate_keyword,
)
from bot.models import Hit, Match, Paper

# Sentences in the style of real arXiv abstracts, LaTeX as submitters write it.
LATEX_ABSTRACTS = [
    r"Our kernel is $1.13\times$ faster than FlashAttention-2 and uses 35\% less memory.",
    r"We give an $\mathcal{O}(n)$ diffusion sampler and prove a regret bound of "
    r"$\mathcal{O}(\sqrt{T \log T})$, matching the $\Omega(\sqrt{T})$ lower bound.",
    r"We study the \emph{Schr\"odinger bridge} problem with $\varepsilon$-entropic "
    r"regularization on $\mathbb{R}^d$ and show that \textbf{score-based} models solve it.",
    r"Experiments on \textsc{MMLU} and GSM8K show gains of up to 12% with $k=4$ examples.",
    r"We introduce $\beta$-VAEs for {\em disentangled} representation learning in "
    r"$d \geq 3$ dimensions, see \url{https://example.org/code}.",
    # Excerpts of real abstracts (tests/fixtures/arxiv).
    r"Given a ring $R$ with center $Z(R)$, we say a linear map $f:R\rightarrow R$ is commuting "
    r"if $[f(x),x]=0$ for all $x\in R$.",
    r"we consider the description logics $\mathcal{E\mkern-2mu L}$ and "
    r"$\mathcal{E\mkern-2mu LI}$ as well as several classes",
    r"implemented via a potential-dependent prefactor $f(φ)=1+2\mathcal{K}V$. In slow roll, "
    r"this structure preserves a constant sound speed $c_s^2=1/(2ρ-1)$ while",  # noqa: RUF001
    r"for example, 99.4% of the tables in our dataset have no boundaries $x$",
]


def make_paper(title: str = "A title", abstract: str = "An abstract.", **kwargs: Any) -> Paper:
    fields: dict[str, Any] = {
        "arxiv_id": "2508.13167",
        "authors": ("Ada Lovelace",),
        "categories": ("cs.LG",),
    }
    fields.update(kwargs)
    return Paper(title=title, abstract=abstract, **fields)


def matches(query: str, text: str) -> bool:
    """Whether the query matches a paper whose abstract is the text."""
    return bool(match_papers([make_paper("", text)], [query]))


# --- normalize --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Diffusion-based", "diffusion based"),
        ("Large\n  Language   Models", "large language model"),
        ("  diffusion,  GANs; (VAEs)! ", "diffusion gan vae"),
        ("state-of-the-art", "state of the art"),
        ("snake_case", "snake case"),
        ("STRASSE Straße", "strasse strasse"),
        ("\uff27\uff21\uff2e", "gan"),  # full-width letters
        ("Schrödinger", "schrodinger"),
        ("Søren Łukasz Đorđe œuvre", "soren lukasz dorde oeuvre"),
        ("\ufb01ne", "fine"),  # the fi ligature
        ("", ""),
    ],
)
def test_normalize_examples(text: str, expected: str) -> None:
    """Punctuation, hyphens and whitespace runs become one space; case, width, accents fold."""
    assert normalize(text) == expected


@pytest.mark.parametrize("text", ['J\\"org', "Jörg", "Jorg", "JÖRG", "Jo\u0308rg"])
def test_accents_fold(text: str) -> None:
    """J\\"org in TeX, Jörg (composed or not) and Jorg have the same normal form."""
    assert normalize(text) == "jorg"


def test_other_scripts_keep_their_marks() -> None:
    """Only Latin-style accents go: kana voicing and Greek letters stay distinct."""
    assert normalize("が") != normalize("か")
    assert normalize("Αλφα") == "αλφα"


def test_normalize_removes_latex_markup() -> None:
    """LaTeX markup is removed: math delimiters, macros and braces leave only their text."""
    assert normalize(r"$\mathcal{O}(n)$ diffusion") == "o n diffusion"
    assert normalize(r"$1.13\times$ faster") == "1 13 faster"
    assert normalize(r"\textbf{Score-based} models") == "score based model"
    assert normalize(r"Schr\"odinger and na\"ive") == "schrodinger and naive"


def test_normalize_unescaped_percent_does_not_hide_text() -> None:
    """An unescaped % (per cent, not a LaTeX comment) keeps the rest of the line."""
    assert normalize("gains of 12% on $k$ tasks\nand more") == "gain of 12 on k task and more"


def test_normalize_drops_invisible_format_characters() -> None:
    """Zero-width characters and soft hyphens inside a word do not split it."""
    assert normalize("dif\u200bfu\u00adsion mo\u2060del\ufeff") == "diffusion model"


@pytest.mark.parametrize(
    "text",
    [
        r"\verb|x| and diffusion",
        r"\href{http://x}{text} diffusion",
        "{" * 5000 + "diffusion",
        "diffusion \\",
        r"$\frac{1}{2 diffusion",
        r"\begin{itemize}\item diffusion",
        "$" * 999 + " diffusion",
        "\\" * 999 + " diffusion",
    ],
)
def test_normalize_survives_broken_latex(text: str) -> None:
    """Input that makes pylatexenc fail or recurse deeply still normalises and keeps its words."""
    assert "diffusion" in normalize(text).split()


def test_normalize_skips_latex_conversion_for_plain_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """Text without \\, $ or { never reaches pylatexenc, which is slow."""
    calls: list[str] = []

    class Recorder:
        def latex_to_text(self, text: str) -> str:
            calls.append(text)
            return text

    monkeypatch.setattr(normalize_module, "_latex_converter", Recorder)
    normalize("Plain words, 10% better (really) -- no markup at all.")
    assert calls == []
    normalize(r"A $\mathcal{O}(n)$ bound")
    assert calls == [r"$\mathcal{O}(n)$"]


def test_normalize_never_reads_files(tmp_path: Path) -> None:
    """\\input and \\include in an abstract do not read files from the server."""
    secret = tmp_path / "secret.tex"
    secret.write_text("leaked", encoding="utf-8")
    text = rf"a \input{{{secret}}} b \include{{{secret.with_suffix('')}}} c"
    assert "leaked" not in normalize(text)


@pytest.mark.parametrize("abstract", LATEX_ABSTRACTS)
def test_normalize_matches_whole_text_conversion(abstract: str) -> None:
    """Converting only the LaTeX pieces gives the same words as converting the whole abstract."""
    whole = LatexNodes2Text().latex_to_text(re.sub(r"(?<!\\)%", r"\\%", abstract))
    assert normalize(abstract) == normalize(whole)


@given(st.text())
def test_normalize_is_idempotent_and_total(text: str) -> None:
    """normalize never raises, and its output is already in normal form."""
    once = normalize(text)
    assert normalize(once) == once
    assert once == once.strip()
    assert "  " not in once


@given(st.text(alphabet=st.sampled_from("\\${}%^_&~#()[]ab \n\"'")))
def test_normalize_is_idempotent_and_total_on_latex_soup(text: str) -> None:
    """normalize never raises on arbitrary LaTeX-like input and is idempotent there too."""
    once = normalize(text)
    assert normalize(once) == once


# --- plurals ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plural", "singular_"),
    [
        ("models", "model"),
        ("diffusions", "diffusion"),
        ("queries", "query"),
        ("classes", "class"),
        ("approaches", "approach"),
        ("boxes", "box"),
        ("gans", "gan"),
        ("metrics", "metric"),
        ("analyses", "analysis"),
        ("biases", "bias"),
        ("caches", "cache"),
        ("days", "day"),
    ],
)
def test_plurals_become_singular(plural: str, singular_: str) -> None:
    """Regular English plurals, and a few irregular ones, become singular."""
    assert singular(plural) == singular_


@pytest.mark.parametrize(
    "word",
    [
        "bus",
        "analysis",
        "gas",
        "gan",
        "lens",
        "physics",
        "class",
        "corpus",
        "series",
        "news",
        "bias",
        "this",
        "its",
        "statistics",
        "dynamics",
        "model",
        "über",
        "3ds",
        "\u03b1s",
    ],
)
def test_words_that_are_not_plurals_stay(word: str) -> None:
    """Words ending in -ss, -us, -is, -ics, short words, known non-plurals, and non-ASCII or
    non-letter words are left alone."""
    assert singular(word) == word


@given(st.text(alphabet=st.sampled_from("abcehiorsuxyz"), max_size=12))
def test_plural_rule_is_idempotent(word: str) -> None:
    """The singular of a singular is itself."""
    assert singular(singular(word)) == singular(word)


def test_singular_and_plural_match_each_other() -> None:
    """model matches models and the reverse; diffusion matches diffusions."""
    assert matches("model", "Three models.")
    assert matches("models", "One model.")
    assert matches("diffusion", "Latent diffusions")
    assert matches("GAN", "GANs are popular")


# --- matching ---------------------------------------------------------------------------------


def test_gan_does_not_match_organ() -> None:
    """GAN does not match organ (whole words only)."""
    assert not matches("GAN", "an artificial organ")
    assert matches("GAN", "a conditional GAN, trained")


@pytest.mark.parametrize(
    "text", ["Diffusion-based models", "we use diffusion, too", "(Diffusion)", "DIFFUSION"]
)
def test_diffusion_matches_across_punctuation(text: str) -> None:
    """diffusion matches Diffusion-based, "diffusion," and any case."""
    assert matches("diffusion", text)


@pytest.mark.parametrize(
    "text",
    [
        "large\nlanguage   model",
        "Large-Language-Models",
        r"\emph{large} language $\text{model}$",
        "large\u200b language\u00a0model",
    ],
)
def test_phrase_matches_across_line_breaks_hyphens_and_latex(text: str) -> None:
    """A phrase matches across line breaks, repeated spaces, hyphens, plurals and LaTeX."""
    assert matches('"large language model"', text)


def test_hyphens_and_spaces_are_the_same() -> None:
    """text-to-image, "text to image" and Text-To-Image match each other."""
    for query in ("text-to-image", '"text to image"', '"Text-To-Images"'):
        assert matches(query, "a text to image model")
        assert matches(query, "a Text-to-Image model")


def test_phrase_needs_contiguous_whole_words() -> None:
    """A phrase matches only its words in order and adjacent; bare words need only be there."""
    assert not matches('"large language model"', "language model, large")
    assert not matches('"large language model"', "large vision language model")
    assert matches("large language model", "language model, large")


def test_real_abstract_latex_phrases() -> None:
    """Queries match inside real arXiv LaTeX: $1.13\\times$ faster, O(n) sampler, Schrödinger."""
    assert matches("faster", LATEX_ABSTRACTS[0])
    assert matches('"1.13"', LATEX_ABSTRACTS[0])
    assert matches('"diffusion sampler"', LATEX_ABSTRACTS[1])
    assert matches('"Schrödinger bridge"', LATEX_ABSTRACTS[2])
    assert matches('"score-based models"', LATEX_ABSTRACTS[2])
    assert matches("MMLU", LATEX_ABSTRACTS[3])
    assert matches("β-VAE", LATEX_ABSTRACTS[4])  # the text has the plural
    assert matches('"disentangled representation"', LATEX_ABSTRACTS[4])
    assert matches('"linear map"', LATEX_ABSTRACTS[5])
    assert matches('"description logic"', LATEX_ABSTRACTS[6])
    assert matches('"constant sound speed"', LATEX_ABSTRACTS[7])
    assert matches("potential-dependent prefactor", LATEX_ABSTRACTS[7])
    assert matches('"tables in our dataset"', LATEX_ABSTRACTS[8])


def test_latex_titles_match() -> None:
    """A title written in LaTeX matches the words it renders to."""
    paper = make_paper(r"$\alpha$-Stable \textsc{Diffusion} Models for Schr\"odinger Bridges")
    alpha = '"\u03b1 stable diffusion"'
    hits = match_papers([paper], ["ti:schrodinger", alpha, "ti:textsc"])
    assert hits[0].keywords == ("ti:schrodinger", alpha)


def test_authors_match_with_or_without_accents() -> None:
    """au:jorg, au:Jörg and au:J\\"org match J\\"org, Jörg and Jorg in the author list."""
    papers = [
        make_paper(arxiv_id="1", authors=('J\\"org M\\"uller',)),
        make_paper(arxiv_id="2", authors=("Jörg Müller",)),
        make_paper(arxiv_id="3", authors=("Jorg Muller",)),
    ]
    for query in ("au:jorg", "au:Jörg", 'au:"Jörg Müller"', 'au:J\\"org'):
        assert len(match_papers(papers, [query])) == 3


@given(st.data())
def test_query_from_text_words_always_matches(data: st.DataObject) -> None:
    """A quoted run of consecutive words taken from a text matches it, in any case."""
    words = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12)
    separators = st.text(st.sampled_from(" \n\t-,.;:()!?/\u00a0"), min_size=1, max_size=3)
    text_words = data.draw(st.lists(words, min_size=1, max_size=30))
    text = "".join(w + data.draw(separators) for w in text_words)
    start = data.draw(st.integers(0, len(text_words) - 1))
    end = data.draw(st.integers(start + 1, min(len(text_words), start + 20)))
    phrase = " ".join(text_words[start:end])
    assert matches(f'"{phrase}"', text)
    if phrase.isascii():  # elsewhere upper() can lose information (dotless i)
        assert matches(f'"{phrase.upper()}"', text)


# --- papers -----------------------------------------------------------------------------------


def test_paper_text_is_title_and_abstract() -> None:
    """paper_text holds the normalised title and abstract."""
    paper = make_paper("Diffusion-Based Models", "We study $\\alpha$-divergences.")
    words = paper_text(paper).split()
    assert words == ["diffusion", "based", "model", "we", "study", "\u03b1", "divergence"]


def test_phrase_does_not_span_title_and_abstract() -> None:
    """A phrase cannot match the end of the title together with the start of the abstract."""
    paper = make_paper("Efficient diffusion", "Models are studied.")
    assert match_papers([paper], ['"diffusion models"']) == []
    hits = match_papers([paper], ['"efficient diffusion"', "models"])
    assert hits[0].keywords == ('"efficient diffusion"', "models")


def test_paper_text_is_cached() -> None:
    """The same title and abstract are normalised only once."""
    paper = make_paper("A cached title", "A cached abstract with $x$.")
    first = paper_text(paper)
    assert paper_text(make_paper("A cached title", "A cached abstract with $x$.")) is first


def test_match_papers_reports_queries_as_typed_in_given_order_with_fields() -> None:
    """Each hit lists the matching queries as typed, in their order, and where they matched."""
    paper = make_paper(
        "Large Language Models for Diffusion", "A GAN-free approach.", categories=("cs.CL",)
    )
    queries = ["GAN", "transformer", "Diffusion", "cat:cs.CL", '"large language model"']
    [hit] = match_papers([paper], queries)
    assert hit.keywords == ("GAN", "Diffusion", "cat:cs.CL", '"large language model"')
    assert hit.matches == (
        Match("GAN", ("abstract",)),
        Match("Diffusion", ("title",)),
        Match("cat:cs.CL", ("categories",)),
        Match('"large language model"', ("title",)),
    )
    assert match_papers([paper], []) == []


def test_match_papers_skips_queries_that_do_not_parse() -> None:
    """A stored query that no longer parses is skipped; the others still match."""
    [hit] = match_papers([make_paper("Diffusion")], ["a OR", "diffusion", "-x"])
    assert hit.keywords == ("diffusion",)


def test_match_papers_keeps_only_matching_papers() -> None:
    """match_papers drops papers without a match."""
    papers = [
        make_paper("Diffusion models", arxiv_id="1"),
        make_paper("Organ transplants", arxiv_id="2"),
        make_paper("Tiny GAN", "Diffusion too.", arxiv_id="3"),
    ]
    hits = match_papers(papers, ["GAN", "diffusion"])
    assert {hit.paper.arxiv_id for hit in hits} == {"1", "3"}
    assert match_papers(iter(papers), ["quantum"]) == []


def test_issue_examples_end_to_end() -> None:
    """The issue's example queries select the papers they describe."""
    papers = [
        make_paper("Diffusion for medical imaging", arxiv_id="1", categories=("eess.IV",)),
        make_paper("Text-to-Image diffusion", arxiv_id="2", categories=("cs.CV",)),
        make_paper("Fast T2I", "Flow matching.", arxiv_id="3", categories=("cs.CV",)),
        make_paper("Capsules", arxiv_id="4", authors=("Geoffrey E. Hinton",)),
    ]

    def ids(query: str) -> set[str]:
        return {hit.paper.arxiv_id for hit in match_papers(papers, [query])}

    assert ids("diffusion -medical") == {"2"}
    assert ids('"text-to-image" OR t2i') == {"2", "3"}
    assert ids('cat:cs.CV (diffusion OR "flow matching")') == {"2", "3"}
    assert ids("au:hinton") == {"4"}


# --- ranking ----------------------------------------------------------------------------------


def hit(arxiv_id: str, *matches: tuple[str, tuple[str, ...]], day: int = 1) -> Hit:
    paper = make_paper(arxiv_id=arxiv_id, announced=dt.date(2025, 8, day))
    found = tuple(Match(query, fields) for query, fields in matches)
    return Hit(paper, tuple(m.query for m in found), found)


def test_rank_title_before_abstract_before_categories() -> None:
    """Title (or author) hits come before abstract hits, which come before category-only."""
    hits = [
        hit("1", ("cat:cs.LG", ("categories",))),
        hit("2", ("a", ("abstract",)), ("b", ("abstract",))),
        hit("3", ("a", ("title", "abstract"))),
        hit("4", ("au:x", ("authors",))),
    ]
    assert [h.paper.arxiv_id for h in rank(hits)] == ["4", "3", "2", "1"]  # 4 is newer than 3


def test_rank_more_queries_then_newest_first() -> None:
    """Within a tier, more distinct matching queries first, then the newest first."""
    hits = [
        hit("2508.00001", ("a", ("abstract",)), day=1),
        hit("2508.00002", ("a", ("abstract",)), day=2),
        hit("2508.00003", ("a", ("abstract",)), ("b", ("abstract",)), day=1),
        hit("2508.00004", ("a", ("abstract",)), day=2),
    ]
    assert [h.paper.arxiv_id[-1] for h in rank(hits)] == ["3", "4", "2", "1"]


def test_match_papers_ranks() -> None:
    """match_papers returns hits ranked: title hits first."""
    papers = [
        make_paper("Nothing here", "But diffusion in the abstract.", arxiv_id="1"),
        make_paper("Diffusion in the title", arxiv_id="2"),
    ]
    assert [h.paper.arxiv_id for h in match_papers(papers, ["diffusion"])] == ["2", "1"]


# --- highlighting -----------------------------------------------------------------------------


def bold(text: str, queries: list[str]) -> str:
    """The text with highlighted spans in [brackets], to read tests at a glance."""
    out, last = [], 0
    for start, end in highlight_spans(text, queries):
        out += [text[last:start], "[", text[start:end], "]"]
        last = end
    return "".join([*out, text[last:]])


@pytest.mark.parametrize(
    ("title", "queries", "expected"),
    [
        ("Diffusion Models", ["diffusion"], "[Diffusion] Models"),
        ("Diffusion Models", ["model"], "Diffusion [Models]"),
        ("Text-to-Image Diffusion", ['"text to image"'], "[Text-to-Image] Diffusion"),
        ("Diffusers and diffusion", ["diffus*"], "[Diffusers] and [diffusion]"),
        ("Flow Matching Flows", ['"flow matching" OR flow'], "[Flow Matching] [Flows]"),
        ("Jörg's Models", ["jorg"], "[Jörg]'s Models"),
        ("Diffusion Models", ["diffusion -survey", "-x"], "[Diffusion] Models"),
        ("Diffusion Models", ["abs:diffusion", "au:models", "cat:cs.*"], "Diffusion Models"),
        ("Diffusion Models", ["models -diffusion"], "Diffusion [Models]"),
        ("Diffusion Models", ["ti:(diffusion OR x)"], "[Diffusion] Models"),
        ("a b a b", ['"a b"', '"b a"'], "[a b a b]"),
        ("Dif\u00adfusion!", ["diffusion"], "[Dif\u00adfusion]!"),
        ("Nothing", ["a OR"], "Nothing"),
    ],
)
def test_highlight_spans(title: str, queries: list[str], expected: str) -> None:
    """Positive title and unfielded terms are highlighted: words, phrases, prefixes, plurals."""
    assert bold(title, queries) == expected


def test_highlight_spans_are_sorted_and_merged() -> None:
    """Spans are character offsets, sorted, overlapping ones merged."""
    assert highlight_spans("deep diffusion models", ['"diffusion models"', "deep", "models"]) == [
        (0, 4),
        (5, 21),
    ]
    assert highlight_spans("", ["x"]) == []


# Words that normalise in different ways: case, plurals, accents, soft hyphens, CJK.
TITLE_WORDS = [
    *("Diffusion", "diffusions", "Models", "model", "flow", "Flows", "a", "b", "Jörg"),
    *("analyses", "x-ray", "GANs", "2D", "Dif\u00adfusion", "e\u0301t\u00e9", "\u4e2d\u6587"),
]
# Words, prefixes, phrases (one ending in a prefix), fields, OR, NOT, groups.
QUERY_FORMS = [
    *("{0}", "{0}*", "{0:.3}*", '"{0} {1}"', '"{0} {1:.2}*"', "ti:{0}", "abs:{0}"),
    *("{0} OR {1}", "{0} -{1}", "({0} {1})", '"{0}"*'),
]
title_words = st.sampled_from(TITLE_WORDS)


@st.composite
def title_queries(draw: st.DrawFn) -> str:
    """A query on the titles' words."""
    return draw(st.sampled_from(QUERY_FORMS)).format(draw(title_words), draw(title_words))


@given(
    words=st.lists(title_words, max_size=12),
    separators=st.lists(st.sampled_from([" ", "-", ": ", " (", ") "]), min_size=12, max_size=12),
    queries=st.lists(title_queries(), max_size=4),
)
def test_highlighting_finds_what_scanning_the_title_finds(
    words: list[str], separators: list[str], queries: list[str]
) -> None:
    """The terms' occurrences in a title are found by looking words up (most terms) as by
    scanning every word with `occurrences` (the reference), and highlighting a title twice
    (from the caches) gives the same spans."""
    text = "".join(word + separator for word, separator in zip(words, separators, strict=False))
    title = _title(text)
    for query in queries:
        try:
            terms = positive_terms(parse_query(query))
        except QueryError:
            continue
        for term in terms:
            assert list(_starts(term, title)) == list(occurrences(term, title.tokens)), term
    assert highlight_spans(text, queries) == highlight_spans(text, queries)


# --- parse_keywords ---------------------------------------------------------------------------


def test_parse_keywords_example() -> None:
    """The documented /subscribe example gives three queries; quotes stay (they make phrases)."""
    assert parse_keywords('diffusion, "large language model", GAN') == [
        "diffusion",
        '"large language model"',
        "GAN",
    ]


def test_parse_keywords_whole_queries() -> None:
    """Each comma-separated item is a whole query with operators and fields."""
    assert parse_keywords('diffusion -medical, cat:cs.CV (diffusion OR "flow matching")') == [
        "diffusion -medical",
        'cat:cs.CV (diffusion OR "flow matching")',
    ]


def test_parse_keywords_quotes_protect_commas() -> None:
    """Straight and curly double quotes may enclose commas."""
    assert parse_keywords('"graphs, networks", x') == ['"graphs, networks"', "x"]
    assert parse_keywords("\u201cgraphs, networks\u201d, y") == [
        "\u201cgraphs, networks\u201d",
        "y",
    ]
    assert parse_keywords('a, "b, c", d') == ["a", '"b, c"', "d"]


def test_parse_keywords_trims_and_collapses_whitespace() -> None:
    """Whitespace around queries is trimmed and runs inside them collapse to one space."""
    assert parse_keywords('  large \t language\n   ,  " big   model "  ') == [
        "large language",
        '" big model "',
    ]


def test_parse_keywords_line_breaks_separate() -> None:
    """One query per line works like commas (outside quotes); blank lines are ignored."""
    assert parse_keywords("diffusion\nGAN\n\n\u201cmixture\nof experts\u201d\n") == [
        "diffusion",
        "GAN",
        "\u201cmixture of experts\u201d",
    ]


def test_parse_keywords_comma_at_end_of_line_is_fine() -> None:
    """A comma before or after a line break does not make an empty query."""
    assert parse_keywords("diffusion,\nGAN\n, VAE,\n") == ["diffusion", "GAN", "VAE"]


def test_parse_keywords_removes_duplicates_keeping_the_first() -> None:
    """Queries with the same canonical form are duplicates; the first spelling is kept."""
    args = "Diffusion, GAN, diffusions, DIFFUSION, Large-Language, large language, b a, a b"
    assert parse_keywords(args) == ["Diffusion", "GAN", "Large-Language", "large language", "b a"]


def test_parse_keywords_strips_zero_width_characters() -> None:
    """Zero-width characters are removed from queries."""
    assert parse_keywords("dif\u200bfusion, \ufeffGAN") == ["diffusion", "GAN"]


@pytest.mark.parametrize("args", ["", "   ", "\n\t", "\u200b\u200d", "\ufeff "])
def test_parse_keywords_rejects_nothing(args: str) -> None:
    """Nothing (or only invisible characters) given is an error asking for a keyword."""
    with pytest.raises(KeywordError, match="at least one keyword"):
        parse_keywords(args)


@pytest.mark.parametrize(
    "args",
    ["diffusion,,GAN", "diffusion, GAN,", "GAN, \u200b\u200c\u2060, x", "x, ,y"],
)
def test_parse_keywords_rejects_empty_query(args: str) -> None:
    """An empty, whitespace-only or zero-width-only query in the list is an error."""
    with pytest.raises(KeywordError, match="empty"):
        parse_keywords(args)


def test_parse_keywords_length_limit() -> None:
    """A query of 300 characters is fine; 301 is an error that names the query."""
    assert parse_keywords("a" * MAX_KEYWORD_LENGTH) == ["a" * MAX_KEYWORD_LENGTH]
    with pytest.raises(KeywordError, match="too long") as error:
        parse_keywords("x, " + "b" * (MAX_KEYWORD_LENGTH + 1))
    message = str(error.value)
    assert message.startswith("In “bbbbbbbbbb")
    assert "b" * (MAX_KEYWORD_LENGTH + 1) not in message


@pytest.mark.parametrize("query", ["!!!", "?!?", "\u2192 \u2190", "$$", "{}"])
def test_parse_keywords_rejects_query_without_letters_or_digits(query: str) -> None:
    """A term without a letter or digit could never match, so it is an error naming it."""
    with pytest.raises(KeywordError, match="no letters or digits"):
        parse_keywords(f"diffusion, {query}")


def test_parse_keywords_errors_of_a_single_query_keep_its_positions() -> None:
    """With one query, the parser's message and position are passed on unchanged."""
    with pytest.raises(QueryError) as error:
        parse_keywords('diffusion "flow')
    assert error.value.message == 'Unbalanced quote: the " at position 11 is never closed.'
    assert error.value.position == 10


def test_parse_keywords_errors_name_the_query_among_several() -> None:
    """With several queries, the message starts by naming the one that is wrong."""
    with pytest.raises(QueryError) as error:
        parse_keywords('diffusion, "large language model')
    assert error.value.message == (
        'In “"large language model”: Unbalanced quote: the " at position 1 is never closed.'
    )


def test_keyword_error_is_query_error() -> None:
    """KeywordError (the handlers' name) is QueryError, a ValueError with a sentence."""
    assert KeywordError is QueryError
    with pytest.raises(ValueError, match=r"^[A-Z].*\.$"):
        parse_keywords("???")


def test_validate_keyword_returns_cleaned_query() -> None:
    """validate_keyword trims, collapses whitespace and drops invisible characters."""
    assert validate_keyword("  large\u200b \n language  ") == "large language"
    assert validate_keyword(r"$\alpha$-divergence") == r"$\alpha$-divergence"


def test_limits() -> None:
    """The documented limits: 50 subscriptions, queries as long as the parser allows."""
    assert (MAX_SUBSCRIPTIONS, MAX_KEYWORD_LENGTH, MAX_QUERY_LENGTH) == (50, 300, 300)


@given(st.text(max_size=300))
def test_parse_keywords_accepts_or_explains(args: str) -> None:
    """Any input gives valid, distinct queries or a QueryError, never another exception."""
    try:
        queries = parse_keywords(args)
    except QueryError as error:
        message = str(error)
        queries = []
    else:
        message = ""
    assert not message or re.match(r"[A-Z].*\.", message)
    canonical = [describe(parse_query(query)) for query in queries]
    assert len(set(canonical)) == len(canonical)
    assert all(len(query) <= MAX_QUERY_LENGTH for query in queries)


@pytest.mark.parametrize(
    "query",
    ["x" * 10_000, " OR ".join(["word"] * 500), "(" * 5_000 + "a" + ")" * 5_000, "-" * 10_000],
)
def test_huge_queries_are_refused_or_skipped_everywhere(query: str) -> None:
    """A 10,000-character query, 500 ORs or deep nesting: refused by /subscribe, skipped when
    matching and highlighting, never a crash."""
    with pytest.raises(QueryError, match="too long"):
        parse_keywords(query)
    paper = make_paper("Diffusion word", "a x")
    assert match_papers([paper], [query, "diffusion"])[0].keywords == ("diffusion",)
    assert highlight_spans("Diffusion word", [query, "diffusion"]) == [(0, 9)]


def test_irregular_plurals_and_exceptions_are_fixed_points() -> None:
    """The singulars the rule gives for listed words are themselves left alone."""
    for word in [*_IRREGULAR.values(), *_NOT_PLURAL]:
        assert singular(word) == word
