"""The coalescer: calls made together are served in batches, each caller gets its own result."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bot.ops.batches import Coalescer


class Server:
    """A serve function that records its batches and can be held until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.running = 0
        self.most_running = 0
        self.release = asyncio.Event()
        self.release.set()
        self.entered = asyncio.Event()

    async def __call__(self, items: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        self.entered.set()
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        return [ValueError(f"bad {item}") if item < 0 else item * 10 for item in items]


async def test_calls_made_together_are_served_in_one_batch_each_with_its_own_result() -> None:
    server = Server()
    coalescer: Coalescer[int, int] = Coalescer(server, limit=100)
    results = await asyncio.gather(*(coalescer.submit(n) for n in range(1, 51)))
    assert results == [n * 10 for n in range(1, 51)]
    assert server.batches == [list(range(1, 51))]


async def test_a_batch_is_at_most_the_limit() -> None:
    server = Server()
    coalescer: Coalescer[int, int] = Coalescer(server, limit=8, workers=1)
    results = await asyncio.gather(*(coalescer.submit(n) for n in range(1, 21)))
    assert results == [n * 10 for n in range(1, 21)]
    assert [len(batch) for batch in server.batches] == [8, 8, 4]
    assert [n for batch in server.batches for n in batch] == list(range(1, 21))


async def test_calls_that_arrive_while_a_batch_is_served_form_the_next_one() -> None:
    """No timer: a lone call is served at once, and what arrives meanwhile waits for it."""
    server = Server()
    server.release.clear()
    coalescer: Coalescer[int, int] = Coalescer(server, limit=100, workers=1)
    first = asyncio.create_task(coalescer.submit(1))
    await server.entered.wait()
    later = [asyncio.create_task(coalescer.submit(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0)
    assert server.batches == [[1]]
    server.release.set()
    assert await first == 10
    assert [await task for task in later] == [20, 30, 40]
    assert server.batches == [[1], [2, 3, 4]]


async def test_no_more_batches_at_once_than_workers() -> None:
    server = Server()
    server.release.clear()
    coalescer: Coalescer[int, int] = Coalescer(server, limit=2, workers=2)
    tasks = [asyncio.create_task(coalescer.submit(n)) for n in range(1, 11)]
    while len(server.batches) < 2:
        await asyncio.sleep(0)
    server.release.set()
    assert [await task for task in tasks] == [n * 10 for n in range(1, 11)]
    assert server.most_running == 2


async def test_an_item_that_fails_fails_its_own_caller_only() -> None:
    server = Server()
    coalescer: Coalescer[int, int] = Coalescer(server, limit=100)
    results = await asyncio.gather(
        *(coalescer.submit(n) for n in (1, -2, 3)), return_exceptions=True
    )
    assert results[0] == 10
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "bad -2"
    assert results[2] == 30


async def test_a_failed_batch_fails_each_of_its_callers_and_the_next_batch_goes_on() -> None:
    calls = 0

    async def serve(items: Sequence[int]) -> list[int | BaseException]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk full")
        return [item for item in items]

    coalescer: Coalescer[int, int] = Coalescer(serve, limit=100)
    results = await asyncio.gather(*(coalescer.submit(n) for n in (1, 2)), return_exceptions=True)
    assert all(isinstance(result, OSError) for result in results)
    assert await coalescer.submit(3) == 3


async def test_a_wrong_number_of_results_fails_the_batch() -> None:
    async def serve(items: Sequence[int]) -> list[int | BaseException]:
        return [1]

    coalescer: Coalescer[int, int] = Coalescer(serve, limit=100)
    with pytest.raises(RuntimeError, match="1 results for 2 items"):
        await asyncio.gather(coalescer.submit(1), coalescer.submit(2))


async def test_a_cancelled_caller_returns_only_once_its_item_was_served() -> None:
    """The caller holds its chat's digest lock: it must not let a second digest of the chat
    start while the first is still being composed."""
    server = Server()
    server.release.clear()
    coalescer: Coalescer[int, int] = Coalescer(server, limit=100)
    caller = asyncio.create_task(coalescer.submit(7))
    await server.entered.wait()
    caller.cancel()
    await asyncio.sleep(0)
    assert not caller.done(), "it waits for its item"
    server.release.set()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert server.batches == [[7]]
    assert server.running == 0
