"""Limits every process spends from (router.core.rate_limits): on PostgreSQL one
budget in the database; on the embedded SQLite (one process) in memory."""

from __future__ import annotations

import asyncio
import json

from config.settings import Settings
from router.core.rate_limits import DatabaseRateLimits, MemoryRateLimits, rate_limits_for
from router.core.responder import QueueEveryThread
from router.storage.engine import new_engine
from tests.conftest import AppFactory
from tests.test_webchat_app import connect, new_token
from tests.webchat_fakes import next_frame


async def test_a_visitors_rate_is_one_budget_across_processes(
    start_app: AppFactory, settings: Settings, db_kind: str
) -> None:
    settings = settings.replace("webchat", enabled=True, rate_limit_per_minute=3).replace(
        "email", enabled=False
    )
    (client_a, context_a), (client_b, _) = [
        await start_app(settings, responder=QueueEveryThread()) for _ in range(2)
    ]
    if db_kind == "sqlite":
        assert isinstance(rate_limits_for(context_a.engine), MemoryRateLimits)
        return
    token = await new_token(client_a)
    sockets = [await connect(client_a, token), await connect(client_b, token)]
    answers = []
    for n in range(4):  # two tabs, one on each process, take turns
        ws = sockets[n % 2]
        frame = {"type": "message", "client_id": f"m{n}", "text": f"پیام {n}"}
        await ws.send_str(json.dumps(frame, ensure_ascii=False))
        while True:
            reply = await next_frame(ws)
            if reply["type"] in ("ack", "error"):
                answers.append(reply["type"] if reply["type"] == "ack" else reply["code"])
                break
    assert answers == ["ack", "ack", "ack", "rate_limited"]


async def test_concurrent_takes_from_two_processes_never_overspend(
    settings: Settings, db_kind: str
) -> None:
    engines = [new_engine(settings.database_url) for _ in range(2)]
    try:
        if db_kind == "sqlite":
            assert isinstance(rate_limits_for(engines[0]), MemoryRateLimits)
            return
        limits = [DatabaseRateLimits(engine) for engine in engines]
        waits = await asyncio.gather(
            *(
                limits[n % 2].take("email:auto-replies", "a@example.com", 5, 3600.0)
                for n in range(20)
            )
        )
        assert sum(1 for wait in waits if wait == 0.0) == 5
        assert all(wait > 0 for wait in waits if wait)
        await limits[0].refund("email:auto-replies", "a@example.com", 5, 3600.0)
        assert await limits[1].take("email:auto-replies", "a@example.com", 5, 3600.0) == 0.0
        # Another recipient has its own bucket.
        assert await limits[1].take("email:auto-replies", "b@example.com", 5, 3600.0) == 0.0
    finally:
        for engine in engines:
            await engine.dispose()
