"""faq.normalise: one test per rule of the module docstring."""

from __future__ import annotations

import random
import unicodedata

import pytest

from faq.normalise import _TABLE, normalise, tokenise


def test_rule1_nfkc_folds_presentation_forms_and_full_width() -> None:
    # U+FEFB is the lam-alef ligature, U+FE8E a final alef form; U+FF21 full-width A.
    assert normalise("\ufefb") == "لا"
    assert normalise("\ufe8e") == "ا"
    assert normalise("ＡＢＣ") == "abc"


def test_rule2_zwnj_and_its_absence_are_alike() -> None:
    assert normalise("می\u200cخواهم") == normalise("میخواهم") == "میخواهم"
    assert normalise("سفارش\u200cهای من") == "سفارشهای من"


def test_rule2_bidi_marks_and_soft_hyphen_dropped() -> None:
    assert normalise("\u200fسلام\u200e") == "سلام"
    assert normalise("pass\u00adword") == "password"


def test_rule3_harakat_superscript_alef_and_tatweel_removed_before_tokenising() -> None:
    # Diacritics inside a word must not split it (rapidfuzz's default_process would).
    assert normalise("مُحَمَّد") == "محمد"
    assert normalise("هٰذا") == "هذا"
    assert normalise("کـــتاب") == "کتاب"
    assert tokenise(normalise("كَيْفَ أُرْجِعُ")) == ["کیف", "ارجع"]


@pytest.mark.parametrize(
    ("arabic", "unified"),
    [
        ("ي", "ی"),
        ("ى", "ی"),
        ("ئ", "ی"),
        ("ك", "ک"),
        ("ة", "ه"),
        ("أ", "ا"),
        ("إ", "ا"),
        ("آ", "ا"),
        ("ٱ", "ا"),
        ("ؤ", "و"),
    ],
)
def test_rule4_letter_unification(arabic: str, unified: str) -> None:
    assert normalise(arabic) == unified


def test_rule4_persian_letters_survive() -> None:
    assert normalise("پ چ ژ گ ی ک") == "پ چ ژ گ ی ک"
    assert normalise("وضعيت تعمير گوشي") == "وضعیت تعمیر گوشی"


def test_rule5_persian_and_arabic_indic_digits_become_ascii() -> None:
    assert normalise("۰۱۲۳۴۵۶۷۸۹") == "0123456789"
    assert normalise("٠١٢٣٤٥٦٧٨٩") == "0123456789"
    assert normalise("۳٫۵") == "3.5"
    assert normalise("۱٬۰۰۰") == "1000"


def test_rule6_latin_case_folding_and_apostrophes() -> None:
    assert normalise("Where IS my Order") == "where is my order"
    assert normalise("Straße") == "strasse"
    assert normalise("don't") == normalise("dont") == "dont"


def test_rule7_arabic_and_latin_punctuation_are_separators() -> None:
    assert normalise("سفارشم کجاست؟") == "سفارشم کجاست"
    assert normalise("نعم،شكرا؛ «تمام»") == "نعم شکرا تمام"
    assert normalise("where's my order??!") == "wheres my order"


def test_rule7_decimal_points_only_between_digits() -> None:
    assert normalise("3.5 kg. costs 1.2.3") == "3.5 kg costs 1.2.3"
    assert normalise(".5 and 5. and ۳٫۵ and a.b and 2..3") == "5 and 5 and 3.5 and a b and 2 3"


def _per_character(text: str) -> str:
    """Rules 1-8 with rule 7 tested on every character in turn."""
    text = unicodedata.normalize("NFKC", text).translate(_TABLE).casefold()

    def decimal_point(i: int) -> bool:
        return 0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit()

    kept = [
        ch
        if unicodedata.category(ch)[0] not in "PSZC"
        or ch == " "
        or (ch == "." and decimal_point(i))
        else " "
        for i, ch in enumerate(text)
    ]
    return " ".join("".join(kept).split())


def test_rule7_is_the_per_character_rule() -> None:
    """Rule 7 is applied per distinct character: the same text as testing every
    character in turn (a dot kept between two digits, any digit str.isdigit knows)."""
    alphabet = "a.Z1٫9²۳٣ ،؟!\t\u00a0\u2028-_سa'é"
    rng = random.Random(16)
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert normalise(text) == _per_character(text), text


def test_rule8_whitespace_collapses() -> None:
    assert normalise("  hello \t\n world  ") == "hello world"
    assert normalise("") == ""
    assert normalise("؟ ، !") == ""


def test_rule9_spaced_persian_clitics_join_their_word() -> None:
    assert tokenise(normalise("می خواهم")) == tokenise(normalise("می\u200cخواهم")) == ["میخواهم"]
    assert tokenise(normalise("نمی کند")) == ["نمیکند"]
    assert tokenise(normalise("کتاب ها")) == ["کتابها"]
    assert tokenise(normalise("ارزان تر")) == ["ارزانتر"]
    # Latin words are never glued.
    assert tokenise(normalise("my order")) == ["my", "order"]


def test_normalise_is_idempotent() -> None:
    for text in ("می‌خواهم سفارشم را لغو کنم؟", "أين طلبي؟ ١٢", "Don't SHIP!"):
        once = normalise(text)
        assert normalise(once) == once
