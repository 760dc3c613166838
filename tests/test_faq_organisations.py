"""Names of other organisations (faq/organisations.yaml): a question that names one the
KB never names is not answered, however well the shop's entry matches its other words."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
import yaml

from faq.coverage import assess
from faq.decide import Thresholds, VerdictKind, decide
from faq.kb import load_kb, load_kb_texts
from faq.light_words import LIGHT_WORDS, PLACES
from faq.matcher import Matcher
from faq.normalise import normalise, tokenise

KB = Path(__file__).parent / "fixtures" / "faq" / "kb.json"
# the coverage gates off: what refuses is the organisation's name alone
LENIENT = Thresholds(max_unexplained=99, max_foreign=99, learned=False)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_kb(KB))


@pytest.mark.parametrize(
    ("question", "name"),
    [
        ("I forgot my Apple ID password", "apple id"),
        ("How can I delete my Facebook account?", "facebook"),
        ("رمز عبور اینستاگرامم را فراموش کرده‌ام", "instagram"),  # with «م», "my"
        ("نسيت كلمة المرور حق سناب شات", "سناب شات"),
        ("ساعت کاری بانک ملت چیست؟", "بانک ملت"),
        ("What are the opening hours of Mellat Bank?", "bank mellat"),
    ],
)
def test_a_question_naming_another_organisation_is_not_answered(
    matcher: Matcher, question: str, name: str
) -> None:
    # the shop's entry matches every other word: without the name, answered
    verdict = decide(question, matcher, LENIENT)
    assert verdict.match is not None and verdict.match.confidence > Thresholds().answer
    assert verdict.coverage is not None and verdict.coverage.organisations == (name,)
    assert verdict.kind is not VerdictKind.ANSWER
    assert decide(question, matcher, Thresholds()).kind is not VerdictKind.ANSWER


def test_the_learned_decision_does_not_answer_for_another_organisation(
    matcher: Matcher,
) -> None:
    # the rule refuses «سناب شات» as unexplained; the learned decision answered it
    question = "كيف أحذف حسابي في سناب شات؟"
    learned_only = decide(question, matcher, Thresholds(max_unexplained=-1))
    assert learned_only.coverage is not None and learned_only.coverage.vetoed
    assert learned_only.kind is not VerdictKind.ANSWER
    assert decide(question, matcher, Thresholds()).kind is not VerdictKind.ANSWER


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("hamrah aval sharj nemishe", ("hamrah aval",)),  # Finglish, read in Persian script
        ("شارژ همراه اول نمیشه", ("همراه اول",)),
        ("كيف افتح حساب في مصرف الراجحي", ("مصرف الراجحي",)),  # the longest name only
        ("الدفع بالراجحي فشل", ("الراجحي",)),  # with «ب», "with"
        ("كيف أغير كلمة السر في الفيسبوك", ("فيسبوك",)),  # with the article
        # a bank's name alone is a common word («ملت», "nation"; "saman")
        ("قیمت برای ملت چنده", ()),
        ("saman opening hours", ()),
        ("where is my order?", ()),
        # ways to pay and email addresses are the shop's subjects
        ("do you accept apple pay?", ()),
        ("how do I change my account email to gmail", ()),
    ],
)
def test_names_are_found_as_runs_of_words_with_their_clitics(
    matcher: Matcher, question: str, names: tuple[str, ...]
) -> None:
    coverage = assess(matcher, matcher.match(question))
    assert coverage is not None and coverage.organisations == names, coverage


APPLE_KB = """
- id: apple-id
  questions:
    en: ["I forgot my Apple ID password", "How do I set up an Apple ID on a new iPhone?"]
  answers: {en: "We set up your Apple ID in the store when you buy an iPhone."}
- id: password-reset
  questions: {en: ["I forgot my password", "How do I reset my password?"]}
  answers: {en: "Use 'Forgot password' on the sign-in page."}
"""


def test_a_kb_that_names_an_organisation_answers_about_it() -> None:
    question = "I forgot my Apple ID password, what do I do?"
    shop = Matcher(load_kb_texts([("kb.yaml", APPLE_KB)]))
    verdict = decide(question, shop, Thresholds())
    assert verdict.coverage is not None and verdict.coverage.organisations == ()
    assert verdict.answer is not None and verdict.answer.entry_id == "apple-id"
    # the same KB without its Apple ID entry: the question asks Apple, not the shop
    without_apple_id = APPLE_KB[APPLE_KB.index("- id: password-reset") :]
    other = Matcher(load_kb_texts([("kb.yaml", without_apple_id)]))
    verdict = decide(question, other, LENIENT)
    assert verdict.coverage is not None and verdict.coverage.organisations == ("apple id",)
    assert verdict.kind is not VerdictKind.ANSWER


def test_the_organisations_file_lists_names_that_are_no_light_word_or_place() -> None:
    groups = yaml.safe_load(
        resources.files("faq").joinpath("organisations.yaml").read_text(encoding="utf-8")
    )
    assert {"bank_words", "banks"} < set(groups), groups
    for group_name, group in groups.items():
        assert set(group) <= {"fa", "ar", "en"} and group, group
        for names in group.values():
            assert isinstance(names, list) and names
            for name in names:
                tokens = tokenise(normalise(name))
                assert isinstance(name, str) and tokens, name
                # a one-word name that is a light word or a place would refuse
                # questions the shop answers (a bank's name counts only beside a
                # word for bank)
                if len(tokens) == 1 and group_name not in {"bank_words", "banks"}:
                    assert tokens[0] not in LIGHT_WORDS | PLACES, name
