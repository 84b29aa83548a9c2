"""The part every fake server shares: an aiohttp app on 127.0.0.1, on a free port."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from aiohttp import web


class LoopbackServer:
    """Start/stop and `async with` for a server that routes every request to `_handle`."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._in_hand = 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def _counted(self, request: web.Request) -> web.StreamResponse:
        self._in_hand += 1
        try:
            return await self._handle(request)
        finally:
            self._in_hand -= 1

    @property
    def requests_in_hand(self) -> int:
        """Requests being handled now (read, and not yet answered or given up)."""
        return self._in_hand

    @property
    def open_connections(self) -> int:
        """Client connections accepted and not yet closed."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    async def start(self) -> None:
        """Start serving on 127.0.0.1 on a free port."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._counted)
        # handler_cancellation: a client that gives up (a timeout, a long poll) ends our wait.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """The server root, http://127.0.0.1:<port> (no trailing slash)."""
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return f"http://127.0.0.1:{self._port}"
