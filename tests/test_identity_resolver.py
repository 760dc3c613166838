"""One identity resolver: ingest and the identity proofs find or create identities alike."""

from __future__ import annotations

import asyncio
import inspect

from sqlalchemy import func, select

import router.core.ingest
from config.settings import Settings
from router.identity.links import ensure_identity
from router.storage.models import Customer, Identity
from tests.support import FakeAdapter


def test_ingest_creates_no_identity_of_its_own() -> None:
    # It knows the sender is new from its own statement, so it goes straight to the
    # resolver's creation step (the same rule `ensure_identity` ends in).
    source = inspect.getsource(router.core.ingest)
    assert "Identity(" not in source and "new_identity(" in source


async def test_a_proof_and_messages_racing_for_one_new_address_make_one_customer(
    settings: Settings, start_app
) -> None:
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter])

    async def proof() -> int:
        async with context.writing(), context.sessions() as session, session.begin():
            identity = await ensure_identity(session, adapter.name, "new@example.com", lock=True)
            return identity.customer_id

    results = await asyncio.gather(
        *(adapter.push(f"سلام {n}", sender="new@example.com") for n in range(5)),
        *(proof() for _ in range(5)),
    )
    customers = {r if isinstance(r, int) else r.customer_id for r in results}
    assert len(customers) == 1
    async with context.sessions() as session:
        identities = await session.scalar(
            select(func.count()).select_from(Identity).where(Identity.address == "new@example.com")
        )
        assert identities == 1
        assert await session.get(Customer, customers.pop()) is not None
