"""The vectorised TF-IDF index and its on-disk cache."""

from __future__ import annotations

import json
import logging
import math
import threading
import zipfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from faq import index_cache
from faq.index import (
    ContrastIndex,
    JointIndex,
    JointSpace,
    TfIdfIndex,
    feature_counts,
    merge_documents,
)
from faq.kb import FaqEntry, KnowledgeBase, load_kb
from faq.lexicon import Lexicon
from faq.matcher import STOPWORDS, Matcher, MatcherConfig, MatchResult

FIXTURES = Path(__file__).parent / "fixtures" / "faq"
KB = FIXTURES / "kb.json"
QUERIES = [json.loads(line)["text"] for line in (FIXTURES / "dev.jsonl").open(encoding="utf-8")]


def reference_scores(
    documents: Sequence[Counter[str]],
    query: Counter[str],
    *,
    damped: frozenset[str] = frozenset(),
    damping: float = 1.0,
    groups: Sequence[int] | None = None,
) -> np.ndarray:
    """The index as it was built one posting at a time in Python: same formula, same
    order of additions."""
    df: Counter[str] = Counter()
    if groups is None:
        for doc in documents:
            df.update(doc.keys())
        n = len(documents)
    else:
        df.update(
            f for f, _ in {(f, g) for doc, g in zip(documents, groups, strict=True) for f in doc}
        )
        n = len(set(groups))
    idf = {
        f: (math.log((n + 1) / (d + 1)) + 1.0) * (damping if f in damped else 1.0)
        for f, d in df.items()
    }
    doc_weights = []
    for doc in documents:
        pairs = [(f, (1.0 + math.log(c)) * idf[f]) for f, c in doc.items()]
        norm = math.sqrt(sum(w * w for _, w in pairs)) or 1.0
        doc_weights.append({f: w / norm for f, w in pairs})
    q = {
        f: (1.0 + math.log(c))
        * idf.get(f, (math.log(n + 1) + 1.0) * (damping if f in damped else 1.0))
        for f, c in query.items()
    }
    qnorm = math.sqrt(sum(w * w for w in q.values()))
    out = np.zeros(len(documents))
    for f, qw in q.items():
        if f in idf:
            for d, weights in enumerate(doc_weights):
                if f in weights:
                    out[d] += weights[f] * qw
    return (out / qnorm).astype(np.float32) if qnorm else out.astype(np.float32)


def _fixture_documents() -> tuple[list[Counter[str]], list[Counter[str]], list[int], Matcher]:
    matcher = Matcher(load_kb(KB))
    words, chars, groups = [], [], []
    for entry_no, entry in enumerate(matcher.kb.entries):
        for phrasings in entry.questions.values():
            for phrasing in phrasings:
                tokens = matcher.words(phrasing)
                words.append(Counter(tokens))
                chars.append(matcher._char_features(tokens))
                groups.append(entry_no)
    return words, chars, groups, matcher


def test_vectorised_index_scores_like_the_per_posting_build() -> None:
    words, chars, groups, matcher = _fixture_documents()
    word_index = TfIdfIndex(words, damped=STOPWORDS, damping=0.4, groups=groups)
    char_index = TfIdfIndex(chars)
    for text in QUERIES:
        tokens = matcher.words(text)
        query_words, query_chars = Counter(tokens), matcher._char_features(tokens)
        got = word_index.scores(word_index.prepare(query_words), len(words))
        want = reference_scores(words, query_words, damped=STOPWORDS, damping=0.4, groups=groups)
        np.testing.assert_array_equal(got, want)
        assert np.argsort(-got, kind="stable").tolist() == np.argsort(-want, kind="stable").tolist()
        got = char_index.scores(char_index.prepare(query_chars), len(chars))
        np.testing.assert_array_equal(got, reference_scores(chars, query_chars))


def test_a_query_looked_up_per_word_is_weighed_as_its_counted_features() -> None:
    _, _, _, matcher = _fixture_documents()
    # known and unknown n-grams, a word repeated past the table of 1 + log(count), a
    # text of function words only, nothing
    texts = [*QUERIES, "zzqx qxzz zzqx", "refund " * 70, "the of and", ""]
    for text in texts * 2:  # the second time from the per-word table
        tokens = matcher.words(text)
        want = matcher._chars.prepare(matcher._char_features(tokens))
        got = matcher._char_query(tokens)
        assert got.feature_ids.tolist() == want.feature_ids.tolist()
        assert got.weights.dtype == want.weights.dtype
        assert got.weights.tobytes() == want.weights.tobytes()
        assert got.norm == want.norm


