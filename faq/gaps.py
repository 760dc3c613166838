"""The gap report: the questions the bot could not serve, grouped into topics.

Pure (no database): the router reads the gap records of a period and of the one
before it, and `gap_report` groups them. A question's topic is what the matcher itself
reads in it (`Matcher.words`): the lexicon's concept tokens, which are shared across
languages («هزینه ارسال» and "shipping cost" both read as `~cost ~ship`), so a Persian
and an English question about the same thing land in one topic. A question without
concept tokens is keyed by its longest content words instead. Keys spelled almost
alike (a plural, a letter form) are merged with rapidfuzz.

With the semantic extra on, the questions are grouped by meaning instead
(`GapEmbeddings`): the multilingual embedding model reads «رمز عبورم یادم رفته»,
"forgot my password" and «نسيت كلمة المرور» alike where the lexicon's words may not
reach; each topic is still labelled by its members' commonest feature key.
"""

from __future__ import annotations

import hashlib
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import numpy as np
from rapidfuzz import fuzz, process

from faq.kb import KnowledgeBase
from faq.lexicon import CONCEPT_PREFIX, Lexicon
from faq.matcher import STOPWORDS, Matcher
from faq.rerank import Embedder, FloatRows

# Concepts that ask rather than name a topic ("where is ..." about anything).
QUESTION_CONCEPTS = frozenset({"~how", "~what", "~when", "~where", "~why"})
CONTENT_WORDS_IN_KEY = 4
EXAMPLES_PER_TOPIC = 5
# How alike two keys must be spelled (rapidfuzz ratio, 0-100) to be one topic.
MERGE_AT = 90.0
# How close in meaning (mean cosine of the embeddings) two groups of questions must be
# to be one topic, and how much closer the same concept key makes two questions:
# chosen on the tuning half of tests/fixtures/faq/gap_topics.jsonl (bench/gap_topics.py,
# docs/benchmarks.md).
EMBEDDING_MERGE_AT = 0.84
CONCEPT_KEY_BONUS = 0.05
# Embedding costs milliseconds to tens of milliseconds per question on one core: a
# report embeds at most this many texts it has not seen (the newest first); the rest
# join the topic their feature key's questions joined.
EMBED_PER_REPORT = 1_000
# Texts whose embeddings are kept in memory between reports (384 floats each, ~1.5 KB).
EMBEDDINGS_KEPT = 20_000

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
    grouping: str = "features"  # features | embeddings


class GapEmbeddings:
    """The embeddings of gap questions, kept in memory per text hash (the newest
    `capacity` used) so a report does not embed the same questions on every call.
    Thread-safe: reports run in worker threads."""

    def __init__(self, embed: Embedder, capacity: int = EMBEDDINGS_KEPT) -> None:
        self._embed = embed
        self._capacity = capacity
        self._rows: OrderedDict[bytes, FloatRows] = OrderedDict()
        self._lock = threading.Lock()
        self.embedded = 0  # texts embedded so far (cache misses)

    def vectors(self, texts: Sequence[str], new_at_most: int) -> dict[str, FloatRows]:
        """The L2-normalised embedding of each of `texts` already kept, and of the first
        `new_at_most` of the others (blocking: the model runs on those)."""
        keys = {text: _text_hash(text) for text in texts}
        with self._lock:
            found = {t: self._rows[k] for t, k in keys.items() if k in self._rows}
            for text in found:
                self._rows.move_to_end(keys[text])
        missing = [t for t in keys if t not in found][: max(new_at_most, 0)]
        if missing:
            rows = np.asarray(self._embed(missing), dtype=np.float32)
            new = dict(zip(missing, rows, strict=True))
            found.update(new)
            with self._lock:
                self.embedded += len(new)
                for text, row in new.items():
                    self._rows[keys[text]] = row
                while len(self._rows) > self._capacity:
                    self._rows.popitem(last=False)
        return found


