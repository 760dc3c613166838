"""Fixed statements run on SQLite's driver connection, past SQLAlchemy's execution.

The hot path's statements (the sender marked seen, the message's INSERT, the thread's
UPDATE, the bot's context read) are built once and run for every message. Through
`AsyncConnection.execute`, SQLAlchemy's part of a run (the greenlet hop, the cache
key and compiled-cache look-up, the execution context, the result's set-up) costs
~150-190 µs of CPU on this project's 2-vCPU VM, where SQLite runs such a statement in
~20-90 µs (`docs/benchmarks.md`, "the hot path's statements on the driver").

`execute` compiles a statement once (per set of parameter names), converts the
parameters and the rows with SQLAlchemy's own processors for the statement's types,
and runs it on the `router.storage.sqlite_driver` connection of the caller's
transaction (no thread hop in a write transaction). Its rows come back as a `Result`,
like `AsyncConnection.execute`'s (by position, by name, by column), and its errors as
SQLAlchemy's (`IntegrityError`, `OperationalError`, ... with the driver's as `orig`).
`execute_many` runs one such statement without RETURNING for many sets of parameters
as one executemany (the outbox's lease and record of a wave of sends).

`AsyncConnection.execute` runs the statement instead:
* on PostgreSQL (asyncpg's transaction is begun by SQLAlchemy's adapter at its first
  statement, and a statement there costs a round trip that dwarfs SQLAlchemy's part);
* when the engine logs statements (`echo`) or has listeners of their execution (tests
  that count statements or make one fail): they see every statement as before;
* for a statement SQLAlchemy must complete at each run (an ``IN`` of values the
  caller gives, a column default computed in Python for a column the parameters
  leave out), or outside a transaction begun through SQLAlchemy.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Result
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.ext.asyncio import AsyncConnection

from router.storage.sqlite_driver import LoopSqliteConnection

# The engine events that must see every statement: when any has a listener, the
# statement runs through SQLAlchemy. (An engine's `handle_error` listener is
# PostgreSQL's: `router.storage.engine`.)
_EXECUTION_EVENTS = (
    "before_execute",
    "after_execute",
    "before_cursor_execute",
    "after_cursor_execute",
)


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement as the driver runs it: its SQL, where each parameter goes and how
    it is converted, and how its rows are converted and named."""

    sql: str
    compiled: Any  # SQLAlchemy's `SQLCompiler`: `construct_params` fills fixed values
    fixed: dict[str, Any]  # the values of a fixed ``IN`` list's parameters, by name
    binds: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    # Where each parameter's value comes from, in the statement's order (`_plan`), or
    # None: from `construct_params` at every run.
    plan: tuple[tuple[str | None, Callable[[Any], Any] | None, Any], ...] | None
    columns: tuple[Callable[[Any], Any] | None, ...]  # empty: no rows
    converts: bool  # some column's values are converted
    metadata: SimpleResultMetaData


# The metadata of a result without rows (an INSERT or UPDATE without RETURNING).
_NO_COLUMNS = SimpleResultMetaData([])

# By statement and the names of its parameters (an INSERT's columns are the names
# given); None: SQLAlchemy must run it (see the module's docstring). Every SQLite
# engine of the process is made by `router.storage.engine.new_engine`: one dialect,
# one SQLite library. Keyed by the statement object, so a statement is meant to be
# built once; emptied when full, so one built per call costs a compile, not memory.
_COMPILED: dict[tuple[Any, tuple[str, ...]], _Compiled | None] = {}
_COMPILED_KEPT = 1000


def _compile(statement: Any, names: tuple[str, ...], dialect: Dialect) -> _Compiled | None:
    try:
        return _compiled_parts(statement, names, dialect)
    except AttributeError:
        # The compiled statement's parts read here are SQLAlchemy's internals: should a
        # release rename one, the statement runs through SQLAlchemy, slower but right.
        return None


def _compiled_parts(statement: Any, names: tuple[str, ...], dialect: Dialect) -> _Compiled | None:
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(names))
    if not compiled.positional or compiled.insert_prefetch or compiled.update_prefetch:
        return None
    sql, positions, processors = compiled.string, compiled.positiontup, compiled._bind_processors
    fixed: dict[str, Any] = {}
    expanding = compiled.literal_execute_params | compiled.post_compile_params
    if expanding:
        # An ``IN`` of values the statement holds (`Thread.status.in_(OPEN_STATUSES)`)
        # is expanded here, once, as SQLAlchemy expands it at every run; one whose
        # values the caller gives is left to SQLAlchemy.
        if any(bind.key in names or bind.callable is not None for bind in expanding):
            return None
        given = compiled.construct_params(dict.fromkeys(names), _check=False)
        state = compiled._process_parameters_for_postcompile(dict(given))
        sql, positions, processors = state.statement, state.positiontup, state.processors
        fixed = {name: state.parameters[name] for name in positions if name not in given}
    binds = tuple((name, processors.get(name)) for name in positions)
    plan = _plan(compiled, names, fixed, binds)
    result_columns = compiled._result_columns
    if not result_columns:
        return _Compiled(sql, compiled, fixed, binds, plan, (), False, _NO_COLUMNS)
    columns = tuple(
        column.type._cached_result_processor(dialect, None) for column in result_columns
    )
    metadata = SimpleResultMetaData(
        [column.keyname for column in result_columns],
        extra=[tuple(column.objects) for column in result_columns],
    )
    converts = any(convert is not None for convert in columns)
    return _Compiled(sql, compiled, fixed, binds, plan, columns, converts, metadata)


