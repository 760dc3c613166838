"""FAQ matcher at scale: index build, cached load, memory and whole-decision latency.

    python bench/faq_scale.py [--sizes 1000,30000] [--seed 20261129] [--json]

For each size, a synthetic KB of that many phrasings is generated from the sample shop
KB's vocabulary with a fixed seed (six phrasings per entry: two each in fa, ar and en,
3-8 words drawn from that language's words in the sample KB). Each phase runs in its
own process so that its peak RSS is its own:
- build: load the KB file and index it with an empty cache folder (a cold start or a
  changed KB), then the `faq check` scan of the same KB;
- serve: load the KB and its index from the cache (a restart), then time the bot's
  whole stateless decision (`faq.decide.decide`: triage, language detection, matching,
  the verdict) on the dev set's questions and on synthetic questions, beside the naive
  baseline measured in the same process: rapidfuzz `process.extractOne` over all
  phrasings (`token_set_ratio`, `utils.default_process`).
Latency is per question, CPU time of the thread (one core) and wall time. Pin it to
one core for comparable figures: `taskset -c 1 python bench/faq_scale.py`.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process, utils

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from faq.cli import scan_kb
from faq.decide import Thresholds, decide
from faq.kb import load_kb, sample_kb_path
from faq.matcher import Matcher

LANGUAGES = ("fa", "ar", "en")
PER_LANGUAGE = 2
SYNTHETIC_QUERIES = 300


def vocabulary() -> dict[str, list[str]]:
    """The words of the sample KB's phrasings, per language (sorted: reproducible)."""
    words: dict[str, set[str]] = {lang: set() for lang in LANGUAGES}
    for entry in load_kb(sample_kb_path()).entries:
        for lang, phrasings in entry.questions.items():
            for phrasing in phrasings:
                words.setdefault(lang, set()).update(phrasing.split())
    return {lang: sorted(ws) for lang, ws in words.items()}


def synthetic_kb(phrasings: int, seed: int) -> list[dict[str, object]]:
    """Entries with exactly `phrasings` phrasings in all."""
    vocab = vocabulary()
    rng = random.Random(seed)
    entries: list[dict[str, object]] = []
    made = 0
    while made < phrasings:
        questions: dict[str, list[str]] = {}
        for lang in LANGUAGES:
            for _ in range(PER_LANGUAGE):
                if made < phrasings:
                    text = " ".join(rng.choices(vocab[lang], k=rng.randint(3, 8)))
                    questions.setdefault(lang, []).append(text)
                    made += 1
        entries.append(
            {
                "id": f"entry-{len(entries)}",
                "questions": questions,
                "answers": {lang: f"answer {len(entries)}" for lang in questions},
            }
        )
    return entries


def queries(seed: int) -> list[str]:
    """The dev set's questions and synthetic ones (same generator, another seed)."""
    dev = REPO / "tests" / "fixtures" / "faq" / "dev.jsonl"
    texts = [json.loads(line)["text"] for line in dev.open(encoding="utf-8") if line.strip()]
    vocab = vocabulary()
    rng = random.Random(seed + 1)
    for i in range(SYNTHETIC_QUERIES):
        words = vocab[LANGUAGES[i % 3]]
        texts.append(" ".join(rng.choices(words, k=rng.randint(2, 9))))
    return texts


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def timed(call: Callable[[str], object], texts: Sequence[str], rounds: int) -> dict[str, float]:
    for text in texts[:20]:  # warm caches
        call(text)
    cpu, wall = [], []
    for _ in range(rounds):
        for text in texts:
            start_wall, start_cpu = time.perf_counter(), time.thread_time()
            call(text)
            cpu.append((time.thread_time() - start_cpu) * 1e3)
            wall.append((time.perf_counter() - start_wall) * 1e3)
    return {
        "queries": len(cpu),
        "cpu_p50_ms": round(float(np.percentile(cpu, 50)), 3),
        "cpu_p99_ms": round(float(np.percentile(cpu, 99)), 3),
        "wall_p50_ms": round(float(np.percentile(wall, 50)), 3),
        "wall_p99_ms": round(float(np.percentile(wall, 99)), 3),
    }


