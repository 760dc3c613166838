"""A digest of the bot's whole decision on every fixture question: the same digest before
and after a change means no outcome changed.

    python bench/decision_digest.py [--scale] [--dump FILE] [--data ../shared/data]

Runs `faq.decide.decide` as the bot calls it (the matcher prepared as `faq.reload.load`
prepares it, the language detected by the caller) on the text of every line of
`tests/fixtures/faq/*.jsonl` and the shared dev set, against the shop KB
(`tests/fixtures/faq/kb.json`). `--scale` adds `bench/faq_scale.py`'s questions on its
synthetic KBs of 1,000 and 30,000 phrasings, and `bench/faq_accuracy.py`'s latency rows
(its BANKING77 questions on KBs of 1,000 and 10,000 training phrasings). One line per
question: the set, the line's number, the triage verdict, the decision (kind,
suggestions), every candidate with its score, the confidence, the words' coverage and
the coverage verdict. Floats are rounded to 9 places: a change
that sums in another order shows. Questions are named by file and line, never by text,
so that a difference does not show a line of a file nobody may read; `--dump` writes
the lines, to find the questions that changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.faq_accuracy import build_kb, per_intent_sample, read_csv
from bench.faq_scale import queries as scale_queries
from bench.faq_scale import synthetic_kb
from faq.coverage import prepare as prepare_coverage
from faq.decide import Thresholds, decide
from faq.kb import KnowledgeBase, load_kb, load_kb_texts
from faq.language import detect_language
from faq.matcher import Matcher
from faq.triage import triage

FIXTURES = REPO / "tests" / "fixtures" / "faq"
SCALE_SIZES = (1_000, 30_000)
SCALE_SEED = 20261129  # bench/faq_scale.py's default
PLACES = 9


def _texts(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()]


def _sets(data: Path) -> Iterator[tuple[str, list[str]]]:
    for path in sorted(FIXTURES.glob("*.jsonl")):
        yield path.stem, _texts(path)
    dev = data / "faq" / "dev.jsonl"
    if dev.exists():
        yield "shared_dev", _texts(dev)


def _r(x: float) -> str:
    return f"{x:.{PLACES}f}"


def outcome(text: str, matcher: Matcher, thresholds: Thresholds) -> str:
    """One question's outcome as one line (without the question)."""
    verdict = decide(text, matcher, thresholds, language=detect_language(text))
    parts = [str(triage(text).kind), str(verdict.kind)]
    parts.append(",".join(c.entry_id for c in verdict.suggestions))
    if verdict.match is not None:
        parts.append(_r(verdict.match.confidence))
        parts.append(" ".join(f"{c.entry_id}:{_r(c.score)}" for c in verdict.match.candidates))
        parts.append(
            " ".join(f"{w.word}:{_r(w.idf)}:{_r(w.matched)}" for w in verdict.match.explained)
        )
    coverage = verdict.coverage
    if coverage is not None:
        parts.append(
            f"{coverage.entry_id} {_r(coverage.explained_share)} {coverage.unexplained}"
            f" {coverage.negative} {coverage.foreign} {coverage.content_words}"
            f" {coverage.near} {coverage.organisations}"
        )
    return "|".join(parts)


def _matcher(kb: KnowledgeBase) -> Matcher:
    matcher = Matcher(kb)
    prepare_coverage(matcher)
    return matcher


def digest_lines(scale: bool, data: Path) -> Iterator[str]:
    """Every question's outcome, named by its set and line."""
    thresholds = Thresholds()
    shop = _matcher(load_kb(FIXTURES / "kb.json"))
    for name, texts in _sets(data):
        for number, text in enumerate(texts, 1):
            yield f"{name}:{number}|{outcome(text, shop, thresholds)}"
    if not scale:
        return
    texts = scale_queries(SCALE_SEED)
    for size in SCALE_SIZES:
        document = json.dumps(synthetic_kb(size, SCALE_SEED), ensure_ascii=False)
        kb = load_kb_texts([(f"synthetic-{size}.json", document)])
        matcher = _matcher(kb)
        for number, text in enumerate(texts, 1):
            yield f"scale{size}:{number}|{outcome(text, matcher, thresholds)}"
    yield from _latency_rows(data, thresholds)


def _latency_rows(data: Path, thresholds: Thresholds) -> Iterator[str]:
    """`bench/faq_accuracy.py`'s latency rows: BANKING77 KBs of 1,000 and 10,000
    training phrasings, its questions."""
    banking = data / "intents" / "banking77"
    if not banking.exists():
        return
    train = read_csv(banking / "train.csv", "text", "category")
    texts = [t for t, _ in per_intent_sample(read_csv(banking / "test.csv", "text", "category"), 7)]
    for size, rows in ((1_000, per_intent_sample(train, 13)[:1_000]), (10_000, train[:10_000])):
        matcher = _matcher(build_kb(rows, "en"))
        for number, text in enumerate(texts, 1):
            yield f"banking{size}:{number}|{outcome(text, matcher, thresholds)}"


def digest(lines: Iterable[str], dump: Path | None) -> tuple[str, int]:
    """The SHA-256 of the lines and their count; the lines written to `dump` if given."""
    sha = hashlib.sha256()
    kept: list[str] = []
    for line in lines:
        sha.update(line.encode() + b"\n")
        kept.append(line)
    if dump is not None:
        dump.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
    return sha.hexdigest(), len(kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scale", action="store_true", help="add the synthetic KBs")
    parser.add_argument("--dump", type=Path, help="write every outcome line here")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="shared data")
    args = parser.parse_args(argv)
    if not (args.data / "faq" / "dev.jsonl").exists():
        parser.error(f"no faq/dev.jsonl under {args.data}: give --data")
    sha, count = digest(digest_lines(args.scale, args.data), args.dump)
    print(f"{count} questions, sha256 {sha}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
