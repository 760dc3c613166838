"""Tuning figures for the FAQ matcher, on tuning data only (never a test split).

    python bench/faq_tune.py [--data ../shared/data] [--show A|B] [--json]

- `dev.jsonl` split in two halves by a fixed seed (`split_dev`), each group (in scope,
  out of scope, hand-off) shuffled and dealt alternately, so both halves have some of
  each: develop on half A, check that half B does not get worse.
- BANKING77: KB of the first ten training phrasings per intent, queries the next
  ten per intent after the five `faq_calibrate.py` fits the confidence on.
- ArBanking77: the same KB (first ten MSA phrasings), queries up to ten per intent
  from the second MSA block of the training file.
- CLINC150 validation split: top-1 accuracy, and in-scope accuracy at the lowest
  threshold holding back 80, 85, 90 and 95% of the non-test out-of-scope queries
  (validation and training; the benchmark's rule is `OOS_RECALL_TARGET`).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq_accuracy import (
    OOS_RECALL_TARGET,
    SHOTS,
    Labelled,
    build_kb,
    choose_threshold,
    first_shots,
    in_scope_and_oos,
    matcher_top1,
    pct,
    per_intent_sample,
    read_csv,
    top1_accuracy,
)

from faq.evaluate import HUMAN, LabelledQuery, evaluate_queries, load_queries
from faq.kb import load_kb
from faq.matcher import Matcher, MatcherConfig

DEV_SPLIT_SEED = 20261123
# Rows of the ArBanking77 training file where its second MSA block starts and ends.
ARABIC_MSA_BLOCK_2 = (8983, 10733)


def split_dev(queries: Sequence[LabelledQuery]) -> tuple[list[LabelledQuery], list[LabelledQuery]]:
    """Halves A and B of `queries`, by group (in scope / out of scope / hand-off)."""
    rng = random.Random(DEV_SPLIT_SEED)
    half_a: list[LabelledQuery] = []
    half_b: list[LabelledQuery] = []
    groups = (
        [q for q in queries if q.expected not in (None, HUMAN)],
        [q for q in queries if q.expected is None],
        [q for q in queries if q.expected == HUMAN],
    )
    for group in groups:
        shuffled = list(group)
        rng.shuffle(shuffled)
        half_a += shuffled[0::2]
        half_b += shuffled[1::2]
    return half_a, half_b


def dev_figures(data: Path, config: MatcherConfig, show: str | None) -> dict[str, object]:
    kb = load_kb(data / "faq" / "kb.json")
    matcher = Matcher(kb, config)
    queries = load_queries(data / "faq" / "dev.jsonl")
    half_a, half_b = split_dev(queries)
    out: dict[str, object] = {}
    for name, part in (("dev_A", half_a), ("dev_B", half_b), ("dev_all", queries)):
        report = evaluate_queries(matcher, kb, part)
        figures = report.as_dict()
        out[name] = {
            k: figures[k]
            for k in (
                "in_scope",
                "answered_right",
                "answered_wrong",
                "suggested_right",
                "out_of_scope",
                "out_of_scope_held",
                "handoff",
                "handoff_detected",
            )
        }
        if show == name.removeprefix("dev_"):
            for o in report.mistakes():
                print(
                    f"  {o.query.expected} | {o.query.text} | {o.verdict} {o.answered} "
                    f"{o.suggested} {o.confidence}",
                    file=sys.stderr,
                )
    return out


def intent_figures(data: Path, config: MatcherConfig) -> dict[str, object]:
    intents = data / "intents"
    out: dict[str, object] = {}
    b_train = read_csv(intents / "banking77" / "train.csv", "text", "category")
    b_kb, b_rest = first_shots(b_train, SHOTS)
    _, b_rest = first_shots(b_rest, 5)  # skip what faq_calibrate.py fits on
    b_val = per_intent_sample(b_rest, 10)
    matcher = Matcher(build_kb(b_kb, "en"), config)
    out["banking77_val_top1"] = pct(top1_accuracy(matcher_top1(matcher, b_val), b_val))

    a_train = read_csv(
        intents / "arbanking77" / "Banking77_Arabized_MSA_PAL_train.csv", "text", "label"
    )
    a_kb, _ = first_shots(a_train, SHOTS)
    start, end = ARABIC_MSA_BLOCK_2
    a_val = per_intent_sample(a_train[start:end], 10)
    matcher = Matcher(build_kb(a_kb, "ar"), config)
    out["arbanking77_val_top1"] = pct(top1_accuracy(matcher_top1(matcher, a_val), a_val))

    clinc = json.loads((intents / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    c_kb, _ = first_shots([(t, i) for t, i in clinc["train"]], SHOTS)
    c_val: Labelled = [(t, i) for t, i in clinc["val"]]
    # every non-test out-of-scope query, as bench/faq_accuracy.py chooses its threshold
    c_oos: Labelled = [(t, i) for t, i in clinc["oos_val"] + clinc["oos_train"]]
    matcher = Matcher(build_kb(c_kb, "en"), config)
    predictions = matcher_top1(matcher, c_val)
    oos = matcher_top1(matcher, c_oos)
    out["clinc150_val_top1"] = pct(top1_accuracy(predictions, c_val))
    # The threshold hangs on a few of the most confident out-of-scope queries: the
    # in-scope accuracy at other recalls says whether a change is more than noise.
    for target in sorted({0.8, 0.85, 0.9, 0.95, OOS_RECALL_TARGET}):
        t = choose_threshold([s for _, s in oos], target)
        out[f"clinc150_val_in_scope_at_{round(100 * target)}"] = pct(
            in_scope_and_oos(predictions, c_val, oos, t)[0]
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data")
    parser.add_argument("--show", choices=("A", "B", "all"), help="print a dev half's mistakes")
    parser.add_argument("--dev-only", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    config = MatcherConfig()
    results = dev_figures(args.data, config, args.show)
    if not args.dev_only:
        results |= intent_figures(args.data, config)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for name, figures in results.items():
            print(f"{name}: {json.dumps(figures, ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
