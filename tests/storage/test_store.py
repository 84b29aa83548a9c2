"""The store on a real SQLite file: migrations, chats, subscriptions, papers, ledger."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import aiosqlite
import pytest

from bot.models import ChannelLink, Paper, UrlState
from bot.storage.migrations import MIGRATIONS
from bot.storage.store import Store, utcnow

EIGHT = dt.time(8, 0)


def paper(arxiv_id: str, **changes: object) -> Paper:
    base = Paper(
        arxiv_id=arxiv_id,
        title=f"Title {arxiv_id}",
        authors=("Ada Lovelace", "Jörg Müller"),
        abstract="An abstract about diffusion.",
        categories=("cs.LG", "cs.AI"),
        announce_type="new",
        version=1,
        announced=dt.date(2025, 8, 20),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "db" / "bot.sqlite3")
    yield store
    await store.close()


async def test_fresh_database_gets_every_migration_in_wal_mode(tmp_path: Path) -> None:
    """Opening a new file creates its folder, applies all migrations and turns WAL on."""
    path = tmp_path / "new" / "bot.sqlite3"
    store = await Store.open(path)
    assert await store.schema_version() == len(MIGRATIONS)
    await store.close()
    async with aiosqlite.connect(path) as db, db.execute("PRAGMA journal_mode") as cur:
        assert (await cur.fetchone()) == ("wal",)


async def test_reopening_applies_nothing_twice(tmp_path: Path) -> None:
    """Migrations already applied are skipped and data survives a restart."""
    path = tmp_path / "bot.sqlite3"
    store = await Store.open(path)
    await store.add_papers([paper("2508.00001")])
    await store.close()
    store = await Store.open(path)
    assert await store.count_papers() == 1
    assert await store.schema_version() == len(MIGRATIONS)
    await store.close()


async def test_paper_round_trips_every_field(store: Store) -> None:
    """A stored paper comes back equal, non-ASCII and old-style ids included."""
    original = paper("hep-th/0505137", title="Gödel & <tags>", authors=('J\\"org',))
    await store.add_papers([original])
    assert await store.get_paper("hep-th/0505137") == original


async def test_add_papers_reports_only_new_ones(store: Store) -> None:
    """The same paper in two feeds or two days is stored once and new only once."""
    first = await store.add_papers([paper("2508.00001"), paper("2508.00002")])
    assert [p.arxiv_id for p in first] == ["2508.00001", "2508.00002"]
    second = await store.add_papers([paper("2508.00002"), paper("2508.00003")])
    assert [p.arxiv_id for p in second] == ["2508.00003"]
    assert await store.count_papers() == 3


async def test_duplicate_within_one_batch_counts_once(store: Store) -> None:
    """A paper listed twice in one feed (e.g. two categories) is new once, first copy kept."""
    new = await store.add_papers([paper("2508.00001"), paper("2508.00001", title="Other")])
    assert len(new) == 1
    stored = await store.get_paper("2508.00001")
    assert stored is not None
    assert stored.title == "Title 2508.00001"


async def test_replacement_updates_row_and_is_not_new(store: Store) -> None:
    """A higher version updates title, abstract and version; it is not reported as new."""
    await store.add_papers([paper("2508.00001")])
    revised = paper("2508.00001", version=2, title="Better title", announce_type="replace")
    assert await store.add_papers([revised]) == []
    stored = await store.get_paper("2508.00001")
    assert stored is not None
    assert (stored.version, stored.title, stored.announce_type) == (2, "Better title", "replace")


async def test_older_version_never_overwrites_newer(store: Store) -> None:
    """Seeing v1 again after v2 leaves v2 in place."""
    await store.add_papers([paper("2508.00001", version=2, title="v2")])
    await store.add_papers([paper("2508.00001", version=1, title="v1")])
    stored = await store.get_paper("2508.00001")
    assert stored is not None
    assert (stored.version, stored.title) == (2, "v2")


async def test_same_version_with_other_text_repairs_the_stored_paper(store: Store) -> None:
    """A paper stored with U+FFFD for bad bytes is repaired by a later copy of the same version
    whose title, authors and abstract differ: not new again, not pending again for a chat that
    received it, its version, announcement type and categories kept."""
    clean = paper("2508.00001", version=2, announce_type="replace", abstract="Schrödinger.")
    garbled = replace(
        clean,
        title=clean.title + "\ufffd",
        authors=("Ada Lovelace", "J\ufffdrg M\ufffdller"),
        abstract="Schr\ufffddinger.",
    )
    await store.ensure_chat(1, EIGHT, "UTC")
    keen = await store.toggle_announcements(1, "revisions")
    assert keen is not None
    assert await store.add_papers([garbled]) == [garbled]
    await store.mark_delivered(1, ["2508.00001"])
    assert await store.add_papers([replace(clean, announce_type="replace-cross")]) == []
    assert await store.get_paper("2508.00001") == clean
    assert await store.undelivered_papers(keen, utcnow() - dt.timedelta(days=1)) == []


async def test_a_damaged_copy_never_overwrites_a_sound_one(store: Store) -> None:
    """A copy of the same version with more U+FFFD than the stored text (a bad byte in one of
    two feeds listing the paper) leaves the stored paper as it is, whatever the order."""
    clean = paper("2508.00001", title="Schrödinger bridges")
    garbled = replace(clean, title="Schr\ufffddinger bridges")
    await store.add_papers([clean])
    await store.add_papers([garbled])
    assert await store.get_paper("2508.00001") == clean
    await store.add_papers([paper("2508.00002", title="A\ufffd title")])
    await store.add_papers([paper("2508.00002", title="A\ufffd title, \ufffd twice")])
    stored = await store.get_paper("2508.00002")
    assert stored is not None
    assert stored.title == "A\ufffd title"


async def test_chat_is_created_with_defaults_and_reactivated(store: Store) -> None:
    """A new chat gets the default time; an inactive chat that writes again is active."""
    chat, before = await store.ensure_chat(7, EIGHT, "UTC")
    assert (chat.chat_id, chat.digest_time, chat.timezone, chat.active) == (7, EIGHT, "UTC", True)
    assert before is None
    await store.set_active(7, False)
    assert await store.active_chats() == []
    chat, before = await store.ensure_chat(7, dt.time(9, 0), "Asia/Tokyo")
    assert before is not None
    assert not before.active
    assert chat.active
    assert chat.digest_time == EIGHT, "an existing chat keeps its own settings"


async def test_subscriptions_keep_order_and_ignore_duplicates(store: Store) -> None:
    """Keywords come back in the order added; the same key twice is stored once."""
    await store.ensure_chat(1, EIGHT, "UTC")
    added = await store.add_subscriptions(1, [("gan", "GAN"), ("diffusion", "diffusion")])
    assert added == 2
    assert await store.add_subscriptions(1, [("gan", "gan")]) == 0
    assert await store.subscriptions_for(1) == ["GAN", "diffusion"]
    assert await store.remove_subscription(1, "gan")
    assert not await store.remove_subscription(1, "gan")
    assert await store.remove_all_subscriptions(1) == 1
    assert await store.subscriptions_for(1) == []


async def test_sql_in_arguments_is_only_data(store: Store) -> None:
    """A keyword that looks like SQL is stored verbatim and harms nothing."""
    await store.ensure_chat(1, EIGHT, "UTC")
    evil = "x'); DROP TABLE subscriptions; --"
    await store.add_subscriptions(1, [(evil, evil)])
    assert await store.subscriptions_for(1) == [evil]


async def test_ledger_hides_delivered_papers_from_that_chat_only(store: Store) -> None:
    """A delivered paper is never pending again for that chat, but still is for others."""
    one, _ = await store.ensure_chat(1, EIGHT, "UTC")
    two, _ = await store.ensure_chat(2, EIGHT, "UTC")
    await store.add_papers([paper("2508.00001"), paper("2508.00002")])
    since = utcnow() - dt.timedelta(days=1)
    await store.mark_delivered(1, ["2508.00001"])
    await store.mark_delivered(1, ["2508.00001"])  # idempotent
    assert [p.arxiv_id for p in await store.undelivered_papers(one, since)] == ["2508.00002"]
    assert len(await store.undelivered_papers(two, since)) == 2
    assert await store.delivered_ids(1) == {"2508.00001"}


async def test_revisions_go_only_to_chats_that_want_them(store: Store) -> None:
    """A replacement is pending once for a chat with revisions on, never for the others."""
    plain, _ = await store.ensure_chat(1, EIGHT, "UTC")
    await store.ensure_chat(2, EIGHT, "UTC")
    keen = await store.toggle_announcements(2, "revisions")
    assert keen is not None
    assert keen.want_revisions
    since = utcnow() - dt.timedelta(days=1)
    await store.add_papers([paper("2508.00009")])
    await store.mark_delivered(1, ["2508.00009"])
    await store.mark_delivered(2, ["2508.00009"])
    await store.add_papers([paper("2508.00009", version=2, announce_type="replace")])
    assert await store.undelivered_papers(plain, since) == []
    pending = await store.undelivered_papers(keen, since)
    assert [(p.arxiv_id, p.version) for p in pending] == [("2508.00009", 2)]
    await store.mark_delivered(2, ["2508.00009"])
    assert await store.undelivered_papers(keen, since) == []


async def test_paper_first_seen_as_replacement_is_not_new(store: Store) -> None:
    """A paper whose first sighting is a replacement is stored but not offered as new."""
    chat, _ = await store.ensure_chat(1, EIGHT, "UTC")
    await store.add_papers([paper("2508.00009", version=2, announce_type="replace")])
    since = utcnow() - dt.timedelta(days=1)
    assert await store.undelivered_papers(chat, since) == []
    assert await store.get_paper("2508.00009") is not None


async def test_quick_replacement_does_not_hide_a_new_paper(store: Store) -> None:
    """New on Monday, replaced on Tuesday before the digest: still new for every chat."""
    chat, _ = await store.ensure_chat(1, EIGHT, "UTC")
    await store.add_papers([paper("2508.00010")])
    await store.add_papers([paper("2508.00010", version=2, announce_type="replace")])
    since = utcnow() - dt.timedelta(days=1)
    assert [p.arxiv_id for p in await store.undelivered_papers(chat, since)] == ["2508.00010"]


async def test_announcement_choices_filter_cross_lists(store: Store) -> None:
    """A chat that turns cross-lists off gets only new submissions."""
    await store.ensure_chat(1, EIGHT, "UTC")
    chat = await store.toggle_announcements(1, "cross")
    assert chat is not None
    assert not chat.want_cross
    await store.add_papers([paper("2508.00011"), paper("2508.00012", announce_type="cross")])
    since = utcnow() - dt.timedelta(days=1)
    assert [p.arxiv_id for p in await store.undelivered_papers(chat, since)] == ["2508.00011"]


async def test_papers_newest_first_pages_through_everything(store: Store) -> None:
    """Batches cover every paper once, newest announcement first."""
    await store.add_papers(
        [paper(f"2508.{n:05d}", announced=dt.date(2025, 8, 1 + n % 20)) for n in range(45)]
    )
    batches = [batch async for batch in store.papers_newest_first(batch=10)]
    flat = [p for batch in batches for p in batch]
    assert len(flat) == 45
    assert len({p.arxiv_id for p in flat}) == 45
    dates = [p.announced for p in flat]
    assert dates == sorted(dates, reverse=True)  # type: ignore[type-var]


async def test_digests_from_before_migration_12_name_no_day(tmp_path: Path) -> None:
    """A database whose digests were composed before they recorded the day they named keeps
    them, with no day (the pipeline then goes by when they were composed); its chats have
    the line that nothing matched off."""
    path = tmp_path / "eleven.sqlite3"
    async with aiosqlite.connect(path) as db:
        await db.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        for number, statements in enumerate(MIGRATIONS[:11], start=1):
            for statement in statements:
                await db.execute(statement)
            await db.execute("INSERT INTO schema_migrations VALUES (?, '2025-01-01')", (number,))
        await db.execute(
            "INSERT INTO chats (chat_id, digest_time, timezone, created_at)"
            " VALUES (5, '08:00', 'UTC', '2025-01-01')"
        )
        await db.execute(
            "INSERT INTO digests (chat_id, created_at, parts_total, papers)"
            " VALUES (5, '2025-08-20T08:00:00+00:00', 1, 1)"
        )
        await db.commit()
    store = await Store.open(path)
    try:
        inputs = (await store.digest_inputs([5]))[5]
        assert inputs.last_composed == dt.datetime(2025, 8, 20, 8, 0, tzinfo=dt.UTC)
        assert inputs.last_through is None
        assert not inputs.chat.tell_no_match
    finally:
        await store.close()


async def test_version_one_database_is_upgraded_in_place(tmp_path: Path) -> None:
    """A database left by the first release gains the new columns and keeps its rows."""
    path = tmp_path / "old.sqlite3"
    async with aiosqlite.connect(path) as db:
        await db.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        for statement in MIGRATIONS[0]:
            await db.execute(statement)
        await db.execute("INSERT INTO schema_migrations VALUES (1, '2025-01-01')")
        await db.execute(
            "INSERT INTO papers VALUES ('2508.00001', 1, 't', '[]', 'a', '[\"cs.AI\"]', 'cross',"
            " '2025-08-20', ?, ?)",
            (utcnow().isoformat(), utcnow().isoformat()),
        )
        await db.execute("INSERT INTO chats VALUES (5, 1, '08:00', 'UTC', '2025-01-01', NULL)")
        await db.commit()
    store = await Store.open(path)
    try:
        assert await store.schema_version() == len(MIGRATIONS)
        chat = await store.get_chat(5)
        assert chat is not None
        assert (chat.want_new, chat.want_cross, chat.want_revisions) == (True, True, False)
        assert not chat.tell_no_match
        pending = await store.undelivered_papers(chat, utcnow() - dt.timedelta(days=1))
        assert [p.arxiv_id for p in pending] == ["2508.00001"]
    finally:
        await store.close()


async def test_concurrent_writers_never_nest_transactions(store: Store) -> None:
    """Many chats composing, sending and subscribing at once: every write lands, none fails."""
    await store.add_papers([paper(f"2508.{n:05d}") for n in range(40)])

    async def chat_work(chat_id: int) -> None:
        await store.ensure_chat(chat_id, EIGHT, "UTC")
        ids = [f"2508.{n:05d}" for n in range(chat_id % 40, chat_id % 40 + 1)]
        await store.compose_digest(chat_id, [("a", ids), ("b", [])], visible=2)
        for part in await store.pending_parts(chat_id):
            await store.mark_part_sent(part)
        await store.add_subscriptions(chat_id, [("k", "k")])

    await asyncio.gather(*(chat_work(chat_id) for chat_id in range(100, 160)))
    assert await store.pending_parts() == []
    counts = await store.counts(utcnow() - dt.timedelta(hours=1))
    assert counts["digests"] == 60
    assert counts["messages"] == 120
    assert counts["subscriptions"] == 60


async def test_chat_categories_default_to_none_and_move_with_a_migrated_group(
    store: Store,
) -> None:
    await store.ensure_chat(-5, EIGHT, "UTC")
    await store.add_subscriptions(-5, [("diffusion", "diffusion")])
    assert (await store.get_chat(-5)).categories is None  # type: ignore[union-attr]
    await store.set_categories(-5, ["math.AP", "hep-th"])
    assert (await store.get_chat(-5)).categories == ("math.AP", "hep-th")  # type: ignore[union-attr]
    await store.move_chat(-5, -1005)
    assert (await store.get_chat(-1005)).categories == ("math.AP", "hep-th")  # type: ignore[union-attr]
    await store.set_categories(-1005, None)
    assert (await store.get_chat(-1005)).categories is None  # type: ignore[union-attr]


async def test_categories_in_use_is_the_union_over_chats_with_subscriptions(store: Store) -> None:
    default = ["cs.AI", "cs.LG"]
    assert await store.categories_in_use(default) == []
    for chat_id in (1, 2, 3, 4):
        await store.ensure_chat(chat_id, EIGHT, "UTC")
    await store.add_subscriptions(1, [("gan", "gan")])  # default categories
    await store.add_subscriptions(2, [("gan", "gan")])
    await store.set_categories(2, ["hep-th", "cs.AI"])
    await store.set_categories(3, ["math.AP"])  # no subscriptions: nothing to poll for
    await store.add_subscriptions(4, [("gan", "gan")])
    await store.set_categories(4, ["q-bio.NC"])
    await store.set_active(4, False)  # inactive: nothing to poll for
    assert await store.categories_in_use(default) == ["cs.AI", "cs.LG", "hep-th"]


async def test_fetch_state_round_trips_and_keeps_the_last_feed_day(store: Store) -> None:
    url = "https://rss.arxiv.org/atom/cs.AI"
    assert await store.fetch_state() == {}
    await store.save_fetch_state(url, UrlState('"e1"', None, "ab" * 32), dt.date(2024, 3, 8))
    await store.save_fetch_state(url, UrlState('"e2"', "Mon, 11 Mar 2024 04:00:00 GMT", "cd"))
    assert await store.fetch_state() == {
        url: (UrlState('"e2"', "Mon, 11 Mar 2024 04:00:00 GMT", "cd"), dt.date(2024, 3, 8))
    }


async def test_a_line_that_nothing_matched_is_not_counted_as_a_digest(store: Store) -> None:
    """/stats counts digests with papers; a chat's line that nothing matched has none."""
    await store.add_papers([paper("2508.00001")])
    await store.compose_digest(1, [("digest", ["2508.00001"])], visible=1)
    await store.compose_digest(1, [("nothing matched", [])], visible=1)
    assert (await store.counts(utcnow() - dt.timedelta(hours=1)))["digests"] == 1


