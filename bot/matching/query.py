"""The query language of /subscribe and /latest: parse to an immutable tree, check, describe.

Grammar (precedence NOT > AND > OR; all input is at most `MAX_QUERY_LENGTH` characters)::

    query    := or
    or       := and (("OR" | "|") and)*
    and      := unary (["AND"] unary)*            terms side by side must all match
    unary    := ("NOT" | "-")* primary           "-" directly before its term: -medical
    primary  := "(" or ")" | field "(" or ")" | term
    term     := [field] (word ["*"] | '"' phrase '"')
    field    := ("ti" | "abs" | "au" | "cat" | "title" | "abstract" | "author" | "category") ":"

Operators are uppercase (a lowercase "or" is a word). A field is letters and a colon directly
followed by its value (ti:diffusion, au:"Yann LeCun", ti:(a OR b)); anything else with a colon
(3:1, http://…, C++:) is an ordinary word. Inside a word a backslash keeps the next character
(J\\"org). Unfielded terms search title and abstract; cat: compares whole category names
(cat:cs.CV) or a prefix of them (cat:cs.*); a word ending in * is a prefix of at least
3 characters (diffus*). Words and phrases are compared in the normal form of
`bot.matching.normalize`;
a phrase matches consecutive words.

Errors are `QueryError`s whose message names the problem and where it is. Nothing here
compiles a regular expression from user input, and the size limits are checked by linear
scans before any recursion, so no input can exhaust the stack.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

from bot.matching.normalize import FORMAT_TABLE, category, fold, singular, words
from bot.messages import N_, UserError

MAX_QUERY_LENGTH = 300
MAX_TERMS = 30
MAX_DEPTH = 8
MIN_PREFIX = 3  # characters before the * of a word prefix
MIN_CATEGORY_PREFIX = 2  # cat:cs* is fine

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
_SHORT_NAMES = {"title": "ti", "abstract": "abs", "authors": "au", "categories": "cat"}
# Phone keyboards turn " into curly quotes; German ones open with „. Any of them opens or closes.
QUOTES = frozenset('"\u201c\u201d\u201e\u201f')
_WORD_END = QUOTES | frozenset("()|")
_FIELD = re.compile(r"[A-Za-z]+:")
_CATEGORY = re.compile(r"[a-z][a-z0-9-]*(?:\.[a-z0-9-]*)?")
# Archives that exist only as a set of categories: cat:cs can never match, cat:cs.* can.
_ARCHIVES = frozenset(
    {"astro-ph", "cond-mat", "cs", "econ", "eess", "math", "nlin", "physics", "q-bio", "q-fin"}
    | {"stat"}
)
_SHOWN_TERM = 40
_SAT_BUDGET = 2000  # branches explored when looking for a contradiction; beyond: accept


class QueryError(UserError, ValueError):
    """A query that cannot be used; ``message`` is an English sentence for the user.

    ``position`` is the 0-based offset in the query of what is wrong (None when it is the
    query as a whole); messages count characters from 1, as people do. The message is a
    `N_` text filled with ``params``: `localized(tr)` says it in another language.
    """

    def __init__(self, template: str, position: int | None = None, **params: object) -> None:
        super().__init__(template, **params)
        self.message = str(self)
        self.position = position


# --- the tree ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Term:
    """A word, phrase or prefix in normal form, in one field or (None) title and abstract."""

    words: tuple[str, ...]  # for categories: one category name, casefolded
    field: str | None = None  # "title", "abstract", "authors", "categories"
    prefix: bool = False  # the last word is a prefix (diffus*, cat:cs.*)
    text: str = dataclasses.field(default="", compare=False)  # as typed
    position: int = dataclasses.field(default=0, compare=False)

    @property
    def plurals(self) -> bool:
        """Whether the field's words had the plural rule applied (not names, not categories)."""
        return self.field not in ("authors", "categories")


@dataclass(frozen=True, slots=True)
class Not:
    child: Query
    position: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Query, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Query, ...]


Query = Term | Not | And | Or


