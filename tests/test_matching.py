"""Tests for bot.matching: the normal form, whole-word matching and /subscribe argument parsing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pylatexenc.latex2text import LatexNodes2Text

from bot import matching
from bot.matching import (
    MAX_KEYWORD_LENGTH,
    MAX_SUBSCRIPTIONS,
    KeywordError,
    keyword_matches,
    match_paper,
    match_papers,
    normalize,
    paper_text,
    parse_keywords,
    validate_keyword,
)
from bot.models import Hit, Paper

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


def matches(keyword: str, text: str) -> bool:
    return keyword_matches(normalize(keyword), normalize(text))


# --- normalize --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Diffusion-based", "diffusion based"),
        ("Large\n  Language   Models", "large language models"),
        ("  diffusion,  GANs; (VAEs)! ", "diffusion gans vaes"),
        ("state-of-the-art", "state of the art"),
        ("snake_case", "snake case"),
        ("STRASSE Straße", "strasse strasse"),
        ("\uff27\uff21\uff2e", "gan"),  # full-width letters
        ("Schrödinger", "schrödinger"),
        ("", ""),
    ],
)
def test_normalize_examples(text: str, expected: str) -> None:
    """Punctuation, hyphens and whitespace runs become one space; case and width are folded."""
    assert normalize(text) == expected


def test_normalize_removes_latex_markup() -> None:
    """LaTeX markup is removed: math delimiters, macros and braces leave only their text."""
    assert normalize(r"$\mathcal{O}(n)$ diffusion") == "o n diffusion"
    assert normalize(r"$1.13\times$ faster") == "1 13 faster"
    assert normalize(r"\textbf{Score-based} models") == "score based models"
    assert normalize(r"Schr\"odinger and na\"ive") == "schrödinger and naïve"


def test_normalize_unescaped_percent_does_not_hide_text() -> None:
    """An unescaped % (per cent, not a LaTeX comment) keeps the rest of the line."""
    assert normalize("gains of 12% on $k$ tasks\nand more") == "gains of 12 on k tasks and more"


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

    monkeypatch.setattr(matching, "_latex_converter", Recorder)
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


# --- keyword_matches --------------------------------------------------------------------------


def test_gan_does_not_match_organ() -> None:
    """GAN does not match organ (whole words only)."""
    assert not matches("GAN", "an artificial organ")
    assert not matches("GAN", "GANs are popular")
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
        "Large-Language-Model",
        r"\emph{large} language $\text{model}$",
        "large\u200b language\u00a0model",
    ],
)
def test_phrase_matches_across_line_breaks_hyphens_and_latex(text: str) -> None:
    """A phrase matches across line breaks, repeated spaces, hyphens and LaTeX markup."""
    assert matches("large language model", text)


def test_phrase_needs_contiguous_whole_words() -> None:
    """A phrase matches only its words in order, adjacent and whole (model is not models)."""
    assert not matches("large language model", "large language models")
    assert not matches("large language model", "language model, large")
    assert not matches("large language model", "large vision language model")


def test_real_abstract_latex_phrases() -> None:
    """Keywords match inside real arXiv LaTeX: $1.13\\times$ faster, O(n) sampler, Schrödinger."""
    assert matches("faster", LATEX_ABSTRACTS[0])
    assert matches("1.13", LATEX_ABSTRACTS[0])
    assert matches("diffusion sampler", LATEX_ABSTRACTS[1])
    assert matches("Schrödinger bridge", LATEX_ABSTRACTS[2])
    assert matches("score-based models", LATEX_ABSTRACTS[2])
    assert matches("MMLU", LATEX_ABSTRACTS[3])
    assert not matches("β-VAE", LATEX_ABSTRACTS[4])  # the text has the plural
    assert matches("β-VAEs", LATEX_ABSTRACTS[4])
    assert matches("disentangled representation", LATEX_ABSTRACTS[4])
    assert matches("linear map", LATEX_ABSTRACTS[5])
    assert matches("description logics", LATEX_ABSTRACTS[6])
    assert matches("constant sound speed", LATEX_ABSTRACTS[7])
    assert matches("potential-dependent prefactor", LATEX_ABSTRACTS[7])
    assert matches("tables in our dataset", LATEX_ABSTRACTS[8])


def test_empty_keyword_never_matches() -> None:
    """An empty normal form matches nothing, not even empty text."""
    assert not keyword_matches("", "")
    assert not keyword_matches("", "some text")


words = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=12)
separators = st.text(st.sampled_from(" \n\t-,.;:()!?/\u00a0"), min_size=1, max_size=3)


@given(st.data())
def test_keyword_from_text_words_always_matches(data: st.DataObject) -> None:
    """Any run of consecutive words taken from a text matches it, in any case."""
    text_words = data.draw(st.lists(words, min_size=1, max_size=30))
    text = "".join(w + data.draw(separators) for w in text_words)
    start = data.draw(st.integers(0, len(text_words) - 1))
    end = data.draw(st.integers(start + 1, len(text_words)))
    keyword = " ".join(text_words[start:end])
    assert matches(keyword, text)
    if keyword.isascii():  # elsewhere upper() can lose information (dotless i)
        assert matches(keyword.upper(), text)


# --- papers -----------------------------------------------------------------------------------


def test_paper_text_is_title_and_abstract() -> None:
    """paper_text holds the normalised title and abstract."""
    paper = make_paper("Diffusion-Based Models", "We study $\\alpha$-divergences.")
    words = paper_text(paper).split()
    assert words == ["diffusion", "based", "models", "we", "study", "\u03b1", "divergences"]


def test_phrase_does_not_span_title_and_abstract() -> None:
    """A phrase cannot match the end of the title together with the start of the abstract."""
    paper = make_paper("Efficient diffusion", "Models are studied.")
    assert match_paper(paper, ["diffusion models"]) == ()
    both = ("efficient diffusion", "models")
    assert match_paper(paper, both) == both


def test_paper_text_is_cached() -> None:
    """The same title and abstract are normalised only once."""
    paper = make_paper("A cached title", "A cached abstract with $x$.")
    first = paper_text(paper)
    assert paper_text(make_paper("A cached title", "A cached abstract with $x$.")) is first


def test_match_paper_returns_keywords_as_typed_in_given_order() -> None:
    """match_paper returns the user's spelling of each matching keyword, in their order."""
    paper = make_paper("Large Language Models for Diffusion", "A GAN-free approach.")
    keywords = ["GAN", "transformer", "Diffusion", "large language model"]
    assert match_paper(paper, keywords) == ("GAN", "Diffusion")
    assert match_paper(paper, ["large language models"]) == ("large language models",)
    assert match_paper(paper, []) == ()


