"""Updates of different chats are handled side by side; one chat's updates keep their order.

python-telegram-bot handles one update at a time by default, so one slow command (a /search
waiting for arXiv, a big /export) held up every other user's /help. `ChatOrderedProcessor`
lets up to `max_concurrent_updates` updates run at once, but an update waits for the updates
of the same chat that came before it: "/subscribe x" then "/list" still answer in that order,
and a chat's settings are never changed by two of its commands at once.

At shutdown `stop_updates` gives the updates in flight a short grace and then cancels them, so
a command waiting for arXiv cannot hold the process up (python-telegram-bot's `stop()` waits
for every update it has started).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor

log = logging.getLogger(__name__)

# Enough for every chat that writes at once on a busy day; an update beyond it waits for a slot.
MAX_CONCURRENT_UPDATES = 256
# At shutdown, how long the updates in flight may take before they are cancelled.
STOP_GRACE_SECONDS = 3.0


def chat_key(update: object) -> int | None:
    """The chat an update belongs to (its user for updates without a chat), or None."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return None


class ChatOrderedProcessor(BaseUpdateProcessor):
    """Concurrent across chats, in order within a chat (a FIFO lock per chat)."""

    def __init__(self, max_concurrent_updates: int = MAX_CONCURRENT_UPDATES) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self._in_flight: set[asyncio.Task[Any]] = set()

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self._in_order(update, coroutine)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def _in_order(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = chat_key(update)
        if key is None:
            await coroutine
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:  # asyncio.Lock wakes its waiters first come, first served
                await coroutine
        except asyncio.CancelledError:
            if inspect.iscoroutine(coroutine):
                coroutine.close()  # cancelled before its turn: it never ran, and never will
            raise
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:  # forget idle chats: the dict stays as small as the load
                del self._waiting[key]
                del self._locks[key]

    async def stop_updates(self, grace: float) -> int:
        """Let the updates in flight finish for up to `grace` seconds, then cancel the rest;
        how many were cancelled."""
        running = set(self._in_flight)
        if not running:
            return 0
        _, late = await asyncio.wait(running, timeout=grace)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)
        return len(late)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to free: the locks go with the chats' last updates."""


class BotApplication(Application):  # type: ignore[type-arg]
    """python-telegram-bot's Application, whose stop() does not wait without bound for the
    updates in flight (a /search waiting for arXiv): they get a grace, then are cancelled."""

    async def stop(self) -> None:
        processor = self.update_processor
        if isinstance(processor, ChatOrderedProcessor):
            cancelled = await processor.stop_updates(STOP_GRACE_SECONDS)
            if cancelled:
                log.warning("Stopping: cancelled %d command(s) still in flight", cancelled)
        await super().stop()
