"""Fetch arXiv's RSS/Atom announcement feeds (I/O) and parse them into `Paper`s (pure)."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import io
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import feedparser
import httpx

from bot.models import Paper

logger = logging.getLogger(__name__)

RSS_BASE = "https://rss.arxiv.org/rss/"
ATOM_BASE = "https://rss.arxiv.org/atom/"

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
# Prolog (XML declaration, comments, doctype) before the root element of a response body.
_ROOT_RE = re.compile(
    rb"^\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<([A-Za-z_][\w:.-]*)",
    re.DOTALL | re.IGNORECASE,
)
_FEED_ROOTS = frozenset({"feed", "rss", "rdf"})
_SNIFF_BYTES = 4096


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What one feed document yielded, with enough diagnostics to tell "empty" from "broken"."""

    papers: tuple[Paper, ...]
    updated: dt.datetime | None  # the feed's own build date (Atom updated / RSS lastBuildDate)
    bozo: bool  # feedparser found the document malformed
    problem: str | None  # feedparser's bozo exception text
    skipped: int  # entries too incomplete to use (no id or no abstract)


class FeedError(Exception):
    """A feed could not be fetched, or the server answered with something that is not a feed."""

    def __init__(self, message: str, *, url: str, status_code: int | None = None) -> None:
        super().__init__(f"{message} ({url})")
        self.url = url
        self.status_code = status_code


# ---------------------------------------------------------------------------------------------
# Pure stage: bytes -> ParsedFeed


def parse_feed(data: bytes) -> ParsedFeed:
    """Parse an arXiv Atom or RSS 2.0 feed document; never touches the network."""
    # A stream, not bytes: feedparser.parse() tries to open() a bytes/str argument as a path.
    # arXiv's text is plain text, not HTML: sanitizing would drop "<think>"-like words from
    # abstracts (and only in RSS, where description is assumed to be HTML). Escaping for
    # display is the renderer's job.
    result = feedparser.parse(io.BytesIO(data), sanitize_html=False, resolve_relative_uris=False)
    announce_key = _announce_type_key(result.get("namespaces", {}))
    papers: dict[str, Paper] = {}
    skipped = 0
    for entry in result.get("entries", []):
        paper = _paper_from_entry(entry, announce_key)
        if paper is None:
            skipped += 1
        else:
            papers.setdefault(paper.arxiv_id, paper)  # first occurrence wins
    bozo = bool(result.get("bozo", False))
    problem = str(result.get("bozo_exception")) if bozo else None
    if bozo:
        logger.warning("malformed feed (%s); kept %d entries", problem, len(papers))
    if skipped:
        logger.warning("skipped %d incomplete feed entries (no id or no abstract)", skipped)
    return ParsedFeed(
        papers=tuple(papers.values()),
        updated=_feed_date(result.get("feed", {})),
        bozo=bozo,
        problem=problem,
        skipped=skipped,
    )


def _announce_type_key(namespaces: Mapping[str, str]) -> str:
    """feedparser names unknown namespaced elements by the document's prefix; find arXiv's."""
    for prefix, uri in namespaces.items():
        if uri == ARXIV_NS and prefix:
            return f"{prefix}_announce_type"
    return "arxiv_announce_type"


def _paper_from_entry(entry: Mapping[str, Any], announce_key: str) -> Paper | None:
    """Build a Paper from one feedparser entry, or None when the entry is unusable."""
    summary = _text(entry, "summary")
    prefix = _PREFIX_RE.match(summary)
    ident = _identity(_text(entry, "id"), _text(entry, "link"))
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
        title=collapse_ws(_text(entry, "title")),
        authors=split_authors(_text(entry, "author")),
        abstract=abstract,
        categories=_categories(entry.get("tags")),
        announce_type=(_text(entry, announce_key).strip() or fallback_type).lower(),
        version=int(version) if version else 1,
        announced=_announced(_text(entry, "published")),
    )


def _identity(guid: str, link: str) -> tuple[str, str | None] | None:
    """(id without version, version digits or None) from the OAI guid, else the abs link."""
    for candidate, pattern in ((guid, _OAI_ID_RE), (guid, _ABS_URL_RE), (link, _ABS_URL_RE)):
        match = pattern.match(candidate)
        if match:
            return match["id"], match["version"]
    return None


