"""Query text into tokens: terms, operators and parentheses, refused early when malformed.

The scanner reads the words, phrases, fields, operators and parentheses of the grammar (see
`bot.matching.parser`) and refuses what it can see alone: unbalanced quotes and parentheses,
too deep nesting, too many terms, unknown or empty fields, a misplaced * or -. It is a linear
scan, so the limits hold before the parser recurses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.matching.query import QueryError, shown
from bot.messages import N_

MAX_TERMS = 30
MAX_DEPTH = 8

FIELD_NAMES = {
    "ti": "title",
    "title": "title",
    "abs": "abstract",
    "abstract": "abstract",
    "au": "authors",
    "author": "authors",
    "authors": "authors",
    "cat": "categories",
    "category": "categories",
}
# Phone keyboards turn " into curly quotes; German ones open with „. Any of them opens or closes.
QUOTES = frozenset('"\u201c\u201d\u201e\u201f')
_WORD_END = QUOTES | frozenset("()|")
_FIELD = re.compile(r"[A-Za-z]+:")


# --- tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Token:
    """One token of a query: a term (value, field, prefix), an operator or a parenthesis."""

    kind: str  # "term", "(", ")", "OR", "AND", "NOT", "-"
    position: int
    text: str = ""  # the term's value as typed (without field, quotes or *)
    field: str | None = None  # for terms and for "(" opening a fielded group
    prefix: bool = False
    source: str = ""  # the term as typed, for messages


def _scan_word(text: str, start: int) -> int:
    """The end of the word starting at ``start``; a backslash keeps the next character."""
    end = start
    while end < len(text) and not text[end].isspace() and text[end] not in _WORD_END:
        end += 2 if text[end] == "\\" and end + 1 < len(text) else 1
    return min(end, len(text))


def _closing_quote(text: str, start: int) -> int:
    """The index of the quote closing the one at ``start``; QueryError when there is none."""
    for index in range(start + 1, len(text)):
        if text[index] in QUOTES:
            return index
    raise QueryError(
        N_("Unbalanced quote: the {quote} at position {at} is never closed."),
        start,
        quote=text[start],
        at=start + 1,
    )


class _Scanner:
    """Turns query text into tokens, checking quotes, parentheses, depth and term count."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[Token] = []
        self.open: list[int] = []  # positions of unclosed (
        self.terms = 0

    def run(self) -> list[Token]:
        text, index = self.text, 0
        while index < len(text):
            char = text[index]
            if char.isspace():
                index += 1
            elif char == "(":
                self._open(index, None)
                index += 1
            elif char == ")":
                self._close(index)
                index += 1
            elif char == "|":
                self.tokens.append(Token("OR", index, source="|"))
                index += 1
            elif char == "-":
                following = text[index + 1 : index + 2]
                if not following or following.isspace() or following in ")|":
                    raise QueryError(
                        N_(
                            "Dangling operator: the - at position {at} must be directly "
                            "followed by the term it excludes, as in -medical."
                        ),
                        index,
                        at=index + 1,
                    )
                self.tokens.append(Token("NOT", index, source="-"))
                index += 1
            elif char in QUOTES:
                index = self._quoted(index, index, None)
            else:
                index = self._word(index)
        if self.open:
            position = self.open[-1]
            raise QueryError(
                N_("Unbalanced parenthesis: the ( at position {at} is never closed."),
                position,
                at=position + 1,
            )
        return self.tokens

    def _open(self, position: int, field: str | None) -> None:
        self.open.append(position)
        if len(self.open) > MAX_DEPTH:
            raise QueryError(
                N_(
                    "Too deeply nested: the ( at position {at} opens level {level} of "
                    "parentheses; at most {max} levels are allowed."
                ),
                position,
                at=position + 1,
                level=len(self.open),
                max=MAX_DEPTH,
            )
        self.tokens.append(Token("(", position, field=field))

    def _close(self, position: int) -> None:
        if not self.open:
            raise QueryError(
                N_("Unbalanced parenthesis: the ) at position {at} has no ( before it."),
                position,
                at=position + 1,
            )
        self.open.pop()
        self.tokens.append(Token(")", position))

    def _term(self, token: Token) -> None:
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise QueryError(
                N_(
                    "Too many terms: the query has more than {max} (the one at position {at} "
                    "is one too many). Split it into several subscriptions."
                ),
                token.position,
                max=MAX_TERMS,
                at=token.position + 1,
            )
        self.tokens.append(token)

    def _quoted(self, start: int, quote: int, field: str | None) -> int:
        end = _closing_quote(self.text, quote)
        source = self.text[start : end + 1]
        self._term(Token("term", start, self.text[quote + 1 : end], field, source=source))
        return end + 1

    def _word(self, start: int) -> int:
        text = self.text
        end = _scan_word(text, start)
        word = text[start:end]
        if word in ("OR", "AND", "NOT"):
            self.tokens.append(Token(word, start, source=word))
            return end
        field = _FIELD.match(word)
        if field is not None:
            name = field.group()[:-1]
            value_start = start + field.end()
            following = text[value_start : value_start + 1]
            ends = not following or following.isspace() or following in ")|"
            if not ends and following not in "/:":  # not a URL (http://) or other colon use
                return self._fielded(start, name, value_start)
            if ends and name.casefold() in FIELD_NAMES:
                raise QueryError(
                    N_(
                        "The field {name}: at position {at} needs a value right after the "
                        "colon, as in {name}:diffusion."
                    ),
                    start,
                    name=name,
                    at=start + 1,
                )
        return self._bare(start, start, end, None)

    def _fielded(self, start: int, name: str, value_start: int) -> int:
        field = FIELD_NAMES.get(name.casefold())
        if field is None:
            raise QueryError(
                N_(
                    "Unknown field {name}: at position {at}. The fields are ti: (title), abs: "
                    "(abstract), au: (author) and cat: (category); to search for the text, "
                    'put it in quotes: "{text}".'
                ),
                start,
                name=name,
                at=start + 1,
                text=shown(self.text[start : _scan_word(self.text, start)]),
            )
        following = self.text[value_start]
        if following == "-":
            raise QueryError(
                N_(
                    "To exclude a term of a field, put the - before the field, as in -{name}:x "
                    "(see position {at})."
                ),
                value_start,
                name=name,
                at=value_start + 1,
            )
        if following == "(":
            self._open(value_start, field)
            return value_start + 1
        if following in QUOTES:
            return self._quoted(start, value_start, field)
        return self._bare(start, value_start, _scan_word(self.text, value_start), field)

    def _bare(self, start: int, value_start: int, end: int, field: str | None) -> int:
        value = self.text[value_start:end]
        stripped = value.rstrip("*")
        if "*" in stripped:
            raise QueryError(
                N_("A * can only end a word, as in diffus*: see “{term}” at position {at}."),
                value_start,
                term=shown(value),
                at=value_start + 1,
            )
        prefix = stripped != value
        source = self.text[start:end]
        self._term(Token("term", start, stripped, field, prefix, source))
        return end


def tokenize(text: str) -> list[Token]:
    """The tokens of a query as typed; QueryError for what the scanner refuses."""
    return _Scanner(text).run()
