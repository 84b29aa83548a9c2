"""Calls made at about the same time, served together: one call of a function over all of
them (the digests due at the same minute are composed in one go)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")
# Serves a batch: a result, or the exception to raise, per item and in their order.
Serve = Callable[[Sequence[Item]], Awaitable[Sequence[Result | BaseException]]]


class Coalescer(Generic[Item, Result]):
    """Serves each `submit` from a batch of the items submitted meanwhile.

    A batch is what was submitted by the time a worker takes it: the calls started in the
    same turn of the event loop, and those that arrived while the previous batch was being
    served (no timer: a lone call is served at once). At most `limit` items per batch and
    `workers` batches at a time (two: one can read the database while the other computes).
    """

    def __init__(self, serve: Serve[Item, Result], *, limit: int, workers: int = 2) -> None:
        self._serve = serve
        self._limit = limit
        self._workers = workers
        self._running = 0
        self._tasks: set[asyncio.Task[None]] = set()  # the workers, kept from the collector
        self._queue: list[tuple[Item, asyncio.Future[Result]]] = []

    async def submit(self, item: Item) -> Result:
        """The item's result, served in a batch."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._running < self._workers:
            self._running += 1
            task = asyncio.get_running_loop().create_task(self._work())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # The item is being served: its caller (holding the chat's digest lock) returns
            # once it is, so that no second digest of the chat can start in between.
            if not future.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait([future])
            raise

    async def _work(self) -> None:
        try:
            while self._queue:
                await asyncio.sleep(0)  # the calls started in the same turn join this batch
                batch = self._queue[: self._limit]
                del self._queue[: len(batch)]
                if batch:
                    await self._serve_batch(batch)
        finally:
            self._running -= 1

    async def _serve_batch(self, batch: list[tuple[Item, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._serve([item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"{len(results)} results for {len(batch)} items")
        except BaseException as exc:
            for _, future in batch:
                _settle(future, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        for (_, future), result in zip(batch, results, strict=True):
            _settle(future, result)


def _settle(future: asyncio.Future[Result], outcome: Result | BaseException) -> None:
    if future.done():  # its caller was cancelled and gave up waiting
        return
    if isinstance(outcome, asyncio.CancelledError):
        future.cancel()
    elif isinstance(outcome, BaseException):
        future.set_exception(outcome)
        future.add_done_callback(lambda done: done.exception())  # raised to nobody: no warning
    else:
        future.set_result(outcome)
