"""The feed sizes table family: how many papers each arXiv category carried in its last feed,
so that the categories are packed into feed URLs under arXiv's item limit from the first poll
after a restart (`bot.arxiv.fetcher.plan_feed_urls` reads them as estimates).
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.storage.base import StoreBase, timestamp


class FeedSizeStore(StoreBase):
    """Papers per category in the last feed that carried it."""

    async def category_sizes(self) -> dict[str, int]:
        """Every category's last known size (a category never seen is absent)."""
        rows = await self._fetchall("SELECT category, items FROM category_sizes")
        return {category: int(items) for category, items in rows}

    async def save_category_sizes(self, sizes: Mapping[str, int]) -> None:
        """Remember these categories' sizes (the others keep theirs), in one transaction."""
        if not sizes:
            return
        stamp = timestamp(self._clock())
        async with self._transaction():
            await self._db.executemany(
                "INSERT INTO category_sizes (category, items, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (category) DO UPDATE SET items = excluded.items,"
                " updated_at = excluded.updated_at",
                [(category, max(0, int(items)), stamp) for category, items in sizes.items()],
            )
