"""The feed sizes the store keeps per arXiv category, on a real SQLite file."""

from __future__ import annotations

from pathlib import Path

from bot.storage.store import Store


async def test_category_sizes_are_kept_updated_and_survive_reopening(tmp_path: Path) -> None:
    """Sizes saved are read back; saving some updates those and keeps the others; a negative
    size is stored as 0; they are still there after the database is opened again."""
    path = tmp_path / "bot.sqlite3"
    store = await Store.open(path)
    try:
        assert await store.category_sizes() == {}
        await store.save_category_sizes({"cs.AI": 86, "cs.LG": 1001})
        await store.save_category_sizes({"cs.LG": 1200, "hep-th": -3})
        await store.save_category_sizes({})
        assert await store.category_sizes() == {"cs.AI": 86, "cs.LG": 1200, "hep-th": 0}
    finally:
        await store.close()
    again = await Store.open(path)
    try:
        assert await again.category_sizes() == {"cs.AI": 86, "cs.LG": 1200, "hep-th": 0}
    finally:
        await again.close()
