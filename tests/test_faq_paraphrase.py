"""The matcher with the concept lexicon, spoken-Persian standardisation and Arabic stems.

Small KBs written for these tests (not the dev set): each test shows a paraphrase the
lexical matcher alone gets wrong or is unsure of, and that the language layers fix.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from faq.decide import Thresholds, decide
from faq.kb import FaqEntry, KnowledgeBase
from faq.language import detect_language
from faq.matcher import Matcher, MatcherConfig
from faq.morphology import arabic_stem
from faq.normalise import normalise

PLAIN = replace(MatcherConfig(), colloquial=False, lexicon=False, arabic_stems=False)


def _kb(language: str, **phrasings: str) -> KnowledgeBase:
    return KnowledgeBase(
        entries=tuple(
            FaqEntry(entry_id, {language: tuple(text.split(" | "))}, {language: "-"})
            for entry_id, text in phrasings.items()
        ),
        default_language=language,
    )


ENGLISH = _kb(
    "en",
    refund="When will I get my refund? | How long do refunds take?",
    stock="When will this item be back in stock?",
    delivery="How long does delivery take? | When will my package arrive?",
    wrong_item="I received the wrong item",
    damaged="My product arrived damaged",
)
PERSIAN = _kb(
    "fa",
    password="رمز عبورم را فراموش کرده‌ام | چطور رمزم را بازیابی کنم؟",
    email="چطور ایمیلم را تغییر دهم؟",
    installments="خرید اقساطی دارید؟",
    parts="قطعات یدکی اصلی می‌فروشید؟",
    cancel="چطور سفارشم را لغو کنم؟",
    gift="می‌شود سفارش را کادو کنید؟",
)
ARABIC = _kb(
    "ar",
    store="أين يقع متجركم؟ | ما عنوان متجركم؟",
    address="أريد تغيير عنوان الشحن",
    email="كيف أغير بريدي الإلكتروني؟",
    wrong_item="استلمت منتجاً خاطئاً",
    damaged="وصلني المنتج مكسوراً",
)


@pytest.mark.parametrize(
    ("kb", "text", "entry"),
    [
        (ENGLISH, "when do i get my money back", "refund"),  # money back ~ refund
        (ENGLISH, "got the wrong product", "wrong_item"),  # product ~ item
        (PERSIAN, "رمزمو یادم رفته", "password"),  # spoken clitic, یادم رفته ~ فراموش
        (PERSIAN, "قسطی میفروشین؟", "installments"),  # قسطی ~ اقساطی, sell ~ buy
        (PERSIAN, "سفارشمو کنسل کنید", "cancel"),  # کنسل ~ لغو
        (ARABIC, "عنوان المتجر", "store"),  # المتجر ~ متجركم
        (ARABIC, "وصلني منتج غلط", "wrong_item"),  # غلط ~ خاطئ, وصلني ~ استلمت
    ],
)
def test_paraphrase_found_with_the_language_layers_and_not_without(
    kb: KnowledgeBase, text: str, entry: str
) -> None:
    with_layers = Matcher(kb).match(text)
    plain = Matcher(kb, PLAIN).match(text)
    assert with_layers.best is not None and with_layers.best.entry_id == entry
    # without them the matcher is wrong, or less sure than with them
    assert plain.best is not None
    assert plain.best.entry_id != entry or plain.confidence < with_layers.confidence


def test_each_layer_can_be_switched_off() -> None:
    config = replace(MatcherConfig(), lexicon=False)
    assert Matcher(PERSIAN, config).match("رمزمو یادم رفته").confidence < (
        Matcher(PERSIAN).match("رمزمو یادم رفته").confidence
    )


def test_decide_detects_the_language_on_the_text_as_typed() -> None:
    text = "كيف أغير بريدي الإلكتروني؟"
    # normalised, the Arabic letters are gone and the text reads as Persian
    assert detect_language(text) == "ar"
    assert detect_language(normalise(text)) == "fa"
    matcher = Matcher(ARABIC)
    verdict = decide(text, matcher, Thresholds())
    assert verdict.match is not None
    assert verdict.match.features == matcher.match(text).features
    assert verdict.match.features != matcher.match(normalise(text), language="fa").features


@pytest.mark.parametrize(
    ("word", "stem"),
    [
        ("المتجر", "متجر"),
        ("والمتجر", "متجر"),
        ("متجرکم", "متجر"),
        ("حسابی", "حساب"),
        ("بالتقسیط", "تقسیط"),
        ("ولد", "ولد"),  # too short to lose a letter
        ("الی", "الی"),
    ],
)
def test_arabic_stem(word: str, stem: str) -> None:
    assert arabic_stem(word) == stem
