"""What a discriminative model of the KB's entries adds to the matcher, on tuning rows only.

    python bench/faq_discriminative.py --data ../shared/data [--sets b,a,sa,shop] [--json]

An experiment, not a part of the matcher: a linear model of "which entry is this
phrasing", fitted on the KB's own phrasings over the matcher's stage-1 features (each
phrasing's word and character TF-IDF rows, the character block times `--char-weight`):

- `logistic`: multinomial logistic regression, L2 penalty 1 / C, L-BFGS (dense
  features x entries weights: fine for 77-150 entries, not for 5,000);
- `perceptron`: an averaged multi-class perceptron (margin 0.5, ten epochs, seeded).

For each tuning set (BANKING77 and ArBanking77 training rows after each intent's first
ten, `TUNE_PER_INTENT` per intent; ArBanking77 Saudi half A; the shop KB's split sets'
tune halves) it reports top-1 of the matcher as it is, of the model alone, and of the
matcher's ranking with the model's probability added beside the naive Bayes contrast
(score + w_contrast x (contrast + `--beside` x model), over the matcher's shortlist);
and, as a veto, the bot's answers (`faq.decide`) kept when the model gives the
answered entry at least each of `VETO_FLOORS`: answered right / wrong (and, on the
shop sets, out-of-scope questions answered); the same with the naive Bayes contrast's
probability (`Matcher.contrast`) as the veto. Without `--held` no test split is read;
with it, the test splits, Saudi half B and the shop's held halves are evaluated instead
(once, after a choice made on the tuning rows).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import scipy.optimize
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq_accuracy import (
    ARBANKING_LEXICON,
    FIXTURES,
    SHOTS,
    SPLIT_SETS,
    TUNE_PER_INTENT,
    build_kb,
    first_shots,
    per_intent_sample,
    read_csv,
    saudi_halves,
)

from faq.decide import Thresholds, VerdictKind, decide
from faq.evaluate import HUMAN
from faq.index import IndexQuery, TfIdfIndex
from faq.kb import load_kb
from faq.lexicon import Lexicon
from faq.matcher import Matcher

VETO_FLOORS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5)
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LinearModel:
    """Scores of every entry: query word row @ words + query char row @ chars + bias."""

    words: Floats
    chars: Floats
    bias: Floats
    char_weight: float
    seconds: float  # to fit

    def probabilities(self, query: tuple[IndexQuery, IndexQuery] | None) -> Floats:
        scores = self.bias.copy()
        if query is not None:
            for index, weights, scale in (
                (query[0], self.words, 1.0),
                (query[1], self.chars, self.char_weight),
            ):
                if index.feature_ids.size and index.norm:
                    scores += scale * ((index.weights / index.norm) @ weights[index.feature_ids])
        scores -= scores.max()
        out: Floats = np.exp(scores)
        return out / out.sum()


def _rows(index: TfIdfIndex, documents: int) -> sp.csr_matrix:
    """The index's documents as rows of (L2-normalised TF-IDF) weights."""
    arrays = index.arrays()
    features = len(arrays["indptr"]) - 1
    return sp.csc_matrix(
        (arrays["weights"], arrays["doc_ids"], arrays["indptr"]), shape=(documents, features)
    ).tocsr()


def _design(
    matcher: Matcher, char_weight: float
) -> tuple[sp.csr_matrix, int, npt.NDArray[np.int64]]:
    words, chars, entry_of = matcher.phrasing_features()
    n = len(entry_of)
    word_rows = _rows(words, n)
    design = sp.hstack([word_rows, char_weight * _rows(chars, n)]).tocsr()
    return design, word_rows.shape[1], entry_of


