"""A real `pasokh serve` killed with SIGKILL while the relay holds its mail mid-send.

The claim was committed before the send, naming the worker; the restarted process
sees that worker's lock is gone and sends the mail again at once (the lease here is
ten minutes, so a prompt resend cannot be the lease running out), with the same
Message-ID, so a receiving system that got the first copy can drop the second.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select

from router.storage.engine import new_engine, new_sessionmaker
from router.storage.models import DeliveryAttempt, OutboxItem
from tests.email_support import FakeRelay, make_mail, smtp_send
from tests.processes import ServeProcess
from tests.support import free_port

pytestmark = pytest.mark.slow

LEASE_SECONDS = 600


class HoldingRelay(FakeRelay):
    """Keeps the first mail's DATA unanswered (the sender is mid-send), then accepts."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[bytes] = []
        self.holding = asyncio.Event()
        self._let_go = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if not self.held:
            self.held.append(envelope.original_content or b"")
            self.holding.set()
            await self._let_go.wait()
            return "451 4.3.0 Gave up waiting"
        return await super().handle_DATA(server, session, envelope)

    async def stop(self) -> None:
        self._let_go.set()
        await super().stop()


@pytest.fixture
async def relay() -> AsyncIterator[HoldingRelay]:
    relay = HoldingRelay()
    await relay.start()
    yield relay
    await relay.stop()


def message_id(raw: bytes) -> str:
    from email import message_from_bytes

    return str(message_from_bytes(raw)["Message-ID"])


async def test_sigkill_mid_send_resends_at_restart_with_the_same_message_id(
    tmp_path: Path, database_url: str, relay: HoldingRelay
) -> None:
    smtp_port = free_port()
    env = {
        "PASOKH_DATABASE__URL": database_url,
        "PASOKH_SERVER__SECRET_KEY": "k" * 40,
        "PASOKH_WEBCHAT__ENABLED": "false",
        "PASOKH_EMAIL__SMTP_PORT": str(smtp_port),
        "PASOKH_EMAIL__RELAY_HOST": "127.0.0.1",
        "PASOKH_EMAIL__RELAY_PORT": str(relay.port),
        "PASOKH_OUTBOX__LEASE_SECONDS": str(LEASE_SECONDS),
    }
    server = ServeProcess(tmp_path / "data", free_port(), env)
    await server.start()
    try:
        await smtp_send(
            smtp_port,
            make_mail(body="سفارش ۱۲۳۴ من کجاست؟"),
            mail_from="sara@example.ir",
            to=["support@support.localhost"],
        )
        async with asyncio.timeout(30):
            await relay.holding.wait()  # the reply is on the wire, unanswered
        server.kill()

        restarted_at = time.monotonic()
        await server.start()
        [resent] = await relay.wait_for(1, seconds=30)
        elapsed = time.monotonic() - restarted_at
        row = await first_row_delivered(database_url)
    finally:
        server.terminate()

    assert elapsed < LEASE_SECONDS / 10, elapsed
    assert message_id(resent.data) == message_id(relay.held[0])
    assert resent.rcpt_tos == ("sara@example.ir",)
    assert row.attempts == 2 and row.leased_by is None
    assert f"<{row.external_id}>" == message_id(resent.data)
    engine = new_engine(database_url)
    try:
        async with new_sessionmaker(engine)() as session:
            outcomes = await session.scalars(
                select(DeliveryAttempt.outcome)
                .where(DeliveryAttempt.outbox_id == row.id)
                .order_by(DeliveryAttempt.id)
            )
            assert list(outcomes) == ["interrupted", "delivered"]
    finally:
        await engine.dispose()


async def first_row_delivered(database_url: str) -> OutboxItem:
    """The first outbox row once its delivery is committed."""
    engine = new_engine(database_url)
    try:
        async with asyncio.timeout(20):
            while True:
                async with new_sessionmaker(engine)() as session:
                    row = await session.scalar(select(OutboxItem).order_by(OutboxItem.id).limit(1))
                if row is not None and row.status == "delivered":
                    return row
                await asyncio.sleep(0.05)
    finally:
        await engine.dispose()
