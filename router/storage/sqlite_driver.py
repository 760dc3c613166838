"""SQLite connections for asyncio: a write transaction runs on the loop.

aiosqlite runs every call on the connection's own thread, and SQLAlchemy makes four
of them per statement (open the cursor, execute, fetch, close). Measured through
SQLAlchemy on this project's 2-core VM, CPU per one-row statement: ~460 µs that way,
~230 µs with one hop per statement, ~50-100 µs with none. An answered message runs
~25 statements, so the hops were most of the server's CPU.

* A write transaction (``BEGIN IMMEDIATE``, see `router.storage.engine`) first takes
  the database's in-process write lock, an `asyncio.Lock`: this process's writers
  queue in order and start the moment the previous one commits, where SQLite's busy
  handler would have them poll with sleeps of up to 100 ms. Holding it, the only
  writer that can be in the way is another process (a CLI command, a migration), so
  ``BEGIN IMMEDIATE`` is tried on the loop without waiting (busy timeout 0); only
  when another process holds SQLite's lock does it run again on the connection's
  thread, which waits for the real busy timeout.
* The statements between them run on the event loop. The transaction holds SQLite's
  write lock, so none of them waits for a lock; they are reads and writes of a few
  rows by key. A transaction that runs many (an import), or a statement after a long
  computation (the bot's decision), first yields one turn of the loop whenever it
  has kept the loop for `LOOP_TURN` seconds, so other work runs.
* ``COMMIT`` runs on the loop too: it appends the pages to the WAL (no fsync with
  ``synchronous=NORMAL``). It would also checkpoint the WAL into the database (disk
  I/O, an fsync) every 1,000 pages, so the connections have SQLite's automatic
  checkpoint off (``wal_autocheckpoint=0``, set at connect) and `Checkpoints` runs
  that checkpoint on a worker thread instead, as often.
* A read transaction's ``BEGIN`` (deferred: it takes no lock), its ``COMMIT`` and every
  ``ROLLBACK`` (which discards pages, writing nothing) run on the loop.
* A read transaction's statements run on the loop too, with a bound. In WAL mode a read
  waits for no writer and no checkpoint; the hot path's reads are a few rows by key
  (CPU p50 ~90 µs, p99 ~0.5 ms over the test suites' reads). The bound is for the
  reads that are not (reports, search, exports): a progress handler interrupts a read
  on the loop once it has used `LOOP_TURN` of the loop thread's CPU time, and it runs
  again from the start on the connection's thread; its text is remembered
  (`LongReads`) and it goes straight to the thread from then on. A read that waits
  rather than computes (pages not in the OS cache) uses little CPU, so the handler
  also interrupts it after `LOOP_WAIT` of the clock's time; it runs again on the
  thread, but its text is not remembered (the cache may be warm next time). The
  handler is installed only while a read runs on the loop: on the thread each call
  would take the GIL from the loop. A read that meets
  ``SQLITE_BUSY`` (another process recovering the WAL) runs again on the thread too,
  where it waits. Interrupting a ``SELECT`` leaves its transaction as it was.
* Everything else (the PRAGMAs at connect, the rows of a result past its first
  `_FIRST_ROWS`) runs on the thread, one hop per call. A hop costs 10-45 µs of CPU
  over the same read on the loop (a one-row read transaction, 2026-12-01).
* Only the thread waits for a lock. Work on the loop runs with SQLite's busy timeout at
  0 and the thread's with the real one; the ``PRAGMA busy_timeout`` is sent only when
  a connection passes from one side to the other, not per transaction.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

_T = TypeVar("_T")

logger = logging.getLogger(__name__)

# Rows fetched in the hop that executes a statement; a larger result (a streamed
# read) is fetched in further hops of this size, so memory stays bounded.
_FIRST_ROWS = 500

# How a write transaction begins (`router.storage.engine` issues it): it takes
# SQLite's write lock at once. Compared as issued, not normalised, on every statement.
BEGIN_WRITING = "BEGIN IMMEDIATE"
# How a read transaction begins: it takes no lock until its first read, so it never
# waits, and runs on the loop.
BEGIN_READING = "BEGIN"

# What a statement that may run on the loop in a read transaction begins with (as
# SQLAlchemy compiles it; other spellings run on the thread).
_READ_STATEMENT = ("SELECT", "select")

# How long a write transaction may keep the loop before its next statement yields a
# turn of the loop to the others.
LOOP_TURN = 0.002

# The clock's time after which a read on the loop is interrupted however little CPU it
# used (it waits for the disk). Generous: under this machine's load (10-35 on 2 cores)
# a short read (CPU p99 ~0.5 ms) can take ~10 ms of the clock while other processes
# hold the CPU, and 40 ms keeps it well clear of that; a read cut by mistake only runs
# again on the thread. It is also the longest a waiting read can stop the loop.
LOOP_WAIT = 20 * LOOP_TURN

# Pages the WAL may gain before it is checkpointed: SQLite's own automatic default.
WAL_CHECKPOINT_PAGES = 1000

# SQLite virtual machine steps between two calls of the progress handler that bounds a
# read on the loop: ~2-5 µs of work, or one or two page reads of a table scan (a row
# takes ~4-10 steps), so both bounds hold to a fraction of their size even when each
# page waits for the disk; a short read by key runs fewer (~10) and never calls it.
# Most calls cost one `time.perf_counter` (`_past_read_deadline`).
_PROGRESS_STEPS = 100


class LongReads:
    """The texts of read statements that once ran past the bound on the loop: they run
    on the thread from then on. One set per database, shared by its connections;
    emptied when full (a text with a varying ``IN (?, ?, ...)`` list can be new each
    time), so it stays bounded and a read that got shorter is tried again."""

    KEPT = 1000

    def __init__(self) -> None:
        self._texts: set[str] = set()

    def __contains__(self, sql: str) -> bool:
        return sql in self._texts

    def add(self, sql: str) -> None:
        if len(self._texts) >= self.KEPT:
            self._texts.clear()
        self._texts.add(sql)


class WriteLocks:
    """The database's in-process write lock, one `asyncio.Lock` per event loop.

    One engine can serve several loops over its life (a test's, then another's);
    an `asyncio.Lock` belongs to the loop that first waited on it.
    """

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def for_running_loop(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock


def _free_at_once(lock: asyncio.Lock) -> bool:
    """`lock.acquire()` will take it without waiting: it is free and nobody queues
    (a lock just released to a waiter that has not run yet is not)."""
    return not lock.locked() and not getattr(lock, "_waiters", None)


class Checkpoints:
    """The database's WAL checkpoints, run on a worker thread, never in a COMMIT.

    The connections commit on the event loop with SQLite's automatic checkpoint off,
    so without these the WAL would grow without end. After every `WAL_CHECKPOINT_PAGES`
    pages or so (estimated from the pages per commit the last checkpoint found) a
    ``PRAGMA wal_checkpoint(PASSIVE)`` runs on a connection of its own, on a worker
    thread, holding the in-process write lock as SQLite's own checkpoint (inside a
    COMMIT) holds the write lock: with no commit in between it catches up with the
    whole WAL, and the next writer starts the WAL again from its beginning instead of
    growing it. One at a time; other processes on the file (CLI commands) keep
    SQLite's defaults.
    """

    def __init__(self, path: str, busy_seconds: float, locks: WriteLocks) -> None:
        self._path = path
        self._busy_seconds = busy_seconds
        self._locks = locks
        self._commits = 0
        # A first guess (~10 pages a commit), corrected by each checkpoint's count.
        self._due = WAL_CHECKPOINT_PAGES // 10
        # WAL frames a checkpoint could not copy (a reader still needed them): counted
        # again by the next one.
        self._frames_before = 0
        self._running: asyncio.Task[None] | None = None
        self._thread: ThreadPoolExecutor | None = None
        self.completed = 0  # checkpoints run, for tests

    def committed(self) -> None:
        """A write transaction committed (on the loop): start a checkpoint if due."""
        self._commits += 1
        if self._commits < self._due or self._running is not None:
            return
        commits, self._commits = self._commits, 0
        self._running = asyncio.get_running_loop().create_task(self._checkpoint(commits))

    async def finished(self) -> None:
        """Wait for the checkpoint running now, if one is."""
        if self._running is not None:
            await asyncio.wait([self._running])

    async def _checkpoint(self, commits: int) -> None:
        try:
            async with self._locks.for_running_loop():
                # A thread of its own: queued behind other work in the loop's default
                # executor, it would hold every writer up.
                if self._thread is None:
                    self._thread = ThreadPoolExecutor(1, thread_name_prefix="pasokh-checkpoint")
                _busy, frames, copied = await asyncio.wrap_future(self._thread.submit(self._run))
        except Exception as error:  # the next commits try again; the WAL only grows
            logger.warning("SQLite WAL checkpoint failed: %s", error)
            return
        finally:
            self._running = None
        self.completed += 1
        pages_per_commit = max(frames - self._frames_before, 1) / commits
        self._due = max(1, min(WAL_CHECKPOINT_PAGES, int(WAL_CHECKPOINT_PAGES / pages_per_commit)))
        self._frames_before = 0 if copied >= frames else frames

    def _run(self) -> tuple[int, int, int]:
        connection = sqlite3.connect(self._path, timeout=self._busy_seconds)
        try:
            row = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            connection.close()
        return int(row[0]), int(row[1]), int(row[2])


class _ImmediateQueue:
    """What SQLAlchemy's aiosqlite adapter uses to set `isolation_level`: aiosqlite's
    request queue. The setting is a plain attribute write, so it runs at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # handed to the awaiting caller, as aiosqlite does
            future.set_exception(error)


