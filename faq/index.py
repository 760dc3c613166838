"""A sparse TF-IDF index over short texts, as a numpy inverted index.

Each document (one KB phrasing, or one entry's phrasings together) is a bag of string
features with counts. Weights are sublinear TF times smoothed IDF, L2-normalised per
document, so a query's score against every document is a cosine computed by walking
only the postings of the query's own features: the work grows with how common those
features are, not with the size of the KB.

The index is built from a `FeatureCounts` matrix (one row per feature occurrence) with
numpy: no Python object per posting, so a KB of 30,000 phrasings builds in well under
a second and small memory. The arithmetic is the one a per-document Python loop would
do, in the same order (logarithms from `math.log`, each document's norm summed in its
features' order), so scores are bit-identical to it. `arrays()` and `from_arrays()`
give the index as plain arrays for the on-disk cache (`faq.index_cache`).
"""

from __future__ import annotations

import array
import itertools
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]
SmallIdArray = npt.NDArray[np.int32]  # millions of rows at 30,000 phrasings: half the memory


@dataclass(frozen=True, slots=True)
class IndexQuery:
    """A query's known features (ids) with their TF-IDF weights, and its full norm."""

    feature_ids: IdArray
    weights: npt.NDArray[np.float64]
    norm: float


@dataclass(frozen=True, slots=True)
class FeatureCounts:
    """Documents as a coordinate list: row i says document `docs[i]` has feature
    `features[i]` (an id into `names`) `counts[i]` times. Rows are grouped by document,
    ascending, each document's features in their first-seen order."""

    docs: SmallIdArray
    features: SmallIdArray
    counts: SmallIdArray
    names: tuple[str, ...]
    size: int  # number of documents (some may have no rows)


class FeatureCountsBuilder:
    """Collects documents one at a time into a `FeatureCounts`, numbering features as
    they are first seen (so a caller never holds every document's Counter at once)."""

    __slots__ = ("_counts", "_features", "_ids", "_lengths")

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        # machine integers, not lists of int objects: a fraction of the memory
        self._features = array.array("i")
        self._counts = array.array("i")
        self._lengths = array.array("i")

    def add(self, document: Mapping[str, int]) -> None:
        """Append the next document (feature -> count)."""
        ids = self._ids
        # setdefault's default is evaluated first: a new feature gets the next number.
        self._features.extend([ids.setdefault(f, len(ids)) for f in document])
        self._counts.extend(document.values())
        self._lengths.append(len(document))

    def build(self) -> FeatureCounts:
        """The collected documents."""
        size = len(self._lengths)
        lengths = np.frombuffer(self._lengths, dtype=np.int32)
        return FeatureCounts(
            np.repeat(np.arange(size, dtype=np.int32), lengths),
            np.frombuffer(self._features, dtype=np.int32).copy(),
            np.frombuffer(self._counts, dtype=np.int32).copy(),
            tuple(self._ids),
            size,
        )


def feature_counts(documents: Iterable[Mapping[str, int]]) -> FeatureCounts:
    """`FeatureCounts` of documents given as feature -> count mappings."""
    builder = FeatureCountsBuilder()
    for doc in documents:
        builder.add(doc)
    return builder.build()


def merge_documents(
    counts: FeatureCounts, groups: npt.NDArray[np.integer], size: int
) -> FeatureCounts:
    """One document per group: the sum of its documents' counts (e.g. an FAQ entry's
    centroid from its phrasings). Each merged document lists its features in the order
    they were first seen, as `Counter.update` over the group's documents would.

    Args:
        counts: the documents; `groups[d]` is the group of document d, and each group's
            documents are contiguous and in ascending group order.
        groups: see `counts`.
        size: number of groups.
    """
    group_of_row = groups[counts.docs]
    keys = group_of_row * max(len(counts.names), 1) + counts.features
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    del keys
    starts = np.flatnonzero(np.diff(ordered, prepend=-1))  # first row of each distinct key
    del ordered
    summed = np.add.reduceat(counts.counts[order], starts) if len(order) else counts.counts
    first = order[starts]  # stable sort: the first row of each key in document order
    del order, starts
    by_first = np.argsort(first, kind="stable")
    first = first[by_first]
    return FeatureCounts(
        group_of_row[first].astype(np.int32),
        counts.features[first],
        summed[by_first].astype(np.int32),
        counts.names,
        size,
    )


