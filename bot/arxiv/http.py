"""The HTTP side under the fetcher: the client that identifies the bot to arXiv, `FeedError`
and `FetchError` (what every failed fetch raises), `get`, one GET that is whole within a total
deadline with a body streamed and decoded (gzip, deflate) without ever holding more than a cap
of decoded bytes, `parse_retry_after`, and `check_is_feed`, the fetcher's validator for feed
URLs, so that an HTML error page or an empty body is never read as "no new papers".

Fetching itself is bot.arxiv.fetcher's job (polite, conditional, retried); parsing a feed is
bot.arxiv.feeds'.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

# Prolog (XML declaration, comments, doctype) before the root element of a response body.
_ROOT_RE = re.compile(
    rb"^\s*(?:<\?.*?\?>\s*|<!--.*?-->\s*|<!DOCTYPE[^>]*>\s*)*<([A-Za-z_][\w:.-]*)",
    re.DOTALL | re.IGNORECASE,
)
_FEED_ROOTS = frozenset({"feed", "rss", "rdf"})
# How much of the head of a body is read for its root element (or encoding declaration).
SNIFF_BYTES = 4096

MiB = 1 << 20
# The content codings we ask for: the ones read_body decodes with a bounded output.
ACCEPT_ENCODING = "gzip, deflate"
# Decoded bytes per zlib call: one compressed chunk of a gzip bomb (64 kB can inflate to 64 MB)
# never becomes more than this much memory at once.
_INFLATE_STEP = MiB
_GZIP_WBITS = 16 + zlib.MAX_WBITS
# A request's total time, from sending it to the last byte of its body.
DEFAULT_DEADLINE = 90.0
# A body's decoded size: a 2,000-item feed is about 4 MB.
DEFAULT_MAX_BODY = 50 * MiB
# An error answer's body is kept up to this size (arXiv explains a 400 in a few hundred bytes).
ERROR_BODY_LIMIT = MiB


class FeedError(Exception):
    """A feed could not be fetched, or the server answered with something that is not a feed."""

    def __init__(self, message: str, *, url: str, status_code: int | None = None) -> None:
        super().__init__(f"{message} ({url})")
        self.url = url
        self.status_code = status_code


class FetchError(FeedError):
    """A request failed: transport error, timeout, an error status, or the retries ran out.

    `retry_after` is the server's (or our) advice in seconds, when there is one; `body` is the
    error response's body (the arXiv API explains a 400 in an Atom entry).
    """

    def __init__(
        self,
        message: str,
        *,
        url: str,
        status_code: int | None = None,
        retry_after: float | None = None,
        body: bytes = b"",
        attempts: int = 1,
    ) -> None:
        super().__init__(message, url=url, status_code=status_code)
        self.retry_after = retry_after
        self.body = body
        self.attempts = attempts


class FetchBusy(FetchError):
    """The request did not get its turn within the caller's wait: arXiv's one request slot was
    taken (by a long poll) for longer. Nothing was sent."""


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
        headers={"User-Agent": user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        transport=transport,
    )


@dataclass(frozen=True, slots=True)
class Answer:
    """What one GET brought back: status, headers and the (decoded, capped) body."""

    status_code: int
    reason: str
    headers: httpx.Headers
    body: bytes


async def get(
    client: httpx.AsyncClient,
    url: str,
    headers: Mapping[str, str],
    *,
    deadline: float = DEFAULT_DEADLINE,
    max_body: int = DEFAULT_MAX_BODY,
) -> Answer:
    """One GET, whole (headers and body) within `deadline` seconds however slowly the bytes
    come, its body decoded and at most `max_body` bytes (an error answer's is cut to
    ERROR_BODY_LIMIT instead). Raises TimeoutError at the deadline, httpx's errors for the
    transport (and its per-read timeouts), BodyError for a 200 body over the cap or undecodable.
    The connection is dropped on the way out of a failure.
    """
    async with (
        asyncio.timeout(deadline),
        client.stream("GET", url, headers=dict(headers)) as response,
    ):
        ok = response.status_code == 200
        try:
            body = await read_body(response, max_body if ok else ERROR_BODY_LIMIT, truncate=not ok)
        except BodyError:
            if ok:
                raise
            body = b""  # an error answer's text is a courtesy
        return Answer(response.status_code, response.reason_phrase, response.headers, body)


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # not "²", which isdigit() too
        return float(value)  # a 400-digit number is inf: the caller caps it
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


class BodyError(Exception):
    """A body that cannot be had whole: larger than the cap once decoded, or not decodable."""


def size_text(size: int) -> str:
    """50 MiB, or 1,500 bytes when it is not a whole number of MiB."""
    return f"{size // MiB} MiB" if size >= MiB and size % MiB == 0 else f"{size:,} bytes"


async def read_body(response: httpx.Response, limit: int, *, truncate: bool = False) -> bytes:
    """The body of a streamed response, decoded as its Content-Encoding says, read as it comes.

    At most `limit` decoded bytes are ever held: past them BodyError is raised at once (the
    caller drops the connection), or with `truncate` the first `limit` bytes are returned (an
    error page's text). A declared Content-Length above the limit fails before reading.
    BodyError too for an encoding we did not ask for and for bytes that do not decode.
    """
    if response.is_stream_consumed:  # made in memory (httpx.MockTransport): read and decoded
        if len(response.content) > limit and not truncate:
            raise BodyError(f"the body is larger than {size_text(limit)}")
        return response.content[:limit]
    coding = response.headers.get("content-encoding", "identity").strip().lower() or "identity"
    declared = response.headers.get("content-length", "")
    if coding == "identity" and declared.isdigit() and int(declared) > limit and not truncate:
        raise BodyError(f"the body ({int(declared):,} bytes) is larger than {size_text(limit)}")
    decoder = _Decoder(coding)
    body = bytearray()
    try:
        async for chunk in response.aiter_raw():
            decoder.feed(chunk, body, limit)
        decoder.finish(body, limit)
    except _Overflow:
        if not truncate:
            raise BodyError(f"the body is larger than {size_text(limit)}") from None
        del body[limit:]
    return bytes(body)


class _Overflow(Exception):
    """More than the limit was decoded."""


class _Decoder:
    """Decodes identity, gzip (one member or several) and deflate (zlib-wrapped or raw) bodies,
    appending to a bytearray and never producing more than the limit plus one step."""

    def __init__(self, coding: str) -> None:
        if coding in ("gzip", "x-gzip"):
            self._wbits: int | None = _GZIP_WBITS
        elif coding == "deflate":
            self._wbits = zlib.MAX_WBITS
        elif coding == "identity":
            self._wbits = None
        else:
            raise BodyError(f"the body has a Content-Encoding we did not ask for: {coding!r}")
        self._coding = coding
        self._inflater = zlib.decompressobj(self._wbits) if self._wbits is not None else None
        self._produced = 0
        self._head = bytearray()  # a deflate body's bytes until it decodes: kept for a raw retry

    def feed(self, data: bytes, out: bytearray, limit: int) -> None:
        if self._inflater is None:
            out += data[: limit + 1 - len(out)]
            if len(out) > limit:
                raise _Overflow
            return
        if self._wbits == zlib.MAX_WBITS and not self._produced:
            self._head += data
        while True:
            if self._inflater.eof:
                if self._wbits != _GZIP_WBITS or not data.strip(b"\0"):
                    return  # after the end of the stream (or zero padding): nothing to decode
                self._inflater = zlib.decompressobj(_GZIP_WBITS)  # the next gzip member
            step = min(_INFLATE_STEP, limit + 1 - len(out))
            try:
                piece = self._inflater.decompress(data, step)
            except zlib.error as exc:
                if self._wbits == zlib.MAX_WBITS and not self._produced:
                    self._wbits = -zlib.MAX_WBITS  # raw deflate, as some servers send it
                    self._inflater = zlib.decompressobj(self._wbits)
                    data = bytes(self._head)
                    continue
                raise BodyError(f"cannot decode the {self._coding} body: {exc}") from None
            out += piece
            self._produced += len(piece)
            if len(out) > limit:
                raise _Overflow
            inflater = self._inflater
            data = inflater.unused_data if inflater.eof else inflater.unconsumed_tail
            if not data and len(piece) < step:
                return  # all input used and no output held back

    def finish(self, out: bytearray, limit: int) -> None:
        if self._inflater is None:
            return
        if not self._inflater.eof:
            self.feed(b"", out, limit)
        if not self._inflater.eof:
            raise BodyError(f"the {self._coding} body ends before its end")


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
