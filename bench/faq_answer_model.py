"""Train and measure the learned answer decision (`faq.answer_model`).

    python bench/faq_answer_model.py cv [--c 1.0] [--alone] [--no-lead-gate]
    python bench/faq_answer_model.py write --c C --threshold T   # fit on every tune row
    python bench/faq_answer_model.py held                # the held halves, rules vs model

Each file of tests/fixtures/faq in `WRITERS` was written by one writer; only its
`"split": "tune"` rows are read for training and for choosing (`cv`, `write`).
`cv` fits, for each writer, a model on the other writers' tune rows and scores that
writer's tune rows, then reports per threshold what the decision would do (the rules'
answers and the model's beside them, where no runner-up is within
`Thresholds.learned_lead`; `--alone`, `--no-lead-gate` for the variants): in-scope
questions answered right and wrong, near-miss (expected null) questions answered, per
writer and pooled; the line at threshold 1.01 is the rules alone. Its last lines are the
operating points on a 0.01 grid (see `MAX_NEAR_MISS_SHARE`).
dev.jsonl (no split) is never trained on; `cv` reports it with the model fitted on
every tune row. A row is positive when the matcher's top entry is the expected one;
requests for a person that triage catches never reach the decision and are left out.

Fitting: L2-regularised logistic regression (penalty 1/(2C) on the standardised
weights, not on the bias), Newton's method; numpy only here, plain Python at inference.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from faq_accuracy import FIXTURES, SPLIT_SETS

from faq.answer_model import MODEL_PATH, AnswerModel, answer_features
from faq.decide import Thresholds, VerdictKind, decide_match, match_question
from faq.evaluate import HUMAN, evaluate_queries, load_queries
from faq.kb import load_kb
from faq.matcher import Matcher
from faq.triage import MessageKind, triage

# each split set is one writer's; fresh9, fresh10, fresh14 and fresh15 are read by no fit
# or choice here (both halves of each are counted blind: a measure on writers no fitted
# model has seen)
BLIND = ("fresh9", "fresh10", "fresh14", "fresh15", "fresh16", "fresh17")
WRITERS = tuple(s for s in SPLIT_SETS if s not in BLIND)
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Row:
    """One question that reached the answer decision."""

    writer: str
    expected: str | None
    top: str
    features: dict[str, float]
    rules_answer: bool  # the rules' call (confidence and coverage)
    clear_lead: bool  # no runner-up within `Thresholds.learned_lead` of the top entry
    vetoed: bool  # a `not:` phrasing of the top entry in the question


def _rows(matcher: Matcher, writer: str, split: str | None) -> list[Row]:
    path = FIXTURES / f"{writer}.jsonl"
    lines = [json.loads(x) for x in path.read_text(encoding="utf-8-sig").splitlines() if x.strip()]
    out = []
    for query, raw in zip(load_queries(path), lines, strict=True):
        if split is not None and raw.get("split") != split:
            continue
        kind = triage(query.text)
        if kind.kind is not MessageKind.QUESTION:
            continue
        matched = match_question(query.text, kind.rest, matcher)
        best, coverage = matched.result.best, matched.coverage
        if best is None or coverage is None:
            continue
        runner_up = matched.result.candidates[1].score if len(matched.result.candidates) > 1 else 0
        rules = decide_match(matched.result, Thresholds(), None, coverage, matched.whole_message)
        features = answer_features(
            matcher,
            query.text,
            matched.language,
            matched.result,
            coverage,
            matched.whole_message,
            matched.clause,
        )
        out.append(
            Row(
                writer,
                query.expected,
                best.entry_id,
                features,
                rules.kind is VerdictKind.ANSWER,
                runner_up <= Thresholds().learned_lead * best.score,
                coverage.vetoed,
            )
        )
    return out


def fit(x: FloatArray, y: FloatArray, c: float, names: Sequence[str]) -> AnswerModel:
    """L2 logistic regression by Newton's method on standardised features."""
    means = x.mean(axis=0)
    scales = x.std(axis=0)
    scales[scales == 0] = 1.0
    z = (x - means) / scales
    z1 = np.hstack([z, np.ones((len(z), 1))])
    w = np.zeros(z1.shape[1])
    penalty = np.full(z1.shape[1], 1.0 / c)
    penalty[-1] = 0.0
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(z1 @ w)))
        grad = z1.T @ (p - y) + penalty * w
        hess = (z1 * (p * (1 - p))[:, None]).T @ z1 + np.diag(penalty) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return AnswerModel(
        tuple(names),
        tuple(float(v) for v in means),
        tuple(float(v) for v in scales),
        tuple(float(v) for v in w[:-1]),
        float(w[-1]),
        0.5,
    )


