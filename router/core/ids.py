"""Database ids written by clients (URL paths, query strings, JSON): one parser.

`str.isdigit()` accepts superscripts and other scripts' digits that `int()` then
refuses or reads differently, and an unbounded run of digits overflows a BIGINT, so
every id a client sends goes through `parse_id`.
"""

from __future__ import annotations

import re

# A row id is a positive BIGINT: at most 19 ASCII digits and below 2**63.
BIGINT_MAX = 2**63 - 1
_ASCII_DIGITS = re.compile(r"[0-9]{1,19}")


def parse_id(raw: object, *, minimum: int = 1, maximum: int = BIGINT_MAX) -> int | None:
    """The id `raw` names (a string of ASCII digits or a JSON integer), or None.

    A JSON number with a zero fraction (`7.0`) is an integer to JSON Schema, so here too.
    """
    if isinstance(raw, bool):
        return None
    if isinstance(raw, float) and raw.is_integer():
        raw = int(raw)
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and _ASCII_DIGITS.fullmatch(raw):
        value = int(raw)
    else:
        return None
    return value if minimum <= value <= maximum else None
