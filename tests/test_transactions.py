"""Transactions: reads never queue for SQLite's write lock, every write path takes it.

A console poll answers while another process holds the database's write lock (on
SQLite a write session would begin IMMEDIATE and wait for it); the queue's claim and an
agent's reply open their write sessions inside `AppContext.writing()`.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from router.agents import queue
from router.agents.replies import post_message
from router.context import AppContext
from router.core.responder import QueueEveryThread
from router.storage.engine import (
    new_engine,
    new_read_sessionmaker,
    new_sessionmaker,
    read_in_transaction,
)
from tests.agent_support import api, make_agent
from tests.console_support import add_agent, sign_in
from tests.support import FakeAdapter, make_settings

# The endpoints the console calls while it is open (its polls and reloads), and the
# agent API reads an integration polls.
POLLS = (
    "/console/session",
    "/api/v1/threads",
    "/api/v1/threads?status=queued&tier=1",
    "/api/v1/threads/{thread}",
    "/api/v1/customers/{customer}",
    "/api/v1/customers/{customer}/claims",
    "/api/v1/agents",
    "/api/v1/agents/me",
    "/api/v1/agents/me/presence",
    "/api/v1/canned",
    "/api/v1/queue/stats",
    "/healthz",
)


@asynccontextmanager
async def _another_writer(context: AppContext) -> AsyncIterator[None]:
    """Hold the database's write lock from another connection, as a second process's
    writer would (SQLite: BEGIN IMMEDIATE; PostgreSQL: the tables locked for writes)."""
    url = make_url(context.settings.database_url)
    if url.get_backend_name() == "sqlite":
        connection = sqlite3.connect(
            str(url.database), timeout=10.0, isolation_level=None, check_same_thread=False
        )
        await asyncio.to_thread(connection.execute, "BEGIN IMMEDIATE")
        try:
            yield
        finally:
            connection.execute("ROLLBACK")
            connection.close()
        return
    async with context.engine.connect() as connection:
        await connection.execute(
            text("LOCK TABLE threads, agents, api_tokens, console_sessions IN EXCLUSIVE MODE")
        )
        yield
        await connection.rollback()


async def test_console_polls_answer_while_another_writer_holds_the_lock(
    tmp_path: Any, database_url: str, start_app: Any
) -> None:
    # A write session would wait this long for the lock, then fail the request.
    settings: Settings = make_settings(
        tmp_path / "data", database_url, database={"statement_timeout": 2.0}
    )
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    result = await adapter.push("I need a person", sender="customer-1", language="en")
    sara = await make_agent(context, "Sara")
    await add_agent(context, "reza@example.com")
    await sign_in(client, "reza@example.com")
    paths = [p.format(thread=result.thread_id, customer=result.customer_id) for p in POLLS]
    # First use of the token records its use (a write, at most once a minute).
    assert (await api(client, "GET", "/api/v1/agents/me", sara))[0] == 200

    async with _another_writer(context):
        for path in paths:
            by_token, _ = await api(client, "GET", path, sara)
            by_cookie = await client.get(path)  # the console's session cookie
            assert (path, by_token, by_cookie.status) == (path, 200, 200)


@contextmanager
def _write_sessions(context: AppContext) -> Iterator[list[bool]]:
    """For each write session this task opens: was it inside `context.writing()`?"""
    task = asyncio.current_task()
    writing, sessions = context.writing, context.sessions
    inside: set[asyncio.Task[Any] | None] = set()
    opened: list[bool] = []

    @asynccontextmanager
    async def recorded_writing() -> AsyncIterator[None]:
        async with writing():
            inside.add(asyncio.current_task())
            try:
                yield
            finally:
                inside.discard(asyncio.current_task())

    def recorded_sessions() -> AsyncSession:
        if asyncio.current_task() is task:
            opened.append(task in inside)
        return sessions()

    context.writing = recorded_writing  # type: ignore[method-assign]
    context.sessions = recorded_sessions  # type: ignore[assignment]
    try:
        yield opened
    finally:
        context.writing, context.sessions = writing, sessions  # type: ignore[method-assign]


async def test_claim_and_reply_take_the_write_lock(settings: Settings, start_app: Any) -> None:
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    result = await adapter.push("I need a person", sender="customer-1", language="en")
    sara = await make_agent(context, "Sara")

    with _write_sessions(context) as opened:
        await queue.claim(context, sara.actor, result.thread_id)
        await post_message(context, sara.actor, result.thread_id, text="Hello, I am Sara.")
        await queue.resolve(context, sara.actor, result.thread_id)

    assert len(opened) == 3
    assert all(opened), opened


async def test_reads_send_no_begin_on_postgres_and_writes_stay_in_transactions(
    database_url: str, db_kind: str
) -> None:
    """On PostgreSQL (READ COMMITTED: a snapshot per statement anyway) a read session's
    statements run in autocommit, saving BEGIN and ROLLBACK round trips; the same pooled
    connection, handed to a write session next, is transactional again. (SQLite's read
    transaction is deferred and takes no lock: there is no round trip to save, and the
    write session's all-or-nothing is checked the same way.)"""
    postgres = db_kind == "postgresql"
    engine = new_engine(database_url, pool_size=1)
    reads, writes = new_read_sessionmaker(engine), new_sessionmaker(engine)

    async def in_transaction(session: AsyncSession) -> bool:
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None
        return bool(driver.is_in_transaction())

    try:
        for _ in range(2):  # the one connection goes back and forth between the two
            async with reads() as session:
                assert await session.scalar(text("SELECT 1")) == 1
                assert not postgres or not await in_transaction(session)
            async with writes() as session, session.begin():
                await session.execute(text("SELECT 1"))
                assert not postgres or await in_transaction(session)
        # A write session's work is still all or nothing after the read used the connection.
        async with writes() as session:
            async with session.begin():
                await session.execute(text("CREATE TEMP TABLE probe (n int)"))
            with pytest.raises(RuntimeError):
                async with session.begin():
                    await session.execute(text("INSERT INTO probe VALUES (1)"))
                    raise RuntimeError("roll back")
            assert await session.scalar(text("SELECT count(*) FROM probe")) == 0
    finally:
        await engine.dispose()


async def test_a_read_session_given_a_transaction_keeps_its_transaction_settings(
    database_url: str,
) -> None:
    """A report sets `work_mem` and `jit` for its transaction only, and a file sweep
    streams through a server-side cursor: in a read session on PostgreSQL both need
    the transaction `read_in_transaction` gives it back (on SQLite it does nothing)."""
    engine = new_engine(database_url)
    reads = new_read_sessionmaker(engine)
    try:
        async with reads() as session:
            await read_in_transaction(session)
            if engine.dialect.name == "postgresql":
                await session.execute(text("SELECT set_config('work_mem', '77MB', true)"))
                assert await session.scalar(text("SHOW work_mem")) == "77MB"
            streamed = await session.stream_scalars(text("SELECT 1 UNION ALL SELECT 2"))
            assert [n async for n in streamed] == [1, 2]
    finally:
        await engine.dispose()
