"""A hot reload of a large KB indexes it off the event loop (in a separate process)."""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import os
import random
import time
from pathlib import Path

from faq.kb import load_kb, sample_kb_path
from faq.matcher import Matcher
from faq.reload import KbWatcher


def _synthetic_entries(count: int, seed: int) -> list[dict[str, object]]:
    """Entries of random phrasings over the sample KB's words (two per language)."""
    words: dict[str, set[str]] = {}
    for entry in load_kb(sample_kb_path()).entries:
        for lang, phrasings in entry.questions.items():
            for phrasing in phrasings:
                words.setdefault(lang, set()).update(phrasing.split())
    vocab = {lang: sorted(ws) for lang, ws in words.items()}
    rng = random.Random(seed)
    return [
        {
            "id": f"entry-{i}",
            "questions": {
                lang: [" ".join(rng.choices(ws, k=rng.randint(3, 8))) for _ in range(2)]
                for lang, ws in vocab.items()
            },
            "answers": {"en": f"answer {i}"},
        }
        for i in range(count)
    ]


def _write(path: Path, entries: list[dict[str, object]], mtime_ns: int) -> None:
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    os.utime(path, ns=(mtime_ns, mtime_ns))


async def test_the_event_loop_keeps_answering_while_a_big_kb_reloads(tmp_path: Path) -> None:
    path = tmp_path / "kb.json"
    small: list[dict[str, object]] = [
        {"id": "hours", "questions": {"en": ["opening hours"]}, "answers": {"en": "9-5"}}
    ]
    _write(path, small, 1_000_000_000)
    watcher = KbWatcher(path, watch=False, cache_dir=tmp_path / "cache")
    await watcher.start()
    old = watcher.current
    assert old is not None
    _write(path, _synthetic_entries(1_500, seed=7), 2_000_000_000)  # 9,000 phrasings

    # What the suite left on the heap is not the reload's: a full collection of it can
    # stall the loop for a second late in a long run. Collect it now and leave it out.
    gc.collect()
    gc.freeze()
    beats: list[float] = []
    answered_during_reload = 0

    async def heartbeat() -> None:
        while True:
            beats.append(time.perf_counter())
            await asyncio.sleep(0.005)

    beating = asyncio.create_task(heartbeat())
    reload = asyncio.create_task(watcher.check_now())
    started = time.perf_counter()
    while not reload.done():
        # The bot keeps answering from the KB in use while the new one is indexed.
        best = old.matcher.match("what are your opening hours").best
        answered_during_reload += best is not None and best.entry_id == "hours"
        await asyncio.sleep(0.01)
    assert await reload is True
    elapsed = time.perf_counter() - started
    beating.cancel()
    gc.unfreeze()

    fresh = watcher.current
    assert fresh is not None and fresh.matcher.phrasing_count == 9_000
    # This process only read the index the indexing process wrote.
    assert fresh.matcher.index_source == "cache"
    during = [b for b in beats if b >= started]
    gaps = [b - a for a, b in itertools.pairwise(during)]
    assert answered_during_reload >= 5, (answered_during_reload, elapsed)
    assert len(during) >= 20 and max(gaps) < 1.0, (len(during), max(gaps), elapsed)


async def test_a_broken_kb_fails_in_the_indexing_process_and_keeps_the_old_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "kb.json"
    _write(path, _synthetic_entries(3, seed=1), 1_000_000_000)
    watcher = KbWatcher(path, watch=False, cache_dir=tmp_path / "cache")
    await watcher.start()
    path.write_text('[{"id": 1}]', encoding="utf-8")
    os.utime(path, ns=(2_000_000_000, 2_000_000_000))
    assert await watcher.check_now() is False
    assert watcher.current is not None and len(watcher.current.kb.entries) == 3


async def test_the_indexing_process_uses_the_kb_owners_lexicon(tmp_path: Path) -> None:
    path = tmp_path / "kb.json"
    lexicon = tmp_path / "lexicon.yaml"
    lexicon.write_text("concepts:\n  warranty:\n    en: [assurance plan]\n", encoding="utf-8")
    _write(path, _synthetic_entries(3, seed=1), 1_000_000_000)
    watcher = KbWatcher(path, watch=False, cache_dir=tmp_path / "cache", lexicon_path=lexicon)
    await watcher.start()
    _write(path, _synthetic_entries(4, seed=2), 2_000_000_000)
    assert await watcher.check_now() is True
    fresh = watcher.current
    assert fresh is not None and len(fresh.kb.entries) == 4
    # the process indexed with the same lexicon, so its cache is the one this process reads
    assert fresh.matcher.index_source == "cache"
    assert "~warranty" in fresh.matcher.words("how long is the assurance plan", "en")


async def test_a_reload_reads_questions_with_the_new_kbs_words(tmp_path: Path) -> None:
    """A matcher keeps the question words it has read (stem, form, IDF in its KB); after
    a reload the same question is read with the new KB's figures, as a matcher built on
    the new KB reads it, not with the old KB's."""
    path = tmp_path / "kb.json"
    kb: list[dict[str, object]] = [
        {"id": "hours", "questions": {"en": ["opening hours", "when do you open"]}},
        {"id": "refund", "questions": {"en": ["how do I get a refund"]}},
    ]
    for entry in kb:
        entry["answers"] = {"en": "-"}
    _write(path, kb, 1_000_000_000)
    watcher = KbWatcher(path, watch=False, default_language="en")
    await watcher.start()
    question = "when are the opening hours of the shop"
    assert watcher.current is not None
    old = watcher.current.matcher
    before = old.match(question, language="en")
    assert old._known_words  # the KB's words of the question were kept
    kb.append({"id": "shop", "questions": {"en": ["where is the shop"]}, "answers": {"en": "-"}})
    _write(path, kb, 2_000_000_000)
    assert await watcher.check_now() is True
    assert watcher.current is not None
    new = watcher.current.matcher
    after = new.match(question, language="en")
    # what the new matcher kept is its own KB's: the form's number and the stem's IDF
    assert new._known_words
    for row in new._known_words.values():
        assert new._form_ids[row.form] == row.form_id
        assert new._words.idf(row.stem) == row.idf
    alone = Matcher(load_kb(path, default_language="en")).match(question, language="en")
    assert after.explained == alone.explained and after.features == alone.features
    # "~hours" (opening hours) weighs otherwise in three entries than in two
    hours = [(w.idf, w.matched) for w in before.explained if w.word == "~hours"]
    assert hours and hours != [(w.idf, w.matched) for w in after.explained if w.word == "~hours"]
