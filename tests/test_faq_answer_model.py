"""The learned answer decision (`faq.answer_model`): its shipped weights, and what it
adds to and leaves to the confidence and coverage rule in `faq.decide`."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from faq.answer_model import MODEL_PATH, answer_features, load_model, model_from_json
from faq.decide import (
    Thresholds,
    VerdictKind,
    decide,
    decide_match,
    learned_answer,
    match_question,
)
from faq.evaluate import evaluate_queries, load_queries
from faq.kb import load_kb, load_kb_texts
from faq.matcher import Candidate, Matcher, MatchResult
from faq.triage import triage

FIXTURES = Path(__file__).parent / "fixtures" / "faq"
LEARNED = Thresholds(learned=True)
RULES = Thresholds(learned=False)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_kb(FIXTURES / "kb.json"))


def _features(matcher: Matcher, text: str) -> dict[str, float]:
    matched = match_question(text, triage(text).rest, matcher)
    assert matched.coverage is not None
    return answer_features(
        matcher,
        text,
        matched.language,
        matched.result,
        matched.coverage,
        matched.whole_message,
        matched.clause,
    )


def test_the_shipped_model_reads_the_features_the_decision_computes(matcher: Matcher) -> None:
    model = load_model()
    # a feature added or renamed without refitting would be read as missing here
    assert model.names == tuple(_features(matcher, "how do I reset my password"))
    assert 0.0 < model.threshold < 1.0
    assert len(model.weights) == len(model.names)


def test_inference_is_deterministic_and_loads_from_the_shipped_data(matcher: Matcher) -> None:
    features = _features(matcher, "آیا اگر یک کتری کوچک بخرم هزینه ارسال دارد؟")
    fresh = model_from_json(json.loads(MODEL_PATH.read_text(encoding="utf-8")))
    assert fresh == load_model()
    assert fresh.probability(features) == load_model().probability(features)
    assert model_from_json(fresh.as_json()) == fresh
    # the logistic holds at the extremes (no overflow)
    for value in (-1e9, 1e9):
        p = fresh.probability(dict.fromkeys(fresh.names, value))
        assert 0.0 <= p <= 1.0


def test_malformed_weights_are_refused() -> None:
    data = load_model().as_json()
    with pytest.raises(ValueError, match="one value per feature"):
        model_from_json({**data, "weights": [1.0]})
    with pytest.raises(ValueError, match="numbers"):
        model_from_json({**data, "threshold": "high"})


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        ("how do I reset my password", "password-reset"),
        ("رمز عبورم را فراموش کردم", "password-reset"),
        ("نسيت كلمة المرور", "password-reset"),
    ],
)
def test_a_question_the_entry_explains_is_answered(
    matcher: Matcher, question: str, entry: str
) -> None:
    verdict = decide(question, matcher, LEARNED)
    assert verdict.answer is not None and verdict.answer.entry_id == entry


@pytest.mark.parametrize(
    "question",
    [
        # another company's password: the entry's words, a subject it does not cover
        "how do I reset my instagram password",
        "رمز اینستاگرامم را فراموش کردم",
        "نسيت كلمة مرور الفيسبوك",
        "کد تخفیف اسنپ کار نمیکنه",
        "ساعت کاری بانک ملت تا کیه؟",
        # another carrier, another office: the shop's shipping and hours, not theirs
        "how long does DHL take to deliver to Dubai",
        "هزینه ارسال پست پیشتاز چنده؟",
        "ساعت کاری اداره پست تا چنده؟",
        "can i return a rental car early",
    ],
)
def test_a_near_miss_sharing_the_entrys_words_is_refused(matcher: Matcher, question: str) -> None:
    matched = match_question(question, triage(question).rest, matcher)
    # the matcher is sure of the entry; the model is what refuses it
    assert matched.result.confidence >= RULES.answer
    assert learned_answer(matcher, matched) is False
    verdict = decide(question, matcher, LEARNED)
    assert verdict.kind is VerdictKind.SUGGEST
    assert verdict.suggestions and verdict.answer is None


@pytest.mark.parametrize(
    ("question", "entry"),
    [
        # "if I buy a small kettle" is a word («بخرم») the shipping entry does not explain
        ("آیا اگر یک کتری کوچک بخرم هزینه ارسال دارد؟", "shipping-cost"),
        # a dialect verb the KB does not know («تعوضوني»), at a low confidence
        ("لقيت نفس الخلاط أرخص بمحل ثاني، تعوضوني الفرق؟", "price-match"),
    ],
)
def test_the_model_answers_what_the_rule_refuses(
    matcher: Matcher, question: str, entry: str
) -> None:
    assert decide(question, matcher, RULES).kind is not VerdictKind.ANSWER
    verdict = decide(question, matcher, LEARNED)
    assert verdict.answer is not None and verdict.answer.entry_id == entry


NEGATIVE_KB = """
- id: password-reset
  questions:
    en: ["I forgot my password", "How do I reset my password?"]
  answers: {en: "Use 'Forgot password' on the sign-in page."}
  not:
    en: ["password of my bank card"]
