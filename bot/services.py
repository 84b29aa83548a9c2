"""What handlers and jobs share at run time, kept in the application's bot_data."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.arxiv.api import ArxivSearch
from bot.arxiv.fetcher import PoliteFetcher
from bot.config import Config
from bot.delivery.outbox import Outbox
from bot.models import Chat
from bot.ops.batches import Coalescer
from bot.ops.metrics import Metrics
from bot.ops.processes import WorkerProcess
from bot.storage.store import Store, utcnow

_KEY = "services"


@dataclass(frozen=True)
class Services:
    config: Config
    store: Store
    http: httpx.AsyncClient
    outbox: Outbox
    fetcher: PoliteFetcher  # every request to arXiv goes through it: one at a time, spaced
    search: ArxivSearch  # /search, through the fetcher; one instance, so one day cache
    poll_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # One indexing run at a time, and a new subscription's matches are found between two:
    # a run matches with the queries followed when it began (bot.index).
    index_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # One digest at a time per chat, so /digest and the daily job cannot both send a paper.
    digest_locks: defaultdict[int, asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )
    # What the index stage keeps between runs (the engine of the queries followed).
    index_cache: dict[str, Any] = field(default_factory=dict)
    # Calls served together, by what they are for (the digests due at the same time).
    batches: dict[str, Coalescer[Any, Any]] = field(default_factory=dict)
    # The process big batches of digests are drafted in (started on first use).
    drafting: WorkerProcess = field(default_factory=WorkerProcess)
    # Counters for /metrics and the last successful poll for /healthz (the app's own).
    metrics: Metrics = field(default_factory=Metrics)
    # The time the digests and /digest go by (tests set another day).
    clock: Callable[[], dt.datetime] = utcnow

    def categories_of(self, chat: Chat) -> tuple[str, ...]:
        """The categories the chat's digests, /latest and exports draw from."""
        return chat.categories or self.config.arxiv_categories


def attach(bot_data: dict[Any, Any], services: Services) -> None:
    bot_data[_KEY] = services


def get(bot_data: dict[Any, Any]) -> Services:
    services = bot_data.get(_KEY)
    if not isinstance(services, Services):
        raise RuntimeError("services are not attached yet: the application did not start")
    return services


def detach(bot_data: dict[Any, Any]) -> Services | None:
    services = bot_data.pop(_KEY, None)
    return services if isinstance(services, Services) else None
