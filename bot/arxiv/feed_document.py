"""The document stage of feed parsing (pure): the bytes a server sent, made into a document that
both parsing paths (bot.arxiv.feed_fast_path, and feedparser in bot.arxiv.feeds) read safely
and whole. `prepare_document` does, in order:

- decode as declared (a byte order mark, else the XML declaration, else UTF-8): a byte the
  encoding cannot decode becomes one U+FFFD, and so does a character XML forbids; nothing else
  changes. The result is UTF-8, declared so;
- cut a DOCTYPE out unread (arXiv never sends one): no entity is ever declared, expanded or
  fetched. defusedxml then checks that no DTD is left; a document it cannot vouch for is
  refused if it still holds DTD-like text, rather than handed to feedparser;
- in a document that is not well-formed, cut out each entry that is not well-formed on its own
  (a reference to no character such as "&#xD800;", an undeclared entity, a broken tag) and
  count it, so that one bad entry never spoils the others.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

logger = logging.getLogger(__name__)

# An entry's start and end tags, RSS or Atom, with or without a namespace prefix.
ENTRY_START_RE = re.compile(rb"<(?:[\w.-]+:)?(?:entry|item)[\s/>]")
ENTRY_END_RE = re.compile(rb"</(?:[\w.-]+:)?(?:entry|item)\s*>")

_BOMS = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
# Without a byte order mark, how "<?" starts in the wide encodings (XML 1.0, appendix F).
_WIDE_STARTS = (
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)
_DECLARED_RE = re.compile(rb"<\?xml[^>]*?\sencoding\s*=\s*[\"']([A-Za-z][\w.:-]*)[\"']")
_DECLARATION_ENCODING_RE = re.compile(r"\A(<\?xml[^>]*?\sencoding\s*=\s*)([\"'])([^\"']*)\2")
# Codecs Python has that are no character encoding a feed could be in.
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "utf-7"})
_PROBE = "<?xml version='1.0'?>"
# Characters XML 1.0 does not allow in a document (surrogates cannot come out of a decoder),
# and how they look in UTF-8.
_FORBIDDEN_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_FORBIDDEN_UTF8_RE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]")
_CHUNK = 1 << 20  # bytes decoded at a time

# Before a DOCTYPE: white space, processing instructions (the XML declaration) and comments.
_PROLOG_ITEM_RE = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
_DOCTYPE = b"<!DOCTYPE"
# A DOCTYPE's pieces: quoted strings, comments and PIs may hold "]" and ">" that end nothing.
_DTD_TOKEN_RE = re.compile(
    rb"\"[^\"]*\"|'[^']*'|<!--.*?-->|<\?.*?\?>|[\[\]>]|[^\"'<\[\]>]+|<", re.DOTALL
)
_DTD_TEXT_RE = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_OPENING_RE = re.compile(rb"<(?:[\w.-]+:)?(?:rss|feed|RDF|channel)(?:\s[^>]*)?>")
MAX_LOGGED_ENTRIES = 10  # malformed entries logged one by one per document; the rest counted
_ENTRY_ID_RE = re.compile(rb"oai:arXiv\.org:([^<\s]{1,40})|arxiv\.org/abs/([^<\"'\s]{1,40})")


class Refused(Exception):
    """The document cannot be made safe to parse (a DTD that cannot be cut out, or DTD-like
    text in a document expat cannot vouch for); none of it is read."""


@dataclass(frozen=True, slots=True)
class Document:
    """A feed document ready for either parsing path, and what was done to it."""

    data: bytes  # UTF-8
    repairs: tuple[str, ...] = ()  # what was changed, in words, for the log
    dtd_refused: bool = False  # a DOCTYPE was cut out unread
    malformed: int = 0  # entries cut out for not being well-formed


def prepare_document(data: bytes) -> Document:
    """The document both parsing paths read (see the module docstring); Refused if unsafe."""
    data, repairs = _decoded(data)
    data, dtd_refused = _without_doctype(data)
    if dtd_refused:
        repairs.append("DOCTYPE cut out unread")
    problem = _xml_problem(data)
    if problem is None:
        return Document(data, tuple(repairs), dtd_refused)
    repaired = _without_malformed_entries(data)
    if repaired is None:
        # Not well-formed beyond single entries (cut off, or a broken header): feedparser reads
        # what it can. Only expat could tell a declaration from text here, so none may be left.
        if _DTD_TEXT_RE.search(data):
            raise Refused(f"not well-formed ({problem}) and holds DOCTYPE or ENTITY text")
        return Document(data, tuple(repairs), dtd_refused)
    data, malformed = repaired
    return Document(data, tuple(repairs), dtd_refused, malformed)


# --- decoding ---------------------------------------------------------------------------------


def _decoded(data: bytes) -> tuple[bytes, list[str]]:
    """The document in UTF-8, and the repairs made: bad bytes and forbidden characters.

    Checked and converted a megabyte at a time: a big document never exists as one string.
    """
    codec, start = _encoding(data)
    bad_bytes = not _decodes(data, start, codec)
    if codec == "utf-8" and not bad_bytes and _FORBIDDEN_UTF8_RE.search(data, start) is None:
        return data, []  # the common case: the very bytes arXiv sent
    decoder = codecs.getincrementaldecoder(codec)("replace")
    pieces: list[bytes] = []
    forbidden = 0
    for pos in [*range(start, len(data), _CHUNK), len(data)]:
        final = pos == len(data)
        text = decoder.decode(data[pos : pos + _CHUNK], final)
        if pos == start:
            text = _declared_utf8(text)
        text, count = _FORBIDDEN_RE.subn("\ufffd", text)
        forbidden += count
        pieces.append(text.encode("utf-8"))
    repairs = [f"bytes that are not {codec} replaced by U+FFFD"] if bad_bytes else []
    if forbidden:
        repairs.append(f"{forbidden} characters XML forbids replaced by U+FFFD")
    if repairs:
        logger.warning("feed document repaired: %s", "; ".join(repairs))
    return b"".join(pieces), repairs


def _decodes(data: bytes, start: int, codec: str) -> bool:
    """Whether `data` from `start` decodes in `codec` without error (a megabyte at a time)."""
    decoder = codecs.getincrementaldecoder(codec)()
    try:
        for pos in range(start, len(data), _CHUNK):
            decoder.decode(data[pos : pos + _CHUNK])
        decoder.decode(b"", True)
    except UnicodeDecodeError:
        return False
    return True


def _declared_utf8(text: str) -> str:
    """`text` (the start of a document) with its XML declaration saying UTF-8."""
    declaration = _DECLARATION_ENCODING_RE.match(text)
    if declaration is None or declaration[3].lower() == "utf-8":
        return text
    return f"{declaration[1]}{declaration[2]}utf-8{declaration[2]}{text[declaration.end() :]}"


def _encoding(data: bytes) -> tuple[str, int]:
    """The codec the document is in, and where its text starts (after a byte order mark)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec, len(bom)
    for start, codec in _WIDE_STARTS:
        if data.startswith(start):
            return codec, 0
    declared = _DECLARED_RE.match(data)
    if declared is not None:
        name = declared[1].decode("ascii")
        try:
            info = codecs.lookup(name)
            usable = (
                getattr(info, "_is_text_encoding", True)
                and info.name not in _NOT_CHARSETS
                and _PROBE.encode(info.name) == _PROBE.encode("ascii")
            )
        except (LookupError, UnicodeError):
            usable = False
        if usable:
            return info.name, 0
        logger.warning("feed declares encoding %r, which is not usable; reading UTF-8", name)
    return "utf-8", 0


