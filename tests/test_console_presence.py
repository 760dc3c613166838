"""Presence follows the console: opening it puts an offline agent online; closing the
last console socket puts them offline unless they come back within the delay."""

from __future__ import annotations

import asyncio
from typing import Any

from config.settings import Settings
from router.agents.console_sockets import socket_locks_for
from router.context import AppContext
from router.storage.models import Agent
from tests.console_support import add_agent, sign_in

EMAIL = "sara@example.com"


async def _presence(context: AppContext, agent_id: int) -> str:
    async with context.sessions() as session:
        agent = await session.get(Agent, agent_id)
    assert agent is not None
    return agent.presence


async def _wait_presence(context: AppContext, agent_id: int, wanted: str) -> None:
    for _ in range(100):
        if await _presence(context, agent_id) == wanted:
            return
        await asyncio.sleep(0.05)
    assert await _presence(context, agent_id) == wanted


async def _open(client: Any) -> Any:
    origin = str(client.make_url("/")).rstrip("/")
    ws = await client.ws_connect("/ws/console", headers={"Origin": origin})
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    return ws


async def test_console_socket_drives_presence(settings: Settings, start_app: Any) -> None:
    client, context = await start_app(settings.replace("console", offline_after_seconds=0.3))
    agent_id = await add_agent(context, EMAIL)
    never_console = await add_agent(context, "api-only@example.com")
    async with context.sessions() as session, session.begin():
        other = await session.get(Agent, never_console)
        assert other is not None
        other.presence = "online"
    await sign_in(client, EMAIL)
    assert await _presence(context, agent_id) == "offline"

    async with context.events.subscription() as events:
        first = await _open(client)
        await _wait_presence(context, agent_id, "online")
        seen = await asyncio.wait_for(events.get(), timeout=5)
        assert (getattr(seen, "agent_id", None), getattr(seen, "status", None)) == (
            agent_id,
            "online",
        )

    # A second tab, then the first closes: still online. A reload: still online.
    second = await _open(client)
    await first.close()
    await second.close()
    reopened = await _open(client)
    # A witness: another agent's console opens and closes after the reload. Their delay
    # started later than any of Sara's could have, so once they are offline, Sara's
    # would have run out too.
    witness = await add_agent(context, "witness@example.com")
    client.session.cookie_jar.clear()  # Sara's open sockets keep their session
    await sign_in(client, "witness@example.com")
    await (await _open(client)).close()
    await _wait_presence(context, witness, "offline")
    assert await _presence(context, agent_id) == "online"
    client.session.cookie_jar.clear()
    await sign_in(client, EMAIL)

    # An agent who chose "away" stays away when a console opens.
    async with context.sessions() as session, session.begin():
        row = await session.get(Agent, agent_id)
        assert row is not None
        row.presence = "away"
    extra = await _open(client)  # the console settles presence before its hello
    assert await _presence(context, agent_id) == "away"

    # The last console closes and nobody comes back: offline.
    await extra.close()
    await reopened.close()
    await _wait_presence(context, agent_id, "offline")
    assert await _presence(context, never_console) == "online"


async def test_a_console_open_in_another_process_keeps_the_agent_online(
    settings: Settings, start_app: Any, db_kind: str
) -> None:
    settings = settings.replace("console", offline_after_seconds=0.3)
    settings = settings.replace("email", enabled=False)  # one SMTP port for two processes
    (client_a, context_a), (client_b, _) = [await start_app(settings) for _ in range(2)]
    if db_kind == "sqlite":
        # One process owns an embedded database: its own count is the whole truth.
        assert socket_locks_for(context_a.engine) is None
        return
    agent_id = await add_agent(context_a, EMAIL)
    witness = await add_agent(context_a, "witness@example.com")
    await sign_in(client_a, EMAIL)
    await sign_in(client_b, EMAIL)
    on_a = await _open(client_a)
    await (await _open(client_b)).close()  # a tab through the other process closes
    # The witness's delay on B started later than Sara's: once they are offline,
    # Sara's has run out too.
    client_b.session.cookie_jar.clear()
    await sign_in(client_b, "witness@example.com")
    await (await _open(client_b)).close()
    await _wait_presence(context_a, witness, "offline")
    assert await _presence(context_a, agent_id) == "online"
    await on_a.close()
    await _wait_presence(context_a, agent_id, "offline")