async def test_newest_feed_day_is_the_latest_of_any_feed(store: Store) -> None:
    """The newest feed day ingested, whichever feed URL it came from; None before any."""
    assert await store.newest_feed_day() is None
    await store.save_fetch_state("https://rss.arxiv.org/atom/cs.AI", UrlState(), None)
    assert await store.newest_feed_day() is None
    await store.save_fetch_state(
        "https://rss.arxiv.org/atom/hep-th", UrlState(), dt.date(2024, 3, 11)
    )
    await store.save_fetch_state(
        "https://rss.arxiv.org/atom/cs.AI", UrlState(), dt.date(2024, 3, 8)
    )
    assert await store.newest_feed_day() == dt.date(2024, 3, 11)


async def test_withdrawn_flag_round_trips_and_follows_the_newest_version(store: Store) -> None:
    """A withdrawal (a higher version) marks the stored paper withdrawn; an old id works too."""
    await store.add_papers([paper("hep-th/0505137")])
    gone = paper("hep-th/0505137", version=2, announce_type="replace", withdrawn=True)
    assert await store.add_papers([gone]) == []
    assert await store.get_paper("hep-th/0505137") == gone


async def test_withdrawn_paper_is_never_pending_as_new(store: Store) -> None:
    """A paper withdrawn before a chat's digest, or first seen withdrawn, is never sent as new."""
    chat, _ = await store.ensure_chat(1, EIGHT, "UTC")
    since = utcnow() - dt.timedelta(days=1)
    await store.add_papers([paper("2508.00001"), paper("2508.00002", withdrawn=True)])
    await store.add_papers(
        [paper("2508.00001", version=2, announce_type="replace", withdrawn=True)]
    )
    assert await store.undelivered_papers(chat, since) == []


