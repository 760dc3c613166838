"""Business-hour calendars: when a team works, and business-minute arithmetic over it.

A calendar is a time zone, a weekly schedule with any number of intervals per day, a
country's public holidays (from the `holidays` package, which knows the Solar Hijri and
lunar dates), and extra closed and open dates. The rules, in order, for one local date:

1. an extra closed date is closed all day;
2. an extra open date is open: on its weekday's hours, or on `open_date_hours` when its
   weekday has none (a calendar must give those hours for such a date);
3. a public holiday of the calendar's country is closed all day;
4. otherwise the weekday's hours apply.

Time is measured in real elapsed minutes: a business minute is a minute of real time
inside an open interval. Interval boundaries are local wall-clock times, turned into
instants with two explicit rules for the days clocks change:

- a local time that does not exist (clocks jump forward over it) means the first
  instant at or after it on the wall clock, which is the moment of the jump;
- a local time that happens twice (clocks go back) means its first occurrence.

So on the day London springs forward an interval 01:30-03:00 holds 60 minutes
(02:00-03:00 BST), and on the day it falls back 00:00-02:00 holds 180 minutes.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

MINUTES_PER_DAY = 24 * 60
# Weekday keys of the JSON body, indexed by `date.weekday()` (Monday is 0).
WEEKDAY_KEYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The order the JSON body lists them in: the Iranian and Gulf weeks start on Saturday.
_JSON_WEEK_ORDER: tuple[str, ...] = ("sat", "sun", "mon", "tue", "wed", "thu", "fri")
# A search for the next open minute gives up after this many closed days in a row, so a
# calendar that never opens again raises instead of looping.
SEARCH_LIMIT_DAYS = 731
# Adding business minutes never walks further than this from the starting day: a
# deadline further away promises nothing useful, and the walk stays cheap (a few hundred
# days of lookups) however sparse the calendar or large the target.
WALK_LIMIT_DAYS = SEARCH_LIMIT_DAYS
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CLOCK = re.compile(r"([01]?[0-9]|2[0-4]):([0-5][0-9])")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_BODY_KEYS = frozenset({"timezone", "week", "holidays", "closed", "open", "open_date_hours"})


class CalendarError(ValueError):
    """A calendar definition that cannot be used; `problems` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class NoOpeningFound(LookupError):
    """The calendar has no open minute within the search limit after an instant."""


