"""Logs of a real `pasokh serve`: JSON lines, ids per ingest and delivery, no bodies, no secrets."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from router.core.security import new_token, token_hash
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.models import ApiToken
from tests.processes import ServeProcess
from tests.support import free_port

pytestmark = pytest.mark.slow

SECRET_KEY = "s3cret-key-that-must-never-be-logged-0123456789"
BODY = "رمز کارت من ۱۲۳۴ است zebra-quartz-body"


async def test_json_log_lines_name_ids_and_never_bodies_or_secrets(
    tmp_path: Path, database_url: str
) -> None:
    engine = new_engine(database_url)
    token = new_token("pk_int")
    async with new_sessionmaker(engine)() as session, session.begin():
        session.add(ApiToken(kind="integration", name="logs", token_hash=token_hash(token)))
    await engine.dispose()
    env = {
        "PASOKH_DATABASE__URL": database_url,
        "PASOKH_SERVER__SECRET_KEY": SECRET_KEY,
        "PASOKH_SERVER__LOG_FORMAT": "json",
        "PASOKH_SERVER__LOG_LEVEL": "INFO",
    }
    server = ServeProcess(tmp_path / "data", free_port(), env)
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            url = f"{server.url}/api/v1/inbound/messages"
            body = {"id": "log-1", "customer": {"external_id": "c1"}, "text": BODY}
            headers = {"Authorization": f"Bearer {token}"}
            async with session.post(url, json=body, headers=headers) as response:
                assert response.status == 202
                ids = await response.json()
            bad = {"Authorization": "Bearer pk_int_wrong-token-value"}
            async with session.post(url, json=body, headers=bad) as response:
                assert response.status == 401
            async with session.post(url, data=b"{broken " + BODY.encode(), headers=headers) as r:
                assert r.status == 400
            # The bot's answer goes through the outbox; wait for its delivery line.
            for _ in range(100):
                if '"router.core.outbox_worker"' in server.log_path.read_text("utf-8"):
                    break
                await asyncio.sleep(0.05)
    finally:
        server.terminate()

    lines = [line for line in server.log_path.read_text("utf-8").splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    ingest = [e["message"] for e in entries if e["logger"] == "router.core.ingest"]
    assert any(
        f"message={ids['message_id']} thread={ids['thread_id']} customer={ids['customer_id']}"
        in line
        for line in ingest
    )
    assert any(
        e["logger"] == "router.core.outbox_worker" and "delivery" in e["message"] for e in entries
    )
    assert any("reason=bad_body" in e["message"] for e in entries)
    assert any("unknown or revoked integration token" in e["message"] for e in entries)
    text = "\n".join(lines)
    for secret in (SECRET_KEY, token, "wrong-token-value"):
        assert secret not in text
    assert "zebra-quartz-body" not in text and "۱۲۳۴" not in text