# --- DTDs -------------------------------------------------------------------------------------


def _without_doctype(data: bytes) -> tuple[bytes, bool]:
    """The document with its DOCTYPE declaration (internal subset and all) cut out unread."""
    pos = len(b"\xef\xbb\xbf") if data.startswith(b"\xef\xbb\xbf") else 0
    while (item := _PROLOG_ITEM_RE.match(data, pos)) is not None and item.end() > pos:
        pos = item.end()
    if not data.startswith(_DOCTYPE, pos):
        return data, False
    depth = 0
    for token in _DTD_TOKEN_RE.finditer(data, pos + len(_DOCTYPE)):
        piece = token[0]
        if piece == b"[":
            depth += 1
        elif piece == b"]":
            depth = max(depth - 1, 0)
        elif piece == b">" and depth == 0:
            logger.warning("feed has a DOCTYPE (%d bytes): cut out unread", token.end() - pos)
            return data[:pos] + data[token.end() :], True
    raise Refused("a DOCTYPE declaration that never ends")


class _NoTarget:
    """A parser target with no callbacks: expat only checks the document."""


def _xml_problem(data: bytes) -> str | None:
    """Why the document is not well-formed XML (None if it is); Refused for any DTD left."""
    parser = DefusedXMLParser(target=_NoTarget(), forbid_dtd=True)
    try:
        parser.feed(data)
        parser.close()
    except DefusedXmlException as exc:
        raise Refused(f"a DTD is left after cutting out the DOCTYPE ({exc})") from None
    except ParseError as exc:
        return str(exc)
    return None


