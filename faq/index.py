"""A sparse TF-IDF index over short texts, as a numpy inverted index.

Each document (one KB phrasing) is a bag of string features with counts. Weights are
sublinear TF times smoothed IDF, L2-normalised per document, so a query's score
against every document is a cosine computed by walking only the postings of the
query's own features: the work grows with how common those features are, not with
the size of the KB.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]


class TfIdfIndex:
    """Cosine similarity between a query's features and every indexed document."""

    __slots__ = (
        "_damped",
        "_damping",
        "_doc_ids",
        "_idf",
        "_indptr",
        "_n",
        "_vocab",
        "_weights",
        "size",
    )

    def __init__(
        self,
        documents: Sequence[Counter[str]],
        damped: frozenset[str] = frozenset(),
        damping: float = 1.0,
        groups: Sequence[int] | None = None,
    ) -> None:
        """Index `documents` (feature -> count), numbered in the given order.

        Features in `damped` (e.g. function words) get their IDF multiplied by `damping`.
        With `groups` (the group of each document, e.g. its FAQ entry), document
        frequency counts groups rather than documents: a word in all ten phrasings of
        one entry is then as distinctive as a word in one phrasing of it.
        """
        self.size = len(documents)
        df: Counter[str] = Counter()
        if groups is None:
            for doc in documents:
                df.update(doc.keys())
            n = self.size
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
            dtype=np.float32,
        )
        self._damped = damped
        self._damping = damping
        postings: list[list[tuple[int, float]]] = [[] for _ in self._vocab]
        for doc_id, doc in enumerate(documents):
            weighted = self._weigh(doc)
            for fid, w in weighted:
                postings[fid].append((doc_id, w))
        lengths = np.array([len(p) for p in postings], dtype=np.int64)
        self._indptr = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
        flat = [pair for p in postings for pair in p]
        self._doc_ids = np.array([d for d, _ in flat], dtype=np.int32)
        self._weights = np.array([w for _, w in flat], dtype=np.float32)

    def _weigh(self, features: Counter[str]) -> list[tuple[int, float]]:
        pairs = [
            (self._vocab[f], (1.0 + math.log(c)) * float(self._idf[self._vocab[f]]))
            for f, c in features.items()
            if f in self._vocab
        ]
        norm = math.sqrt(sum(w * w for _, w in pairs)) or 1.0
        return [(fid, w / norm) for fid, w in pairs]

    def query_weight_mass(self, features: Counter[str]) -> float:
        """Share of the query's (unnormalised) TF-IDF mass on features the index knows.

        Unknown features get the largest IDF, as if seen in no document.
        """
        known = total = 0.0
        for f, c in features.items():
            fid = self._vocab.get(f)
            w = (1.0 + math.log(c)) * self.idf(f)
            total += w * w
            if fid is not None:
                known += w * w
        return math.sqrt(known / total) if total else 0.0

    def idf(self, feature: str) -> float:
        """The feature's (damped) IDF; an unknown feature counts as seen in no document."""
        fid = self._vocab.get(feature)
        if fid is not None:
            return float(self._idf[fid])
        return (math.log(self._n + 1) + 1.0) * (self._damping if feature in self._damped else 1.0)

    def scores(self, features: Counter[str]) -> FloatArray:
        """Cosine similarity of `features` with every document (query norm counts unknown
        features too, so unmatched words lower the score)."""
        parts_ids: list[npt.NDArray[np.int32]] = []
        parts_w: list[FloatArray] = []
        total = 0.0
        for f, c in features.items():
            tf = 1.0 + math.log(c)
            fid = self._vocab.get(f)
            if fid is None:
                total += (tf * self.idf(f)) ** 2
                continue
            w = tf * float(self._idf[fid])
            total += w * w
            start, end = self._indptr[fid], self._indptr[fid + 1]
            parts_ids.append(self._doc_ids[start:end])
            parts_w.append(self._weights[start:end] * np.float32(w))
        if not parts_ids or total == 0.0:
            return np.zeros(self.size, dtype=np.float32)
        ids = np.concatenate(parts_ids)
        weights = np.concatenate(parts_w)
        out = np.bincount(ids, weights=weights, minlength=self.size).astype(np.float32)
        out /= np.float32(math.sqrt(total))
        return out

    def known(self, feature: str) -> bool:
        """Whether any document has `feature`."""
        return feature in self._vocab

    def features(self) -> Iterable[str]:
        """Every indexed feature."""
        return self._vocab.keys()
