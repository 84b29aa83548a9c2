"""arXiv's announcement calendar: when feeds are rebuilt, which days carry papers (pure).

arXiv announces Sunday to Thursday at 20:00 US/Eastern; the RSS/Atom feeds are rebuilt at the
following midnight, so the feed dated D (a US/Eastern date) carries the announcement made on
the evening of D - 1. Feeds dated Saturday and Sunday are empty, and so is the feed after an
evening on which arXiv defers its mailing for a holiday.

The bot polls after every midnight rebuild (`next_daily_poll`), weekends and holidays included:
a wrong or missing holiday must never cost a day of papers, and an unchanged feed costs one
conditional GET. The holiday table only labels days and tells when a feed is late
(`next_poll_time`, for /healthz); `calendar_out_of_date` says when it needs its yearly update.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

ARXIV_TZ = ZoneInfo("America/New_York")

# arXiv's own holiday schedule: evenings on which it makes no announcement, as published under
# "On Deferred Mailings" at https://info.arxiv.org/help/availability.html (the source of that
# page is arXiv/arxiv-docs, source/help/availability.md). It is not a list of US federal
# holidays (e.g. 6 July 2025 is a Sunday, 22 May 2024 was ad hoc), so it cannot be computed.
# Copied from:
#   2024: the page as quoted in DCoEngine/PCoCrawler arxiv_time.py (the 2024 page itself is gone)
#   2025: arXiv/arxiv-docs commit 782dfdf ("December Holidays are not yet scheduled" there; the
#         December 2025 dates were not found in any stored copy, so none are listed)
#   2026: the page as captured in November 2026 (complete, December included)
#   2027: not published yet.
# UPDATE THIS EVERY YEAR (arXiv publishes the next year's dates in December) and move
# HOLIDAYS_KNOWN_THROUGH; in a year without entries the bot warns in its log and in /healthz.
# A wrong or missing date costs no papers: polls do not depend on this table.
# Listed Fridays (no announcement anyway) are kept so the list matches arXiv's page.
ARXIV_HOLIDAYS: frozenset[dt.date] = frozenset(
    dt.date.fromisoformat(day)
    for day in (
        # 2024
        "2024-01-15",
        "2024-05-22",
        "2024-06-19",
        "2024-07-04",
        "2024-09-02",
        "2024-11-28",
        "2024-12-25",
        "2024-12-26",
        "2024-12-31",
        # 2025 (December not scheduled in the copy found)
        "2025-01-01",
        "2025-01-20",
        "2025-06-19",
        "2025-07-06",
        "2025-09-01",
        "2025-11-27",
        # 2026
        "2026-01-01",
        "2026-01-19",
        "2026-06-19",
        "2026-07-03",
        "2026-09-07",
        "2026-11-26",
        "2026-12-25",
        "2026-12-29",
        "2026-12-31",
    )
)
# The last year whose holidays are all in ARXIV_HOLIDAYS; later dates assume no holidays.
HOLIDAYS_KNOWN_THROUGH = 2026

# Stale feed (not rebuilt yet): poll again this long after the first poll, then give up until
# the next rebuild. Bounded so a feed that never changes (an unlisted holiday) costs 4 requests.
STALE_RETRY_DELAYS: tuple[dt.timedelta, ...] = (
    dt.timedelta(minutes=15),
    dt.timedelta(minutes=30),
    dt.timedelta(minutes=60),
)

_ANNOUNCING_EVENINGS = frozenset({6, 0, 1, 2, 3})  # date.weekday(): Sunday to Thursday
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EN_DASH = "\u2013"
_SEARCH_DAYS = 60  # far more than any run of weekends and holidays


def eastern_date(moment: dt.datetime) -> dt.date:
    """The US/Eastern calendar date of an aware moment (arXiv's feeds are dated this way)."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    return moment.astimezone(ARXIV_TZ).date()


def announces_on_evening(day: dt.date) -> bool:
    """Whether arXiv makes an announcement at 20:00 US/Eastern on this date."""
    return day.weekday() in _ANNOUNCING_EVENINGS and day not in ARXIV_HOLIDAYS


def is_announcement_day(day: dt.date) -> bool:
    """Whether the feed dated `day` (rebuilt at 00:00 US/Eastern that day) carries papers.

    True Monday to Friday, except the day after an arXiv holiday evening; the feeds dated
    Saturday and Sunday are always empty.
    """
    return announces_on_evening(day - dt.timedelta(days=1))


def rebuild_time(day: dt.date) -> dt.datetime:
    """When the feed dated `day` is rebuilt: 00:00 US/Eastern (EST or EDT as it applies)."""
    # Midnight always exists in New York: the clocks change at 02:00.
    return dt.datetime.combine(day, dt.time(), tzinfo=ARXIV_TZ)


def next_daily_poll(
    now: dt.datetime, delay: dt.timedelta = dt.timedelta(minutes=10)
) -> dt.datetime:
    """The first midnight rebuild (of any day), plus `delay`, strictly after `now`: when the
    bot polls next, whatever the calendar says of that day's feed.

    The result is aware, in America/New_York. The delay is added in real (UTC) time, so it
    stays exact across a daylight-saving switch.
    """
    day = eastern_date(now)
    while True:  # today's rebuild, or else tomorrow's: at most two turns
        when = (rebuild_time(day).astimezone(dt.UTC) + delay).astimezone(ARXIV_TZ)
        if when > now:
            return when
        day += dt.timedelta(days=1)


def next_poll_time(now: dt.datetime, delay: dt.timedelta = dt.timedelta(minutes=10)) -> dt.datetime:
    """The first rebuild of a feed with papers, plus `delay`, strictly after `now`: by then a
    poll is due, and a bot that has not polled since is late (/healthz judges by it).

    The result is aware, in America/New_York. Days whose feed the calendar says is empty
    (weekends, the day after a holiday) are skipped; the bot still polls them
    (`next_daily_poll`). The delay is added in real (UTC) time, so it stays exact across a
    daylight-saving switch.
    """
    day = eastern_date(now)
    for _ in range(_SEARCH_DAYS):
        if is_announcement_day(day):
            when = (rebuild_time(day).astimezone(dt.UTC) + delay).astimezone(ARXIV_TZ)
            if when > now:
                return when
        day += dt.timedelta(days=1)
    raise RuntimeError(f"no arXiv announcement within {_SEARCH_DAYS} days of {now}")


def calendar_out_of_date(today: dt.date) -> bool:
    """Whether the holiday table has no entries for `today`'s year: it needs its yearly update
    (until then, days are labelled and late feeds judged as if that year had no holidays)."""
    return all(day.year != today.year for day in ARXIV_HOLIDAYS)


def current_feed_day(now: dt.datetime) -> dt.date:
    """The date of the feed arXiv serves at `now` (its last rebuild was at 00:00 that day)."""
    return eastern_date(now)


def is_stale(
    feed_updated: dt.datetime | None, item_dates: Iterable[dt.date], now: dt.datetime
) -> bool:
    """Whether the feed still carries an earlier day than the one due at `now`.

    It is stale when the channel's build time (Atom `updated`, RSS `lastBuildDate`) is before
    today's 00:00 US/Eastern rebuild, or when its newest item is dated before today. A feed
    with neither date cannot be judged and is taken as fresh. A fresh but empty feed is not
    stale: that is a day without announcements (or an unlisted holiday).
    """
    today = current_feed_day(now)
    if feed_updated is not None:
        if feed_updated.tzinfo is None:
            feed_updated = feed_updated.replace(tzinfo=dt.UTC)
        if feed_updated < rebuild_time(today):
            return True
    newest = max(item_dates, default=None)
    return newest is not None and newest < today


def stale_retry_delay(attempt: int) -> dt.timedelta | None:
    """How long after the first poll to try again after the `attempt`-th stale answer (1-based).

    None when the retries are used up: the next try is the next scheduled poll.
    """
    if 1 <= attempt <= len(STALE_RETRY_DELAYS):
        return STALE_RETRY_DELAYS[attempt - 1]
    return None


def last_announcement_day(day: dt.date) -> dt.date:
    """The latest announcement day (a feed with papers) on or before `day`."""
    for _ in range(_SEARCH_DAYS):
        if is_announcement_day(day):
            return day
        day -= dt.timedelta(days=1)
    raise RuntimeError(f"no arXiv announcement within {_SEARCH_DAYS} days before {day}")


def announced_through(now: dt.datetime, feed_day: dt.date | None) -> dt.date:
    """The newest announcement day whose papers the bot has at `now`: the last announcement
    day on or before both today (US/Eastern) and `feed_day`, the newest feed day ingested
    (None: not known, taken as today). Until a day's feed is polled, its papers are not in."""
    today = eastern_date(now)
    return last_announcement_day(today if feed_day is None else min(today, feed_day))


def covered_days(
    covered: dt.date | None,
    through: dt.date,
    announced: Iterable[dt.date] = (),
    *,
    max_days: int = 31,
) -> list[dt.date]:
    """The announcement days a digest names, in order: every announcement day after
    `covered` (the last one its chat's previous digest named; None: it has none) up to
    `through` (`announced_through`), within the last `max_days` days, and the days its
    papers were announced (`announced`: a new keyword brings earlier ones).

    After Thursday's digest, Monday's names Friday and Monday ("Fri 8 Mar – Mon 11 Mar"):
    weekends and the day after an arXiv holiday have no announcement. A chat's first
    digest, or a second one after the same announcement, names its papers' days only.
    """  # noqa: RUF002 - the en dash is the typographic range sign the header uses
    if max_days < 1:
        raise ValueError("max_days must be at least 1")
    days = set(announced)
    if covered is not None:
        day = max(covered, through - dt.timedelta(days=max_days))
        while (day := day + dt.timedelta(days=1)) <= through:
            if is_announcement_day(day):
                days.add(day)
    return sorted(days)


def format_day(day: dt.date, *, with_year: bool = False) -> str:
    """ "Fri 8 Mar" (or "Fri 8 Mar 2024"), in English whatever the locale."""
    text = f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]}"
    return f"{text} {day.year}" if with_year else text


def days_label(
    days: Sequence[dt.date],
    *,
    with_year: bool = False,
    formatter: Callable[..., str] = format_day,
    year_first: bool = False,
) -> str:
    """A digest header's dates: "Mon 11 Mar", or "Fri 8 Mar – Mon 11 Mar" for several days.

    Years are shown when asked for (on the last day, or with `year_first` on the first, as
    Chinese writes ranges), and on both days when the range spans a new year. `formatter`
    (called as `format_day` is) writes one day, in another language for instance.
    """  # noqa: RUF002 - the en dash is the typographic range sign the header uses
    if not days:
        return ""
    first, last = min(days), max(days)
    if first == last:
        return formatter(first, with_year=with_year)
    spans_years = first.year != last.year
    start = formatter(first, with_year=(with_year and year_first) or spans_years)
    end = formatter(last, with_year=(with_year and not year_first) or spans_years)
    return f"{start} {_EN_DASH} {end}"
