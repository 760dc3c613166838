"""Fit the matcher's confidence (a logistic model over its top candidate's signals).

    python bench/faq_calibrate.py [--data ../shared/data]

Uses only training data and half A of dev.jsonl (`faq_tune.split_dev`), BANKING77,
ArBanking77 and CLINC150 training phrasings beyond the first ten per intent,
CLINC150's out-of-scope training queries (its validation split stays free for
choosing the benchmark's threshold), and the tune halves of the repository's
near-miss negatives and colloquial questions (tests/fixtures/faq/near_miss.jsonl,
colloquial.jsonl: lines with "split": "tune"; the held halves are never read). The
label is "the top candidate is right" (always false for out-of-scope queries).
Prints the weights to paste into `MatcherConfig`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq_accuracy import build_kb, first_shots, per_intent_sample, read_csv
from faq_tune import split_dev

from faq.coverage import assess
from faq.decide import Thresholds
from faq.evaluate import HUMAN, load_queries
from faq.kb import load_kb
from faq.matcher import CONFIDENCE_FEATURES, Matcher, MatcherConfig
from faq.triage import MessageKind, triage

Rows = list[tuple[tuple[float, ...], float, float]]  # features, label, sample weight


def collect(
    matcher: Matcher,
    queries: Sequence[tuple[str, str | None]],
    weight: float,
    *,
    explained_only: bool = False,
) -> Rows:
    """Feature rows of `queries`; with `explained_only`, only those whose top entry
    passes the coverage rule (the others are refused whatever the confidence, so the
    confidence need not learn them)."""
    rows: Rows = []
    limits = Thresholds()
    for text, expected in queries:
        result = matcher.match(text)
        if result.best is None:
            continue
        coverage = assess(matcher, result) if explained_only else None
        if coverage is not None and not coverage.explains(
            limits.max_unexplained, limits.max_foreign
        ):
            continue
        rows.append((result.features, float(result.best.entry_id == expected), weight))
    return rows


def fit_logistic(rows: Rows, ridge: float = 1e-2, iterations: int = 50) -> np.ndarray:
    """Weighted logistic regression by Newton's method; returns [bias, weights...]."""
    x = np.array([[1.0, *f] for f, _, _ in rows])
    y = np.array([label for _, label, _ in rows])
    w = np.array([weight for _, _, weight in rows])
    beta = np.zeros(x.shape[1])
    penalty = ridge * np.eye(x.shape[1])
    penalty[0, 0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-x @ beta))
        gradient = x.T @ (w * (p - y)) + penalty @ beta
        hessian = (x * (w * p * (1 - p))[:, None]).T @ x + penalty
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta


FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "faq"


def tune_half(path: Path) -> list[tuple[str, str | None]]:
    """The questions of a fixture's tune half (hand-off requests and small talk left out:
    they never reach the matcher)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [
        (r["text"], r["expected"])
        for r in rows
        if r["split"] == "tune"
        and r["expected"] != HUMAN
        and triage(r["text"]).kind is MessageKind.QUESTION
    ]


def dev_tuning_questions(data: Path) -> list[tuple[str, str | None]]:
    """The questions of half A of dev.jsonl, with their expected entries: half A only, so
    that half B stays a fair check of the whole bot."""
    half_a, _ = split_dev(load_queries(data / "faq" / "dev.jsonl"))
    return [
        (q.text, q.expected)
        for q in half_a
        if q.expected != HUMAN and triage(q.text).kind is MessageKind.QUESTION
    ]


def gather(data: Path, config: MatcherConfig) -> Rows:
    intents = data / "intents"
    rows: Rows = []
    kb = load_kb(data / "faq" / "kb.json")
    dev = dev_tuning_questions(data)
    kb_matcher = Matcher(kb, config)
    rows += collect(kb_matcher, dev, weight=10.0)
    # The near-miss negatives and the colloquial questions of the same KB: tune halves.
    for name in ("near_miss.jsonl", "colloquial.jsonl"):
        rows += collect(kb_matcher, tune_half(FIXTURES / name), 5.0, explained_only=True)

    b_kb, b_rest = first_shots(
        read_csv(intents / "banking77" / "train.csv", "text", "category"), 10
    )
    rows += collect(Matcher(build_kb(b_kb, "en"), config), per_intent_sample(b_rest, 5), 1.0)
    a_train = read_csv(
        intents / "arbanking77" / "Banking77_Arabized_MSA_PAL_train.csv", "text", "label"
    )
    a_kb, a_rest = first_shots(a_train, 10)
    rows += collect(Matcher(build_kb(a_kb, "ar"), config), per_intent_sample(a_rest, 5), 1.0)

    clinc = json.loads((intents / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    c_kb, c_rest = first_shots([(t, i) for t, i in clinc["train"]], 10)
    c_matcher = Matcher(build_kb(c_kb, "en"), config)
    rows += collect(c_matcher, per_intent_sample(c_rest, 5), 1.0)
    rows += collect(c_matcher, [(t, None) for t, _ in clinc["oos_train"]], 3.0)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data")
    args = parser.parse_args(argv)
    rows = gather(args.data, MatcherConfig())
    beta = fit_logistic(rows)
    print(f"{len(rows)} queries; features: {', '.join(CONFIDENCE_FEATURES)}")
    print(f"confidence_bias: float = {beta[0]:.3f}")
    print(f"confidence_weights: tuple[float, ...] = ({', '.join(f'{b:.3f}' for b in beta[1:])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
