"""One feed entry into a `Paper` (pure): `EntryFields`, the raw values both feed parsing paths
read, and `paper_from_fields` with what it needs: the arXiv id in a guid or link, arXiv's
"Announce Type" prefix, author lists, withdrawal notices, categories and the announcement day,
and the bounds (MAX_*) on every field, so that no single entry makes a paper too big to match
or show.
`feed_date` reads the feed's own build time, for both paths too.

`collapse_ws`, `is_withdrawn` and `ARXIV_NS` serve the search API's parsing (bot.arxiv.api)
as well.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Iterable
from dataclasses import dataclass

from bot.arxiv.ids import ID_PATTERN
from bot.models import Paper

ARXIV_NS = "http://arxiv.org/schemas/atom"
DEFAULT_ANNOUNCE_TYPE = "new"
# Bounds on one paper's fields, in characters (and names, categories), far above any real
# arXiv paper: arXiv caps abstracts at 1,920 characters; titles run to a few hundred; the
# biggest collaborations list a few thousand authors (~25 characters each); a paper has a
# handful of categories of at most ~20 characters. Text over its bound is cut and ends in "…";
# the author and category lists keep their first entries; a longer "category" is no category.
MAX_TITLE = 2_000
MAX_ABSTRACT = 20_000
MAX_AUTHORS = 5_000
MAX_AUTHOR_NAME = 500
MAX_AUTHORS_TEXT = 200_000  # all names together
MAX_CATEGORIES = 50
MAX_CATEGORY = 100
MAX_ANNOUNCE_TYPE = 32
ELLIPSIS = "\u2026"
# Raw text is read up to this many times its bound, before white space is collapsed (an API
# title is wrapped over lines): enough for any real text, and no huge text is ever scanned.
_RAW_FACTOR = 4
_PREFIX_ROOM = 200  # "arXiv:2508.13167v1 Announce Type: replace-cross \nAbstract: " and more

_OAI_ID_RE = re.compile(rf"^\s*oai:arXiv\.org:{ID_PATTERN}\s*$", re.IGNORECASE)
_ABS_URL_RE = re.compile(
    rf"^\s*https?://(?:[\w-]+\.)*arxiv\.org/abs/{ID_PATTERN}/?\s*$", re.IGNORECASE
)
# "arXiv:2508.13167v1 Announce Type: new \nAbstract: " at the start of description/summary.
_PREFIX_RE = re.compile(
    rf"^\s*arXiv:{ID_PATTERN}\s+Announce\s+Type:\s*(?P<type>[\w-]*)\s*Abstract:\s*",
    re.IGNORECASE,
)
# A comma-separated author list whose last separator may be " and " ("A, B and C").
_AND_RE = re.compile(r"\s+and\s+")
_LEADING_AND_RE = re.compile(r"^and\s+")
# How arXiv withdrawals read. A withdrawal is a new version whose comment gives the reason
# ("This paper has been withdrawn by <name>" on the abstract page); the feeds carry no comment,
# and authors long replaced the abstract itself with the notice ("This paper has been
# withdrawn by the author due to a crucial error in ..."), or with just "Withdrawn.". Only
# the opening counts: "the drug was withdrawn from sale" later in an abstract does not.
_WITHDRAWN_RE = re.compile(
    r"^\W*(?:(?:this|the)\s+(?:paper|article|submission|manuscript|preprint|work|version)"
    r"(?:\s+\S+)?\s+(?:has\s+been|is|was|had\s+been)\s+withdrawn"
    r"|(?:paper|article|submission|manuscript|preprint)\s+(?:has\s+been\s+)?withdrawn"
    r"|(?:the\s+)?authors?\s+(?:has|have|had)\s+withdrawn"
    r"|withdrawn(?:\W*$|\s*[.:(]|\s+(?:by|due|because|for|as|since|from\s+arxiv)\b))",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class EntryFields:
    """One feed entry's raw field values, as both parsing paths read them."""

    guid: str = ""  # RSS guid / Atom id
    link: str = ""
    title: str = ""
    summary: str = ""  # RSS description / Atom summary, with arXiv's prefix
    creators: str = ""  # dc:creator
    categories: tuple[str, ...] = ()  # category terms as written, in feed order
    announce_type: str = ""  # arxiv:announce_type
    published: str = ""  # RSS pubDate / Atom published


def paper_from_fields(fields: EntryFields) -> Paper | None:
    """Build a Paper from one entry's field values, or None when the entry is unusable.

    Every field is bounded (MAX_*), whatever the entry holds.
    """
    raw_limit = MAX_ABSTRACT * _RAW_FACTOR + _PREFIX_ROOM
    summary = fields.summary[:raw_limit]
    prefix = _PREFIX_RE.match(summary)
    ident = _identity(fields.guid, fields.link)
    if ident is None and prefix is not None:
        ident = prefix["id"], prefix["version"]
    abstract = _bounded_text(
        summary[prefix.end() :] if prefix else summary,
        MAX_ABSTRACT,
        cut=len(fields.summary) > raw_limit,
    )
    if ident is None or not abstract:
        return None
    arxiv_id, version = ident
    if version is None and prefix is not None and prefix["id"] == arxiv_id:
        version = prefix["version"]
    fallback_type = prefix["type"] if prefix and prefix["type"] else DEFAULT_ANNOUNCE_TYPE
    announce_type = fields.announce_type[: MAX_ANNOUNCE_TYPE * _RAW_FACTOR].strip()
    return Paper(
        arxiv_id=arxiv_id,
        title=_bounded_text(
            fields.title[: MAX_TITLE * _RAW_FACTOR],
            MAX_TITLE,
            cut=len(fields.title) > MAX_TITLE * _RAW_FACTOR,
        ),
        withdrawn=is_withdrawn(abstract),
        authors=_bounded_authors(fields.creators),
        abstract=abstract,
        categories=_categories(fields.categories),
        announce_type=(announce_type or fallback_type).lower()[:MAX_ANNOUNCE_TYPE],
        version=int(version) if version else 1,
        announced=_announced(fields.published),
    )