def _matrix(rows: Sequence[Row], names: Sequence[str]) -> tuple[FloatArray, FloatArray]:
    x = np.array([[r.features[n] for n in names] for r in rows], dtype=np.float64)
    y = np.array([float(r.top == r.expected) for r in rows], dtype=np.float64)
    return x, y


@dataclass
class Counts:
    in_scope: int = 0
    right: int = 0
    wrong: int = 0
    near_miss: int = 0
    near_miss_answered: int = 0

    def add(self, row: Row, answered: bool) -> None:
        if row.expected is None:
            self.near_miss += 1
            self.near_miss_answered += answered
        elif row.expected != HUMAN:
            self.in_scope += 1
            self.right += answered and row.top == row.expected
            self.wrong += answered and row.top != row.expected
        else:
            self.wrong += answered

    def line(self) -> str:
        return (
            f"right {self.right}/{self.in_scope} wrong {self.wrong} "
            f"near-miss {self.near_miss_answered}/{self.near_miss}"
        )


def _count(rows: Sequence[Row], answered: Sequence[bool]) -> Counts:
    counts = Counts()
    for row, yes in zip(rows, answered, strict=True):
        counts.add(row, yes and not row.vetoed)
    return counts


def _load(matcher: Matcher, split: str | None, writers: Sequence[str]) -> list[Row]:
    return [row for writer in writers for row in _rows(matcher, writer, split)]


THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.87, 0.9, 0.92, 0.95, 1.01)
# The operating point: the threshold (on a 0.01 grid) that answers the most in-scope
# questions right with at most these shares of the near-miss questions and of the
# in-scope ones answered (wrong), pooled over the writers left out in turn; the near-miss
# share is kept under the 3% the target allows a new writer, for the margin a writer no fit
# has seen needs. The stricter point also keeps each writer's own near-miss answered
# within `WRITER_NEAR_MISS_SHARE` of its near-miss questions or the rules' own count
# there (the rule the first model's threshold was chosen by): a pooled share can hide
# one writer's kind of near-miss question that the model has learned to answer.
MAX_NEAR_MISS_SHARE = 0.02
MAX_WRONG_SHARE = 0.015
WRITER_NEAR_MISS_SHARE = 0.03


