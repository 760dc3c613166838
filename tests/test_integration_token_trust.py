"""The API channel's token check: trusted in the process, refused everywhere once revoked.

Two apps on one database stand for two processes. On PostgreSQL a token found live is
trusted for a while without reading it again, and a revocation committed through any
process (`router.http.auth.revoke_integration`, the one `pasokh integration revoke`
runs) reaches every process's bus at commit, which forgets what it trusted. On SQLite
the revocation's commit appends to the database's revocation file, which every
request looks at (a `stat`) before it trusts a token.
"""

from __future__ import annotations

import asyncio
import logging
import re
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from config.settings import Settings
from router.context import AppContext
from router.core.events import Event, EventsResumed, IntegrationRevoked, Typing
from router.core.security import new_token, token_hash
from router.http.auth import (
    IntegrationTokenCheck,
    _append_revocation,
    revocation_file,
    revoke_integration,
)
from router.storage.models import ApiToken
from tests.agent_support import eventually
from tests.conftest import AppFactory
from tests.test_ingest_statements import statements_like
from tests.test_outreach_integration_scope import _pasokh as pasokh

URL = "/api/v1/inbound/messages"
TOKEN_READ = re.compile(r"\bFROM api_tokens\b")


async def _add_integration(context: AppContext, name: str) -> dict[str, str]:
    token = new_token("pk_int")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name=name, token_hash=token_hash(token)))
    return {"Authorization": f"Bearer {token}"}


async def _post(client: TestClient[Any, Any], headers: dict[str, str], message_id: str) -> int:
    body = {"id": message_id, "customer": {"external_id": "c-1"}, "text": "hello"}
    response = await client.post(URL, json=body, headers=headers)
    await response.read()
    return response.status


async def _two_integrations_in_use(
    client: TestClient[Any, Any], context: AppContext
) -> tuple[dict[str, str], dict[str, str]]:
    """Integrations "crm" and "shop", each with messages accepted (so trusted)."""
    crm = await _add_integration(context, "crm")
    shop = await _add_integration(context, "shop")
    for number in range(2):
        assert await _post(client, crm, f"crm-{number}") == 202
    assert await _post(client, shop, "shop-0") == 202
    return crm, shop


def token_reads(context: AppContext) -> AbstractContextManager[list[str]]:
    """The statements reading `api_tokens` on `context`'s engine while inside."""
    return statements_like(context, TOKEN_READ)


async def _next(queue: asyncio.Queue[Event], kind: type[Any]) -> Any:
    async with asyncio.timeout(10):
        while True:
            found = await queue.get()
            if isinstance(found, kind):
                return found


async def test_a_token_revoked_through_one_process_is_refused_by_the_other(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    settings = settings.replace("email", enabled=False)
    (client_a, context_a), (_, context_b) = [await start_app(settings) for _ in range(2)]
    crm, shop = await _two_integrations_in_use(client_a, context_a)

    async with context_a.events.subscription() as events_a:
        async with context_b.sessions() as session, session.begin():
            assert await revoke_integration(session, "crm") == 1
        if db_kind == "postgresql":
            # What the revocation's commit sent; A had it by the time a request could.
            assert (await _next(events_a, IntegrationRevoked)).name == "crm"
    assert await _post(client_a, crm, "crm-2") == 401
    # Another integration's token is looked up again, and still live.
    assert await _post(client_a, shop, "shop-1") == 202


async def test_a_trusted_token_is_not_read_again(settings: Settings, start_app: AppFactory) -> None:
    client, context = await start_app(settings.replace("email", enabled=False))
    crm = await _add_integration(context, "crm")
    assert await _post(client, crm, "first") == 202
    with token_reads(context) as reads:
        assert await _post(client, crm, "second") == 202
    assert reads == []


async def test_the_revoke_command_in_another_process_ends_trust_for_the_next_request(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    client, context = await start_app(settings.replace("email", enabled=False))
    crm, shop = await _two_integrations_in_use(client, context)
    async with context.events.subscription() as events:
        out = await pasokh(
            settings, "integration", "revoke", "crm", "--data-dir", str(settings.data_dir)
        )
        assert "revoked 1 token of crm" in out
        if db_kind == "postgresql":
            # The window PostgreSQL leaves: the notification's way to this process.
            assert (await _next(events, IntegrationRevoked)).name == "crm"
    assert await _post(client, crm, "crm-2") == 401
    with token_reads(context) as reads:
        assert await _post(client, shop, "shop-1") == 202
    assert len(reads) == 1, "the other token is looked up again, once"
    assert await _post(client, shop, "shop-2") == 202


async def test_after_the_bus_reconnects_every_token_is_read_again(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    """A revocation sent while the bus was cut is lost to the process: trust ends."""
    if db_kind == "sqlite":
        return  # no bus connection to lose, and nothing trusted
    client, context = await start_app(settings.replace("email", enabled=False))
    crm = await _add_integration(context, "crm")
    assert await _post(client, crm, "first") == 202
    async with context.events.subscription() as events:
        async with context.engine.connect() as connection:
            cut = await connection.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = 'pasokh events' AND datname = current_database()"
                )
            )
        assert cut == 1
        await _next(events, EventsResumed)
    with token_reads(context) as reads:
        assert await _post(client, crm, "second") == 202
    assert len(reads) == 1, reads


async def test_a_revocation_dropped_from_a_full_queue_ends_trust_after_the_queue_drains(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    """A burst of events fills the check's queue and its revocation is dropped; its
    consumer drains the queue before any request looks, so nothing but the drop itself
    is left to tell the check it may have missed a revocation."""
    if db_kind == "sqlite":
        return  # no bus between processes, and nothing trusted
    _, context = await start_app(settings.replace("email", enabled=False))
    check = IntegrationTokenCheck(context)
    await check.start()
    token = new_token("pk_int")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name="crm", token_hash=token_hash(token)))
    token_id = await check.token_id(token)
    assert token_id is not None
    with token_reads(context) as reads:
        assert await check.token_id(token) == token_id
    assert reads == []  # trusted
    async with context.sessions() as session, session.begin():
        await session.execute(text("UPDATE api_tokens SET revoked_at = now() WHERE name = 'crm'"))
    # Other events, then the revocation, with no await between: more than the queue
    # holds, as a burst of other processes' notifications read while the loop was busy.
    for _ in range(1000):
        context.events.publish(Typing(thread_id=0, customer_id=0, who="customer"))
    context.events.publish(IntegrationRevoked("crm"))
    queue = check._events
    assert queue is not None

    async def drained() -> bool:
        return queue.empty()

    await eventually(drained)
    try:
        assert await check.token_id(token) is None
    finally:
        await check.stop()


def test_a_revocation_file_that_cannot_be_written_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Raised after the commit, it would report a committed revocation as failed.
    unwritable = tmp_path / "pasokh.db-revocations"
    unwritable.mkdir()
    with caplog.at_level(logging.ERROR, logger="router.http.auth"):
        _append_revocation(unwritable)
    assert "could not mark the revocation" in caplog.text


def test_an_in_memory_database_has_no_revocation_file() -> None:
    assert revocation_file(make_url("sqlite+aiosqlite:///:memory:")) is None
    assert revocation_file(make_url("sqlite+aiosqlite:////data/pasokh.db")) == Path(
        "/data/pasokh.db-revocations"
    )
