"""A reply the relay defers is kept for days, as mail servers keep deferred mail.

The outbox's `max_attempts` (about three minutes of backoff) would give up on every
waiting reply during a short relay outage or a provider's `451` throttling; the email
channel declares a `RetryPolicy` of `[email] relay_retry_hours` instead. Real peers: an
aiosmtpd relay on loopback that answers `451` for a while, then `250` (or `550`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import Settings
from router.agents.views import message_json
from router.context import AppContext
from router.storage.models import Message, OutboxItem, OutboxStatus
from tests.email_support import DeferringRelay, with_email
from tests.test_outbox_order import SayNothing, body, numbers, open_thread, write_replies

MAX_ATTEMPTS = 3
CUSTOMER = "nima@customer.test"


@pytest.fixture
async def relay() -> AsyncIterator[DeferringRelay]:
    relay = DeferringRelay()
    await relay.start()
    yield relay
    await relay.stop()


async def start_email(settings: Settings, relay: DeferringRelay, start_app: Any) -> AppContext:
    """Few attempts and short waits: without the email policy a reply would be given
    up on after `MAX_ATTEMPTS` deferrals, well before the relay comes back."""
    settings = with_email(settings, relay, relay_retry_max_wait=0.2)
    settings = settings.replace(
        "outbox", backoff_base=0.05, backoff_max=0.2, max_attempts=MAX_ATTEMPTS
    )
    _, context = await start_app(settings, responder=SayNothing())
    await open_thread(context, "email", CUSTOMER)
    return context


async def rows(context: AppContext) -> list[tuple[OutboxItem, Message]]:
    async with context.sessions() as session:
        found = await session.execute(
            select(OutboxItem, Message)
            .join(Message, Message.id == OutboxItem.message_id)
            .order_by(OutboxItem.id)
        )
        return [(row, message) for row, message in found.all()]


async def settled(context: AppContext, count: int) -> list[tuple[OutboxItem, Message]]:
    """The outbox once `count` rows are no longer pending (their outcome committed)."""
    async with asyncio.timeout(20):
        while True:
            found = await rows(context)
            if sum(1 for row, _ in found if row.status != OutboxStatus.PENDING) >= count:
                return found
            await asyncio.sleep(0.02)


async def test_a_reply_deferred_past_max_attempts_lands_once_after_the_outage(
    settings: Settings, relay: DeferringRelay, start_app: Any
) -> None:
    context = await start_email(settings, relay, start_app)
    await write_replies(context, "email", [CUSTOMER], 1)

    await relay.wait_deferred(MAX_ATTEMPTS + 3)
    [(row, message)] = await rows(context)
    assert row.status == OutboxStatus.PENDING and row.attempts > MAX_ATTEMPTS
    # The agent sees it on its way, why it is late and when it is tried next.
    delivery = message_json(message, [row])["delivery"]
    assert isinstance(delivery, dict)
    assert delivery["status"] == "pending" and "451" in str(delivery["last_error"])
    assert delivery["next_attempt_at"] is not None

    relay.deferring = False
    await relay.wait_for(1, seconds=20)
    [(row, message)] = await settled(context, 1)
    assert row.status == OutboxStatus.DELIVERED
    delivery = message_json(message, [row])["delivery"]
    assert isinstance(delivery, dict)
    assert (delivery["status"], delivery["next_attempt_at"]) == ("delivered", None)
    assert [numbers([body(mail)]) for mail in relay.received] == [[1]]


async def test_a_permanent_refusal_fails_at_once(
    settings: Settings, relay: DeferringRelay, start_app: Any
) -> None:
    context = await start_email(settings, relay, start_app)
    relay.deferring = False
    relay.data_replies = ["550 5.7.1 Message refused"]
    await write_replies(context, "email", [CUSTOMER], 1)

    [(row, _)] = await settled(context, 1)
    assert (row.status, row.attempts) == (OutboxStatus.DEAD, 1)
    assert "550" in str(row.last_error)
    assert relay.received == [] and relay.deferred == 0


async def test_replies_written_during_an_outage_arrive_once_each_in_order(
    settings: Settings, relay: DeferringRelay, start_app: Any
) -> None:
    context = await start_email(settings, relay, start_app)
    await write_replies(context, "email", [CUSTOMER], 3)

    await relay.wait_deferred(MAX_ATTEMPTS + 3)
    assert all(row.status == OutboxStatus.PENDING for row, _ in await rows(context))
    relay.deferring = False
    await relay.wait_for(3, seconds=20)
    found = await settled(context, 3)
    assert [row.status for row, _ in found] == [OutboxStatus.DELIVERED] * 3
    assert numbers([body(mail) for mail in relay.received]) == [1, 2, 3]