def test_merged_documents_sum_counts_in_first_seen_order() -> None:
    docs = [Counter({"b": 1, "a": 2}), Counter({"c": 1, "a": 1}), Counter({"a": 3})]
    merged = merge_documents(feature_counts(docs), np.array([0, 0, 1]), 3)
    rows = [
        (int(d), merged.names[int(f)], int(c))
        for d, f, c in zip(merged.docs, merged.features, merged.counts, strict=True)
    ]
    assert rows == [(0, "b", 1), (0, "a", 3), (0, "c", 1), (1, "a", 3)]
    # A centroid index over the merge scores as an index over the summed Counters.
    base = TfIdfIndex(docs)
    centroid = TfIdfIndex(merged, weights_from=base)
    summed = TfIdfIndex([docs[0] + docs[1], docs[2], Counter()], weights_from=base)
    query = base.prepare(Counter({"a": 1, "c": 2}))
    np.testing.assert_array_equal(centroid.scores(query, 3), summed.scores(query, 3))


def test_the_joint_walk_gives_each_part_s_own_figures_bit_for_bit() -> None:
    words, chars, groups, matcher = _fixture_documents()
    entries = np.array(groups)
    n_entries = len(matcher.kb.entries)
    spaces = []
    for documents in (words, chars):
        counts = feature_counts(documents)
        phrasings = TfIdfIndex(counts, groups=groups)
        merged = merge_documents(counts, entries, n_entries)
        centroids = TfIdfIndex(merged, weights_from=phrasings)
        contrast = ContrastIndex(merged, phrasings.vocabulary_ids(), 0.1)
        spaces.append(JointSpace(phrasings, len(documents), centroids, contrast))
    joint = JointIndex(spaces)
    for text in [*QUERIES, "", "zzzz"]:
        tokens = matcher.words(text)
        queries = [
            space.phrasings.prepare(features)
            for space, features in zip(
                spaces, (Counter(tokens), matcher._char_features(tokens)), strict=True
            )
        ]
        # uncapped, and capped where some features of each part are cut
        for cap in (None, 3, 12):
            for space, query, got in zip(spaces, queries, joint.scores(queries, cap), strict=True):
                size = space.phrasing_count
                np.testing.assert_array_equal(
                    got.phrasings, space.phrasings.scores(query, size, cap)
                )
                np.testing.assert_array_equal(
                    got.centroids, space.centroids.scores(query, n_entries, cap)
                )
                np.testing.assert_array_equal(
                    got.contrast, space.contrast.log_likelihoods(query, cap)
                )


def test_texts_walked_together_score_as_each_alone_bit_for_bit() -> None:
    _, _, _, matcher = _fixture_documents()
    texts = [*QUERIES, "", "zzzz"]
    pairs = list(zip(texts, reversed(texts), strict=True))
    for cap in (None, 3, 12):
        for first, second in pairs:
            queries = [matcher.query_features(t, "en") for t in (first, second)]
            asked = [q for q in queries if q is not None]
            together = matcher._joint.scores_of_texts(asked, cap)
            for query, got in zip(asked, together, strict=True):
                for part_got, part_alone in zip(
                    got, matcher._joint.scores(query, cap), strict=True
                ):
                    for mine, theirs in zip(part_got, part_alone, strict=True):
                        assert mine.tobytes() == theirs.tobytes()
    for first, second in pairs:
        alone = [matcher.match(t, language="en") for t in (first, second)]
        together = matcher.match_texts([first, second], language="en")
        assert [_outcome(r) for r in together] == [_outcome(r) for r in alone]


def _outcome(result: MatchResult) -> tuple[object, ...]:
    return (
        result.normalised,
        result.candidates,
        result.confidence,
        result.features,
        result.explained,
    )


