"""`write`: the one way to run a write transaction.

Every path that changes the database runs its work through `write`: on SQLite it
first queues for the process's write lock (`AppContext.writing`), then runs the work
in one transaction, runs it again from the start when a concurrent transaction got in
the way, and only after the commit publishes the events the work queued and wakes the
outbox worker if it queued a delivery. Work that only reads uses
`AppContext.read_sessions` instead: those never take SQLite's write lock, so a console
poll never waits behind a writer.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.core.events import Event
from router.storage.engine import is_database_unavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 4
# PostgreSQL: serialization failure, deadlock detected (asyncpg reports both as plain
# DBAPIErrors, so they are told by their SQLSTATE).
_RACE_SQLSTATES = frozenset({"40001", "40P01"})


@dataclass
class Effects:
    """What a transaction makes known once it has committed (nothing if it rolls back)."""

    events: list[Event] = field(default_factory=list)
    outbound: bool = False  # it queued outbox rows: wake the worker now


Work = Callable[[AsyncSession, Effects], Awaitable[T]]


def is_data_error(error: BaseException) -> bool:
    """The database refused a value (too long, bad encoding): SQLSTATE class 22.

    Running the work again fails the same way; only different data can help.
    """
    if not isinstance(error, DBAPIError):
        return False
    sqlstate = getattr(error.orig, "sqlstate", None)
    return isinstance(error, DataError) or (isinstance(sqlstate, str) and sqlstate.startswith("22"))


def is_race(error: BaseException, *, duplicates: bool = False) -> bool:
    """True when a concurrent transaction got in the way, so running the work again
    (and seeing what the other one committed) can succeed.

    A deadlock or serialization failure always is; with `duplicates`, so is a unique
    violation (the work creates a row a concurrent transaction may have created
    first, and looks it up before creating it). A database that is down, locked by
    another process or full is not: that is `is_database_unavailable`, answered at once.
    """
    if not isinstance(error, DBAPIError) or is_database_unavailable(error):
        return False
    if is_data_error(error):
        return False
    if duplicates and isinstance(error, IntegrityError):
        return True
    return isinstance(error, OperationalError) or (
        getattr(error.orig, "sqlstate", None) in _RACE_SQLSTATES
    )


async def write(
    app: AppContext,
    work: Work[T],
    *,
    attempts: int = ATTEMPTS,
    retry_duplicates: bool = False,
) -> T:
    """Run `work(session, effects)` in one write transaction and return its result.

    Runs it again (with fresh `effects`) after a race, up to `attempts` times in all;
    `retry_duplicates` counts a unique violation as a race (see `is_race`). Runs it
    again once, too, when its connection was lost before the commit. After the
    commit, publishes `effects.events` and wakes the outbox worker if
    `effects.outbound`.

    Raises:
        Whatever `work` raises (the transaction is rolled back), the database's
        error when it is unavailable (at once) or the last race's error.
    """
    attempt = 1
    reconnected = False
    while True:
        effects = Effects()
        cut = False
        try:
            async with app.writing(), app.sessions() as session, session.begin():
                try:
                    result = await work(session, effects)
                except DBAPIError as exc:
                    # Its connection was gone before COMMIT was sent: nothing was
                    # written, so the work may run again (once) on a fresh connection.
                    cut = exc.connection_invalidated
                    raise
        except DBAPIError as exc:
            if cut and not reconnected:
                reconnected = True
                logger.warning("transaction %s: connection lost, running it again", _name(work))
                continue
            if attempt >= attempts or not is_race(exc, duplicates=retry_duplicates):
                raise
            logger.debug("transaction retry %d of %s: %s", attempt, _name(work), exc)
            attempt += 1
            continue
        for event in effects.events:
            app.events.publish(event)
        if effects.outbound:
            app.outbox_wakeup.set()
        return result


def _name(work: Work[T]) -> str:
    return getattr(work, "__qualname__", type(work).__name__)