def _log_table(values: SmallIdArray) -> npt.NDArray[np.float64]:
    """1 + log(v) per count v >= 1, with `math.log` (numpy's may differ in the last bit)."""
    if not len(values):
        return np.zeros(0, dtype=np.float64)
    table = np.array([1.0 + math.log(v) for v in range(1, int(values.max()) + 1)])
    return table[values - 1]


def _distinct(values: npt.NDArray[np.int64]) -> int:
    ordered = np.sort(values)
    return int(np.count_nonzero(np.diff(ordered))) + 1 if len(ordered) else 0


def _gather(
    doc_ids: npt.NDArray[np.int32],
    posting_weights: npt.NDArray[np.floating],
    starts: IdArray,
    lengths: IdArray,
    weights: npt.NDArray[np.float64] | None,
    size: int,
    blocks: Sequence[tuple[int, int]] | None = None,
) -> npt.NDArray[np.float64]:
    """Per document, the sum of `weights[i]` times its posting weight over the postings
    `starts[i]:starts[i] + lengths[i]` of each query feature i (None: every weight 1).

    `blocks`: (postings, documents) of consecutive queries walked together, each
    block's documents numbered after the previous block's (None: one block)."""
    # Gather all postings of the kept features in one vectorised step.
    # Array methods rather than np.* functions: no dispatch wrapper per call.
    positions = (starts - lengths.cumsum() + lengths).repeat(lengths)
    positions += np.arange(positions.size)
    # In place, and `take` without bounds checks (positions lie inside the postings).
    gathered = posting_weights.take(positions, mode="clip").astype(np.float64, copy=False)
    if weights is not None:
        gathered *= weights.repeat(lengths)
    docs = doc_ids.take(positions, mode="clip")
    if blocks is not None:
        first = offset = 0
        for postings, documents in blocks:
            docs[first : first + postings] += offset
            first += postings
            offset += documents
    # (an empty gather counts as integers)
    return np.bincount(docs, weights=gathered, minlength=size).astype(np.float64, copy=False)


# 1 + log(count) of a query feature, with numpy's logarithm as the query's weights have
# always been taken (`math.log` may differ in the last bit): a table for the counts a
# question has, numpy for a longer text's.
_SUBLINEAR_TF: list[float] = (1.0 + np.log(np.arange(1, 65, dtype=np.float64))).tolist()


def _sublinear_tf(count: int) -> float:
    if 0 < count <= len(_SUBLINEAR_TF):
        return _SUBLINEAR_TF[count - 1]
    return float(1.0 + np.log(np.array([count], dtype=np.float64))[0])


_SUBLINEAR_TF_ARRAY = np.array(_SUBLINEAR_TF, dtype=np.float64)


def _sublinear_tfs(counts: IdArray) -> npt.NDArray[np.float64]:
    """`_sublinear_tf` of each count (>= 1), as a new array."""
    if counts.size and int(counts.max()) > len(_SUBLINEAR_TF):
        return np.array([_sublinear_tf(c) for c in counts.tolist()], dtype=np.float64)
    return _SUBLINEAR_TF_ARRAY.take(counts - 1)


