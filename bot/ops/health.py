"""The optional HTTP endpoint: /healthz for a supervisor, /metrics for Prometheus.

Off unless `health_port` is set; it listens on loopback unless `health_host` says otherwise.
It runs in the bot's own event loop (aiohttp), started and stopped with the application.

/healthz runs named checks, each of which gives a `Verdict`: "healthy", "starting" or
"unhealthy", why (its reasons), and the facts it adds to the JSON body. The answer is the worst
of them: "unhealthy" is a 503; "starting" and "healthy" are a 200. The checks the application
runs (`bot.app` wires them):

- poll (`judge_poll`): "starting" until a poll has reached arXiv since the start, "unhealthy"
  if none did within the start grace; after one did, "unhealthy" once the regular poll due
  after the last successful one (shortly after arXiv's next rebuild of a feed with papers;
  weekends and arXiv holidays have none) is more than the grace late. "unhealthy" too while
  a running poll has finished no feed for longer than one feed URL can take (`feed_bound`).
  `calendar_out_of_date` says that arXiv's holiday table has no entries for this year: a
  warning, never a 503 (the bot polls every day whatever the table says).
- database (`database_check`): it answers a read, takes a write (`Store.write_probe`), and
  its disk has room.
- outbox (`outbox_check`): no digest part has waited longer than the outbox grace.
- sending (`sending_check`): the outbox has not paused sending for want of a writable ledger.

Another check is a name and an async callable `(now) -> Verdict` given to `HealthServer`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aiohttp import web

from bot.arxiv.calendar import calendar_out_of_date, eastern_date, next_poll_time
from bot.ops.metrics import CONTENT_TYPE, Metrics
from bot.storage.store import Store

log = logging.getLogger(__name__)

DB_TIMEOUT = 5.0  # seconds for each question to the database
CHECK_TIMEOUT = 15.0  # seconds for a whole check; past it, the check counts as failed


class Status(StrEnum):
    HEALTHY = "healthy"
    STARTING = "starting"  # not judged yet: the start grace is running
    UNHEALTHY = "unhealthy"


_SEVERITY = {Status.HEALTHY: 0, Status.STARTING: 1, Status.UNHEALTHY: 2}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one check found: its status, why (empty when healthy), the facts it shows."""

    status: Status
    reasons: tuple[str, ...] = ()
    facts: Mapping[str, Any] = field(default_factory=dict)


Check = Callable[[dt.datetime], Awaitable[Verdict]]


# --- poll -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollLimits:
    """How late the poll check lets polls be."""

    poll_delay: dt.timedelta  # a regular poll runs this long after arXiv's rebuild
    grace: dt.timedelta  # how late the poll due after the last successful one may be
    start_grace: dt.timedelta  # how long after the start a first successful poll may take
    feed_bound: dt.timedelta  # the longest a running poll may go without finishing a feed


def feed_bound(http_deadline: float) -> dt.timedelta:
    """Longer than one feed URL of a poll can take, `http_deadline` being the deadline of one
    request: the fetcher's 4 attempts, each behind at most one other request to arXiv (a
    /search, within the same deadline) and 3 s of spacing, each whole within the deadline, and
    at most 5 minutes of back-off or Retry-After slept between two (a longer wait fails the
    fetch at once): 4 * (2 * deadline + 303 s). 8 * deadline + 30 min leaves room for
    parsing and storing the feed."""
    return dt.timedelta(seconds=8 * http_deadline + 30 * 60)


def poll_deadline(
    last_ok: dt.datetime | None,
    started: dt.datetime,
    *,
    poll_delay: dt.timedelta,
    grace: dt.timedelta,
    start_grace: dt.timedelta,
) -> dt.datetime:
    """When the poll check turns unhealthy if no poll succeeds before (pure)."""
    if last_ok is None:
        return started + start_grace
    return next_poll_time(last_ok, poll_delay).astimezone(dt.UTC) + grace


