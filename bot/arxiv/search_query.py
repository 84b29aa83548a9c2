"""/search: the bot's query language (`bot.matching.parser`) said in the arXiv API's search syntax.

The user types the language of /subscribe and /latest; `to_arxiv_query` parses it with
`bot.matching.parser.parse_query` (the same checks and error messages) and writes it in the
syntax that
`bot.arxiv.api.build_search_query` reads: ``field:word`` or ``field:"a phrase"`` joined by
AND, OR and ANDNOT, with parentheses. What maps:

- words and phrases → ``all:`` (arXiv searches every field; the bot's own matching only title
  and abstract), ``ti:`` ``abs:`` ``au:`` as they are, ``cat:`` with arXiv's spelling of the
  category (cat:CS.cv → cat:cs.CV; an alias such as cs.SY as typed, arXiv knows both);
- AND, OR (``|``), parentheses and fielded groups (``ti:(a OR b)``);
- NOT / ``-word`` when something positive stands beside it (``diffusion -medical`` →
  ``all:diffusion ANDNOT all:medical``).

What does not map is refused with a message saying so, rather than searched for something
else: prefixes (``diffus*``, ``cat:cs.*``: arXiv's search has no wildcards) and a NOT that
is an alternative of its own (``a OR -b``). A query made only of arXiv ids (``2508.13167``,
``hep-th/0505137v2``) is passed as it is: `bot.arxiv.api.search_url` asks for those papers.
"""

from __future__ import annotations

import re

from bot.arxiv import categories as arxiv_categories
from bot.arxiv.ids import parse_arxiv_id
from bot.arxiv.latex import to_unicode
from bot.matching.parser import parse_query
from bot.matching.query import And, Not, Or, Query, QueryError, Term
from bot.matching.tokenizer import FIELD_NAMES, QUOTES
from bot.messages import N_

# The bot's field names → arXiv's search prefixes; None (title and abstract) → all fields.
_API_FIELDS = {None: "all", "title": "ti", "abstract": "abs", "authors": "au", "categories": "cat"}
_FIELD_PREFIX = re.compile(r"^([A-Za-z]+):")


def is_id_list(text: str) -> bool:
    """Whether the text is only arXiv ids (separated by spaces or commas)."""
    tokens = text.replace(",", " ").split()
    return bool(tokens) and all(parse_arxiv_id(token) for token in tokens)


def to_arxiv_query(text: str) -> str:
    """The query for `ArxivSearch.search`; QueryError (a message for the user) when the query
    is malformed or uses something arXiv's search cannot do."""
    if is_id_list(text):
        return text.strip()
    return _render(parse_query(text), top=True)


def _render(node: Query, top: bool = False) -> str:
    if isinstance(node, Term):
        return _term(node)
    if isinstance(node, Or):
        for child in node.children:
            if isinstance(child, Not):
                raise QueryError(
                    N_(
                        "arXiv's search cannot look for papers that merely lack a term "
                        "(“{term}” is an alternative of its own): put the NOT beside "
                        "a term, as in diffusion -medical."
                    ),
                    child.position,
                    term=_source(child),
                )
        text = " OR ".join(_render(child) for child in node.children)
        return text if top else f"({text})"
    if isinstance(node, And):
        positive = [_render(child) for child in node.children if not isinstance(child, Not)]
        negative = [_render(child.child) for child in node.children if isinstance(child, Not)]
        text = " AND ".join(positive)
        if negative:  # parse_query has checked that something positive stands beside them
            text = f"({text})" if len(positive) > 1 else text
            text += "".join(f" ANDNOT {part}" for part in negative)
        return text if top else f"({text})"
    # A NOT alone: parse_query refuses it ("nothing to exclude from"); kept as a safeguard.
    raise QueryError(N_("A search needs at least one term that papers must contain."))


def _term(term: Term) -> str:
    field = _API_FIELDS[term.field]
    if term.prefix:
        if field == "cat":
            raise QueryError(
                N_(
                    "arXiv's search has no wildcards: instead of {term}, name the categories, "
                    "as in (cat:cs.LG OR cat:cs.AI)."
                ),
                term.position,
                term=term.text,
            )
        raise QueryError(
            N_(
                "arXiv's search has no prefix search: instead of {term}, write whole words "
                "(diffusion rather than diffus*)."
            ),
            term.position,
            term=term.text,
        )
    if field == "cat":
        typed = _value(term.text)
        category = arxiv_categories.lookup(typed)
        if category is None:
            error = arxiv_categories.UnknownCategory(typed, arxiv_categories.suggestions(typed))
            # arXiv's own category names and suggestions: not translated.
            raise QueryError("{error}.", term.position, error=str(error))
        return f"cat:{category}"
    words = _value(term.text).split()
    return f'{field}:"{" ".join(words)}"' if len(words) > 1 else f"{field}:{words[0]}"


def _value(source: str) -> str:
    """A term's text as typed, without its field prefix, quotes or *, TeX accents as letters
    (J\\"org → Jörg, as arXiv's search expects)."""
    match = _FIELD_PREFIX.match(source)
    if match and match.group(1).casefold() in FIELD_NAMES:
        source = source[match.end() :]
    source = source.rstrip("*")
    if source[:1] in QUOTES and source[-1:] in QUOTES and len(source) > 1:
        source = source[1:-1]
    text = to_unicode(source) if "\\" in source else source
    return " ".join("".join(" " if char in QUOTES else char for char in text).split())


def _source(node: Not) -> str:
    child = node.child
    return f"-{child.text}" if isinstance(child, Term) else "NOT (…)"
