"""`write`: the one way to run a write transaction.

Every path that changes the database runs its work through `write`: on SQLite it
first queues for the process's write lock (`AppContext.writing`), then runs the work
in one transaction, runs it again from the start when a concurrent transaction got in
the way, and only after the commit publishes the events the work queued and wakes the
outbox worker if it queued a delivery. Work that only reads uses
`AppContext.read_sessions` instead: those never take SQLite's write lock, so a console
poll never waits behind a writer.

On SQLite, a `grouped` write (an ingest, the outbox's claim and record) that finds
others waiting commits with them: one writer task runs the waiting works one after
another in one transaction and hands each its outcome only after that transaction's
COMMIT (group commit). A transaction's set-up, BEGIN and COMMIT and the lock's
hand-off between two writers cost ~250 µs of CPU; a group pays them once. Should any
work of a group fail, the whole group rolls back and each of its works runs again in a
transaction of its own, exactly as an ungrouped write: the failing one meets its error
alone and the others commit. A database that is unavailable fails them at once instead
(alone, each would wait for it again). A SAVEPOINT per work would keep the others'
rows, but through SQLAlchemy a SAVEPOINT and its RELEASE cost most of what the group
saves, and failures are rare (`docs/benchmarks.md`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.core.events import Event
from router.core.write_queue import QueuedWrite, WriteQueue
from router.storage.core_rows import flush_pending
from router.storage.engine import is_database_unavailable

logger = logging.getLogger(__name__)

T = TypeVar("T")

ATTEMPTS = 4
# PostgreSQL: serialization failure, deadlock detected (asyncpg reports both as plain
# DBAPIErrors, so they are told by their SQLSTATE).
_RACE_SQLSTATES = frozenset({"40001", "40P01"})

# A group commits at most this many works, and takes no further one once it has run
# this long: every work's caller waits for the group's COMMIT. A work that finds
# nobody writing starts at once, alone; a group only takes works already waiting.
GROUP_SIZE = 16
GROUP_SECONDS = 0.05


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
    grouped: bool = False,
) -> T:
    """Run `work(session, effects)` in one write transaction and return its result.

    With `grouped`, on SQLite, the transaction may be shared with other grouped works
    waiting at the same time (see the module's docstring): the session is flushed and
    emptied after `work` returns, and `work` may run a second time, alone, when another
    work of its group fails (as it runs again after a race).

    Runs it again (with fresh `effects`) after a race, up to `attempts` times in all;
    `retry_duplicates` counts a unique violation as a race (see `is_race`). Runs it
    again once, too, when its connection was lost before the commit. After the
    commit, publishes `effects.events` and wakes the outbox worker if
    `effects.outbound`.

    Raises:
        Whatever `work` raises (the transaction is rolled back), the database's
        error when it is unavailable (at once) or the last race's error.
    """
    if grouped and app.write_queue is not None:
        committed = await _in_group(app, app.write_queue, work)
        if not isinstance(committed, _RunAlone):
            return cast(T, committed)
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
        _publish(app, effects)
        return result


def _publish(app: AppContext, effects: Effects) -> None:
    """Make a committed transaction's effects known."""
    for event in effects.events:
        app.events.publish(event)
    if effects.outbound:
        app.outbox_wakeup.set()


class _RunAlone:
    """A queued work's outcome when its group did not commit: run it on its own."""


_RUN_ALONE = _RunAlone()


async def _in_group(app: AppContext, queue: WriteQueue, work: Work[T]) -> object:
    """`work`'s result once the group it joined has committed, or `_RUN_ALONE`.

    Raises:
        The database's error when it is unavailable (see `_commit_group`).
    """
    loop = asyncio.get_running_loop()
    queued = QueuedWrite(work, loop.create_future())
    queue.waiting.append(queued)
    if queue.writer is None:
        queue.writer = loop.create_task(_commit_groups(app, queue))
    # Cancelled here, the future is cancelled too: a group will not run it. Cancelled
    # while its group runs, it commits with the group all the same (a redelivery then
    # finds it stored).
    return await queued.done


async def _commit_groups(app: AppContext, queue: WriteQueue) -> None:
    """The writer task: groups of the waiting works, one transaction each, until none
    waits."""
    try:
        while queue.waiting:
            await _commit_group(app, queue)
    finally:
        queue.writer = None
        while queue.waiting:  # stopped by a cancel: the callers run their works alone
            _settle(queue.waiting.popleft(), _RUN_ALONE)


async def _commit_group(app: AppContext, queue: WriteQueue) -> None:
    """The works waiting now, up to `GROUP_SIZE`, in one transaction; each caller gets
    its work's result after the COMMIT; when anything failed, `_RUN_ALONE`, or the
    database's error when it is unavailable."""
    ran: list[tuple[QueuedWrite, Effects, object]] = []
    running: QueuedWrite | None = None
    try:
        async with app.writing(), app.sessions() as session, session.begin():
            started = time.perf_counter()
            while queue.waiting and len(ran) < GROUP_SIZE:
                if ran and time.perf_counter() - started >= GROUP_SECONDS:
                    break
                running = queue.waiting.popleft()
                if running.done.done():  # its caller stopped waiting
                    continue
                if ran:
                    # Each work starts with an empty session, as in a transaction of
                    # its own: nothing it finds there is another work's, stale.
                    await flush_pending(session)
                    session.expunge_all()
                effects = Effects()
                result = await running.work(session, effects)
                ran.append((running, effects, result))
                running = None
    except BaseException as exc:
        failed = [queued for queued, _, _ in ran]
        if running is not None:
            failed.append(running)
        if not isinstance(exc, Exception):
            for queued in failed:
                _settle(queued, _RUN_ALONE)
            raise
        if is_database_unavailable(exc):
            # Locked by another process past the busy timeout, full, unreadable: run
            # alone, each would wait and fail the same way a second time. Its caller
            # answers "try again later" now; those still queued try in their turn.
            for queued in failed:
                if not queued.done.done():
                    queued.done.set_exception(exc)
            return
        for queued in failed:
            _settle(queued, _RUN_ALONE)
        logger.debug("group of %d writes rolled back, each runs alone: %s", len(failed), exc)
        return
    for queued, _, result in ran:
        _settle(queued, result)
    # The events go out once each caller has taken its first step with its result, as
    # after a write of its own, which publishes as it returns, before its caller awaits
    # anything: a web chat socket learns its new customer in that step, and an answer
    # published before it would find no socket to push to (and wait for the outbox).
    # Callbacks run in the order scheduled: the callers' wake-ups were scheduled above.
    loop = asyncio.get_running_loop()
    for _, effects, _ in ran:
        loop.call_soon(_publish, app, effects)


def _settle(queued: QueuedWrite, outcome: object) -> None:
    if not queued.done.done():
        queued.done.set_result(outcome)


def _name(work: Work[T]) -> str:
    return getattr(work, "__qualname__", type(work).__name__)
