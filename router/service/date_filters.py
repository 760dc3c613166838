"""Dates a person types to choose a period (a report's `from` and `to`, the gap
report's `since`), in the API and the CLI: one rule for all of them.

An ISO 8601 date (`2026-03-21`, its midnight UTC) or date-time (`2026-03-21T08:00`,
seconds and a fraction optional, `T` or a space; UTC unless it ends in `Z` or an offset
such as `+03:30`), in the Gregorian calendar, from the year 1970. Persian (۰-۹) and
Arabic-Indic (٠-٩) digits are read as the product reads them everywhere
(`faq.normalise.fold_digits`). The year bound exists because a Solar Hijri date typed
in ASCII digits (`1405-09-09`) parses as a Gregorian date of the 15th century, and a
report of "everything since 1405" looks plausible; years 1-1969 hold no data of this
product and are refused, saying why, rather than read as something else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from faq.normalise import fold_digits

EARLIEST_YEAR = 1970


def _shape(digit: str) -> str:
    return (
        rf"{digit}{{4}}-{digit}{{2}}-{digit}{{2}}"
        rf"([T ]{digit}{{2}}:{digit}{{2}}(:{digit}{{2}}(\.{digit}{{1,6}})?)?"
        rf"(Z|[+-]{digit}{{2}}:{digit}{{2}})?)?"
    )


# The shape in any of the three digit scripts (the API document's pattern), and after
# folding (what is parsed). A shape that names no real day or time is refused by the
# parser, as a pattern cannot say how long each month is.
ANY_DIGIT = "[0-9\u06f0-\u06f9\u0660-\u0669]"
DATE_PATTERN = _shape(ANY_DIGIT)
_ASCII_SHAPE = re.compile(_shape("[0-9]"))
EXAMPLE = "e.g. 2026-03-21 or 2026-03-21T08:00:00+03:30"


class DateFilterError(ValueError):
    """Not a date this product reads; the message names the parameter and says why."""


def parse_date_filter(value: str, name: str) -> datetime:
    """`value` as an aware UTC instant (see the module's rule).

    Raises:
        DateFilterError: not of the shape, no such day or time, a year before 1970, or
            an instant past the year 9999 once its offset is applied.
    """
    text = fold_digits(value)
    if _ASCII_SHAPE.fullmatch(text) is None:
        raise DateFilterError(f"{name} {value!r} is not an ISO 8601 date or date-time; {EXAMPLE}")
    year = int(text[:4])
    if year < EARLIEST_YEAR:
        # This era's Solar Hijri and Hijri years (1300-1499) are the likely mistake.
        hint = f" ({year} looks like a Solar Hijri or Hijri year)" if year >= 1300 else ""
        raise DateFilterError(
            f"{name} {value!r}: dates are Gregorian, from {EARLIEST_YEAR} on{hint}; {EXAMPLE}"
        )
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise DateFilterError(f"{name} {value!r} is no such day or time; {EXAMPLE}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise DateFilterError(f"{name} {value!r} is after the year 9999 in UTC") from None