def judge_poll(metrics: Metrics, now: dt.datetime, limits: PollLimits) -> Verdict:
    """The poll check, from what the metrics noted of the polls (pure)."""
    last = metrics.last_successful_poll
    started = metrics.started_at
    deadline = poll_deadline(
        last,
        started,
        poll_delay=limits.poll_delay,
        grace=limits.grace,
        start_grace=limits.start_grace,
    )
    overdue = now > deadline
    reasons = []
    status = Status.UNHEALTHY if overdue else Status.HEALTHY
    if last is None and overdue:
        reasons.append(
            f"no successful poll since the start at {_at(started)}, and the start grace of"
            f" {_span(limits.start_grace)} is over"
        )
    elif last is None:
        status = Status.STARTING
        reasons.append(
            f"no successful poll yet since the start at {_at(started)} (unhealthy from"
            f" {_at(deadline)} without one)"
        )
    elif overdue:
        reasons.append(
            f"the poll due after the last successful one ({_at(last)}) is more than"
            f" {_span(limits.grace)} late"
        )
    running = metrics.poll_running_since
    if running is not None:
        quiet_since = metrics.last_feed_polled or running
        if now - quiet_since > limits.feed_bound:
            status = Status.UNHEALTHY
            reasons.append(
                f"the poll running since {_at(running)} has finished no feed for more than"
                f" {_span(limits.feed_bound)} (since {_at(quiet_since)})"
            )
    facts = {
        "last_successful_poll": _iso(last),
        "poll_overdue": overdue,
        "unhealthy_after": _iso(deadline),
        "poll_running_since": _iso(running),
        # arXiv's holiday table has no entries for this year: a warning, never a 503 (polls
        # do not depend on it).
        "calendar_out_of_date": calendar_out_of_date(eastern_date(now)),
    }
    return Verdict(status, tuple(reasons), facts)


def poll_check(metrics: Metrics, limits: PollLimits) -> Check:
    async def check(now: dt.datetime) -> Verdict:
        return judge_poll(metrics, now, limits)

    return check


# --- database and outbox ----------------------------------------------------------------------


def database_check(store: Store) -> Check:
    """Healthy when the database answers a read and takes a write (`Store.write_probe`: a
    write rolled back, and room on its disk)."""

    async def check(now: dt.datetime) -> Verdict:
        reachable = writable = False
        reasons: tuple[str, ...] = ()
        try:
            async with asyncio.timeout(DB_TIMEOUT):
                await store.schema_version()
            reachable = True
            async with asyncio.timeout(DB_TIMEOUT):
                await store.write_probe()
            writable = True
        except Exception as exc:  # any failure means: not reachable, or not writable
            problem = "cannot be written" if reachable else "does not answer"
            reasons = (f"the database {problem}: {_describe(exc)}",)
        facts = {"database_reachable": reachable, "database_writable": writable}
        return Verdict(Status.HEALTHY if writable else Status.UNHEALTHY, reasons, facts)

    return check


def outbox_check(store: Store, *, grace: dt.timedelta, visible: int) -> Check:
    """Healthy unless a digest part has waited in the outbox for more than `grace` since its
    digest was composed (the first `visible` parts of each; see `Store.oldest_waiting_part`)."""

    async def check(now: dt.datetime) -> Verdict:
        try:
            async with asyncio.timeout(DB_TIMEOUT):
                pending = await store.count_pending_parts()
                oldest = await store.oldest_waiting_part(visible)
        except Exception as exc:
            facts: dict[str, Any] = {"outbox_pending": None, "outbox_oldest_waiting": None}
            reason = f"the outbox cannot be read: {_describe(exc)}"
            return Verdict(Status.UNHEALTHY, (reason,), facts)
        facts = {"outbox_pending": pending, "outbox_oldest_waiting": _iso(oldest)}
        if oldest is not None and now - oldest > grace:
            reason = (
                f"the outbox does not drain: a part of a digest composed at {_at(oldest)} still"
                f" waits, more than {_span(grace)} later"
            )
            return Verdict(Status.UNHEALTHY, (reason,), facts)
        return Verdict(Status.HEALTHY, (), facts)

    return check


