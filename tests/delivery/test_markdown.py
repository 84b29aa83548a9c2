"""The Markdown export: its layout against the project's excerpt (bot.delivery.markdown)."""

from __future__ import annotations

import datetime as dt
import re

from bot.delivery.markdown import export_filename, render_markdown
from bot.matching.ranking import match_papers
from tests.excerpt import FIRST, LAST, OTHERS, excerpt_papers, excerpt_without_quirks, paper

EXCERPT_PAPERS = excerpt_papers()


# --- the document -----------------------------------------------------------------------------


def test_excerpt_papers_come_out_in_the_excerpt_layout_byte_for_byte() -> None:
    """Rendered with the excerpt's own topic in Chinese, its papers give the excerpt exactly,
    except for the three quirks not copied (trailing spaces, runs of spaces in titles,
    versioned http links)."""
    document = render_markdown(
        EXCERPT_PAPERS, first=FIRST, last=LAST, topic="生成式", language="zh"
    )
    assert document == excerpt_without_quirks()


def test_diffusion_export_of_8_to_11_march_has_the_excerpt_layout() -> None:
    """ "diffusion" from 2024-03-08 to 2024-03-11 over those days' papers: the excerpt's
    heading line with the English topic heading, then the excerpt's papers line for line."""
    hits = match_papers([*OTHERS, *EXCERPT_PAPERS], ["diffusion"])
    document = render_markdown(
        [hit.paper for hit in hits], first=FIRST, last=LAST, topic="diffusion"
    )
    lines = document.splitlines()
    assert lines[0] == "# 2024-03-08--2024-03-11 diffusion: paper overview"
    assert lines[1:] == excerpt_without_quirks().splitlines()[1:]
    assert "Graph neural networks" not in document
    chinese = render_markdown(
        [hit.paper for hit in hits], first=FIRST, last=LAST, topic="diffusion", language="zh"
    )
    assert chinese.splitlines()[0] == "# 2024-03-08--2024-03-11 diffusion 论文概览"
    assert chinese.splitlines()[1:] == lines[1:]


def test_titles_and_abstracts_are_clean_single_lines_with_markup_escaped() -> None:
    """LaTeX becomes Unicode, line breaks and space runs one space, and characters Markdown
    would read as markup are escaped; an underscore inside a word is left as it is."""
    tricky = paper(
        "2403.00001",
        title="On $\\alpha$-stable\n   processes [v2] *fast*",
        abstract="We use snake_case names, _emphasis_ and <b>tags</b>;\n\n a #hash and `code`.",
    )
    lines = render_markdown([tricky], first=FIRST, last=LAST, topic="x").splitlines()
    assert lines[1] == "## On \u03b1-stable processes \\[v2\\] \\*fast\\*"
    assert lines[3] == (
        "  * We use snake_case names, \\_emphasis\\_ and \\<b\\>tags\\</b\\>; "
        "a \\#hash and \\`code\\`."
    )
    assert (
        lines[4] == " * link:[https://arxiv.org/abs/2403.00001](https://arxiv.org/abs/2403.00001)"
    )


def test_papers_come_newest_first_and_the_file_is_named_by_its_dates() -> None:
    """Newest announcement day first, then the higher id; the name carries the date range."""
    papers = [
        paper("2403.00002", announced=dt.date(2024, 3, 8)),
        paper("2403.00009", announced=dt.date(2024, 3, 11)),
        paper("2403.00005", announced=dt.date(2024, 3, 8)),
    ]
    document = render_markdown(papers, first=FIRST, last=LAST, topic="diffusion")
    order = re.findall(r"\]\(https://arxiv\.org/abs/([\d.]+)\)", document)
    assert order == ["2403.00009", "2403.00005", "2403.00002"]
    assert export_filename(FIRST, LAST) == "arxiv-digest-2024-03-08--2024-03-11.md"


def test_no_papers_give_the_heading_alone() -> None:
    """An empty period is a document with its heading and nothing else."""
    document = render_markdown([], first=FIRST, last=LAST, topic="diffusion")
    assert document == "# 2024-03-08--2024-03-11 diffusion: paper overview\n"
