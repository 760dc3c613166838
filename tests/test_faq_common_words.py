"""The common-word lists (`faq.common_words`): looked up in the form the matcher gives
a word, and read by the learned decision as everyday language or a name."""

from __future__ import annotations

from pathlib import Path

import pytest

from faq.common_words import LANGUAGES, frequency_rank, list_size
from faq.decide import Thresholds, VerdictKind, decide
from faq.kb import load_kb
from faq.matcher import Matcher

FIXTURES = Path(__file__).parent / "fixtures" / "faq"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_kb(FIXTURES / "kb.json"))


def _rank(matcher: Matcher, typed: str, language: str) -> int | None:
    (word,) = matcher.words(typed, language)
    return frequency_rank(word, language)


@pytest.mark.parametrize(
    ("typed", "plain", "language"),
    [
        ("كتابي", "کتابی", "fa"),  # Arabic ك and ي as Persian ک and ی
        ("می\u200cخواهم", "میخواهم", "fa"),  # with and without ZWNJ
        ("أريد", "اريد", "ar"),  # hamza on alef
        ("الإجابة", "الاجابه", "ar"),  # hamza under alef, ta marbuta
        ("Anyway", "anyway", "en"),
    ],
)
def test_a_word_is_found_however_it_is_typed(
    matcher: Matcher, typed: str, plain: str, language: str
) -> None:
    rank = _rank(matcher, typed, language)
    assert rank is not None and rank <= list_size(language)
    assert _rank(matcher, plain, language) == rank


def test_clitics_and_spoken_verb_forms_find_their_word(matcher: Matcher) -> None:
    # a Persian possessive, an Egyptian future prefix
    assert _rank(matcher, "اطلاعاتم", "fa") == _rank(matcher, "اطلاعات", "fa")
    assert _rank(matcher, "هتشتغل", "ar") == _rank(matcher, "تشتغل", "ar")


def test_names_and_made_up_words_are_not_common() -> None:
    assert frequency_rank("qwzxv", "en") is None
    assert frequency_rank("فلانستانی", "fa") is None


def test_every_list_is_ordered_words_one_a_line() -> None:
    for language in LANGUAGES:
        assert list_size(language) > 1000
        # the most frequent word is a function word, ranked first
        assert frequency_rank({"en": "the", "fa": "و", "ar": "فی"}[language], language) == 1


def test_the_decision_answers_everyday_words_and_refuses_a_rare_name(matcher: Matcher) -> None:
    rules, learned = Thresholds(learned=False), Thresholds(learned=True)
    # "back" is unexplained by the price-match entry, and common: answered
    everyday = (
        "i found the same toaster cheaper somewhere else, will you give me the difference back"
    )
    assert decide(everyday, matcher, rules).kind is not VerdictKind.ANSWER
    verdict = decide(everyday, matcher, learned)
    assert verdict.answer is not None and verdict.answer.entry_id == "price-match"
    # another company's password: "tinder" is the one unexplained word, and rare
    assert decide("how do I reset my Tinder password", matcher, learned).answer is None
