"""Parse arXiv's RSS/Atom announcement feeds into `Paper`s (pure).

Fetching is bot.arxiv.fetcher's job (polite, conditional, retried), with bot.arxiv.http's
client and feed check.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import io
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import feedparser

from bot.arxiv.http import SNIFF_BYTES
from bot.models import Paper

logger = logging.getLogger(__name__)


ARXIV_NS = "http://arxiv.org/schemas/atom"
DEFAULT_ANNOUNCE_TYPE = "new"

# New-style ids ("2508.13167", 4 digits before 2015) and old-style ids ("hep-th/0505137",
# "math.AP/0601001"); an optional "vN" suffix carries the version.
_ID = r"(?P<id>\d{4}\.\d{4,5}|[a-z]+(?:-[a-z]+)*(?:\.[A-Za-z]{2})?/\d{7})(?:v(?P<version>\d+))?"
_OAI_ID_RE = re.compile(rf"^\s*oai:arXiv\.org:{_ID}\s*$", re.IGNORECASE)
_ABS_URL_RE = re.compile(rf"^\s*https?://(?:[\w-]+\.)*arxiv\.org/abs/{_ID}/?\s*$", re.IGNORECASE)
# "arXiv:2508.13167v1 Announce Type: new \nAbstract: " at the start of description/summary.
_PREFIX_RE = re.compile(
    rf"^\s*arXiv:{_ID}\s+Announce\s+Type:\s*(?P<type>[\w-]*)\s*Abstract:\s*",
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
_ENTRY_END_RE = re.compile(rb"</(?:[\w.-]+:)?(?:entry|item)\s*>")


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What one feed document yielded, with enough diagnostics to tell "empty" from "broken"."""

    papers: tuple[Paper, ...]
    updated: dt.datetime | None  # the feed's own build date (Atom updated / RSS lastBuildDate)
    bozo: bool  # feedparser found the document malformed
    problem: str | None  # feedparser's bozo exception text
    skipped: int  # entries too incomplete to use (no id or no abstract)


# ---------------------------------------------------------------------------------------------
# Pure stage: bytes -> ParsedFeed


def parse_feed(data: bytes) -> ParsedFeed:
    """Parse an arXiv Atom or RSS 2.0 feed document; never touches the network.

    A plain, well-formed arXiv-shaped document takes the ElementTree fast path; anything else
    (malformed or truncated XML, a DTD, another encoding, constructs the fast path does not
    read exactly as feedparser does) goes to feedparser, which also keeps what parsed of a
    broken document and reports it as bozo. Both paths give the same result for a document the
    fast path accepts.
    """
    fast = _parse_fast(data)
    return fast if fast is not None else _parse_with_feedparser(data)


@dataclass(frozen=True, slots=True)
class _EntryFields:
    """One feed entry's raw field values, as both parsing paths read them."""

    guid: str = ""  # RSS guid / Atom id
    link: str = ""
    title: str = ""
    summary: str = ""  # RSS description / Atom summary, with arXiv's prefix
    creators: str = ""  # dc:creator
    categories: tuple[str, ...] = ()  # category terms as written, in feed order
    announce_type: str = ""  # arxiv:announce_type
    published: str = ""  # RSS pubDate / Atom published


def _parsed_feed(
    entries: Iterable[_EntryFields], updated: dt.datetime | None, problem: str | None
) -> ParsedFeed:
    """Turn entries into Papers (first occurrence of an id wins), counting unusable ones."""
    papers: dict[str, Paper] = {}
    skipped = 0
    for fields in entries:
        paper = _paper_from_fields(fields)
        if paper is None:
            skipped += 1
        else:
            papers.setdefault(paper.arxiv_id, paper)
    if problem is not None:
        logger.warning("malformed feed (%s); kept %d entries", problem, len(papers))
    if skipped:
        logger.warning(
            "skipped %d incomplete feed entries (no id or abstract, or cut off)", skipped
        )
    return ParsedFeed(
        papers=tuple(papers.values()),
        updated=updated,
        bozo=problem is not None,
        problem=problem,
        skipped=skipped,
    )


def _paper_from_fields(fields: _EntryFields) -> Paper | None:
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


# --- feedparser path: any feed, malformed ones included ---------------------------------------


