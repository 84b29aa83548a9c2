"""A digest's Telegram HTML as text for a terminal (pure): what `python -m bot preview` prints.

Bold and italic become ANSI styles when colour is wanted and plain text otherwise; a link is
its text followed by its address in angle brackets; an (expandable) quote is shown whole,
indented with "> "; entities are unescaped. Lines are wrapped to a width when one is given,
never inside a word or an address.
"""

from __future__ import annotations

import textwrap
from html.parser import HTMLParser

BOLD, ITALIC, RESET_BOLD, RESET_ITALIC = "\x1b[1m", "\x1b[3m", "\x1b[22m", "\x1b[23m"
QUOTE_PREFIX = "  > "
_STYLES = {"b": (BOLD, RESET_BOLD), "strong": (BOLD, RESET_BOLD)}
_STYLES |= {"i": (ITALIC, RESET_ITALIC), "em": (ITALIC, RESET_ITALIC)}


class _TextWriter(HTMLParser):
    """Collects the visible text of Telegram's HTML subset, with links and quotes spelled out."""

    def __init__(self, *, color: bool, width: int | None) -> None:
        super().__init__(convert_charrefs=True)
        self.color = color
        self.width = width
        self.out: list[str] = []
        self._links: list[tuple[str, int]] = []  # (href, where its text starts in out)
        self._quote_start: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _STYLES and self.color:
            self.out.append(_STYLES[tag][0])
        elif tag == "a":
            self._links.append((dict(attrs).get("href") or "", len(self.out)))
        elif tag == "blockquote":
            self._quote_start = len(self.out)
        elif tag == "br":
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _STYLES and self.color:
            self.out.append(_STYLES[tag][1])
        elif tag == "a" and self._links:
            href, start = self._links.pop()
            shown = "".join(self.out[start:])
            if href and href != shown.strip():
                self.out.append(f" <{href}>")
        elif tag == "blockquote" and self._quote_start is not None:
            quoted = "".join(self.out[self._quote_start :])
            del self.out[self._quote_start :]
            self.out.append(self._quote(quoted))
            self._quote_start = None

    def handle_data(self, data: str) -> None:
        self.out.append(data)

    def _quote(self, text: str) -> str:
        lines = []
        for line in text.strip("\n").split("\n"):
            if self.width is None:
                lines.append(QUOTE_PREFIX + line)
            else:
                lines += _wrap(line, self.width, QUOTE_PREFIX, QUOTE_PREFIX) or [QUOTE_PREFIX]
        return "\n".join(lines)


def _wrap(line: str, width: int, first: str, rest: str) -> list[str]:
    return textwrap.wrap(
        line,
        width=max(width, len(rest) + 10),
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )


def html_to_text(html_text: str, *, color: bool = False, width: int | None = None) -> str:
    """The text a reader sees in Telegram, laid out for a terminal `width` columns wide."""
    writer = _TextWriter(color=color, width=width)
    writer.feed(html_text)
    writer.close()
    text = "".join(writer.out)
    if width is None:
        return text
    lines = []
    for line in text.split("\n"):
        if len(line) <= width or line.startswith(QUOTE_PREFIX):
            lines.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip(" ")))
        lines += _wrap(line, width, "", indent + "   ")
    return "\n".join(lines)
