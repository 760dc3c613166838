"""The outbox worker takes row locks in the order a customer merge takes them (thread,
then its messages, then its outbox rows), so recording a delivery beside a merge of the
same thread waits instead of deadlocking.

A merge moves the closed thread's messages and then its outbox rows to the surviving
thread. A worker that locked the outbox row first and then the message (to store the
channel's id for it) held what the merge wanted next while it waited for what the
merge held: PostgreSQL broke the cycle by failing one of the two transactions.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from config.settings import Settings
from router.core.messages import DeliveryResult, OutboundMessage
from router.core.responder import Answer, MessageView, ThreadContext
from router.storage.models import Message, OutboxItem, OutboxStatus
from tests.conftest import AppFactory
from tests.support import FakeAdapter

pytestmark = pytest.mark.postgresql  # row locks: SQLite serialises whole transactions

WAITING_ON_A_ROW = (
    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
)


class AnswerAll:
    async def respond(self, ctx: ThreadContext, new: MessageView) -> Answer:
        return Answer(text=f"re: {new.text}")


class HeldAdapter(FakeAdapter):
    """Sends once `release` is set, and says when a send has begun."""

    def __init__(self) -> None:
        super().__init__(name="web")
        self.sending = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        self.sending.set()
        await self.release.wait()
        return await super().send(message)


async def test_recording_a_delivery_never_holds_its_outbox_row_while_waiting_for_its_message(
    settings: Settings, start_app: AppFactory
) -> None:
    adapter = HeldAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=AnswerAll())
    await adapter.push("hello", sender="visitor-1")
    async with asyncio.timeout(20):
        await adapter.sending.wait()
    async with context.read_sessions() as session:
        row = (await session.execute(select(OutboxItem.id, OutboxItem.message_id))).one()

    # What a merge holds once it has moved the thread's messages: their rows.
    async with context.sessions() as merge, merge.begin():
        await merge.execute(
            select(Message.id).where(Message.id == row.message_id).with_for_update()
        )
        adapter.release.set()
        async with asyncio.timeout(20):
            while not await merge.scalar(text(WAITING_ON_A_ROW)):
                await asyncio.sleep(0.02)
        # ...and what it locks next: the thread's outbox rows. The worker waiting for the
        # message must not be holding this one.
        try:
            await merge.execute(
                select(OutboxItem.id).where(OutboxItem.id == row.id).with_for_update(nowait=True)
            )
        except DBAPIError as exc:
            pytest.fail(f"the worker holds the outbox row while it waits: {exc.orig}")

    async with asyncio.timeout(20):
        while True:
            async with context.read_sessions() as session:
                status = await session.scalar(
                    select(OutboxItem.status).where(OutboxItem.id == row.id)
                )
            if status == OutboxStatus.DELIVERED:
                break
            await asyncio.sleep(0.02)
    assert [m.text for m in adapter.sent] == ["re: hello"]
