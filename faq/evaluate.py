"""Evaluate the bot's decisions on labelled queries (the format of dev.jsonl).

Each line: `{"lang": "fa", "text": "...", "expected": "<entry id>" | "human" | null}`;
`"human"` is a request for a person, `null` a question the bot must not answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from faq.decide import Thresholds, VerdictKind, decide
from faq.kb import KnowledgeBase
from faq.matcher import Matcher
from faq.rerank import EmbeddingReranker

HUMAN = "human"


@dataclass(frozen=True, slots=True)
class LabelledQuery:
    """One evaluation query."""

    text: str
    expected: str | None
    lang: str | None = None


@dataclass(frozen=True, slots=True)
class QueryOutcome:
    """What the bot did with one query."""

    query: LabelledQuery
    verdict: str
    answered: str | None
    suggested: tuple[str, ...]
    confidence: float


@dataclass(slots=True)
class EvalReport:
    """The counts `faq eval --json` prints (all integers but `accuracy` figures)."""

    queries: int = 0
    in_scope: int = 0
    answered_right: int = 0
    answered_wrong: int = 0
    suggested_right: int = 0
    out_of_scope: int = 0
    out_of_scope_held: int = 0
    handoff: int = 0
    handoff_detected: int = 0
    p99_us: int = 0
    p50_us: int = 0
    unknown_expected: int = 0  # expected ids the KB does not have
    outcomes: list[QueryOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        """The figures without the per-query outcomes."""
        data = asdict(self)
        data.pop("outcomes")
        return data

    def mistakes(self) -> list[QueryOutcome]:
        """Queries the bot got wrong: wrong answers, unheld out-of-scope, missed hand-offs,
        and in-scope questions neither answered nor suggested right."""
        bad = []
        for o in self.outcomes:
            exp = o.query.expected
            if exp == HUMAN:
                ok = o.verdict == VerdictKind.HUMAN
            elif exp is None:
                ok = o.answered is None
            else:
                ok = o.answered == exp
            if not ok:
                bad.append(o)
        return bad


def load_queries(path: Path) -> list[LabelledQuery]:
    """Read a JSONL file of labelled queries (blank lines skipped).

    Raises:
        ValueError: a line is not JSON or has no string `text`; the message names the line.
    """
    out = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"line {number}: not JSON ({exc.msg})") from None
            if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
                raise ValueError(f'line {number}: needs an object with a string "text"')
            out.append(LabelledQuery(raw["text"], raw.get("expected"), raw.get("lang")))
    return out


def evaluate_queries(
    matcher: Matcher,
    kb: KnowledgeBase,
    queries: Sequence[LabelledQuery] | Iterable[LabelledQuery],
    thresholds: Thresholds | None = None,
    reranker: EmbeddingReranker | None = None,
) -> EvalReport:
    """Run every query through the bot's stateless decision and count the outcomes."""
    thresholds = thresholds or Thresholds()
    known = {e.id for e in kb.entries}
    report = EvalReport()
    timings = []
    for query in queries:
        verdict = decide(query.text, matcher, thresholds, reranker)
        if verdict.match is not None:
            timings.append(verdict.match.elapsed_us)
        answered = verdict.answer.entry_id if verdict.answer else None
        suggested = tuple(c.entry_id for c in verdict.suggestions)
        report.outcomes.append(
            QueryOutcome(
                query,
                verdict.kind.value,
                answered,
                suggested,
                round(verdict.match.confidence, 4) if verdict.match else 0.0,
            )
        )
        report.queries += 1
        if query.expected == HUMAN:
            report.handoff += 1
            report.handoff_detected += verdict.kind is VerdictKind.HUMAN
            report.answered_wrong += answered is not None
        elif query.expected is None:
            report.out_of_scope += 1
            report.out_of_scope_held += answered is None
            report.answered_wrong += answered is not None
        else:
            report.in_scope += 1
            report.unknown_expected += query.expected not in known
            if answered == query.expected:
                report.answered_right += 1
            elif answered is not None:
                report.answered_wrong += 1
            elif query.expected in suggested:
                report.suggested_right += 1
    if timings:
        report.p99_us = round(float(np.percentile(timings, 99)))
        report.p50_us = round(float(np.percentile(timings, 50)))
    return report
