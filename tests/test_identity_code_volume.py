"""How many verification mails anyone can make Pasokh send: per client address and per
client network (fresh visitor tokens cost nothing, so the per-visitor limit alone stops
nobody) and for the whole installation, of which a part is kept for known addresses
(proven before, or whose holder mailed us with authenticated mail) so that a flood of
codes to strangers does not refuse every real customer. All hold for requests sent at
once (on PostgreSQL: each in its own transaction, nothing serialised)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import func, select

from config.settings import Settings
from router.core.messages import AuthorKind, Direction
from router.identity.links import KIND_CODE
from router.storage.models import Customer, Identity, IdentityProof, Message, Thread
from tests.email_support import FakeRelay
from tests.identity_support import EMAIL, SESSIONS, IdentityApp, start_identity_app

PER_CLIENT = 2
PER_NETWORK = 3
PER_HOUR = 5
RESERVED = 2  # of PER_HOUR, for known addresses (the `reserving` app)


async def start(
    settings: Settings, start_app: Any, relay: FakeRelay, *, reserved: int
) -> IdentityApp:
    # The test client is the trusted proxy: X-Forwarded-For names each request's client.
    return await start_identity_app(
        start_app,
        settings,
        relay,
        server={"trusted_proxies": ["127.0.0.1"]},
        webchat={
            "sessions_per_address_per_minute": 1000,
            "codes_per_address_per_hour": PER_CLIENT,
            "codes_per_network_per_hour": PER_NETWORK,
        },
        email={"codes_per_hour": PER_HOUR, "codes_reserved_for_known_per_hour": reserved},
    )


@pytest.fixture
async def app(settings: Settings, start_app: Any, relay: FakeRelay) -> IdentityApp:
    return await start(settings, start_app, relay, reserved=0)


@pytest.fixture
async def reserving(settings: Settings, start_app: Any, relay: FakeRelay) -> IdentityApp:
    return await start(settings, start_app, relay, reserved=RESERVED)


def counted(app: IdentityApp, metric: str, **labels: str) -> float:
    return app.context.metrics.registry.get_sample_value(metric, labels) or 0.0


def client(n: int) -> dict[str, str]:
    """A client of a network of its own (an IPv4 /24 each)."""
    return {"X-Forwarded-For": f"10.{n // 250}.{n % 250}.1"}


def neighbour(n: int) -> dict[str, str]:
    """Clients of one network, 198.51.100.0/24."""
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


async def asked_at_once(app: IdentityApp, senders: list[dict[str, str]], to: str) -> Counter[int]:
    """Each sender (a fresh visitor) asks for a code to its own address at `to`, all at once."""
    tokens = [await visitor_from(app, headers) for headers in senders]
    answers = await asyncio.gather(
        *(
            ask(app, token, f"{to.replace('@', f'{n}@')}", headers)
            for n, (token, headers) in enumerate(zip(tokens, senders, strict=True))
        )
    )
    return Counter(answers)


async def test_one_network_gets_its_hourly_codes_however_many_addresses_it_has(
    app: IdentityApp,
) -> None:
    answers = await asked_at_once(app, [neighbour(n) for n in range(1, 13)], "v@elsewhere.test")
    assert answers == {202: PER_NETWORK, 429: 12 - PER_NETWORK}, answers
    assert await codes(app) == PER_NETWORK
    assert counted(app, "pasokh_webchat_refused_total", code="codes_network") == 12 - PER_NETWORK
    # A client refused for its network kept its own budget (both are for mails sent).
    other = client(7)
    assert await ask(app, await visitor_from(app, other), "sara@example.ir", other) == 202


async def test_an_ipv6_network_is_its_48_whichever_64s_it_asks_from(app: IdentityApp) -> None:
    senders = [{"X-Forwarded-For": f"2001:db8:5:{n:x}::1"} for n in range(8)]
    answers = await asked_at_once(app, senders, "v@elsewhere.test")
    assert answers == {202: PER_NETWORK, 429: 8 - PER_NETWORK}, answers


async def known_address(
    app: IdentityApp, email: str, *, verified: bool, authenticated: bool = True
) -> None:
    """An address the installation has seen: proven (`verified`), or its holder mailed
    us (`authenticated`: the mail's sender authentication passed)."""
    mail = app.context.roles.mail
    assert mail is not None
    async with app.context.sessions() as session, session.begin():
        customer = Customer(name=email)
        session.add(customer)
        await session.flush()
        identity = Identity(customer_id=customer.id, channel=mail, address=email, verified=verified)
        thread = Thread(customer_id=customer.id)
        session.add_all([identity, thread])
        await session.flush()
        if not verified:
            session.add(
                Message(
                    thread_id=thread.id,
                    customer_id=customer.id,
                    direction=Direction.INBOUND,
                    author_kind=AuthorKind.CUSTOMER,
                    channel=mail,
                    identity_id=identity.id,
                    external_id=f"<{email}>",
                    text="my order?",
                    sender_authenticated=authenticated,
                )
            )


async def test_a_flood_of_codes_to_strangers_leaves_the_known_part_of_the_hour(
    reserving: IdentityApp,
) -> None:
    app = reserving
    strangers = PER_HOUR - RESERVED
    # Thirty clients of thirty networks, within their own budgets, all at once.
    answers = await asked_at_once(app, [client(n) for n in range(1, 31)], "v@elsewhere.test")
    assert answers == {202: strangers, 429: 30 - strangers}, answers
    assert counted(app, "pasokh_identity_codes_refused_total", reason="strangers") == 27
    # A mail whose sender authentication failed (anyone can forge a From) does not make
    # its address known.
    await known_address(app, "forged@example.ir", verified=False, authenticated=False)
    forger = client(40)
    assert await ask(app, await visitor_from(app, forger), "forged@example.ir", forger) == 429
    assert counted(app, "pasokh_identity_codes_refused_total", reason="strangers") == 28
    # Real customers still get codes: to an address proven before, to one that mailed us.
    await known_address(app, "sara@example.ir", verified=True)
    await known_address(app, "reza@example.ir", verified=False)
    senders = [client(n) for n in range(50, 56)]
    tokens = [await visitor_from(app, headers) for headers in senders]
    known = ["sara@example.ir", "reza@example.ir"] * 3
    answers = Counter(
        await asyncio.gather(
            *(
                ask(app, token, email, headers)
                for token, email, headers in zip(tokens, known, senders, strict=True)
            )
        )
    )
    # At once, and never past the installation's hour.
    assert answers == {202: RESERVED, 429: 6 - RESERVED}, answers
    assert await codes(app) == PER_HOUR
    assert counted(app, "pasokh_identity_codes_refused_total", reason="installation") == 4
