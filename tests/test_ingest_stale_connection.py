"""PostgreSQL connections the server cut (a restart, a failover, an administrator's
`pg_terminate_backend`) cost no message: the pool does not ping every connection it
hands out (a round trip each), so a write that finds its connection gone runs again
once on a fresh one, and a connection the server already closed is not handed out (one
handed out in the instant before asyncpg sees the socket close counts as a disconnect).
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from router.core.transaction import Effects, write
from router.storage.engine import _cut_connection_is_a_disconnect, new_engine
from router.storage.models import Customer, Message
from tests.conftest import AppFactory
from tests.support import outbox_drained
from tests.test_api_channel import _integration_token

pytestmark = pytest.mark.postgresql  # no server to cut a connection on SQLite

# Each backend is waited for (up to 5 s) until it has exited, as after a restart: a
# backend still exiting could take the next statement before its socket closes.
CUT_OTHERS = (
    "SELECT count(pg_terminate_backend(pid, 5000)) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    " AND backend_type = 'client backend'"
)


async def _cut_every_connection(database_url: str) -> int:
    engine = new_engine(database_url)
    try:
        async with engine.connect() as connection:
            return int(await connection.scalar(text(CUT_OTHERS)) or 0)
    finally:
        await engine.dispose()


async def test_messages_after_the_server_cut_every_connection_land_once(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context = await start_app(settings.replace("email", enabled=False))
    headers = {"Authorization": f"Bearer {await _integration_token(context)}"}
    for n in range(4):
        body = {"id": f"m-{n}", "customer": {"external_id": "c-1"}, "text": f"message {n}"}
        response = await client.post("/api/v1/inbound/messages", json=body, headers=headers)
        assert response.status == 202, await response.text()
        await outbox_drained(context, timeout=30)
        assert await _cut_every_connection(settings.database_url) >= 1
    # Counted on a connection of its own: the app's pooled ones were just cut.
    engine = new_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            stored = await connection.scalar(
                select(func.count()).select_from(Message).where(Message.direction == "in")
            )
    finally:
        await engine.dispose()
    assert stored == 4


def test_a_statement_on_a_connection_cut_an_instant_ago_counts_as_a_disconnect() -> None:
    """What asyncpg raises when the server's "terminating connection" has been read but
    the socket is not closed yet: the pool must drop that connection, not keep it."""

    class InternalClientError(Exception):
        pass

    class Context:
        original_exception: Exception = InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        )
        is_disconnect = False

    context = Context()
    _cut_connection_is_a_disconnect(context)
    assert context.is_disconnect
    other = Context()
    other.original_exception = ValueError("another operation")
    _cut_connection_is_a_disconnect(other)
    assert not other.is_disconnect


async def test_a_write_whose_connection_is_cut_runs_again_once(
    settings: Settings, start_app: AppFactory
) -> None:
    _, context = await start_app(settings.replace("email", enabled=False))
    runs = 0

    async def work(session: AsyncSession, _: Effects) -> int:
        nonlocal runs
        runs += 1
        if runs == 1:
            # The server drops this very connection mid-transaction, before the write.
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            engine = new_engine(settings.database_url)
            try:
                async with engine.connect() as other:
                    await other.execute(text(f"SELECT pg_terminate_backend({int(pid)})"))
            finally:
                await engine.dispose()
        customer = Customer(name="after the cut")
        session.add(customer)
        await session.flush()
        return customer.id

    customer_id = await write(context, work)
    assert runs == 2
    async with context.read_sessions() as session:
        names = list(await session.scalars(select(Customer.name).where(Customer.id == customer_id)))
    assert names == ["after the cut"]