def test_features_past_the_postings_cap_are_skipped_but_keep_their_norm() -> None:
    docs = [Counter({"common": 1, "rare": 1}), Counter({"common": 1}), Counter({"common": 2})]
    index = TfIdfIndex(docs)
    query = index.prepare(Counter({"common": 1, "rare": 1}))
    full = index.scores(query, 3)
    capped = index.scores(query, 3, max_postings=2)  # "common" has 3 postings
    assert full[1] > 0 and capped[1] == 0.0 and capped[2] == 0.0
    # What is left is the rare feature's share over the whole query's norm.
    rare_only = index.scores(index.prepare(Counter({"rare": 1})), 3)
    rare_weight = index.idf("rare")
    np.testing.assert_allclose(capped[0], rare_only[0] * rare_weight / query.norm, rtol=1e-6)
    np.testing.assert_array_equal(index.scores(query, 3, max_postings=3), full)


def test_a_kb_within_the_postings_cap_matches_exactly() -> None:
    kb = load_kb(KB)
    assert Matcher(kb).phrasing_count <= MatcherConfig().max_postings
    exact = _results(Matcher(kb, MatcherConfig(max_postings=10**9)))
    _same(_results(Matcher(kb)), exact)


def _top_one_accuracy(matcher: Matcher, rows: Sequence[dict[str, str]]) -> float:
    hits = 0
    for row in rows:
        candidates = matcher.match(row["text"], limit=1).candidates
        hits += bool(candidates) and candidates[0].entry_id == row["expected"]
    return hits / len(rows)


def test_a_postings_cap_below_the_kb_size_keeps_the_dev_answers() -> None:
    # A cap far below this KB's size stands in for a KB far above the default cap.
    kb = load_kb(KB)
    rows = [json.loads(line) for line in (FIXTURES / "dev.jsonl").open(encoding="utf-8")]
    answered = [r for r in rows if r.get("expected")]
    exact = _top_one_accuracy(Matcher(kb, MatcherConfig(max_postings=10**9)), answered)
    capped = _top_one_accuracy(Matcher(kb, MatcherConfig(max_postings=20)), answered)
    assert capped >= exact - 0.02


def _results(matcher: Matcher) -> list[MatchResult]:
    return [matcher.match(text) for text in QUERIES]


def _same(a: list[MatchResult], b: list[MatchResult]) -> None:
    assert [(r.candidates, r.confidence, r.features) for r in a] == [
        (r.candidates, r.confidence, r.features) for r in b
    ]


@pytest.fixture(scope="module")
def uncached() -> list[MatchResult]:
    return _results(Matcher(load_kb(KB)))


def test_cache_miss_then_hit_gives_the_same_matches(
    tmp_path: Path, uncached: list[MatchResult]
) -> None:
    kb = load_kb(KB)
    first = Matcher(kb, cache_dir=tmp_path)
    assert first.index_source == "built"
    assert len(list(tmp_path.glob("faq-index-*.npz"))) == 1
    second = Matcher(kb, cache_dir=tmp_path)
    assert second.index_source == "cache"
    _same(_results(first), uncached)
    _same(_results(second), uncached)


def test_a_changed_kb_is_a_different_cache(tmp_path: Path) -> None:
    kb = load_kb(KB)
    Matcher(kb, cache_dir=tmp_path)
    first = kb.entries[0]
    edited = FaqEntry(first.id, {**first.questions, "en": ("a new phrasing",)}, first.answers)
    changed = KnowledgeBase((edited, *kb.entries[1:]), kb.default_language)
    matcher = Matcher(changed, cache_dir=tmp_path)
    assert matcher.index_source == "built"
    assert matcher.match("a new phrasing").best.entry_id == first.id  # type: ignore[union-attr]
    assert len(list(tmp_path.glob("faq-index-*.npz"))) == 2


