"""The optional HTTP endpoint: /healthz for a supervisor, /metrics for Prometheus.

Off unless `health_port` is set; it listens on loopback unless `health_host` says otherwise.
It runs in the bot's own event loop (aiohttp), started and stopped with the application.

/healthz is 503 when a poll is overdue, the database does not answer, or the outbox has paused
sending because it cannot write its ledger (a full disk). A poll is overdue
when the regular poll due after the last successful one (shortly after arXiv's next rebuild of
a feed with papers; weekends and arXiv holidays have none) is more than the grace late. Before
the first successful poll, the start counts as the due time: a poll runs at start.
`calendar_out_of_date` is true in a year arXiv's holiday table has no entries for: a
warning to update it, never a 503 (the bot polls every day whatever the table says).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.arxiv.calendar import calendar_out_of_date, eastern_date, next_poll_time
from bot.ops.metrics import CONTENT_TYPE, Metrics

log = logging.getLogger(__name__)

DB_TIMEOUT = 5.0

Probe = Callable[[], Awaitable[int | None]]  # the outbox's pending parts; None: no database


def poll_deadline(
    last_ok: dt.datetime | None,
    started: dt.datetime,
    *,
    poll_delay: dt.timedelta,
    grace: dt.timedelta,
) -> dt.datetime:
    """When /healthz turns unhealthy if no poll succeeds before (pure)."""
    if last_ok is None:
        return started + grace
    return next_poll_time(last_ok, poll_delay).astimezone(dt.UTC) + grace


class HealthServer:
    """Serves /healthz and /metrics; `clock` can be replaced (tests step it forward)."""

    def __init__(
        self,
        metrics: Metrics,
        probe: Probe,
        *,
        host: str,
        port: int,
        poll_delay: dt.timedelta,
        grace: dt.timedelta,
    ) -> None:
        self.metrics = metrics
        self.clock: Callable[[], dt.datetime] = metrics.now
        self._probe = probe
        self.host = host
        self.port = port
        self._poll_delay = poll_delay
        self._grace = grace
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics_page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        log.info("Health endpoint on http://%s:%d/healthz and /metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def _pending(self) -> int | None:
        try:
            async with asyncio.timeout(DB_TIMEOUT):
                return await self._probe()
        except Exception as exc:  # any failure means: the database does not answer
            log.warning("Health check: the database did not answer: %s", exc)
            return None

    async def healthz(self, request: web.Request) -> web.Response:
        """JSON: alive, last successful poll, database reachable; 503 when unhealthy."""
        now = self.clock()
        last = self.metrics.last_successful_poll
        deadline = poll_deadline(
            last, self.metrics.started_at, poll_delay=self._poll_delay, grace=self._grace
        )
        database = await self._pending() is not None
        poll_ok = now <= deadline
        paused = self.metrics.sending_paused()
        body = {
            "alive": True,
            "healthy": database and poll_ok and paused is None,
            "database_reachable": database,
            "sending_paused": paused,
            "last_successful_poll": last.isoformat() if last is not None else None,
            "poll_overdue": not poll_ok,
            "unhealthy_after": deadline.isoformat(),
            # arXiv's holiday table has no entries for this year: a warning, never a 503
            # (polls do not depend on it).
            "calendar_out_of_date": calendar_out_of_date(eastern_date(now)),
        }
        return web.Response(
            text=json.dumps(body),
            status=200 if body["healthy"] else 503,
            content_type="application/json",
        )

    async def metrics_page(self, request: web.Request) -> web.Response:
        """Prometheus's text format; the outbox gauge is read now."""
        pending = await self._pending()
        if pending is not None:
            self.metrics.outbox_pending.set(pending)
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})
