"""Matcher, triage and language detection on the fixture KB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faq.kb import FaqEntry, KnowledgeBase, load_kb
from faq.language import detect_language
from faq.matcher import Matcher, MatcherConfig, _unique_with_inverse
from faq.triage import MessageKind, triage, yes_or_no

KB = Path(__file__).parent / "fixtures" / "faq" / "kb.json"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_kb(KB))


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("سفارشم کجاست", "order-tracking"),
        ("ارسال چند روز طول ميكشه؟", "shipping-time"),  # Arabic yeh/kaf, colloquial ending
        ("میخوام جنس رو پس بدم", "return-policy"),  # ZWNJ missing
        ("مدت گارانتي چقدره", "warranty-period"),
        ("كيف ارجع المنتج", "return-policy"),  # Arabic without hamza
        ("how do i claim warranty", "warranty-claim"),
        ("forgot password", "password-reset"),
    ],
)
def test_noisy_questions_rank_the_right_entry_first(
    matcher: Matcher, text: str, entry: str
) -> None:
    result = matcher.match(text)
    assert result.best is not None and result.best.entry_id == entry
    # Ranked with the contrast signal too, each with its lexical score: entries and
    # scores of the lexical ranking (sorted by score), in an order that may differ.
    lexical = Matcher(matcher.kb, MatcherConfig(w_contrast=0.0)).match(text, limit=10)
    scores = [c.score for c in lexical.candidates]
    assert scores == sorted(scores, reverse=True)
    assert {(c.entry_id, c.score) for c in result.candidates} <= {
        (c.entry_id, c.score) for c in lexical.candidates
    }
    assert 0.0 <= result.confidence <= 1.0


def test_confident_on_a_kb_phrasing_unsure_on_nonsense(matcher: Matcher) -> None:
    assert matcher.match("How do I track my order?").confidence > 0.9
    assert matcher.match("asdfgh").confidence < 0.1
    assert matcher.match("what's the capital of France").confidence < 0.5


def test_idf_makes_content_words_outweigh_function_words() -> None:
    kb = KnowledgeBase(
        entries=(
            FaqEntry("order", {"en": ("where is my order",)}, {"en": "a"}),
            FaqEntry("my-account", {"en": ("my my my account",)}, {"en": "b"}),
            FaqEntry("hours", {"en": ("opening hours",)}, {"en": "c"}),
        )
    )
    best = Matcher(kb).match("my order").best
    assert best is not None and best.entry_id == "order"


def test_empty_question_and_empty_kb_give_no_candidates(matcher: Matcher) -> None:
    assert matcher.match("؟؟").candidates == ()
    assert matcher.match("").confidence == 0.0


def test_limit_caps_candidates(matcher: Matcher) -> None:
    assert len(matcher.match("order", limit=2).candidates) == 2


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("سفارشم کجاست", "fa"),
        ("وضعيت تعمير گوشيم", "fa"),  # Persian typed with Arabic yeh
        ("ارسال چند روز طول ميكشه", "fa"),
        ("أين طلبي؟", "ar"),
        ("اين طلبي", "ar"),
        ("هل يوجد تقسيط", "ar"),
        ("where is my order", "en"),
        ("۱۲۳", None),
        ("", None),
    ],
)
def test_language_detection(text: str, language: str | None) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("", MessageKind.EMPTY),
        ("سلام", MessageKind.GREETING),
        ("السلام عليكم", MessageKind.GREETING),
        ("hi there", MessageKind.GREETING),
        ("مرسی", MessageKind.THANKS),
        ("شكرا جزيلا", MessageKind.THANKS),
        ("با پشتیبان انسانی وصلم کن", MessageKind.HUMAN),
        ("خدمة العملاء بشري من فضلك", MessageKind.HUMAN),
        ("agent please", MessageKind.HUMAN),
        ("سلامت باشید، سفارشم کجاست", MessageKind.QUESTION),  # سلامت is not سلام
        ("customer service hours", MessageKind.QUESTION),
        ("Can someone show me how to use the device?", MessageKind.QUESTION),
    ],
)
def test_triage(text: str, kind: MessageKind) -> None:
    assert triage(text).kind is kind


def test_greeting_with_a_question_keeps_the_question() -> None:
    result = triage("سلام، سفارشم کجاست؟")
    assert result.kind is MessageKind.QUESTION and result.rest == "سفارشم کجاست"


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("yes", True),
        ("Yes, thanks", True),
        ("بله ممنون", True),
        ("نعم", True),
        ("no", False),
        ("no thanks", False),
        ("نه", False),
        ("لا", False),
        ("where is my order", None),
        ("", None),
    ],
)
def test_yes_or_no(text: str, answer: bool | None) -> None:
    assert yes_or_no(text) is answer


def test_the_fast_unique_gives_what_numpy_unique_gives() -> None:
    """The per-word coverage's own `unique` (numpy's costs a fifth of it): same columns,
    same inverse, on repeats, negatives (unknown forms), the largest id and nothing."""
    rng = np.random.default_rng(7)
    samples = [rng.integers(-1, 50, size=n) for n in (1, 2, 17, 350)]
    for values in [*samples, np.array([3, 3, 3, 49]), np.zeros(0, dtype=np.int64)]:
        expected_columns, expected_inverse = np.unique(values, return_inverse=True)
        for bound in (50, 10**6):  # a table of the forms, or a sort (many forms)
            columns, inverse = _unique_with_inverse(values.astype(np.int64), bound)
            assert columns.tolist() == expected_columns.tolist()
            assert inverse.tolist() == expected_inverse.tolist()
