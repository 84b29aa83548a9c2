"""Retention: what can no longer be pending or searched is deleted, so the database does not
grow without bound. A daily job runs it (`bot.schedule`), apart from the polls.

Matches are kept while their papers may still be pending (the lookback window and a margin);
papers, with their index rows and ledger entries, for `paper_retention_days` (365 by default)
after they were last stored or revised. /latest, /export and the preview search what is kept.
"""

from __future__ import annotations

import datetime as dt
import logging

from bot.index.indexing import matching_since
from bot.services import Services
from bot.storage.store import utcnow

log = logging.getLogger(__name__)

# A paper is indexed under its announcement day, which may be a few days before it was stored:
# matches are kept for papers indexed under days this much before the window.
INDEX_DAY_SLACK = dt.timedelta(days=8)


async def prune(services: Services, now: dt.datetime | None = None) -> tuple[int, int]:
    """Delete matches that can no longer be pending and papers past retention; returns how
    many of each."""
    now = now or utcnow()
    keep_from = matching_since(services, now)
    async with services.index_lock:
        matches = await services.store.prune_matches((keep_from - INDEX_DAY_SLACK).date())
        cutoff = now - dt.timedelta(days=services.config.paper_retention_days)
        papers = await services.store.prune_papers(cutoff)
    if papers:
        log.info(
            "Deleted %d papers last seen before %s (PAPER_RETENTION_DAYS=%d)",
            papers,
            cutoff.date(),
            services.config.paper_retention_days,
        )
    return matches, papers