class LoopSqliteConnection:
    """An aiosqlite-shaped connection (what SQLAlchemy's aiosqlite dialect drives)."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        thread: ThreadPoolExecutor,
        locks: WriteLocks,
        busy_seconds: float,
        checkpoints: Checkpoints,
        long_reads: LongReads,
    ) -> None:
        self._conn = connection
        # What SQLAlchemy's adapter checks for "still open" (None once closed).
        self._connection: sqlite3.Connection | None = connection
        self._thread = thread
        self._locks = locks
        self._busy_seconds = busy_seconds
        self._checkpoints = checkpoints
        self._long_reads = long_reads
        self._tx = _ImmediateQueue()
        self._held_lock: asyncio.Lock | None = None
        self._reading = False  # in a read transaction begun by `begin`
        self._loop_turn_began = 0.0
        self._last_submitted: Future[Any] | None = None
        self._begin_cursor = connection.cursor()
        # SQLite's busy timeout now: the real one (`_open`) until work runs on the loop.
        self._busy_waits = True
        # The read running on the loop: when it began (`time.perf_counter`), when it is
        # interrupted by the CPU bound (`time.thread_time`), and whether it was
        # interrupted by the clock's (`LOOP_WAIT`).
        self._read_began = 0.0
        self._read_deadline = 0.0
        self._read_waited = False

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    def cursor(self) -> LoopSqliteCursor:
        return LoopSqliteCursor(self)

    async def fetch_all(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        """Run the statement `sql` as `execute` runs it and return all its rows (none for
        a write without RETURNING): for `router.storage.direct`, whose statements read a
        few rows. A cursor that lives on between calls costs more than the statement:
        three awaits and an object for every one a message runs."""
        return await self.execute(sql, self._all_rows, sql, parameters)

    def _all_rows(self, sql: str, parameters: Sequence[Any]) -> list[Any]:
        cursor = self._conn.cursor()
        try:
            cursor.execute(sql, parameters)
            return cursor.fetchall()
        finally:
            cursor.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._conn.create_function(*args, **kwargs)

    async def on_thread(self, function: Callable[..., _T], *args: Any) -> _T:
        submitted = self._thread.submit(self._waiting, function, *args)
        self._last_submitted = submitted
        try:
            return await asyncio.wrap_future(submitted)
        finally:
            self._loop_turn_began = time.perf_counter()

    def _waiting(self, function: Callable[..., _T], *args: Any) -> _T:
        """`function` on the thread, with the real busy timeout: it may wait."""
        self._wait_when_busy(True)
        return function(*args)

    def _wait_when_busy(self, waits: bool) -> None:
        """Set SQLite's busy timeout for the side about to run (the loop never waits),
        with a PRAGMA only when it changes."""
        if waits != self._busy_waits:
            milliseconds = int(self._busy_seconds * 1000) if waits else 0
            self._conn.execute(f"PRAGMA busy_timeout={milliseconds}")
            self._busy_waits = waits

    def _past_read_deadline(self) -> bool:
        """SQLite's progress handler for a read on the loop: True interrupts it.

        The bound that counts is the loop thread's CPU time, not the clock's: on a busy
        machine a short read can lose the CPU half-way, and it would be taken for a
        long one. The clock's bound, `LOOP_WAIT`, is many times larger; it catches a
        read that waits. A thread's CPU time cannot run ahead of the clock, so until
        `LOOP_TURN` of the clock has passed the (slower) CPU clock is not read.
        """
        elapsed = time.perf_counter() - self._read_began
        if elapsed < LOOP_TURN:
            return False
        if elapsed >= LOOP_WAIT:
            self._read_waited = True
            return True
        return time.thread_time() >= self._read_deadline

    def settled(self) -> bool:
        """No call is still running on the thread. A caller cancelled during a hop
        does not wait for it (a BEGIN can wait 30 s for another process); whatever
        comes next on this connection runs after it, on the same thread."""
        submitted = self._last_submitted
        if submitted is None:
            return True
        if not submitted.done():
            return False
        # Done for good: forgotten, so the next statements' checks take no future's lock.
        self._last_submitted = None
        return True

    async def run(self, function: Callable[..., _T], *args: Any) -> _T:
        """On the loop inside a write transaction, on the thread otherwise."""
        if self._held_lock is None or not self.settled():
            return await self.on_thread(function, *args)
        await self._take_loop_turn()
        self._wait_when_busy(False)  # the BEGIN may have waited on the thread
        return function(*args)

    async def _take_loop_turn(self) -> None:
        """A transaction that has kept the loop for `LOOP_TURN` yields one turn of the
        loop first (its other tasks run), rather than hopping to the thread: the turn
        is what the others need, and a hop costs a context switch each way."""
        if time.perf_counter() - self._loop_turn_began >= LOOP_TURN:
            await asyncio.sleep(0)
            self._loop_turn_began = time.perf_counter()

    async def execute(self, sql: str, function: Callable[..., _T], *args: Any) -> _T:
        """Run the statement `sql` by `function`: a write transaction's on the loop
        (`run`); a read transaction's ``SELECT`` on the loop for at most `LOOP_TURN`,
        else again on the thread; anything else on the thread.

        Only a ``SELECT``: interrupting a write would roll its whole transaction back
        (a write in a read transaction is a bug, but not one to make worse).
        """
        if (
            not self._reading
            or not sql.startswith(_READ_STATEMENT)
            or sql in self._long_reads
            or not self.settled()
        ):
            return await self.run(function, *args)
        await self._take_loop_turn()
        self._wait_when_busy(False)
        self._read_began = time.perf_counter()
        self._read_deadline = time.thread_time() + LOOP_TURN
        self._read_waited = False
        self._conn.set_progress_handler(self._past_read_deadline, _PROGRESS_STEPS)
        try:
            return function(*args)
        except sqlite3.OperationalError as error:
            name = getattr(error, "sqlite_errorname", None) or ""
            if name == "SQLITE_INTERRUPT":
                if not self._read_waited:  # it computes for long, not waits: every time
                    self._long_reads.add(sql)
            elif not name.startswith("SQLITE_BUSY"):
                raise
        finally:
            self._conn.set_progress_handler(None, 0)
        return await self.on_thread(function, *args)

    async def begin(self, cursor: sqlite3.Cursor | None = None, *, writing: bool) -> None:
        """Begin a write transaction (`BEGIN_WRITING`) or a read (`BEGIN_READING`).

        `router.storage.engine` calls this at SQLAlchemy's "begin" event, straight,
        not as a statement through SQLAlchemy's execution path (~25% of a short
        transaction's CPU went to running the BEGIN that way).
        """
        cursor = cursor or self._begin_cursor
        if writing:
            await self._begin_writing(cursor, BEGIN_WRITING)
            return
        if self.settled():
            cursor.execute(BEGIN_READING)  # deferred: takes no lock, never waits
            self._loop_turn_began = time.perf_counter()
        else:
            await self.on_thread(cursor.execute, BEGIN_READING)
        self._reading = True

    async def _begin_writing(self, cursor: sqlite3.Cursor, sql: str) -> None:
        lock = self._locks.for_running_loop()
        if _free_at_once(lock):
            await lock.acquire()  # taken without waiting: no timer to arm and cancel
        else:
            try:
                # Not `asyncio.wait_for`: on Python 3.11 it can swallow a cancel that
                # arrives as the lock is handed over, and a stopped worker runs on.
                async with asyncio.timeout(self._busy_seconds):
                    await lock.acquire()
            except TimeoutError:
                raise sqlite3.OperationalError("database is locked") from None
        try:
            if self.settled() and self._begin_without_waiting(cursor, sql):
                # Its turn on the loop starts now: the first statement need not yield.
                self._loop_turn_began = time.perf_counter()
            else:
                await self.on_thread(cursor.execute, sql)
        finally:
            if self.settled() and not self._conn.in_transaction:
                lock.release()  # the BEGIN failed: nothing is held
            else:
                # Begun, or cancelled while the BEGIN runs on: held until the COMMIT
                # or ROLLBACK, which the thread runs after the BEGIN.
                self._held_lock = lock

    def _begin_without_waiting(self, cursor: sqlite3.Cursor, sql: str) -> bool:
        """`sql` on the loop with no busy wait: False if another process holds the lock."""
        self._wait_when_busy(False)
        try:
            cursor.execute(sql)
        except sqlite3.OperationalError as error:
            if (getattr(error, "sqlite_errorname", None) or "").startswith("SQLITE_BUSY"):
                return False
            raise
        return True

    def _end_transaction(self) -> None:
        self._reading = False
        lock, self._held_lock = self._held_lock, None
        if lock is not None:
            lock.release()

    async def commit(self) -> None:
        wrote = self._held_lock is not None
        try:
            if not self.settled():
                await self.on_thread(self._conn.commit)  # after the call still running
            elif self._conn.in_transaction:
                self._conn.commit()  # no checkpoint in it (`Checkpoints`): on the loop
            else:
                wrote = False
        finally:
            self._end_transaction()
        if wrote:
            self._checkpoints.committed()

    async def rollback(self) -> None:
        try:
            if not self.settled():
                self.after_running(self._conn.rollback)
            elif self._conn.in_transaction:
                # Discards the transaction's pages: nothing written, no checkpoint.
                self._conn.rollback()
        finally:
            self._end_transaction()

    def after_running(self, function: Callable[[], Any]) -> None:
        """Queue clean-up behind a call still running on the thread, unawaited.

        A caller cancelled during a hop does not wait for it (a BEGIN can wait for
        another process's lock for the busy timeout): the ROLLBACK or close that
        clean-up sends runs after it, on the same thread. Its caller lets the
        in-process write lock go at once; the next writer's BEGIN then waits in
        SQLite, on its own thread.
        """
        self._last_submitted = self._thread.submit(function)

    async def close(self) -> None:
        if self._connection is None:
            return
        self._connection = None
        try:
            if self.settled():
                await self.on_thread(self._conn.close)
            else:
                self.after_running(self._conn.close)
        finally:
            self._end_transaction()
            self._thread.shutdown(wait=False)

    def stop(self) -> None:
        """Terminate (SQLAlchemy's hard close): no await, the thread closes it later."""
        if self._connection is None:
            return
        self._connection = None
        self.after_running(self._conn.close)
        self._end_transaction()
        self._thread.shutdown(wait=False)


class LoopSqliteCursor:
    """An aiosqlite-shaped cursor: execute fetches the first rows in the same hop."""

    def __init__(self, connection: LoopSqliteConnection) -> None:
        self._connection = connection
        self._cursor = connection._conn.cursor()
        self._rows: list[Any] = []
        self._more = False

    async def __aenter__(self) -> LoopSqliteCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Sequence[Any] = ()) -> LoopSqliteCursor:
        if sql in (BEGIN_WRITING, BEGIN_READING):
            await self._connection.begin(self._cursor, writing=sql == BEGIN_WRITING)
            self._rows, self._more = [], False
            return self
        await self._connection.execute(sql, self._execute_and_fetch, sql, parameters)
        return self

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> LoopSqliteCursor:
        await self._connection.run(self._cursor.executemany, sql, rows)
        self._rows, self._more = [], False
        return self

    def _execute_and_fetch(self, sql: str, parameters: Sequence[Any]) -> None:
        self._cursor.execute(sql, parameters)
        self._take_rows()

    def _take_rows(self) -> None:
        if self._cursor.description is None:
            self._rows, self._more = [], False
            return
        self._rows = self._cursor.fetchmany(_FIRST_ROWS)
        self._more = len(self._rows) == _FIRST_ROWS

    async def _refill(self) -> None:
        if not self._rows and self._more:
            await self._connection.run(self._take_rows)

    async def fetchone(self) -> Any:
        await self._refill()
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        await self._refill()
        count = size or self._cursor.arraysize
        taken, self._rows = self._rows[:count], self._rows[count:]
        return taken

    async def fetchall(self) -> list[Any]:
        rows = self._rows
        if self._more:
            rest = await self._connection.run(self._cursor.fetchall)
            rows = rows + rest
        self._rows, self._more = [], False
        return rows

    async def close(self) -> None:
        self._rows, self._more = [], False
        if self._connection.settled():
            self._cursor.close()
        else:
            self._connection.after_running(self._cursor.close)


def connector(path: str, *, busy_seconds: float, locks: WriteLocks) -> Callable[[], Any]:
    """SQLAlchemy's `async_creator` for the file at `path`.

    Its connections must have SQLite's automatic checkpoint off
    (``PRAGMA wal_autocheckpoint=0``, `router.storage.engine` sets it at connect):
    their commits run on the loop, and `Checkpoints` does that work on a thread.
    """
    checkpoints = Checkpoints(path, busy_seconds, locks)
    long_reads = LongReads()

    async def connect() -> LoopSqliteConnection:
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pasokh-sqlite")
        try:
            connection = await asyncio.get_running_loop().run_in_executor(
                thread, _open, path, busy_seconds
            )
        except BaseException:
            thread.shutdown(wait=False)
            raise
        return LoopSqliteConnection(
            connection, thread, locks, busy_seconds, checkpoints, long_reads
        )

    return connect


def _open(path: str, busy_seconds: float) -> sqlite3.Connection:
    # The connection moves between its thread and the loop, never used by both at
    # once: SQLAlchemy runs one statement at a time on a connection.
    return sqlite3.connect(path, timeout=busy_seconds, check_same_thread=False)
