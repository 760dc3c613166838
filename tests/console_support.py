"""Helpers for the agent console tests: agents, tokens and a signed-in client."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from router.context import AppContext
from router.core.security import new_token, token_hash
from router.storage.models import (
    Agent,
    ApiToken,
    Customer,
    Identity,
    Message,
    Thread,
    ThreadStatus,
)

PASSWORD = "correct horse battery"


@functools.cache
def _password_hash(password: str) -> str:
    """An argon2id hash of `password` at argon2's lowest cost, made once per test process.

    Every sign-in verifies it with the product's own `verify_password`, which reads the
    cost from the hash: at the default cost each verification takes a quarter of a
    second of CPU, paid for hundreds of sign-ins in a run (Django's test settings choose
    a fast hasher for the same reason). What a stored hash costs is tested where the
    product makes one (`hash_password`, `pasokh agent add`)."""
    return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(password)


async def add_agent(
    context: AppContext,
    email: str,
    *,
    name: str | None = None,
    tier: int = 1,
    admin: bool = False,
    password: str = PASSWORD,
    language: str = "en",
) -> int:
    """Create an agent (argon2 hash, as `pasokh agent add` does); return its id."""
    password_hash = await asyncio.to_thread(_password_hash, password)
    async with context.sessions() as session, session.begin():
        agent = Agent(
            email=email,
            name=name or email.split("@")[0].title(),
            tier=tier,
            is_admin=admin,
            password_hash=password_hash,
            language=language,
        )
        session.add(agent)
        await session.flush()
        return agent.id


async def agent_token(context: AppContext, agent_id: int) -> str:
    """A new agent API token (as `pasokh agent token` prints)."""
    token = new_token("pk_agent")
    async with context.sessions() as session, session.begin():
        session.add(
            ApiToken(
                kind="agent",
                name=f"agent {agent_id}",
                agent_id=agent_id,
                token_hash=token_hash(token),
            )
        )
    return token


async def integration_token(context: AppContext) -> str:
    """A new integration token (for POST /api/v1/inbound/messages)."""
    token = new_token("pk_int")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name="crm", token_hash=token_hash(token)))
    return token


async def login_csrf(client: TestClient[Any, Any]) -> str:
    """The sign-in form's CSRF token (the client's jar gets the login cookie)."""
    response = await client.get("/console/session")
    assert response.status == 200
    body = await response.json()
    assert body["authenticated"] is False
    return str(body["login_csrf"])


async def sign_in(
    client: TestClient[Any, Any], email: str, password: str = PASSWORD
) -> dict[str, Any]:
    """Sign the client in as a browser's fetch would; return the session JSON."""
    csrf = await login_csrf(client)
    response = await client.post(
        "/console/login",
        json={"email": email, "password": password},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


@dataclass(frozen=True)
class SeededThread:
    thread_id: int
    customer_id: int
    identity_id: int
    last_message_id: int


async def seed_thread(
    context: AppContext,
    *,
    channel: str,
    address: str,
    texts: Sequence[str],
    start: datetime,
    status: ThreadStatus = ThreadStatus.QUEUED,
    customer_name: str | None = None,
    subject: str | None = None,
    spacing: timedelta = timedelta(minutes=1),
    first_attachments: Sequence[dict[str, Any]] = (),
) -> SeededThread:
    """A customer with one verified identity and one thread of `texts`, the customer's
    and an agent's in turn (the customer first), `spacing` apart from `start`."""
    async with context.sessions() as session, session.begin():
        customer = Customer(name=customer_name)
        session.add(customer)
        await session.flush()
        identity = Identity(
            customer_id=customer.id, channel=channel, address=address, verified=True
        )
        session.add(identity)
        await session.flush()
        thread = Thread(
            customer_id=customer.id,
            status=status,
            tier=1,
            subject=subject,
            last_channel=channel,
            last_identity_id=identity.id,
            created_at=start,
            updated_at=start,
            queued_at=start if status == ThreadStatus.QUEUED else None,
        )
        session.add(thread)
        await session.flush()
        messages = []
        for n, text in enumerate(texts):
            inbound = n % 2 == 0
            messages.append(
                Message(
                    thread_id=thread.id,
                    customer_id=customer.id,
                    direction="in" if inbound else "out",
                    author_kind="customer" if inbound else "agent",
                    channel=channel,
                    identity_id=identity.id,
                    external_id=f"<m{n}@example.org>" if inbound and channel == "email" else None,
                    text=text,
                    attachments=list(first_attachments) if n == 0 else [],
                    created_at=start + spacing * n,
                )
            )
        session.add_all(messages)
        await session.flush()
        return SeededThread(thread.id, customer.id, identity.id, messages[-1].id)