async def test_withdrawal_after_delivery_reaches_only_revision_followers(store: Store) -> None:
    """After delivery, a withdrawal is pending once for a chat that follows revisions (so it
    learns the paper is gone), and never for the others or for chats that never got it."""
    plain, _ = await store.ensure_chat(1, EIGHT, "UTC")
    await store.ensure_chat(2, EIGHT, "UTC")
    await store.ensure_chat(3, EIGHT, "UTC")
    keen = await store.toggle_announcements(2, "revisions")
    newcomer = await store.toggle_announcements(3, "revisions")
    assert keen is not None
    assert newcomer is not None
    since = utcnow() - dt.timedelta(days=1)
    await store.add_papers([paper("2508.00009")])
    await store.mark_delivered(1, ["2508.00009"])
    await store.mark_delivered(2, ["2508.00009"])
    await store.add_papers(
        [paper("2508.00009", version=2, announce_type="replace", withdrawn=True)]
    )
    assert await store.undelivered_papers(plain, since) == []
    assert await store.undelivered_papers(newcomer, since) == []
    (pending,) = await store.undelivered_papers(keen, since)
    assert (pending.arxiv_id, pending.version, pending.withdrawn) == ("2508.00009", 2, True)
    await store.mark_delivered(2, ["2508.00009"])
    assert await store.undelivered_papers(keen, since) == []