def _only_cache_file(folder: Path) -> Path:
    (path,) = folder.glob("faq-index-*.npz")
    return path


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_cache_is_logged_and_rebuilt(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    uncached: list[MatchResult],
    damage: str,
) -> None:
    kb = load_kb(KB)
    Matcher(kb, cache_dir=tmp_path)
    path = _only_cache_file(tmp_path)
    data = path.read_bytes()
    path.write_bytes(
        {"truncated": data[: len(data) // 2], "garbage": b"\x00" * len(data), "empty": b""}[damage]
    )
    with caplog.at_level(logging.WARNING, logger="faq.index_cache"):
        matcher = Matcher(kb, cache_dir=tmp_path)
    assert matcher.index_source == "built"
    assert "unusable" in caplog.text and "rebuilding" in caplog.text
    _same(_results(matcher), uncached)
    assert Matcher(kb, cache_dir=tmp_path).index_source == "cache"  # rewritten whole


def _rewrite(path: Path, **changes: np.ndarray) -> None:
    with np.load(path, allow_pickle=False) as npz:
        arrays = {name: npz[name] for name in npz.files}
    arrays.update(changes)
    with path.open("wb") as fh:
        np.savez(fh, **arrays)


def _meta(path: Path, **changes: object) -> np.ndarray:
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(bytes(npz["meta"]).decode())
    meta.update(changes)
    return np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)


@pytest.mark.parametrize(
    "tamper",
    ["stale_key", "postings_out_of_range", "short_texts", "object_array"],
)
def test_a_stale_or_inconsistent_cache_is_not_trusted(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    uncached: list[MatchResult],
    tamper: str,
) -> None:
    kb = load_kb(KB)
    Matcher(kb, cache_dir=tmp_path)
    path = _only_cache_file(tmp_path)
    with np.load(path, allow_pickle=False) as npz:
        doc_ids = npz["chars.doc_ids"].copy()
    if tamper == "stale_key":  # e.g. a file copied from another KB under this name
        _rewrite(path, meta=_meta(path, key="0" * 64))
    elif tamper == "postings_out_of_range":
        doc_ids[-1] = 10**6
        _rewrite(path, **{"chars.doc_ids": doc_ids})
    elif tamper == "short_texts":
        with np.load(path, allow_pickle=False) as npz:
            texts = json.loads(bytes(npz["meta"]).decode())["texts"]
        _rewrite(path, meta=_meta(path, texts=texts[:-1]))
    else:  # an array that only unpickling could read is refused, never unpickled
        _rewrite(path, entry_of=np.array([object()], dtype=object))
    with caplog.at_level(logging.WARNING, logger="faq.index_cache"):
        matcher = Matcher(kb, cache_dir=tmp_path)
    assert matcher.index_source == "built"
    assert "unusable" in caplog.text
    _same(_results(matcher), uncached)


def test_concurrent_writers_leave_one_whole_file(tmp_path: Path) -> None:
    kb = load_kb(KB)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def build() -> None:
        try:
            start.wait()
            Matcher(kb, cache_dir=tmp_path)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("faq-index-")] == []
    assert zipfile.is_zipfile(_only_cache_file(tmp_path))
    assert Matcher(kb, cache_dir=tmp_path).index_source == "cache"


def test_an_unwritable_cache_folder_only_costs_the_cache(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with caplog.at_level(logging.WARNING, logger="faq.index_cache"):
        matcher = Matcher(load_kb(KB), cache_dir=blocker / "cache")
    assert matcher.index_source == "built" and "not written" in caplog.text
    assert matcher.match("where is my order").best is not None


def test_cache_key_covers_kb_config_and_lexicon() -> None:
    kb = load_kb(KB)
    matcher = Matcher(kb)
    key = index_cache.cache_key(kb, matcher.config, matcher._lexicon)
    assert key == index_cache.cache_key(load_kb(KB), matcher.config, matcher._lexicon)
    assert key != index_cache.cache_key(kb, matcher.config, None)
    reordered = KnowledgeBase(tuple(reversed(kb.entries)), kb.default_language)
    assert key != index_cache.cache_key(reordered, matcher.config, matcher._lexicon)


@pytest.mark.parametrize(
    "owner_file",
    [
        "words:\n  طلب:\n    ar: [طلبيتي]\n",  # a dialect word for a standard word
        "function_words:\n  how_much:\n    fa: [چن تا]\n",  # a question word
        "concepts:\n  refund:\n    en: [money back please]\n",
    ],
)
def test_cache_key_covers_every_part_of_the_lexicon(tmp_path: Path, owner_file: str) -> None:
    kb = load_kb(KB)
    matcher = Matcher(kb)
    path = tmp_path / "lexicon.yaml"
    path.write_text(owner_file, encoding="utf-8")
    shipped = index_cache.cache_key(kb, matcher.config, Lexicon.default())
    assert shipped is not None
    assert shipped == index_cache.cache_key(kb, matcher.config, Lexicon.load(None))
    assert shipped != index_cache.cache_key(kb, matcher.config, Lexicon.load(path))


def test_cache_key_covers_the_finglish_layer() -> None:
    assert {"finglish.py", "finglish.yaml"} <= set(index_cache._SOURCES)