def _text_hash(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


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


def embedding_groups(
    vectors: FloatRows, concept_keys: Sequence[tuple[str, ...]], merge_at: float
) -> list[int]:
    """Each row's group by average-linkage clustering (scipy) of the rows' cosines: two
    groups merge while their rows' mean cosine is at least `merge_at`. Rows with the
    same concept key count `CONCEPT_KEY_BONUS` closer (the matcher's own evidence)."""
    from scipy.cluster.hierarchy import fcluster, linkage  # with the semantic extra
    from scipy.spatial.distance import squareform

    if len(vectors) < 2:
        return [0] * len(vectors)
    ids: dict[tuple[str, ...], int] = {}
    key_ids = np.array(
        [
            ids.setdefault(key, len(ids)) if key and key[0].startswith(CONCEPT_PREFIX) else -1
            for key in concept_keys
        ]
    )
    same = (key_ids[:, None] == key_ids[None, :]) & (key_ids[:, None] >= 0)
    distances = np.clip(1.0 - vectors @ vectors.T - CONCEPT_KEY_BONUS * same, 0.0, None)
    np.fill_diagonal(distances, 0.0)
    tree = linkage(squareform(distances, checks=False), "average")
    return [int(group) for group in fcluster(tree, 1.0 - merge_at, "distance")]


def _feature_groups(
    keys: Sequence[tuple[str, ...]],
) -> tuple[list[Hashable], dict[Hashable, tuple[str, ...]]]:
    """Each question's topic by its feature key (keys spelled alike merged)."""
    into = _merged_keys(Counter(keys))
    return [into[key] for key in keys], {key: key for key in into.values()}


def _meaning_groups(
    texts: Sequence[str],
    keys: Sequence[tuple[str, ...]],
    embeddings: GapEmbeddings,
    merge_at: float,
) -> tuple[list[Hashable], dict[Hashable, tuple[str, ...]]]:
    """Each question's topic by the embedding of its text; a text left unembedded (over
    the report's budget) joins the topic its feature key's questions joined most, else
    a topic of its own key. Labels: the commonest feature key of each topic."""
    vectors = embeddings.vectors(texts, EMBED_PER_REPORT)  # `texts` come newest first
    key_of = dict(zip(texts, keys, strict=True))
    embedded = list(vectors)
    topic_of: dict[str, Hashable] = {}
    if embedded:
        groups = embedding_groups(
            np.stack([vectors[t] for t in embedded]), [key_of[t] for t in embedded], merge_at
        )
        topic_of = dict(zip(embedded, groups, strict=True))
    into = _merged_keys(Counter(keys))
    by_key: dict[tuple[str, ...], Counter[Hashable]] = {}
    for text, key in zip(texts, keys, strict=True):
        if text in topic_of:
            by_key.setdefault(into[key], Counter())[topic_of[text]] += 1
    groups_of: list[Hashable] = []
    for text, key in zip(texts, keys, strict=True):
        if text in topic_of:
            groups_of.append(topic_of[text])
        elif into[key] in by_key:
            groups_of.append(by_key[into[key]].most_common(1)[0][0])
        else:
            groups_of.append(("key", into[key]))
    labels: dict[Hashable, Counter[tuple[str, ...]]] = {}
    for group, key in zip(groups_of, keys, strict=True):
        labels.setdefault(group, Counter())[key] += 1
    return groups_of, {group: count.most_common(1)[0][0] for group, count in labels.items()}


def topic_groups(
    questions: Sequence[GapQuestion],
    words: Words | None = None,
    embeddings: GapEmbeddings | None = None,
    merge_at: float = EMBEDDING_MERGE_AT,
) -> tuple[list[Hashable], dict[Hashable, tuple[str, ...]]]:
    """Each question's topic (newest questions first) and each topic's label (its
    feature key): by features, or by meaning with `embeddings` (groups of questions
    merge while their mean cosine is at least `merge_at`)."""
    read = words or matcher_words()
    keys = [topic_key(read(q.text, q.language)) for q in questions]
    if embeddings is None:
        return _feature_groups(keys)
    return _meaning_groups([q.text for q in questions], keys, embeddings, merge_at)


def gap_report(
    current: Sequence[GapQuestion],
    previous: Sequence[GapQuestion],
    *,
    since: datetime,
    until: datetime,
    previous_since: datetime,
    words: Words | None = None,
    embeddings: GapEmbeddings | None = None,
) -> GapReport:
    """Group the period's gap questions into topics, most frequent first.

    Blocking (and, with `embeddings`, slow on texts not embedded before): run it in a
    worker thread.

    Args:
        current: the gap records of [since, until), newest first.
        previous: those of [previous_since, since), newest first, for each topic's trend.
        words: how a question is read; the matcher's own reading by default.
        embeddings: the semantic extra's model: group by meaning instead of features.
    """
    groups, labels = topic_groups([*current, *previous], words, embeddings)
    members: dict[Hashable, list[GapQuestion]] = {}
    for group, question in zip(groups[: len(current)], current, strict=True):
        members.setdefault(group, []).append(question)
    before = Counter(groups[len(current) :])
    topics = [_topic(labels[group], found, before[group]) for group, found in members.items()]
    topics.sort(key=lambda t: (-t.count, -t.examples[0].at.timestamp(), t.key))
    return GapReport(
        since=since,
        until=until,
        previous_since=previous_since,
        total=len(current),
        previous_total=len(previous),
        kinds=dict(Counter(q.kind for q in current).most_common()),
        topics=tuple(topics),
        grouping="features" if embeddings is None else "embeddings",
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
        "grouping": report.grouping,
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
    if report.grouping == "embeddings":
        lines.append("  grouped by meaning (the semantic extra's embeddings)")
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
