"""A digest's Telegram HTML turned into terminal text (bot/preview.py)."""

from __future__ import annotations

import datetime as dt

from bot.cli.preview import BOLD, ITALIC, RESET_BOLD, RESET_ITALIC, html_to_text
from bot.delivery.digest import render_parts
from bot.models import Hit, Paper

PAPER = Paper(
    arxiv_id="2508.00001",
    title="Diffusion &amp; flows for <graphs>",
    authors=("Ada Lovelace", "Jörg Müller"),
    abstract="We compare x < y & z > w across " + "many words " * 30 + "and stop.",
    categories=("cs.LG", "cs.AI"),
    announced=dt.date(2025, 8, 20),
)


def test_tags_go_entities_are_unescaped_links_are_spelled_out() -> None:
    """Without colour: plain text, each entity as its character, a link as its text followed
    by its address in angle brackets."""
    html = '<b>Bold</b> &amp; <i>it</i> &lt;3 <a href="https://arxiv.org/abs/1">Title</a>'
    assert html_to_text(html) == "Bold & it <3 Title <https://arxiv.org/abs/1>"


def test_a_link_whose_text_is_its_address_is_shown_once() -> None:
    """No "<url> <url>" for a bare link."""
    html = '<a href="https://example.org">https://example.org</a>'
    assert html_to_text(html) == "https://example.org"


def test_colour_shows_bold_and_italic_as_ansi_styles() -> None:
    """With colour, bold and italic are the terminal's styles, switched off after."""
    assert html_to_text("<b>a</b> <i>b</i>", color=True) == (
        f"{BOLD}a{RESET_BOLD} {ITALIC}b{RESET_ITALIC}"
    )


def test_quotes_are_indented_and_every_line_is_wrapped_to_the_width() -> None:
    """A digest: the abstract quoted with "> " on each line, no line wider than asked, no
    word or address split, and the whole text of the paper still there."""
    (part,) = render_parts([Hit(PAPER, ("diffusion",))])
    text = html_to_text(part.text, width=60)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 60
    quoted = [line for line in lines if line.startswith("  > ")]
    assert len(quoted) > 3
    assert quoted[0].startswith("  > We compare x < y & z > w across")
    assert " ".join(line[4:] for line in quoted).endswith("and stop.")
    assert "1. Diffusion &amp; flows for <graphs>" in text  # the title's own "&amp;" is text
    assert "   <https://arxiv.org/abs/2508.00001>" in lines
    assert "<b>" not in text


def test_without_a_width_lines_stay_whole() -> None:
    """Width None: the quote is one long line, prefixed."""
    (part,) = render_parts([Hit(PAPER, ("diffusion",))])
    lines = html_to_text(part.text).splitlines()
    assert [line for line in lines if line.startswith("  > ")] == [
        "  > " + " ".join(PAPER.abstract.split())
    ]
