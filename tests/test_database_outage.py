"""A database that is down, frozen or locked: every channel gives its temporary answer
(API 503 JSON with Retry-After, SMTP 451, web chat `server_error`), nothing hangs past
the configured limits, and service resumes by itself when the database is back.

PostgreSQL is stopped and frozen here on a server of the test's own, never the shared
test server.
"""

from __future__ import annotations

import asyncio
import errno
import json
import smtplib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from config.settings import Settings
from router.context import AppContext
from router.core.ingest import IngestFailed, ingest
from router.core.messages import InboundMessage
from router.core.security import new_token, token_hash
from router.storage.engine import is_database_unavailable
from router.storage.models import ApiToken
from tests.conftest import AppFactory
from tests.email_support import make_mail
from tests.processes import OwnPostgres
from tests.support import create_postgres_database, make_settings
from tests.webchat_fakes import next_frame

pytestmark = pytest.mark.slow

INBOUND = "/api/v1/inbound/messages"


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[OwnPostgres]:
    server = OwnPostgres()
    server.init()
    yield server
    server.remove()


async def _tokens(context: AppContext) -> dict[str, dict[str, str]]:
    """Bearer headers for a new integration and for the agent API (an admin's token)."""
    from router.storage.models import Agent

    integration, agent_token = new_token("pk_int"), new_token("pk_agent")
    async with context.sessions() as session, session.begin():
        agent = Agent(email="a@example.ir", name="A", tier=1, password_hash="x")
        session.add(agent)
        await session.flush()
        session.add(ApiToken(kind="integration", name="shop", token_hash=token_hash(integration)))
        session.add(
            ApiToken(
                kind="agent",
                name=agent.email,
                agent_id=agent.id,
                token_hash=token_hash(agent_token),
            )
        )
    return {
        "integration": {"Authorization": f"Bearer {integration}"},
        "agent": {"Authorization": f"Bearer {agent_token}"},
    }


async def _post(client: TestClient[Any, Any], headers: dict[str, str], n: int) -> Any:
    body = {"id": f"m{n}", "customer": {"external_id": "c1"}, "text": "سفارش من کجاست؟"}
    return await client.post(INBOUND, json=body, headers=headers)


async def _say(ws: Any, text: str, client_id: str) -> dict[str, Any]:
    await ws.send_str(json.dumps({"type": "message", "client_id": client_id, "text": text}))
    while True:
        frame = await next_frame(ws, wait=15)
        if frame["type"] in ("ack", "error"):
            return frame


def _smtp_code(port: int, message_id: str) -> int:
    raw = make_mail(message_id=message_id)
    try:
        smtplib.SMTP("127.0.0.1", port, timeout=30).sendmail(
            "sara@example.ir", ["support@support.localhost"], raw
        )
    except smtplib.SMTPDataError as exc:
        return exc.smtp_code
    return 250


async def test_postgresql_down_every_channel_answers_temporarily_then_recovers(
    own_postgres: OwnPostgres, tmp_path: Path, start_app: AppFactory
) -> None:
    url = await create_postgres_database(own_postgres.url)
    settings = make_settings(tmp_path / "data", url)
    client, context = await start_app(settings)
    headers = await _tokens(context)
    smtp_port = settings.email.smtp_port
    visitor = (await (await client.post("/api/v1/webchat/sessions", json={})).json())[
        "visitor_token"
    ]
    ws = await client.ws_connect("/ws/webchat", params={"token": visitor})
    assert (await next_frame(ws))["type"] == "ready"
    assert (await _post(client, headers["integration"], 0)).status == 202

    own_postgres.stop()
    try:
        response = await _post(client, headers["integration"], 1)
        assert response.status == 503, await response.text()
        assert response.content_type == "application/json"
        assert int(response.headers["Retry-After"]) > 0
        assert (await response.json())["error"]["status"] == 503
        agent_view = await client.get("/api/v1/threads", headers=headers["agent"])
        assert agent_view.status == 503 and agent_view.content_type == "application/json"
        assert "Retry-After" in agent_view.headers
        with pytest.raises(IngestFailed):
            await ingest(
                context,
                InboundMessage(channel="api", external_id="x", sender_address="c", text="hi"),
            )
        assert await asyncio.to_thread(_smtp_code, smtp_port, "<down-1@example.ir>") == 451
        frame = await _say(ws, "سلام", "w1")
        assert frame["type"] == "error" and frame["code"] == "server_error"
        health = await client.get("/healthz")
        assert health.status == 503
    finally:
        own_postgres.start()

    assert (await _post(client, headers["integration"], 1)).status == 202
    assert (await client.get("/api/v1/threads", headers=headers["agent"])).status == 200
    assert await asyncio.to_thread(_smtp_code, smtp_port, "<down-1@example.ir>") == 250
    assert (await _say(ws, "سلام", "w1"))["type"] == "ack"
    assert (await client.get("/healthz")).status == 200
    await ws.close()