async def test_last_digest_composed_and_the_injected_clock(tmp_path: Path) -> None:
    """The store stamps rows with its clock; the last digest composed for a chat is known."""
    moment = dt.datetime(2026, 11, 27, 13, 0, tzinfo=dt.UTC)
    store = await Store.open(tmp_path / "clocked.sqlite3", clock=lambda: moment)
    try:
        await store.ensure_chat(1, EIGHT, "UTC")
        assert await store.last_digest_composed(1) is None
        await store.add_papers([paper("2508.00001")])
        await store.compose_digest(1, [("text", ["2508.00001"])], visible=3)
        assert await store.last_digest_composed(1) == moment
        assert await store.last_digest_composed(2) is None
        assert len(await store.recent_papers(moment)) == 1
        assert await store.recent_papers(moment + dt.timedelta(seconds=1)) == []
    finally:
        await store.close()


async def test_old_style_ids_dedupe_and_enter_the_ledger(store: Store) -> None:
    """hep-th/0505137 is stored once, its replacement updates it, and the ledger records it."""
    chat, _ = await store.ensure_chat(1, EIGHT, "UTC")
    since = utcnow() - dt.timedelta(days=1)
    assert len(await store.add_papers([paper("hep-th/0505137"), paper("hep-th/0505137")])) == 1
    assert await store.add_papers([paper("hep-th/0505137")]) == []
    assert [p.arxiv_id for p in await store.undelivered_papers(chat, since)] == ["hep-th/0505137"]
    await store.mark_delivered(1, ["hep-th/0505137"])
    assert await store.delivered_ids(1) == {"hep-th/0505137"}
    assert await store.undelivered_papers(chat, since) == []