def fit_logistic(matcher: Matcher, c: float, char_weight: float) -> LinearModel:
    """Multinomial logistic regression on the KB's phrasings (L2 penalty on the weights,
    none on the biases)."""
    started = time.process_time()
    x, n_words, y = _design(matcher, char_weight)
    n, features = x.shape
    entries = len(matcher.kb.entries)
    target = np.zeros((n, entries))
    target[np.arange(n), y] = 1.0

    def loss(flat: Floats) -> tuple[float, Floats]:
        w = flat.reshape(features + 1, entries)
        scores = x @ w[:features] + w[features]
        scores -= scores.max(axis=1, keepdims=True)
        p = np.exp(scores)
        p /= p.sum(axis=1, keepdims=True)
        value = -np.log(p[np.arange(n), y] + 1e-12).sum() + 0.5 / c * (w[:features] ** 2).sum()
        residual = p - target
        grad = np.vstack([x.T @ residual + w[:features] / c, residual.sum(axis=0)])
        return float(value), grad.ravel()

    fitted = scipy.optimize.minimize(
        loss,
        np.zeros((features + 1) * entries),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 200},
    ).x.reshape(features + 1, entries)
    return LinearModel(
        fitted[:n_words],
        fitted[n_words:features],
        fitted[features],
        char_weight,
        time.process_time() - started,
    )


def fit_perceptron(matcher: Matcher, epochs: int, char_weight: float) -> LinearModel:
    """An averaged multi-class perceptron with a margin, phrasings in a seeded order."""
    started = time.process_time()
    x, n_words, y = _design(matcher, char_weight)
    n, features = x.shape
    entries = len(matcher.kb.entries)
    w = np.zeros((features, entries))
    summed = np.zeros((features, entries))  # step-weighted updates, for the average
    step = 1
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        for i in rng.permutation(n).tolist():
            cols = x.indices[x.indptr[i] : x.indptr[i + 1]]
            vals = x.data[x.indptr[i] : x.indptr[i + 1]]
            scores = vals @ w[cols]
            scores[y[i]] -= 0.5
            guess = int(scores.argmax())
            if guess != y[i]:
                for entry, sign in ((y[i], 1.0), (guess, -1.0)):
                    w[cols, entry] += sign * vals
                    summed[cols, entry] += sign * step * vals
            step += 1
    averaged = w - summed / step
    return LinearModel(
        averaged[:n_words],
        averaged[n_words:],
        np.zeros(entries),
        char_weight,
        time.process_time() - started,
    )


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    expected: str | None  # None: out of scope


def evaluate(
    matcher: Matcher, model: LinearModel, queries: Sequence[Query], beside: float
) -> dict[str, object]:
    """Top-1 (matcher, model alone, model beside the contrast) and the veto table."""
    cfg = matcher.config
    ids = [e.id for e in matcher.kb.entries]
    in_scope = [q for q in queries if q.expected is not None]
    top = {"matcher": 0, "model": 0, "beside": 0}
    # right, wrong in scope, out of scope; by the model's and by the contrast's probability
    veto = {floor: [0, 0, 0] for floor in VETO_FLOORS}
    veto_contrast = {floor: [0, 0, 0] for floor in VETO_FLOORS}
    for q in queries:
        probabilities = model.probabilities(matcher.query_features(q.text))
        by_id = dict(zip(ids, probabilities.tolist(), strict=True))
        result = matcher.match(q.text, limit=cfg.shortlist)
        contrast = matcher.contrast(q.text)
        if q.expected is not None and result.candidates:
            top["matcher"] += result.candidates[0].entry_id == q.expected
            top["model"] += ids[int(probabilities.argmax())] == q.expected
            best = max(
                result.candidates,
                key=lambda c: (
                    c.score + cfg.w_contrast * (contrast[c.entry_id] + beside * by_id[c.entry_id])
                ),
            )
            top["beside"] += best.entry_id == q.expected
        verdict = decide(q.text, matcher, Thresholds())
        if verdict.kind is VerdictKind.ANSWER and verdict.answer is not None:
            answered = verdict.answer.entry_id
            slot = 2 if q.expected is None else 0 if answered == q.expected else 1
            for floor in VETO_FLOORS:
                if by_id[answered] >= floor:
                    veto[floor][slot] += 1
                if contrast[answered] >= floor:
                    veto_contrast[floor][slot] += 1
    n = max(len(in_scope), 1)
    return {
        "in_scope": len(in_scope),
        "out_of_scope": len(queries) - len(in_scope),
        "top1": {k: round(100 * v / n, 2) for k, v in top.items()},
        "veto_right_wrong_oos": {str(f): v for f, v in veto.items()},
        "contrast_veto_right_wrong_oos": {str(f): v for f, v in veto_contrast.items()},
        "fit_cpu_s": round(model.seconds, 2),
    }


