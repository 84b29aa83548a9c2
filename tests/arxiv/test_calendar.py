"""Tests for bot.arxiv.calendar: arXiv's announcement days, poll times, stale feeds, headers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.arxiv.calendar import (
    ARXIV_HOLIDAYS,
    ARXIV_TZ,
    HOLIDAYS_KNOWN_THROUGH,
    STALE_RETRY_DELAYS,
    announced_through,
    announces_on_evening,
    calendar_out_of_date,
    covered_days,
    days_label,
    eastern_date,
    is_announcement_day,
    is_stale,
    last_announcement_day,
    next_daily_poll,
    next_poll_time,
    stale_retry_delay,
)
from bot.arxiv.feeds import parse_feed

FIXTURES = Path(__file__).parents[1] / "fixtures" / "arxiv"
TRUNCATED = FIXTURES / "atom-cs.AI-2025-08-20-truncated.xml"
SUNDAY_EMPTY = FIXTURES / "atom-cs-2025-11-23-sunday-empty.xml"
TEN_MINUTES = dt.timedelta(minutes=10)


def eastern(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """An aware moment in New York time."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=ARXIV_TZ)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=dt.UTC)


class FakeClock:
    """A wall clock that only moves when the test says so."""

    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def advance_to(self, moment: dt.datetime) -> None:
        assert moment > self.now, "time only moves forward"
        self.now = moment


# Announcement days ----------------------------------------------------------------------------


def test_feeds_dated_monday_to_friday_carry_papers() -> None:
    """The feed dated Mon-Fri carries the previous evening's announcement (Sun-Thu)."""
    week = [dt.date(2025, 8, 18) + dt.timedelta(days=n) for n in range(7)]  # Mon..Sun
    assert [is_announcement_day(day) for day in week] == [True] * 5 + [False, False]


def test_arxiv_announces_sunday_to_thursday_evenings() -> None:
    """arXiv announces at 20:00 on Sunday to Thursday, never on Friday or Saturday."""
    week = [dt.date(2025, 8, 17) + dt.timedelta(days=n) for n in range(7)]  # Sun..Sat
    assert [announces_on_evening(day) for day in week] == [True] * 5 + [False, False]


def test_the_feed_after_a_holiday_evening_is_empty() -> None:
    """No announcement on Thanksgiving evening (Thu 27 Nov 2025): Friday's feed is empty,
    while Thursday's (Wednesday evening's announcement) is not."""
    assert not announces_on_evening(dt.date(2025, 11, 27))
    assert is_announcement_day(dt.date(2025, 11, 27))
    assert not is_announcement_day(dt.date(2025, 11, 28))


def test_a_sunday_holiday_empties_mondays_feed() -> None:
    """arXiv's own list holds Sunday 6 July 2025: no feed on Monday 7 July."""
    assert not is_announcement_day(dt.date(2025, 7, 7))
    assert is_announcement_day(dt.date(2025, 7, 8))


def test_holiday_data_covers_the_years_it_claims() -> None:
    """The hard-coded schedule has dates for every year from 2024 to HOLIDAYS_KNOWN_THROUGH,
    and none outside it (a stray year would be a typo)."""
    years = {day.year for day in ARXIV_HOLIDAYS}
    assert years == set(range(2024, HOLIDAYS_KNOWN_THROUGH + 1))


def test_the_calendar_is_out_of_date_in_a_year_it_has_no_holidays_for() -> None:
    """The table has entries for 2024 to 2026: up to date on their days; out of date from
    1 January 2027 (the first day of a year without entries) and every year after."""
    assert not calendar_out_of_date(dt.date(2024, 3, 1))
    assert not calendar_out_of_date(dt.date(2026, 12, 31))
    assert calendar_out_of_date(dt.date(2027, 1, 1))
    assert calendar_out_of_date(dt.date(2031, 6, 15))


def test_eastern_date_needs_an_aware_moment() -> None:
    """A naive datetime is refused: its time zone would be a guess."""
    with pytest.raises(ValueError, match="aware"):
        eastern_date(dt.datetime(2025, 1, 1))  # noqa: DTZ001 - the point of the test


# Poll times -----------------------------------------------------------------------------------


def test_poll_is_ten_minutes_after_the_next_midnight_in_new_york() -> None:
    """On a Tuesday evening the next poll is Wednesday 00:10 EDT (04:10 UTC in summer)."""
    when = next_poll_time(eastern(2025, 8, 19, 21, 0))
    assert when == eastern(2025, 8, 20, 0, 10)
    assert when.astimezone(dt.UTC) == utc(2025, 8, 20, 4, 10)


