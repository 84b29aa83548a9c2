"""The project's digest excerpt (tests/fixtures/examples): its papers, and its layout with the
three quirks the export deliberately does not copy taken out (see bot/delivery/markdown.py);
papers an export of those days must leave out."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

from bot.models import Paper

EXCERPT = Path(__file__).parent / "fixtures" / "examples" / "digest-excerpt.md"
FIRST, LAST = dt.date(2024, 3, 8), dt.date(2024, 3, 11)
# The excerpt names no categories; arXiv lists both papers under cs.CV (see SOURCES.md there).
CATEGORIES = ("cs.CV",)
_LINK = re.compile(r"\[http://arxiv\.org/abs/([^\]v]+)v(\d+)\]")


def excerpt_papers() -> list[Paper]:
    """The excerpt's papers as the store would hold them: title as arXiv wrapped it, the
    date, the abstract, the id without its version."""
    lines = EXCERPT.read_text(encoding="utf-8").splitlines()[1:]
    papers = []
    for start in range(0, len(lines), 4):
        title, day, abstract, link = lines[start : start + 4]
        found = _LINK.search(link)
        assert found is not None, link
        papers.append(
            Paper(
                arxiv_id=found[1],
                version=int(found[2]),
                title=title.removeprefix("## ").strip(),
                authors=(),
                abstract=abstract.removeprefix("  * ").strip(),
                categories=CATEGORIES,
                announced=dt.date.fromisoformat(day.removeprefix("  * ").strip()),
            )
        )
    return papers


def excerpt_without_quirks() -> str:
    """The excerpt with trailing spaces dropped, runs of spaces in titles collapsed and its
    versioned http links made arXiv's https links without version."""
    out = []
    for line in EXCERPT.read_text(encoding="utf-8").splitlines():
        line = line.rstrip()
        if line.startswith("## "):
            line = "## " + " ".join(line[3:].split())
        line = re.sub(r"http://arxiv\.org/abs/([^)\]v]+)v\d+", r"https://arxiv.org/abs/\1", line)
        out.append(line)
    return "\n".join(out) + "\n"


# Papers of the same days that a "diffusion" export must leave out.
OTHERS = [
    Paper(
        arxiv_id="2403.05000",
        title="Graph neural networks for molecules",
        authors=("A. Author",),
        abstract="We study message passing on molecular graphs.",
        categories=("cs.CV",),
        announced=dt.date(2024, 3, 11),
    ),
]


def paper(arxiv_id: str, **changes: object) -> Paper:
    """A cs.CV diffusion paper of 8 March 2024, with `changes`."""
    base = Paper(
        arxiv_id=arxiv_id,
        title="A diffusion model",
        authors=("Ada Lovelace",),
        abstract="An abstract about diffusion.",
        categories=("cs.CV",),
        announced=dt.date(2024, 3, 8),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]
