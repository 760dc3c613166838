"""Engine and session factory: the one place that knows SQLite from PostgreSQL."""

from __future__ import annotations

import errno
import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.util import await_only

from router.storage import sqlite_driver

READ_ONLY_OPTION = "pasokh_read_only"


def is_sqlite(url: str) -> bool:
    """True for an SQLite URL."""
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_path(url: str) -> str:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError(f"an SQLite database needs a file path: {url}")
    return database


# Connections opened above `pool_size` (`DatabaseSettings.pool_size`) for a burst, closed
# on their return. With the default pool the cap is what it was before the pool grew, so
# no more transactions than before can wait on one row's lock.
MAX_OVERFLOW = 10


def new_engine(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    connect_timeout: float | None = None,
    statement_timeout: float | None = None,
) -> AsyncEngine:
    """Create the engine; SQLite gets WAL, a busy timeout and writer-first transactions.

    Args:
        connect_timeout: seconds to open a PostgreSQL connection (None: asyncpg's 60).
        statement_timeout: seconds one statement may take, or wait for SQLite's write
            lock (None: no limit on PostgreSQL, 30 s on SQLite). A frozen or locked
            database then fails fast instead of holding every caller.
    """
    if is_sqlite(url):
        busy_seconds = statement_timeout if statement_timeout else 30.0
        engine = create_async_engine(
            url,
            echo=echo,
            async_creator=sqlite_driver.connector(
                _sqlite_path(url),
                busy_seconds=busy_seconds,
                locks=sqlite_driver.WriteLocks(),
            ),
            pool_size=pool_size,
            max_overflow=MAX_OVERFLOW,
        )
        _configure_sqlite(engine)
        return engine
    connect_args: dict[str, Any] = {}
    pool_options: dict[str, Any] = {}
    if connect_timeout:
        connect_args["timeout"] = connect_timeout
    if statement_timeout:
        # Server-side for a lock wait or a slow query; client-side (asyncpg's
        # command_timeout) for a server that does not answer at all.
        connect_args["command_timeout"] = statement_timeout
        connect_args["server_settings"] = {"statement_timeout": str(int(statement_timeout * 1000))}
        pool_options["pool_timeout"] = statement_timeout + (connect_timeout or 0)
    # No `pool_pre_ping`: a round trip for every connection handed out, several per
    # message. A connection the server closed (restart, failover, pg_terminate_backend)
    # is known to asyncpg without one and is replaced at checkout; one cut while in use
    # fails its statement, and `router.core.transaction.write` runs that work again.
    engine = create_async_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=MAX_OVERFLOW,
        connect_args=connect_args,
        **pool_options,
    )
    event.listen(engine.sync_engine, "checkout", _refuse_closed_connection)
    event.listen(engine.sync_engine, "handle_error", _cut_connection_is_a_disconnect)
    return engine


def _cut_connection_is_a_disconnect(context: Any) -> None:
    """A connection the server has just cut can still be handed out in the instant
    between asyncpg reading the server's "terminating connection" and the socket's
    close (`is_closed()` says no until then); its first statement fails with asyncpg's
    "another operation is in progress". That is the cut, not a bug: marked a
    disconnect, the pool drops the connection, a write runs again
    (`router.core.transaction.write`) and a read answers "try again later"."""
    original = context.original_exception
    if type(original).__name__ == "InternalClientError" and "another operation" in str(original):
        context.is_disconnect = True


