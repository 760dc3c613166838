"""Business-hour calendars: the worked examples, holidays, extra dates, the JSON body,
daylight-saving days, localised dates, and properties over random instants and zones."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import jdatetime
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.service import calendars
from router.service.calendars import (
    WEEKDAY_KEYS,
    BusinessCalendar,
    CalendarError,
    NoOpeningFound,
    OpeningInterval,
    add_business_minutes,
    business_minutes_between,
    calendar_from_json,
    calendar_to_json,
    gulf_week,
    iranian_week,
    is_open,
    next_opening,
    public_holidays,
)
from router.service.dates import render_instant

TEHRAN = ZoneInfo("Asia/Tehran")
RIYADH = ZoneInfo("Asia/Riyadh")
LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def tehran(*args: int) -> datetime:
    return datetime(*args, tzinfo=TEHRAN)  # type: ignore[misc]


def calendar(name: str = "test", **body: object) -> BusinessCalendar:
    return calendar_from_json(name, body)


# ---- the worked example -------------------------------------------------------------
# The Iranian week preset: Saturday-Wednesday 09:00-17:00, Thursday 09:00-13:00, Friday
# closed, Iran's public holidays. 2027-01-14 is a Thursday with no holiday until the 24th.


def test_thursday_afternoon_thread_is_due_saturday_morning() -> None:
    created = tehran(2027, 1, 14, 16, 30)
    due = add_business_minutes(iranian_week(), created, 60)
    assert due == tehran(2027, 1, 16, 10, 0)
    assert due.tzinfo is UTC
    assert business_minutes_between(iranian_week(), created, due) == 60


def test_a_saturday_holiday_moves_the_deadline_to_sunday() -> None:
    # An extra closed date ...
    closed_saturday = calendar_from_json(
        "tehran", {**calendar_to_json(iranian_week()), "closed": ["2027-01-16"]}
    )
    assert add_business_minutes(closed_saturday, tehran(2027, 1, 14, 16, 30), 60) == tehran(
        2027, 1, 17, 10, 0
    )
    # ... and a public holiday: Saturday 2027-06-05 is the 15 Khordad uprising.
    assert date(2027, 6, 5) in public_holidays("IR", 2027)
    assert add_business_minutes(iranian_week(), tehran(2027, 6, 3, 16, 30), 60) == tehran(
        2027, 6, 6, 10, 0
    )


def test_a_lunch_break_is_skipped() -> None:
    lunch = calendar(
        timezone="Asia/Tehran",
        week={"sat": [["09:00", "12:00"], ["13:00", "17:00"]], "thu": [["09:00", "13:00"]]},
    )
    assert add_business_minutes(lunch, tehran(2027, 1, 16, 11, 30), 60) == tehran(
        2027, 1, 16, 13, 30
    )
    assert not is_open(lunch, tehran(2027, 1, 16, 12, 30))
    assert next_opening(lunch, tehran(2027, 1, 16, 12, 30)) == tehran(2027, 1, 16, 13, 0)
    assert (
        business_minutes_between(lunch, tehran(2027, 1, 16, 11, 30), tehran(2027, 1, 16, 14)) == 90
    )
    # The worked example again, with the lunch break inside Saturday's first hours.
    assert add_business_minutes(lunch, tehran(2027, 1, 14, 16, 30), 200) == tehran(
        2027, 1, 16, 13, 20
    )


def test_a_target_that_runs_out_at_closing_time_is_due_at_closing_time() -> None:
    due = add_business_minutes(iranian_week(), tehran(2027, 1, 16, 16, 0), 60)
    assert due == tehran(2027, 1, 16, 17, 0)
    assert not is_open(iranian_week(), due)
    assert add_business_minutes(iranian_week(), due, 1) == tehran(2027, 1, 17, 9, 1)


# ---- holidays -----------------------------------------------------------------------


def test_nowruz_closes_the_iranian_calendar_every_year() -> None:
    holidays_2027 = public_holidays("IR", 2027)
    assert holidays_2027[date(2027, 3, 21)] == "Nowruz"
    assert all(date(2027, 3, day) in holidays_2027 for day in (21, 22, 23, 24))
    for solar_year in range(1404, 1411):
        # 1 Farvardin, as jdatetime computes it, is closed whatever weekday it falls on.
        new_year = jdatetime.date(solar_year, 1, 1).togregorian()
        assert not is_open(iranian_week(), datetime(*new_year.timetuple()[:3], 10, tzinfo=TEHRAN))
    # Thursday 2027-03-18 after closing: Saturday the 20th is a holiday (oil
    # nationalisation), Sunday to Wednesday is Nowruz; the team is back on Thursday.
    assert add_business_minutes(iranian_week(), tehran(2027, 3, 18, 16), 60) == tehran(
        2027, 3, 25, 10, 0
    )


def test_gulf_week() -> None:
    gulf = gulf_week()
    riyadh = functools.partial(datetime, tzinfo=RIYADH)
    # Thursday 16:30: half an hour on Thursday, Friday and Saturday off, Sunday 09:30.
    assert add_business_minutes(gulf, riyadh(2027, 1, 14, 16, 30), 60) == riyadh(2027, 1, 17, 9, 30)
    assert not is_open(gulf, riyadh(2027, 1, 15, 10)) and not is_open(gulf, riyadh(2027, 1, 16, 10))
    # Eid al-Fitr 2027: 9-12 March and the observed Sunday the 14th are holidays.
    assert add_business_minutes(gulf, riyadh(2027, 3, 8, 16, 30), 60) == riyadh(2027, 3, 15, 9, 30)
    assert calendar_to_json(gulf)["holidays"] == "SA"


def test_holidays_are_computed_once_per_country_and_year() -> None:
    calendars._public_holidays.cache_clear()
    due = add_business_minutes(iranian_week(), tehran(2027, 1, 1, 9), 480 * 400)
    assert due.astimezone(TEHRAN).year == 2028
    info = calendars._public_holidays.cache_info()
    assert (info.misses, info.currsize) == (2, 2)  # 2027 and 2028, once each
    assert info.hits > 400


# ---- extra dates ----------------------------------------------------------------------


def test_an_extra_open_friday_uses_open_date_hours() -> None:
    body = {
        **calendar_to_json(iranian_week()),
        "open": ["2027-01-15"],
        "open_date_hours": [["10:00", "14:00"]],
    }
    assert add_business_minutes(calendar("tehran", **body), tehran(2027, 1, 14, 16, 30), 60) == (
        tehran(2027, 1, 15, 11, 0)
    )


def test_an_extra_open_holiday_uses_its_weekday_hours() -> None:
    # Saturday 2027-06-05 is a public holiday; the team works it on Saturday's hours.
    body = {**calendar_to_json(iranian_week()), "open": ["2027-06-05"]}
    assert add_business_minutes(calendar("tehran", **body), tehran(2027, 6, 3, 16, 30), 60) == (
        tehran(2027, 6, 5, 10, 0)
    )


def test_a_calendar_open_only_on_future_dates() -> None:
    future_only = calendar(
        timezone="Asia/Tehran",
        week={},
        open=["2027-05-01"],
        open_date_hours=[["10:00", "12:00"]],
    )
    assert next_opening(future_only, tehran(2027, 1, 1)) == tehran(2027, 5, 1, 10)
    assert add_business_minutes(future_only, tehran(2027, 1, 1), 30) == tehran(2027, 5, 1, 10, 30)
    assert business_minutes_between(future_only, tehran(2020, 1, 1), tehran(2035, 1, 1)) == 120
    # After its last open date it never opens again: a clear error, not an endless loop.
    with pytest.raises(NoOpeningFound, match="closed for 731 days"):
        next_opening(future_only, tehran(2027, 5, 1, 12))
    with pytest.raises(NoOpeningFound):
        add_business_minutes(future_only, tehran(2027, 5, 1, 11), 61)


# ---- the JSON body --------------------------------------------------------------------


def test_presets_and_a_full_body_round_trip() -> None:
    body = {
        "timezone": "Europe/London",
        "week": {
            "mon": [["09:00", "12:30"], ["13:30", "17:30"]],
            "sat": [["00:00", "24:00"]],
        },
        "holidays": "GB",
        "closed": ["2027-12-27", "2027-12-24"],
        "open": ["2027-12-25"],
        "open_date_hours": [["10:00", "14:00"]],
    }
    parsed = calendar("london", **body)
    assert parsed.week[0] == (OpeningInterval(540, 750), OpeningInterval(810, 1050))
    again = calendar_to_json(parsed)
    assert again["closed"] == ["2027-12-24", "2027-12-27"]
    assert calendar_from_json("london", again) == parsed
    for preset in (iranian_week(), gulf_week()):
        assert calendar_from_json(preset.name, calendar_to_json(preset)) == preset
    assert calendar_to_json(iranian_week())["week"] == {
        "sat": [["09:00", "17:00"]],
        "sun": [["09:00", "17:00"]],
        "mon": [["09:00", "17:00"]],
        "tue": [["09:00", "17:00"]],
        "wed": [["09:00", "17:00"]],
        "thu": [["09:00", "13:00"]],
    }


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        ([], ["the calendar must be a JSON object"]),
        (
            {"timezone": "Asia/Tehrann", "week": {"sat": [["09:00", "17:00"]]}},
            ["timezone: 'Asia/Tehrann' is not a known IANA time zone"],
        ),
        (
            {"week": {"sat": [["09:00", "17:00"]]}},
            ["timezone: an IANA time zone name (e.g. Asia/Tehran) is required"],
        ),
        (
            {"timezone": "Asia/Tehran", "week": {"sat": [["09:00", "17:00"]]}, "holidays": "XX"},
            ["holidays: 'XX' is not a country code the holidays package knows (e.g. IR, SA, AE)"],
        ),
        (
            {"timezone": "Asia/Tehran", "week": {"saturday": [["09:00", "17:00"]]}},
            ["week.saturday: unknown weekday; use one of sat, sun, mon, tue, wed, thu, fri"],
        ),
        (
            {"timezone": "Asia/Tehran", "week": {"sat": [["17:00", "09:00"]]}},
            [
                "week.sat[0]: 17:00-09:00 ends before it starts; an interval may not cross "
                "midnight: write it as 17:00-24:00 and 00:00-09:00 on the next day"
            ],
        ),
        (
            {"timezone": "Asia/Tehran", "week": {"sun": [["12:00", "17:00"], ["09:00", "12:30"]]}},
            ["week.sun: 09:00-12:30 overlaps 12:00-17:00"],
        ),
        (
            {"timezone": "Asia/Tehran", "week": {"mon": [["9", "17:00"], ["24:00", "24:30"]]}},
            [
                "week.mon[0]: ['9', '17:00'] is not an [\"HH:MM\", \"HH:MM\"] interval",
                "week.mon[1]: 24:00-24:30 is outside 00:00-24:00",
            ],
        ),
        (
            {
                "timezone": "Asia/Tehran",
                "week": {"sat": [["09:00", "17:00"]]},
                "closed": ["2027-02-30", "20270301", 5],
            },
            [
                "closed[0]: '2027-02-30' is not a \"YYYY-MM-DD\" date",
                "closed[1]: '20270301' is not a \"YYYY-MM-DD\" date",
                'closed[2]: 5 is not a "YYYY-MM-DD" date',
            ],
        ),
        (
            {
                "timezone": "Asia/Tehran",
                "week": {"sat": [["09:00", "17:00"]]},
                "closed": ["2027-01-16"],
                "open": ["2027-01-16", "2027-01-15"],
            },
            [
                "2027-01-16 is both in closed and in open",
                "open: 2027-01-15 is a Friday, which has no hours in week; give "
                "open_date_hours for such dates",
            ],
        ),
        (
            {"timezone": "Mars/Olympus", "week": {"sat": [["09:00", "17:00"]]}, "holiday": "IR"},
            ["holiday: unknown field", "timezone: 'Mars/Olympus' is not a known IANA time zone"],
        ),
    ],
)
def test_bad_bodies_get_every_problem_named(body: object, problems: list[str]) -> None:
    with pytest.raises(CalendarError) as raised:
        calendar_from_json("test", body)
    assert list(raised.value.problems) == problems


def test_bad_names_and_arguments_are_refused() -> None:
    with pytest.raises(CalendarError, match="name: 'no spaces' must be"):
        calendar("no spaces", timezone="UTC", week={"mon": [["09:00", "17:00"]]})
    with pytest.raises(ValueError, match="no time zone"):
        is_open(iranian_week(), datetime(2027, 1, 16, 10))
    with pytest.raises(ValueError, match="whole number >= 0"):
        add_business_minutes(iranian_week(), tehran(2027, 1, 16, 10), -1)
    assert add_business_minutes(iranian_week(), tehran(2027, 1, 15, 10), 0) == tehran(
        2027, 1, 15, 10
    )


# ---- clocks that change -------------------------------------------------------------


def test_tehran_keeps_one_offset_since_iran_dropped_daylight_saving() -> None:
    summer = tehran(2027, 7, 10, 9)  # a Saturday; before 2023 this was +04:30
    assert summer.utcoffset() == timedelta(hours=3, minutes=30)
    assert next_opening(iranian_week(), tehran(2027, 7, 10, 8)) == datetime(
        2027, 7, 10, 5, 30, tzinfo=UTC
    )


def test_a_skipped_opening_time_opens_at_the_jump() -> None:
    # London 2027-03-28: 01:00 GMT jumps to 02:00 BST; 01:30 never shows on a clock.
    sunday = calendar(timezone="Europe/London", week={"sun": [["01:30", "03:00"]]})
    opening = next_opening(sunday, datetime(2027, 3, 28, 0, 0, tzinfo=LONDON))
    assert opening == datetime(2027, 3, 28, 1, 0, tzinfo=UTC)
    assert opening.astimezone(LONDON).hour == 2
    day = (datetime(2027, 3, 28, tzinfo=LONDON), datetime(2027, 3, 29, tzinfo=LONDON))
    assert business_minutes_between(sunday, *day) == 60
    # New York 2027-03-14: 02:00 EST jumps to 03:00 EDT.
    new_york = calendar(timezone="America/New_York", week={"sun": [["02:30", "04:00"]]})
    assert next_opening(new_york, datetime(2027, 3, 14, tzinfo=NEW_YORK)) == datetime(
        2027, 3, 14, 7, 0, tzinfo=UTC
    )
    # An interval wholly inside the skipped hour is closed that day.
    skipped = calendar(
        timezone="Europe/London", week={"sun": [["01:10", "01:50"], ["09:00", "10:00"]]}
    )
    assert next_opening(skipped, datetime(2027, 3, 28, tzinfo=LONDON)) == datetime(
        2027, 3, 28, 9, tzinfo=LONDON
    )


def test_a_repeated_time_means_its_first_occurrence() -> None:
    # London 2027-10-31: 02:00 BST goes back to 01:00 GMT; 01:00-02:00 happens twice.
    whole_night = calendar(timezone="Europe/London", week={"sun": [["00:00", "02:00"]]})
    night = (datetime(2027, 10, 31, tzinfo=LONDON), datetime(2027, 11, 1, tzinfo=LONDON))
    assert business_minutes_between(whole_night, *night) == 180
    from_one_thirty = calendar(timezone="Europe/London", week={"sun": [["01:30", "03:00"]]})
    assert next_opening(from_one_thirty, night[0]) == datetime(2027, 10, 31, 0, 30, tzinfo=UTC)
    assert business_minutes_between(from_one_thirty, *night) == 150
    # 24/7 in New York: a 25-hour day holds 1500 business minutes.
    always = calendar(
        timezone="America/New_York", week={key: [["00:00", "24:00"]] for key in WEEKDAY_KEYS}
    )
    assert (
        business_minutes_between(
            always, datetime(2027, 11, 7, tzinfo=NEW_YORK), datetime(2027, 11, 8, tzinfo=NEW_YORK)
        )
        == 25 * 60
    )


# ---- localised dates ----------------------------------------------------------------


def test_the_answer_time_is_written_the_way_each_customer_reads_dates() -> None:
    opening = tehran(2027, 3, 28, 9, 30)
    assert render_instant(opening, language="fa", zone=TEHRAN) == "یک‌شنبه ۸ فروردین ۱۴۰۶، ساعت ۹:۳۰"
    assert render_instant(opening, language="ar", zone=TEHRAN) == "الأحد ٢٨ مارس ٢٠٢٧، الساعة ٩:٣٠"
    assert (
        render_instant(opening, language="ar", zone=TEHRAN, arabic_calendar="umm_al_qura")
        == "الأحد ٢٠ شوال ١٤٤٨ هـ، الساعة ٩:٣٠"
    )
    assert render_instant(opening, language="en", zone=TEHRAN) == "Sunday 28 March 2027 at 09:30"
    # The zone decides the day: 01:00 Saturday in Tehran is still Friday in London.
    late = tehran(2027, 1, 16, 1, 5)
    assert render_instant(late, language="en", zone=LONDON) == "Friday 15 January 2027 at 21:35"
    assert render_instant(late, language="fa", zone=TEHRAN) == "شنبه ۲۶ دی ۱۴۰۵، ساعت ۱:۰۵"


def test_dates_outside_the_umm_al_qura_table_fall_back_to_gregorian() -> None:
    far = datetime(2090, 1, 1, 9, tzinfo=RIYADH)
    assert (
        render_instant(far, language="ar", zone=RIYADH, arabic_calendar="umm_al_qura")
        == "الأحد ١ يناير ٢٠٩٠، الساعة ٩:٠٠"
    )


def test_render_refuses_what_it_cannot_write() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        render_instant(datetime(2027, 1, 1), language="fa", zone=TEHRAN)
    with pytest.raises(ValueError, match="language 'de'"):
        render_instant(tehran(2027, 1, 1), language="de", zone=TEHRAN)


# ---- properties over random instants in zones that change their clocks ---------------

ZONES = ("Europe/London", "America/New_York", "Australia/Lord_Howe", "America/Santiago")
# Fixed examples, no example database: the same cases run on every machine and in CI.
PROPERTY_SETTINGS = settings(
    max_examples=80,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@functools.cache
def clock_changes(zone_name: str) -> tuple[datetime, ...]:
    """The instants in 2025-2028 at which `zone_name` changes its offset (to a minute)."""
    zone = ZoneInfo(zone_name)
    changes: list[datetime] = []
    moment = datetime(2025, 1, 1, tzinfo=UTC)
    while moment.year < 2029:
        later = moment + timedelta(days=1)
        if moment.astimezone(zone).utcoffset() != later.astimezone(zone).utcoffset():
            while later - moment > timedelta(minutes=1):  # offsets change on a minute
                middle = moment + (later - moment) / 2
                offset = middle.astimezone(zone).utcoffset()
                moment, later = (
                    (middle, later)
                    if offset == moment.astimezone(zone).utcoffset()
                    else (moment, middle)
                )
            changes.append(later)
        moment = later
    return tuple(changes)


# Boundaries on the quarter hour, so they land on and inside the changing hours.
QUARTER_HOURS = st.lists(st.integers(0, 96), max_size=6, unique=True)


@st.composite
def zoned_calendars(draw: st.DrawFn) -> BusinessCalendar:
    # Two kinds of day spread over the week keep the draws (and the run) small.
    kinds: list[list[list[str]]] = [[]]
    for _ in range(2):
        marks = sorted(draw(QUARTER_HOURS))
        marks = marks[: len(marks) // 2 * 2]
        kinds.append(
            [
                [calendars._clock_text(start * 15), calendars._clock_text(end * 15)]
                for start, end in zip(marks[::2], marks[1::2], strict=True)
            ]
        )
    layout = draw(st.lists(st.integers(0, 2), min_size=7, max_size=7))
    week = {key: kinds[kind] for key, kind in zip(WEEKDAY_KEYS, layout, strict=True)}
    if not any(week.values()):
        week["sun"] = [["01:00", "03:00"]]
    return calendar(timezone=draw(st.sampled_from(ZONES)), week=week)


@st.composite
def instants_near_clock_changes(draw: st.DrawFn, zone: ZoneInfo) -> datetime:
    change = draw(st.sampled_from(clock_changes(zone.key)))
    offset = draw(st.integers(-3 * 86_400_000_000, 3 * 86_400_000_000))
    return (change + timedelta(microseconds=offset)).astimezone(zone)


@st.composite
def cases(draw: st.DrawFn) -> tuple[BusinessCalendar, datetime]:
    chosen = draw(zoned_calendars())
    return chosen, draw(instants_near_clock_changes(chosen.zone))


MINUTES = st.integers(0, 2500)


@PROPERTY_SETTINGS
@given(cases(), MINUTES, MINUTES)
def test_business_time_properties(
    case: tuple[BusinessCalendar, datetime], minutes: int, more: int
) -> None:
    chosen, start = case
    due = add_business_minutes(chosen, start, minutes)
    later = add_business_minutes(chosen, start, minutes + more)
    assert due.tzinfo is UTC
    # Counting undoes adding, and adding in two steps equals adding at once.
    assert business_minutes_between(chosen, start, due) == minutes
    assert add_business_minutes(chosen, due, more) == later
    # More minutes, a later due time; a due time is open or exactly a closing time.
    assert due <= later and (due < later) == (more > 0)
    if minutes:
        assert start < due
        assert is_open(chosen, due) or is_open(chosen, due - timedelta(microseconds=1))
    # The next opening is open, with nothing open between the start and it. Compared in
    # UTC: Python never finds a repeated local time equal to another zone's instant.
    opening = next_opening(chosen, start)
    assert opening >= start and is_open(chosen, opening)
    assert business_minutes_between(chosen, start, opening) == 0
    assert (opening == start.astimezone(UTC)) == is_open(chosen, start)


@PROPERTY_SETTINGS
@given(cases())
def test_open_means_the_wall_clock_reads_inside_an_interval(
    case: tuple[BusinessCalendar, datetime],
) -> None:
    # An oracle on wall-clock readings alone: it agrees everywhere except during the
    # second pass of a repeated hour, where boundaries mean their first occurrence.
    chosen, moment = case
    local = moment.astimezone(chosen.zone)
    if local.fold:
        return
    reading = timedelta(hours=local.hour, minutes=local.minute, seconds=local.second) + timedelta(
        microseconds=local.microsecond
    )
    inside = any(
        timedelta(minutes=interval.start) <= reading < timedelta(minutes=interval.end)
        for interval in chosen.hours_on(local.date())
    )
    assert is_open(chosen, moment) == inside


@PROPERTY_SETTINGS
@given(st.sampled_from(ZONES), st.data(), MINUTES)
def test_a_round_the_clock_calendar_counts_real_minutes(
    zone_name: str, data: st.DataObject, minutes: int
) -> None:
    always = calendar(timezone=zone_name, week={key: [["00:00", "24:00"]] for key in WEEKDAY_KEYS})
    start = data.draw(instants_near_clock_changes(ZoneInfo(zone_name)))
    # In UTC: adding to a zoned datetime moves its wall clock, not real time.
    real = start.astimezone(UTC) + timedelta(minutes=minutes)
    assert add_business_minutes(always, start, minutes) == real


def test_a_calendar_without_hours_never_opens_and_empty_intervals_open_nothing() -> None:
    # Accepted (a team with no hours yet): it promises nothing rather than being refused.
    never = calendar(timezone="Asia/Tehran", week={"sat": [["00:00", "00:00"]]})
    assert never.week == ((),) * 7
    assert calendar_to_json(never)["week"] == {}
    assert not is_open(never, tehran(2027, 1, 2, 0))
    with pytest.raises(NoOpeningFound):
        next_opening(never, tehran(2027, 1, 1))