class TfIdfIndex:
    """Cosine similarity between a query's features and every indexed document."""

    __slots__ = ("_damped", "_damping", "_doc_ids", "_idf", "_indptr", "_n", "_vocab", "_weights")

    _vocab: dict[str, int]
    _idf: npt.NDArray[np.float64]
    _n: int
    _damped: frozenset[str]
    _damping: float
    _indptr: IdArray
    _doc_ids: npt.NDArray[np.int32]
    _weights: npt.NDArray[np.float64]

    def __init__(
        self,
        documents: Sequence[Counter[str]] | FeatureCounts,
        *,
        damped: frozenset[str] = frozenset(),
        damping: float = 1.0,
        groups: Sequence[int] | None = None,
        weights_from: TfIdfIndex | None = None,
    ) -> None:
        """Index `documents` (feature -> count), numbered in the given order.

        Args:
            documents: the feature counts of each document (or all of them as one
                `FeatureCounts`).
            damped: features (e.g. function words) whose IDF is multiplied by `damping`.
            damping: see `damped`.
            groups: the group of each document (e.g. its FAQ entry); document frequency
                then counts groups, so a word in all ten phrasings of one entry is as
                distinctive as a word in one phrasing of it.
            weights_from: share another index's vocabulary and IDF (so one `IndexQuery`
                serves both); features it lacks are ignored.
        """
        counts = documents if isinstance(documents, FeatureCounts) else feature_counts(documents)
        if weights_from is not None:
            self._vocab = weights_from._vocab
            self._idf = weights_from._idf
            self._n = weights_from._n
            self._damped = weights_from._damped
            self._damping = weights_from._damping
            vocab = self._vocab
            ids = np.array([vocab.get(name, -1) for name in counts.names], dtype=np.int32)
            fids = ids[counts.features] if len(ids) else counts.features
        else:
            # Features are numbered as first seen; some may be unused (merged documents).
            present = np.flatnonzero(np.bincount(counts.features, minlength=len(counts.names)))
            self._vocab = {counts.names[f]: i for i, f in enumerate(present.tolist())}
            if len(present) == len(counts.names):
                fids = counts.features  # every feature used: the numbering stands
            else:
                remap = np.full(len(counts.names), -1, dtype=np.int32)
                remap[present] = np.arange(len(present))
                fids = remap[counts.features]
            if groups is None:
                n = counts.size
                df = np.bincount(fids, minlength=len(present))
            else:
                group_arr = np.asarray(groups, dtype=np.int64)
                n = _distinct(group_arr)
                width = max(len(present), 1)
                pairs = group_arr[counts.docs] * width + fids
                pairs.sort()
                pairs = pairs[np.diff(pairs, prepend=-1) != 0]  # each (group, feature) once
                df = np.bincount(pairs % width, minlength=len(present))
                del pairs
            self._n = n
            self._idf = np.array(
                [
                    (math.log((n + 1) / (int(d) + 1)) + 1.0) * (damping if name in damped else 1.0)
                    for name, d in zip(self._vocab, df, strict=True)
                ],
                dtype=np.float64,
            )
            self._damped = damped
            self._damping = damping
        docs, tf = counts.docs, counts.counts
        if weights_from is not None:  # only the shared vocabulary's features count
            known = fids >= 0
            docs, fids, tf = docs[known], fids[known], tf[known]
        weights = _log_table(tf)
        weights *= self._idf[fids]
        # bincount adds in row order: each document's squares summed in its own order.
        norms = np.sqrt(np.bincount(docs, weights=weights * weights, minlength=counts.size))
        norms[norms == 0.0] = 1.0
        weights /= norms[docs]
        order = np.argsort(fids, kind="stable")  # postings by feature, documents ascending
        lengths = np.bincount(fids, minlength=len(self._vocab))
        self._indptr = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        self._doc_ids = docs[order].astype(np.int32)
        self._weights = weights[order]

    def idf(self, feature: str) -> float:
        """The feature's (damped) IDF; an unknown feature counts as seen in no document."""
        fid = self._vocab.get(feature)
        if fid is not None:
            return float(self._idf[fid])
        return self._unseen_idf() * (self._damping if feature in self._damped else 1.0)

    def _unseen_idf(self) -> float:
        """The IDF of a feature no document has, before damping."""
        return math.log(self._n + 1) + 1.0

    def prepare(self, features: Counter[str]) -> IndexQuery:
        """Weigh a query once; unknown features count towards its norm only, so words the
        KB has never seen lower every score."""
        vocab = self._vocab
        known: dict[int, int] = {}
        unknown: dict[str, int] = {}
        for name, count in features.items():
            fid = vocab.get(name)
            if fid is None:
                unknown[name] = count
            else:
                known[fid] = count
        return self.prepare_looked_up(known, unknown)

    def look_up(self, features: Iterable[str]) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """`features` split into the ids of those the index has and the names of those it
        lacks, each in the given order, repeats kept (what `prepare_looked_up` counts)."""
        vocab = self._vocab
        known: list[int] = []
        unknown: list[str] = []
        for name in features:
            fid = vocab.get(name)
            if fid is None:
                unknown.append(name)
            else:
                known.append(fid)
        return tuple(known), tuple(unknown)

    def prepare_looked_up(self, known: Mapping[int, int], unknown: Mapping[str, int]) -> IndexQuery:
        """`prepare` of a query whose features are already looked up (`look_up`): the
        counts of the known ones by id and of the unknown ones by name, each in the
        query's order of features."""
        count = len(known)
        ids = np.fromiter(known.keys(), dtype=np.int64, count=count)
        weights = _sublinear_tfs(np.fromiter(known.values(), dtype=np.int64, count=count))
        weights *= self._idf[ids]
        damped = self._damped
        unseen = self._unseen_idf()  # the logarithm taken once, not per unknown feature
        unseen_damped = unseen * self._damping
        # Python floats, not numpy scalars: the same arithmetic at a fraction of the cost
        unknown_mass = 0.0
        for name, times in unknown.items():
            tf = _sublinear_tf(times)
            unknown_mass += (tf * (unseen_damped if name in damped else unseen)) ** 2
        return IndexQuery(ids, weights, math.sqrt(float(weights @ weights) + unknown_mass))

    def scores(self, query: IndexQuery, size: int, max_postings: int | None = None) -> FloatArray:
        """Cosine similarity of a prepared query with documents 0..size-1.

        Args:
            query: from `prepare`.
            size: number of documents scored.
            max_postings: features with more postings than this are left out of the
                sum (they still count in the query's norm). The commonest features weigh
                least (lowest IDF) yet cost the most to walk: at 30,000 phrasings a
                two-letter n-gram has thousands of postings. None: every feature counts.
        """
        if query.feature_ids.size == 0 or query.norm == 0.0:
            return np.zeros(size, dtype=np.float32)
        starts = self._indptr[query.feature_ids]
        lengths = self._indptr[query.feature_ids + 1] - starts
        weights = query.weights
        if max_postings is not None:
            kept = lengths <= max_postings
            if not kept.all():
                starts, lengths, weights = starts[kept], lengths[kept], weights[kept]
        out = _gather(self._doc_ids, self._weights, starts, lengths, weights, size)
        return (out / query.norm).astype(np.float32)

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """The postings as plain arrays (with `vocabulary()`, all `restore` needs)."""
        return {
            "indptr": self._indptr,
            "doc_ids": self._doc_ids,
            "weights": self._weights,
            "idf": self._idf,
        }

    def vocabulary(self) -> list[str]:
        """The features, in id order."""
        return list(self._vocab)

    def vocabulary_ids(self) -> dict[str, int]:
        """Feature -> id (shared, not copied: for an index over the same vocabulary)."""
        return self._vocab

    @property
    def document_frequency_base(self) -> int:
        """The number of documents (or groups) the IDF was computed over."""
        return self._n

    @property
    def damping(self) -> tuple[frozenset[str], float]:
        """The damped features and their IDF multiplier."""
        return self._damped, self._damping

    @classmethod
    def restore(
        cls,
        arrays: Mapping[str, npt.NDArray[np.generic]],
        vocabulary: Sequence[str] | dict[str, int],
        *,
        n: int,
        damped: frozenset[str],
        damping: float,
    ) -> TfIdfIndex:
        """An index from `arrays()` and `vocabulary()` of one built before (a dict
        vocabulary is shared as it is, as `weights_from` does).

        Raises:
            ValueError: the arrays do not describe an index over that vocabulary.
        """
        index = cls.__new__(cls)
        index._vocab = (
            vocabulary
            if isinstance(vocabulary, dict)
            else {name: i for i, name in enumerate(vocabulary)}
        )
        index._idf = np.asarray(arrays["idf"], dtype=np.float64)
        index._indptr = np.asarray(arrays["indptr"], dtype=np.int64)
        index._doc_ids = np.asarray(arrays["doc_ids"], dtype=np.int32)
        index._weights = np.asarray(arrays["weights"], dtype=np.float64)
        index._n, index._damped, index._damping = n, damped, damping
        size = len(index._vocab)
        indptr = index._indptr
        if (
            len(index._idf) != size
            or len(indptr) != size + 1
            or (size and (indptr[0] != 0 or bool(np.any(np.diff(indptr) < 0))))
            or int(indptr[-1]) != len(index._doc_ids)
            or len(index._doc_ids) != len(index._weights)
            or (len(index._doc_ids) and int(index._doc_ids.min()) < 0)
        ):
            raise ValueError("index arrays do not fit together")
        return index

    def max_document(self) -> int:
        """The highest document number with a posting (-1 if none)."""
        return int(self._doc_ids.max()) if len(self._doc_ids) else -1