def _shown(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SHOWN_TERM else text[: _SHOWN_TERM - 1].rstrip() + "\u2026"


# --- tokens -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Token:
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
        self.tokens: list[_Token] = []
        self.open: list[int] = []  # positions of unclosed (
        self.terms = 0

    def run(self) -> list[_Token]:
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
                self.tokens.append(_Token("OR", index, source="|"))
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
                self.tokens.append(_Token("NOT", index, source="-"))
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
        self.tokens.append(_Token("(", position, field=field))

    def _close(self, position: int) -> None:
        if not self.open:
            raise QueryError(
                N_("Unbalanced parenthesis: the ) at position {at} has no ( before it."),
                position,
                at=position + 1,
            )
        self.open.pop()
        self.tokens.append(_Token(")", position))

    def _term(self, token: _Token) -> None:
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
        self._term(_Token("term", start, self.text[quote + 1 : end], field, source=source))
        return end + 1

    def _word(self, start: int) -> int:
        text = self.text
        end = _scan_word(text, start)
        word = text[start:end]
        if word in ("OR", "AND", "NOT"):
            self.tokens.append(_Token(word, start, source=word))
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
                text=_shown(self.text[start : _scan_word(self.text, start)]),
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
                term=_shown(value),
                at=value_start + 1,
            )
        prefix = stripped != value
        source = self.text[start:end]
        self._term(_Token("term", start, stripped, field, prefix, source))
        return end


# --- parsing ----------------------------------------------------------------------------------


def _make_term(token: _Token, field: str | None) -> Term:
    """The term for a token, its value in normal form; QueryError when it cannot match."""
    field = token.field or field
    if field == "categories":
        return _category_term(token)
    plurals = field != "authors"
    folded = fold(token.text).split()
    if not folded:
        raise QueryError(
            N_(
                "The term “{term}” at position {at} has no letters or digits, so it could "
                "never match a paper."
            ),
            token.position,
            term=_shown(token.source),
            at=token.position + 1,
        )
    if not token.prefix:
        return Term(words(token.text, plurals=plurals), field, False, token.source, token.position)
    last = folded[-1]
    if len(last) < MIN_PREFIX:
        raise QueryError(
            N_(
                "The prefix “{term}” at position {at} is too broad: the word before the * "
                "needs at least {min} letters."
            ),
            token.position,
            term=_shown(token.source),
            at=token.position + 1,
            min=MIN_PREFIX,
        )
    # The prefix itself keeps its letters: a plural rule would cut diffus* to diffu*.
    before = words(" ".join(folded[:-1]), plurals=plurals)
    return Term((*before, sys.intern(last)), field, True, token.source, token.position)


def _category_term(token: _Token) -> Term:
    name = category(token.text)
    if not _CATEGORY.fullmatch(name) or (token.prefix and len(name) < MIN_CATEGORY_PREFIX):
        raise QueryError(
            N_(
                "cat: at position {at} needs an arXiv category such as cs.CV, or the start of "
                "one followed by * (cat:cs.*)."
            ),
            token.position,
            at=token.position + 1,
        )
    if name in _ARCHIVES and not token.prefix:
        raise QueryError(
            N_(
                "cat:{archive} at position {at} names a whole archive, and papers are filed "
                "under its categories: use cat:{archive}.* for all of them, or one such as "
                "cs.CV."
            ),
            token.position,
            archive=token.text,
            at=token.position + 1,
        )
    return Term((name,), "categories", token.prefix, token.source, token.position)


def _negate(node: Query, position: int) -> Query:
    return node.child if isinstance(node, Not) else Not(node, position)


def _join(kind: type[And] | type[Or], children: list[Query]) -> Query:
    """One node for children joined by AND or OR, nested nodes of the same kind flattened."""
    flat: list[Query] = []
    for child in children:
        flat.extend(child.children if isinstance(child, kind) else (child,))
    return flat[0] if len(flat) == 1 else kind(tuple(flat))


