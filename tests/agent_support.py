"""Helpers for agent queue and API tests: agents with tokens, queued threads, polling."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from router.agents.queue import Actor
from router.context import AppContext
from router.core.messages import utcnow
from router.core.security import new_token, token_hash
from router.storage.models import Agent, ApiToken, Thread


@dataclass(frozen=True)
class AgentUser:
    id: int
    email: str
    name: str
    tier: int
    is_admin: bool
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def actor(self) -> Actor:
        return Actor(self.id, self.name, self.tier, self.is_admin)


async def make_agent(
    context: AppContext,
    name: str,
    *,
    tier: int = 1,
    is_admin: bool = False,
    max_concurrent: int = 5,
    presence: str = "offline",
) -> AgentUser:
    """An agent with an API token, as `pasokh agent add` + `agent token` would make."""
    token = new_token("pk_agent")
    email = f"{name.lower()}@example.com"
    async with context.sessions() as session, session.begin():
        agent = Agent(
            email=email,
            name=name,
            tier=tier,
            is_admin=is_admin,
            max_concurrent=max_concurrent,
            presence=presence,
            presence_changed_at=utcnow(),
        )
        session.add(agent)
        await session.flush()
        session.add(
            ApiToken(kind="agent", name=email, agent_id=agent.id, token_hash=token_hash(token))
        )
    return AgentUser(agent.id, email, name, tier, is_admin, token)


async def get_thread(context: AppContext, thread_id: int) -> Thread:
    async with context.sessions() as session:
        thread = await session.get(Thread, thread_id)
        assert thread is not None
        return thread


async def count_rows(context: AppContext, model: Any, *where: Any) -> int:
    async with context.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll `check` until it is true (fails the test after `timeout`)."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def api(
    client: TestClient[Any, Any],
    method: str,
    path: str,
    agent: AgentUser | None = None,
    **kwargs: Any,
) -> tuple[int, Any]:
    """Call the API; (status, decoded JSON body or None)."""
    headers = dict(kwargs.pop("headers", {}))
    if agent is not None:
        headers.update(agent.headers)
    response = await client.request(method, path, headers=headers, **kwargs)
    body = await response.json() if response.content_type == "application/json" else None
    return response.status, body