def test_poll_today_if_its_time_has_not_come() -> None:
    """At 00:05 the 00:10 poll of the same day is next; at 00:10 it is the next day's."""
    assert next_poll_time(eastern(2025, 8, 20, 0, 5)) == eastern(2025, 8, 20, 0, 10)
    assert next_poll_time(eastern(2025, 8, 20, 0, 10)) == eastern(2025, 8, 21, 0, 10)


def test_polls_are_daily_whatever_the_calendar_says() -> None:
    """The bot polls 10 minutes after every midnight rebuild: from Thanksgiving morning the
    next polls are Friday, Saturday, Sunday, Monday 00:10; the delay is the caller's."""
    now, whens = eastern(2025, 11, 27, 9, 0), []
    for _ in range(4):
        now = next_daily_poll(now)
        whens.append(now)
    assert whens == [eastern(2025, 11, d, 0, 10) for d in (28, 29, 30)] + [
        eastern(2025, 12, 1, 0, 10)
    ]
    assert next_daily_poll(eastern(2025, 8, 20, 0, 5)) == eastern(2025, 8, 20, 0, 10)
    assert next_daily_poll(eastern(2025, 8, 23, 1, 0), dt.timedelta(minutes=45)) == eastern(
        2025, 8, 24, 0, 45
    )


def test_daily_polls_follow_new_york_across_the_march_switch() -> None:
    """Over the switch to daylight saving time (8 March 2026) the poll stays 00:10 in New York."""
    sunday = next_daily_poll(eastern(2026, 3, 7, 12, 0))
    monday = next_daily_poll(sunday)
    assert sunday.astimezone(dt.UTC) == utc(2026, 3, 8, 5, 10)
    assert monday.astimezone(dt.UTC) == utc(2026, 3, 9, 4, 10)


# The next feed with papers: a poll is late when it has not fetched it (for /healthz).


def test_weekend_is_skipped() -> None:
    """From Friday morning (after Friday's feed) the next feed with papers is Monday's, due at
    00:10."""
    assert next_poll_time(eastern(2025, 8, 22, 9, 0)) == eastern(2025, 8, 25, 0, 10)
    assert next_poll_time(eastern(2025, 8, 23, 12, 0)) == eastern(2025, 8, 25, 0, 10)


def test_holiday_is_skipped() -> None:
    """After Thanksgiving Thursday's feed, Friday's is empty: the next feed with papers is
    Monday's."""
    assert next_poll_time(eastern(2025, 11, 27, 9, 0)) == eastern(2025, 12, 1, 0, 10)


def test_delay_is_configurable() -> None:
    """The delay after the rebuild is the caller's (POLL_DELAY_MINUTES)."""
    assert next_poll_time(eastern(2025, 8, 19, 21, 0), dt.timedelta(minutes=45)) == eastern(
        2025, 8, 20, 0, 45
    )


def test_poll_times_follow_new_york_across_the_march_switch() -> None:
    """With a fake clock stepping from poll to poll through 9 March 2025 (clocks go forward),
    every poll is at 00:10 New York time: 05:10 UTC before the switch, 04:10 UTC after."""
    clock = FakeClock(eastern(2025, 3, 5, 12, 0))
    polls: list[dt.datetime] = []
    for _ in range(6):
        clock.advance_to(next_poll_time(clock.now, TEN_MINUTES))
        polls.append(clock.now)
    assert [p.date() for p in polls] == [
        dt.date(2025, 3, 6),
        dt.date(2025, 3, 7),
        dt.date(2025, 3, 10),
        dt.date(2025, 3, 11),
        dt.date(2025, 3, 12),
        dt.date(2025, 3, 13),
    ]
    assert {(p.hour, p.minute) for p in polls} == {(0, 10)}
    assert [p.astimezone(dt.UTC).hour for p in polls] == [5, 5, 4, 4, 4, 4]


def test_poll_times_follow_new_york_across_the_november_switch() -> None:
    """Through 2 November 2025 (clocks go back) polls stay at 00:10 local: 04:10 UTC, then
    05:10 UTC."""
    clock = FakeClock(eastern(2025, 10, 30, 12, 0))
    polls: list[dt.datetime] = []
    for _ in range(3):
        clock.advance_to(next_poll_time(clock.now))
        polls.append(clock.now)
    assert [p.date() for p in polls] == [
        dt.date(2025, 10, 31),
        dt.date(2025, 11, 3),
        dt.date(2025, 11, 4),
    ]
    assert [p.astimezone(dt.UTC).hour for p in polls] == [4, 5, 5]
    assert {p.utcoffset() for p in polls[1:]} == {dt.timedelta(hours=-5)}