def _bounded_text(raw: str, limit: int, *, cut: bool = False) -> str:
    """`raw` with white space collapsed, in at most `limit` characters: longer text (or the
    part read of a text `cut` before) is cut and ends in "…"."""
    text = collapse_ws(raw)
    if cut or len(text) > limit:
        return text[: limit - 1].rstrip() + ELLIPSIS
    return text


def _bounded_authors(creators: str) -> tuple[str, ...]:
    """The first authors, each name at most MAX_AUTHOR_NAME characters, at most MAX_AUTHORS
    names in at most MAX_AUTHORS_TEXT characters together (a name that would pass it is left
    out, with all after it)."""
    raw_limit = MAX_AUTHORS_TEXT * 2
    names = list(split_authors(creators[:raw_limit]))
    if len(creators) > raw_limit and names:
        names.pop()  # read only in part
    bounded: list[str] = []
    total = 0
    for name in names[:MAX_AUTHORS]:
        if len(name) > MAX_AUTHOR_NAME:
            name = name[: MAX_AUTHOR_NAME - 1].rstrip() + ELLIPSIS
        total += len(name)
        if total > MAX_AUTHORS_TEXT:
            break
        bounded.append(name)
    return tuple(bounded)


def _identity(guid: str, link: str) -> tuple[str, str | None] | None:
    """(id without version, version digits or None) from the OAI guid, else the abs link."""
    for candidate, pattern in ((guid, _OAI_ID_RE), (guid, _ABS_URL_RE), (link, _ABS_URL_RE)):
        match = pattern.match(candidate)
        if match:
            return match["id"], match["version"]
    return None


def collapse_ws(text: str) -> str:
    """Collapse every run of whitespace (newlines included) to one space and trim the ends."""
    return " ".join(text.split())


def is_withdrawn(abstract: str, comment: str = "") -> bool:
    """Whether an abstract (or an arXiv comment, where the API gives one) says "withdrawn".

    arXiv's own notice, "This paper has been withdrawn by ...", and the older habit of
    replacing the abstract with the reason ("This paper has been withdrawn by the author due
    to an error in Lemma 2", "Withdrawn.") both count; a later mention does not.
    """
    return any(_WITHDRAWN_RE.match(text) for text in (abstract, comment) if text)


def split_authors(creators: str) -> tuple[str, ...]:
    """Split arXiv's `dc:creator` ("A, B, C" or "A, B and C") into trimmed names."""
    pieces = _split_outside_parens(creators)
    # Only the last separator can be " and " ("A, B and C", also "A, B, and C"); the earlier
    # pieces are left whole so that a name containing the word "and" survives there.
    last = _LEADING_AND_RE.sub("", pieces.pop().strip())
    pieces.extend(_split_and_outside_parens(last))
    names = (collapse_ws(piece) for piece in pieces)
    return tuple(name for name in names if name)


def _split_and_outside_parens(text: str) -> list[str]:
    """Split on " and " where it is not inside parentheses ("B Two (X and Y) and C")."""
    pieces: list[str] = []
    start = 0
    for match in _AND_RE.finditer(text):
        before = text[: match.start()]
        if before.count("(") <= before.count(")") and match.start() >= start:
            pieces.append(text[start : match.start()])
            start = match.end()
    pieces.append(text[start:])
    return pieces


def _split_outside_parens(text: str) -> list[str]:
    """Split on commas that are not inside parentheses (affiliations like "(MIT, USA)")."""
    pieces: list[str] = []
    depth = 0
    start = 0
    for index, char in enumerate(text):
        if char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif char == "," and depth == 0:
            pieces.append(text[start:index])
            start = index + 1
    pieces.append(text[start:])
    return pieces


def _categories(terms: Iterable[str]) -> tuple[str, ...]:
    """Category terms in feed order (arXiv lists the primary first), without repeats; at most
    MAX_CATEGORIES, and none longer than MAX_CATEGORY characters (that is no category)."""
    found: dict[str, None] = {}
    for term in terms:
        term = term.strip()
        if term and len(term) <= MAX_CATEGORY:
            found[term] = None
            if len(found) == MAX_CATEGORIES:
                break
    return tuple(found)


def _announced(published: str) -> dt.date | None:
    """The announcement day as written, in the timestamp's own (US/Eastern) offset."""
    stamp = _parse_timestamp(published)
    return stamp.date() if stamp else None


def feed_date(updated: str, published: str) -> dt.datetime | None:
    """The feed's build time in UTC: Atom `updated`, RSS `lastBuildDate`, else `pubDate`."""
    for value in (updated, published):
        stamp = _parse_timestamp(value)
        if stamp is not None:
            return stamp.astimezone(dt.UTC) if stamp.tzinfo else stamp.replace(tzinfo=dt.UTC)
    return None


def _parse_timestamp(value: str) -> dt.datetime | None:
    """Parse ISO 8601 (Atom) or RFC 822 (RSS) without converting to another offset."""
    value = value.strip()
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        pass
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