def tuning_sets(
    data: Path, names: Sequence[str], held: bool = False
) -> list[tuple[str, Matcher, list[Query]]]:
    """The tuning rows of each named set; with `held`, its test split (BANKING77,
    ArBanking77 MSA), held half B (Saudi) or held halves (shop) instead."""
    intents = data / "intents"
    out: list[tuple[str, Matcher, list[Query]]] = []
    if "b" in names:
        kb_rows, rest = first_shots(
            read_csv(intents / "banking77" / "train.csv", "text", "category"), SHOTS
        )
        rows = (
            read_csv(intents / "banking77" / "test.csv", "text", "category")
            if held
            else per_intent_sample(rest, TUNE_PER_INTENT)
        )
        out.append(
            (
                "banking77_test" if held else "banking77_train_rest",
                Matcher(build_kb(kb_rows, "en")),
                [Query(t, label) for t, label in rows],
            )
        )
    if "a" in names or "sa" in names:
        kb_rows, rest = first_shots(
            read_csv(
                intents / "arbanking77" / "Banking77_Arabized_MSA_PAL_train.csv", "text", "label"
            ),
            SHOTS,
        )
        matcher = Matcher(build_kb(kb_rows, "ar"), lexicon=Lexicon.load(ARBANKING_LEXICON))
        if "a" in names:
            rows = (
                read_csv(
                    intents / "arbanking77" / "Banking77_Arabized_MSA_test.csv", "text", "label"
                )
                if held
                else per_intent_sample(rest, TUNE_PER_INTENT)
            )
            out.append(
                (
                    "arbanking77_msa_test" if held else "arbanking77_train_rest",
                    matcher,
                    [Query(t, label) for t, label in rows],
                )
            )
        if "sa" in names:
            saudi = read_csv(
                intents / "arbanking77" / "Banking77_Arabized_Saudi_test.csv", "text", "label"
            )
            out.append(
                (
                    "arbanking77_saudi_held" if held else "arbanking77_saudi_tune",
                    matcher,
                    [Query(t, label) for t, label in saudi_halves(saudi)[1 if held else 0]],
                )
            )
    if "shop" in names:
        queries = []
        for name in SPLIT_SETS:
            path = FIXTURES / f"{name}.jsonl"
            for line in path.read_text(encoding="utf-8-sig").splitlines():
                row = json.loads(line) if line.strip() else {}
                if (
                    row.get("split") == ("held" if held else "tune")
                    and row.get("expected") != HUMAN
                ):
                    queries.append(Query(row["text"], row.get("expected")))
        out.append(
            (
                "shop_held_halves" if held else "shop_tune_halves",
                Matcher(load_kb(data / "faq" / "kb.json")),
                queries,
            )
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--sets", default="b,a,sa,shop")
    parser.add_argument("--model", choices=("logistic", "perceptron"), default="logistic")
    parser.add_argument("--c", type=float, default=100.0, help="logistic: inverse L2 penalty")
    parser.add_argument("--epochs", type=int, default=10, help="perceptron: passes")
    parser.add_argument("--char-weight", type=float, default=1.0)
    parser.add_argument("--beside", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--held", action="store_true", help="the test splits and held halves (once, after a choice)"
    )
    args = parser.parse_args(argv)
    results = {}
    for name, matcher, queries in tuning_sets(args.data, args.sets.split(","), args.held):
        model = (
            fit_logistic(matcher, args.c, args.char_weight)
            if args.model == "logistic"
            else fit_perceptron(matcher, args.epochs, args.char_weight)
        )
        results[name] = evaluate(matcher, model, queries, args.beside)
        if not args.json:
            print(name, json.dumps(results[name]), flush=True)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