class _Parser:
    """Recursive descent over the tokens; depth is bounded by MAX_DEPTH parentheses."""

    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def or_(self, field: str | None) -> Query:
        children = [self.and_(field, None)]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.index += 1
            children.append(self.and_(field, token))
        return _join(Or, children)

    def and_(self, field: str | None, operator: _Token | None) -> Query:
        children = [self.unary(field, operator)]
        while (token := self.peek()) is not None and token.kind not in (")", "OR"):
            if token.kind == "AND":
                self.index += 1
                children.append(self.unary(field, token))
            else:
                children.append(self.unary(field, None))
        return _join(And, children)

    def unary(self, field: str | None, operator: _Token | None) -> Query:
        negations: list[_Token] = []
        while (token := self.peek()) is not None and token.kind == "NOT":
            negations.append(token)
            self.index += 1
        if token is None or token.kind in (")", "OR", "AND"):
            self._dangling(negations[-1] if negations else operator, token)
        node = self.primary(field)
        for negation in reversed(negations):
            node = _negate(node, negation.position)
        return node

    def primary(self, field: str | None) -> Query:
        token = self.tokens[self.index]
        self.index += 1
        if token.kind != "(":
            return _make_term(token, field)
        node = self.or_(token.field or field)
        self.index += 1  # the ")": the scanner has checked that every ( is closed
        return node

    def _dangling(self, operator: _Token | None, token: _Token | None) -> None:
        if operator is not None and operator.kind == "NOT":
            raise QueryError(
                N_("Dangling operator: {operator} at position {at} needs a term right after it."),
                operator.position,
                operator=operator.source,
                at=operator.position + 1,
            )
        if operator is None and token is not None and token.kind == ")":
            opening = self.tokens[self.index - 1]
            raise QueryError(
                N_("Empty parentheses at position {at}: put a term inside or remove them."),
                opening.position,
                at=opening.position + 1,
            )
        culprit = operator or token
        assert culprit is not None  # an empty query is refused before parsing
        raise QueryError(
            N_("Dangling operator: {operator} at position {at} needs a term on both sides."),
            culprit.position,
            operator=culprit.source or culprit.kind,
            at=culprit.position + 1,
        )


def parse_query(text: str) -> Query:
    """The query tree for a query as typed; QueryError naming the problem and where it is."""
    if not text.translate(FORMAT_TABLE).strip():
        raise QueryError(N_('The query is empty: type a word or a "quoted phrase".'))
    length = len(text.strip())
    if length > MAX_QUERY_LENGTH:
        raise QueryError(
            N_("The query is too long: {length} characters, at most {max} are allowed."),
            length=length,
            max=MAX_QUERY_LENGTH,
        )
    query = _Parser(_Scanner(text).run()).or_(None)
    _check_anchored(query)
    _check_satisfiable(query)
    return query


# --- checks on the whole query ----------------------------------------------------------------


def iter_terms(query: Query, positive: bool = True) -> Iterator[tuple[Term, bool]]:
    """Every term of the query with whether it is positive (under an even number of NOTs)."""
    if isinstance(query, Term):
        yield query, positive
    elif isinstance(query, Not):
        yield from iter_terms(query.child, not positive)
    else:
        for child in query.children:
            yield from iter_terms(child, positive)


def positive_terms(query: Query) -> tuple[Term, ...]:
    """The distinct terms that count for a match (not excluded), in the order typed."""
    return tuple(dict.fromkeys(term for term, positive in iter_terms(query) if positive))


def _unanchored(node: Query) -> Not | None:
    """A NOT that lets the query match a paper in which none of its positive terms occurs."""
    if isinstance(node, Term):
        return None
    if isinstance(node, Not):
        return node
    culprits = [_unanchored(child) for child in node.children]
    if isinstance(node, And):
        return None if None in culprits else culprits[0]
    return next((culprit for culprit in culprits if culprit is not None), None)


def _check_anchored(query: Query) -> None:
    """Refuse queries that match papers without any of their terms: they would match almost all."""
    culprit = _unanchored(query)
    if culprit is None:
        return
    if not positive_terms(query):
        raise QueryError(
            N_(
                "The query only excludes terms: at least one positive term is needed, as in "
                "diffusion -medical."
            ),
            culprit.position,
        )
    raise QueryError(
        N_(
            "Each side of OR needs a positive term: the part at position {at} only excludes, "
            "so it would match almost every paper."
        ),
        culprit.position,
        at=culprit.position + 1,
    )


def _covers(outer: str | None, inner: str | None) -> bool:
    """Whether every field searched by a term in ``outer`` is searched by one in ``inner``."""
    return outer == inner or (inner is None and outer in ("title", "abstract"))


