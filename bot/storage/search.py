"""The full-text index of the stored papers' normal forms: what its columns hold, and how a
`SearchPlan` is said in FTS5's query language.

paper_words (migration 9) has the columns title, abstract, authors and categories under FTS5's
ascii tokenizer with '.' and '-' as token characters: it splits at every other ASCII character
that is not a letter or a digit, folds A-Z to a-z and keeps every non-ASCII character. The
stored texts make each word of a `Document` exactly one token, and equal tokens equal words:

- [a-z0-9.-] and non-ASCII characters stand for themselves (a normal form's words and the
  usual category names are stored as they are, readable);
- every other ASCII character c (A-Z, spaces and punctuation of a hostile category name)
  becomes the private-use character U+E000 + c, a token character;
- the characters that could be mistaken for those, U+E000 to U+E080, and the surrogates (which
  SQLite cannot store) are escaped: `_ESCAPE` (U+E080) and the character itself, or for a
  surrogate U+F0000 + its offset;
- the two words that would otherwise be no token or the author separator, "" and "-", are
  followed by a lone `_ESCAPE`, which no other word's encoding ends with.

The characters' encodings form a prefix code, so a word starts with another exactly when its
encoding starts with the other's: prefix searches are exact too. Authors are stored one after
the other, each followed by the token "-" (no word is stored as "-"), so a phrase never spans
two authors and an author without words is kept. FTS5 cuts tokens to 32,768 bytes: a pattern
with a longer word finds more papers than it describes, never fewer.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence

from bot.models import AnyOf, Document, SearchPlan, WordPattern

COLUMNS = ("title", "abstract", "authors", "categories")
AUTHOR_END = "-"
# FTS5's parser keeps at most 100 symbols on its stack ("fts5: parser stack overflow"; lemon's
# YYSTACKDEPTH). While a part of a plan is read, each enclosing level holds 1 of them (the "("
# of a first part), 3 ("x OR (", "x AND (", "x NOT (") or 5 ("x AND y NOT ("), and a pattern
# takes at most 10 (in SQLite 3.40 the first refusals come at 93 by this count). A plan is
# written only when its levels need at most this many; a parsed query's plan needs at most 51
# (8 levels of parentheses, 6 each, and 3 for an `AnyOf` of many queries).
STACK_BUDGET = 75

_ESCAPE = "\ue080"
_SURROGATES = 0xF0000  # where escaped surrogates go: plane 15's private use area
_KEPT = frozenset(map(ord, "abcdefghijklmnopqrstuvwxyz0123456789.-"))
_ENCODE: dict[int, str] = {c: chr(0xE000 + c) for c in range(128) if c not in _KEPT}
_ENCODE.update({c: _ESCAPE + chr(c) for c in range(0xE000, 0xE081)})
_ENCODE.update({c: _ESCAPE + chr(_SURROGATES + c - 0xD800) for c in range(0xD800, 0xE000)})
# Whether a text of words joined by spaces needs any character encoded.
_NEEDS_ENCODING = re.compile("[^ a-z0-9.\\-\x80-\ud7ff\ue081-\U0010ffff]")
_ENCODED = re.compile("[\ue000-\ue080]")
_DECODE = re.compile(f"{_ESCAPE}(.)|[\ue000-\ue07f]", re.DOTALL)


# --- the stored texts -------------------------------------------------------------------------


def _encode(word: str) -> str:
    """The one token that stands for a word."""
    token = word.translate(_ENCODE)
    return token if token and token != AUTHOR_END else token + _ESCAPE


def _decode_char(match: re.Match[str]) -> str:
    escaped = match.group(1)
    if escaped is None:
        return chr(ord(match.group()) - 0xE000)
    code = ord(escaped)
    return chr(code - _SURROGATES + 0xD800) if code >= _SURROGATES else escaped


def _decode(token: str) -> str:
    """The word a token stands for (the inverse of `_encode`)."""
    if token.endswith(_ESCAPE) and token[:-1] in ("", AUTHOR_END):
        return token[:-1]
    return sys.intern(_DECODE.sub(_decode_char, token))


def _join(words: Sequence[str]) -> str:
    text = " ".join(words)
    # Most texts (every normal form's title and abstract) need no encoding: one scan says so.
    plain = (
        _NEEDS_ENCODING.search(text) is None
        and text.count(" ") == len(words) - 1
        and "" not in words
        and AUTHOR_END not in words
    )
    return text if plain else " ".join(map(_encode, words))


def _split(text: str) -> tuple[str, ...]:
    if not text:
        return ()
    if _ENCODED.search(text) is None:  # not interned: read-back documents are short-lived
        return tuple(text.split(" "))
    return tuple(map(_decode, text.split(" ")))


def _authors(text: str) -> Iterator[tuple[str, ...]]:
    # Separators are told from words before decoding: a word "-" has a token of its own.
    tokens = text.split(" ") if text else []
    start = 0
    for end, token in enumerate(tokens):
        if token == AUTHOR_END:
            yield _split(" ".join(tokens[start:end]))
            start = end + 1
    if start != len(tokens):
        raise ValueError(f"authors column does not end with {AUTHOR_END!r}: {text[-40:]!r}")


def index_columns(doc: Document) -> tuple[str, str, str, str]:
    """The texts of paper_words' title, abstract, authors and categories for a paper."""
    authors = " ".join(
        f"{_join(words)} {AUTHOR_END}" if words else AUTHOR_END for words in doc.authors
    )
    return _join(doc.title), _join(doc.abstract), authors, _join(doc.categories)


