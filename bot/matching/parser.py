"""The query language of /subscribe and /latest: its grammar, and parsing text to a tree.

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

Errors are `QueryError`s (`bot.matching.query`) whose message names the problem and where it
is: the scanner (`bot.matching.tokenizer`) refuses malformed text, the parser terms that could
never match, and `bot.matching.checks` queries that would match almost every paper or none.
Nothing here compiles a regular expression from user input, and the size limits are checked
by linear scans before any recursion, so no input can exhaust the stack.
"""

from __future__ import annotations

import functools
import re
import sys

from bot.matching.checks import check_anchored, check_satisfiable
from bot.matching.normalize import FORMAT_TABLE, category, fold, words
from bot.matching.query import And, Not, Or, Query, QueryError, Term, shown
from bot.matching.tokenizer import Token, tokenize
from bot.messages import N_

MAX_QUERY_LENGTH = 300
MIN_PREFIX = 3  # characters before the * of a word prefix
MIN_CATEGORY_PREFIX = 2  # cat:cs* is fine
_CATEGORY = re.compile(r"[a-z][a-z0-9-]*(?:\.[a-z0-9-]*)?")
# Archives that exist only as a set of categories: cat:cs can never match, cat:cs.* can.
_ARCHIVES = frozenset(
    {"astro-ph", "cond-mat", "cs", "econ", "eess", "math", "nlin", "physics", "q-bio", "q-fin"}
    | {"stat"}
)


# --- parsing ----------------------------------------------------------------------------------


def _make_term(token: Token, field: str | None) -> Term:
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
            term=shown(token.source),
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
            term=shown(token.source),
            at=token.position + 1,
            min=MIN_PREFIX,
        )
    # The prefix itself keeps its letters: a plural rule would cut diffus* to diffu*.
    before = words(" ".join(folded[:-1]), plurals=plurals)
    return Term((*before, sys.intern(last)), field, True, token.source, token.position)


def _category_term(token: Token) -> Term:
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

    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.index = 0

    def peek(self) -> Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def or_(self, field: str | None) -> Query:
        children = [self.and_(field, None)]
        while (token := self.peek()) is not None and token.kind == "OR":
            self.index += 1
            children.append(self.and_(field, token))
        return _join(Or, children)

    def and_(self, field: str | None, operator: Token | None) -> Query:
        children = [self.unary(field, operator)]
        while (token := self.peek()) is not None and token.kind not in (")", "OR"):
            if token.kind == "AND":
                self.index += 1
                children.append(self.unary(field, token))
            else:
                children.append(self.unary(field, None))
        return _join(And, children)

    def unary(self, field: str | None, operator: Token | None) -> Query:
        negations: list[Token] = []
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

    def _dangling(self, operator: Token | None, token: Token | None) -> None:
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


@functools.lru_cache(maxsize=16_384)
def parse_query(text: str) -> Query:
    """The query tree for a query as typed; QueryError naming the problem and where it is.

    Cached: the same few thousand queries are parsed for every digest, preview and
    highlighted title (the tree is immutable; refusals are not cached).
    """
    if not text.translate(FORMAT_TABLE).strip():
        raise QueryError(N_('The query is empty: type a word or a "quoted phrase".'))
    length = len(text.strip())
    if length > MAX_QUERY_LENGTH:
        raise QueryError(
            N_("The query is too long: {length} characters, at most {max} are allowed."),
            length=length,
            max=MAX_QUERY_LENGTH,
        )
    query = _Parser(tokenize(text)).or_(None)
    check_anchored(query)
    check_satisfiable(query)
    return query
