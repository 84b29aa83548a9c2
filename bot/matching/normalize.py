"""The normal form queries and papers are compared in: folded words, plurals made singular.

Both sides go through the same functions, so "Text-to-Image", "text to image" and
"TEXT TO IMAGES" give the same words, as do J\\"org (TeX), Jörg and Jorg:

1. LaTeX markup is removed (only the pieces that contain any go through pylatexenc);
2. Unicode is brought to NFKC and casefolded, accents are dropped (NFKD without the
   combining diacritical marks, plus ø, ł, đ… which have no decomposition);
3. everything but letters, digits and combining marks separates words (hyphens, spaces,
   punctuation), format characters such as zero-width spaces and soft hyphens join them;
4. in titles and abstracts (not in author names) plurals are made singular by `singular`.

Nothing here does I/O: pylatexenc is asked never to read files.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.models import Document, Paper

# --- character classes ------------------------------------------------------------------------


class CharTable(dict[int, int | str | None]):
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


# Letters people write without their stroke or ligature; NFKD does not decompose them.
_UNDECOMPOSED = {"ø": "o", "ł": "l", "đ": "d", "ħ": "h", "\u0131": "i", "æ": "ae", "œ": "oe"}


def _strip_accent(codepoint: int) -> int | str | None:
    """Drop combining diacritical marks (U+0300 to U+036F); spell out the undecomposed letters.

    Only this block is dropped: marks of other scripts (kana voicing, Indic vowel signs)
    change the word, not its accent.
    """
    if 0x300 <= codepoint <= 0x36F:
        return None
    return _UNDECOMPOSED.get(chr(codepoint), codepoint)


FORMAT_TABLE = CharTable(_drop_format_char)
_WORD_TABLE = CharTable(_word_char_or_space)
_ACCENT_TABLE = CharTable(_strip_accent)

# --- LaTeX ------------------------------------------------------------------------------------

_LATEX_TRIGGER = re.compile(r"[\\${]")
# Tokens of LaTeX source: control sequences, math shifts, braces, whitespace, and plain runs.
_LATEX_TOKEN = re.compile(r"\\(?:[a-zA-Z]+\*?|.)?|\$\$?|[{}]|\s+|[^\\${}\s]+", re.DOTALL)
# An unescaped % starts a LaTeX comment, which would swallow the rest of the line; in abstracts
# it almost always means "per cent".
_UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")


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


def latex_fragments(text: str) -> list[str]:
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
        for piece in latex_fragments(text)
    )


# --- plurals ----------------------------------------------------------------------------------

# Words ending in s that are not plurals, or whose plural rule below would go wrong.
_NOT_PLURAL = frozenset(
    {"alias", "atlas", "bias", "canvas", "chaos", "cosmos", "ethos", "lens", "news", "sars"}
    | {"series", "species", "whereas"}
)
# -ics words are mostly fields (physics, robotics, statistics) and stay; these are plurals.
_IC_PLURALS = frozenset(
    {"characteristics", "clinics", "critics", "heuristics", "logics", "metrics", "topics"}
)
_IRREGULAR = {
    "analyses": "analysis",
    "appendices": "appendix",
    "axes": "axis",
    "biases": "bias",
    "bonuses": "bonus",
    "buses": "bus",
    "caches": "cache",
    "campuses": "campus",
    "consensuses": "consensus",
    "cookies": "cookie",
    "corpuses": "corpus",
    "diagnoses": "diagnosis",
    "focuses": "focus",
    "gases": "gas",
    "hypotheses": "hypothesis",
    "indices": "index",
    "lenses": "lens",
    "matrices": "matrix",
    "movies": "movie",
    "niches": "niche",
    "statuses": "status",
    "syntheses": "synthesis",
    "theses": "thesis",
    "vertices": "vertex",
    "viruses": "virus",
}
_KEPT_ENDINGS = ("ss", "us", "is")
_ES_ENDINGS = ("sses", "shes", "ches", "xes", "zzes")


@functools.lru_cache(maxsize=1 << 17)
def singular(word: str) -> str:
    """The singular of an English plural, conservatively; any other word as it is.

    Only words of at least 4 ASCII letters ending in s change, by the first rule that applies:
    a short list of irregular plurals (analyses → analysis, caches → cache) and of words that
    are not plurals (news, series, lens, bias); -ss, -us, -is and -ics endings stay (class,
    bus, corpus, analysis, physics; but metrics, topics… are plurals); -ies becomes -y for
    words of 5 letters or more (queries → query); -sses, -shes, -ches, -xes and -zzes lose
    -es (classes → class); any other word loses its final s (models → model, GANs → gan).
    Three-letter words (gas, bus, its) are never changed. The result is its own singular.
    The same string object is returned for the same word, which keeps papers' tokens shared.
    """
    word = sys.intern(word)
    if len(word) < 4 or word[-1] != "s" or not (word.isascii() and word.isalpha()):
        return word
    if word in _IRREGULAR:
        return sys.intern(_IRREGULAR[word])
    if word in _NOT_PLURAL or word.endswith(_KEPT_ENDINGS):
        return word
    if word.endswith("ics") and word not in _IC_PLURALS:
        return word
    if word.endswith("ies") and len(word) > 4:
        return sys.intern(word[:-3] + "y")
    if word.endswith(_ES_ENDINGS):
        return sys.intern(word[:-2])
    return sys.intern(word[:-1])


# --- words ------------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Text as lowercase, accent-free words separated by single spaces; no plural rule."""
    if _LATEX_TRIGGER.search(text):
        text = _latex_to_text(text)
    if text.isascii():
        text = text.lower()  # the same as NFKC + casefold for ASCII, and much faster
    else:
        # Format characters go first so that what they separated can compose; casefolding can
        # produce decomposed sequences (e.g. from U+0345), hence NFKD before dropping accents,
        # and NFC afterwards recomposes what other scripts need (Hangul, kana).
        text = unicodedata.normalize("NFKC", text.translate(FORMAT_TABLE)).casefold()
        text = unicodedata.normalize("NFKD", text).translate(_ACCENT_TABLE)
        text = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(text.translate(_WORD_TABLE).split())


def words(text: str, *, plurals: bool = True) -> tuple[str, ...]:
    """The words of a text in normal form; plurals=False keeps them (for author names)."""
    folded = fold(text).split()
    if plurals:
        return tuple(map(singular, folded))
    return tuple(map(sys.intern, folded))


def normalize(text: str) -> str:
    """The normal form of a text: its words (see `words`) joined by single spaces."""
    return " ".join(words(text))


def category(text: str) -> str:
    """An arXiv category name in the form categories are compared in (cs.cv)."""
    return sys.intern(text.strip().casefold())


# --- papers -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def document(paper: Paper) -> Document:
    """The paper in normal form (cached: the same paper is matched for many chats)."""
    return Document(
        title=words(paper.title),
        abstract=words(paper.abstract),
        authors=tuple(words(name, plurals=False) for name in paper.authors),
        categories=tuple(category(name) for name in paper.categories),
    )
