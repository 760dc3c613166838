"""The languages customers are served in, and which language tags are written right to left.

Every channel, text table and API enum takes its language list from here.
"""

from __future__ import annotations

# Order matters where a list is shown (API enums, choices): Persian first, English last.
LANGUAGES: tuple[str, ...] = ("fa", "ar", "en")
# Right-to-left language tags, beyond the three served ones (a mail may name another).
RTL_LANGUAGES = frozenset({"fa", "ar", "ur", "ps", "ckb", "he", "yi", "dv", "sd", "ug"})
# The digits each language writes numbers in; a language not named writes ASCII digits.
_DIGITS = {"fa": "۰۱۲۳۴۵۶۷۸۹", "ar": "٠١٢٣٤٥٦٧٨٩"}


def supported_language(value: object) -> str | None:
    """`value` when it is one of `LANGUAGES`, otherwise None."""
    return value if isinstance(value, str) and value in LANGUAGES else None


def text_direction(language: str | None) -> str:
    """`rtl` or `ltr` for an HTML `dir` attribute."""
    return "rtl" if language in RTL_LANGUAGES else "ltr"


def localised_number(value: int, language: str) -> str:
    """`value` in the digits the language writes (Persian, Arabic-Indic or ASCII)."""
    digits = _DIGITS.get(language)
    text = str(value)
    return text.translate(str.maketrans("0123456789", digits)) if digits else text
