"""The SQLite connections (`router.storage.sqlite_driver`), through a real engine on a file.

What they promise: writers of one process queue on an `asyncio.Lock` in order; the
event loop never waits for another process's lock; a write transaction that runs
many statements still gives the loop a turn; reads see committed rows while a write
is open (WAL), on the loop unless they run long; a large result streams whole.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from router.storage import sqlite_driver
from router.storage.engine import READ_ONLY_OPTION, new_engine
from tests.agent_support import eventually


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = new_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}", statement_timeout=5)
    async with engine.begin() as connection:
        await connection.execute(sa.text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)"))
    yield engine
    await engine.dispose()


class LoopTicks:
    """Counts turns of the event loop and the longest gap between two of them."""

    def __init__(self) -> None:
        self.count = 0
        self.longest_gap = 0.0
        self._stopped = asyncio.Event()

    async def run(self) -> None:
        last = time.perf_counter()
        while not self._stopped.is_set():
            await asyncio.sleep(0)
            now = time.perf_counter()
            self.longest_gap = max(self.longest_gap, now - last)
            last = now
            self.count += 1

    def stop(self) -> None:
        self._stopped.set()


async def test_writers_queue_in_order_and_every_one_commits(engine: AsyncEngine) -> None:
    writers_count = 10  # the pool's size: each writer finds its connection ready
    hold = asyncio.Event()

    async def open_one() -> None:
        async with engine.connect() as connection:
            await connection.execute(sa.text("SELECT 1"))
            await hold.wait()

    pool = engine.sync_engine.pool
    assert isinstance(pool, AsyncAdaptedQueuePool)
    opening = [asyncio.create_task(open_one()) for _ in range(writers_count)]
    while pool.checkedout() < writers_count:
        await asyncio.sleep(0.001)
    hold.set()
    await asyncio.gather(*opening)

    started: list[int] = []

    async def write(n: int) -> None:
        async with engine.begin() as connection:
            started.append(n)
            await connection.execute(sa.text("INSERT INTO note (body) VALUES (:b)"), {"b": f"w{n}"})
            await asyncio.sleep(0.002)  # hold the lock across an await, as an ingest does

    writers = []
    for n in range(writers_count):
        writers.append(asyncio.create_task(write(n)))
        await asyncio.sleep(0)  # each reaches the lock before the next is made
    await asyncio.gather(*writers)

    assert started == list(range(writers_count))
    async with engine.connect() as connection:
        bodies = (await connection.execute(sa.text("SELECT body FROM note ORDER BY id"))).scalars()
        assert list(bodies) == [f"w{n}" for n in range(writers_count)]


async def test_another_process_holding_the_lock_is_waited_for_off_the_loop(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO note (body) VALUES ('other process')")

    async def write() -> None:
        async with engine.begin() as connection:
            await connection.execute(sa.text("INSERT INTO note (body) VALUES ('ours')"))

    ticks = LoopTicks()
    ticking = asyncio.create_task(ticks.run())
    writing = asyncio.create_task(write())
    while ticks.count < 200:  # the loop turns while our BEGIN waits in SQLite
        await asyncio.sleep(0.001)
    assert not writing.done()
    other.execute("COMMIT")
    other.close()
    await writing
    ticks.stop()
    await ticking

    async with engine.connect() as connection:
        bodies = (await connection.execute(sa.text("SELECT body FROM note ORDER BY id"))).scalars()
        assert list(bodies) == ["other process", "ours"]


async def test_a_long_write_transaction_gives_the_loop_turns(engine: AsyncEngine) -> None:
    ticks = LoopTicks()
    ticking = asyncio.create_task(ticks.run())
    await asyncio.sleep(0)
    began = time.perf_counter()
    async with engine.begin() as connection:
        for n in range(3000):
            await connection.execute(sa.text("INSERT INTO note (body) VALUES (:b)"), {"b": str(n)})
    took = time.perf_counter() - began
    ticks.stop()
    await ticking

    # Statements on the loop for at most LOOP_TURN, then a turn for the others: the
    # loop is never held for long, however many statements the transaction runs.
    assert took > 20 * sqlite_driver.LOOP_TURN
    assert ticks.longest_gap < took / 5, (ticks.longest_gap, took)


async def test_a_read_sees_committed_rows_while_a_write_is_open(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(sa.text("INSERT INTO note (body) VALUES ('committed')"))

    reader = engine.execution_options(**{READ_ONLY_OPTION: True})
    async with engine.begin() as writing:
        await writing.execute(sa.text("INSERT INTO note (body) VALUES ('not yet')"))
        async with reader.connect() as reading:
            seen = (await reading.execute(sa.text("SELECT body FROM note"))).scalars()
            assert list(seen) == ["committed"]


async def test_a_streamed_result_larger_than_one_fetch_arrives_whole(engine: AsyncEngine) -> None:
    count = 3 * 500 + 7  # several of the driver's fetches
    async with engine.begin() as connection:
        await connection.execute(
            sa.text("INSERT INTO note (body) VALUES (:b)"), [{"b": str(n)} for n in range(count)]
        )

    async with engine.connect() as connection:
        streamed = await connection.stream(
            sa.text("SELECT body FROM note ORDER BY id").execution_options(yield_per=100)
        )
        bodies = [row.body async for row in streamed]
        whole = (await connection.execute(sa.text("SELECT body FROM note ORDER BY id"))).all()

    assert bodies == [str(n) for n in range(count)]
    assert [row.body for row in whole] == bodies


async def test_a_writer_that_cannot_get_the_lock_in_time_fails_and_frees_nothing_it_never_held(
    tmp_path: Path,
) -> None:
    engine = new_engine(f"sqlite+aiosqlite:///{tmp_path / 'busy.db'}", statement_timeout=0.2)
    try:
        async with engine.begin() as connection:
            await connection.execute(sa.text("CREATE TABLE note (id INTEGER PRIMARY KEY)"))
        holder_has_lock = asyncio.Event()
        release = asyncio.Event()

        async def hold() -> None:
            async with engine.begin() as connection:
                await connection.execute(sa.text("INSERT INTO note DEFAULT VALUES"))
                holder_has_lock.set()
                await release.wait()

        holding = asyncio.create_task(hold())
        await holder_has_lock.wait()
        with pytest.raises(sa.exc.OperationalError, match="database is locked"):
            async with engine.begin() as connection:
                await connection.execute(sa.text("INSERT INTO note DEFAULT VALUES"))
        release.set()
        await holding

        # The lock is free again: the holder's commit released it, the loser never had it.
        async with engine.begin() as connection:
            await connection.execute(sa.text("INSERT INTO note DEFAULT VALUES"))
        async with engine.connect() as connection:
            assert (await connection.execute(sa.text("SELECT count(*) FROM note"))).scalar() == 2
    finally:
        await engine.dispose()


async def test_a_write_transaction_and_a_short_read_run_their_statements_on_the_loop(
    engine: AsyncEngine,
) -> None:
    def register(connection: sa.Connection) -> None:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        raw.create_function("running_thread", 0, threading.get_ident)

    loop_thread = threading.get_ident()
    async with engine.connect() as connection:
        await connection.run_sync(register)
        await connection.execution_options(**{READ_ONLY_OPTION: True})
        reading = (await connection.execute(sa.text("SELECT running_thread()"))).scalar()
        await connection.commit()
        await connection.execution_options(**{READ_ONLY_OPTION: False})
        async with connection.begin():
            await connection.execute(sa.text("INSERT INTO note (body) VALUES ('w')"))
            writing = (await connection.execute(sa.text("SELECT running_thread()"))).scalar()

    assert writing == loop_thread
    assert reading == loop_thread


async def test_a_writer_cancelled_while_another_process_holds_the_lock_lets_go_at_once(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    checked_out: list[sqlite_driver.LoopSqliteConnection] = []

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        checked_out.append(dbapi_connection.driver_connection)

    sa.event.listen(engine.sync_engine, "checkout", on_checkout)
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def write(body: str) -> None:
        async with engine.begin() as connection:
            await connection.execute(sa.text("INSERT INTO note (body) VALUES (:b)"), {"b": body})

    writing = asyncio.create_task(write("cancelled"))
    while not checked_out or checked_out[-1].settled():  # its BEGIN waits in SQLite
        await asyncio.sleep(0.001)
    began = time.perf_counter()
    writing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await writing
    assert time.perf_counter() - began < 1.0  # not the 5 s busy timeout

    other.execute("COMMIT")
    other.close()
    # The cancelled BEGIN, which went on to succeed, was rolled back after it, and
    # the write lock is free: the next writer goes through.
    await asyncio.wait_for(write("after"), 5)
    async with engine.connect() as connection:
        bodies = (await connection.execute(sa.text("SELECT body FROM note"))).scalars()
        assert list(bodies) == ["after"]


async def test_a_writer_cancelled_as_the_lock_is_handed_to_it_stays_cancelled(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A stopped worker must stop: the cancel may not be lost to a lock hand-over."""
    locks = sqlite_driver.WriteLocks()
    connect = sqlite_driver.connector(str(tmp_path / "driver.db"), busy_seconds=5, locks=locks)
    holder, waiter = await connect(), await connect()
    try:
        await holder.cursor().execute("BEGIN IMMEDIATE")
        waiting = asyncio.create_task(waiter.cursor().execute("BEGIN IMMEDIATE"))
        while not locks.for_running_loop().locked() or not waiting_on_lock(locks):
            await asyncio.sleep(0)
        await holder.commit()  # hands the lock to the waiter, which has not run yet
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

        assert not locks.for_running_loop().locked()
        await holder.cursor().execute("BEGIN IMMEDIATE")  # and the lock is free
        await holder.rollback()
    finally:
        await holder.close()
        await waiter.close()


