"""CPU work in a process of its own, and the garbage collector's settings for a bot that
keeps a large heap.

Python runs one thread at a time: ranking and rendering thousands of digests in a worker
thread takes the interpreter from the event loop and from the database's thread, which then
wait up to the switch interval (5 ms) at every turn. A worker process has its own
interpreter on the machine's other core, so the morning's reading and writing overlap its
drafting.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# Objects allocated before a young collection (CPython's default: 700). A batch of digests
# allocates hundreds of thousands of objects that live for the batch; collected that often,
# they are promoted and each full collection walks the whole heap (the engine of every query
# followed, the caches): 8 s of the 10,000-chat morning in benchmarks/pipeline.py, ~0.5 s here.
YOUNG_COLLECTION_THRESHOLD = 50_000


def tune_collector() -> None:
    """The collector's thresholds for the bot's heap (in every process of the bot)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


class WorkerProcess:
    """One worker process, started (spawned, not forked: the bot has threads) on first use and
    kept for the next calls, so that its caches stay warm. If it dies (killed, out of
    memory), the call runs in a thread instead and the next call starts a new process."""

    def __init__(self) -> None:
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self.restarts = 0  # processes lost (tests, /metrics)

    async def run(self, function: Callable[..., _T], *args: object) -> _T:
        """`function(*args)` in the worker process (both picklable)."""
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=tune_collector,
            )
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, function, *args)
        except BrokenProcessPool:
            log.warning(
                "The worker process died; this call runs in a thread, the next in a new one"
            )
            if self._pool is pool:
                self._pool = None
                self.restarts += 1
            pool.shutdown(wait=False, cancel_futures=True)
            return await asyncio.to_thread(function, *args)

    def pid(self) -> int | None:
        """The worker's process id, None while none runs (tests)."""
        processes = getattr(self._pool, "_processes", None) or {}
        return next(iter(processes), None)

    def close(self) -> None:
        """Stop the worker (blocks until it has exited: call it from a thread)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
