"""faq.colloquial: spoken Persian to written forms, one test per rule of its docstring."""

from __future__ import annotations

import pytest

from faq.colloquial import standardise
from faq.normalise import normalise, tokenise


def spoken(text: str) -> str:
    return " ".join(standardise(tokenise(normalise(text))))


def written(text: str) -> str:
    return " ".join(tokenise(normalise(text)))


def test_rule1_preverb_written_apart_joins_its_verb() -> None:
    assert spoken("پولم کی بر میگرده") == written("پولم کی برمی‌گردد")
    assert spoken("در میاد") == written("درمی‌آید")
    # «بر» before anything but a «می» verb stays a word
    assert spoken("بر اساس") == written("بر اساس")


@pytest.mark.parametrize(
    ("colloquial", "standard"),
    [
        ("میکشه", "می‌کشد"),  # 3rd singular -ه
        ("میرسه", "می‌رسد"),
        ("نمیکنه", "نمی‌کند"),
        ("میفروشین", "می‌فروشید"),  # 2nd plural -ین
        ("میخوام", "می‌خواهم"),  # spoken stems
        ("میخواد", "می‌خواهد"),
        ("میتونم", "می‌توانم"),
        ("میشه", "می‌شود"),
        ("میاد", "می‌آید"),
        ("میره", "می‌رود"),
        ("میگه", "می‌گوید"),
        ("میده", "می‌دهد"),
        ("میدونم", "می‌دانم"),
        ("برمیگرده", "برمی‌گردد"),
    ],
)
def test_rule2_present_tense_endings_and_spoken_stems(colloquial: str, standard: str) -> None:
    assert spoken(colloquial) == written(standard)


def test_rule2_written_forms_and_mi_nouns_are_left_alone() -> None:
    for word in ("می‌خواهم", "می‌کند", "می‌کرد", "میز", "میوه", "میلیون", "میانگین"):
        assert spoken(word) == written(word)


def test_rule3_spoken_subjunctives() -> None:
    assert spoken("میخوام جنس رو پس بدم") == written("می‌خواهم جنس را پس بدهم")
    assert spoken("بتونم") == written("بتوانم")
    assert spoken("بشه") == written("بشود")


def test_rule4_second_plural_without_mi() -> None:
    assert spoken("فرستادین") == written("فرستادید")
    assert spoken("پرداخت در محل دارین") == written("پرداخت در محل دارید")
    # superlatives and nouns in -ین are not verbs
    assert spoken("بهترین ماشین") == written("بهترین ماشین")


def test_rule5_object_marker_and_its_clitic_after_a_possessive() -> None:
    assert spoken("کالا رو") == written("کالا را")
    assert spoken("رمزمو") == written("رمزم")
    assert spoken("سفارشمو کنسل کنید") == written("سفارشم کنسل کنید")
    assert spoken("حسابتو") == written("حسابت")
    # short words ending in «و» are words, not clitics
    for word in ("مو", "پتو", "عمو", "کادو"):
        assert spoken(word) == written(word)


def test_rule6_spoken_function_words() -> None:
    assert spoken("چجوری") == spoken("چطوری") == written("چطور")
    assert spoken("روشهای پرداخت چیه") == written("روشهای پرداخت چیست")
    assert spoken("چقدره") == written("چقدر است")
    assert spoken("یه سوال") == written("یک سوال")
    assert spoken("برام فرستادین") == written("برایم فرستادید")
    assert spoken("میاد خونه") == written("می‌آید خانه")


def test_rule7_ezafe_written_apart_is_dropped() -> None:
    assert spoken("هزینه ی ارسال") == written("هزینه ارسال")


def test_spoken_causative_and_glued_object_marker() -> None:
    assert spoken("برمیگردونین") == written("برمی‌گردانید")
    assert spoken("میرسونید") == written("می‌رسانید")
    assert spoken("میتونم") == written("می‌توانم")  # a listed stem still wins
    assert spoken("کالارو") == written("کالا را")
    assert spoken("بارو") == written("بارو")  # too short to be «… را»