def phase_build(kb_path: Path, cache: Path) -> dict[str, object]:
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    kb = load_kb(kb_path)
    matcher = Matcher(kb, cache_dir=cache)
    assert matcher.index_source == "built"
    figures: dict[str, object] = {
        "phrasings": matcher.phrasing_count,
        "entries": len(kb.entries),
        "build_wall_s": round(time.perf_counter() - start_wall, 2),
        "build_cpu_s": round(time.process_time() - start_cpu, 2),
        "build_peak_rss_mb": peak_rss_mb(),
    }
    start_wall = time.perf_counter()
    problems, scans = scan_kb(kb)
    figures["check_wall_s"] = round(time.perf_counter() - start_wall, 2)
    figures["check_pairs_scored"] = sum(s.pairs for s in scans)
    figures["check_problems"] = len(problems)
    return figures


def phase_serve(kb_path: Path, cache: Path, seed: int, rounds: int) -> dict[str, object]:
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    kb = load_kb(kb_path)
    matcher = Matcher(kb, cache_dir=cache)
    assert matcher.index_source == "cache"
    figures: dict[str, object] = {
        "load_wall_s": round(time.perf_counter() - start_wall, 2),
        "load_cpu_s": round(time.process_time() - start_cpu, 2),
        "load_peak_rss_mb": peak_rss_mb(),
    }
    texts = queries(seed)
    thresholds = Thresholds()
    figures["decision"] = timed(lambda t: decide(t, matcher, thresholds), texts, rounds)
    phrasings = [q for e in kb.entries for qs in e.questions.values() for q in qs]
    choices = [utils.default_process(p) for p in phrasings]

    def naive(text: str) -> object:
        return process.extractOne(utils.default_process(text), choices, scorer=fuzz.token_set_ratio)

    figures["naive_extractOne"] = timed(naive, texts, 1)
    return figures


def run_phase(
    phase: str, kb_path: Path, cache: Path, args: argparse.Namespace
) -> dict[str, object]:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--phase",
            phase,
            "--kb",
            str(kb_path),
            "--cache",
            str(cache),
            "--seed",
            str(args.seed),
            "--rounds",
            str(args.rounds),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,30000", help="KB sizes in phrasings")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--rounds", type=int, default=3, help="passes over the questions")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--phase", choices=("build", "serve"), help=argparse.SUPPRESS)
    parser.add_argument("--kb", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase == "build":
        print(json.dumps(phase_build(args.kb, args.cache)))
        return 0
    if args.phase == "serve":
        print(json.dumps(phase_serve(args.kb, args.cache, args.seed, args.rounds)))
        return 0
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="faq-scale-") as tmp:
        for size in (int(s) for s in args.sizes.split(",")):
            kb_path = Path(tmp) / f"kb-{size}.json"
            kb_path.write_text(
                json.dumps(synthetic_kb(size, args.seed), ensure_ascii=False), encoding="utf-8"
            )
            cache = Path(tmp) / f"cache-{size}"
            figures = {**run_phase("build", kb_path, cache, args)}
            figures.update(run_phase("serve", kb_path, cache, args))
            decision, naive = figures["decision"], figures["naive_extractOne"]
            assert isinstance(decision, dict) and isinstance(naive, dict)
            figures["naive_over_decision_cpu_p50"] = round(
                naive["cpu_p50_ms"] / decision["cpu_p50_ms"], 2
            )
            figures["naive_over_decision_cpu_p99"] = round(
                naive["cpu_p99_ms"] / decision["cpu_p99_ms"], 2
            )
            results[f"phrasings_{size}"] = figures
            if not args.json:
                print(f"{size} phrasings: {json.dumps(figures, ensure_ascii=False)}", flush=True)
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
