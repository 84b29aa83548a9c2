"""A fake monotonic clock for code that takes injectable `clock` and `sleep` callables."""

from __future__ import annotations

import asyncio


class FakeClock:
    """Monotonic time that moves only when the code under test sleeps; records every sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
        await asyncio.sleep(0)  # still a suspension point, as a real sleep is