@dataclass(frozen=True, slots=True)
class AlignSide:
    """Tokens of a text for stage 2: form ids (-1: unknown to the KB) and IDF weights."""

    ids: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class AlignPack:
    """Many `AlignSide`s in three flat arrays: side i is rows bounds[i]:bounds[i+1]."""

    ids: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float64]
    bounds: npt.NDArray[np.int64]

    def sides(self) -> list[AlignSide]:
        """Each side, as views into the flat arrays."""
        b = self.bounds.tolist()
        return [
            AlignSide(self.ids[start:end], self.weights[start:end])
            for start, end in itertools.pairwise(b)
        ]


class ContrastIndex:
    """What sets each entry's phrasings apart from the other entries': a multinomial
    naive Bayes model over the same features as a `TfIdfIndex`, fitted on the KB's own
    phrasings. An entry's log-likelihood of a query is the sum over the query's
    features of log((n + alpha) / (N + alpha V)) (n: the feature's count in the
    entry's phrasings, N: all its features' counts, V: the vocabulary), so a word that
    every phrasing of one entry has and no phrasing of another weighs for that pair
    far more than its IDF over the whole KB says, and a word common to both weighs
    little. Stored as postings (feature -> entries with log(1 + n / alpha)) and one
    log-normaliser per entry: only the query's own features are walked."""

    __slots__ = ("_bias", "_doc_ids", "_indptr", "_weights")

    _indptr: IdArray
    _doc_ids: npt.NDArray[np.int32]
    _weights: FloatArray
    _bias: npt.NDArray[np.float64]

    def __init__(self, merged: FeatureCounts, vocabulary: Mapping[str, int], alpha: float) -> None:
        """The model of each group (entry) in `merged` (see `merge_documents`), over the
        features of `vocabulary` (ids as there; other features are left out)."""
        size = len(vocabulary)
        ids = np.array([vocabulary.get(name, -1) for name in merged.names], dtype=np.int64)
        fids = ids[merged.features] if len(ids) else merged.features.astype(np.int64)
        known = fids >= 0
        docs, fids, counts = merged.docs[known], fids[known], merged.counts[known]
        totals = np.bincount(docs, weights=counts, minlength=merged.size)
        self._bias = math.log(alpha) - np.log(totals + alpha * max(size, 1))
        order = np.argsort(fids, kind="stable")
        lengths = np.bincount(fids, minlength=size)
        self._indptr = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        self._doc_ids = docs[order].astype(np.int32)
        self._weights = np.log1p(counts[order] / alpha).astype(np.float32)

    def log_likelihoods(self, query: IndexQuery, max_postings: int | None = None) -> FloatArray:
        """Each entry's log-likelihood of the query's distinct known features, up to a
        term the same for every entry. Features with more postings than `max_postings`
        are left out (as in `TfIdfIndex.scores`: the commonest, least telling ones)."""
        ids = query.feature_ids
        starts = self._indptr[ids]
        lengths = self._indptr[ids + 1] - starts
        if max_postings is not None:
            kept = lengths <= max_postings
            if not kept.all():
                starts, lengths = starts[kept], lengths[kept]
        out = _gather(self._doc_ids, self._weights, starts, lengths, None, len(self._bias))
        return (out + len(starts) * self._bias).astype(np.float32)

    def arrays(self) -> dict[str, npt.NDArray[np.generic]]:
        """The model as plain arrays (all `restore` needs)."""
        return {
            "indptr": self._indptr,
            "doc_ids": self._doc_ids,
            "weights": self._weights,
            "bias": self._bias,
        }

    @classmethod
    def restore(
        cls, arrays: Mapping[str, npt.NDArray[np.generic]], features: int, entries: int
    ) -> ContrastIndex:
        """The model from `arrays()`, over `features` features and `entries` entries.

        Raises:
            ValueError: the arrays do not describe such a model.
        """
        index = cls.__new__(cls)
        index._indptr = np.asarray(arrays["indptr"], dtype=np.int64)
        index._doc_ids = np.asarray(arrays["doc_ids"], dtype=np.int32)
        index._weights = np.asarray(arrays["weights"], dtype=np.float32)
        index._bias = np.asarray(arrays["bias"], dtype=np.float64)
        indptr = index._indptr
        if (
            len(indptr) != features + 1
            or len(index._bias) != entries
            or (features and (indptr[0] != 0 or bool(np.any(np.diff(indptr) < 0))))
            or int(indptr[-1]) != len(index._doc_ids)
            or len(index._doc_ids) != len(index._weights)
            or (
                len(index._doc_ids)
                and (int(index._doc_ids.min()) < 0 or int(index._doc_ids.max()) >= entries)
            )
        ):
            raise ValueError("contrast arrays do not fit together")
        return index


