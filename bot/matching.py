"""Keyword matching: bring keywords and paper text to one normal form and compare word sequences.

A keyword matches when its words occur contiguously, as whole words, in the paper's title or
abstract. Keywords are compiled to objects with a ``matches(text_norm)`` method (see `Query`) so
that a richer query language can later add other kinds of terms without touching the callers.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bot.models import Hit, Paper

MAX_KEYWORD_LENGTH = 100
MAX_SUBSCRIPTIONS = 50

# Keywords are split on commas (ASCII and full-width, as typed with CJK keyboards) and on line
# breaks, because users naturally type one keyword per line; quotes protect both.
_SEPARATORS = frozenset(",\uff0c\n")
# Phone keyboards turn " into curly quotes; German ones open with „. Any of them opens or closes.
_QUOTES = frozenset('"\u201c\u201d\u201e\u201f')
_SHOWN_KEYWORD_LENGTH = 40

# Paper fields are joined with a line break so that a phrase cannot match across the end of the
# title and the start of the abstract (keywords never contain line breaks).
_FIELD_SEPARATOR = " \n "

_LATEX_TRIGGER = re.compile(r"[\\${]")
# Tokens of LaTeX source: control sequences, math shifts, braces, whitespace, and plain runs.
_LATEX_TOKEN = re.compile(r"\\(?:[a-zA-Z]+\*?|.)?|\$\$?|[{}]|\s+|[^\\${}\s]+", re.DOTALL)
# An unescaped % starts a LaTeX comment, which would swallow the rest of the line; in abstracts
# it almost always means "per cent".
_UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")


class KeywordError(ValueError):
    """A keyword list that cannot be used; ``str(error)`` is an English sentence for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Query(Protocol):
    """Anything that can decide whether a normalised text matches it."""

    def matches(self, text_norm: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class Phrase:
    """A keyword or phrase in normal form, matched as a contiguous run of whole words."""

    norm: str

    def matches(self, text_norm: str) -> bool:
        return keyword_matches(self.norm, text_norm)


# --- normal form ------------------------------------------------------------------------------


class _CharTable(dict[int, int | str | None]):
    """A ``str.translate`` table that classifies each code point once, on first sight."""

    def __init__(self, classify: Callable[[int], int | str | None]) -> None:
        super().__init__()
        self._classify = classify

    def __missing__(self, codepoint: int) -> int | str | None:
        value: int | str | None = self._classify(codepoint)
        self[codepoint] = value
        return value


def _drop_format_char(codepoint: int) -> int | None:
    """Delete format characters (zero-width spaces and joiners, soft hyphens, BOM); keep others."""
    return None if unicodedata.category(chr(codepoint)) == "Cf" else codepoint


def _word_char_or_space(codepoint: int) -> int | str:
    """Keep letters, digits and combining marks (part of words in many scripts); else a space."""
    return codepoint if unicodedata.category(chr(codepoint))[0] in "LNM" else " "


_FORMAT_TABLE = _CharTable(_drop_format_char)
_WORD_TABLE = _CharTable(_word_char_or_space)


@functools.cache
def _latex_converter() -> Any:
    """The shared pylatexenc converter, built on first use (its import is slow)."""
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text()


def _convert_latex_fragment(fragment: str) -> str:
    """LaTeX to plain text; the raw fragment if pylatexenc fails, which it does on some input."""
    try:
        text = _latex_converter().latex_to_text(_UNESCAPED_PERCENT.sub(r"\\%", fragment))
    except Exception:  # IndexError, RecursionError, ...: arbitrary input must never break matching
        return fragment
    return text if isinstance(text, str) else fragment


@dataclass(slots=True)
class _LatexScope:
    """What is open at a point of LaTeX source: groups, math, a macro awaiting its arguments."""

    depth: int = 0
    brackets: int = 0  # \( or \[ math
    dollar: bool = False
    display: bool = False  # $$ math
    after_macro: bool = False

    @property
    def closed(self) -> bool:
        return not (self.depth or self.brackets or self.dollar or self.display or self.after_macro)

    def advance(self, token: str) -> None:
        """Account for a token that is not whitespace."""
        self.after_macro = token[0] == "\\"
        if token == "{":
            self.depth += 1
        elif token == "}":
            self.depth = max(self.depth - 1, 0)
        elif token == "$":
            self.dollar = not self.dollar
        elif token == "$$":
            self.display = not self.display
        elif token in ("\\(", "\\["):
            self.brackets += 1
        elif token in ("\\)", "\\]"):
            self.brackets = max(self.brackets - 1, 0)


def _latex_fragments(text: str) -> list[str]:
    """Split LaTeX source at whitespace where no group, math or macro argument is open.

    Pieces can be converted one by one with the same result as the whole text, and the plain
    ones, usually most of an abstract, need no conversion at all. Unclosed groups or math just
    make the rest of the text one piece.
    """
    pieces: list[str] = []
    current: list[str] = []
    scope = _LatexScope()
    for token in _LATEX_TOKEN.findall(text):
        if not token[0].isspace():
            scope.advance(token)
        elif scope.closed:
            pieces += ["".join(current), token]
            current = []
            continue
        current.append(token)
    pieces.append("".join(current))
    return pieces


def _latex_to_text(text: str) -> str:
    """Remove LaTeX markup, converting only the pieces that contain any (pylatexenc is slow)."""
    return "".join(
        _convert_latex_fragment(piece) if _LATEX_TRIGGER.search(piece) else piece
        for piece in _latex_fragments(text)
    )


def normalize(text: str) -> str:
    """The form keywords and paper text are compared in: plain, folded words joined by spaces."""
    if _LATEX_TRIGGER.search(text):
        text = _latex_to_text(text)
    if text.isascii():
        text = text.lower()  # the same as NFKC + casefold for ASCII, and much faster
    else:
        # Format characters go first so that what they separated can compose; casefolding can
        # produce decomposed sequences (e.g. from U+0345), hence the second NFKC.
        text = unicodedata.normalize("NFKC", text.translate(_FORMAT_TABLE)).casefold()
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.translate(_WORD_TABLE).split())