def _parse_with_feedparser(data: bytes) -> ParsedFeed:
    """Parse with feedparser, which reads any feed and keeps what parsed of a broken one."""
    # A stream, not bytes: feedparser.parse() tries to open() a bytes/str argument as a path.
    # arXiv's text is plain text, not HTML: sanitizing would drop "<think>"-like words from
    # abstracts (and only in RSS, where description is assumed to be HTML). Escaping for
    # display is the renderer's job.
    result = feedparser.parse(io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False)
    announce_key = _announce_type_key(result.get("namespaces", {}))
    raw_entries = list(result.get("entries", []))
    bozo = bool(result.get("bozo", False))
    unclosed: list[Any] = []
    if bozo:
        # A document cut off inside an entry leaves that entry without its later fields
        # (its categories, say): only entries whose end tag was read are complete. The rest
        # come with the next, complete fetch (a broken feed is not remembered).
        closed = len(_ENTRY_END_RE.findall(data))
        raw_entries, unclosed = raw_entries[:closed], raw_entries[closed:]
    entries = [_fields_from_entry(entry, announce_key) for entry in raw_entries]
    entries += [_EntryFields() for _ in unclosed]  # counted as skipped
    feed = result.get("feed", {})
    # `"updated" in feed` first: feedparser's feed.get("updated") falls back to "published"
    # with a DeprecationWarning; _feed_date tries "published" next anyway.
    updated = _text(feed, "updated") if "updated" in feed else ""
    problem = str(result.get("bozo_exception")) if bozo else None
    return _parsed_feed(entries, _feed_date(updated, _text(feed, "published")), problem)


def _announce_type_key(namespaces: Mapping[str, str]) -> str:
    """feedparser names unknown namespaced elements by the document's prefix; find arXiv's."""
    for prefix, uri in namespaces.items():
        if uri == ARXIV_NS and prefix:
            return f"{prefix}_announce_type"
    return "arxiv_announce_type"


def _fields_from_entry(entry: Mapping[str, Any], announce_key: str) -> _EntryFields:
    """The field values of one feedparser entry."""
    return _EntryFields(
        guid=_text(entry, "id"),
        link=_text(entry, "link"),
        title=_text(entry, "title"),
        summary=_text(entry, "summary"),
        creators=_text(entry, "author"),
        categories=_tag_terms(entry.get("tags")),
        announce_type=_text(entry, announce_key),
        published=_text(entry, "published"),
    )


def _text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    return value if isinstance(value, str) else ""


def _tag_terms(tags: Any) -> tuple[str, ...]:
    """The terms of feedparser's `tags` list, in order."""
    if not isinstance(tags, Iterable):
        return ()
    terms = (tag.get("term") for tag in tags if isinstance(tag, Mapping))
    return tuple(term for term in terms if isinstance(term, str))


# --- ElementTree fast path: plain, well-formed arXiv-shaped feeds -----------------------------
#
# The fast path reads a document only when it can promise feedparser's reading of it: it reads
# exactly the elements and attributes arXiv's feeds use, and declines (raises _Declined, and
# parse_feed falls back to feedparser) wherever feedparser would do something else with the
# document than take the element text or attribute as written. It never imitates a feedparser
# quirk; it leaves such documents to feedparser.

_ATOM = "{http://www.w3.org/2005/Atom}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_ARXIV = f"{{{ARXIV_NS}}}"
_ANNOUNCE_TYPE = _ARXIV + "announce_type"
# The entry elements each format uses and the _EntryFields field each one fills ("link" and
# "category" are read specially); "" is read past (dc:rights, and an
# Atom entry's own updated stamp). Other elements in the arXiv namespace (arxiv:DOI,
# arxiv:journal_reference) are read past too: feedparser files them under keys of their own.
# Any other element in an entry makes the fast path decline, since feedparser maps dozens of
# element names onto the same fields.
_RSS_ROLES: Mapping[str, str] = {
    "guid": "guid",
    "link": "link",
    "title": "title",
    "description": "summary",
    "pubDate": "published",
    "category": "category",
    _DC + "creator": "creators",
    _ANNOUNCE_TYPE: "announce_type",
    _DC + "rights": "",
}
_ATOM_ROLES: Mapping[str, str] = {
    _ATOM + "id": "guid",
    _ATOM + "link": "link",
    _ATOM + "title": "title",
    _ATOM + "summary": "summary",
    _ATOM + "published": "published",
    _ATOM + "category": "category",
    _DC + "creator": "creators",
    _ANNOUNCE_TYPE: "announce_type",
    _DC + "rights": "",
    _ATOM + "updated": "",
}
# Attributes each kind of element may carry (xml:lang always); feedparser reads more, e.g.
# xml:base, Atom's mode, link url/uri, rdf:about and CDF attributes on items.
_ROLE_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "guid": frozenset({"isPermaLink"}),
    "link": frozenset({"href", "rel", "type"}),
    "title": frozenset({"type"}),
    "summary": frozenset({"type"}),
    "category": frozenset({"term", "scheme", "label", "domain"}),
}
_NO_ATTRIBUTES: frozenset[str] = frozenset()
_SHORT_TYPES: Mapping[str, str] = {
    "text": "text/plain",
    "plain": "text/plain",
    "html": "text/html",
    "xhtml": "application/xhtml+xml",
}
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Outside entries, element names that feedparser treats as entries or as feed dates.
_ENTRY_NAMES = frozenset({"item", "entry"})
_DATE_NAMES = frozenset(
    {"updated", "published", "lastbuilddate", "pubdate", "modified", "issued", "date"}
)
# Text feedparser rewrites: C1 controls (mapped to cp1252 characters).
_C1_RE = re.compile("[\x80-\x9f]")
_XML_ENCODING_RE = re.compile(rb"<\?xml[^>]*?\sencoding\s*=\s*[\"']([^\"']*)[\"']")
# A namespace declaration; "<" cannot occur in an attribute value, so a match stops there.
_NS_DECLARATION_RE = re.compile(rb"""xmlns(?::([^\s=/>]+))?\s*=\s*(?:"([^"<]*)"|'([^'<]*)')""")


