"""The gap report: the questions the bot could not serve, grouped into topics.

Pure (no database): the router reads the gap records of a period and of the one
before it, and `gap_report` groups them. A question's topic is what the matcher itself
reads in it (`Matcher.words`): the lexicon's concept tokens, which are shared across
languages («هزینه ارسال» and "shipping cost" both read as `~cost ~ship`), so a Persian
and an English question about the same thing land in one topic. A question without
concept tokens is keyed by its longest content words instead. Keys spelled almost
alike (a plural, a letter form) are merged with rapidfuzz.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from rapidfuzz import fuzz, process

from faq.kb import KnowledgeBase
from faq.lexicon import CONCEPT_PREFIX, Lexicon
from faq.matcher import STOPWORDS, Matcher

# Concepts that ask rather than name a topic ("where is ..." about anything).
QUESTION_CONCEPTS = frozenset({"~how", "~what", "~when", "~where", "~why"})
CONTENT_WORDS_IN_KEY = 4
EXAMPLES_PER_TOPIC = 5
# How alike two keys must be spelled (rapidfuzz ratio, 0-100) to be one topic.
MERGE_AT = 90.0

Words = Callable[[str, str | None], Sequence[str]]


@dataclass(frozen=True, slots=True)
class GapQuestion:
    """One gap record as the report reads it."""

    text: str
    language: str | None
    kind: str
    entry: str | None  # the entry the customer was shown, else the matcher's best guess
    at: datetime


@dataclass(frozen=True, slots=True)
class GapTopic:
    """Questions that read alike, in this period, with the previous period's count."""

    key: tuple[str, ...]  # the features the topic is keyed by
    count: int
    previous_count: int
    trend: str  # new | up | down | same
    kinds: dict[str, int]
    languages: dict[str, int]
    examples: tuple[GapQuestion, ...]  # newest first
    top_entry: str | None  # the entry most often given or suggested for these questions
    top_entry_count: int


@dataclass(frozen=True, slots=True)
class GapReport:
    """The topics of the period [since, until), compared with the period as long before it."""

    since: datetime
    until: datetime
    previous_since: datetime
    total: int
    previous_total: int
    kinds: dict[str, int]
    topics: tuple[GapTopic, ...] = field(default=())


@cache
def matcher_words() -> Words:
    """The matcher's reading of a question (normalised, spoken forms standardised,
    concepts in place of their words), independent of any KB's entries."""
    return Matcher(KnowledgeBase(entries=())).words


@cache
def _function_words() -> frozenset[str]:
    return Lexicon.default().function_words


def topic_key(words: Sequence[str]) -> tuple[str, ...]:
    """The sorted concept tokens of a question, else its longest content words."""
    concepts = {w for w in words if w.startswith(CONCEPT_PREFIX) and w not in QUESTION_CONCEPTS}
    if concepts:
        return tuple(sorted(concepts))
    function_words = _function_words()
    content = {
        w
        for w in words
        if not w.startswith(CONCEPT_PREFIX)
        and w not in STOPWORDS
        and w not in function_words
        and not w.isdigit()
    }
    longest = sorted(content, key=lambda w: (-len(w), w))[:CONTENT_WORDS_IN_KEY]
    return tuple(sorted(longest))


def _merged_keys(keys: Counter[tuple[str, ...]]) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Each key's topic: the most frequent key spelled at least `MERGE_AT` alike."""
    topics: list[tuple[str, ...]] = []
    spelled: list[str] = []
    into: dict[tuple[str, ...], tuple[str, ...]] = {}
    for key, _ in sorted(keys.items(), key=lambda item: (-item[1], item[0])):
        text = " ".join(key)
        near = process.extractOne(text, spelled, scorer=fuzz.ratio, score_cutoff=MERGE_AT)
        if near is None:
            topics.append(key)
            spelled.append(text)
            into[key] = key
        else:
            into[key] = topics[near[2]]
    return into


def _trend(count: int, previous: int) -> str:
    if previous == 0:
        return "new"
    if count > previous:
        return "up"
    return "down" if count < previous else "same"


