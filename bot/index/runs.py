"""The index stage's two entry points for the pipeline: after a poll, and before a digest."""

from __future__ import annotations

import datetime as dt

from bot.index.indexing import ensure_indexed, index_papers
from bot.index.search import complete_matches
from bot.services import Services


async def after_poll(services: Services, now: dt.datetime) -> None:
    """Index and match what the poll stored (once, against every query followed), and complete
    the matches of queries followed otherwise than by /subscribe."""
    await index_papers(services, now)
    await complete_matches(services, now=now)


async def before_digests(services: Services, now: dt.datetime) -> None:
    """Make the pending matches complete, for digests at `now`: papers a cut-short poll
    stored but did not index, queries followed but not matched yet."""
    await ensure_indexed(services, now)
    await complete_matches(services, now=now)