def test_match_papers_keeps_only_matching_papers_in_order() -> None:
    """match_papers drops papers without a match and keeps the others' order."""
    papers = [
        make_paper("Diffusion models", arxiv_id="1"),
        make_paper("Organ transplants", arxiv_id="2"),
        make_paper("Tiny GAN", "Diffusion too.", arxiv_id="3"),
    ]
    hits = match_papers(papers, ["GAN", "diffusion"])
    assert hits == [Hit(papers[0], ("diffusion",)), Hit(papers[2], ("GAN", "diffusion"))]
    assert match_papers(iter(papers), ["quantum"]) == []


# --- parse_keywords ---------------------------------------------------------------------------


def test_parse_keywords_example() -> None:
    """The documented /subscribe example gives three keywords."""
    assert parse_keywords('diffusion, "large language model", GAN') == [
        "diffusion",
        "large language model",
        "GAN",
    ]


def test_parse_keywords_quotes_protect_commas() -> None:
    """Straight and curly double quotes may enclose commas; the quotes are dropped."""
    assert parse_keywords('"graphs, networks", x') == ["graphs, networks", "x"]
    assert parse_keywords("\u201cgraphs, networks\u201d, y") == ["graphs, networks", "y"]
    assert parse_keywords("\u201egraphs, networks\u201c") == ["graphs, networks"]


def test_parse_keywords_trims_and_collapses_whitespace() -> None:
    """Whitespace around keywords is trimmed and runs inside them collapse to one space."""
    assert parse_keywords('  large \t language\n   ,  " big   model "  ') == [
        "large language",
        "big model",
    ]


def test_parse_keywords_line_breaks_separate() -> None:
    """One keyword per line works like commas (outside quotes); blank lines are ignored."""
    assert parse_keywords("diffusion\nGAN\n\n\u201cmixture\nof experts\u201d\n") == [
        "diffusion",
        "GAN",
        "mixture of experts",
    ]