class _Declined(Exception):
    """The fast path cannot promise feedparser's reading of this document."""


@dataclass(frozen=True, slots=True)
class _Format:
    """Where one format keeps its entries, entry fields and feed dates."""

    entry_tag: str
    roles: Mapping[str, str]
    updated_tag: str
    published_tag: str


_RSS = _Format("item", _RSS_ROLES, "lastBuildDate", "pubDate")
_ATOM_FORMAT = _Format(_ATOM + "entry", _ATOM_ROLES, _ATOM + "updated", _ATOM + "published")


def _parse_fast(data: bytes) -> ParsedFeed | None:
    """Parse a plain, well-formed RSS 2.0 or Atom feed with ElementTree; None to decline."""
    try:
        _check_document(data)
        arxiv_ok = _arxiv_prefix_is_plain(data)
        try:
            root = ElementTree.fromstring(data)
        except ElementTree.ParseError as exc:
            raise _Declined(f"not well-formed XML ({exc})") from None
        if root.tag == "rss":
            _check_attributes(root, frozenset({"version"}))
            channels = list(root)
            if len(channels) != 1 or channels[0].tag != "channel":
                raise _Declined("<rss> holds something other than one <channel>")
            container, fmt = channels[0], _RSS
        elif root.tag == _ATOM + "feed":
            container, fmt = root, _ATOM_FORMAT
        else:
            raise _Declined(f"root element <{root.tag}> is neither RSS 2.0 nor Atom")
        _check_attributes(container, _NO_ATTRIBUTES)
        entries, updated, published = _read_feed(container, fmt, arxiv_ok)
    except _Declined as exc:
        logger.debug("feed left to feedparser: %s", exc)
        return None
    return _parsed_feed(entries, _feed_date(updated, published), problem=None)


