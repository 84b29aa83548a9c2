"""Parse arXiv's RSS/Atom announcement feeds into `Paper`s (pure).

`parse_feed` first makes the bytes a safe, whole document (bot.arxiv.feed_document: decoded as
declared, DOCTYPE cut out unread, malformed entries cut out and counted), then takes the
ElementTree fast path (bot.arxiv.feed_fast_path) where it can and feedparser (here) everywhere
else; both read entries into `EntryFields`, which bot.arxiv.feed_entries turns into bounded
Papers. Fetching is bot.arxiv.fetcher's job (polite, conditional, retried), with
bot.arxiv.http's client and feed check.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import feedparser

from bot.arxiv.feed_document import (
    ENTRY_END_RE,
    ENTRY_START_RE,
    Refused,
    log_malformed,
    opening_tags,
    prepare_document,
)
from bot.arxiv.feed_entries import ARXIV_NS, EntryFields, feed_date, paper_from_fields
from bot.arxiv.feed_fast_path import Declined, read_document
from bot.models import Paper

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What one feed document yielded, with enough diagnostics to tell "empty" from "broken"."""

    papers: tuple[Paper, ...]
    updated: dt.datetime | None  # the feed's own build date (Atom updated / RSS lastBuildDate)
    bozo: bool  # the document is malformed (feedparser said so) or was refused: fetch it again
    problem: str | None  # feedparser's bozo exception text, or why the document was refused
    skipped: int  # entries not stored: too incomplete to use (no id or no abstract), malformed
    malformed: int = 0  # of those, entries that were not well-formed XML or that broke feedparser
    dtd_refused: bool = False  # the document had a DOCTYPE, cut out unread
    repairs: tuple[str, ...] = ()  # what was repaired in the document (bad bytes, DOCTYPE)


# ---------------------------------------------------------------------------------------------
# Pure stage: bytes -> ParsedFeed


def parse_feed(data: bytes) -> ParsedFeed:
    """Parse an arXiv Atom or RSS 2.0 feed document; never touches the network.

    The document is prepared first (bot.arxiv.feed_document): decoded as declared with only
    the bad bytes replaced, its DOCTYPE cut out unread, its malformed entries cut out and
    counted. A document that cannot be made safe gives no papers and is reported as broken.
    A plain, well-formed arXiv-shaped document then takes the ElementTree fast path; anything
    else (malformed or truncated XML, constructs the fast path does not read exactly as
    feedparser does) goes to feedparser, which also keeps what parsed of a broken document
    and reports it as bozo. Both paths give the same result for a document the fast path
    accepts.
    """
    try:
        document = prepare_document(data)
    except Refused as exc:
        logger.warning("feed document refused, nothing read: %s", exc)
        return ParsedFeed(
            (), None, bozo=True, problem=f"refused: {exc}", skipped=0, dtd_refused=True
        )
    fast = _parse_fast(document.data)
    parsed = fast if fast is not None else _parse_with_feedparser(document.data)
    return replace(
        parsed,
        skipped=parsed.skipped + document.malformed,
        malformed=parsed.malformed + document.malformed,
        dtd_refused=document.dtd_refused,
        repairs=document.repairs + parsed.repairs,
    )


def _parse_fast(data: bytes) -> ParsedFeed | None:
    """Parse a plain, well-formed RSS 2.0 or Atom feed with ElementTree; None to decline."""
    try:
        entries, updated, published = read_document(data)
    except Declined as exc:
        logger.debug("feed left to feedparser: %s", exc)
        return None
    return _parsed_feed(entries, feed_date(updated, published), problem=None)


def _parsed_feed(
    entries: Iterable[EntryFields],
    updated: dt.datetime | None,
    problem: str | None,
    malformed: int = 0,
) -> ParsedFeed:
    """Turn entries into Papers (first occurrence of an id wins), counting unusable ones;
    `malformed` entries were unreadable and are counted as skipped too."""
    papers: dict[str, Paper] = {}
    skipped = 0
    for fields in entries:
        paper = paper_from_fields(fields)
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
        skipped=skipped + malformed,
        malformed=malformed,
    )


# --- feedparser path: any feed, malformed ones included ---------------------------------------


def _parse_with_feedparser(data: bytes) -> ParsedFeed:
    """Parse with feedparser, which reads any feed and keeps what parsed of a broken one.

    Should feedparser raise on the document (its loose parser did on "&#xD800;"), each entry
    is read on its own after the feed's head, and one that still raises is skipped and counted.
    """
    try:
        entries, updated, published, problem = _read_with_feedparser(data)
        malformed = 0
    except Exception as exc:  # whatever feedparser raises, one entry must not cost the others
        logger.warning("feedparser failed on the feed (%r); reading it entry by entry", exc)
        entries, updated, published, malformed = _read_entry_by_entry(data)
        problem = f"feedparser failed on the document ({exc!r})"
    return _parsed_feed(entries, feed_date(updated, published), problem, malformed)


def _read_with_feedparser(data: bytes) -> tuple[list[EntryFields], str, str, str | None]:
    """The entries, (updated, published) texts and bozo problem of a document, by feedparser."""
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
        closed = len(ENTRY_END_RE.findall(data))
        raw_entries, unclosed = raw_entries[:closed], raw_entries[closed:]
    entries = [_fields_from_entry(entry, announce_key) for entry in raw_entries]
    entries += [EntryFields() for _ in unclosed]  # counted as skipped
    feed = result.get("feed", {})
    # `"updated" in feed` first: feedparser's feed.get("updated") falls back to "published"
    # with a DeprecationWarning; feed_date tries "published" next anyway.
    updated = _text(feed, "updated") if "updated" in feed else ""
    problem = str(result.get("bozo_exception")) if bozo else None
    return entries, updated, _text(feed, "published"), problem


def _read_entry_by_entry(data: bytes) -> tuple[list[EntryFields], str, str, int]:
    """The entries, (updated, published) texts and the number of unreadable entries, reading
    the feed's head alone and then each entry after the head."""
    starts = [match.start() for match in ENTRY_START_RE.finditer(data)]
    head = data[: starts[0]] if starts else data
    try:
        _, updated, published, _ = _read_with_feedparser(head)
    except Exception:  # a head it cannot read: the feed has no dates, its entries still count
        updated = published = ""
        head = opening_tags(head)
    entries: list[EntryFields] = []
    bad: list[tuple[int, bytes, str]] = []
    for number, (start, stop) in enumerate(zip(starts, [*starts[1:], len(data)], strict=True)):
        try:
            entries += _read_with_feedparser(head + data[start:stop])[0]
        except Exception as exc:
            bad.append((number + 1, data[start:stop], repr(exc)))
    log_malformed(bad)
    return entries, updated, published, len(bad)


def _announce_type_key(namespaces: Mapping[str, str]) -> str:
    """feedparser names unknown namespaced elements by the document's prefix; find arXiv's."""
    for prefix, uri in namespaces.items():
        if uri == ARXIV_NS and prefix:
            return f"{prefix}_announce_type"
    return "arxiv_announce_type"


def _fields_from_entry(entry: Mapping[str, Any], announce_key: str) -> EntryFields:
    """The field values of one feedparser entry."""
    return EntryFields(
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
