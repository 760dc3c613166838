"""A real `pasokh serve` killed with SIGKILL mid-stream loses nothing it acknowledged,
and a client that retries what went unanswered ends with each message stored once."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from router.core.security import new_token, token_hash
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.models import ApiToken, Message
from tests.processes import ServeProcess
from tests.support import free_port

pytestmark = pytest.mark.slow

TOTAL = 300


async def test_sigkill_mid_stream_loses_and_doubles_nothing(
    tmp_path: Path, database_url: str
) -> None:
    engine = new_engine(database_url)
    sessions = new_sessionmaker(engine)
    token = new_token("pk_int")
    async with sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name="crash", token_hash=token_hash(token)))

    env = {"PASOKH_DATABASE__URL": database_url, "PASOKH_SERVER__SECRET_KEY": "k" * 40}
    server = ServeProcess(tmp_path / "data", free_port(), env)
    await server.start()
    headers = {"Authorization": f"Bearer {token}"}
    acknowledged: dict[int, int] = {}  # message number -> message_id

    async def send(session: aiohttp.ClientSession, n: int) -> bool:
        body = {"id": f"msg-{n}", "customer": {"external_id": f"c{n % 7}"}, "text": f"n={n}"}
        try:
            async with session.post(
                f"{server.url}/api/v1/inbound/messages", json=body, headers=headers
            ) as response:
                if response.status in (200, 202):
                    acknowledged[n] = (await response.json())["message_id"]
                    return True
        except (TimeoutError, aiohttp.ClientError):
            pass
        return False

    async def stream(session: aiohttp.ClientSession) -> None:
        pending = list(range(TOTAL))
        while pending:
            batch, pending = pending[:8], pending[8:]
            await asyncio.gather(*(send(session, n) for n in batch))

    async def killer() -> None:
        while len(acknowledged) < random.randint(40, 120):
            await asyncio.sleep(0.005)
        server.kill()

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(stream(session), killer())
    acknowledged_before_kill = dict(acknowledged)
    assert 0 < len(acknowledged_before_kill) < TOTAL, "the kill must land mid-stream"

    # Everything acknowledged before the kill is durable.
    async with sessions() as session:
        stored = set(await session.scalars(select(Message.id).where(Message.direction == "in")))
    assert set(acknowledged_before_kill.values()) <= stored

    # Restart and retry what went unanswered (and, to be strict, everything).
    await server.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            for n in range(TOTAL):
                assert await send(session, n), f"message {n} refused after restart"
    finally:
        server.terminate()

    for n, message_id in acknowledged_before_kill.items():
        assert acknowledged[n] == message_id, "a redelivery must answer with the first ids"
    async with sessions() as session:
        texts = list(await session.scalars(select(Message.text).where(Message.direction == "in")))
        count = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "in")
        )
    await engine.dispose()
    assert count == TOTAL
    assert sorted(texts) == sorted(f"n={n}" for n in range(TOTAL))
