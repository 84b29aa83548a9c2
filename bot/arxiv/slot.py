"""arXiv's one request slot: one request at a time, at least `min_interval` seconds apart, for
every request the bot makes, whatever it is for.

Back-off (a Retry-After, or our own after a failure) is kept per lane: the feeds' and the
search API's apart, so that a user's /search that draws a long Retry-After never holds back a
feed poll. A lane's back-off is waited out without holding the slot, so the other lane's
requests go meanwhile. A caller that cannot wait long (a user at /search) gives a moment to
stop waiting at: past it, FetchBusy, and nothing is sent. When the bot stops, `close` ends
at once everything that runs through the slot.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from bot.arxiv.http import FetchBusy, FetchError

T = TypeVar("T")

# Back-off is kept per lane; the spacing between requests is shared by all.
FEED_LANE = "feeds"
SEARCH_LANE = "search"


class RequestSlot:
    """`take` the slot for one request (waiting out the lane's back-off and the spacing),
    `release` it after; `back_off` a lane for some seconds; `run` a fetch (its waits and its
    requests) so that `close` can end it.

    A wait longer than `max_wait` is not waited for: `take` fails at once (with the wait as
    `retry_after`), so a poll job never blocks for an hour. `clock`/`sleep` are monotonic
    seconds, for tests.
    """

    def __init__(
        self,
        *,
        min_interval: float,
        max_wait: float,
        clock: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        self._min_interval = min_interval
        self._max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._last_start: float | None = None
        self._not_before: dict[str, float] = {}
        self._closed = False
        self._running: set[asyncio.Task[Any]] = set()

    async def run(self, url: str, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` (one fetch: its waits, requests and back-offs) as its own task, so that
        `close` can end it: it then raises FetchError. A cancelled caller cancels it too."""
        if self._closed:
            work.close()
            raise _stopping(url)
        task = asyncio.ensure_future(work)
        self._running.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            caller = asyncio.current_task()
            if task.cancelled() and self._closed and not (caller and caller.cancelling()):
                raise _stopping(url) from None
            raise
        finally:
            self._running.discard(task)

    def close(self) -> None:
        """The bot is stopping: everything in `run` ends now with FetchError, and so does
        every later `run`."""
        self._closed = True
        for task in self._running:
            task.cancel()

    def back_off(self, lane: str, seconds: float) -> None:
        """No request of `lane` starts in the next `seconds` (a later limit stays)."""
        until = self._clock() + seconds
        self._not_before[lane] = max(self._not_before.get(lane, -math.inf), until)

    async def take(self, url: str, lane: str, give_up_at: float | None = None) -> None:
        """Wait out the lane's back-off (not holding the slot), take the slot, then wait out
        the spacing after the last request's start. Returns holding the slot.

        `give_up_at` (event-loop time) bounds the wait: FetchBusy once the slot or the spacing
        would take longer, FetchError (with `retry_after`) when the lane's back-off would.
        """
        while True:
            await self._wait_lane(url, lane, give_up_at)
            try:
                async with asyncio.timeout_at(give_up_at):
                    await self._lock.acquire()
            except TimeoutError:
                raise _busy(url) from None
            if self._not_before.get(lane, -math.inf) <= self._clock():
                break
            self._lock.release()  # the lane drew a back-off meanwhile: wait without the slot
        try:
            if self._last_start is not None:
                wait = self._last_start + self._min_interval - self._clock()
                if wait > 0:
                    if wait > _budget(give_up_at):
                        raise _busy(url)
                    await self._sleep(wait)
            self._last_start = self._clock()
        except BaseException:
            self._lock.release()
            raise

    def release(self) -> None:
        self._lock.release()

    async def _wait_lane(self, url: str, lane: str, give_up_at: float | None) -> None:
        wait = self._not_before.get(lane, -math.inf) - self._clock()
        if wait <= 0:
            return
        if wait > self._max_wait or wait > _budget(give_up_at):
            raise FetchError(
                f"arXiv asked us to wait {wait:.0f} s more; not waiting", url=url, retry_after=wait
            )
        await self._sleep(wait)


def _budget(give_up_at: float | None) -> float:
    """Seconds left until `give_up_at` (event-loop time); infinite without one."""
    return math.inf if give_up_at is None else give_up_at - asyncio.get_running_loop().time()


def _stopping(url: str) -> FetchError:
    return FetchError("not fetched: the bot is stopping", url=url)


def _busy(url: str) -> FetchBusy:
    return FetchBusy("arXiv is busy with other requests; not waiting longer", url=url)
