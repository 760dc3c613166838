"""A fixed statement run on SQLite's driver gives what SQLAlchemy's execution gives:
the same rows, converted the same way, the same errors; elsewhere it is SQLAlchemy's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import CursorResult, bindparam, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from router.core.ingest import _RECENT_MESSAGES, _SENDER_SEEN
from router.core.messages import utcnow
from router.core.threads import _OPEN_THREAD_TO_JOIN
from router.storage import direct
from router.storage.core_rows import (
    columns_of,
    inserted,
    selected_together,
    transaction_connection,
)
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.migrate import upgrade_to_head
from router.storage.models import Customer, Identity, Message, Thread, ThreadStatus


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = new_engine(database_url)
    yield engine
    await engine.dispose()


async def _conversation(session: AsyncSession) -> tuple[Identity, Thread]:
    """A customer with an email identity, an open thread and two messages in it (one
    with JSON, a date and a flag set, one with them empty)."""
    now = utcnow()
    customer = await inserted(session, Customer, name="Sara", created_at=now)
    identity = await inserted(
        session,
        Identity,
        customer_id=customer.id,
        channel="email",
        address="sara@example.ir",
        created_at=now,
    )
    thread = await inserted(
        session,
        Thread,
        customer_id=customer.id,
        status=ThreadStatus.QUEUED,
        tier=1,
        created_at=now,
        updated_at=now,
    )
    for number, attachments in enumerate(([{"sha256": "ab", "size": 3}], None)):
        await inserted(
            session,
            Message,
            thread_id=thread.id,
            customer_id=customer.id,
            direction="in",
            author_kind="customer",
            channel="email",
            identity_id=identity.id,
            external_id=f"<m{number}@example.ir>",
            text=f"سلام {number}",
            sender_authenticated=number == 0 or None,
            attachments=attachments,
            created_at=now,
        )
    return identity, thread


def _through_sqlalchemy(connection: AsyncConnection) -> Any:
    """A listener of statement execution: with one, `direct.execute` leaves each
    statement to SQLAlchemy (so that the listener sees it)."""

    def seen(*_: Any) -> None:
        pass

    event.listen(connection.sync_engine, "before_cursor_execute", seen)
    return lambda: event.remove(connection.sync_engine, "before_cursor_execute", seen)


async def _both_ways(
    connection: AsyncConnection, statement: Any, params: dict[str, Any]
) -> tuple[Any, Any]:
    """The rows of `statement` run by `direct.execute`, then through SQLAlchemy, as
    mappings keyed by name and by column."""
    ours = (await direct.execute(connection, statement, params)).mappings().all()
    stop = _through_sqlalchemy(connection)
    try:
        theirs = (await direct.execute(connection, statement, params)).mappings().all()
    finally:
        stop()
    return ours, theirs


async def test_the_hot_paths_reads_give_sqlalchemys_rows(engine: AsyncEngine) -> None:
    async with new_sessionmaker(engine)() as session, session.begin():
        identity, thread = await _conversation(session)
        connection = await session.connection()
        # An UPDATE ... RETURNING with subqueries, dates and flags; a SELECT with a
        # fixed IN list, for update; a read of JSON and dates with a LIMIT.
        seen_at = utcnow()
        sender = {
            "sender_channel": "email",
            "sender_address": identity.address,
            "message_id": "<m1@example.ir>",
            "seen_at": seen_at,
        }
        for statement, params in (
            (_SENDER_SEEN, sender),
            (_OPEN_THREAD_TO_JOIN, {"customer_id": identity.customer_id}),
            (_RECENT_MESSAGES, {"recent_thread_id": thread.id, "how_many": 5}),
            (select(*columns_of(Message)).where(Message.thread_id == thread.id), {}),
        ):
            ours, theirs = await _both_ways(connection, statement, params)
            assert ours == theirs and ours, statement
            for column in statement.exported_columns:
                if hasattr(column, "table"):
                    assert [row[column] for row in ours] == [row[column] for row in theirs]
        ours, _ = await _both_ways(connection, _SENDER_SEEN, sender)
        assert ours[0]["last_seen_at"] == seen_at and ours[0]["last_seen_at"].tzinfo
        assert ours[0]["customer_name"] == "Sara" and ours[0]["first_delivery_id"] is not None
        assert ours[0]["verified"] is False
        messages, _ = await _both_ways(
            connection, select(*columns_of(Message)).where(Message.thread_id == thread.id), {}
        )
        assert [m["attachments"] for m in messages] == [[{"sha256": "ab", "size": 3}], None]
        assert [m["sender_authenticated"] for m in messages] == [True, None]


async def test_values_the_statement_holds_and_computed_values_go_where_sqlalchemy_puts_them(
    engine: AsyncEngine,
) -> None:
    """A statement's parameters in its order: the caller's (one named twice, a date
    converted), a value it holds (a compared constant, a LIMIT), one computed at each
    run (a callable's), each where SQLAlchemy's execution puts it."""
    async with new_sessionmaker(engine)() as session, session.begin():
        identity, thread = await _conversation(session)
        connection = await session.connection()
        calls: list[int] = []

        def computed() -> int:
            calls.append(1)
            return identity.id

        statement = (
            select(Message.id, Message.text)
            .where(
                Message.thread_id == bindparam("in_thread"),
                Message.thread_id >= bindparam("in_thread"),  # named twice
                Message.direction == "in",
                Message.created_at <= bindparam("until"),
                Message.identity_id == bindparam("by_callable", callable_=computed),
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
        params = {"in_thread": thread.id, "until": utcnow()}
        ours, theirs = await _both_ways(connection, statement, params)
        assert ours == theirs and [row["text"] for row in ours] == ["سلام 1"]
        assert len(calls) == 2  # at each run, not once at compile
        none, _ = await _both_ways(connection, statement, {**params, "in_thread": -1})
        assert none == []


async def test_the_senders_look_up_plan_uses_the_inbound_index_whatever_its_values(
    tmp_path: Path,
) -> None:
    """The first delivery of a message id is found by the unique index of inbound
    messages, a partial one: its plan must not depend on a bound value, or SQLite
    prepares the statement again at every run to prove the index usable."""
    engine = new_engine(f"sqlite+aiosqlite:///{tmp_path / 'plan.db'}")
    try:
        await upgrade_to_head(engine)
        names = ("sender_channel", "sender_address", "message_id", "seen_at")
        compiled = direct._compile(_SENDER_SEEN, names, engine.dialect)
        assert compiled is not None
        unbound = (None,) * len(compiled.binds)
        async with engine.connect() as connection:
            plan = (
                await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled.sql}", unbound)
            ).all()
        details = [row[-1] for row in plan]
        assert any("uq_message_inbound_external" in detail for detail in details), details
        assert not any(detail.startswith("SCAN messages") for detail in details), details
    finally:
        await engine.dispose()


async def test_reads_together_give_each_reads_rows(engine: AsyncEngine) -> None:
    async with new_sessionmaker(engine)() as session, session.begin():
        identity, thread = await _conversation(session)
        reads = (
            (_RECENT_MESSAGES, {"recent_thread_id": thread.id, "how_many": 1}),
            (select(Customer.name).where(Customer.id == bindparam("place_customer")), {}),
        )
        params = {"place_customer": identity.customer_id}
        ours = await selected_together(session, [(reads[0][0], reads[0][1]), (reads[1][0], params)])
        stop = _through_sqlalchemy(await session.connection())
        try:
            theirs = await selected_together(
                session, [(reads[0][0], reads[0][1]), (reads[1][0], params)]
            )
        finally:
            stop()
        assert ours == theirs
        assert [row.text for row in ours[0]] == ["سلام 1"] and ours[1][0].name == "Sara"


async def test_a_write_on_the_driver_is_part_of_the_sessions_transaction(
    engine: AsyncEngine,
) -> None:
    async with new_sessionmaker(engine)() as session:
        await session.begin()
        _, thread = await _conversation(session)
        thread_id = thread.id
        connection = await session.connection()
        result = await direct.execute(
            connection,
            Thread.__table__.update()
            .where(Thread.id == bindparam("key"))
            .values(tier=bindparam("new_tier")),
            {"key": thread_id, "new_tier": 3},
        )
        # SQLite ran it on its driver; PostgreSQL through SQLAlchemy.
        assert isinstance(result, CursorResult) == (engine.dialect.name != "sqlite")
        assert (await session.scalar(select(Thread.tier).where(Thread.id == thread_id))) == 3
        await session.rollback()
    async with new_sessionmaker(engine)() as session:
        assert await session.get(Thread, thread_id) is None  # rolled back with the rest


async def test_a_refused_write_raises_sqlalchemys_error(engine: AsyncEngine) -> None:
    async with new_sessionmaker(engine)() as session, session.begin():
        identity, _ = await _conversation(session)
        connection = await session.connection()
        again = Identity.__table__.insert().values(
            customer_id=identity.customer_id,
            channel="email",
            address=identity.address,
            verified=False,
            created_at=utcnow(),
        )
        with pytest.raises(IntegrityError) as raised:
            await direct.execute(connection, again, {})
        assert raised.value.orig is not None


async def test_an_in_list_the_caller_gives_is_left_to_sqlalchemy(engine: AsyncEngine) -> None:
    async with new_sessionmaker(engine)() as session, session.begin():
        _, thread = await _conversation(session)
        connection = await session.connection()
        by_ids = select(Message.text).where(Message.thread_id.in_(bindparam("ids")))
        rows = (await direct.execute(connection, by_ids, {"ids": [thread.id, -1]})).all()
        assert sorted(text for (text,) in rows) == ["سلام 0", "سلام 1"]


async def test_a_statement_whose_parts_cannot_be_read_is_left_to_sqlalchemy(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should a SQLAlchemy release rename a compiled statement's part that `direct`
    reads, the statement still runs, through SQLAlchemy."""

    def renamed(*_: Any) -> Any:
        raise AttributeError("'SQLiteCompiler' object has no attribute '_bind_processors'")

    monkeypatch.setattr(direct, "_compiled_parts", renamed)
    async with new_sessionmaker(engine)() as session, session.begin():
        _, thread = await _conversation(session)
        connection = await session.connection()
        texts = select(Message.text).where(Message.thread_id == bindparam("in_thread"))
        result = await direct.execute(connection, texts, {"in_thread": thread.id})
        assert isinstance(result, CursorResult)  # SQLAlchemy's, on both databases
        assert sorted(text for (text,) in result.all()) == ["سلام 0", "سلام 1"]


async def test_many_parameter_sets_are_written_in_the_sessions_transaction(
    engine: AsyncEngine,
) -> None:
    """`execute_many` writes each set, converted as SQLAlchemy converts them (a date),
    as part of the session's transaction: they roll back with it."""
    later = utcnow()
    by_id = (
        Message.__table__.update()
        .where(Message.id == bindparam("row_id"))
        .values(text=bindparam("new_text"), created_at=bindparam("new_at"))
    )
    async with new_sessionmaker(engine)() as session:
        await session.begin()
        _, thread = await _conversation(session)
        ids = list(await session.scalars(select(Message.id).where(Message.thread_id == thread.id)))
        connection = await session.connection()
        await direct.execute_many(
            connection,
            by_id,
            [{"row_id": i, "new_text": f"written {i}", "new_at": later} for i in ids],
        )
        rows = (
            await session.execute(
                select(Message.id, Message.text, Message.created_at).where(Message.id.in_(ids))
            )
        ).all()
        assert sorted((i, text, at) for i, text, at in rows) == [
            (i, f"written {i}", later) for i in sorted(ids)
        ]
        await session.rollback()
    async with new_sessionmaker(engine)() as session:
        assert await session.scalar(select(Message.id).where(Message.id.in_(ids))) is None


async def test_a_refused_set_of_many_raises_sqlalchemys_error(engine: AsyncEngine) -> None:
    async with new_sessionmaker(engine)() as session, session.begin():
        identity, _ = await _conversation(session)
        connection = await session.connection()
        twice = Identity.__table__.insert().values(
            customer_id=identity.customer_id, channel="email", verified=False, created_at=utcnow()
        )
        with pytest.raises(IntegrityError) as raised:
            await direct.execute_many(
                connection, twice, [{"address": "new@example.ir"}, {"address": identity.address}]
            )
        assert raised.value.orig is not None


async def test_a_sessions_later_transaction_gets_its_own_connection(engine: AsyncEngine) -> None:
    """The connection kept for a transaction is not handed to the next one of the
    same session (the first one's is closed by then)."""
    async with new_sessionmaker(engine)() as session:
        async with session.begin():
            first = await transaction_connection(session)
            assert await transaction_connection(session) is first
            assert first.sync_connection is (await session.connection()).sync_connection
        async with session.begin():
            second = await transaction_connection(session)
            assert second.sync_connection is (await session.connection()).sync_connection
            assert (await second.execute(select(1))).scalar() == 1
        assert first.closed
