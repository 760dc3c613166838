"""Keep a KB (and its matcher) current: poll the files' mtimes and reload on change.

Polling once a second needs no extra dependency and works on every filesystem. A file
that fails to load leaves the previous KB in place; the reason is logged once per change.

Indexing a large KB is seconds of CPU-bound Python, which in a thread would still
compete with the event loop for the GIL. With a cache folder, a changed KB is indexed
in a separate process that writes the index cache (`faq.index_cache`); this process
then only reads the cache, in a worker thread. The first load, and every load without a
cache folder, runs in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from faq.coverage import prepare as prepare_coverage
from faq.kb import FaqEntry, KbError, KnowledgeBase, kb_files, load_kb
from faq.lexicon import Lexicon, LexiconError
from faq.matcher import Matcher, MatcherConfig
from faq.rerank import Embedder, EmbeddingReranker

logger = logging.getLogger(__name__)

Snapshot = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True, slots=True)
class LoadedKb:
    """A KB with its matcher, swapped as one value so a reader never sees a mix."""

    kb: KnowledgeBase
    matcher: Matcher
    snapshot: Snapshot
    reranker: EmbeddingReranker | None = None
    entries: Mapping[str, FaqEntry] = field(default_factory=dict)  # by id


def snapshot(path: Path) -> Snapshot:
    """(name, mtime_ns, size) of each KB file under `path`; empty if it is missing."""
    try:
        files = kb_files(path) if path.exists() else []
        return tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    except OSError:
        return ()


def load(
    path: Path,
    default_language: str,
    config: MatcherConfig | None = None,
    embedder: Embedder | None = None,
    lexicon_path: Path | None = None,
    cache_dir: Path | None = None,
) -> LoadedKb:
    """Load and index the KB at `path` (blocking: run it in a thread), with the KB
    owner's lexicon file `lexicon_path` added to the shipped lexicon if given.

    Raises:
        KbError: the KB or the lexicon file cannot be loaded.
    """
    before = snapshot(path)
    kb = load_kb(path, default_language)
    lexicon = _owner_lexicon(lexicon_path)
    reranker = (
        EmbeddingReranker(kb, embedder, cache_dir=cache_dir, lexicon=lexicon)
        if embedder is not None
        else None
    )
    matcher = Matcher(kb, config, lexicon, cache_dir=cache_dir)
    prepare_coverage(matcher)  # analysed here, in the loading thread, not on the event loop
    return LoadedKb(kb, matcher, before, reranker, kb.by_id())


def _owner_lexicon(lexicon_path: Path | None) -> Lexicon | None:
    """The shipped lexicon with the KB owner's file added, or None for the shipped one.

    Raises:
        KbError: the lexicon file cannot be loaded.
    """
    try:
        return Lexicon.load(lexicon_path) if lexicon_path is not None else None
    except LexiconError as exc:
        raise KbError(str(exc)) from None


def build_index_cache(
    path: Path,
    default_language: str,
    config: MatcherConfig | None,
    cache_dir: Path,
    lexicon_path: Path | None = None,
) -> str:
    """Load the KB at `path` and write its index cache (run in a separate process).

    Returns:
        Where the indexes came from: "built", or "cache" if they were already cached.

    Raises:
        KbError: the KB or the lexicon file cannot be loaded.
    """
    kb = load_kb(path, default_language)
    return Matcher(kb, config, _owner_lexicon(lexicon_path), cache_dir=cache_dir).index_source


async def _index_in_a_process(
    path: Path,
    default_language: str,
    config: MatcherConfig | None,
    cache_dir: Path,
    lexicon_path: Path | None,
) -> None:
    """Index the KB at `path` into `cache_dir` in a fresh process (spawned, not forked:
    this process has threads), so the event loop never waits for the GIL meanwhile."""
    loop = asyncio.get_running_loop()
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        await loop.run_in_executor(
            pool, build_index_cache, path, default_language, config, cache_dir, lexicon_path
        )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)  # joining would block the loop


class KbWatcher:
    """Holds the current `LoadedKb` for a path and reloads it when its files change."""

    def __init__(
        self,
        path: Path,
        *,
        default_language: str = "fa",
        config: MatcherConfig | None = None,
        poll_seconds: float = 1.0,
        watch: bool = True,
        embedder: Embedder | None = None,
        lexicon_path: Path | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.path = path
        self._lexicon_path = lexicon_path
        self._cache_dir = cache_dir
        self._embedder = embedder
        self._default_language = default_language
        self._config = config
        self._poll_seconds = poll_seconds
        self._watch = watch
        self._current: LoadedKb | None = None
        self._task: asyncio.Task[None] | None = None
        self._load_lock = asyncio.Lock()
        self._failed_snapshot: Snapshot | None = None
        self.reloads = 0  # successful reloads after the first load (for tests and logs)
        self.reloaded = asyncio.Event()  # set after each successful reload; clear to wait again

    @property
    def embedder(self) -> Embedder | None:
        """The semantic extra's model, when it is on (shared with the gap report)."""
        return self._embedder

    @property
    def current(self) -> LoadedKb | None:
        """The KB in use, or None before the first load."""
        return self._current

    async def ensure_loaded(self) -> LoadedKb:
        """The current KB, loading it first if needed.

        Raises:
            KbError: the first load failed.
        """
        if self._current is not None:
            return self._current
        async with self._load_lock:
            if self._current is None:
                self._current = await self._load()
                logger.info(
                    "FAQ loaded from %s: %d entries, %d phrasings",
                    self.path,
                    len(self._current.kb.entries),
                    self._current.matcher.phrasing_count,
                )
            return self._current

    async def _load(self, *, reload: bool = False) -> LoadedKb:
        """Load the KB off the event loop. A reload with a cache folder indexes in a
        separate process (the first load, before the bot serves, and a restart that
        finds its cache need none).

        Raises:
            KbError: the KB cannot be loaded.
        """
        if reload and self._cache_dir is not None:
            try:
                await _index_in_a_process(
                    self.path,
                    self._default_language,
                    self._config,
                    self._cache_dir,
                    self._lexicon_path,
                )
            except KbError:
                raise
            except Exception:  # e.g. no process could be started: index in a thread
                logger.exception("FAQ indexing process failed; indexing in a thread")
        return await asyncio.to_thread(
            load,
            self.path,
            self._default_language,
            self._config,
            self._embedder,
            self._lexicon_path,
            self._cache_dir,
        )

    async def start(self) -> None:
        """Load the KB and start polling for changes.

        Raises:
            RuntimeError: already started.
            KbError: the KB cannot be loaded at all.
        """
        if self._task is not None:
            raise RuntimeError("KB watcher already started")
        await self.ensure_loaded()
        if self._watch:
            self._task = asyncio.create_task(self._poll(), name=f"faq:watch:{self.path}")

    async def stop(self) -> None:
        """Stop polling; the current KB stays usable. Stopping twice does nothing."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def check_now(self) -> bool:
        """Reload if the files changed since the last load; True if a new KB is in use."""
        current = await self.ensure_loaded()
        now = await asyncio.to_thread(snapshot, self.path)
        if now == current.snapshot or now == self._failed_snapshot:
            return False
        try:
            fresh = await self._load(reload=True)
        except KbError as exc:
            self._failed_snapshot = now
            logger.error("FAQ reload failed, keeping the previous KB: %s", exc)
            return False
        self._current = fresh
        self._failed_snapshot = None
        self.reloads += 1
        self.reloaded.set()
        logger.info("FAQ reloaded from %s: %d entries", self.path, len(fresh.kb.entries))
        return True

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._poll_seconds)
            try:
                await self.check_now()
            except Exception:  # the watcher must outlive any one bad reload
                logger.exception("FAQ watcher failed to check %s", self.path)
