"""The semantic extra as a scorer: lexical score and embedding similarity fused.

With the extra on (`faq.rerank`), each entry's score is its lexical score
(`faq.matcher`) plus `embedding_weight` times its embedding similarity to the
question (a blend of the cosines with the entry's closest phrasing, its second
closest and its centroid, `faq.rerank.Similarities`),
over the lexical shortlist and the entries closest in embedding space. The
confidence is a logistic model over the fused top entry's signals
(`FUSION_FEATURES`), fitted on tuning data only by `bench/faq_fusion.py`. The
decision (`faq.decide`) then answers, suggests or hands off on that confidence, and
the coverage rule (`faq.coverage`) still applies to the entry answered with: the
embedding can bring an entry that shares no word with the question, but a question
with words nothing in the KB explains is not answered (embedding cosines alone do not
separate near-miss questions from real ones).

Without the extra nothing here runs: the lexical matcher alone decides.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from faq.matcher import Candidate, Matcher, MatchResult
from faq.rerank import EmbeddingReranker, Similarities

FUSION_FEATURES = (
    "fused",  # the top entry's fused score
    "fused_margin",  # its lead over the runner-up
    "cosine",  # its embedding similarity
    "cosine_margin",  # its similarity minus the best similarity of any other entry
    "lexical_confidence",  # the lexical confidence if the lexical top is the same entry, else 0
    "centroid",  # its cosine with the entry's centroid
    "centroid_margin",  # that cosine minus the best centroid cosine of any other entry
)


@dataclass(frozen=True, slots=True)
class FusionConfig:
    """Weights of the fused score and confidence (`bench/faq_fusion.py` fits them on
    tuning data: training phrasings beyond the KB's, CLINC150 validation, the Saudi
    split's half A, half A of dev.jsonl and the tune halves of the shop's colloquial
    and near-miss sets). The confidence leans on the centroid cosine and its lead over
    every other entry's: on CLINC150's out-of-scope questions they separate what the
    best phrasing's cosine does not; the best cosine's negative weight then only
    discounts an entry that one phrasing alone brings close."""

    embedding_weight: float = 16.0  # fused = lexical score + weight * similarity
    # similarity = (1 - s - c) * best cosine + s * second best + c * centroid cosine
    second_weight: float = 0.0
    centroid_weight: float = 0.5
    pool: int = 10  # entries closest in embedding space added to the lexical shortlist
    confidence_weights: tuple[float, ...] = (
        0.623,
        2.5,
        -10.134,
        -8.778,
        1.78,
        16.597,
        24.844,
    )
    confidence_bias: float = -16.193


def fuse(
    matcher: Matcher,
    result: MatchResult,
    similarities: Similarities,
    config: FusionConfig,
    *,
    language: str | None = None,
    limit: int = 5,
) -> MatchResult:
    """Re-rank `result` (the lexical match, its whole shortlist) with the question's
    per-entry cosines (`EmbeddingReranker.similarities`).

    Entries the lexical shortlist left out get its lowest score (they scored no
    higher in stage 1). The returned result's `explained` is the per-word coverage of
    the fused top entry, so `faq.coverage.assess` judges the entry answered with.
    """
    similarity = (
        (1 - config.second_weight - config.centroid_weight) * similarities.best
        + config.second_weight * similarities.second
        + config.centroid_weight * similarities.centroid
    )
    entry_ids = [e.id for e in matcher.kb.entries]
    lexical = {c.entry_id: c for c in result.candidates}
    floor = min((c.score for c in result.candidates), default=0.0)
    pool = min(config.pool, len(entry_ids))
    nearest = np.argpartition(-similarity, pool - 1)[:pool] if pool else np.zeros(0, np.int64)
    numbers = {matcher.entry_number(c.entry_id) for c in result.candidates}
    numbers.update(int(i) for i in nearest.tolist())
    sims = similarity.tolist()
    scored = []
    for entry_no in numbers:
        entry_id = entry_ids[entry_no]
        candidate = lexical.get(entry_id)
        lex = candidate.score if candidate is not None else floor
        fused = lex + config.embedding_weight * sims[entry_no]
        scored.append((fused, entry_no, candidate))
    if not scored:
        return result
    scored.sort(key=lambda s: (-s[0], s[1]))
    top_fused, top_no, _ = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else 0.0
    others = np.delete(similarity, top_no)
    cosine_margin = sims[top_no] - (float(others.max()) if others.size else -1.0)
    centroids = similarities.centroid
    other_centroids = np.delete(centroids, top_no)
    centroid = float(centroids[top_no])
    centroid_margin = centroid - (float(other_centroids.max()) if other_centroids.size else -1.0)
    same_top = result.best is not None and result.best.entry_id == entry_ids[top_no]
    features = (
        top_fused,
        top_fused - runner_up,
        sims[top_no],
        cosine_margin,
        result.confidence if same_top else 0.0,
        centroid,
        centroid_margin,
    )
    z = config.confidence_bias + sum(
        w * x for w, x in zip(config.confidence_weights, features, strict=True)
    )
    candidates = tuple(
        Candidate(
            entry_ids[no],
            round(f, 4),
            c.question if c is not None else _first(matcher, no, language),
        )
        for f, no, c in scored[:limit]
    )
    explained = (
        result.explained
        if same_top
        else matcher.explain(result.normalised, entry_ids[top_no], language)
    )
    return MatchResult(
        result.normalised,
        candidates,
        1.0 / (1.0 + math.exp(-z)),
        result.elapsed_us,
        features,
        explained,
    )


def _first(matcher: Matcher, entry_no: int, language: str | None) -> str:
    """An entry's first phrasing in `language` (else in any), shown for a candidate only
    the embedding proposed."""
    questions = matcher.kb.entries[entry_no].questions
    own = questions.get(language or "")
    if own:
        return own[0]
    return next((q for phrasings in questions.values() for q in phrasings), "")


def semantic_match(
    matcher: Matcher,
    reranker: EmbeddingReranker,
    text: str,
    config: FusionConfig,
    language: str | None = None,
) -> MatchResult:
    """`Matcher.match` with the semantic extra: the lexical shortlist fused with the
    embedding similarities of `text` (a question nothing in it can be analysed stays
    unmatched, whatever the embedding finds)."""
    result = matcher.match(text, limit=matcher.config.shortlist, language=language)
    if result.best is None:
        return result
    return fuse(matcher, result, reranker.similarities(text), config, language=language)
