"""Tests for bot.arxiv.calendar: arXiv's announcement days, poll times, stale feeds, headers."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from bot.arxiv.calendar import (
    ARXIV_HOLIDAYS,
    ARXIV_TZ,
    HOLIDAYS_KNOWN_THROUGH,
    STALE_RETRY_DELAYS,
    announces_on_evening,
    calendar_out_of_date,
    covered_days,
    days_label,
    eastern_date,
    is_announcement_day,
    is_stale,
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


def test_monday_digest_covers_the_weekend() -> None:
    """After Thursday's digest, Monday's covers Friday to Monday and says so."""
    days = covered_days(dt.date(2024, 3, 7), dt.date(2024, 3, 11))
    assert days == [dt.date(2024, 3, n) for n in (8, 9, 10, 11)]
    assert days_label(days) == "Fri 8 Mar \u2013 Mon 11 Mar"


def test_digest_after_a_holiday_covers_it() -> None:
    """After Wednesday's digest, the next is Monday's (Thanksgiving and the empty Friday):
    it covers Thursday to Monday."""
    days = covered_days(dt.date(2025, 11, 26), dt.date(2025, 12, 1))
    assert days_label(days) == "Thu 27 Nov \u2013 Mon 1 Dec"


def test_first_digest_covers_today() -> None:
    """A chat that never had a digest, or already had one today, gets today only."""
    assert covered_days(None, dt.date(2025, 8, 20)) == [dt.date(2025, 8, 20)]
    assert covered_days(dt.date(2025, 8, 20), dt.date(2025, 8, 20)) == [dt.date(2025, 8, 20)]
    assert days_label([dt.date(2025, 8, 20)]) == "Wed 20 Aug"


def test_coverage_is_capped() -> None:
    """A chat back after months is covered for the last max_days days only."""
    days = covered_days(dt.date(2025, 1, 1), dt.date(2025, 8, 20), max_days=7)
    assert days == [dt.date(2025, 8, 14) + dt.timedelta(days=n) for n in range(7)]
    with pytest.raises(ValueError, match="max_days"):
        covered_days(None, dt.date(2025, 8, 20), max_days=0)


def test_label_shows_years_across_new_year() -> None:
    """A range over New Year names both years; years can also be asked for."""
    days = covered_days(dt.date(2024, 12, 30), dt.date(2025, 1, 2))
    assert days_label(days) == "Tue 31 Dec 2024 \u2013 Thu 2 Jan 2025"
    assert days_label([dt.date(2025, 8, 20)], with_year=True) == "Wed 20 Aug 2025"
    assert days_label([]) == ""