@dataclass(frozen=True, slots=True)
class OpeningInterval:
    """Open from `start` to `end`, in minutes after local midnight (`end` may be 1440)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_clock_text(self.start)}-{_clock_text(self.end)}"


DayHours = tuple[OpeningInterval, ...]


@dataclass(frozen=True, slots=True)
class BusinessCalendar:
    """When a team works. Build it with `calendar_from_json` or a preset; it checks itself.

    Attributes:
        name: letters, digits, `-` and `_`, at most 64.
        zone: the zone the schedule's wall-clock times are read in.
        week: seven `DayHours`, Monday first (`date.weekday()` order), each sorted,
            non-overlapping, empty for a closed weekday.
        holiday_country: ISO country code whose public holidays close the day, or None.
        closed_dates: local dates closed all day (beyond the holidays).
        open_dates: local dates open even when a holiday or a weekday without hours.
        open_date_hours: the hours of an open date whose weekday has none.
    """

    name: str
    zone: ZoneInfo
    week: tuple[DayHours, ...]
    holiday_country: str | None = None
    closed_dates: frozenset[date] = field(default_factory=frozenset)
    open_dates: frozenset[date] = field(default_factory=frozenset)
    open_date_hours: DayHours = ()

    def __post_init__(self) -> None:
        problems = _calendar_problems(self)
        if problems:
            raise CalendarError(problems)

    def hours_on(self, day: date) -> DayHours:
        """The local opening intervals of `day` after holidays and extra dates."""
        if day in self.closed_dates:
            return ()
        weekday_hours = self.week[day.weekday()]
        if day in self.open_dates:
            return weekday_hours or self.open_date_hours
        if self.holiday_country is not None and day in _public_holidays(
            self.holiday_country, day.year
        ):
            return ()
        return weekday_hours


def _calendar_problems(calendar: BusinessCalendar) -> list[str]:
    problems: list[str] = []
    if not _NAME.fullmatch(calendar.name):
        problems.append(f"name: {calendar.name!r} must be 1-64 letters, digits, '-' or '_'")
    if len(calendar.week) != len(WEEKDAY_KEYS):
        return [*problems, f"week: seven days are required, got {len(calendar.week)}"]
    for key, hours in zip(WEEKDAY_KEYS, calendar.week, strict=True):
        problems.extend(_day_problems(f"week.{key}", hours))
    problems.extend(_day_problems("open_date_hours", calendar.open_date_hours))
    if calendar.holiday_country is not None and (
        calendar.holiday_country not in _supported_countries()
    ):
        problems.append(
            f"holidays: {calendar.holiday_country!r} is not a country code the holidays "
            "package knows (e.g. IR, SA, AE)"
        )
    for day in sorted(calendar.closed_dates & calendar.open_dates):
        problems.append(f"{day.isoformat()} is both in closed and in open")
    if not calendar.open_date_hours:
        for day in sorted(calendar.open_dates):
            if not calendar.week[day.weekday()]:
                problems.append(
                    f"open: {day.isoformat()} is a {_WEEKDAY_NAMES[day.weekday()]}, which has "
                    "no hours in week; give open_date_hours for such dates"
                )
    return problems


def _day_problems(path: str, hours: DayHours) -> list[str]:
    problems: list[str] = []
    well_formed: list[OpeningInterval] = []
    for index, interval in enumerate(hours):
        if not 0 <= interval.start < MINUTES_PER_DAY or not 0 < interval.end <= MINUTES_PER_DAY:
            problems.append(f"{path}[{index}]: {interval} is outside 00:00-24:00")
        elif interval.start >= interval.end:
            problems.append(
                f"{path}[{index}]: {interval} ends before it starts; an interval may not "
                f"cross midnight: write it as {_clock_text(interval.start)}-24:00 and "
                f"00:00-{_clock_text(interval.end)} on the next day"
            )
        else:
            well_formed.append(interval)
    ordered = sorted(well_formed, key=lambda interval: interval.start)
    for earlier, later in itertools.pairwise(ordered):
        if later.start < earlier.end:
            problems.append(f"{path}: {earlier} overlaps {later}")
    if list(hours) != ordered and not problems:
        problems.append(f"{path}: intervals must be in order of their start")
    return problems


@functools.cache
def _supported_countries() -> frozenset[str]:
    return frozenset(holidays.list_supported_countries())


@functools.lru_cache(maxsize=512)
def _public_holidays(country: str, year: int) -> frozenset[date]:
    """The country's public holidays in `year`, computed once per country and year."""
    return frozenset(
        day for day in holidays.country_holidays(country, years=year) if day.year == year
    )


def public_holidays(country: str, year: int) -> dict[date, str]:
    """The country's public holidays in `year` with their names (for admins and docs)."""
    found = holidays.country_holidays(country, years=year)
    return {day: str(found[day]) for day in sorted(found) if day.year == year}


# ---- presets ------------------------------------------------------------------------


def _hours(*pairs: tuple[str, str]) -> DayHours:
    return tuple(OpeningInterval(_parse_clock(start), _parse_clock(end)) for start, end in pairs)


def iranian_week(name: str = "tehran") -> BusinessCalendar:
    """Saturday to Wednesday 09:00-17:00, Thursday 09:00-13:00, Friday closed; Iran's
    public holidays; Asia/Tehran (no daylight saving since 2022)."""
    full, short = _hours(("09:00", "17:00")), _hours(("09:00", "13:00"))
    return BusinessCalendar(
        name=name,
        zone=ZoneInfo("Asia/Tehran"),
        week=(full, full, full, short, (), full, full),
        holiday_country="IR",
    )


