"""Daily rollup of the report's additive counts: `thread_event_days`.

Each counted event row has a "shape" (its kind, whether the thread's first, by the bot,
replies 0/1/2+, reopened, deadline met) and an attribution (agent, tier, channel,
language); the rollup counts rows per UTC day, attribution and shape. It is kept in the
transaction that changes the events, so it is never behind: an inserted event adds one
(a mapper hook, whoever inserts it through the ORM), a resolution flagged as reopened
moves its count from one shape to the other (`flag_reopened`), erased threads take
their counts away (`forget_threads`). A report reads whole UTC days here and the
partial days at its window's edges from the events (`router.service.reports.summary`).
Durations are not additive (medians, percentiles): they are always read from events.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Date,
    case,
    cast,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapper

from router.service.reports.kinds import (
    BREACHED,
    CREATED,
    HANDOFF,
    HELPED,
    NOT_HELPED,
    RESOLVED,
    RESPONSE,
)
from router.storage.models import ThreadEvent, ThreadEventDay

COUNTED_KINDS = (CREATED, HANDOFF, RESPONSE, RESOLVED, BREACHED, HELPED, NOT_HELPED)
# The rollup's key columns, in the order `shape_of` and `shape_columns` give them.
KEY = (
    "day",
    "agent_id",
    "tier",
    "channel",
    "language",
    "kind",
    "first",
    "by_bot",
    "replies",
    "reopened",
    "sla_met",
)
NONE_AGENT = 0
NONE_TEXT = ""
NONE_NUMBER = -1


def utc_day(at: datetime) -> date:
    """The UTC day of an instant (a naive one is UTC)."""
    return (at.astimezone(UTC) if at.tzinfo is not None else at).date()


def capped_replies(replies: int | None) -> int:
    """0, 1, or 2 for "two or more" (no count: -1): what the KPIs tell apart."""
    return NONE_NUMBER if replies is None else min(replies, 2)


def shape_of(row: ThreadEvent) -> tuple[Any, ...]:
    """The rollup key of an event row, in `KEY` order."""
    return (
        utc_day(row.at),
        NONE_AGENT if row.agent_id is None else row.agent_id,
        row.tier,
        row.channel or NONE_TEXT,
        row.language or NONE_TEXT,
        row.kind,
        bool(row.first),
        row.actor_kind == "bot",
        capped_replies(row.replies),
        bool(row.reopened),
        NONE_NUMBER if row.sla_met is None else int(row.sla_met),
    )


def day_of(at: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC day of a time column, in SQL."""
    if dialect == "postgresql":
        return cast(func.timezone("UTC", at), Date)
    return func.date(at)


def shape_columns(dialect: str) -> list[Any]:
    """The rollup key of `thread_events` rows, in SQL, in `KEY` order."""
    e = ThreadEvent
    return [
        day_of(e.at, dialect),
        func.coalesce(e.agent_id, NONE_AGENT),
        e.tier,
        func.coalesce(e.channel, NONE_TEXT),
        func.coalesce(e.language, NONE_TEXT),
        e.kind,
        e.first,
        e.actor_kind == "bot",
        case((e.replies.is_(None), NONE_NUMBER), (e.replies >= 2, 2), else_=e.replies),
        e.reopened,
        case((e.sla_met.is_(None), NONE_NUMBER), (e.sla_met.is_(True), 1), else_=0),
    ]


def _upsert(connection: Connection, deltas: Sequence[tuple[tuple[Any, ...], int]]) -> None:
    """Add each delta to its key's count (a new key starts at 0), atomically per row:
    concurrent transactions adding to the same day and shape never lose a count."""
    if not deltas:
        return
    table: Any = ThreadEventDay.__table__
    dialect = connection.dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    # In key order, so two transactions adding to the same rows lock them in one order.
    rows = [{**dict(zip(KEY, key, strict=True)), "n": n} for key, n in sorted(deltas)]
    statement = insert(table).values(rows)
    statement = statement.on_conflict_do_update(
        index_elements=list(KEY), set_={"n": table.c.n + statement.excluded.n}
    )
    connection.execute(statement)


@event.listens_for(ThreadEvent, "after_insert")
def _counted_on_insert(_: Mapper[Any], connection: Connection, row: ThreadEvent) -> None:
    if row.kind in COUNTED_KINDS:
        _upsert(connection, [(shape_of(row), 1)])


async def _shapes_where(session: AsyncSession, *where: Any) -> list[tuple[tuple[Any, ...], int]]:
    dialect = session.get_bind().dialect.name
    columns = shape_columns(dialect)
    rows = await session.execute(
        select(*columns, func.count())
        .where(ThreadEvent.kind.in_(COUNTED_KINDS), *where)
        .group_by(*columns)
    )
    return [(_key(row), int(row[-1])) for row in rows]


def _key(row: Any) -> tuple[Any, ...]:
    values = list(row[:-1])
    values[0] = as_date(values[0])
    values[6], values[7], values[9] = bool(values[6]), bool(values[7]), bool(values[9])
    return tuple(values)


def as_date(value: Any) -> date:
    """A day column's value as a date (SQLite may hand back its text)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


async def _apply(session: AsyncSession, deltas: Sequence[tuple[tuple[Any, ...], int]]) -> None:
    connection = await session.connection()
    await connection.run_sync(lambda sync: _upsert(sync, deltas))


async def flag_reopened(session: AsyncSession, thread_id: int) -> None:
    """Mark the thread's resolutions as reopened, on their rows and in the rollup."""
    unflagged = (
        ThreadEvent.thread_id == thread_id,
        ThreadEvent.kind == RESOLVED,
        ThreadEvent.reopened.is_(False),
    )
    before = await _shapes_where(session, *unflagged)
    await session.execute(
        update(ThreadEvent)
        .where(*unflagged)
        .values(reopened=True)
        .execution_options(synchronize_session=False)
    )
    reopened = KEY.index("reopened")
    moved = [((*key[:reopened], True, *key[reopened + 1 :]), n) for key, n in before]
    await _apply(session, [(key, -n) for key, n in before] + moved)


async def forget_threads(session: AsyncSession, thread_ids: Iterable[int]) -> None:
    """Take the counts of these threads' events away (call before deleting them)."""
    ids = list(thread_ids)
    if ids:
        gone = await _shapes_where(session, ThreadEvent.thread_id.in_(ids))
        await _apply(session, [(key, -n) for key, n in gone])


async def rebuild(session: AsyncSession) -> None:
    """Count every event again (after events were inserted without the ORM)."""
    await session.execute(delete(ThreadEventDay))
    everything = await _shapes_where(session)
    # In slices: one statement's bound parameters are limited (SQLite: 32,766).
    for start in range(0, len(everything), 1000):
        await _apply(session, everything[start : start + 1000])
