"""The document stage of feed parsing (pure): the bytes a server sent, made into a document that
both parsing paths (bot.arxiv.feed_fast_path, and feedparser in bot.arxiv.feeds) read whole.
`prepare_document` decodes it as declared (a byte order mark, else the XML declaration, else
UTF-8): a byte the encoding cannot decode becomes one U+FFFD, and so does a character XML
forbids; nothing else changes. The result is UTF-8, declared so.
"""

from __future__ import annotations

import codecs
import logging
import re
from dataclasses import dataclass

logger = logging.getLogger(__name__)

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


@dataclass(frozen=True, slots=True)
class Document:
    """A feed document ready for either parsing path, and what was done to it."""

    data: bytes  # UTF-8
    repairs: tuple[str, ...] = ()  # what was changed, in words, for the log


def prepare_document(data: bytes) -> Document:
    """The document both parsing paths read (see the module docstring)."""
    data, repairs = _decoded(data)
    return Document(data, tuple(repairs))


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
