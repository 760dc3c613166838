"""Service levels against a running `pasokh serve`: a calendar PUT through the API sets
the first-response deadline of a thread opened afterwards, and closing the day it named
moves the deadline to the next opening (the server's own scheduler recomputes it)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from router.core.messages import utcnow
from router.core.security import new_token, token_hash
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.models import Agent, ApiToken
from tests.processes import ServeProcess
from tests.support import free_port

pytestmark = pytest.mark.slow

TEHRAN = ZoneInfo("Asia/Tehran")
TARGET_MINUTES = 30


async def _tokens(database_url: str) -> tuple[str, str]:
    """An admin agent's API token and an integration token, as the CLI would make them."""
    admin, integration = new_token("pk_agent"), new_token("pk_int")
    engine = new_engine(database_url)
    async with new_sessionmaker(engine)() as session, session.begin():
        agent = Agent(
            email="admin@example.com",
            name="Admin",
            tier=1,
            is_admin=True,
            presence="offline",
            presence_changed_at=utcnow(),
        )
        session.add(agent)
        await session.flush()
        session.add_all(
            [
                ApiToken(
                    kind="agent", name=agent.email, agent_id=agent.id, token_hash=token_hash(admin)
                ),
                ApiToken(kind="integration", name="sla", token_hash=token_hash(integration)),
            ]
        )
    await engine.dispose()
    return admin, integration


class Server:
    """Calls to a running server's API with one bearer token."""

    def __init__(self, http: aiohttp.ClientSession, url: str, token: str) -> None:
        self.http, self.url, self.headers = http, url, {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(
            method, f"{self.url}{path}", json=body, headers=self.headers
        ) as response:
            return response.status, await response.json()

    async def first_response_due(self, thread_id: int) -> datetime | None:
        status, body = await self.call("GET", f"/api/v1/threads/{thread_id}")
        assert status == 200, body
        due = body["thread"]["sla"]["first_response_due"]
        return None if due is None else datetime.fromisoformat(due)


def _calendar(open_days: list[date], closed_days: list[date]) -> dict[str, Any]:
    """Open only on `open_days`, 10:00-12:00 Tehran: no weekly hours at all."""
    return {
        "timezone": "Asia/Tehran",
        "week": {},
        "holidays": None,
        "closed": [day.isoformat() for day in closed_days],
        "open": [day.isoformat() for day in open_days],
        "open_date_hours": [["10:00", "12:00"]],
    }


async def test_a_calendar_put_to_a_running_server_sets_and_moves_the_due_time(
    tmp_path: Path, database_url: str
) -> None:
    admin, integration = await _tokens(database_url)
    env = {
        "PASOKH_DATABASE__URL": database_url,
        "PASOKH_SERVER__SECRET_KEY": "k" * 40,
        # The scheduler that recomputes deadlines after a calendar change, often.
        "PASOKH_SERVICE__SCHEDULER_INTERVAL_SECONDS": "0.2",
    }
    server = ServeProcess(tmp_path / "data", free_port(), env)
    await server.start()
    # Days after tomorrow in Tehran: their hours are in the future whenever this runs.
    today = utcnow().astimezone(TEHRAN).date()
    first, second = today + timedelta(days=3), today + timedelta(days=4)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            api = Server(http, server.url, admin)
            status, body = await api.call(
                "PUT", "/api/v1/calendars/future", _calendar([first, second], [])
            )
            assert status == 200, body
            policy = {
                "priority": "normal",
                "calendar": "future",
                "business_hours": True,
                "first_response_minutes": TARGET_MINUTES,
                "next_response_minutes": 60,
                "resolution_minutes": 240,
            }
            status, body = await api.call("PUT", "/api/v1/sla-policies/normal", policy)
            assert status == 200, body

            customer = Server(http, server.url, integration)
            status, body = await customer.call(
                "POST",
                "/api/v1/inbound/messages",
                {
                    "id": "m-1",
                    "customer": {"external_id": "c-1"},
                    "text": "I want to talk to a human",
                    "language": "en",
                },
            )
            assert status == 202, body
            thread_id = body["thread_id"]
            opening = datetime.combine(first, datetime.min.time(), TEHRAN).replace(hour=10)
            assert await api.first_response_due(thread_id) == opening + timedelta(
                minutes=TARGET_MINUTES
            )

            # That day closed: the server's scheduler moves the deadline to the next day.
            status, body = await api.call(
                "PUT", "/api/v1/calendars/future", _calendar([second], [first])
            )
            assert status == 200, body
            moved = opening + timedelta(days=1, minutes=TARGET_MINUTES)
            async with asyncio.timeout(30):
                while await api.first_response_due(thread_id) != moved:
                    await asyncio.sleep(0.1)
    finally:
        server.terminate()
