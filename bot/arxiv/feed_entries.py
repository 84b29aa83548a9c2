"""One feed entry into a `Paper` (pure): `EntryFields`, the raw values both feed parsing paths
read, and `paper_from_fields` with what it needs: the arXiv id in a guid or link, arXiv's
"Announce Type" prefix, author lists, withdrawal notices, categories and the announcement day.
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
    """Build a Paper from one entry's field values, or None when the entry is unusable."""
    summary = fields.summary
    prefix = _PREFIX_RE.match(summary)
    ident = _identity(fields.guid, fields.link)
    if ident is None and prefix is not None:
        ident = prefix["id"], prefix["version"]
    abstract = collapse_ws(summary[prefix.end() :] if prefix else summary)
    if ident is None or not abstract:
        return None
    arxiv_id, version = ident
    if version is None and prefix is not None and prefix["id"] == arxiv_id:
        version = prefix["version"]
    fallback_type = prefix["type"] if prefix and prefix["type"] else DEFAULT_ANNOUNCE_TYPE
    return Paper(
        arxiv_id=arxiv_id,
        title=collapse_ws(fields.title),
        withdrawn=is_withdrawn(abstract),
        authors=split_authors(fields.creators),
        abstract=abstract,
        categories=_categories(fields.categories),
        announce_type=(fields.announce_type.strip() or fallback_type).lower(),
        version=int(version) if version else 1,
        announced=_announced(fields.published),
    )


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
    """Category terms in feed order (arXiv lists the primary first), without repeats."""
    return tuple(dict.fromkeys(term.strip() for term in terms if term))


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