def test_parse_keywords_comma_at_end_of_line_is_fine() -> None:
    """A comma before or after a line break does not make an empty keyword."""
    assert parse_keywords("diffusion,\nGAN\n, VAE,\n") == ["diffusion", "GAN", "VAE"]


def test_parse_keywords_removes_duplicates_keeping_the_first() -> None:
    """Keywords with the same normal form are duplicates; the first spelling is kept."""
    args = "Diffusion, GAN, diffusion, DIFFUSION, Large-Language, large language"
    assert parse_keywords(args) == [
        "Diffusion",
        "GAN",
        "Large-Language",
    ]


def test_parse_keywords_strips_zero_width_characters() -> None:
    """Zero-width characters are removed from keywords."""
    assert parse_keywords("dif\u200bfusion, \ufeffGAN") == ["diffusion", "GAN"]


@pytest.mark.parametrize("args", ["", "   ", "\n\t", "\u200b\u200d", "\ufeff "])
def test_parse_keywords_rejects_nothing(args: str) -> None:
    """Nothing (or only invisible characters) given is an error asking for a keyword."""
    with pytest.raises(KeywordError, match="at least one keyword"):
        parse_keywords(args)


@pytest.mark.parametrize(
    "args",
    ["diffusion,,GAN", "diffusion, GAN,", 'diffusion, ""', "GAN, \u200b\u200c\u2060, x", "x, ,y"],
)
def test_parse_keywords_rejects_empty_keyword(args: str) -> None:
    """An empty, whitespace-only or zero-width-only keyword is an error."""
    with pytest.raises(KeywordError, match="empty"):
        parse_keywords(args)


def test_parse_keywords_length_limit() -> None:
    """A keyword of 100 characters is fine; 101 is an error that quotes it shortened."""
    assert parse_keywords("a" * MAX_KEYWORD_LENGTH) == ["a" * MAX_KEYWORD_LENGTH]
    with pytest.raises(KeywordError, match="too long") as error:
        parse_keywords("x, " + "b" * (MAX_KEYWORD_LENGTH + 1))
    message = str(error.value)
    assert "bbbbbbbbbb" in message
    assert "b" * (MAX_KEYWORD_LENGTH + 1) not in message
    assert str(MAX_KEYWORD_LENGTH) in message


@pytest.mark.parametrize("keyword", ["!!!", "---", "\u2192 \u2190", "\\", "$$", "{}"])
def test_parse_keywords_rejects_keyword_without_letters_or_digits(keyword: str) -> None:
    """A keyword without a letter or digit could never match, so it is an error naming it."""
    with pytest.raises(KeywordError, match="no letters or digits") as error:
        parse_keywords(f"diffusion, {keyword}")
    assert keyword in str(error.value)


@pytest.mark.parametrize("args", ['diffusion, "large language model', '"a", "b', "\u201cx"])
def test_parse_keywords_rejects_unbalanced_quote(args: str) -> None:
    """An unclosed quote is an error that shows the text after it."""
    with pytest.raises(KeywordError, match="not closed"):
        parse_keywords(args)


def test_keyword_error_is_a_value_error_with_a_sentence() -> None:
    """KeywordError is a ValueError whose str is a full English sentence."""
    with pytest.raises(ValueError, match=r"^[A-Z].*\.$"):
        parse_keywords("???")


def test_validate_keyword_returns_cleaned_keyword() -> None:
    """validate_keyword trims, collapses whitespace and drops invisible characters."""
    assert validate_keyword("  large\u200b \n language  ") == "large language"
    assert validate_keyword(r"$\alpha$-divergence") == r"$\alpha$-divergence"


def test_limits() -> None:
    """The documented limits."""
    assert (MAX_KEYWORD_LENGTH, MAX_SUBSCRIPTIONS) == (100, 50)


@given(st.text(max_size=300))
def test_parse_keywords_accepts_or_explains(args: str) -> None:
    """Any input gives valid, distinct keywords or a KeywordError, never another exception."""
    try:
        keywords = parse_keywords(args)
    except KeywordError as error:
        message = str(error)
        keywords = []
    else:
        message = ""
    assert not message or re.match(r"[A-Z].*\.", message)
    normal_forms = [normalize(keyword) for keyword in keywords]
    assert all(normal_forms)
    assert len(set(normal_forms)) == len(normal_forms)
    assert all(len(keyword) <= MAX_KEYWORD_LENGTH for keyword in keywords)
