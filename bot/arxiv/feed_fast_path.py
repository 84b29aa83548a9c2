"""The ElementTree fast path of feed parsing: a plain, well-formed arXiv-shaped RSS 2.0 or Atom
feed read into `EntryFields` (`read_document`) exactly as feedparser would read it.

The fast path reads a document only when it can promise feedparser's reading of it: it reads
exactly the elements and attributes arXiv's feeds use, and declines (raises `Declined`, and
bot.arxiv.feeds.parse_feed falls back to feedparser) wherever feedparser would do something
else with the document than take the element text or attribute as written. It never imitates
a feedparser quirk; it leaves such documents to feedparser.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from xml.etree import ElementTree

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from bot.arxiv.feed_entries import ARXIV_NS, EntryFields
from bot.arxiv.http import SNIFF_BYTES

_ATOM = "{http://www.w3.org/2005/Atom}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_ARXIV = f"{{{ARXIV_NS}}}"
_ANNOUNCE_TYPE = _ARXIV + "announce_type"
# The entry elements each format uses and the EntryFields field each one fills ("link" and
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


class Declined(Exception):
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


def read_document(data: bytes) -> tuple[list[EntryFields], str, str]:
    """The entries and the feed's (updated, published) texts of a plain, well-formed RSS 2.0
    or Atom feed, read with ElementTree as feedparser reads them; Declined where it cannot."""
    _check_document(data)
    arxiv_ok = _arxiv_prefix_is_plain(data)
    try:
        root: ElementTree.Element = defused_fromstring(data, forbid_dtd=True)
    except ElementTree.ParseError as exc:
        raise Declined(f"not well-formed XML ({exc})") from None
    except DefusedXmlException as exc:  # not reached: _check_document declines any DTD first
        raise Declined(f"DTD ({exc})") from None
    if root.tag == "rss":
        _check_attributes(root, frozenset({"version"}))
        channels = list(root)
        if len(channels) != 1 or channels[0].tag != "channel":
            raise Declined("<rss> holds something other than one <channel>")
        container, fmt = channels[0], _RSS
    elif root.tag == _ATOM + "feed":
        container, fmt = root, _ATOM_FORMAT
    else:
        raise Declined(f"root element <{root.tag}> is neither RSS 2.0 nor Atom")
    _check_attributes(container, _NO_ATTRIBUTES)
    return _read_feed(container, fmt, arxiv_ok)


def _check_document(data: bytes) -> None:
    """Decline DTDs (no entity expansion here, ever) and anything but UTF-8."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise Declined("document has a DOCTYPE or ENTITY declaration")
    head = data[:SNIFF_BYTES].removeprefix(b"\xef\xbb\xbf")
    if b"\x00" in head[:4]:
        raise Declined("document is UTF-16 or UTF-32")
    declared = _XML_ENCODING_RE.match(head)
    if declared is not None and declared[1].lower() != b"utf-8":
        raise Declined(f"document is declared as {declared[1]!r}, not UTF-8")


def _read_feed(
    container: ElementTree.Element, fmt: _Format, arxiv_ok: bool
) -> tuple[list[EntryFields], str, str]:
    """The entries and the (updated, published) texts of a channel or Atom feed element."""
    entries: list[EntryFields] = []
    dates: dict[str, str] = {}
    for child in container:
        if child.tag == fmt.entry_tag:
            entries.append(_read_entry(child, fmt.roles, arxiv_ok))
        elif child.tag in (fmt.updated_tag, fmt.published_tag):
            if child.tag in dates or len(child):
                raise Declined(f"repeated or structured <{child.tag}>")
            dates[child.tag] = _plain_text(child)
        else:
            for element in child.iter():
                name = element.tag.rpartition("}")[2].lower()
                if name in _ENTRY_NAMES or name in _DATE_NAMES:
                    raise Declined(f"<{element.tag}> outside the feed's entries")
    return entries, dates.get(fmt.updated_tag, ""), dates.get(fmt.published_tag, "")


def _read_entry(
    entry: ElementTree.Element, roles: Mapping[str, str], arxiv_ok: bool
) -> EntryFields:
    """The field values of one RSS item or Atom entry, read as feedparser reads them."""
    _check_attributes(entry, _NO_ATTRIBUTES)
    values: dict[str, str] = {}
    link = ""
    categories: list[str] = []
    for child in entry:
        role = roles.get(child.tag)
        if child.tag.startswith(_ARXIV):
            if not arxiv_ok:
                raise Declined("the arXiv namespace is not declared once, as xmlns:arxiv")
            if role is None and child.tag.lower() != _ANNOUNCE_TYPE:  # feedparser lowercases
                role = ""
        if role is None:
            raise Declined(f"<{child.tag}> in an entry")
        if len(child):
            raise Declined(f"markup inside <{child.tag}>")
        if child.attrib:
            _check_attributes(child, _ROLE_ATTRIBUTES.get(role, _NO_ATTRIBUTES))
        if role == "link":
            link = _read_link(child, link)
        elif role == "category":
            categories.extend(_read_category(child))
        elif role:
            if role in values:  # feedparser keeps the first title but the last date, ...
                raise Declined(f"repeated <{child.tag}> in an entry")
            values[role] = _read_field(child, role)
    return EntryFields(link=link, categories=tuple(categories), **values)


def _read_field(element: ElementTree.Element, role: str) -> str:
    text = _plain_text(element)
    if role in ("title", "summary") and "type" in element.attrib:
        # Only text types: feedparser escapes XHTML text and base64-decodes other types.
        if not _content_type(element.attrib["type"]).startswith("text/"):
            raise Declined(f"<{element.tag}> of type {element.attrib['type']!r}")
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
        raise Declined(f"text in <{element.tag}> that feedparser would rewrite")
    return text


def _check_uri(value: str) -> None:
    if ":///" in value:  # feedparser drops the extra slashes of "https:///..."
        raise Declined(f"URI {value!r} that feedparser would rewrite")


def _check_attributes(element: ElementTree.Element, allowed: frozenset[str]) -> None:
    for key in element.attrib:
        if key not in allowed and key != _XML_LANG:
            raise Declined(f"attribute {key!r} on <{element.tag}>")


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