def test_next_poll_time_is_aware_and_in_new_york() -> None:
    """The result can be handed to the JobQueue as is."""
    when = next_poll_time(utc(2025, 8, 20, 12, 0))
    assert when.tzinfo is not None
    assert when.tzinfo == ARXIV_TZ


# Stale feeds ----------------------------------------------------------------------------------


def test_real_feed_is_fresh_on_its_day_and_stale_the_next() -> None:
    """The real cs.AI feed built 2025-08-20 04:00 UTC (00:00 EDT) is fresh at 00:10 that day,
    and stale when polled at 00:10 on the 21st: it still carries the 20th."""
    feed = parse_feed(TRUNCATED.read_bytes())
    dates = [paper.announced for paper in feed.papers if paper.announced]
    assert not is_stale(feed.updated, dates, eastern(2025, 8, 20, 0, 10))
    assert is_stale(feed.updated, dates, eastern(2025, 8, 21, 0, 10))


def test_empty_weekend_feed_is_fresh_on_its_day() -> None:
    """The real empty Sunday feed (built 00:00 EST) is not stale on Sunday, but is on Monday
    when the rebuild has not happened yet."""
    feed = parse_feed(SUNDAY_EMPTY.read_bytes())
    assert feed.papers == ()
    assert not is_stale(feed.updated, [], eastern(2025, 11, 23, 8, 0))
    assert is_stale(feed.updated, [], eastern(2025, 11, 24, 0, 10))


def test_items_from_an_earlier_day_make_a_rebuilt_feed_stale() -> None:
    """A channel dated today whose newest item is from yesterday still carries yesterday."""
    updated = utc(2025, 8, 21, 4, 0, 5)
    assert is_stale(updated, [dt.date(2025, 8, 20)], eastern(2025, 8, 21, 0, 10))
    assert not is_stale(updated, [dt.date(2025, 8, 21)], eastern(2025, 8, 21, 0, 10))


def test_feed_without_dates_cannot_be_stale() -> None:
    """With no channel date and no item dates there is nothing to judge: fresh."""
    assert not is_stale(None, [], eastern(2025, 8, 21, 0, 10))


def test_stale_retries_are_bounded() -> None:
    """Retries come 15, 30 and 60 minutes after the first poll, then stop."""
    delays = [stale_retry_delay(n) for n in (1, 2, 3)]
    assert delays == [dt.timedelta(minutes=m) for m in (15, 30, 60)]
    assert tuple(delays) == STALE_RETRY_DELAYS
    assert stale_retry_delay(4) is None
    assert stale_retry_delay(0) is None


# Digest coverage and header -------------------------------------------------------------------


def march(day: int) -> dt.date:
    return dt.date(2024, 3, day)


def test_monday_digest_after_thursdays_names_friday_to_monday() -> None:
    """After Thursday's digest, Monday's names the announcement days since: Friday and
    Monday, as the example digest's heading does ("2024-03-08--2024-03-11"); the weekend has
    no announcement."""
    days = covered_days(march(7), march(11))
    assert days == [march(8), march(11)]
    assert days_label(days) == "Fri 8 Mar \u2013 Mon 11 Mar"


def test_monday_digest_after_fridays_names_monday() -> None:
    """After a digest that named Friday, Monday's names Monday alone (not the weekend), and
    Tuesday's after Monday's names Tuesday."""
    assert covered_days(march(8), march(11)) == [march(11)]
    assert days_label(covered_days(march(8), march(11))) == "Mon 11 Mar"
    assert covered_days(march(11), march(12)) == [march(12)]


def test_digest_after_a_holiday_skips_the_empty_day() -> None:
    """Thanksgiving evening has no announcement, so the next day's feed is empty: after
    Wednesday's digest, Monday's names Thursday and Monday; after Thursday's, Monday alone.
    An arXiv holiday on a Monday evening empties Tuesday likewise."""
    days = covered_days(dt.date(2025, 11, 26), dt.date(2025, 12, 1))
    assert days == [dt.date(2025, 11, 27), dt.date(2025, 12, 1)]
    assert days_label(days) == "Thu 27 Nov \u2013 Mon 1 Dec"
    assert covered_days(dt.date(2025, 11, 27), dt.date(2025, 12, 1)) == [dt.date(2025, 12, 1)]
    # 20 January 2025 (a Monday evening): no feed on Tuesday the 21st.
    assert covered_days(dt.date(2025, 1, 20), dt.date(2025, 1, 22)) == [dt.date(2025, 1, 22)]