def gulf_week(name: str = "riyadh") -> BusinessCalendar:
    """Sunday to Thursday 09:00-17:00, Friday and Saturday closed; Saudi Arabia's public
    holidays; Asia/Riyadh."""
    full = _hours(("09:00", "17:00"))
    return BusinessCalendar(
        name=name,
        zone=ZoneInfo("Asia/Riyadh"),
        week=(full, full, full, full, (), (), full),
        holiday_country="SA",
    )


# ---- the JSON body --------------------------------------------------------------------


def calendar_from_json(name: str, body: object) -> BusinessCalendar:
    """The calendar a JSON body describes.

    Body: `{"timezone": "Asia/Tehran", "week": {"sat": [["09:00", "17:00"]], ...},
    "holidays": "IR", "closed": ["2027-03-21"], "open": [], "open_date_hours": [...]}`;
    only `timezone` and `week` are required, a weekday left out of `week` is closed.

    Raises:
        CalendarError: listing every problem found (unknown zone, country or weekday,
            bad clock time or date, inverted or overlapping intervals, ...).
    """
    if not isinstance(body, Mapping):
        raise CalendarError(["the calendar must be a JSON object"])
    problems = [f"{key}: unknown field" for key in sorted(set(body) - _BODY_KEYS, key=str)]
    zone = _parse_zone(body.get("timezone"), problems)
    week = _parse_week(body.get("week"), problems)
    country = body.get("holidays")
    if country is not None and not isinstance(country, str):
        problems.append("holidays: a country code string (e.g. IR) or null is required")
        country = None
    closed = _parse_dates("closed", body.get("closed", []), problems)
    opened = _parse_dates("open", body.get("open", []), problems)
    open_date_hours = _parse_day("open_date_hours", body.get("open_date_hours", []), problems)
    try:
        # Built even when parsing found problems, so one answer lists them all.
        calendar = BusinessCalendar(
            name=name,
            zone=zone or ZoneInfo("UTC"),
            week=week or ((),) * len(WEEKDAY_KEYS),
            holiday_country=country,
            closed_dates=closed,
            open_dates=opened,
            open_date_hours=open_date_hours,
        )
    except CalendarError as error:
        # Without a parsed week, what the calendar says about its hours is noise.
        problems.extend(
            problem
            for problem in error.problems
            if week is not None or not problem.startswith(("week", "open:"))
        )
    if problems:
        raise CalendarError(problems)
    return calendar


def calendar_to_json(calendar: BusinessCalendar) -> dict[str, object]:
    """The JSON body of `calendar`; `calendar_from_json` reads it back to an equal one."""
    week = {
        key: _day_to_json(calendar.week[WEEKDAY_KEYS.index(key)])
        for key in _JSON_WEEK_ORDER
        if calendar.week[WEEKDAY_KEYS.index(key)]
    }
    body: dict[str, object] = {
        "timezone": calendar.zone.key,
        "week": week,
        "holidays": calendar.holiday_country,
        "closed": [day.isoformat() for day in sorted(calendar.closed_dates)],
        "open": [day.isoformat() for day in sorted(calendar.open_dates)],
    }
    if calendar.open_date_hours:
        body["open_date_hours"] = _day_to_json(calendar.open_date_hours)
    return body


def _day_to_json(hours: DayHours) -> list[list[str]]:
    return [[_clock_text(interval.start), _clock_text(interval.end)] for interval in hours]


def _parse_zone(raw: object, problems: list[str]) -> ZoneInfo | None:
    if not isinstance(raw, str) or not raw:
        problems.append("timezone: an IANA time zone name (e.g. Asia/Tehran) is required")
        return None
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"timezone: {raw!r} is not a known IANA time zone")
        return None


def _parse_week(raw: object, problems: list[str]) -> tuple[DayHours, ...] | None:
    if not isinstance(raw, Mapping):
        problems.append(
            'week: an object of weekdays is required, e.g. {"sat": [["09:00", "17:00"]]}'
        )
        return None
    for key in sorted(set(raw) - set(WEEKDAY_KEYS), key=str):
        problems.append(f"week.{key}: unknown weekday; use one of {', '.join(_JSON_WEEK_ORDER)}")
    return tuple(_parse_day(f"week.{key}", raw.get(key, []), problems) for key in WEEKDAY_KEYS)