def _plan(
    compiled: Any,
    names: tuple[str, ...],
    fixed: Mapping[str, Any],
    binds: tuple[tuple[str, Callable[[Any], Any] | None], ...],
) -> tuple[tuple[str | None, Callable[[Any], Any] | None, Any], ...] | None:
    """For each parameter of the statement, in order: the caller's name for it and its
    conversion, or (None, None, its converted value) for a value the statement holds
    (a literal, a ``LIMIT``, a fixed ``IN`` list's). What `construct_params` works out
    at every run, worked out once: it cost more than SQLite's run of a small statement.
    None when a value must be worked out at every run (a parameter with a callable
    value or one that must be given, escaped names): `construct_params` does that."""
    if compiled.escaped_bind_names:
        return None
    plan: list[tuple[str | None, Callable[[Any], Any] | None, Any]] = []
    for name, process in binds:
        if name in fixed:
            value = fixed[name]
            plan.append((None, None, value if process is None else process(value)))
            continue
        bind = compiled.binds[name]
        if bind.key in names:
            plan.append((bind.key, process, None))
        elif name in names:
            plan.append((name, process, None))
        elif bind.callable is not None or bind.required:
            return None
        else:
            plan.append((None, None, bind.value if process is None else process(bind.value)))
    return tuple(plan)


def _driver_of(connection: Connection) -> LoopSqliteConnection | None:
    """The SQLite driver connection of `connection`'s transaction, when `execute` may
    run a statement on it."""
    if connection.dialect.name != "sqlite" or not connection.in_transaction():
        return None
    if connection.engine.echo:
        return None
    dispatch = connection.dispatch
    if any(getattr(dispatch, name) for name in _EXECUTION_EVENTS):
        return None
    driver = connection.connection.driver_connection
    return driver if isinstance(driver, LoopSqliteConnection) else None


def _compiled_for(
    connection: AsyncConnection, statement: Any, names: tuple[str, ...]
) -> tuple[LoopSqliteConnection, _Compiled] | None:
    """The driver connection and `statement` compiled for parameters `names`, when the
    statement may run on the driver (see the module's docstring)."""
    sync = connection.sync_connection
    driver = _driver_of(sync) if sync is not None else None
    if driver is None:
        return None
    key = (statement, names)
    try:
        compiled = _COMPILED[key]
    except KeyError:
        if len(_COMPILED) >= _COMPILED_KEPT:
            _COMPILED.clear()
        compiled = _COMPILED[key] = _compile(statement, names, connection.dialect)
    return None if compiled is None else (driver, compiled)


def _parameters(compiled: _Compiled, params: Mapping[str, Any]) -> tuple[Any, ...]:
    """`params` in the statement's order, converted as SQLAlchemy converts them."""
    if compiled.plan is not None:
        return tuple(
            value if name is None else params[name] if process is None else process(params[name])
            for name, process, value in compiled.plan
        )
    values = compiled.compiled.construct_params(params)
    if compiled.fixed:
        values.update(compiled.fixed)
    return tuple(
        values[name] if process is None else process(values[name])
        for name, process in compiled.binds
    )


def _driver_error(
    connection: AsyncConnection, compiled: _Compiled, parameters: Any, error: sqlite3.Error
) -> sa_exc.StatementError:
    """The driver's `error` as SQLAlchemy raises it."""
    return sa_exc.DBAPIError.instance(
        compiled.sql, parameters, error, sqlite3.Error, dialect=connection.dialect
    )


async def execute(
    connection: AsyncConnection, statement: Any, params: Mapping[str, Any] | None = None
) -> Result[*tuple[Any, ...]]:
    """`connection.execute(statement, params)` for a fixed Core statement (no ORM
    entities) and one set of parameters, on the driver when it can (see the module's
    docstring).

    Raises:
        sqlalchemy.exc.DBAPIError: as `AsyncConnection.execute` raises it.
    """
    params = params or {}
    found = _compiled_for(connection, statement, tuple(params))
    if found is None:
        return await connection.execute(statement, params)
    driver, compiled = found
    parameters = _parameters(compiled, params)
    try:
        rows = await driver.fetch_all(compiled.sql, parameters)
    except sqlite3.Error as error:
        raise _driver_error(connection, compiled, parameters, error) from error
    if compiled.converts:
        converters = compiled.columns
        rows = [
            tuple(
                value if convert is None else convert(value)
                for convert, value in zip(converters, row, strict=True)
            )
            for row in rows
        ]
    return IteratorResult(compiled.metadata, iter(rows))


async def execute_many(
    connection: AsyncConnection, statement: Any, rows: Sequence[Mapping[str, Any]]
) -> None:
    """`connection.execute(statement, rows)` for a fixed Core statement that returns no
    rows (an INSERT or UPDATE without RETURNING), every row naming the same parameters:
    one executemany on the driver when it can (see the module's docstring).

    Raises:
        sqlalchemy.exc.DBAPIError: as `AsyncConnection.execute` raises it.
    """
    if not rows:
        return
    found = _compiled_for(connection, statement, tuple(rows[0]))
    if found is None or found[1].columns:
        await connection.execute(statement, list(rows))
        return
    driver, compiled = found
    parameters = [_parameters(compiled, row) for row in rows]
    cursor = driver.cursor()
    try:
        await cursor.executemany(compiled.sql, parameters)
    except sqlite3.Error as error:
        raise _driver_error(connection, compiled, parameters, error) from error
    finally:
        await cursor.close()
