"""An instant written the way the customer reads dates, for "a person will answer on ...".

Persian: the Solar Hijri date (`jdatetime`) with Persian digits; Arabic: the Gregorian
date or the Umm al-Qura Hijri date (`hijridate`) with Arabic-Indic digits; English: the
Gregorian date. Each with the weekday and a 24-hour clock time, in the zone given.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

import jdatetime
from hijridate import Gregorian

from router.core.languages import LANGUAGES, localised_number

ArabicCalendar = Literal["gregorian", "umm_al_qura"]
ARABIC_CALENDARS: tuple[ArabicCalendar, ...] = ("gregorian", "umm_al_qura")

# Monday first (`date.weekday()` order).
_ARABIC_WEEKDAYS = ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد")
_ENGLISH_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The month names used in Saudi Arabia, the Gulf and Egypt.
_ARABIC_MONTHS = (
    "يناير",
    "فبراير",
    "مارس",
    "أبريل",
    "مايو",
    "يونيو",
    "يوليو",
    "أغسطس",
    "سبتمبر",
    "أكتوبر",
    "نوفمبر",
    "ديسمبر",
)
_ENGLISH_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def render_instant(
    instant: datetime,
    *,
    language: str,
    zone: ZoneInfo,
    arabic_calendar: ArabicCalendar = "gregorian",
) -> str:
    """`instant` as a weekday, date and time in `zone`, written for `language`.

    Examples (2027-03-28 09:30 in Asia/Tehran):
        fa: «یک‌شنبه ۸ فروردین ۱۴۰۶، ساعت ۹:۳۰»
        ar: «الأحد ٢٨ مارس ٢٠٢٧، الساعة ٩:٣٠» (Umm al-Qura: «الأحد ٢٠ شوال ١٤٤٨ هـ، ...»)
        en: "Sunday 28 March 2027 at 09:30"

    An Umm al-Qura date outside the table `hijridate` holds (1924-2077) is written in
    the Gregorian calendar instead: still the right day.

    Raises:
        ValueError: a naive instant, or a language or Arabic calendar not served.
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"{instant!r} has no time zone")
    if language not in LANGUAGES:
        raise ValueError(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    if arabic_calendar not in ARABIC_CALENDARS:
        raise ValueError(f"arabic_calendar {arabic_calendar!r} is not one of {ARABIC_CALENDARS}")
    local = instant.astimezone(zone)
    day = local.date()
    if language == "fa":
        return f"{_persian_date(day)}، ساعت {_clock(local, 'fa')}"
    if language == "ar":
        written = _umm_al_qura_date(day) if arabic_calendar == "umm_al_qura" else None
        return f"{written or _arabic_gregorian_date(day)}، الساعة {_clock(local, 'ar')}"
    return (
        f"{_ENGLISH_WEEKDAYS[day.weekday()]} {day.day} {_ENGLISH_MONTHS[day.month - 1]} "
        f"{day.year} at {local:%H:%M}"
    )


def render_date(day: date, language: str, arabic_calendar: ArabicCalendar = "gregorian") -> str:
    """`day` with its weekday, written for `language` as `render_instant` writes dates.

    Raises:
        ValueError: a language not served.
    """
    if language == "fa":
        return _persian_date(day)
    if language == "ar":
        written = _umm_al_qura_date(day) if arabic_calendar == "umm_al_qura" else None
        return written or _arabic_gregorian_date(day)
    if language == "en":
        return (
            f"{_ENGLISH_WEEKDAYS[day.weekday()]} {day.day} {_ENGLISH_MONTHS[day.month - 1]} "
            f"{day.year}"
        )
    raise ValueError(f"language {language!r} is not one of {', '.join(LANGUAGES)}")


def _persian_date(day: date) -> str:
    solar = jdatetime.date.fromgregorian(date=day)
    # jdatetime counts weekdays from Saturday and names them and the months in Persian.
    weekday = jdatetime.date.j_weekdays_fa[solar.weekday()]
    month = jdatetime.date.j_months_fa[solar.month - 1]
    day_number, year = localised_number(solar.day, "fa"), localised_number(solar.year, "fa")
    return f"{weekday} {day_number} {month} {year}"


def _arabic_gregorian_date(day: date) -> str:
    return (
        f"{_ARABIC_WEEKDAYS[day.weekday()]} {localised_number(day.day, 'ar')} "
        f"{_ARABIC_MONTHS[day.month - 1]} {localised_number(day.year, 'ar')}"
    )


def _umm_al_qura_date(day: date) -> str | None:
    try:
        hijri = Gregorian(day.year, day.month, day.day).to_hijri()
    except OverflowError:
        return None
    return (
        f"{_ARABIC_WEEKDAYS[day.weekday()]} {localised_number(hijri.day, 'ar')} "
        f"{hijri.month_name('ar')} {localised_number(hijri.year, 'ar')} هـ"
    )


def _clock(local: datetime, language: str) -> str:
    """Hour without a leading zero, minutes with one, in the language's digits."""
    tens, units = divmod(local.minute, 10)
    return (
        f"{localised_number(local.hour, language)}:"
        f"{localised_number(tens, language)}{localised_number(units, language)}"
    )
