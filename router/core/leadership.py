"""Named locks that elect one process among those sharing the database.

Channels ask `ChannelServices.leadership.lock(name)` (the Telegram poller: Telegram
answers 409 Conflict when two processes call getUpdates). On the embedded SQLite there
is one process and it always leads. On PostgreSQL the holder of a session-level
advisory lock leads; the lock lives on a connection of the router's engine kept for
it alone, so it goes away with the process (or the connection) and another process
takes over.
"""

from __future__ import annotations

import hashlib
import logging
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

logger = logging.getLogger(__name__)

_CHECK_EVERY = 10.0  # seconds between liveness checks of the lock's connection


def lock_key(name: str) -> int:
    """The advisory lock number for `name`: the same in every process and version."""
    digest = hashlib.sha256(f"pasokh:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class AlwaysLeader:
    """One process, nothing to coordinate."""

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class AdvisoryLock:
    """`pg_try_advisory_lock` on a connection held for it, re-checked now and then."""

    def __init__(self, engine: AsyncEngine, name: str) -> None:
        self._engine = engine
        self._name = name
        self._key = lock_key(name)
        self._connection: AsyncConnection | None = None
        self._checked_at = 0.0

    async def acquire(self) -> bool:
        """True while this process holds (or has just taken) the lock."""
        if self._connection is not None:
            if time.monotonic() - self._checked_at < _CHECK_EVERY:
                return True
            try:
                await self._connection.execute(text("SELECT 1"))
            except Exception:  # the connection (and with it the lock) is gone
                logger.warning("lost the database connection holding the %s lock", self._name)
                await self.release()
                return False
            self._checked_at = time.monotonic()
            return True
        return await self._try_lock()

    async def _try_lock(self) -> bool:
        connection: AsyncConnection | None = None
        try:
            connection = await self._engine.connect()
            # Autocommit: the session lock must not keep a transaction open for hours.
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            query = text("SELECT pg_try_advisory_lock(:key)")
            got = bool(await connection.scalar(query, {"key": self._key}))
        except Exception as exc:
            logger.warning("cannot reach PostgreSQL for the %s lock: %s", self._name, exc)
            got = False
        if not got:
            if connection is not None:
                await _discard(connection)
            return False
        logger.info("this process holds the %s lock", self._name)
        self._connection = connection
        self._checked_at = time.monotonic()
        return True

    async def release(self) -> None:
        """Give the lock up (a no-op when not held)."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            await connection.scalar(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            await connection.close()
        except Exception:
            await _discard(connection)


async def _discard(connection: AsyncConnection) -> None:
    """Close a connection without returning it to the pool: a session-level lock on
    it must not outlive it in a pooled connection."""
    try:
        await connection.invalidate()
        await connection.close()
    except Exception:
        logger.debug("closing a lock connection failed", exc_info=True)


class DatabaseLeadership:
    """`channels.base.Leadership` for the router's database."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def lock(self, name: str) -> AdvisoryLock | AlwaysLeader:
        """The lock called `name`: an advisory lock on PostgreSQL, always held on SQLite."""
        if self._engine.dialect.name != "postgresql":
            return AlwaysLeader()
        return AdvisoryLock(self._engine, name)
