"""The one parser for ids that clients send."""

from __future__ import annotations

import pytest

from router.core.ids import BIGINT_MAX, parse_id


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", 1),
        ("42", 42),
        (7, 7),
        (str(BIGINT_MAX), BIGINT_MAX),
        ("0", None),
        ("²", None),
        ("۴۲", None),
        ("٤٢", None),
        ("-3", None),
        ("+3", None),
        (" 3", None),
        ("3\n", None),
        ("", None),
        ("1" * 30, None),
        (str(BIGINT_MAX + 1), None),
        (True, None),
        (3.0, 3),  # a JSON integer written with a zero fraction
        (3.5, None),
        (float("inf"), None),
        (None, None),
        (-1, None),
    ],
)
def test_parse_id_accepts_only_positive_ascii_bigints(raw: object, expected: int | None) -> None:
    assert parse_id(raw) == expected


def test_parse_id_honours_a_lower_bound_of_zero() -> None:
    assert parse_id("0", minimum=0) == 0
    assert parse_id("0") is None