class JointScores(NamedTuple):
    """A query's stage-1 figures in one feature space, from a `JointIndex` walk."""

    phrasings: FloatArray  # cosine with each phrasing (`TfIdfIndex.scores`)
    centroids: FloatArray  # cosine with each entry's centroid
    contrast: FloatArray  # each entry's log-likelihood (`ContrastIndex.log_likelihoods`)


# A part's postings: offsets per feature, documents, weights
_Postings = tuple[IdArray, npt.NDArray[np.int32], npt.NDArray[np.float64] | FloatArray]


class JointSpace(NamedTuple):
    """One feature space for `JointIndex`: a phrasing index, its centroid index and its
    contrast model, over one vocabulary."""

    phrasings: TfIdfIndex
    phrasing_count: int  # the phrasing index's documents
    centroids: TfIdfIndex  # one document per entry
    contrast: ContrastIndex  # the same entries


class JointIndex:
    """Feature spaces (the matcher's words and characters), each a phrasing index, its
    centroid index and its contrast model, walked in one gather: on a small KB the
    fixed cost of a walk (a dozen array calls) is most of it, and the six walks of a
    question were six.

    Each part keeps its own documents (numbered after the previous parts') and its own
    postings, so every document's sum runs over the same postings in the same order as
    the part's own `scores` or `log_likelihoods`: the figures are bit-identical to
    theirs. It copies the parts' postings into one array each."""

    __slots__ = ("_bias", "_doc_ids", "_lengths", "_longest", "_sizes", "_starts", "_weights")

    _starts: list[IdArray]  # per space (3, V): each part's postings of a feature start ...
    _lengths: list[IdArray]  # ... and are this many, in the joint arrays
    _longest: list[int]  # per space, its longest posting list
    _sizes: list[tuple[int, int]]  # per space (phrasings, entries)
    _bias: list[npt.NDArray[np.float64]]  # per space, the contrast's per-entry term
    _doc_ids: npt.NDArray[np.int32]
    _weights: npt.NDArray[np.float64]

    def __init__(self, spaces: Sequence[JointSpace]) -> None:
        """Join `spaces`; in each, the three parts must share one vocabulary.

        Raises:
            ValueError: a space's parts differ in vocabulary.
        """
        self._starts, self._lengths, self._longest, self._sizes, self._bias = [], [], [], [], []
        spaces_parts: list[tuple[_Postings, ...]] = []
        for space in spaces:
            parts: tuple[_Postings, ...] = (
                (space.phrasings._indptr, space.phrasings._doc_ids, space.phrasings._weights),
                (space.centroids._indptr, space.centroids._doc_ids, space.centroids._weights),
                (space.contrast._indptr, space.contrast._doc_ids, space.contrast._weights),
            )
            if len({len(indptr) for indptr, _, _ in parts}) != 1:
                raise ValueError("a joined space's indexes differ in vocabulary")
            spaces_parts.append(parts)
        total = sum(len(ids) for parts in spaces_parts for _, ids, _ in parts)
        # filled in place: a large KB's postings are millions of rows, and a temporary
        # copy of each would be most of the process's peak memory
        self._doc_ids = np.empty(total, dtype=np.int32)
        self._weights = np.empty(total, dtype=np.float64)
        postings = documents = 0
        for space, parts in zip(spaces, spaces_parts, strict=True):
            entries = len(space.contrast._bias)
            starts, lengths = [], []
            for (indptr, ids, part_weights), size in zip(
                parts, (space.phrasing_count, entries, entries), strict=True
            ):
                starts.append(indptr[:-1] + postings)
                lengths.append(np.diff(indptr))
                end = postings + len(ids)
                self._doc_ids[postings:end] = ids
                self._doc_ids[postings:end] += documents
                # float32 contrast weights widen exactly, as `_gather` widens them
                self._weights[postings:end] = part_weights
                postings = end
                documents += size
            self._starts.append(np.stack(starts))
            self._lengths.append(np.stack(lengths))
            self._longest.append(int(self._lengths[-1].max(initial=0)))
            self._sizes.append((space.phrasing_count, entries))
            self._bias.append(space.contrast._bias)

    def scores(
        self, queries: Sequence[IndexQuery], max_postings: int | None = None
    ) -> list[JointScores]:
        """Each space's query's phrasing and centroid cosines and contrast
        log-likelihoods, as `TfIdfIndex.scores` and `ContrastIndex.log_likelihoods`
        give them with the same `max_postings` (one query per space, in order)."""
        return self.scores_of_texts([queries], max_postings)[0]

    def scores_of_texts(
        self, texts: Sequence[Sequence[IndexQuery]], max_postings: int | None = None
    ) -> list[list[JointScores]]:
        """`scores` of several texts' queries (a message and its asking clause) in one
        walk: each text's documents are numbered after the previous text's, so each
        document's sum runs over the same postings in the same order as alone."""
        starts: list[IdArray] = []
        lengths: list[IdArray] = []
        weights: list[npt.NDArray[np.float64]] = []
        contrast_features: list[list[int]] = []
        blocks: list[tuple[int, int]] = []  # each text's postings and documents
        for queries in texts:
            counts: list[int] = []
            first = len(lengths)
            for space, query in enumerate(queries):
                ids = query.feature_ids
                space_starts = self._starts[space][:, ids]
                space_lengths = self._lengths[space][:, ids]
                space_weights = np.empty((3, ids.size), dtype=np.float64)
                space_weights[:2] = query.weights
                space_weights[2] = 1.0  # the contrast's postings are summed unweighted
                kept_in_contrast = ids.size
                if max_postings is not None and self._longest[space] > max_postings:
                    kept = space_lengths <= max_postings
                    kept_in_contrast = int(np.count_nonzero(kept[2]))
                    space_starts = space_starts[kept]
                    space_lengths = space_lengths[kept]
                    space_weights = space_weights[kept]
                starts.append(space_starts.ravel())
                lengths.append(space_lengths.ravel())
                weights.append(space_weights.ravel())
                counts.append(kept_in_contrast)
            contrast_features.append(counts)
            documents = sum(n + 2 * m for n, m in self._sizes[: len(queries)])
            # (counted only where several texts share the walk)
            postings = sum(int(n.sum()) for n in lengths[first:]) if len(texts) > 1 else 0
            blocks.append((postings, documents))
        out = _gather(
            self._doc_ids,
            self._weights,
            np.concatenate(starts),
            np.concatenate(lengths),
            np.concatenate(weights),
            sum(documents for _, documents in blocks),
            blocks if len(blocks) > 1 else None,
        )
        results = []
        at = 0
        for queries, counts in zip(texts, contrast_features, strict=True):
            text_results = []
            for (n, m), bias, query, count in zip(
                self._sizes, self._bias, queries, counts, strict=False
            ):
                if query.feature_ids.size == 0 or query.norm == 0.0:
                    phrasings = np.zeros(n, dtype=np.float32)
                    centroids = np.zeros(m, dtype=np.float32)
                else:
                    phrasings = (out[at : at + n] / query.norm).astype(np.float32)
                    centroids = (out[at + n : at + n + m] / query.norm).astype(np.float32)
                contrast = (out[at + n + m : at + n + 2 * m] + count * bias).astype(np.float32)
                text_results.append(JointScores(phrasings, centroids, contrast))
                at += n + 2 * m
            results.append(text_results)
        return results