- id: order-tracking
  questions: {en: ["Where is my order?"]}
  answers: {en: "See 'My orders'."}
"""


def test_a_not_phrasing_still_vetoes_what_the_model_would_answer() -> None:
    matcher = Matcher(load_kb_texts([("kb.yaml", NEGATIVE_KB)]))
    matched = match_question(
        "I forgot the password of my bank card",
        triage("I forgot the password of my bank card").rest,
        matcher,
    )
    assert matched.coverage is not None and matched.coverage.negative is not None
    refused = decide_match(matched.result, RULES, coverage=matched.coverage, learned=True)
    assert refused.kind is not VerdictKind.ANSWER
    # the same match without the veto: the model's yes is an answer
    plain = dataclasses.replace(matched.coverage, negative=None)
    taken = decide_match(matched.result, RULES, coverage=plain, learned=True)
    assert taken.kind is VerdictKind.ANSWER


def test_requests_for_a_person_never_reach_the_model(matcher: Matcher) -> None:
    for text in ("I want to talk to a person", "میخوام با یه آدم حرف بزنم", "أبي أكلم موظف"):
        assert decide(text, matcher, LEARNED).kind is VerdictKind.HUMAN


def test_the_model_does_not_pick_between_close_entries() -> None:
    close = MatchResult("q", (Candidate("a", 0.5, ""), Candidate("b", 0.45, "")), 0.1, 0.0)
    assert decide_match(close, RULES, learned=True).kind is not VerdictKind.ANSWER
    clear = MatchResult("q", (Candidate("a", 0.5, ""), Candidate("b", 0.3, "")), 0.1, 0.0)
    verdict = decide_match(clear, RULES, learned=True)
    assert verdict.answer is not None and verdict.answer.entry_id == "a"
    # without the model's yes, the rule alone refuses the low confidence
    assert decide_match(clear, RULES, learned=False).kind is not VerdictKind.ANSWER


# The held halves of the older split sets (colloquial, fresh, fresh3-8, near_miss),
# measured after the lexicon took the everyday words of three more writers: 269 of 745
# in-scope questions answered right (the rules alone: 245), 9 answered wrong (8), 7 of
# 458 near-miss answered (6; 1.5%, within the 3% a near-miss may be answered).
SPLIT_SETS = ("colloquial", "fresh", *(f"fresh{n}" for n in range(3, 9)), "near_miss")
HELD_RIGHT, HELD_WRONG, HELD_NEAR_MISS = 269, 9, 7


def test_the_held_halves_hold_the_learned_decisions_level(matcher: Matcher) -> None:
    right = wrong = near_miss = 0
    for name in SPLIT_SETS:
        path = FIXTURES / f"{name}.jsonl"
        lines = path.read_text(encoding="utf-8-sig").splitlines()
        splits = [json.loads(line).get("split") for line in lines if line.strip()]
        held = [q for q, s in zip(load_queries(path), splits, strict=True) if s == "held"]
        report = evaluate_queries(matcher, matcher.kb, held)
        answered_near_miss = report.out_of_scope - report.out_of_scope_held
        right += report.answered_right
        wrong += report.answered_wrong - answered_near_miss
        near_miss += answered_near_miss
    assert Thresholds().learned  # the default decision is the one measured
    assert right >= HELD_RIGHT, (right, wrong, near_miss)
    assert wrong <= HELD_WRONG and near_miss <= HELD_NEAR_MISS, (right, wrong, near_miss)
