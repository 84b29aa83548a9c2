"""Tests for bot.arxiv.latex: LaTeX in titles, abstracts and names, shown as Unicode."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.arxiv.api import parse_api_response
from bot.arxiv.feeds import parse_feed
from bot.arxiv.latex import to_unicode
from bot.models import Paper

FIXTURES = Path(__file__).parents[1] / "fixtures" / "arxiv"
TRUNCATED = FIXTURES / "atom-cs.AI-2025-08-20-truncated.xml"
RETRIEVAL = FIXTURES / "api-2026-08-21-all_retrieval-15-entries.xml"


def feed_papers() -> dict[str, Paper]:
    return {paper.arxiv_id: paper for paper in parse_feed(TRUNCATED.read_bytes()).papers}


@pytest.mark.parametrize(
    ("tex", "shown"),
    [
        (r"$\alpha$-stable", "\u03b1-stable"),
        (r"J\"org", "J\u00f6rg"),
        (r"Pi\v{z}urica", "Pi\u017eurica"),
        (r"Kra{\ss}", "Kra\u00df"),
        (r"$x^2$", "x\u00b2"),
        (r"$H_2O$", "H\u2082O"),
        (r"$10^{-3}$", "10\u207b\u00b3"),
        (r"$x^{10}_{ij}$", "x\u00b9\u2070\u1d62\u2c7c"),
        (r"$\mathcal{O}(n)$", "\U0001d4aa(n)"),
        (r"$O(n \log n)$", "O(n log n)"),
        (r"$\|x\|_2$", "\u2016x\u2016\u2082"),
        (r"$\frac{1}{2}$", "1/2"),
        (r"S{\o}gaard", "S\u00f8gaard"),
        (r"Jakub\r{u}v", "Jakub\u016fv"),
        (r"\textbf{involuntary jailbreak}", "involuntary jailbreak"),
        (r"\textsf{TS-Agent}", "TS-Agent"),
        (r"$$E=mc^2$$", "E=mc\u00b2"),
        (r"\href{https://example.org}{our code}", "our code"),
    ],
)
def test_latex_becomes_unicode(tex: str, shown: str) -> None:
    """Accents, Greek, script letters, sub- and superscripts come out as Unicode."""
    assert to_unicode(tex) == shown


def test_scripts_without_unicode_forms_stay_readable() -> None:
    """Unicode has no subscript alpha or capital subscripts: those keep the underscore."""
    assert to_unicode(r"$TCP_\alpha$") == "TCP_\u03b1"
    assert to_unicode(r"$\text{BrowseComp-Plus}_{\text{CM}}$") == "BrowseComp-Plus_CM"


@pytest.mark.parametrize(
    "text",
    [
        "It costs $5 and $6 a month.",
        "From $5 to $10",
        "$5-$10",
        "A {curly} aside",
        "Plain title: no markup at all",
        "",
    ],
)
def test_text_that_is_not_latex_is_unchanged(text: str) -> None:
    """Prices and lone braces are not LaTeX: the text comes back as it was."""
    assert to_unicode(text) == text


def test_fast_path_returns_the_same_object() -> None:
    """Text without a backslash or a dollar is not even copied."""
    title = "Attention Is All You Need"
    assert to_unicode(title) is title


def test_abstract_characters_keep_their_everyday_meaning() -> None:
    """In an abstract with LaTeX, % is a percent sign, & an ampersand, ~ "about"; a tie
    between initials and a name is a space."""
    assert to_unicode(r"50% of $x$ in R&D") == "50% of x in R&D"
    assert to_unicode(r"$\alpha$ is ~10x faster") == "\u03b1 is ~10x faster"
    assert to_unicode(r"J.~Smith and $\beta$") == "J. Smith and \u03b2"
    assert to_unicode(r"80.77\% of \$5 and $\gamma$") == "80.77% of $5 and \u03b3"


def test_unknown_commands_stay_visible() -> None:
    """A command pylatexenc does not know is shown, not silently dropped."""
    assert to_unicode(r"the \ours model") == r"the \ours model"


def test_malformed_input_falls_back_to_the_raw_text() -> None:
    """Input pylatexenc chokes on (it raises KeyError here) is shown as it came."""
    for text in (r"[\href{a}", r"\end{itemize}\verb", r"$\frac{$\textbf{[$\sqrt["):
        assert to_unicode(text) == text


def test_author_names_of_the_real_feed() -> None:
    """The TeX accents in the real cs.AI feed's dc:creator come out right."""
    names = {to_unicode(name) for paper in feed_papers().values() for name in paper.authors}
    for expected in (
        "Nikola Pi\u017eurica",
        "J\u00f6rg Deigm\u00f6ller",
        "Hendrik Kra\u00df",
        "Mikol\u00e1\u0161 Janota",
        "Anders S\u00f8gaard",
        "In\u00e8s Blin",
        "Al\u00e1n Aspuru-Guzik",
    ):
        assert expected in names
    assert not any("\\" in name for name in names)


def test_abstracts_of_the_real_feed() -> None:
    """Real abstracts: \\mathcal{E\\mkern-2mu L} is the logic EL in script letters, and
    every abstract is LaTeX-free afterwards, with its percentages intact."""
    shown = [to_unicode(paper.abstract) for paper in feed_papers().values()]
    assert any("logics \u2130\u2112 and \u2130\u2112\u2110 as well" in text for text in shown)
    assert any("($>98%$" not in text and ">98% pass rates" in text for text in shown)
    assert any("10.7% higher forecasting accuracy" in text for text in shown)
    assert not any("\\mathcal" in text or "\\textbf" in text for text in shown)


def test_texts_of_the_real_api_answer() -> None:
    """The 2026 API answer's $TCP_\\alpha$ title and \\text{} subscripts lose their markup."""
    papers = parse_api_response(RETRIEVAL.read_bytes()).papers
    titles = [to_unicode(paper.title) for paper in papers]
    assert (
        "TCP_\u03b1: Margin-Controlled Confidence estimation for reliable Music Information"
        " Retrieval" in titles
    )
    shown = " ".join(to_unicode(paper.abstract) for paper in papers)
    assert "BrowseComp-Plus_CM" in shown
    assert "$" not in shown


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises_on_any_text(text: str) -> None:
    """Whatever the input, the result is a string."""
    assert isinstance(to_unicode(text), str)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "\\",
                "$",
                "$$",
                "{",
                "}",
                "^",
                "_",
                "%",
                "&",
                "~",
                "[",
                r"\frac",
                r"\begin{",
                r"\end{array}",
                r"\href",
                r"\verb",
                r"\url{",
                r"\sqrt[",
                r"\mkern-2mu",
                r"\"",
                "a",
                " ",
                "1",
            ]
        ),
        max_size=12,
    ).map("".join)
)
def test_never_raises_on_latex_fragments(text: str) -> None:
    """Malformed LaTeX built from its most troublesome pieces never raises either."""
    assert isinstance(to_unicode(text), str)