def test_first_digest_names_its_papers_days() -> None:
    """A chat's first digest, or a second one after the same announcement, names the days
    its papers were announced, earliest to latest; one day is one date."""
    assert covered_days(None, march(11), [march(8), march(11), march(8)]) == [march(8), march(11)]
    assert covered_days(march(11), march(11), [march(7)]) == [march(7)]
    assert days_label(covered_days(None, march(11), [march(11)])) == "Mon 11 Mar"
    assert covered_days(None, march(11)) == []


def test_a_new_keywords_earlier_papers_widen_the_range() -> None:
    """Papers announced before the previous digest (a new keyword's look-back) are named."""
    days = covered_days(march(8), march(11), [march(5)])
    assert days_label(days) == "Tue 5 Mar \u2013 Mon 11 Mar"


def test_a_paused_chat_gets_every_announcement_day_since_within_max_days() -> None:
    """A chat back after two weeks gets every announcement day since its last digest; after
    months, those of the last `max_days` days only."""
    days = covered_days(march(4), march(18))
    assert days == [march(d) for d in (5, 6, 7, 8, 11, 12, 13, 14, 15, 18)]
    assert covered_days(march(4), march(18), max_days=7) == [march(d) for d in (12, 13, 14, 15, 18)]
    long_ago = covered_days(dt.date(2023, 12, 1), march(18), max_days=7)
    assert long_ago == [march(d) for d in (12, 13, 14, 15, 18)]
    with pytest.raises(ValueError, match="max_days"):
        covered_days(None, march(18), max_days=0)


@settings(max_examples=300, deadline=None)
@given(
    covered=st.none() | st.dates(dt.date(2023, 12, 1), dt.date(2026, 12, 31)),
    through=st.dates(dt.date(2024, 1, 1), dt.date(2026, 12, 31)),
    announced=st.lists(st.dates(dt.date(2024, 1, 1), dt.date(2026, 12, 31)), max_size=4),
    max_days=st.integers(1, 40),
)
def test_covered_days_are_announcements_since_and_the_papers_days(
    covered: dt.date | None, through: dt.date, announced: list[dt.date], max_days: int
) -> None:
    """Whatever the dates: sorted and distinct; every paper's day; besides those, only
    announcement days after `covered`, up to `through`, within `max_days` days of it; and
    all of those."""
    days = covered_days(covered, through, announced, max_days=max_days)
    assert days == sorted(set(days))
    assert set(announced) <= set(days)
    span = set(days) - set(announced)
    assert all(is_announcement_day(day) for day in span)
    if covered is None:
        assert not span
        return
    window = [through - dt.timedelta(days=n) for n in range(max_days)]
    expected = {day for day in window if day > covered and is_announcement_day(day)}
    assert set(days) == expected | set(announced)


def test_announced_through_is_the_newest_announcement_polled() -> None:
    """The newest announcement day whose papers are in: not before its feed was polled,
    never a weekend or the day after a holiday, today's when no feed day is known."""
    monday = eastern(2024, 3, 11, 8, 0)
    assert announced_through(monday, march(11)) == march(11)
    assert announced_through(eastern(2024, 3, 11, 0, 5), march(10)) == march(8)  # not polled
    assert announced_through(eastern(2024, 3, 9, 12, 0), march(9)) == march(8)  # Saturday
    assert announced_through(monday, None) == march(11)
    assert announced_through(monday, march(12)) == march(11)  # a feed day ahead of the clock
    assert last_announcement_day(dt.date(2025, 11, 28)) == dt.date(2025, 11, 27)
    assert last_announcement_day(march(11)) == march(11)


def test_label_shows_years_across_new_year() -> None:
    """A range over New Year names both years (and skips the holidays in it); years can
    also be asked for."""
    days = covered_days(dt.date(2024, 12, 27), dt.date(2025, 1, 3))
    assert days == [dt.date(2024, 12, 30), dt.date(2024, 12, 31), dt.date(2025, 1, 3)]
    assert days_label(days) == "Mon 30 Dec 2024 \u2013 Fri 3 Jan 2025"
    assert days_label([dt.date(2025, 8, 20)], with_year=True) == "Wed 20 Aug 2025"
    assert days_label([]) == ""
