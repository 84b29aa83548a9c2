"""Parse arXiv's RSS/Atom announcement feeds into `Paper`s (pure).

`parse_feed` first decodes the bytes as declared (bot.arxiv.feed_document), then takes the
ElementTree fast path (bot.arxiv.feed_fast_path) where it can and feedparser (here) everywhere
else; both read entries into `EntryFields`, which bot.arxiv.feed_entries turns into Papers.
Fetching is bot.arxiv.fetcher's job (polite, conditional, retried), with bot.arxiv.http's
client and feed check.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import feedparser

from bot.arxiv.feed_document import prepare_document
from bot.arxiv.feed_entries import ARXIV_NS, EntryFields, feed_date, paper_from_fields
from bot.arxiv.feed_fast_path import Declined, read_document
from bot.models import Paper

logger = logging.getLogger(__name__)

_ENTRY_END_RE = re.compile(rb"</(?:[\w.-]+:)?(?:entry|item)\s*>")


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What one feed document yielded, with enough diagnostics to tell "empty" from "broken"."""

    papers: tuple[Paper, ...]
    updated: dt.datetime | None  # the feed's own build date (Atom updated / RSS lastBuildDate)
    bozo: bool  # feedparser found the document malformed
    problem: str | None  # feedparser's bozo exception text
    skipped: int  # entries too incomplete to use (no id or no abstract)
    repairs: tuple[str, ...] = ()  # what was repaired in the document (bad bytes)


# ---------------------------------------------------------------------------------------------
# Pure stage: bytes -> ParsedFeed


def parse_feed(data: bytes) -> ParsedFeed:
    """Parse an arXiv Atom or RSS 2.0 feed document; never touches the network.

    The document is decoded as declared first, only its bad bytes replaced
    (bot.arxiv.feed_document). A plain, well-formed arXiv-shaped document then takes the
    ElementTree fast path; anything else (malformed or truncated XML, a DTD, constructs the
    fast path does not read exactly as feedparser does) goes to feedparser, which also keeps
    what parsed of a broken document and reports it as bozo. Both paths give the same result
    for a document the fast path accepts.
    """
    document = prepare_document(data)
    fast = _parse_fast(document.data)
    parsed = fast if fast is not None else _parse_with_feedparser(document.data)
    return replace(parsed, repairs=document.repairs)


def _parse_fast(data: bytes) -> ParsedFeed | None:
    """Parse a plain, well-formed RSS 2.0 or Atom feed with ElementTree; None to decline."""
    try:
        entries, updated, published = read_document(data)
    except Declined as exc:
        logger.debug("feed left to feedparser: %s", exc)
        return None
    return _parsed_feed(entries, feed_date(updated, published), problem=None)


def _parsed_feed(
    entries: Iterable[EntryFields], updated: dt.datetime | None, problem: str | None
) -> ParsedFeed:
    """Turn entries into Papers (first occurrence of an id wins), counting unusable ones."""
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
        skipped=skipped,
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
    entries += [EntryFields() for _ in unclosed]  # counted as skipped
    feed = result.get("feed", {})
    # `"updated" in feed` first: feedparser's feed.get("updated") falls back to "published"
    # with a DeprecationWarning; feed_date tries "published" next anyway.
    updated = _text(feed, "updated") if "updated" in feed else ""
    problem = str(result.get("bozo_exception")) if bozo else None
    return _parsed_feed(entries, feed_date(updated, _text(feed, "published")), problem)


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
