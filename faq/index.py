"""A sparse TF-IDF index over short texts, as a numpy inverted index.

Each document (one KB phrasing, or one entry's phrasings together) is a bag of string
features with counts. Weights are sublinear TF times smoothed IDF, L2-normalised per
document, so a query's score against every document is a cosine computed by walking
only the postings of the query's own features: the work grows with how common those
features are, not with the size of the KB.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
IdArray = npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class IndexQuery:
    """A query's known features (ids) with their TF-IDF weights, and its full norm."""

    feature_ids: IdArray
    weights: npt.NDArray[np.float64]
    norm: float


class TfIdfIndex:
    """Cosine similarity between a query's features and every indexed document."""

    __slots__ = ("_damped", "_damping", "_doc_ids", "_idf", "_indptr", "_n", "_vocab", "_weights")

    _vocab: dict[str, int]
    _idf: npt.NDArray[np.float64]
    _n: int
    _damped: frozenset[str]
    _damping: float

    def __init__(
        self,
        documents: Sequence[Counter[str]],
        *,
        damped: frozenset[str] = frozenset(),
        damping: float = 1.0,
        groups: Sequence[int] | None = None,
        weights_from: TfIdfIndex | None = None,
    ) -> None:
        """Index `documents` (feature -> count), numbered in the given order.

        Args:
            documents: the feature counts of each document.
            damped: features (e.g. function words) whose IDF is multiplied by `damping`.
            damping: see `damped`.
            groups: the group of each document (e.g. its FAQ entry); document frequency
                then counts groups, so a word in all ten phrasings of one entry is as
                distinctive as a word in one phrasing of it.
            weights_from: share another index's vocabulary and IDF (so one `IndexQuery`
                serves both); features it lacks are ignored.
        """
        if weights_from is not None:
            self._vocab = weights_from._vocab
            self._idf = weights_from._idf
            self._n = weights_from._n
            self._damped = weights_from._damped
            self._damping = weights_from._damping
        else:
            df: Counter[str] = Counter()
            if groups is None:
                for doc in documents:
                    df.update(doc.keys())
                n = len(documents)
            else:
                seen: set[tuple[str, int]] = set()
                for doc, group in zip(documents, groups, strict=True):
                    seen.update((f, group) for f in doc)
                df.update(f for f, _ in seen)
                n = len(set(groups))
            self._n = n
            self._vocab = {f: i for i, f in enumerate(df)}
            self._idf = np.array(
                [
                    (math.log((n + 1) / (df[f] + 1)) + 1.0) * (damping if f in damped else 1.0)
                    for f in self._vocab
                ],
                dtype=np.float64,
            )
            self._damped = damped
            self._damping = damping
        postings: list[list[tuple[int, float]]] = [[] for _ in self._vocab]
        for doc_id, doc in enumerate(documents):
            for fid, w in self._weigh(doc):
                postings[fid].append((doc_id, w))
        lengths = np.array([len(p) for p in postings], dtype=np.int64)
        self._indptr: IdArray = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        flat = [pair for p in postings for pair in p]
        self._doc_ids = np.array([d for d, _ in flat], dtype=np.int64)
        self._weights = np.array([w for _, w in flat], dtype=np.float64)

    def _weigh(self, features: Counter[str]) -> list[tuple[int, float]]:
        pairs = [
            (self._vocab[f], (1.0 + math.log(c)) * float(self._idf[self._vocab[f]]))
            for f, c in features.items()
            if f in self._vocab
        ]
        norm = math.sqrt(sum(w * w for _, w in pairs)) or 1.0
        return [(fid, w / norm) for fid, w in pairs]

    def idf(self, feature: str) -> float:
        """The feature's (damped) IDF; an unknown feature counts as seen in no document."""
        fid = self._vocab.get(feature)
        if fid is not None:
            return float(self._idf[fid])
        return (math.log(self._n + 1) + 1.0) * (self._damping if feature in self._damped else 1.0)

    def prepare(self, features: Counter[str]) -> IndexQuery:
        """Weigh a query once; unknown features count towards its norm only, so words the
        KB has never seen lower every score."""
        vocab = self._vocab
        count = len(features)
        ids = np.fromiter((vocab.get(f, -1) for f in features), dtype=np.int64, count=count)
        tf = 1.0 + np.log(np.fromiter(features.values(), dtype=np.float64, count=count))
        known = ids >= 0
        unknown_mass = sum(
            (t * self.idf(f)) ** 2 for f, t, k in zip(features, tf, known, strict=True) if not k
        )
        ids = ids[known]
        weights = tf[known] * self._idf[ids]
        return IndexQuery(ids, weights, math.sqrt(float(weights @ weights) + unknown_mass))

    def scores(self, query: IndexQuery, size: int) -> FloatArray:
        """Cosine similarity of a prepared query with documents 0..size-1."""
        if query.feature_ids.size == 0 or query.norm == 0.0:
            return np.zeros(size, dtype=np.float32)
        # Gather all postings of the query's features in one vectorised step.
        starts = self._indptr[query.feature_ids]
        lengths = self._indptr[query.feature_ids + 1] - starts
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        positions = offsets + np.arange(int(lengths.sum()))
        weights = self._weights[positions] * np.repeat(query.weights, lengths)
        out = np.bincount(self._doc_ids[positions], weights=weights, minlength=size)
        return (out / query.norm).astype(np.float32)