def _parse_day(path: str, raw: object, problems: list[str]) -> DayHours:
    if not isinstance(raw, list):
        problems.append(f'{path}: a list of ["HH:MM", "HH:MM"] intervals is required')
        return ()
    intervals: list[OpeningInterval] = []
    for index, pair in enumerate(raw):
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(value, str) and _CLOCK.fullmatch(value) for value in pair)
        ):
            problems.append(f'{path}[{index}]: {pair!r} is not an ["HH:MM", "HH:MM"] interval')
            continue
        start, end = _parse_clock(pair[0]), _parse_clock(pair[1])
        if start > MINUTES_PER_DAY or end > MINUTES_PER_DAY:
            problems.append(f"{path}[{index}]: {pair[0]}-{pair[1]} is outside 00:00-24:00")
            continue
        if start == end:
            continue  # an empty interval opens nothing
        intervals.append(OpeningInterval(start, end))
    # Order is not the admin's job; overlaps and inversions are reported by the calendar.
    return tuple(sorted(intervals, key=lambda interval: (interval.start, interval.end)))


def _parse_dates(path: str, raw: object, problems: list[str]) -> frozenset[date]:
    if not isinstance(raw, list):
        problems.append(f'{path}: a list of "YYYY-MM-DD" dates is required')
        return frozenset()
    days: set[date] = set()
    for index, value in enumerate(raw):
        try:
            if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
                raise ValueError
            days.add(date.fromisoformat(value))
        except ValueError:
            problems.append(f'{path}[{index}]: {value!r} is not a "YYYY-MM-DD" date')
    return frozenset(days)