async def test_papers_announced_between_two_days_both_included_newest_first(
    store: Store,
) -> None:
    """Papers announced on the first through the last day, newest day first, then the higher
    id; days outside, papers without a date and withdrawn papers are left out."""
    await store.add_papers(
        [
            paper("2403.00001", announced=dt.date(2024, 3, 7)),
            paper("2403.00002", announced=dt.date(2024, 3, 8)),
            paper("2403.00003", announced=dt.date(2024, 3, 11)),
            paper("2403.00004", announced=dt.date(2024, 3, 8)),
            paper("2403.00005", announced=dt.date(2024, 3, 12)),
            paper("2403.00006", announced=None),
            paper("2403.00007", announced=dt.date(2024, 3, 9), withdrawn=True),
        ]
    )
    found = await store.papers_announced_between(dt.date(2024, 3, 8), dt.date(2024, 3, 11))
    assert [p.arxiv_id for p in found] == ["2403.00003", "2403.00004", "2403.00002"]


async def test_a_chats_topic_and_channel_link_are_kept(store: Store) -> None:
    """The forum topic a chat chose is kept until changed; a channel link is stored,
    replaced by a newer one, made inactive and removed."""
    await store.ensure_chat(-1005001, dt.time(9), "UTC")
    await store.ensure_chat(42, dt.time(9), "UTC")
    assert await store.get_thread(-1005001) is None
    await store.set_thread(-1005001, 7)
    assert await store.get_thread(-1005001) == 7
    await store.set_thread(-1005001, None)
    assert await store.get_thread(-1005001) is None

    assert await store.channel_link(42) is None
    await store.link_channel(42, -1009001, "@arxiv_lab", user_id=42)
    await store.link_channel(42, -1009002, "Lab papers", user_id=42)
    link = await store.channel_link(42)
    assert link == ChannelLink(42, -1009002, "Lab papers", active=True)
    assert link.ref == "-1009002"  # no public name: linked again by its id
    await store.set_channel_active(42, False)
    assert await store.channel_link(42) == ChannelLink(42, -1009002, "Lab papers", active=False)
    await store.link_channel(42, -1009001, "@arxiv_lab", user_id=42)
    relinked = await store.channel_link(42)
    assert relinked is not None
    assert (relinked.active, relinked.ref) == (True, "@arxiv_lab")
    assert await store.unlink_channel(42)
    assert not await store.unlink_channel(42)
    assert await store.channel_link(42) is None


async def test_chat_language_is_unset_until_chosen_and_follows_a_supergroup(store: Store) -> None:
    """A new chat has no language; the first one set sticks against only_if_unset, /lang
    overrides it, and a group that becomes a supergroup keeps it (migration 6)."""
    await store.ensure_chat(-5, EIGHT, "UTC")
    assert await store.language_of(-5) is None
    assert await store.language_of(404) is None  # an unknown chat
    await store.set_language(-5, "zh", only_if_unset=True)
    await store.set_language(-5, "en", only_if_unset=True)
    assert await store.language_of(-5) == "zh"
    await store.set_language(-5, "en")
    assert await store.language_of(-5) == "en"
    await store.move_chat(-5, -1005)
    assert await store.language_of(-1005) == "en"
