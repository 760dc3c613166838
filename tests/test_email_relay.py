"""Outbound mail reuses its SMTP sessions to the relay, and replaces ones the relay
closed: a real aiosmtpd relay on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from email.message import Message
from pathlib import Path

import aiosmtplib
import pytest

from channels.base import ChannelServices
from channels.email.adapter import EmailAdapter
from channels.email.relay import RELAY_SESSIONS, RelayPool
from router.core.attachments import AttachmentStore
from router.core.events import InProcessEventBus
from router.core.messages import DeliveryStatus
from tests.email_support import FakeRelay
from tests.test_email_adapter import (
    SECRET,
    FakeIngest,
    NoConversation,
    email_settings,
    outbound,
)


@pytest.fixture
async def relay() -> AsyncIterator[FakeRelay]:
    relay = FakeRelay()
    await relay.start()
    yield relay
    await relay.stop()


@pytest.fixture
async def adapter(relay: FakeRelay, tmp_path: Path) -> AsyncIterator[EmailAdapter]:
    adapter = EmailAdapter(email_settings(relay.port, auto_reply_cap_per_hour=0), secret_key=SECRET)
    await adapter.start(
        ChannelServices(
            ingest=FakeIngest(),
            events=InProcessEventBus(),
            attachments=AttachmentStore(tmp_path / "attachments"),
            conversation=NoConversation(),
        )
    )
    yield adapter
    await adapter.stop()


async def test_mails_to_the_relay_share_one_session(
    adapter: EmailAdapter, relay: FakeRelay
) -> None:
    for n in range(1, 4):
        result = await adapter.send(outbound(outbox_id=n, address=f"c{n}@example.ir"))
        assert result.status == DeliveryStatus.DELIVERED
    mails = await relay.wait_for(3)
    assert [mail.rcpt_tos for mail in mails] == [(f"c{n}@example.ir",) for n in range(1, 4)]
    assert len(relay.sessions) == 1


async def test_a_wave_of_mails_opens_at_most_the_pools_sessions(
    adapter: EmailAdapter, relay: FakeRelay
) -> None:
    results = await asyncio.gather(
        *(adapter.send(outbound(outbox_id=n, address=f"c{n}@example.ir")) for n in range(12))
    )
    assert {result.status for result in results} == {DeliveryStatus.DELIVERED}
    assert len(await relay.wait_for(12)) == 12
    assert 1 <= len(relay.sessions) <= RELAY_SESSIONS


async def test_a_session_the_relay_dropped_is_replaced(
    adapter: EmailAdapter, relay: FakeRelay
) -> None:
    assert (await adapter.send(outbound(outbox_id=1))).status == DeliveryStatus.DELIVERED
    relay.drop_sessions()
    # Sent at once: the client may not have seen the close yet.
    assert (await adapter.send(outbound(outbox_id=2))).status == DeliveryStatus.DELIVERED
    assert len(await relay.wait_for(2)) == 2
    assert len(relay.sessions) == 2


async def test_a_relay_closing_an_idle_session_with_421_gets_the_mail_on_a_new_one(
    adapter: EmailAdapter, relay: FakeRelay
) -> None:
    assert (await adapter.send(outbound(outbox_id=1))).status == DeliveryStatus.DELIVERED
    relay.mail_replies = ["421 4.4.2 relay.test Error: timeout exceeded"]
    result = await adapter.send(outbound(outbox_id=2))
    assert result.status == DeliveryStatus.DELIVERED, result.error
    assert len(await relay.wait_for(2)) == 2
    assert len(relay.sessions) == 2


async def test_a_421_on_a_new_session_is_a_retry_not_a_loop(
    adapter: EmailAdapter, relay: FakeRelay
) -> None:
    relay.mail_replies = ["421 4.3.2 relay.test shutting down"] * 3
    result = await adapter.send(outbound(outbox_id=1))
    assert result.status == DeliveryStatus.RETRY
    assert result.error is not None and "421 4.3.2" in result.error
    assert (
        len(relay.sessions) == 1
        and relay.mail_replies == ["421 4.3.2 relay.test shutting down"] * 2
    )


def plain_mail(to: str) -> Message:
    mail = Message()
    mail["To"] = to
    mail["Subject"] = "hi"
    mail.set_payload("hi\n")
    return mail


async def test_sessions_idle_too_long_or_used_for_many_mails_are_not_reused(
    relay: FakeRelay,
) -> None:
    now = [0.0]
    pool = RelayPool(
        lambda: aiosmtplib.SMTP(hostname="127.0.0.1", port=relay.port, timeout=5),
        max_mails=2,
        max_idle=30.0,
        clock=lambda: now[0],
    )
    try:
        for _ in range(3):  # the third mail is past max_mails
            await pool.send(plain_mail("a@example.ir"), sender="s@x.test", recipients=["a@x.test"])
        assert len(relay.sessions) == 2
        now[0] += 31.0
        await pool.send(plain_mail("a@example.ir"), sender="s@x.test", recipients=["a@x.test"])
        assert len(relay.sessions) == 3
        assert len(await relay.wait_for(4)) == 4
    finally:
        await pool.close()