def waiting_on_lock(locks: sqlite_driver.WriteLocks) -> bool:
    return bool(getattr(locks.for_running_loop(), "_waiters", None))


async def test_no_transaction_hops_to_the_thread_to_begin_or_end_unless_another_process_writes(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A hop costs 10-45 µs of CPU: a read's deferred BEGIN (it takes no lock) and its
    short SELECTs, a write's BEGIN IMMEDIATE while no other process holds the lock,
    every statement of a write transaction and every COMMIT (no checkpoint in it) run
    on the loop. Only a BEGIN IMMEDIATE that another process's lock holds up waits on
    the thread."""
    hops = count_hops(engine)
    reads = engine.execution_options(**{READ_ONLY_OPTION: True})
    count = sa.text("SELECT count(*) FROM note")

    async with reads.connect() as connection:
        assert (await connection.execute(count)).scalar() == 0
        await connection.commit()
    assert hops == []

    hops.clear()
    async with engine.begin() as connection:
        assert (await connection.execute(count)).scalar() == 0
    assert hops == []

    hops.clear()
    async with engine.begin() as connection:
        await connection.execute(sa.text("INSERT INTO note (body) VALUES ('w')"))
    assert hops == []

    hops.clear()
    async with reads.connect() as connection:  # a read begun on the loop sees the commit
        assert (await connection.execute(count)).scalar() == 1
        await connection.rollback()
    assert hops == []

    # A long write transaction gives the loop turns (see the test above) without hops.
    hops.clear()
    began = time.perf_counter()
    async with engine.begin() as connection:
        while time.perf_counter() - began < 10 * sqlite_driver.LOOP_TURN:
            await connection.execute(sa.text("INSERT INTO note (body) VALUES ('w')"))
        await connection.rollback()
    assert hops == []

    # Another process holds SQLite's write lock: the BEGIN waits for it on the thread.
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    hops.clear()
    writing = asyncio.create_task(insert(engine, "after the other"))

    async def waiting_on_the_thread() -> bool:
        return bool(hops)

    await eventually(waiting_on_the_thread)
    other.execute("COMMIT")
    other.close()
    await writing
    assert hops == ["BEGIN"]


async def insert(engine: AsyncEngine, body: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(sa.text("INSERT INTO note (body) VALUES (:b)"), {"b": body})


def wal_pages(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return (wal.stat().st_size - 32) // (4096 + 24) if wal.exists() else 0


async def test_commits_on_the_loop_leave_the_wal_checkpointed_and_bounded(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Commits never checkpoint (they run on the loop): `Checkpoints` does, on a
    thread, every ~1,000 pages, so a long write load keeps the WAL file bounded."""
    checked_out: list[sqlite_driver.LoopSqliteConnection] = []

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        checked_out.append(dbapi_connection.driver_connection)

    sa.event.listen(engine.sync_engine, "checkout", on_checkout)
    async with engine.connect() as connection:
        autocheckpoint = (await connection.execute(sa.text("PRAGMA wal_autocheckpoint"))).scalar()
        assert autocheckpoint == 0
    checkpoints = checked_out[0]._checkpoints

    body = "x" * 3000  # about a page a row
    for _ in range(3000):
        async with engine.begin() as connection:
            await connection.execute(sa.text("INSERT INTO note (body) VALUES (:b)"), {"b": body})
    await checkpoints.finished()

    assert checkpoints.completed >= 2
    # Without checkpoints the WAL would hold the ~6,000 pages written (rows, index);
    # with them it stays near one interval's pages.
    assert wal_pages(tmp_path / "driver.db") < 4 * sqlite_driver.WAL_CHECKPOINT_PAGES


async def test_transactions_begin_without_a_statement_through_sqlalchemy(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The BEGIN goes to the driver straight (a statement's whole execution path cost
    a quarter of a short transaction's CPU), and still takes the write lock at once
    for a write, none for a read."""
    statements: list[str] = []

    def before_cursor_execute(*args: Any) -> None:
        statements.append(args[2].split()[0])

    sa.event.listen(engine.sync_engine, "before_cursor_execute", before_cursor_execute)
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None, timeout=0)
    async with engine.begin() as connection:
        await connection.execute(sa.text("SELECT count(*) FROM note"))
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")  # ours is held from the BEGIN
    async with engine.execution_options(**{READ_ONLY_OPTION: True}).connect() as connection:
        await connection.execute(sa.text("SELECT count(*) FROM note"))
        other.execute("BEGIN IMMEDIATE")  # a read holds no lock
        other.execute("COMMIT")
    other.close()
    assert statements == ["SELECT", "SELECT"]


def count_hops(engine: AsyncEngine) -> list[str]:
    """The statements (first word) each checked-out connection sends to its thread."""
    hops: list[str] = []

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        driver = dbapi_connection.driver_connection
        if "on_thread" in vars(driver):
            return
        hop = driver.on_thread

        async def counted(function: Any, *args: Any) -> Any:
            hops.append(args[0].split()[0] if args and isinstance(args[0], str) else "call")
            return await hop(function, *args)

        driver.on_thread = counted

    sa.event.listen(engine.sync_engine, "checkout", on_checkout)
    return hops


async def test_a_long_read_is_cut_short_on_the_loop_and_runs_whole_on_the_thread(
    engine: AsyncEngine,
) -> None:
    """A read on the loop is interrupted at `LOOP_TURN` and runs again on the thread;
    from then on its text goes to the thread at once. Its answer is whole, and the
    loop turns all the while."""
    async with engine.begin() as connection:
        await connection.execute(
            sa.text("INSERT INTO note (body) VALUES (:b)"), [{"b": str(n)} for n in range(200)]
        )
    hops = count_hops(engine)
    reads = engine.execution_options(**{READ_ONLY_OPTION: True})
    # 200³ rows joined: far longer than LOOP_TURN, a plain SELECT as a report's (120³ took
    # under 0.1 s on a fast machine, too close to the premise checked below).
    long_read = sa.text(
        "SELECT count(*) FROM note AS a, note AS b, note AS c WHERE a.id + b.id + c.id > 0"
    )
    for attempt in range(2):
        ticks = LoopTicks()
        ticking = asyncio.create_task(ticks.run())
        await asyncio.sleep(0)
        began = time.perf_counter()
        async with reads.connect() as connection:
            assert (await connection.execute(long_read)).scalar() == 200**3
            took = time.perf_counter() - began
            # A short read in the same transaction still runs on the loop.
            assert (await connection.execute(sa.text("SELECT count(*) FROM note"))).scalar() == 200
        ticks.stop()
        await ticking
        assert took > 50 * sqlite_driver.LOOP_TURN
        assert ticks.longest_gap < took / 5, (attempt, ticks.longest_gap, took)
        assert hops == ["SELECT"], attempt
        hops.clear()
        async with reads.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert str(long_read) in driver._long_reads


async def test_reads_on_the_loop_do_not_wait_for_another_process_writing_or_checkpointing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """WAL: a reader waits for no writer and no checkpoint. While another process holds
    SQLite's write lock with rows not yet committed, and while it checkpoints a WAL of
    several thousand pages, reads on the loop see exactly the committed rows, with no
    hop to the thread."""
    body = "x" * 3000  # about a page a row
    async with engine.begin() as connection:
        await connection.execute(
            sa.text("INSERT INTO note (body) VALUES (:b)"), [{"b": body} for _ in range(3000)]
        )
    hops = count_hops(engine)
    reads = engine.execution_options(**{READ_ONLY_OPTION: True})
    count = sa.text("SELECT max(id) FROM note")  # by the key, as the hot path reads

    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None, timeout=30)
    other.execute("PRAGMA wal_autocheckpoint=0")  # the checkpoint below is the only one
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO note (body) VALUES ('not yet')")
    for _ in range(20):
        async with reads.connect() as connection:
            assert (await connection.execute(count)).scalar() == 3000
    other.execute("COMMIT")
    assert hops == []

    def checkpoint() -> tuple[int, int, int]:
        checkpointing = sqlite3.connect(tmp_path / "driver.db", timeout=30)
        try:
            return checkpointing.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        finally:
            checkpointing.close()

    checkpointed = asyncio.get_running_loop().run_in_executor(None, checkpoint)
    reads_during = 0
    while not checkpointed.done() or reads_during == 0:
        async with reads.connect() as connection:
            assert (await connection.execute(count)).scalar() == 3001
        reads_during += 1
    busy, frames, copied = await checkpointed
    assert busy == 0 and frames > 3000 and copied > 0
    other.close()
    assert hops == []


async def test_the_busy_timeout_is_set_when_a_connection_changes_side_not_per_transaction(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """The loop never waits for a lock (busy timeout 0), the thread does (the real
    one): a PRAGMA each time a connection passes from one to the other, none for a
    run of transactions on the loop."""
    sent: list[str] = []

    def on_checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        dbapi_connection.driver_connection._conn.set_trace_callback(sent.append)

    sa.event.listen(engine.sync_engine, "checkout", on_checkout)
    reads = engine.execution_options(**{READ_ONLY_OPTION: True})
    for n in range(3):
        await insert(engine, str(n))
        async with reads.connect() as connection:
            await connection.execute(sa.text("SELECT count(*) FROM note"))
    assert [s for s in sent if "busy_timeout" in s] == []  # set to 0 once, before these

    # Another process holds the lock: the BEGIN waits on the thread, with the real one.
    sent.clear()
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    writing = asyncio.create_task(insert(engine, "after the other"))

    async def waiting_with_the_busy_timeout() -> bool:
        return "PRAGMA busy_timeout=5000" in sent

    await eventually(waiting_with_the_busy_timeout)
    other.execute("COMMIT")
    other.close()
    await writing
    await insert(engine, "next")
    assert [s for s in sent if "busy_timeout" in s] == [
        "PRAGMA busy_timeout=5000",
        "PRAGMA busy_timeout=0",
    ]


async def test_a_read_that_waits_on_the_loop_is_cut_by_the_clock_and_not_remembered(
    engine: AsyncEngine,
) -> None:
    """A read that waits (for pages not in the OS cache) uses little CPU; the clock's
    bound, `LOOP_WAIT`, cuts it on the loop and it runs whole on the thread, while the
    loop turns. Its text is not remembered: the next time it may not wait."""
    rows = 400
    async with engine.begin() as connection:
        await connection.execute(
            sa.text("INSERT INTO note (body) VALUES (:b)"), [{"b": str(n)} for n in range(rows)]
        )
    hops = count_hops(engine)
    reads = engine.execution_options(**{READ_ONLY_OPTION: True})
    # A function that sleeps a row stands in for a read from the disk.
    waiting_read = sa.text("SELECT sum(waits(id)) FROM note")
    ticks = LoopTicks()
    ticking = asyncio.create_task(ticks.run())
    await asyncio.sleep(0)
    async with reads.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        await driver.create_function("waits", 1, lambda x: time.sleep(0.001) or x)
        began = time.perf_counter()
        assert (await connection.execute(waiting_read)).scalar() == rows * (rows + 1) // 2
        took = time.perf_counter() - began
    ticks.stop()
    await ticking
    assert took > rows * 0.001
    assert ticks.longest_gap < took / 5, (ticks.longest_gap, took)
    assert hops == ["SELECT"]
    assert str(waiting_read) not in driver._long_reads


async def test_the_progress_handler_runs_only_for_reads_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long read on the thread runs without the handler: each call would take the
    GIL from the loop. It is called on the loop, where it bounds a read."""
    calls_on: list[int] = []
    bound = sqlite_driver.LoopSqliteConnection._past_read_deadline

    def counted(connection: sqlite_driver.LoopSqliteConnection) -> bool:
        calls_on.append(threading.get_ident())
        return bound(connection)

    monkeypatch.setattr(sqlite_driver.LoopSqliteConnection, "_past_read_deadline", counted)
    engine = new_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}", statement_timeout=5)
    async with engine.begin() as connection:
        await connection.execute(sa.text("CREATE TABLE note (id INTEGER PRIMARY KEY, body TEXT)"))
        await connection.execute(
            sa.text("INSERT INTO note (body) VALUES (:b)"), [{"b": str(n)} for n in range(80)]
        )
    reads = engine.execution_options(**{READ_ONLY_OPTION: True})
    long_read = sa.text(
        "SELECT count(*) FROM note AS a, note AS b, note AS c WHERE a.id + b.id + c.id > 0"
    )
    try:
        for _ in range(2):  # cut on the loop, then straight to the thread (`LongReads`)
            async with reads.connect() as connection:
                assert (await connection.execute(long_read)).scalar() == 80**3
    finally:
        await engine.dispose()
    loop_thread = threading.get_ident()
    assert calls_on, "the read on the loop was bounded"
    assert [t for t in calls_on if t != loop_thread] == []