def _parse_clock(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _clock_text(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


# ---- local wall-clock times to instants --------------------------------------------------


# Deadlines of one team fall on the same few days again and again.
@functools.lru_cache(maxsize=16384)
def _instant(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of local `day` + `minute`, by the two rules in the module docstring."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    # fold=0 is the first occurrence of a repeated time (PEP 495).
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # `wall` falls in a forward jump: fold=1 reads it with the offset after the jump, an
    # instant before the jump; fold=0 with the offset before, an instant after it. The
    # jump is the first instant between them whose wall clock reads `wall` or later.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    after = first
    while after - before > timedelta(seconds=1):
        middle = before + (after - before) // 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).replace(tzinfo=None) >= wall:
            after = middle
        else:
            before = middle
    return after


def open_periods(calendar: BusinessCalendar, day: date) -> list[tuple[datetime, datetime]]:
    """The open periods of local `day` as half-open UTC `[start, end)` pairs, in order.

    A period wholly inside a skipped hour (a forward clock change) is left out.
    """
    periods: list[tuple[datetime, datetime]] = []
    for interval in calendar.hours_on(day):
        start = _instant(day, interval.start, calendar.zone)
        end = _instant(day, interval.end, calendar.zone)
        if start < end:
            periods.append((start, end))
    return periods


def _periods_after(
    calendar: BusinessCalendar, instant: datetime, until: datetime | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """Open periods clipped to start no earlier than `instant`, in order; with `until`,
    those of the local days that start before it.

    Raises:
        NoOpeningFound: without `until`, after `SEARCH_LIMIT_DAYS` closed days in a row
            or beyond `WALK_LIMIT_DAYS` from the start.
    """
    first_day = instant.astimezone(calendar.zone).date()
    day = first_day
    closed_run = 0
    while until is None or _instant(day, 0, calendar.zone) < until:
        found = False
        for start, end in open_periods(calendar, day):
            if end > instant:
                found = True
                yield max(start, instant), end
        closed_run = 0 if found else closed_run + 1
        if until is None and closed_run > SEARCH_LIMIT_DAYS:
            raise NoOpeningFound(
                f"calendar {calendar.name!r} is closed for {SEARCH_LIMIT_DAYS} days "
                f"in a row from {day - timedelta(days=SEARCH_LIMIT_DAYS)}"
            )
        if until is None and (day - first_day).days > WALK_LIMIT_DAYS:
            raise NoOpeningFound(
                f"calendar {calendar.name!r}: the answer lies more than {WALK_LIMIT_DAYS} "
                f"days after {first_day}"
            )
        day += timedelta(days=1)


def _aware(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant!r} has no time zone; business time needs aware instants")
    return instant.astimezone(UTC)


# ---- the questions callers ask -----------------------------------------------------------


def is_open(calendar: BusinessCalendar, instant: datetime) -> bool:
    """Whether `instant` falls inside an open period (an opening instant is open, a
    closing instant is not)."""
    moment = _aware(instant)
    day = moment.astimezone(calendar.zone).date()
    return any(start <= moment < end for start, end in open_periods(calendar, day))


def next_opening(calendar: BusinessCalendar, instant: datetime) -> datetime:
    """The first open instant at or after `instant` (`instant` itself when open), in UTC.

    Raises:
        NoOpeningFound: the calendar stays closed for `SEARCH_LIMIT_DAYS` days.
    """
    for start, _ in _periods_after(calendar, _aware(instant)):
        return start
    raise AssertionError("unreachable: _periods_after raises before it runs dry")


def closing_time(
    calendar: BusinessCalendar, instant: datetime, within: timedelta
) -> datetime | None:
    """When the calendar next closes, in UTC: `instant` itself when closed; when open, the
    end of the open stretch it is in, carried over periods that touch (a day open to
    24:00 and the next from 00:00 are one stretch: midnight is no closing). None when
    the stretch lasts `within` or longer from `instant` (round the clock: no closing a
    customer could be promised anything by).
    """
    moment = _aware(instant)
    end = moment
    for start, stop in _periods_after(calendar, moment):
        if start > end:
            return end
        end = stop
        if end - moment >= within:
            return None
    raise AssertionError("unreachable: _periods_after raises before it runs dry")


def add_business_minutes(calendar: BusinessCalendar, instant: datetime, minutes: int) -> datetime:
    """The instant `minutes` business minutes after `instant`, in UTC.

    Zero minutes return `instant` itself (in UTC), open or not, so adding in two steps
    equals adding at once. Otherwise the result is the instant the last minute ends: open,
    or exactly a closing time (a target that runs out at 17:00 is due at 17:00, not at
    the next morning's opening).

    Raises:
        ValueError: a naive `instant` or negative `minutes`.
        NoOpeningFound: the calendar stays closed for `SEARCH_LIMIT_DAYS` days.
    """
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 0:
        raise ValueError(f"minutes must be a whole number >= 0, got {minutes!r}")
    return add_business_seconds(calendar, instant, minutes * 60)


def add_business_seconds(calendar: BusinessCalendar, instant: datetime, seconds: int) -> datetime:
    """`add_business_minutes` to the second: an SLA warning at 80 % of a 2-minute target
    falls 96 seconds in, not at the due time itself.

    Raises:
        ValueError: a naive `instant` or negative `seconds`.
        NoOpeningFound: the calendar stays closed for `SEARCH_LIMIT_DAYS` days.
    """
    moment = _aware(instant)
    if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
        raise ValueError(f"seconds must be a whole number >= 0, got {seconds!r}")
    remaining = timedelta(seconds=seconds)
    if not remaining:
        return moment
    for start, end in _periods_after(calendar, moment):
        if end - start >= remaining:
            return start + remaining
        remaining -= end - start
    raise AssertionError("unreachable: _periods_after raises before it runs dry")


def business_minutes_between(calendar: BusinessCalendar, start: datetime, end: datetime) -> float:
    """Business minutes from `start` to `end` (0 when `end` is not after `start`); a
    fraction when the instants are not whole minutes apart.

    Raises:
        ValueError: a naive instant.
    """
    first, last = _aware(start), _aware(end)
    if last <= first:
        return 0.0
    total = timedelta()
    for period_start, period_end in _periods_after(calendar, first, until=last):
        if period_start >= last:
            break
        total += min(period_end, last) - period_start
    return total / timedelta(minutes=1)