def _refuse_closed_connection(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """At checkout: a connection whose server side is gone is swapped for a new one."""
    driver_connection = getattr(dbapi_connection, "driver_connection", None)
    is_closed = getattr(driver_connection, "is_closed", None)
    if is_closed is not None and is_closed():
        raise sa_exc.DisconnectionError("the server closed this connection")


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # No busy timeout here: the driver opens the connection with it and sets it
        # for each side (the loop never waits, its thread does).
        # Commits run on the event loop; the driver's `Checkpoints` checkpoint on a thread.
        cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock at BEGIN: a read-then-write transaction can
        # then never fail half-way with SQLITE_BUSY when another writer got there first.
        # Sessions made by `new_read_sessionmaker` only read, so they need no lock (WAL).
        # Sent to the driver directly: through `exec_driver_sql` (a statement's whole
        # execution path, for a result nobody reads) it was a quarter of a short
        # transaction's CPU. Its errors are wrapped as that path would.
        writing = not connection.get_execution_options().get(READ_ONLY_OPTION)
        driver: sqlite_driver.LoopSqliteConnection = connection.connection.driver_connection
        try:
            await_only(driver.begin(writing=writing))
        except sqlite3.Error as error:
            sql = sqlite_driver.BEGIN_WRITING if writing else sqlite_driver.BEGIN_READING
            raise sa_exc.DBAPIError.instance(sql, None, error, sqlite3.Error) from error


def new_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (no implicit IO)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def new_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reading only: on SQLite they do not queue for the write lock; on
    PostgreSQL they send no BEGIN and no ROLLBACK.

    PostgreSQL runs at READ COMMITTED, where every statement takes its own snapshot
    even inside a transaction: a reading transaction adds two round trips (BEGIN, and
    ROLLBACK at the session's end: one of the few statements of an API message's token
    check) and no consistency. In autocommit each SELECT is its own transaction.

    Writing through one is a bug; SQLite may then answer "database is locked", and
    PostgreSQL would keep each statement at once.
    """
    options: dict[str, Any] = {READ_ONLY_OPTION: True}
    if engine.dialect.name == "postgresql":
        options["isolation_level"] = "AUTOCOMMIT"
    return async_sessionmaker(engine.execution_options(**options), expire_on_commit=False)


async def read_in_transaction(session: AsyncSession) -> None:
    """Give a read session (`new_read_sessionmaker`) a transaction on PostgreSQL, where
    read sessions run without one: call before its first statement when it streams
    results (`stream`, `yield_per`: a server-side cursor lives in a transaction) or sets
    something for its transaction only (`set_config(..., true)`). SQLite needs nothing.
    """
    dialect = session.bind.dialect if session.bind is not None else None
    if dialect is not None and dialect.name == "postgresql":
        level = getattr(dialect, "default_isolation_level", None) or "READ COMMITTED"
        await session.connection(execution_options={"isolation_level": level})


# SQLite: another process holds the lock, or the file cannot be read or written.
_SQLITE_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_IOERR",
    "SQLITE_CANTOPEN",
    "SQLITE_FULL",
    "SQLITE_READONLY",
    "SQLITE_PROTOCOL",
)
# PostgreSQL SQLSTATE classes: 08 connection exception, 53 insufficient resources (disk
# full, too many connections), 57 operator intervention (shutdown, statement timeout).
_POSTGRES_UNAVAILABLE_CLASSES = frozenset({"08", "53", "57"})
_POSTGRES_UNAVAILABLE_CODES = frozenset({"55P03"})  # lock_not_available (lock_timeout)
_OS_UNAVAILABLE = frozenset(
    {errno.ENOSPC, errno.EIO, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN}
)


def is_database_unavailable(error: BaseException) -> bool:
    """True when `error` (or what caused it) means "the database cannot serve now".

    Connection refused or reset, connect and statement timeouts, a server shutting
    down or out of disk, SQLite's lock held elsewhere or its file unreadable: a
    temporary condition, answered with each channel's "try again later". Integrity
    and programming errors are not: retrying them later would fail the same way.
    """
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        item = pending.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if _is_unavailable_itself(item):
            return True
        pending.extend(
            cause
            for cause in (getattr(item, "orig", None), item.__cause__, item.__context__)
            if isinstance(cause, BaseException)
        )
    return False


def _is_unavailable_itself(item: BaseException) -> bool:
    if isinstance(item, ConnectionError | TimeoutError | sa_exc.TimeoutError):
        return True  # refused, reset, broken pipe; asyncio and pool timeouts
    if isinstance(item, sa_exc.DBAPIError) and item.connection_invalidated:
        return True
    if isinstance(item, sa_exc.IntegrityError | sa_exc.ProgrammingError):
        return False
    if isinstance(item, sqlite3.Error):
        return (getattr(item, "sqlite_errorname", None) or "").startswith(_SQLITE_UNAVAILABLE)
    if isinstance(item, OSError):
        return item.errno in _OS_UNAVAILABLE
    sqlstate = getattr(item, "sqlstate", None)
    if isinstance(sqlstate, str) and len(sqlstate) == 5:
        return (
            sqlstate[:2] in _POSTGRES_UNAVAILABLE_CLASSES or sqlstate in _POSTGRES_UNAVAILABLE_CODES
        )
    # asyncpg's client-side connection errors ("connection was closed in the middle of
    # operation") carry no SQLSTATE; matched by class so asyncpg stays optional.
    return type(item).__name__ in _ASYNCPG_CONNECTION_ERRORS


_ASYNCPG_CONNECTION_ERRORS = frozenset({"ConnectionDoesNotExistError"})