async def test_a_frozen_postgresql_gets_answers_within_the_limits(
    own_postgres: OwnPostgres, tmp_path: Path, start_app: AppFactory
) -> None:
    url = await create_postgres_database(own_postgres.url)
    settings = make_settings(
        tmp_path / "data",
        url,
        database={"connect_timeout": 1.0, "statement_timeout": 1.0},
        server={"health_timeout": 2.0},
    )
    client, context = await start_app(settings)
    headers = await _tokens(context)
    assert (await _post(client, headers["integration"], 0)).status == 202

    frozen = own_postgres.freeze()
    try:
        started = time.monotonic()
        health = await client.get("/healthz")
        health_seconds = time.monotonic() - started
        assert health.status == 503
        assert health_seconds < 2.0 + 1.0
        started = time.monotonic()
        response = await _post(client, headers["integration"], 1)
        assert response.status == 503 and response.content_type == "application/json"
        # connect (1 s) or statement (1 s), plus the pool's own check of the connection
        assert time.monotonic() - started < 5.0
    finally:
        own_postgres.thaw(frozen)
    async with asyncio.timeout(30):
        while (await client.get("/healthz")).status != 200:
            await asyncio.sleep(0.2)
    assert (await _post(client, headers["integration"], 1)).status == 202


async def test_a_locked_sqlite_database_answers_503(tmp_path: Path, start_app: AppFactory) -> None:
    db = tmp_path / "pasokh.db"
    settings = make_settings(
        tmp_path / "data", f"sqlite+aiosqlite:///{db}", database={"statement_timeout": 0.5}
    )
    client, context = await start_app(settings)
    headers = await _tokens(context)
    # The app writes too (start-up work), and this event loop must keep running for it
    # to finish: try without blocking until the lock is ours.
    locker = sqlite3.connect(db, timeout=0)
    async with asyncio.timeout(30):
        while True:
            try:
                locker.execute("BEGIN EXCLUSIVE")
                break
            except sqlite3.OperationalError:
                await asyncio.sleep(0.05)
    try:
        started = time.monotonic()
        response = await _post(client, headers["integration"], 1)
        assert response.status == 503 and response.content_type == "application/json"
        assert "Retry-After" in response.headers
        assert time.monotonic() - started < 5.0
    finally:
        locker.rollback()
        locker.close()
    assert (await _post(client, headers["integration"], 1)).status == 202


async def test_healthz_reports_a_full_disk(settings: Settings, start_app: AppFactory) -> None:
    import shutil

    settings = settings.replace("email", enabled=False)  # two apps, one SMTP port
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    free_mb = shutil.disk_usage(settings.data_dir).free // 2**20
    client, _ = await start_app(settings.replace("server", min_free_disk_mb=free_mb + 1024))
    response = await client.get("/healthz")
    assert response.status == 503
    body = await response.json()
    assert body["disk"] == "low" and body["database"] == "ok"
    client, _ = await start_app(settings.replace("server", min_free_disk_mb=1))
    assert (await client.get("/healthz")).status == 200


def test_database_unavailable_is_one_classification() -> None:
    import asyncpg

    unavailable: list[BaseException] = [
        ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
        ConnectionResetError(),
        TimeoutError(),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.ConnectionDoesNotExistError("closed"),
        asyncpg.exceptions.QueryCanceledError("statement timeout"),
        asyncpg.exceptions.AdminShutdownError("terminating"),
        OperationalError("BEGIN", {}, _sqlite_error("database is locked", "SQLITE_BUSY")),
        OperationalError("SELECT", {}, _sqlite_error("disk I/O error", "SQLITE_IOERR")),
        OperationalError("x", {}, _sqlite_error("unable to open database file", "SQLITE_CANTOPEN")),
        OSError(errno.ENOSPC, "No space left on device"),
    ]
    available: list[BaseException] = [
        IntegrityError("INSERT", {}, Exception("duplicate key")),
        ProgrammingError("SELECT", {}, Exception("syntax error")),
        ValueError("bad input"),
        FileNotFoundError(errno.ENOENT, "no such file"),
    ]
    for exc in unavailable:
        assert is_database_unavailable(exc), exc
    for exc in available:
        assert not is_database_unavailable(exc), exc
    wrapped = RuntimeError("while storing")
    wrapped.__cause__ = ConnectionRefusedError()
    assert is_database_unavailable(wrapped)


def _sqlite_error(message: str, name: str) -> sqlite3.OperationalError:
    error = sqlite3.OperationalError(message)
    error.sqlite_errorname = name
    return error
