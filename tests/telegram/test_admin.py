"""/stats, the admins' command: "today" is since 00:00 in the time zone of the admin's chat,
and the 429 and retry counts survive a restart."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator

import pytest

from bot.config import Config
from bot.i18n.translate import CHINESE, ENGLISH, translator
from bot.services import Services
from bot.storage.deliveries import REFUSED
from bot.telegram.admin import local_midnight, stats_text
from tests.conftest import StartBot, noon_zone, pipeline
from tests.excerpt import excerpt_papers
from tests.fakes import FakeBotAPI
from tests.fakes.clock import FakeClock

ADMIN = 777
CHAT = 4242
UTC = dt.UTC
# 03:00 UTC: 11:00 in Shanghai (since 16:00 UTC the day before), 20:00 the day before in Los
# Angeles (daylight time since 2026-03-08; since 07:00 UTC).
NOW = dt.datetime(2026, 3, 10, 3, 0, tzinfo=UTC)


def at(hour: int, minute: int, day: int = 9) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "zone", "midnight"),
    [
        (NOW, "UTC", at(0, 0, day=10)),
        (NOW, "Asia/Shanghai", at(16, 0)),
        (NOW, "America/Los_Angeles", at(7, 0)),
        (NOW, "Asia/Kolkata", at(18, 30)),
        # The day summer time began in Los Angeles: its midnight was still standard time.
        (at(20, 0, day=8), "America/Los_Angeles", at(8, 0, day=8)),
        # Chile skips 00:00 to 01:00 on 2026-09-06: the day begins at 01:00 (04:00 UTC).
        (
            dt.datetime(2026, 9, 6, 15, 0, tzinfo=UTC),
            "America/Santiago",
            dt.datetime(2026, 9, 6, 4, 0, tzinfo=UTC),
        ),
    ],
)
def test_today_begins_at_local_midnight(now: dt.datetime, zone: str, midnight: dt.datetime) -> None:
    """Today begins at 00:00 in the zone, as of `now` (or at the day's first moment when a
    clock change skips 00:00), given in UTC."""
    assert local_midnight(now, zone) == midnight


@pytest.fixture
async def services(config: Config) -> AsyncIterator[tuple[Services, FakeClock]]:
    """Services on a fake clock, with a day of activity around midnight in Shanghai and in
    Los Angeles."""
    clock = FakeClock(NOW.timestamp())
    async with pipeline(config, clock) as built:
        built.outbox.stats.clock = lambda: dt.datetime.fromtimestamp(clock.now, UTC)
        await busy_day(built, clock)
        yield built, clock


async def busy_day(services: Services, clock: FakeClock) -> None:
    """What happened: a digest (sent) and a 429 at each hour below, and more 429s and retries;
    some counts flushed to the database, the latest ones still in memory."""
    store, stats = services.store, services.outbox.stats
    await store.ensure_chat(CHAT, dt.time(8, 0), "UTC")
    first = excerpt_papers()[0]
    papers = [dataclasses.replace(first, arxiv_id=f"2403.0500{n}") for n in range(4)]
    await store.add_papers(papers)
    shown = iter(papers)

    async def digest(parts: int) -> None:
        # Only digests that carry papers count (a "nothing matched" line is a digest of none).
        paper = next(shown).arxiv_id
        parts_of = [(f"part {n}", [paper] if n == 0 else []) for n in range(parts)]
        await store.compose_digest(CHAT, parts_of, visible=9)
        for part in await store.pending_parts(CHAT):
            await store.mark_part_sent(part)

    clock.now = at(6, 50).timestamp()  # 23:50 the day before in Los Angeles, 14:50 Shanghai
    await digest(parts=1)
    stats.note("too_many")
    await stats.flush(store)
    clock.now = at(15, 50).timestamp()  # 23:50 in Shanghai, 08:50 in Los Angeles
    await digest(parts=2)
    stats.note("too_many")
    stats.note("retries")
    await stats.flush(store)
    stats.note("network_retries")  # noted at 23:50 in Shanghai; still in memory
    clock.now = at(16, 5).timestamp()  # 00:05 in Shanghai
    await digest(parts=1)
    await store.compose_digest(CHAT, [("refused", [next(shown).arxiv_id])], visible=9)
    await store.end_parts(await store.pending_parts(CHAT), REFUSED)
    stats.note("too_many", 2)
    await stats.flush(store)
    clock.now = at(2, 30, day=10).timestamp()  # 02:30 UTC, 10:30 in Shanghai
    stats.note("too_many")
    stats.note("retries", 3)
    clock.now = NOW.timestamp()


@pytest.mark.parametrize(
    ("zone", "today"),
    [
        ("Asia/Shanghai", "2 digests, 1 messages sent\n3 answers 429, 3 retries\n1 digest"),
        ("America/Los_Angeles", "3 digests, 3 messages sent\n4 answers 429, 5 retries\n1 digest"),
        ("UTC", "0 digests, 0 messages sent\n1 answers 429, 3 retries\n0 digest"),
    ],
)
async def test_stats_count_only_since_the_admins_midnight(
    services: tuple[Services, FakeClock], zone: str, today: str
) -> None:
    """Digests, messages sent, 429s, retries and parts refused count from 00:00 in the
    admin's zone; the counts in the database and those not flushed yet each count once;
    the totals (chats, outbox) do not depend on the zone."""
    built, _ = services
    text = await stats_text(built, translator(ENGLISH), zone, NOW)
    assert f"<b>Today</b> (since 00:00 {zone}):\n{today}" in text
    assert "Chats: 1 (1 active)" in text
    assert "Outbox: 0 parts pending" in text


async def test_stats_in_chinese_name_the_day_and_the_zone(
    services: tuple[Services, FakeClock],
) -> None:
    """A Chinese admin chat reads today's figures under 今天, since 00:00 in its zone."""
    built, _ = services
    text = await stats_text(built, translator(CHINESE), "Asia/Shanghai", NOW)
    assert "<b>今天</b>（自 Asia/Shanghai 时间 00:00 起）：\n2 份推送，已发送 1 条消息" in text
    assert "3 次 429 应答，3 次重试" in text
    assert "1 条推送消息被 Telegram 拒绝" in text


