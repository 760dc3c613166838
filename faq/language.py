"""Tell Persian, Arabic and English apart from the script, letters and function words.

Persian written on an Arabic keyboard (ي, ك) is still Persian when it has پ چ ژ گ or
Persian function words; Arabic is recognised by ة, أ/إ, the article «ال» and its own
function words. Text mostly in Latin letters is English, unless its words make it
Persian typed in Latin letters (Finglish, `faq.finglish`): that is Persian.
"""

from __future__ import annotations

from collections import Counter

from faq.finglish import is_finglish, is_latin_letter
from faq.normalise import normalise, tokenise

_PERSIAN_ONLY = frozenset("پچژگ")  # letters Arabic does not have
_PERSIAN_LETTERS = frozenset("یک\u200c")  # ی U+06CC, ک U+06A9 and ZWNJ are Persian usage
_ARABIC_LETTERS = frozenset("ةأإؤيكىً")  # ي U+064A, ك U+0643 are Arabic codepoints
_PERSIAN_WORDS = frozenset(
    normalise(
        "است هست را رو می نمی چه چی چطور چطوری کجا کجاست کی چرا برای از به با که این آن اون "
        "هم یا تا شما من ما دارید دارین میخوام میخواهم کنم کنید شده بود نه بله آره خیلی ممنون "
        "مرسی سلام چقدر چند"
    ).split()
)
_ARABIC_WORDS = frozenset(
    normalise(
        "في من على الى إلى عن هل ما ماذا كيف أين اين متى لماذا هذا هذه ذلك التي الذي أو أن "
        "لا نعم لم لن قد كم لي لدي عندي أريد اريد مع شكرا مرحبا السلام عليكم يا"
    ).split()
)


def detect_language(text: str) -> str | None:
    """Return "fa", "ar" or "en" for `text`, or None if it has no letters to go by.

    Args:
        text: a customer message as typed (before normalisation).
    """
    arabic_script = latin = 0
    persian_score = arabic_score = 0.0
    # Per distinct character, times its count (the scores are sums of halves: exact).
    for ch, count in Counter(text).items():
        if ch in _PERSIAN_ONLY:
            persian_score += 3.0 * count
        elif ch in _PERSIAN_LETTERS:
            persian_score += 1.0 * count
        elif ch in _ARABIC_LETTERS:
            arabic_score += 0.5 * count  # weak: Persian is often typed on Arabic keyboards
        if not ch.isalpha():
            continue  # digits and punctuation say nothing about the language
        if "\u0600" <= ch <= "\u06ff" or "\ufb50" <= ch <= "\ufeff":
            arabic_script += count
        elif is_latin_letter(ch):
            latin += count
    if arabic_script == 0 and latin == 0:
        return None
    if latin > arabic_script:
        return "fa" if is_finglish(text) else "en"
    tokens = tokenise(normalise(text))
    for token in tokens:
        if token in _PERSIAN_WORDS:
            persian_score += 2.0
        if token in _ARABIC_WORDS:
            arabic_score += 2.0
        if token.startswith("ال") and len(token) > 3:
            arabic_score += 1.5
    return "ar" if arabic_score > persian_score else "fa"
