"""Whether an agent has a console open in any process sharing the database.

An agent counts as at work while a console socket of theirs is open anywhere. Each
process counts its own sockets; across processes, PostgreSQL advisory locks tell: a
process with a socket of agent X open holds a *shared* lock on X, on one connection
kept for it, and "is X's console open elsewhere?" is "can I not take X's lock
exclusively?". A process that dies drops its locks with its connection, so a crashed
process never keeps an agent online. On SQLite there is one process and its own count
is the whole truth.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

logger = logging.getLogger(__name__)

# The first key of the two-key advisory locks: "an agent's console is open here".
_LOCK_CLASS = 0x50534B43  # "PSKC"


class ConsoleSocketLocks:
    """The shared locks of the agents with a console open in this process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._held: set[int] = set()
        self._lock = asyncio.Lock()  # one statement at a time on the connection

    async def sync(self, agent_id: int, open_here: Callable[[], bool]) -> None:
        """Hold the agent's shared lock exactly while `open_here()` says a socket of
        theirs is open in this process (asked under the lock, so calls never race)."""
        async with self._lock:
            wanted = open_here()
            if wanted == (agent_id in self._held):
                return
            query = "pg_advisory_lock_shared" if wanted else "pg_advisory_unlock_shared"
            connection = await self._locked_connection()
            await connection.execute(
                text(f"SELECT {query}(:c, :a)"), {"c": _LOCK_CLASS, "a": agent_id}
            )
            if wanted:
                self._held.add(agent_id)
            else:
                self._held.discard(agent_id)

    async def open_elsewhere(self, agent_id: int) -> bool:
        """Whether another process has a console socket of the agent open."""
        async with self._lock:
            connection = await self._locked_connection()
            params = {"c": _LOCK_CLASS, "a": agent_id}
            free = bool(
                await connection.scalar(text("SELECT pg_try_advisory_lock(:c, :a)"), params)
            )
            if free:
                await connection.execute(text("SELECT pg_advisory_unlock(:c, :a)"), params)
            return not free

    async def close(self) -> None:
        """Drop every lock (the connection is closed, not pooled)."""
        async with self._lock:
            connection, self._connection = self._connection, None
            self._held.clear()
            if connection is not None:
                await _discard(connection)

    async def _locked_connection(self) -> AsyncConnection:
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                return self._connection
            except Exception:
                logger.warning("console presence: lost the lock connection; taking it again")
                await _discard(self._connection)
                self._connection = None
        connection = await self._engine.connect()
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        for agent_id in self._held:  # the locks went with the old connection
            await connection.execute(
                text("SELECT pg_advisory_lock_shared(:c, :a)"), {"c": _LOCK_CLASS, "a": agent_id}
            )
        self._connection = connection
        return connection


async def _discard(connection: AsyncConnection) -> None:
    # Session-level locks must not outlive their use in a pooled connection.
    try:
        await connection.invalidate()
        await connection.close()
    except Exception:
        logger.debug("closing the console lock connection failed", exc_info=True)


def socket_locks_for(engine: AsyncEngine) -> ConsoleSocketLocks | None:
    """The locks on PostgreSQL; None on SQLite (one process)."""
    return ConsoleSocketLocks(engine) if engine.dialect.name == "postgresql" else None