def sending_check(metrics: Metrics) -> Check:
    """Unhealthy while the outbox has paused sending because it cannot write its ledger (a
    full disk): it sends again, each message once, as soon as it can."""

    async def check(now: dt.datetime) -> Verdict:
        paused = metrics.sending_paused()
        facts: dict[str, Any] = {"sending_paused": paused}
        if paused is None:
            return Verdict(Status.HEALTHY, (), facts)
        reason = f"sending is paused: the outbox's ledger cannot be written ({paused})"
        return Verdict(Status.UNHEALTHY, (reason,), facts)

    return check


# --- the server -------------------------------------------------------------------------------


class HealthServer:
    """Serves /healthz and /metrics; `clock` can be replaced (tests step it forward)."""

    def __init__(
        self,
        metrics: Metrics,
        checks: Mapping[str, Check],
        *,
        pending: Callable[[], Awaitable[int]],
        host: str,
        port: int,
    ) -> None:
        self.metrics = metrics
        self.clock: Callable[[], dt.datetime] = metrics.now
        self.checks = dict(checks)
        self._pending = pending  # the outbox's pending parts, for /metrics
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._last_status = Status.HEALTHY

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

    async def judge(self, now: dt.datetime) -> dict[str, Verdict]:
        """Every check's verdict; a check that raises or overruns CHECK_TIMEOUT is unhealthy."""
        verdicts = {}
        for name, check in self.checks.items():
            try:
                async with asyncio.timeout(CHECK_TIMEOUT):
                    verdicts[name] = await check(now)
            except Exception as exc:
                reason = f"the {name} check failed: {_describe(exc)}"
                verdicts[name] = Verdict(Status.UNHEALTHY, (reason,))
        return verdicts

    async def healthz(self, request: web.Request) -> web.Response:
        """JSON: the status and its reasons, each check's status and facts; 503 when
        unhealthy, 200 when starting or healthy."""
        verdicts = await self.judge(self.clock())
        status = max((v.status for v in verdicts.values()), key=_SEVERITY.__getitem__)
        reasons = [reason for verdict in verdicts.values() for reason in verdict.reasons]
        body: dict[str, Any] = {
            "status": status.value,
            "healthy": status is not Status.UNHEALTHY,  # the answer is a 200
            "alive": True,
            "reasons": reasons,
            "checks": {name: verdict.status.value for name, verdict in verdicts.items()},
        }
        for verdict in verdicts.values():
            body.update(verdict.facts)
        self._note(status, reasons)
        return web.Response(
            text=json.dumps(body),
            status=503 if status is Status.UNHEALTHY else 200,
            content_type="application/json",
        )

    def _note(self, status: Status, reasons: list[str]) -> None:
        """Log when /healthz turns unhealthy (with why) and when it recovers."""
        if status is Status.UNHEALTHY and self._last_status is not Status.UNHEALTHY:
            log.warning("Health check: unhealthy: %s", "; ".join(reasons))
        elif status is not Status.UNHEALTHY and self._last_status is Status.UNHEALTHY:
            log.info("Health check: %s again", status.value)
        self._last_status = status

    async def metrics_page(self, request: web.Request) -> web.Response:
        """Prometheus's text format; the outbox gauge is read now."""
        try:
            async with asyncio.timeout(DB_TIMEOUT):
                self.metrics.outbox_pending.set(await self._pending())
        except Exception as exc:  # the database does not answer: the gauge keeps its value
            log.warning("Metrics: the outbox could not be counted: %s", _describe(exc))
        return web.Response(body=self.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return str(exc) or type(exc).__name__


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _at(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def _span(span: dt.timedelta) -> str:
    """ "38 min", "8 h", "2.5 h"."""
    minutes = span.total_seconds() / 60
    if minutes < 120:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:g} h"
