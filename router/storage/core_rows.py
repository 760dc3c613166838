"""ORM objects for rows a statement read with SQLAlchemy Core.

A statement executed on the session's connection skips the ORM's per-execution work
(for DML with RETURNING, a fresh copy of the statement and its cache key each time,
which cost more than the statement). The row it returns becomes the ORM object here,
as if the session had loaded it: in the identity map, every column loaded, no history,
so later changes to it are flushed as usual.
"""

from __future__ import annotations

import functools
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Result,
    bindparam,
    insert,
    inspect,
    literal_column,
    null,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy import (
    cast as sql_cast,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from router.storage import direct
from router.storage.models import Base

M = TypeVar("M", bound=Base)


def columns_of(model: type[Base]) -> tuple[Any, ...]:
    """Every mapped column of `model`'s table, for a statement's RETURNING or SELECT."""
    return tuple(attribute.columns[0] for attribute in inspect(model).column_attrs)


# Where `transaction_connection` keeps the connection in the session's `info`.
_CONNECTION = "router.storage.core_rows.connection"


async def transaction_connection(session: AsyncSession) -> AsyncConnection:
    """`session.connection()`, asked of SQLAlchemy once per transaction: each call
    hops into a greenlet and back (~20-40 µs of CPU), and a message's transaction asks
    for it at every statement run on the connection. Kept with the transaction it
    belongs to, so a later transaction of the same session asks again."""
    transaction = session.sync_session.get_transaction()
    held = session.info.get(_CONNECTION)
    if held is not None and transaction is not None and held[0] is transaction:
        return cast(AsyncConnection, held[1])
    connection = await session.connection()
    session.info[_CONNECTION] = (session.sync_session.get_transaction(), connection)
    return connection


def _bare(model: type[M], values: Mapping[str, Any]) -> M:
    """A `model` object holding `values` with no change history: the declarative
    constructor sets each attribute through its instrumentation (an event per column),
    which a row about to be marked loaded does not need."""
    instance = cast(M, inspect(model).class_manager.new_instance())
    inspect(instance).dict.update(values)
    return instance


def loaded(session: AsyncSession, model: type[M], row: Mapping[Any, Any]) -> M:
    """The `model` object for `row` (which holds `columns_of(model)`), part of `session`
    as if loaded by it. An object of the same identity the session holds already is
    refreshed from `row` and returned instead."""
    mapper = inspect(model)
    values = {attribute.key: row[attribute.columns[0]] for attribute in mapper.column_attrs}
    key = mapper.identity_key_from_primary_key(tuple(row[c] for c in mapper.primary_key))
    held = session.sync_session.identity_map.get(key)
    if isinstance(held, model):
        for name, value in values.items():
            set_committed_value(held, name, value)
        return held
    instance = _bare(model, values)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance


async def selected(
    session: AsyncSession, statement: Any, params: Mapping[str, Any] | None = None
) -> Result[*tuple[Any, ...]]:
    """`statement` (a Core SELECT of columns, no ORM entities) run on the session's
    connection: the session's per-execution work (its ORM compile state and plugin
    lookups) costs more CPU than a small read. Pending changes are flushed first when
    the session would autoflush them, so the read sees them as `session.execute` would.
    """
    if session.sync_session.autoflush:
        await flush_pending(session)
    return await direct.execute(await transaction_connection(session), statement, params)


@dataclass(frozen=True, slots=True)
class _Together:
    statement: Any  # the reads as one UNION ALL (see `_together`)
    rows: tuple[Callable[..., tuple[Any, ...]], ...]  # a row type per read, its names
    spans: tuple[tuple[int, int], ...]  # where each read's columns are in a row


# One prebuilt statement per tuple of reads (see `selected_together`), keyed by the
# reads themselves: a key of their ids could be another tuple's once one was collected.
_TOGETHER: dict[tuple[Any, ...], _Together] = {}


def _together(statements: tuple[Any, ...]) -> _Together:
    """`statements` (Core SELECTs of columns) as one UNION ALL: a row of read i holds i
    in its first column, then read i's columns in their own place and NULL in every
    other read's, each column typed as its read's, so its values come back converted
    as the read alone would return them (dates, JSON)."""
    branches = []
    for number, statement in enumerate(statements):
        # In a subquery: SQLite takes no ORDER BY or LIMIT in a branch of a compound.
        own = list(statement.subquery().c)
        columns: list[Any] = [literal_column(str(number)).label("part")]
        for other_number, other in enumerate(statements):
            for position, column in enumerate(other.selected_columns):
                # A NULL of the column's type: PostgreSQL matches a UNION's columns
                # pairwise, and two untyped NULLs would make a text column.
                value = (
                    type_coerce(own[position], column.type)
                    if other_number == number
                    else sql_cast(null(), column.type)
                )
                columns.append(value.label(f"c{other_number}_{position}"))
        branches.append(select(*columns))
    spans, start = [], 1
    for statement in statements:
        spans.append((start, start + len(statement.selected_columns)))
        start += len(statement.selected_columns)
    rows = tuple(
        namedtuple("Row", [column.key for column in statement.selected_columns], rename=True)
        for statement in statements
    )
    return _Together(union_all(*branches), rows, tuple(spans))


async def selected_together(
    session: AsyncSession, reads: Sequence[tuple[Any, Mapping[str, Any]]]
) -> list[list[Any]]:
    """The rows of each of `reads` (a Core SELECT of columns, as `selected` runs, and its
    parameters), read by one statement: on PostgreSQL a statement's round trip costs
    more server CPU than a small read. The reads' parameters share one namespace (a
    name two of them use must have one value). Each list holds its read's rows (its
    LIMIT applies to its own ORDER BY) as named tuples of its columns, in an order SQL
    does not promise: the union has no outer ORDER BY, so a caller sorts them."""
    statements = tuple(statement for statement, _ in reads)
    together = _TOGETHER.get(statements)
    if together is None:
        together = _TOGETHER[statements] = _together(statements)
    params: dict[str, Any] = {}
    for _, values in reads:
        for name, value in values.items():
            assert params.get(name, value) == value, f"{name} given two values"
            params[name] = value
    return _parts(together, await selected(session, together.statement, params))


def _parts(together: _Together, rows: Any) -> list[list[Any]]:
    """The rows of a `_together` statement, as each read's own rows."""
    parts: list[list[Any]] = [[] for _ in together.spans]
    for row in rows:
        first, end = together.spans[row[0]]
        parts[row[0]].append(together.rows[row[0]](*row[first:end]))
    return parts


async def flush_pending(session: AsyncSession) -> None:
    """`session.flush()` when the session holds changes: with nothing to write, the
    flush does nothing, but reaching it costs a switch into SQLAlchemy's greenlet."""
    sync = session.sync_session
    if sync.new or sync.deleted or sync.identity_map.check_modified():
        await session.flush()


# One prebuilt INSERT per model, returning its key (`_insert_returning_key`).
_INSERTS: dict[type[Base], Any] = {}


async def inserted(session: AsyncSession, model: type[M], **values: Any) -> M:
    """A new `model` row written by one prebuilt INSERT on the session's connection, as
    the ORM would write it (column defaults, the model's `before_insert` rules), and
    returned as the session's object, loaded: the ORM's unit of work for a row nobody
    changes before commit costs more CPU than the statement (a message, every turn).

    Objects still pending in the session are flushed first, as an autoflush would:
    the row may refer to one of them. Columns `values` leaves out take their Python
    default; a column with only a server-side default must be given.
    """
    instance, _ = await inserted_with_reads(session, None, (), model, **values)
    return instance


@dataclass(frozen=True, slots=True)
class Referrer:
    """A row of `model` that refers to a new row by its key, in the column `key` (an
    outbox row to its message), with the values of its other columns."""

    model: type[Base]
    key: str
    values: Mapping[str, Any]


def new_row(
    connection: Any, model: type[M], values: Mapping[str, Any]
) -> tuple[M, dict[str, Any], frozenset[str]]:
    """A new `model` row as the ORM would write it: the object (no key yet), every
    non-key column's value (Python defaults filled in, the model's `before_insert` rules
    applied) and the columns to write as SQL NULL rather than their value (a JSON column
    would write JSON's 'null' for None). A column with only a server-side default must
    be given."""
    mapper = inspect(model)
    plan = _NEW_ROW_PLANS.get(model)
    if plan is None:
        plan = _NEW_ROW_PLANS[model] = _new_row_plan(model)
    values = dict(values)
    unset: set[str] = set()
    for key, default, as_null in plan:
        if key in values:
            continue
        if default is _NEEDS_A_VALUE:
            raise ValueError(f"{model.__name__}.{key} needs a value")
        if default is None:
            # SQL NULL, as the ORM leaves an unset column out.
            values[key] = None
            if as_null:
                unset.add(key)
        elif default.is_callable:
            values[key] = default.arg(None)
        else:
            values[key] = default.arg
    instance = _bare(model, values)
    state = inspect(instance)
    mapper.dispatch.before_insert(mapper, connection.sync_connection, state)
    written = state.dict
    row = {key: written.get(key) for key, _, _ in plan}
    return instance, row, frozenset(unset)


# What `new_row` writes of a model: each non-key column's attribute, its Python default
# (None: SQL NULL) and whether None is written as SQL NULL rather than as its value.
# Worked out once per model: reading it from the mapper cost more than the row, every
# message.
_NEW_ROW_PLANS: dict[type[Base], tuple[tuple[str, Any, bool], ...]] = {}
# The default of a column with only a server-side default: `new_row` must be given it.
_NEEDS_A_VALUE = object()


def _new_row_plan(model: type[Base]) -> tuple[tuple[str, Any, bool], ...]:
    plan = []
    for attribute in inspect(model).column_attrs:
        column = attribute.columns[0]
        if column.primary_key:
            continue
        if column.default is None and column.server_default is not None:
            # Checked when the row is written: a caller may give it.
            plan.append((attribute.key, _NEEDS_A_VALUE, False))
            continue
        plan.append((attribute.key, column.default, bool(column.type.should_evaluate_none)))
    return tuple(plan)


async def inserted_with_reads(
    session: AsyncSession,
    changed: Base | None,
    reads: Sequence[tuple[Any, Mapping[str, Any]]],
    model: type[M],
    *,
    referrer: Referrer | None = None,
    **values: Any,
) -> tuple[M, list[list[Any]]]:
    """A new row as `inserted` writes it and, on PostgreSQL, the changed columns of
    `changed` (a loaded object of `session`) as `updated` writes them, in the same
    statement (the UPDATE as a data-modifying CTE): a round trip there costs more
    server CPU than either. Elsewhere (SQLite has no DML in a CTE) `changed` is left
    as it is, for the caller's `updated` to write with whatever changes it later.

    With the rows of `reads` as `selected_together` returns them, read as the database
    was before the row and `changed` were written (on PostgreSQL
    in the same statement: the write as the reads' CTEs, which the reads do not see;
    elsewhere by a statement of its own before the write, pending changes not flushed).
    A read's parameter must not be named as a column of a table written
    (`_refuse_written_names`).

    With `referrer` (not with `reads`), its row is written too, referring to the new
    one: on PostgreSQL by the same statement (an INSERT ... SELECT from the new row's
    CTE), elsewhere by a statement of its own after the new row's. Not an ORM object:
    nothing reads it back."""
    _refuse_written_names(model, changed, reads)
    assert referrer is None or not reads, "a referrer's row with reads is not built"
    if session.sync_session.new or session.sync_session.deleted:
        await session.flush()
    mapper = inspect(model)
    connection = await transaction_connection(session)
    instance, row, unset = new_row(connection, model, values)
    parts: list[list[Any]] = []
    postgresql = connection.dialect.name == "postgresql"
    along = _update_of(connection, changed) if changed is not None and postgresql else None
    referring = None
    if referrer is not None:
        _, referring_row, referring_unset = new_row(
            connection, referrer.model, {referrer.key: None, **referrer.values}
        )
        del referring_row[referrer.key]
    if postgresql and (along is not None or reads or referrer is not None):
        if referrer is not None:
            referring = (referrer.model, referrer.key, referring_unset, frozenset(referring_row))
        statement, together, read_params = _inserts_with(model, unset, along, reads, referring)
        params = {f"row_{name}": value for name, value in row.items() if name not in unset}
        params.update(read_params)
        if referrer is not None:
            params.update(
                (f"referrer_{name}", value)
                for name, value in referring_row.items()
                if name not in referring_unset
            )
        if along is not None:
            params.update(along[1])
        if together is not None:
            parts = _parts(together, await direct.execute(connection, statement, params))
            key = tuple(parts.pop()[0])
        else:
            key = (await direct.execute(connection, statement, params)).one()
        if along is not None and changed is not None:
            _written(session, changed)
    else:
        if reads:
            with session.no_autoflush:
                parts = await selected_together(session, reads)
        row.update((name, null()) for name in unset)
        key = (await direct.execute(connection, _insert_returning_key(model), row)).one()
        if referrer is not None:
            referring_row.update((name, null()) for name in referring_unset)
            referring_row[referrer.key] = key[0]
            await direct.execute(connection, _insert_returning_key(referrer.model), referring_row)
    for key_column, value in zip(mapper.primary_key, key, strict=True):
        set_committed_value(instance, mapper.get_property_by_column(key_column).key, value)
    make_transient_to_detached(instance)
    session.add(instance)
    return instance, parts


def _insert_returning_key(model: type[Base]) -> Any:
    """`model`'s prebuilt INSERT, returning the new row's key."""
    statement = _INSERTS.get(model)
    if statement is None:
        statement = _INSERTS[model] = insert(model).returning(*inspect(model).primary_key)
    return statement


def _refuse_written_names(
    model: type[Base], changed: Base | None, reads: Sequence[tuple[Any, Mapping[str, Any]]]
) -> None:
    """The rule for the parameters of a statement that writes a table: none is named as
    one of that table's columns. SQLAlchemy takes such a parameter as a value to write,
    in an UPDATE's SET or an INSERT's columns, even in a CTE: a read's `id` would set
    the thread's key and the new row's. So the INSERT's values are `row_<column>`, the
    UPDATE's `new_<column>` and `key_<column>`, and the reads' are named apart too
    (`place_*`, `recent_*`). Checked on every database, with or without changes to
    write, so that a read that would corrupt PostgreSQL's statement fails everywhere."""
    if not reads:
        return
    written = _column_names(model)
    if changed is not None:
        written |= _column_names(type(changed))
    clashes = written & {name for _, params in reads for name in params}
    assert not clashes, f"a read's parameter named as a written column: {sorted(clashes)}"


@functools.cache
def _column_names(model: type[Base]) -> frozenset[str]:
    """The names of `model`'s columns: listing them from the mapper at every message's
    INSERT cost more than the check they are for."""
    return frozenset(inspect(model).columns.keys())


# One prebuilt UPDATE per model and set of changed columns (see `updated`).
_UPDATES: dict[tuple[type[Base], frozenset[str]], Any] = {}
# An INSERT with such an UPDATE as its CTE, or with reads (`inserted_with_reads`), by
# the model, the columns written as SQL NULL, the UPDATE and the reads' statements.
_INSERTS_WITH: dict[tuple[Any, ...], tuple[Any, _Together | None]] = {}


def _inserts_with(
    model: type[Base],
    nulls: frozenset[str],
    along: tuple[Any, dict[str, Any]] | None,
    reads: Sequence[tuple[Any, Mapping[str, Any]]],
    referring: tuple[type[Base], str, frozenset[str], frozenset[str]] | None = None,
) -> tuple[Any, _Together | None, dict[str, Any]]:
    """The INSERT of `model` with `along`'s UPDATE as a CTE or, with `reads`, both as
    CTEs of the reads' `_together` statement (returned too), whose last read is the new
    row's key, or, with `referring` (the referrer's model, the column of the new row's
    key, its columns written as SQL NULL and the others), both as CTEs of the
    referrer's INSERT, which returns that key; and the reads' parameters. The INSERT's
    values are named `row_<column>`, the referrer's `referrer_<column>`
    (`_refuse_written_names`): the tables share names (`customer_id`, `created_at`)."""
    statements = tuple(statement for statement, _ in reads)
    update_statement = along[0] if along is not None else None
    key = (model, nulls, update_statement, statements, referring)
    built = _INSERTS_WITH.get(key)
    if built is None:
        mapper = inspect(model)
        values = {
            attribute.key: null()
            if attribute.key in nulls
            else bindparam(f"row_{attribute.key}", type_=attribute.columns[0].type)
            for attribute in mapper.column_attrs
            if not attribute.columns[0].primary_key
        }
        insert_statement = insert(model).values(values).returning(*mapper.primary_key)
        together = None
        if statements:
            # The reads see the statement's snapshot: neither the new row nor the UPDATE.
            stored = insert_statement.cte(f"{model.__tablename__}_inserted")
            together = _together((*statements, select(*stored.c)))
            statement = together.statement
        elif referring is not None:
            statement = _referring_insert(
                insert_statement.cte(f"{model.__tablename__}_inserted"), *referring
            )
        else:
            statement = insert_statement
        if update_statement is not None:
            # Not referred to: PostgreSQL runs a data-modifying CTE all the same.
            statement = statement.add_cte(
                update_statement.cte(f"{model.__tablename__}_with_update")
            )
        built = _INSERTS_WITH[key] = (statement, together)
    params: dict[str, Any] = {}
    for _, values_of_read in reads:
        for name, value in values_of_read.items():
            assert params.get(name, value) == value, f"{name} given two values"
            params[name] = value
    return built[0], built[1], params


def _referring_insert(
    stored: Any,
    model: type[Base],
    key: str,
    nulls: frozenset[str],
    columns: frozenset[str],
) -> Any:
    """The INSERT of `model`'s row taking `key` from the one row of `stored` (a CTE
    returning a new row's key) and its other columns from `referrer_<column>`
    parameters (every column given: a default Core filled in would be a parameter
    named as the column, which a CTE's UPDATE of a table sharing the name would set)."""
    table = inspect(model).local_table
    names = sorted(columns)
    values = [
        null() if name in nulls else bindparam(f"referrer_{name}", type_=table.c[name].type)
        for name in names
    ]
    (stored_key,) = stored.c
    return (
        insert(model)
        .from_select([key, *names], select(stored_key, *values))
        .returning(table.c[key])
    )


def _update_of(connection: Any, instance: Base) -> tuple[Any, dict[str, Any]] | None:
    """The prebuilt UPDATE of `instance`'s changed columns and its parameters (the
    model's `before_update` rules applied), or None when nothing changed."""
    state = inspect(instance)
    if not state.committed_state:
        return None
    mapper = state.mapper
    mapper.dispatch.before_update(mapper, connection.sync_connection, state)
    changed = changed_columns(instance)
    model = type(instance)
    statement = _UPDATES.get((model, changed))
    if statement is None:
        where = [column == bindparam(f"key_{column.key}") for column in mapper.primary_key]
        values: dict[str, Any] = {name: bindparam(f"new_{name}") for name in changed}
        statement = _UPDATES[(model, changed)] = update(model).where(*where).values(values)
    params = {f"new_{name}": state.dict[name] for name in changed}
    for column in mapper.primary_key:
        params[f"key_{column.key}"] = state.dict[mapper.get_property_by_column(column).key]
    return statement, params


def _written(session: AsyncSession, instance: Base) -> None:
    """What the unit of work does once it has written an object: its values are the
    committed ones, and the session no longer counts it as modified."""
    state = inspect(instance)
    state._commit_all(state.dict, session.sync_session.identity_map)


def changed_columns(instance: Base) -> frozenset[str]:
    """The attributes of `instance` changed since it was last written."""
    return frozenset(inspect(instance).committed_state)


def as_written(session: AsyncSession, instance: Base) -> None:
    """Undo `instance`'s changes since it was last written: nothing left to write."""
    state = inspect(instance)
    state.dict.update(state.committed_state)
    _written(session, instance)


async def updated(session: AsyncSession, instance: Base) -> None:
    """Write the changed columns of `instance` (a loaded object of `session`) now, by
    one prebuilt UPDATE on the session's connection, as a flush would (the model's
    `before_update` rules too), and mark it unchanged: a flush of one object through
    the unit of work costs more CPU than the statement (the thread, every message)."""
    if not inspect(instance).committed_state:
        return
    connection = await transaction_connection(session)
    update_of = _update_of(connection, instance)
    assert update_of is not None
    await direct.execute(connection, *update_of)
    _written(session, instance)