def cross_validate(matcher: Matcher, c: float, alone: bool, gate: bool) -> None:
    """Leave one writer out over the tune rows; print the decision's counts."""
    rows = _load(matcher, "tune", WRITERS)
    names = tuple(rows[0].features)
    probability: dict[int, float] = {}
    for writer in WRITERS:
        train = [r for r in rows if r.writer != writer]
        model = fit(*_matrix(train, names), c, names)
        for i, row in enumerate(rows):
            if row.writer == writer:
                probability[i] = model.probability(row.features)
    dev = _rows(matcher, "dev", None)
    full = fit(*_matrix(rows, names), c, names)
    print(f"C={c} alone={alone} lead gate={gate}")
    rules = [r.rules_answer for r in rows]
    print(
        f"  rules   pooled: {_count(rows, rules).line()}  dev: "
        f"{_count(dev, [r.rules_answer for r in dev]).line()}"
    )
    chosen: dict[bool, tuple[float, Counts]] = {}
    rules_near_miss = {
        writer: _count(part, [r.rules_answer for r in part]).near_miss_answered
        for writer in WRITERS
        for part in [[r for r in rows if r.writer == writer]]
    }
    for t in sorted({*THRESHOLDS, *(round(0.5 + i / 100, 2) for i in range(50))}):
        answered = [
            (probability[i] >= t and (row.clear_lead or not gate))
            or (not alone and row.rules_answer)
            for i, row in enumerate(rows)
        ]
        per = []
        writers_within = True
        for writer in WRITERS:
            part = [(r, a) for r, a in zip(rows, answered, strict=True) if r.writer == writer]
            counts = _count([r for r, _ in part], [a for _, a in part])
            per.append(f"{writer}:{counts.right}/{counts.wrong}/{counts.near_miss_answered}")
            writers_within &= counts.near_miss_answered <= max(
                WRITER_NEAR_MISS_SHARE * counts.near_miss, rules_near_miss[writer]
            )
        dev_answered = [
            (full.probability(r.features) >= t and (r.clear_lead or not gate))
            or (not alone and r.rules_answer)
            for r in dev
        ]
        pooled = _count(rows, answered)
        within = (
            pooled.near_miss_answered <= MAX_NEAR_MISS_SHARE * pooled.near_miss
            and pooled.wrong <= MAX_WRONG_SHARE * pooled.in_scope
        )
        for strict in (False, True):
            best = chosen.get(strict)
            # ties: the higher threshold
            if (
                within
                and (writers_within or not strict)
                and (best is None or pooled.right >= best[1].right)
            ):
                chosen[strict] = (t, pooled)
        if t not in THRESHOLDS:
            continue
        print(f"  t={t:.2f} pooled: {pooled.line()}  dev: {_count(dev, dev_answered).line()}")
        print("         " + " ".join(per))
    for strict, (t, pooled) in sorted(chosen.items()):
        kind = "pooled and per writer" if strict else "pooled"
        print(f"  operating point ({kind}) t={t:.2f}: {pooled.line()}")


def write(matcher: Matcher, c: float, threshold: float, path: Path) -> AnswerModel:
    """Fit on every tune row and write the model."""
    rows = _load(matcher, "tune", WRITERS)
    names = tuple(rows[0].features)
    model = fit(*_matrix(rows, names), c, names)
    model = AnswerModel(
        model.names, model.means, model.scales, model.weights, model.bias, threshold
    )
    data = model.as_json()
    data["trained_on"] = f"tune halves of {', '.join(WRITERS)}; C={c}"
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return model


def held(matcher: Matcher) -> None:
    """Per file and half: the rules' and the learned decision's counts (`faq eval`)."""
    kb = matcher.kb
    for writer in (*WRITERS, *BLIND, "dev"):
        path = FIXTURES / f"{writer}.jsonl"
        lines = [
            json.loads(x) for x in path.read_text(encoding="utf-8-sig").splitlines() if x.strip()
        ]
        queries = load_queries(path)
        for split in ("tune", "held") if writer != "dev" else (None,):
            part = [q for q, raw in zip(queries, lines, strict=True) if raw.get("split") == split]
            figures = []
            for thresholds in (Thresholds(learned=False), Thresholds(learned=True)):
                r = evaluate_queries(matcher, kb, part, thresholds)
                figures.append(
                    f"right {r.answered_right}/{r.in_scope} wrong "
                    f"{r.answered_wrong - (r.out_of_scope - r.out_of_scope_held)} "
                    f"near-miss {r.out_of_scope - r.out_of_scope_held}/{r.out_of_scope} "
                    f"persons {r.handoff_detected}/{r.handoff}"
                )
            print(f"{writer} {split or 'all'}: rules {figures[0]} | learned {figures[1]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("command", choices=("cv", "write", "held"))
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 strength")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument(
        "--alone", action="store_true", help="cv: the model alone, not beside the rules"
    )
    parser.add_argument(
        "--no-lead-gate",
        action="store_true",
        help="cv: let the model answer whatever the runner-up (Thresholds.learned_lead)",
    )
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args(argv)
    kb = load_kb(FIXTURES / "kb.json")
    matcher = Matcher(kb)
    if args.command == "cv":
        cross_validate(matcher, args.c, args.alone, not args.no_lead_gate)
    elif args.command == "write":
        model = write(matcher, args.c, args.threshold, args.out)
        for name, weight in sorted(
            zip(model.names, model.weights, strict=True), key=lambda p: -abs(p[1])
        ):
            print(f"{name:32} {weight:+.3f}")
    else:
        held(matcher)
    return 0


if __name__ == "__main__":
    sys.exit(main())
