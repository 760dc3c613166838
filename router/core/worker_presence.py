"""Which outbox workers are alive, so a crashed worker's half-done sends resume at once.

Each worker (one per process life) has a random id and holds a lock that the operating
system or the database drops when the process dies: on PostgreSQL a session-level
advisory lock on a connection of its own, on SQLite an exclusive `flock` on a file next
to the database. A worker that finds a lease whose holder no longer holds its lock knows
that send was cut short and may take the row over without waiting for the lease to run
out. Held locks can only be checked, never broken, so a slow but living worker keeps its
rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

logger = logging.getLogger(__name__)

# The first key of PostgreSQL's two-key advisory locks: "these are outbox workers".
# (Two-key locks never collide with the one-key locks other parts take.)
_PG_LOCK_CLASS = 0x50534B4F  # "PSKO"


def new_worker_id() -> int:
    """A random non-zero id that fits PostgreSQL's `int4` lock key."""
    return secrets.randbelow(2**31 - 1) + 1


class WorkerPresence(Protocol):
    """This worker's lock, and a way to tell whether other workers still hold theirs."""

    worker_id: int

    async def hold(self) -> None:
        """Take this worker's lock; rows are claimed only while it is held."""
        ...

    async def release(self) -> None:
        """Drop this worker's lock (a no-op when not held)."""
        ...

    async def gone(self, session: AsyncSession, worker_ids: Iterable[int]) -> set[int]:
        """Those of `worker_ids` whose process is certainly not running any more."""
        ...


class PostgresPresence:
    """A session-level advisory lock held on a dedicated connection for the worker's life."""

    def __init__(self, engine: AsyncEngine, worker_id: int | None = None) -> None:
        self.worker_id = worker_id or new_worker_id()
        self._engine = engine
        self._connection: AsyncConnection | None = None

    async def hold(self) -> None:
        if self._connection is not None:
            return
        connection = await self._engine.connect()
        await connection.execute(
            text("SELECT pg_advisory_lock(:class, :worker)"),
            {"class": _PG_LOCK_CLASS, "worker": self.worker_id},
        )
        await connection.commit()  # the lock is the session's: it outlives the transaction
        self._connection = connection

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.execute(
                text("SELECT pg_advisory_unlock(:class, :worker)"),
                {"class": _PG_LOCK_CLASS, "worker": self.worker_id},
            )
            await connection.commit()
            await connection.close()
        except Exception:
            # Dropping the connection drops the lock with it.
            logger.warning(
                "outbox worker %d: could not unlock; dropping the connection", self.worker_id
            )
            await connection.invalidate()

    async def gone(self, session: AsyncSession, worker_ids: Iterable[int]) -> set[int]:
        # A lock we can take is one nobody holds; taken for this transaction only.
        dead = set()
        for worker_id in worker_ids:
            free = await session.scalar(
                text("SELECT pg_try_advisory_xact_lock(:class, :worker)"),
                {"class": _PG_LOCK_CLASS, "worker": worker_id},
            )
            if free:
                dead.add(worker_id)
        return dead


class FilePresence:
    """An exclusive `flock` on `<folder>/<worker id>.lock`, for workers on one machine
    (SQLite's case: every process sharing the database file shares its folder)."""

    def __init__(self, folder: Path, worker_id: int | None = None) -> None:
        self.worker_id = worker_id or new_worker_id()
        self._folder = folder
        self._fd: int | None = None

    def _path(self, worker_id: int) -> Path:
        return self._folder / f"{worker_id}.lock"

    async def hold(self) -> None:
        if self._fd is None:
            self._fd = await asyncio.to_thread(self._lock)

    def _lock(self) -> int:
        self._folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path(self.worker_id), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    async def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            await asyncio.to_thread(self._unlock, fd)

    def _unlock(self, fd: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(self.worker_id).unlink()
        os.close(fd)

    async def gone(self, session: AsyncSession, worker_ids: Iterable[int]) -> set[int]:
        ids = list(worker_ids)
        return await asyncio.to_thread(lambda: {w for w in ids if self._unheld(w)})

    def _unheld(self, worker_id: int) -> bool:
        path = self._path(worker_id)
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return True  # a holder creates its file before it claims anything
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # the dead worker's file: nobody will hold it again
            return True
        finally:
            os.close(fd)


def presence_for(engine: AsyncEngine, data_dir: Path) -> WorkerPresence:
    """Advisory locks on PostgreSQL; lock files beside the database file on SQLite."""
    if engine.dialect.name != "sqlite":
        return PostgresPresence(engine)
    database = engine.url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        path = Path(database).resolve()
        return FilePresence(path.with_name(path.name + ".outbox-workers"))
    return FilePresence(data_dir / "outbox-workers")