def _text(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    return value if isinstance(value, str) else ""


def collapse_ws(text: str) -> str:
    """Collapse every run of whitespace (newlines included) to one space and trim the ends."""
    return " ".join(text.split())


def split_authors(creators: str) -> tuple[str, ...]:
    """Split arXiv's `dc:creator` ("A, B, C" or "A, B and C") into trimmed names."""
    pieces = _split_outside_parens(creators)
    # Only the last separator can be " and " ("A, B and C", also "A, B, and C"); the earlier
    # pieces are left whole so that a name containing the word "and" survives there.
    last = _LEADING_AND_RE.sub("", pieces.pop().strip())
    pieces.extend(_AND_RE.split(last))
    names = (collapse_ws(piece) for piece in pieces)
    return tuple(name for name in names if name)


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


def _categories(tags: Any) -> tuple[str, ...]:
    """Category terms in feed order (arXiv lists the primary first), without repeats."""
    if not isinstance(tags, Iterable):
        return ()
    terms = (tag.get("term") for tag in tags if isinstance(tag, Mapping))
    return tuple(dict.fromkeys(term.strip() for term in terms if isinstance(term, str) and term))


def _announced(published: str) -> dt.date | None:
    """The announcement day as written, in the timestamp's own (US/Eastern) offset."""
    stamp = _parse_timestamp(published)
    return stamp.date() if stamp else None


def _feed_date(feed: Mapping[str, Any]) -> dt.datetime | None:
    """The feed's build time in UTC: Atom `updated`, RSS `lastBuildDate`, else `pubDate`."""
    for key in ("updated", "published"):
        stamp = _parse_timestamp(_text(feed, key))
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


# ---------------------------------------------------------------------------------------------
# I/O stage: URL -> bytes


def feed_url(base: str = RSS_BASE, categories: tuple[str, ...] | list[str] = ()) -> str:
    """The feed address for one or more categories, e.g. .../rss/cs.AI+cs.LG."""
    if not categories:
        raise ValueError("feed_url needs at least one category")
    return base + "+".join(categories)


def make_http_client(
    user_agent: str,
    timeout: float = 30.0,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An HTTP client that identifies the bot to arXiv and gives up after `timeout` seconds.

    `transport` exists for tests (httpx.MockTransport); production code leaves it unset.
    """
    if not user_agent.strip():
        raise ValueError("a descriptive User-Agent is required by arXiv's usage policy")
    return httpx.AsyncClient(
        headers={"User-Agent": user_agent},
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        transport=transport,
    )


async def fetch_feed(client: httpx.AsyncClient, url: str) -> bytes:
    """GET a feed and return its body; anything that is not a feed document is a FeedError."""
    try:
        response = await client.get(url)
    except httpx.TimeoutException as exc:
        raise FeedError(f"timed out fetching feed: {exc!r}", url=url) from exc
    except httpx.RequestError as exc:
        raise FeedError(f"could not fetch feed: {exc!r}", url=url) from exc
    if response.status_code != 200:
        raise FeedError(
            f"feed request failed with HTTP {response.status_code} {response.reason_phrase}",
            url=url,
            status_code=response.status_code,
        )
    data = response.content
    _check_is_feed(data, response.headers.get("content-type", ""), url)
    return data


def _check_is_feed(data: bytes, content_type: str, url: str) -> None:
    """Reject empty bodies and HTML/other pages so they are never read as "no new papers"."""
    if not data.strip():
        raise FeedError("feed response has an empty body", url=url, status_code=200)
    head = data[:_SNIFF_BYTES].removeprefix(b"\xef\xbb\xbf")
    match = _ROOT_RE.match(head)
    root = match[1].decode("ascii").rpartition(":")[2].lower() if match else None
    if root in _FEED_ROOTS:
        return
    if root == "html" or "html" in content_type.lower():
        raise FeedError(
            f"got an HTML page instead of a feed (content-type {content_type!r})",
            url=url,
            status_code=200,
        )
    what = f"root element <{root}>" if root else "no XML root element"
    raise FeedError(f"response is not an RSS/Atom feed ({what})", url=url, status_code=200)


async def fetch_and_parse(client: httpx.AsyncClient, url: str) -> ParsedFeed:
    """Fetch a feed, then parse it in a worker thread (feedparser is CPU-bound)."""
    data = await fetch_feed(client, url)
    parsed = await asyncio.to_thread(parse_feed, data)
    logger.debug("fetched %s: %d papers, %d bytes", url, len(parsed.papers), len(data))
    return parsed