# --- malformed entries ------------------------------------------------------------------------


def _without_malformed_entries(data: bytes) -> tuple[bytes, int] | None:
    """The document without the entries that are not well-formed on their own, and how many
    were cut; None when that does not make it well-formed (it is broken elsewhere)."""
    starts = [match.start() for match in ENTRY_START_RE.finditer(data)]
    if not starts:
        return None
    # Each entry runs to the next one's start; the last one to its end tag, the rest is tail.
    ends = [match.end() for match in ENTRY_END_RE.finditer(data, starts[-1])]
    if not ends:
        return None  # cut off inside the last entry
    head, tail = data[: starts[0]], data[ends[-1] :]
    if _xml_problem(head + tail) is not None:
        return None
    kept: list[bytes] = []
    bad: list[tuple[int, bytes, str]] = []
    for number, (start, stop) in enumerate(zip(starts, [*starts[1:], ends[-1]], strict=True)):
        entry = data[start:stop]
        problem = _xml_problem(head + entry + tail)
        if problem is None:
            kept.append(entry)
        else:
            bad.append((number + 1, entry, problem))
    repaired = head + b"".join(kept) + tail
    if not bad or _xml_problem(repaired) is not None:
        return None
    log_malformed(bad)
    return repaired, len(bad)


def log_malformed(bad: Sequence[tuple[int, bytes, str]]) -> None:
    """Log the malformed entries skipped (number, bytes, problem): the first few one by one
    with their arXiv id, the rest as a count."""
    for number, entry, problem in bad[:MAX_LOGGED_ENTRIES]:
        label = entry_label(entry)
        logger.warning("feed entry %d (%s) is malformed (%s): skipped", number, label, problem)
    if len(bad) > MAX_LOGGED_ENTRIES:
        logger.warning("and %d more malformed feed entries skipped", len(bad) - MAX_LOGGED_ENTRIES)


def entry_label(entry: bytes) -> str:
    """The arXiv id an entry's bytes name, for the log ("no id" if none)."""
    found = _ENTRY_ID_RE.search(entry)
    if found is None:
        return "no id"
    return (found[1] or found[2]).decode("ascii", "replace")


def opening_tags(head: bytes) -> bytes:
    """The start tags of the feed's root and RSS channel in the head of a document (where the
    namespaces are declared), without the feed's own elements."""
    return b"".join(match[0] for match in _OPENING_RE.finditer(head))
