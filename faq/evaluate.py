"""Evaluate the bot's decisions on labelled queries (the format of dev.jsonl).

Each line: `{"lang": "fa", "text": "...", "expected": "<entry id>" | "human" | null}`;
`"human"` is a request for a person, `null` a question the bot must not answer. Every
line must say `expected` (a missing one is an error, not "out of scope"); a UTF-8 BOM
is accepted; unknown keys and odd `lang` values are warnings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from faq.decide import Thresholds, VerdictKind, decide
from faq.fusion import FusionConfig
from faq.kb import KnowledgeBase, is_language_key
from faq.matcher import Matcher
from faq.rerank import EmbeddingReranker

HUMAN = "human"
QUERY_KEYS = frozenset({"text", "expected", "lang"})


@dataclass(frozen=True, slots=True)
class LabelledQuery:
    """One evaluation query."""

    text: str
    expected: str | None
    lang: str | None = None
    line: int = 0  # in the file it was read from (0: not from a file)


class QueryFileError(ValueError):
    """A labelled-query file has invalid lines; `errors` names each ("line N: ...")."""

    def __init__(self, errors: Sequence[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = tuple(errors)


@dataclass(frozen=True, slots=True)
class QueryFile:
    """The queries of a file and what is odd but usable in it ("line N: ...")."""

    queries: list[LabelledQuery]
    warnings: list[str]


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


def _parse_line(
    number: int, line: str, known_ids: frozenset[str] | None, warnings: list[str]
) -> LabelledQuery:
    """One line as a query; ValueError says what is wrong with it."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("text"), str):
        raise ValueError('needs an object with a string "text"')
    if "expected" not in raw:
        raise ValueError(
            'no "expected": give an entry id, "human" for a request for a person,'
            " or null for a question the bot must not answer"
        )
    expected = raw["expected"]
    if expected is not None and not isinstance(expected, str):
        raise ValueError(f'"expected" must be an entry id, "human" or null, not {expected!r}')
    if known_ids is not None and expected not in (None, HUMAN) and expected not in known_ids:
        raise ValueError(f'unknown entry id {expected!r} in "expected"')
    lang = raw.get("lang")
    if lang is not None and not isinstance(lang, str):
        raise ValueError(f'"lang" must be a language code or null, not {lang!r}')
    if lang is not None and not is_language_key(lang):
        warnings.append(f'line {number}: odd "lang" {lang!r} (expected a code such as fa)')
    for key in raw:
        if key not in QUERY_KEYS:
            warnings.append(f"line {number}: unknown key {key!r} (ignored)")
    return LabelledQuery(raw["text"], expected, lang, number)


def read_queries(path: Path, known_ids: frozenset[str] | None = None) -> QueryFile:
    """Read a JSONL file of labelled queries (blank lines skipped, a UTF-8 BOM accepted).

    Args:
        path: the file.
        known_ids: the KB's entry ids; when given, any other `expected` is an error.

    Raises:
        QueryFileError: lines that are not valid queries, each named by its number.
        OSError: the file cannot be read.
    """
    out = []
    errors: list[str] = []
    warnings: list[str] = []
    with path.open(encoding="utf-8-sig") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                out.append(_parse_line(number, line, known_ids, warnings))
            except ValueError as exc:
                errors.append(f"line {number}: {exc}")
    if errors:
        raise QueryFileError(errors)
    return QueryFile(out, warnings)


def load_queries(path: Path) -> list[LabelledQuery]:
    """Read a JSONL file of labelled queries (see `read_queries`; warnings dropped).

    Raises:
        ValueError: a line is not a valid query; the message names each such line.
    """
    return read_queries(path).queries


def evaluate_queries(
    matcher: Matcher,
    kb: KnowledgeBase,
    queries: Sequence[LabelledQuery] | Iterable[LabelledQuery],
    thresholds: Thresholds | None = None,
    reranker: EmbeddingReranker | None = None,
    fusion: FusionConfig | None = None,
) -> EvalReport:
    """Run every query through the bot's stateless decision and count the outcomes
    (with `reranker`, fused by `fusion`: the fitted defaults if None)."""
    thresholds = thresholds or Thresholds()
    known = {e.id for e in kb.entries}
    report = EvalReport()
    timings = []
    for query in queries:
        verdict = decide(query.text, matcher, thresholds, reranker, fusion)
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
