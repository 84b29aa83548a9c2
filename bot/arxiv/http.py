"""The HTTP side under the fetcher: the client that identifies the bot to arXiv, `FeedError`
(what every failed fetch raises), and `check_is_feed`, the fetcher's validator for feed URLs,
so that an HTML error page or an empty body is never read as "no new papers".

Fetching itself is bot.arxiv.fetcher's job (polite, conditional, retried); parsing a feed is
bot.arxiv.feeds'.
"""

from __future__ import annotations

import re

import httpx

# Prolog (XML declaration, comments, doctype) before the root element of a response body.
_ROOT_RE = re.compile(
    rb"^\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<([A-Za-z_][\w:.-]*)",
    re.DOTALL | re.IGNORECASE,
)
_FEED_ROOTS = frozenset({"feed", "rss", "rdf"})
# How much of the head of a body is read for its root element (or encoding declaration).
SNIFF_BYTES = 4096


class FeedError(Exception):
    """A feed could not be fetched, or the server answered with something that is not a feed."""

    def __init__(self, message: str, *, url: str, status_code: int | None = None) -> None:
        super().__init__(f"{message} ({url})")
        self.url = url
        self.status_code = status_code


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


def check_is_feed(data: bytes, content_type: str, url: str) -> None:
    """Reject empty bodies and HTML/other pages so they are never read as "no new papers"."""
    if not data.strip():
        raise FeedError("feed response has an empty body", url=url, status_code=200)
    head = data[:SNIFF_BYTES].removeprefix(b"\xef\xbb\xbf")
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
