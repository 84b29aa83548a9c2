"""Tests for bot.ops.processes: the worker process CPU work runs in, and what happens when
it dies."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from collections.abc import AsyncIterator

import pytest

from bot.ops.processes import YOUNG_COLLECTION_THRESHOLD, WorkerProcess, tune_collector


def pid_and_threshold() -> tuple[int, int]:
    """Where the call ran, and its collector's young threshold (module level: pickled)."""
    return os.getpid(), gc.get_threshold()[0]


@pytest.fixture
async def worker() -> AsyncIterator[WorkerProcess]:
    worker = WorkerProcess()
    yield worker
    await asyncio.to_thread(worker.close)


async def test_calls_run_in_one_kept_process_with_the_bots_collector(
    worker: WorkerProcess,
) -> None:
    """The first call starts the process; the next ones reuse it (its caches stay warm)."""
    assert worker.pid() is None
    first, threshold = await worker.run(pid_and_threshold)
    second, _ = await worker.run(pid_and_threshold)
    assert first == second == worker.pid() != os.getpid()
    assert threshold == YOUNG_COLLECTION_THRESHOLD


async def test_a_killed_worker_costs_no_call(worker: WorkerProcess) -> None:
    """The process is killed (out of memory, an operator): the call that finds it dead runs
    in a thread of the bot instead, and the next call starts a new process."""
    first, _ = await worker.run(pid_and_threshold)
    os.kill(first, signal.SIGKILL)
    here, _ = await worker.run(pid_and_threshold)
    assert here == os.getpid()
    assert worker.restarts == 1
    again, _ = await worker.run(pid_and_threshold)
    assert again not in (first, os.getpid())


def test_tune_collector_keeps_the_older_generations() -> None:
    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == (YOUNG_COLLECTION_THRESHOLD, *before[1:])
    finally:
        gc.set_threshold(*before)
