"""How many verification mails anyone can make Pasokh send: per client address (fresh
visitor tokens cost nothing, so the per-visitor limit alone stops nobody) and for the
whole installation. Both hold for requests sent at once (on PostgreSQL: each in its own
transaction, nothing serialised)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from config.settings import Settings
from router.identity.links import KIND_CODE
from router.storage.models import Customer, IdentityProof
from tests.email_support import FakeRelay
from tests.identity_support import EMAIL, SESSIONS, IdentityApp, start_identity_app

PER_CLIENT = 4
PER_HOUR = 5


@pytest.fixture
async def app(settings: Settings, start_app: Any, relay: FakeRelay) -> IdentityApp:
    # The test client is the trusted proxy: X-Forwarded-For names each request's client.
    return await start_identity_app(
        start_app,
        settings,
        relay,
        server={"trusted_proxies": ["127.0.0.1"]},
        webchat={
            "sessions_per_address_per_minute": 1000,
            "codes_per_address_per_hour": PER_CLIENT,
        },
        email={"codes_per_hour": PER_HOUR},
    )


def client(n: int) -> dict[str, str]:
    return {"X-Forwarded-For": f"198.51.100.{n}"}


async def visitor_from(app: IdentityApp, headers: dict[str, str]) -> str:
    response = await app.client.post(SESSIONS, json={}, headers=headers)
    assert response.status == 200, await response.text()
    token: str = (await response.json())["visitor_token"]
    return token


async def ask(app: IdentityApp, token: str, email: str, headers: dict[str, str]) -> int:
    response = await app.client.post(
        EMAIL, json={"email": email}, headers={**headers, "Authorization": f"Bearer {token}"}
    )
    return response.status


async def codes(app: IdentityApp) -> int:
    async with app.context.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(IdentityProof).where(IdentityProof.kind == KIND_CODE)
        )
        return int(count or 0)


async def customers(app: IdentityApp) -> int:
    async with app.context.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Customer)) or 0)


async def test_one_client_address_gets_its_hourly_codes_however_many_visitors_it_makes(
    app: IdentityApp,
) -> None:
    one = client(1)
    tokens = [await visitor_from(app, one) for _ in range(12)]
    # A request that mails nothing (not an address) spends nothing of the budget.
    for token in tokens[:6]:
        assert await ask(app, token, "not an address", one) == 422
    answers = await asyncio.gather(
        *(ask(app, token, f"victim{n}@elsewhere.test", one) for n, token in enumerate(tokens))
    )
    assert Counter(answers) == {202: PER_CLIENT, 429: len(tokens) - PER_CLIENT}, answers
    assert await codes(app) == PER_CLIENT
    # Another client is not held by the first one's spending.
    other = client(2)
    assert await ask(app, await visitor_from(app, other), "sara@example.ir", other) == 202


async def test_the_installation_mails_at_most_its_hourly_codes_to_requests_at_once(
    app: IdentityApp,
) -> None:
    # Thirty clients, each within its own budget: only the installation's ceiling stops them.
    senders = [client(n) for n in range(1, 31)]
    tokens = [await visitor_from(app, headers) for headers in senders]
    before = await customers(app)
    answers = await asyncio.gather(
        *(
            ask(app, token, f"victim{n}@elsewhere.test", headers)
            for n, (token, headers) in enumerate(zip(tokens, senders, strict=True))
        )
    )
    assert Counter(answers) == {202: PER_HOUR, 429: len(tokens) - PER_HOUR}, answers
    assert await codes(app) == PER_HOUR
    await app.relay.wait_for(PER_HOUR)
    assert len(app.relay.received) == PER_HOUR
    # Each visitor became a customer when it asked; a refused address made no customer.
    assert await customers(app) - before == len(tokens) + PER_HOUR
