"""Small papers for tests that need many of them and care only that they differ."""

from __future__ import annotations

import datetime as dt

from bot.models import Paper


def numbered_paper(n: int) -> Paper:
    """Paper n of the cs.AI announcement of 20 Aug 2025, about diffusion."""
    return Paper(
        arxiv_id=f"2508.{n:05d}",
        title=f"Paper {n}",
        authors=("A",),
        abstract="About diffusion.",
        categories=("cs.AI",),
        announced=dt.date(2025, 8, 20),
    )
