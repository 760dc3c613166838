"""Who may poll: Telegram answers 409 Conflict when two processes call getUpdates.

On the embedded SQLite there is one process and it always polls. On PostgreSQL,
several `pasokh serve` processes share the database and only the holder of a
session-level advisory lock polls; the lock lives on a dedicated connection, so it
goes away with the process (or the connection) and another process takes over.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any, Protocol

logger = logging.getLogger(__name__)

_CHECK_EVERY = 10.0  # seconds between liveness checks of the lock's connection


class PollLeadership(Protocol):
    """Whether this process is the one that polls."""

    async def acquire(self) -> bool:
        """True while this process holds (or has just taken) the right to poll."""
        ...

    async def release(self) -> None:
        """Give the right up (a no-op when not held)."""
        ...


class SoleLeader:
    """One process, nothing to coordinate."""

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class PostgresAdvisoryLeader:
    """`pg_try_advisory_lock` on a connection of its own, re-checked now and then."""

    def __init__(self, dsn: str, key: int) -> None:
        self._dsn = dsn
        self._key = key
        self._connection: Any = None  # asyncpg.Connection; asyncpg is an optional dependency
        self._checked_at = 0.0

    async def acquire(self) -> bool:
        if self._connection is not None and not self._connection.is_closed():
            if time.monotonic() - self._checked_at < _CHECK_EVERY:
                return True
            try:
                await self._connection.fetchval("SELECT 1")
            except Exception:  # the connection (and with it the lock) is gone
                logger.warning("telegram: lost the poll lock's database connection")
                await self.release()
                return False
            self._checked_at = time.monotonic()
            return True
        return await self._try_lock()

    async def _try_lock(self) -> bool:
        import asyncpg  # only PostgreSQL deployments need it

        connection = None
        try:
            connection = await asyncpg.connect(self._dsn)
            got = bool(await connection.fetchval("SELECT pg_try_advisory_lock($1)", self._key))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            logger.warning("telegram: cannot reach PostgreSQL for the poll lock: %s", exc)
            got = False
        if not got:
            if connection is not None:
                connection.terminate()
            return False
        logger.info("telegram: this process holds the poll lock and polls")
        self._connection = connection
        self._checked_at = time.monotonic()
        return True

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            # Closing the session releases a session-level advisory lock.
            await connection.close(timeout=5)
        except Exception:
            connection.terminate()


def leadership_for(database_url: str, bot_token: str) -> PollLeadership:
    """The right leadership for a database URL: an advisory lock on PostgreSQL.

    The lock key is derived from the bot's id (the token's part before the colon), so
    two bots sharing one database each get a poller.
    """
    if not database_url.startswith(("postgresql", "postgres")):
        return SoleLeader()
    return PostgresAdvisoryLeader(_asyncpg_dsn(database_url), _lock_key(bot_token))


def _lock_key(bot_token: str) -> int:
    bot_id = bot_token.split(":", 1)[0]
    digest = hashlib.sha256(f"pasokh:telegram:poller:{bot_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _asyncpg_dsn(database_url: str) -> str:
    """`postgresql+asyncpg://u:p@h/db` (SQLAlchemy) -> `postgresql://u:p@h/db` (libpq)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)
