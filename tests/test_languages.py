"""One language list: every module takes the served languages from `router.core.languages`."""

from __future__ import annotations

import re
from pathlib import Path

from router.core.languages import LANGUAGES, supported_language, text_direction

ROOT = Path(__file__).resolve().parent.parent
# A literal list or set of the served languages, in any order and quoting.
_LIST = re.compile(
    r"""[\(\[\{]\s*(["'](fa|ar|en)["']\s*,\s*){1,2}["'](fa|ar|en)["']\s*,?\s*[\)\]\}]"""
)


def test_the_served_languages_are_spelled_out_in_one_place() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("router", "channels", "bot")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "languages.py" and "migrations" not in path.parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if _LIST.search(line)
    ]
    assert found == []


def test_supported_language_and_direction() -> None:
    assert LANGUAGES == ("fa", "ar", "en")
    assert [supported_language(x) for x in ("fa", "ar", "en", "de", None, 3)] == [
        "fa",
        "ar",
        "en",
        None,
        None,
        None,
    ]
    assert [text_direction(x) for x in ("fa", "ar", "ur", "en", None)] == [
        "rtl",
        "rtl",
        "rtl",
        "ltr",
        "ltr",
    ]
