"""Papers as a Markdown document, in the layout of the project's digest excerpt (pure).

    # 2024-03-08--2024-03-11 <topic heading>
    ## <title>
      * <date>
      * <abstract>
     * link:[<url>](<url>)

The bullets and their indentation are the excerpt's, byte for byte. Titles and abstracts are
shown as in a digest (LaTeX as Unicode, whitespace collapsed) and escaped where Markdown would
read them as markup. Three quirks of the excerpt are not copied: the runs of spaces inside
titles (arXiv's line wrapping), the trailing spaces at the end of lines (invisible, and editors
strip them) and the versioned http links (the link is arXiv's https abstract page without a
version, so it always shows the newest one).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

from bot.arxiv.latex import to_unicode
from bot.i18n import texts
from bot.i18n.translate import translator
from bot.models import Paper

# Markdown's inline markup characters; an underscore inside a word is left alone (CommonMark
# never reads it as emphasis there, and snake_case names stay readable).
_MARKUP = re.compile(r"[\\`*\[\]<>#]|(?<![^\W_])_|_(?![^\W_])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def export_filename(first: dt.date, last: dt.date) -> str:
    """ "arxiv-digest-2024-03-08--2024-03-11.md"."""
    return f"arxiv-digest-{first.isoformat()}--{last.isoformat()}.md"


def _text(value: str) -> str:
    """One line of Markdown text: LaTeX shown as Unicode, whitespace collapsed, markup escaped."""
    plain = _CONTROL.sub(" ", to_unicode(value))
    return _MARKUP.sub(lambda match: "\\" + match[0], " ".join(plain.split()))


def _paper_lines(paper: Paper, link_label: str) -> list[str]:
    day = paper.announced.isoformat() if paper.announced else ""
    title = _text(paper.title) or f"arXiv:{paper.arxiv_id}"
    return [
        f"## {title}",
        f"  * {day}",
        f"  * {_text(paper.abstract)}",
        f" * {link_label}:[{paper.url}]({paper.url})",
    ]


def newest_first(papers: Sequence[Paper]) -> list[Paper]:
    """By announcement day, newest first, then by arXiv id, highest (latest) first."""
    return sorted(
        papers, key=lambda paper: (paper.announced or dt.date.min, paper.arxiv_id), reverse=True
    )


def render_markdown(
    papers: Sequence[Paper],
    *,
    first: dt.date,
    last: dt.date,
    topic: str,
    language: str = "en",
) -> str:
    """The document: a heading with the dates and the topic, then each paper, newest first.

    `language` chooses the heading words (bot.i18n.texts); the papers are shown as arXiv has them.
    """
    tr = translator(language)
    heading = texts.export_heading(_text(topic), tr)
    lines = [f"# {first.isoformat()}--{last.isoformat()} {heading}"]
    label = tr(texts.EXPORT_LINK_LABEL)
    for paper in newest_first(papers):
        lines += _paper_lines(paper, label)
    return "\n".join(lines) + "\n"
