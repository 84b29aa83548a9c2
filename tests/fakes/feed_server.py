"""A small HTTP server standing in for arXiv's RSS endpoints, served by aiohttp on 127.0.0.1.

Tests decide what each path answers (body, status, headers, delay) and read back every request
that arrived, with its headers and arrival time, to check the User-Agent and request spacing.
It honours conditional requests: a matching If-None-Match / If-Modified-Since gets a 304.
A path can also be given a script: a sequence of answers, one per request (a 429 with
Retry-After, then a 503, then the feed...), after which it answers as set_response said.
An answer with a delay longer than the client's timeout is a server that hangs.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from tests.fakes.loopback import LoopbackServer

__all__ = ["Answer", "FeedServer", "RecordedRequest"]

_NOT_FOUND_HTML = (
    "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
    "<body><h1>Not Found</h1><p>The requested URL was not found on this server.</p></body></html>"
)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    query_string: str
    headers: CIMultiDictProxy[str]  # case-insensitive: headers["user-agent"] works
    time: float  # the server's clock (time.monotonic() unless given another) on arrival


@dataclass(frozen=True)
class Answer:
    """One scripted answer: what the server sends back to one request."""

    body: bytes | str = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering; longer than the client's timeout = a hang


@dataclass(frozen=True)
class _Response:
    body: bytes
    status: int
    content_type: str
    headers: dict[str, str]
    delay: float

    @classmethod
    def of(cls, answer: Answer) -> _Response:
        body = answer.body.encode("utf-8") if isinstance(answer.body, str) else answer.body
        return cls(body, answer.status, answer.content_type, dict(answer.headers), answer.delay)


class FeedServer(LoopbackServer):
    """An HTTP server whose answers are set per path by the test."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock  # what a request's arrival time is read from (a fake clock too)
        self.requests: list[RecordedRequest] = []
        self._responses: dict[str, _Response] = {}
        self._scripts: dict[str, deque[_Response]] = {}
        self._signal = asyncio.Event()

    def set_response(
        self,
        path: str,
        body: bytes | str,
        *,
        status: int = 200,
        content_type: str = "application/rss+xml; charset=utf-8",
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Make ``path`` (with leading slash, without query) answer like this from now on."""
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        data = body.encode("utf-8") if isinstance(body, str) else body
        self._responses[path] = _Response(data, status, content_type, dict(headers or {}), delay)

    def clear_response(self, path: str) -> None:
        """Make ``path`` answer 404 again (a script still pending is dropped too)."""
        self._responses.pop(path, None)
        self._scripts.pop(path, None)

    def script(self, path: str, *answers: Answer) -> None:
        """Answer the next requests to ``path`` with these, one each, in order (appended to
        any script still pending); after them, ``path`` answers as set_response said."""
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/': {path!r}")
        self._scripts.setdefault(path, deque()).extend(_Response.of(a) for a in answers)

    def pending_answers(self, path: str) -> int:
        """How many scripted answers ``path`` has not given yet."""
        return len(self._scripts.get(path, ()))

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == path]

    async def wait_for_requests(
        self,
        n: int,
        timeout: float = 5.0,
        *,
        path: str | None = None,
    ) -> list[RecordedRequest]:
        """Wait until at least ``n`` requests (to ``path``, if given) arrived; return them."""

        def matching() -> list[RecordedRequest]:
            return self.requests if path is None else self.requests_to(path)

        try:
            async with asyncio.timeout(timeout):
                while len(matching()) < n:
                    await self._signal.wait()
        except TimeoutError:
            seen = [f"{r.method} {r.path}" for r in self.requests]
            raise AssertionError(
                f"expected {n} request(s){f' to {path}' if path else ''} within {timeout}s, "
                f"got: {seen!r}"
            ) from None
        return list(matching())

    async def _handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query_string=request.query_string,
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                time=self._clock(),
            )
        )
        self._notify()
        script = self._scripts.get(request.path)
        response = script.popleft() if script else self._responses.get(request.path)
        if response is None:
            return web.Response(status=404, text=_NOT_FOUND_HTML, content_type="text/html")
        if response.delay > 0:
            await asyncio.sleep(response.delay)
        if _not_modified(request, response):
            return web.Response(status=304, headers=response.headers)
        headers = {"Content-Type": response.content_type, **response.headers}
        return web.Response(status=response.status, body=response.body, headers=headers)

    def _notify(self) -> None:
        self._signal.set()
        self._signal = asyncio.Event()


def _not_modified(request: web.Request, response: _Response) -> bool:
    """Whether a conditional GET matches the ETag / Last-Modified the test configured."""
    if response.status != 200:
        return False
    headers = CIMultiDict(response.headers)
    etag = headers.get("ETag")
    if etag is not None and "If-None-Match" in request.headers:
        candidates = [tag.strip() for tag in request.headers["If-None-Match"].split(",")]
        return etag in candidates or "*" in candidates
    last_modified = headers.get("Last-Modified")
    return last_modified is not None and request.headers.get("If-Modified-Since") == last_modified