def gap_report(
    current: Sequence[GapQuestion],
    previous: Sequence[GapQuestion],
    *,
    since: datetime,
    until: datetime,
    previous_since: datetime,
    words: Words | None = None,
) -> GapReport:
    """Group the period's gap questions into topics, most frequent first.

    Args:
        current: the gap records of [since, until).
        previous: those of [previous_since, since), for each topic's trend.
        words: how a question is read; the matcher's own reading by default.
    """
    read = words or matcher_words()
    keyed_current = [(topic_key(read(q.text, q.language)), q) for q in current]
    keyed_previous = [topic_key(read(q.text, q.language)) for q in previous]
    into = _merged_keys(Counter([k for k, _ in keyed_current] + keyed_previous))
    members: dict[tuple[str, ...], list[GapQuestion]] = {}
    for key, question in keyed_current:
        members.setdefault(into[key], []).append(question)
    before = Counter(into[key] for key in keyed_previous)
    topics = [_topic(key, questions, before[key]) for key, questions in members.items()]
    topics.sort(key=lambda t: (-t.count, -t.examples[0].at.timestamp(), t.key))
    return GapReport(
        since=since,
        until=until,
        previous_since=previous_since,
        total=len(current),
        previous_total=len(previous),
        kinds=dict(Counter(q.kind for q in current).most_common()),
        topics=tuple(topics),
    )


def _topic(key: tuple[str, ...], questions: list[GapQuestion], previous: int) -> GapTopic:
    newest = sorted(questions, key=lambda q: q.at, reverse=True)
    entries = Counter(q.entry for q in questions if q.entry)
    top_entry, top_count = entries.most_common(1)[0] if entries else (None, 0)
    return GapTopic(
        key=key,
        count=len(questions),
        previous_count=previous,
        trend=_trend(len(questions), previous),
        kinds=dict(Counter(q.kind for q in questions).most_common()),
        languages=dict(Counter(q.language or "unknown" for q in questions).most_common()),
        examples=tuple(newest[:EXAMPLES_PER_TOPIC]),
        top_entry=top_entry,
        top_entry_count=top_count,
    )


def report_json(report: GapReport) -> dict[str, Any]:
    """The report as the API and `pasokh faq gaps --json` give it."""
    return {
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "previous_since": report.previous_since.isoformat(),
        "total": report.total,
        "previous_total": report.previous_total,
        "kinds": report.kinds,
        "topics": [
            {
                "key": list(topic.key),
                "count": topic.count,
                "previous_count": topic.previous_count,
                "trend": topic.trend,
                "kinds": topic.kinds,
                "languages": topic.languages,
                "top_entry": topic.top_entry,
                "top_entry_count": topic.top_entry_count,
                "examples": [
                    {
                        "text": q.text,
                        "language": q.language,
                        "kind": q.kind,
                        "entry": q.entry,
                        "at": q.at.isoformat(),
                    }
                    for q in topic.examples
                ],
            }
            for topic in report.topics
        ],
    }


def report_text(report: GapReport) -> str:
    """The report for a terminal: one block per topic."""
    lines = [
        f"knowledge gaps {report.since.isoformat()} .. {report.until.isoformat()}: "
        f"{report.total} (previous period: {report.previous_total})",
    ]
    if report.kinds:
        lines.append("  " + ", ".join(f"{kind} {n}" for kind, n in report.kinds.items()))
    for topic in report.topics:
        entry = (
            f"; nearest entry: {topic.top_entry} ({topic.top_entry_count})"
            if topic.top_entry
            else ""
        )
        lines.append("")
        lines.append(
            f"{' '.join(topic.key) or '(no words)'}: {topic.count} "
            f"({topic.trend}, previous {topic.previous_count}){entry}"
        )
        for q in topic.examples:
            lines.append(f"  - [{q.language or '?'}, {q.kind}] {q.text}")
    if not report.topics:
        lines.append("no gaps in this period")
    return "\n".join(lines)
