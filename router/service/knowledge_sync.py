"""Every process serves the knowledge base the database holds, and reloads it when
it changes.

The bot loads its KB from a file and reloads it when the file changes
(`faq.reload.KbWatcher`: the index is built in a separate process, the event loop
never waits for it). So each process keeps its own copy of the database's KB as a file
in the data directory and rewrites it whenever `KnowledgeBaseChanged` arrives on the
event bus (from this process, or over LISTEN/NOTIFY from another sharing the
PostgreSQL), or when the revision it reads every few seconds has moved (a change by
`pasokh faq import`); the watcher then picks the file up like any edited KB file.

A clean stop removes the folder; a process killed outright cannot. Its owner holds an
exclusive `flock` on the folder's lock file for as long as it lives (the kernel drops
it however the process dies, and a pid can be reused where a lock cannot be faked), so
a starting process removes exactly the folders whose lock it can take.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import secrets
import shutil
import time
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
OWNER_LOCK = "owner.lock"
# A folder without a lock file is being created, or was left by a version that made
# none: removed only once untouched this long.
UNCLAIMED_GRACE_SECONDS = 3600.0


def _write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` so a reader sees the old file or the new one, never half."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _hold_owner_lock(folder: Path) -> int:
    """Create `folder` with its lock file already locked; the open descriptor holds it.

    The lock file is locked under a temporary name and then renamed, so a sweep never
    finds the lock file of a live process unlocked.
    """
    folder.mkdir(mode=0o700, parents=True)
    partial = folder / f"{OWNER_LOCK}.partial"
    fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.replace(partial, folder / OWNER_LOCK)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _remove_if_abandoned(folder: Path, now: float) -> bool:
    """Remove `folder` if no live process owns it; True if it was removed."""
    try:
        fd = os.open(folder / OWNER_LOCK, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        try:
            untouched = now - folder.stat().st_mtime
        except FileNotFoundError:
            return False  # another sweep removed it
        if untouched <= UNCLAIMED_GRACE_SECONDS:
            return False
        shutil.rmtree(folder, ignore_errors=True)
        return True
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # its owner is alive
        shutil.rmtree(folder, ignore_errors=True)
        return True
    finally:
        os.close(fd)


def remove_abandoned_folders(root: Path) -> list[Path]:
    """Remove the folders under `root` that no live process owns; the ones removed."""
    now = time.time()
    try:
        folders = [path for path in root.iterdir() if path.is_dir()]
    except FileNotFoundError:
        return []
    return [folder for folder in folders if _remove_if_abandoned(folder, now)]


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
        self._owner_lock: int | None = None  # the descriptor holding the folder's lock

    def claim_folder(self) -> None:
        """Remove the folders of processes that are gone, then create and lock this
        one's (blocking: file system work)."""
        for folder in remove_abandoned_folders(self.folder.parent):
            logger.info("removed %s: the process that kept it is gone", folder)
        self._owner_lock = _hold_owner_lock(self.folder)

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
        await asyncio.to_thread(self.claim_folder)
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
        if self._owner_lock is not None:
            os.close(self._owner_lock)
            self._owner_lock = None

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