async def test_429s_and_retries_survive_a_restart(
    start_bot: StartBot, telegram: FakeBotAPI
) -> None:
    """The real bot meets two 429s and retries: one saved by the minutely job, one still in
    memory when /stats counts both once; the bot stops (saving the other) and starts again,
    and /stats in the admin's chat still counts both today, since 00:00 in its time zone."""
    zone = noon_zone()
    async with start_bot(admin_ids=frozenset({ADMIN})) as bot:
        await bot.wait_for_papers(86)
        await bot.ask(f"/timezone {zone}", chat_id=ADMIN, user_id=ADMIN)
        telegram.fail_next(chat_id=ADMIN, status=429, retry_after=1)
        await bot.ask("/help", chat_id=ADMIN, user_id=ADMIN)
        await bot.run_job("counts")
        assert not bot.services.outbox.stats.unflushed
        telegram.fail_next(chat_id=ADMIN, status=429, retry_after=1)
        await bot.ask("/help", chat_id=ADMIN, user_id=ADMIN)
        assert bot.services.outbox.stats.unflushed
        (before,) = await bot.ask("/stats", chat_id=ADMIN, user_id=ADMIN)
    async with start_bot(admin_ids=frozenset({ADMIN})) as bot:
        await bot.wait_for_papers(86)
        (after,) = await bot.ask("/stats", chat_id=ADMIN, user_id=ADMIN)
    today = f"Today (since 00:00 {zone}):\n0 digests, 0 messages sent\n2 answers 429, 2 retries"
    assert today in before.plain_text
    assert today in after.plain_text
