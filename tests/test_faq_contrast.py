"""The contrast signal: what tells a KB's entries apart, learnt from its own phrasings
(`faq.index.ContrastIndex`, `MatcherConfig.w_contrast`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from faq import index_cache
from faq.decide import Thresholds, VerdictKind, decide
from faq.index import ContrastIndex, IndexQuery, feature_counts, merge_documents
from faq.kb import FaqEntry, KnowledgeBase, load_kb
from faq.matcher import Matcher, MatcherConfig

KB = Path(__file__).parent / "fixtures" / "faq" / "kb.json"
OFF = MatcherConfig(w_contrast=0.0)


def _kb(language: str, entries: dict[str, list[str]]) -> KnowledgeBase:
    return KnowledgeBase(
        entries=tuple(
            FaqEntry(id=entry_id, questions={language: tuple(qs)}, answers={language: "-"})
            for entry_id, qs in entries.items()
        ),
        default_language=language,
    )


# Two entries whose phrasings share most words; every phrasing of one has a word
# ("billing") the other's never have, and one phrasing of the other has a word
# ("placed") the question also has.
PAIRS = {
    "en": (
        {
            "billing-address": [
                "change billing address",
                "how do I change my billing address",
                "billing address wrong, can I change it",
                "edit the billing address on my order",
            ],
            "delivery-address": [
                "change delivery address",
                "how do I change my delivery address",
                "delivery address wrong, can I change it",
                "edit the delivery address on the order I placed",
            ],
        },
        "edit the billing address on the order I placed",
    ),
    "fa": (
        {
            "billing-address": [
                "تغییر آدرس صورتحساب",
                "چطور آدرس صورتحساب را عوض کنم",
                "آدرس صورتحساب اشتباه است",
                "ویرایش آدرس صورتحساب سفارش",
            ],
            "delivery-address": [
                "تغییر آدرس تحویل",
                "چطور آدرس تحویل را عوض کنم",
                "آدرس تحویل اشتباه است",
                "ویرایش آدرس تحویل سفارشی که ثبت کردم",
            ],
        },
        "آدرس صورتحساب سفارشی که ثبت کردم اشتباه است",
    ),
    "ar": (
        {
            "billing-address": [
                "تغيير عنوان الفاتورة",
                "كيف أغير عنوان الفاتورة",
                "عنوان الفاتورة خطأ",
                "تعديل عنوان الفاتورة في الطلب",
            ],
            "delivery-address": [
                "تغيير عنوان التوصيل",
                "كيف أغير عنوان التوصيل",
                "عنوان التوصيل خطأ",
                "تعديل عنوان التوصيل في الطلب الذي أرسلته",
            ],
        },
        "تعديل عنوان الفاتورة في الطلب الذي أرسلته",
    ),
}


@pytest.mark.parametrize("language", sorted(PAIRS))
def test_the_word_every_phrasing_of_an_entry_has_tells_a_close_pair_apart(
    language: str,
) -> None:
    entries, question = PAIRS[language]
    kb = _kb(language, entries)
    with_contrast, without = Matcher(kb), Matcher(kb, OFF)
    # The word in every phrasing of one entry outweighs the word the question shares
    # with one phrasing of the other.
    probability = with_contrast.contrast(question, language)
    assert probability["billing-address"] > 0.6 > probability["delivery-address"]
    ranked = with_contrast.match(question, language=language)
    assert ranked.candidates[0].entry_id == "billing-address"
    # The candidates keep their lexical scores, and the confidence reads them: the
    # contrast ranks, it never reassures.
    lexical = without.match(question, language=language)
    assert {c.entry_id: c.score for c in ranked.candidates} == {
        c.entry_id: c.score for c in lexical.candidates
    }
    assert ranked.confidence == lexical.confidence


def test_contrast_index_weighs_a_feature_by_how_many_of_an_entry_s_phrasings_have_it() -> None:
    phrasings = [
        {"change": 1, "billing": 1, "address": 1},
        {"billing": 1, "address": 1, "wrong": 1},
        {"change": 1, "delivery": 1, "address": 1},
        {"delivery": 1, "address": 1, "placed": 1},
    ]
    counts = feature_counts(phrasings)
    merged = merge_documents(counts, np.array([0, 0, 1, 1]), 2)
    vocabulary = {name: i for i, name in enumerate(counts.names)}
    contrast = ContrastIndex(merged, vocabulary, alpha=0.1)

    def likelihoods(*features: str) -> list[float]:
        ids = np.array([vocabulary[f] for f in features], dtype=np.int64)
        return [float(x) for x in contrast.log_likelihoods(IndexQuery(ids, np.ones(len(ids)), 1.0))]

    billing, delivery = likelihoods("billing", "address", "placed")
    assert billing > delivery  # "billing" in both of entry 0's phrasings, "placed" in one
    shared = likelihoods("address", "change")
    assert shared[0] == pytest.approx(shared[1])  # words both entries have tell nothing
    restored = ContrastIndex.restore(contrast.arrays(), len(vocabulary), 2)
    ids = np.array([vocabulary["wrong"]], dtype=np.int64)
    one = IndexQuery(ids, np.ones(1), 1.0)
    assert restored.log_likelihoods(one).tolist() == contrast.log_likelihoods(one).tolist()


@pytest.mark.parametrize(
    "entries",
    [
        {"only": ["how do I track my order"]},
        {f"e{i}": [f"question number {word}"] for i, word in enumerate("abcde")},
        {"empty": [], "one": ["where is my parcel"]},
    ],
)
def test_a_tiny_kb_falls_back_gracefully(entries: dict[str, list[str]]) -> None:
    kb = KnowledgeBase(
        entries=tuple(
            FaqEntry(id=k, questions={"en": tuple(v)} if v else {}, answers={"en": "-"})
            for k, v in entries.items()
        ),
        default_language="en",
    )
    result = Matcher(kb).match("where is my parcel, how do I track it?", language="en")
    assert result.candidates and 0.0 <= result.confidence <= 1.0
    assert all(np.isfinite(c.score) for c in result.candidates)
    assert "empty" not in [c.entry_id for c in result.candidates]
    nothing = Matcher(kb).match("zzz qqq", language="en")  # no feature the KB knows
    assert all(np.isfinite(c.score) for c in nothing.candidates)


@pytest.mark.parametrize(
    "text",
    [
        "ساعت کاری بانک ملت تا کیه؟",
        "رمز دوم کارت بانکیمو یادم رفته",
        "how long does it take to boil an egg",
        "كم سعر تذكرة الطيران إلى دبي؟",
    ],
)
def test_near_miss_questions_stay_refused_with_the_contrast(text: str) -> None:
    kb = load_kb(KB)
    verdict = decide(text, Matcher(kb), Thresholds())
    assert verdict.kind is not VerdictKind.ANSWER


def test_the_cache_key_covers_the_contrast_and_the_cache_keeps_it(tmp_path: Path) -> None:
    kb = load_kb(KB)
    base = MatcherConfig()
    configs = [
        base,
        dataclasses.replace(base, contrast_alpha=0.5),
        dataclasses.replace(base, contrast_char_weight=0.0),
        dataclasses.replace(base, contrast_temperature=3.0),
        dataclasses.replace(base, w_contrast=0.2),
    ]
    keys = {index_cache.cache_key(kb, config, None) for config in configs}
    assert len(keys) == 5
    built = Matcher(kb, cache_dir=tmp_path)
    cached = Matcher(kb, cache_dir=tmp_path)
    assert cached.index_source == "cache"
    for text in ("refund kai miad?", "مدة الضمان كم", "رمزمو یادم رفته", "where is my order"):
        a, b = built.match(text), cached.match(text)
        assert (a.candidates, a.confidence) == (b.candidates, b.confidence)


def test_a_model_outside_the_matcher_reads_the_same_features_as_the_contrast() -> None:
    entries, question = PAIRS["en"]
    matcher = Matcher(_kb("en", entries))
    words, chars, entry_of = matcher.phrasing_features()
    assert entry_of.tolist() == [0] * 4 + [1] * 4  # each phrasing's entry, in KB order
    assert words.max_document() == chars.max_document() == 7
    features = matcher.query_features(question, "en")
    assert features is not None
    names = words.vocabulary()
    question_words = {names[i] for i in features[0].feature_ids.tolist()}
    # the lexicon's concepts of "billing" and "delivery"
    assert "~invoice" in question_words and "~ship" not in question_words
    assert features[1].feature_ids.size > 0  # character n-grams
    # A question with no words has no features (and no contrast).
    assert matcher.query_features("؟!", "en") is None
    assert matcher.contrast("؟!", "en") == {}