def _check_document(data: bytes) -> None:
    """Decline DTDs (no entity expansion here, ever) and anything but UTF-8."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise _Declined("document has a DOCTYPE or ENTITY declaration")
    head = data[:SNIFF_BYTES].removeprefix(b"\xef\xbb\xbf")
    if b"\x00" in head[:4]:
        raise _Declined("document is UTF-16 or UTF-32")
    declared = _XML_ENCODING_RE.match(head)
    if declared is not None and declared[1].lower() != b"utf-8":
        raise _Declined(f"document is declared as {declared[1]!r}, not UTF-8")


def _read_feed(
    container: ElementTree.Element, fmt: _Format, arxiv_ok: bool
) -> tuple[list[_EntryFields], str, str]:
    """The entries and the (updated, published) texts of a channel or Atom feed element."""
    entries: list[_EntryFields] = []
    dates: dict[str, str] = {}
    for child in container:
        if child.tag == fmt.entry_tag:
            entries.append(_read_entry(child, fmt.roles, arxiv_ok))
        elif child.tag in (fmt.updated_tag, fmt.published_tag):
            if child.tag in dates or len(child):
                raise _Declined(f"repeated or structured <{child.tag}>")
            dates[child.tag] = _plain_text(child)
        else:
            for element in child.iter():
                name = element.tag.rpartition("}")[2].lower()
                if name in _ENTRY_NAMES or name in _DATE_NAMES:
                    raise _Declined(f"<{element.tag}> outside the feed's entries")
    return entries, dates.get(fmt.updated_tag, ""), dates.get(fmt.published_tag, "")


def _read_entry(
    entry: ElementTree.Element, roles: Mapping[str, str], arxiv_ok: bool
) -> _EntryFields:
    """The field values of one RSS item or Atom entry, read as feedparser reads them."""
    _check_attributes(entry, _NO_ATTRIBUTES)
    values: dict[str, str] = {}
    link = ""
    categories: list[str] = []
    for child in entry:
        role = roles.get(child.tag)
        if child.tag.startswith(_ARXIV):
            if not arxiv_ok:
                raise _Declined("the arXiv namespace is not declared once, as xmlns:arxiv")
            if role is None and child.tag.lower() != _ANNOUNCE_TYPE:  # feedparser lowercases
                role = ""
        if role is None:
            raise _Declined(f"<{child.tag}> in an entry")
        if len(child):
            raise _Declined(f"markup inside <{child.tag}>")
        if child.attrib:
            _check_attributes(child, _ROLE_ATTRIBUTES.get(role, _NO_ATTRIBUTES))
        if role == "link":
            link = _read_link(child, link)
        elif role == "category":
            categories.extend(_read_category(child))
        elif role:
            if role in values:  # feedparser keeps the first title but the last date, ...
                raise _Declined(f"repeated <{child.tag}> in an entry")
            values[role] = _read_field(child, role)
    return _EntryFields(link=link, categories=tuple(categories), **values)


def _read_field(element: ElementTree.Element, role: str) -> str:
    text = _plain_text(element)
    if role in ("title", "summary") and "type" in element.attrib:
        # Only text types: feedparser escapes XHTML text and base64-decodes other types.
        if not _content_type(element.attrib["type"]).startswith("text/"):
            raise _Declined(f"<{element.tag}> of type {element.attrib['type']!r}")
    elif role == "guid" and element.get("isPermaLink", "true") == "true":
        _check_uri(text)  # feedparser resolves a permalink guid (and an Atom id) as a URI
    return text


def _read_link(element: ElementTree.Element, current: str) -> str:
    """feedparser's entry link: the last alternate HTML link's href, or a link's text."""
    href = element.get("href")
    if href is None:
        text = _plain_text(element)
        _check_uri(text)
        return text
    rel = element.get("rel", "alternate").lower()
    kind = element.get("type", "application/atom+xml" if rel == "self" else "text/html")
    if rel == "alternate" and _content_type(kind) in _HTML_TYPES:
        _check_uri(href)
        return href
    return current


def _read_category(element: ElementTree.Element) -> list[str]:
    """An Atom term attribute (as written), then any text (RSS), as feedparser adds tags."""
    return [term for term in (element.get("term"), _plain_text(element)) if term]


def _plain_text(element: ElementTree.Element) -> str:
    """The element's text as feedparser gives it (trimmed), or decline if it would rewrite it."""
    text = (element.text or "").strip()
    if not text.isascii():
        # feedparser re-decodes Latin-1-only text that is valid UTF-8 ("Ã©" -> "é") and maps
        # C1 controls to cp1252 characters.
        try:
            text.encode("latin-1").decode("utf-8")
        except UnicodeError:
            if _C1_RE.search(text) is None:
                return text
        raise _Declined(f"text in <{element.tag}> that feedparser would rewrite")
    return text


def _check_uri(value: str) -> None:
    if ":///" in value:  # feedparser drops the extra slashes of "https:///..."
        raise _Declined(f"URI {value!r} that feedparser would rewrite")


def _check_attributes(element: ElementTree.Element, allowed: frozenset[str]) -> None:
    for key in element.attrib:
        if key not in allowed and key != _XML_LANG:
            raise _Declined(f"attribute {key!r} on <{element.tag}>")


def _content_type(value: str) -> str:
    """feedparser's reading of a type attribute (Atom's short names included)."""
    value = value.lower()
    return _SHORT_TYPES.get(value, value)


def _arxiv_prefix_is_plain(data: bytes) -> bool:
    """True if the arXiv namespace is declared once, as xmlns:arxiv, and "arxiv" only so.

    feedparser names arXiv's elements by the prefix the document declares for the namespace:
    it misses arxiv:announce_type where the namespace is only a default namespace or the
    prefix is re-declared, and a prefix like "media" would call its handlers for media:*
    elements. ElementTree sees the namespace alone; with "arxiv" both read the same.
    """
    declarations: list[tuple[bytes, bytes]] = [
        (m[1] or b"", m[2] if m[2] is not None else m[3]) for m in _NS_DECLARATION_RE.finditer(data)
    ]
    arxiv = [prefix for prefix, uri in declarations if uri == ARXIV_NS.encode()]
    return arxiv == [b"arxiv"] and sum(prefix == b"arxiv" for prefix, _ in declarations) == 1


# --- helpers shared by both paths -------------------------------------------------------------


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


def _feed_date(updated: str, published: str) -> dt.datetime | None:
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
