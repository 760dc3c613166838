"""Every process serves the knowledge base the database holds, and reloads it when
it changes.

The bot loads its KB from a file and reloads it when the file changes
(`faq.reload.KbWatcher`: the index is built in a separate process, the event loop
never waits for it). So each process keeps its own copy of the database's KB as a file
in the data directory and rewrites it whenever `KnowledgeBaseChanged` arrives on the
event bus (from this process, or over LISTEN/NOTIFY from another sharing the
PostgreSQL), or when the revision it reads every few seconds has moved (a change by
`pasokh faq import`); the watcher then picks the file up like any edited KB file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
from pathlib import Path

from faq.kb import KbError
from router.context import AppContext
from router.core.events import Event, EventsResumed, KnowledgeBaseChanged
from router.core.tasks import BackgroundTasks
from router.service.knowledge_base import (
    KbInvalid,
    configured_kb_path,
    ensure_seeded,
    export_document,
    export_text,
    read_seed,
    revision,
)
from router.storage.engine import is_database_unavailable

logger = logging.getLogger(__name__)

LIVE_FOLDER = "faq-live"
# Without an event (a change made by `pasokh faq import`, or a NOTIFY lost while the
# bus reconnected) the revision is read this often: one small read.
CHECK_SECONDS = 5.0


def _write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so a reader sees the old file or the new one, never half."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


class LiveKbFile:
    """This process's copy of the database's KB, kept current (see the module docstring)."""

    def __init__(self, data_dir: Path, *, check_seconds: float = CHECK_SECONDS) -> None:
        # One folder per app: several processes may share the data directory.
        self.folder = data_dir / LIVE_FOLDER / secrets.token_hex(6)
        self.path = self.folder / "kb.json"
        self.revision: int | None = None  # the revision the file holds
        self._app: AppContext | None = None
        self._check_seconds = check_seconds
        self._lock = asyncio.Lock()
        self._tasks = BackgroundTasks(logger)

    async def start(self, app: AppContext) -> None:
        """Seed the database from the configured file if it holds no KB, write the
        file, and follow the KB's changes.

        Raises:
            RuntimeError: already started.
            KbError: the database holds no KB and the configured file is invalid.
        """
        if self._app is not None:
            raise RuntimeError("the live KB file is already kept")
        self._app = app
        events = app.events.subscribe()  # before the first write: no change slips between
        try:
            await self._sync()
        except Exception as exc:
            if not is_database_unavailable(exc):
                app.events.unsubscribe(events)
                raise
            # The server starts without its database (health says so): the bot answers
            # from the configured file until the database's KB can be read.
            logger.warning("KB not read: database unavailable (%s); serving the file", exc)
            await self._write_seed(app)
        self._tasks.spawn(self._follow(app, events), "faq:live-kb")

    async def stop(self) -> None:
        """Stop following changes and remove the file. Stopping twice does nothing."""
        await self._tasks.cancel()
        await asyncio.to_thread(shutil.rmtree, self.folder, True)

    async def _sync(self) -> bool:
        app = self._app
        assert app is not None
        if self.revision is None:
            await ensure_seeded(app)
        return await self.refresh()

    async def _write_seed(self, app: AppContext) -> None:
        """Write the configured KB file as the copy (checked by the same rules).

        Raises:
            KbError: the configured file is invalid.
        """
        path = configured_kb_path(app)
        try:
            entries, language = await asyncio.to_thread(read_seed, path)
        except (KbInvalid, OSError) as exc:
            raise KbError(f"{path}: {exc}") from None
        document = {"language": language, "entries": entries} if language else {"entries": entries}
        await asyncio.to_thread(_write_atomically, self.path, export_text(document))

    async def refresh(self) -> bool:
        """Rewrite the file if the database's KB is newer; True if it did."""
        app = self._app
        if app is None:
            raise RuntimeError("the live KB file is not started")
        async with self._lock:
            async with app.read_sessions() as session:
                current = await revision(session)
                if current is None or current == self.revision:
                    return False
                document = await export_document(session)
            await asyncio.to_thread(_write_atomically, self.path, export_text(document))
            self.revision = current
        logger.info("knowledge base revision %d written for this process's bot", current)
        return True

    async def _follow(self, app: AppContext, events: asyncio.Queue[Event]) -> None:
        try:
            while True:
                try:
                    async with asyncio.timeout(self._check_seconds):
                        event: Event | None = await events.get()
                except TimeoutError:
                    event = None
                if event is not None and not isinstance(
                    event, KnowledgeBaseChanged | EventsResumed
                ):
                    continue
                if isinstance(event, KnowledgeBaseChanged) and event.revision == self.revision:
                    continue
                try:
                    await self._sync()
                except Exception as exc:  # the next change or check tries again
                    if not is_database_unavailable(exc):
                        logger.exception("could not refresh this process's copy of the KB")
                    else:
                        logger.warning("KB revision not checked: database unavailable: %s", exc)
        finally:
            app.events.unsubscribe(events)