# --- matching ---------------------------------------------------------------------------------


def keyword_matches(keyword_norm: str, text_norm: str) -> bool:
    """Whether the keyword's words occur contiguously as whole words in the text (both normal)."""
    return bool(keyword_norm) and f" {keyword_norm} " in f" {text_norm} "


def compile_query(keyword: str) -> Query:
    """The matcher for one subscription as the user typed it."""
    return Phrase(normalize(keyword))


@functools.lru_cache(maxsize=8192)
def _normalized_fields(title: str, abstract: str) -> str:
    return f"{normalize(title)}{_FIELD_SEPARATOR}{normalize(abstract)}"


def paper_text(paper: Paper) -> str:
    """The paper's title and abstract in normal form (cached: papers are matched for many chats)."""
    return _normalized_fields(paper.title, paper.abstract)


def _matching(paper: Paper, queries: Sequence[tuple[str, Query]]) -> tuple[str, ...]:
    text = paper_text(paper)
    return tuple(keyword for keyword, query in queries if query.matches(text))


def _compile_all(keywords: Sequence[str]) -> list[tuple[str, Query]]:
    return [(keyword, compile_query(keyword)) for keyword in keywords]


def match_paper(paper: Paper, keywords: Sequence[str]) -> tuple[str, ...]:
    """The keywords, as given and in the given order, that match the paper's title or abstract."""
    return _matching(paper, _compile_all(keywords))


def match_papers(papers: Iterable[Paper], keywords: Sequence[str]) -> list[Hit]:
    """A hit for each paper that matches at least one keyword, in the papers' order."""
    queries = _compile_all(keywords)
    hits = (Hit(paper, _matching(paper, queries)) for paper in papers)
    return [hit for hit in hits if hit.keywords]


# --- parsing /subscribe arguments -------------------------------------------------------------


def _shorten(text: str, length: int = _SHOWN_KEYWORD_LENGTH) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "\u2026"


def validate_keyword(keyword: str) -> str:
    """The keyword cleaned up (invisible characters dropped, spaces collapsed), or KeywordError."""
    cleaned = " ".join(keyword.translate(_FORMAT_TABLE).split())
    if not cleaned:
        raise KeywordError("One of the keywords is empty. Check for a stray comma or empty quotes.")
    if len(cleaned) > MAX_KEYWORD_LENGTH:
        raise KeywordError(
            f"The keyword “{_shorten(cleaned)}” is too long ({len(cleaned)} characters); "
            f"the limit is {MAX_KEYWORD_LENGTH}."
        )
    if not normalize(cleaned):
        raise KeywordError(
            f"The keyword “{_shorten(cleaned)}” has no letters or digits, "
            "so it could never match a paper."
        )
    return cleaned


def _is_stray(item: str, quoted: bool, beside_line_break: bool) -> bool:
    """A blank item left by a comma at the end of a line or by a blank line: ignored."""
    return beside_line_break and not quoted and not item.split()


def _split_keyword_list(args: str) -> list[str]:
    """Split at separators outside quotes; the quotes themselves are dropped.

    Blank items between two commas or in quotes are kept for validation to reject.
    """
    items: list[str] = []
    current: list[str] = []
    quote_start: int | None = None
    quoted = after_line_break = False
    for position, char in enumerate(args):
        if char in _QUOTES:
            quote_start = position if quote_start is None else None
            quoted = True
        elif char in _SEPARATORS and quote_start is None:
            line_break = char == "\n"
            item = "".join(current)
            if not _is_stray(item, quoted, line_break or after_line_break):
                items.append(item)
            current, quoted, after_line_break = [], False, line_break
        else:
            current.append(char)
    if quote_start is not None:
        unclosed = " ".join(args[quote_start + 1 :].split())
        raise KeywordError(f"A quote is not closed: “{_shorten(unclosed)}”. Add the closing quote.")
    if not _is_stray(item := "".join(current), quoted, after_line_break):
        items.append(item)
    return items


def parse_keywords(args: str) -> list[str]:
    """Keywords from a command's arguments: ``diffusion, "large language model", GAN``.

    Commas or line breaks separate keywords; quoted text may contain both. Keywords are
    returned cleaned up and without duplicates (same normal form), first occurrence kept.
    """
    if not args.translate(_FORMAT_TABLE).split():
        raise KeywordError('Please give at least one keyword, e.g. diffusion, "language model".')
    keywords: list[str] = []
    seen: set[str] = set()
    for item in _split_keyword_list(args):
        keyword = validate_keyword(item)
        key = normalize(keyword)
        if key not in seen:
            seen.add(key)
            keywords.append(keyword)
    return keywords