def document_from_columns(title: str, abstract: str, authors: str, categories: str) -> Document:
    """The paper's normal form read back from its index row (the inverse of `index_columns`)."""
    return Document(
        title=_split(title),
        abstract=_split(abstract),
        authors=tuple(_authors(authors)),
        categories=_split(categories),
    )


# --- searches ---------------------------------------------------------------------------------


def _pattern(pattern: WordPattern) -> str:
    if not pattern.fields or not set(pattern.fields) <= set(COLUMNS):
        raise ValueError(f"a pattern needs fields among {COLUMNS}: {pattern.fields}")
    if not pattern.last and pattern.last_prefix is None:
        raise ValueError("a pattern needs a last word or a prefix")
    if pattern.last_prefix == "":
        raise ValueError("an empty prefix is every word: FTS5 cannot say it")
    before = "".join(_encode(word) + " " for word in pattern.words)
    phrases = [f'"{before}{_encode(word)}"' for word in pattern.last]
    if pattern.last_prefix is not None:
        # A prefix is encoded character by character: no end marker, so "-" finds "-x".
        phrases.append(f'"{before}{pattern.last_prefix.translate(_ENCODE)}" *')
    return "{" + " ".join(pattern.fields) + "} : (" + " OR ".join(phrases) + ")"


def _render(plan: SearchPlan, stack: int) -> str:
    """The expression of a plan read with `stack` parser entries held by enclosing levels."""
    if stack > STACK_BUDGET:
        raise ValueError(f"plan nested too deeply for FTS5's parser (over {STACK_BUDGET})")
    if isinstance(plan, WordPattern):
        return _pattern(plan)
    if not plan.parts:
        raise ValueError(f"{type(plan).__name__} without parts")
    parts = [f"({_render(part, stack + (3 if i else 1))})" for i, part in enumerate(plan.parts)]
    if isinstance(plan, AnyOf):
        return " OR ".join(parts)
    text = " AND ".join(parts)
    # "x NOT a NOT b" is (x NOT a) NOT b: NOT is left-associative in FTS5's grammar
    # (fts5parse.y: %left NOT) and binds tighter than AND, which does not change the papers.
    held = 3 if len(parts) == 1 else 5
    for part in plan.excluding:
        text += f" NOT ({_render(part, stack + held)})"
    return text


def fts_query(plan: SearchPlan) -> str:
    """The FTS5 MATCH expression that finds the papers of a plan.

    It finds exactly the plan's papers, except that a prefix "-" of authors also finds their
    separator and that words beyond 32,768 bytes are cut: those find more. ValueError for a
    plan FTS5 cannot search (nested too deeply for its parser: see `STACK_BUDGET`; an empty
    prefix or part; an unknown field): callers treat it as no plan, every paper a candidate.
    Plans of parsed queries, alone or any number of them in one `AnyOf`, are never refused.
    """
    return _render(plan, 0)