def _word_implies(word: str, prefix: bool, other: str, other_prefix: bool, plurals: bool) -> bool:
    """Whether every text word matching (word, prefix) also matches (other, other_prefix)."""
    stem = singular if plurals else str
    if not other_prefix:
        return not prefix and word == other
    if not prefix:
        return word.startswith(other) or word == stem(other)
    # word* matches w when w starts with word or w == stem(word).
    spelled = stem(word)
    return word.startswith(other) and (spelled.startswith(other) or spelled == stem(other))


def implies(term: Term, other: Term) -> bool:
    """Whether ``other`` occurs in every paper in which ``term`` does (conservatively)."""
    if not _covers(term.field, other.field):
        return False
    if term.field == "categories":
        name, other_name = term.words[0], other.words[0]
        if other.prefix:
            return name.startswith(other_name)
        return not term.prefix and name == other_name
    span, last = len(other.words), len(term.words) - 1
    for start in range(len(term.words) - span + 1):
        if all(
            _word_implies(
                term.words[start + index],
                term.prefix and start + index == last,
                word,
                other.prefix and index == span - 1,
                term.plurals,
            )
            for index, word in enumerate(other.words)
        ):
            return True
    return False


class _Contradiction:
    """A search for one consistent way to satisfy the query (a small DPLL over its terms)."""

    def __init__(self) -> None:
        self.budget = _SAT_BUDGET
        self.conflict: tuple[Term, Term] | None = None

    def satisfiable(
        self, goals: list[tuple[Query, bool]], required: list[Term], excluded: list[Term]
    ) -> bool:
        self.budget -= 1
        if self.budget < 0:
            return True  # too many alternatives to try: give the query the benefit of the doubt
        goals, required, excluded = list(goals), list(required), list(excluded)
        while goals:
            node, wanted = goals.pop()
            if isinstance(node, Term):
                conflicts = (
                    [(node, other) for other in excluded if implies(node, other)]
                    if wanted
                    else [(other, node) for other in required if implies(other, node)]
                )
                if conflicts:
                    self.conflict = self.conflict or conflicts[0]
                    return False
                (required if wanted else excluded).append(node)
            elif isinstance(node, Not):
                goals.append((node.child, not wanted))
            elif isinstance(node, And) == wanted:  # all children must hold (or all fail)
                goals.extend((child, wanted) for child in node.children)
            else:
                return any(
                    self.satisfiable([*goals, (child, wanted)], required, excluded)
                    for child in node.children
                )
        return True


def _check_satisfiable(query: Query) -> None:
    """Refuse a query that can match nothing because it excludes what it requires."""
    search = _Contradiction()
    if search.satisfiable([(query, True)], [], []) or search.conflict is None:
        return
    required, excluded = search.conflict
    at = excluded.position + 1
    if required == excluded:
        raise QueryError(
            N_(
                "The query can never match: “{term}” is both required and excluded "
                "(at position {at})."
            ),
            excluded.position,
            term=_shown(excluded.text),
            at=at,
        )
    raise QueryError(
        N_(
            "The query can never match: every paper with “{required}” also has “{excluded}”, "
            "which it excludes at position {at}."
        ),
        excluded.position,
        required=_shown(required.text),
        excluded=_shown(excluded.text),
        at=at,
    )


# --- canonical text ---------------------------------------------------------------------------


def _describe_term(term: Term) -> str:
    field = f"{_SHORT_NAMES[term.field]}:" if term.field else ""
    if term.prefix:
        return field + "-".join(term.words) + "*"
    if len(term.words) == 1:
        return field + term.words[0]
    return field + '"' + " ".join(term.words) + '"'


def describe(query: Query) -> str:
    """The canonical text of a query: equal for queries that are the same up to spelling,
    word order within AND and OR, and repetition ("Diffusion  models" = "model diffusion")."""
    if isinstance(query, Term):
        return _describe_term(query)
    if isinstance(query, Not):
        inner = describe(query.child)
        return "-" + (inner if isinstance(query.child, Term) else f"({inner})")
    parts = sorted({describe(child) for child in query.children})
    if len(parts) == 1:
        return parts[0]
    if isinstance(query, Or):
        return " OR ".join(parts)
    wrapped = {describe(child) for child in query.children if isinstance(child, Or)}
    return " ".join(f"({part})" if part in wrapped else part for part in parts)
