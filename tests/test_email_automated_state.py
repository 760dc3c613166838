"""Automated mail (an out-of-office reply, a read receipt) changes no thread state.

It is stored in the customer's thread for agents to read, but it is not the customer
writing: it reopens no resolved thread, leaves "waiting on customer" on, starts no
response clock and counts as no customer message in reports. Through the real app:
smtplib in, an aiosmtpd relay out.
"""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from typing import Any

from sqlalchemy import func, select

from config.settings import Settings
from router.context import AppContext
from router.core.responder import QueueEveryThread
from router.service.sla_threads import is_pending
from router.storage.models import Message, Thread, ThreadEvent
from tests.agent_support import api, eventually, make_agent
from tests.email_support import SUPPORT, FakeRelay, make_mail, smtp_send, with_email
from tests.test_survey_email import _survey_mailed

VACATION = {"Auto-Submitted": "auto-replied", "X-Autoreply": "yes"}


async def automated_stored(context: AppContext, thread_id: int, count: int) -> None:
    async def stored() -> bool:
        async with context.sessions() as session:
            found = await session.scalar(
                select(func.count()).where(
                    Message.thread_id == thread_id, Message.automated.is_(True)
                )
            )
        return int(found or 0) >= count

    await eventually(stored)


async def away(context: AppContext, answered: EmailMessage, number: int) -> None:
    """The customer's out-of-office answer to our mail `answered` (the `number`th)."""
    await smtp_send(
        context.adapters["email"].port,  # type: ignore[attr-defined]
        make_mail(
            to=str(answered["Reply-To"]),
            subject=f"Automatic reply: {answered['Subject']}",
            body="I am away until Saturday.",
            message_id=f"<ooo-{number}@example.ir>",
            headers={"In-Reply-To": str(answered["Message-ID"]), **VACATION},
        ),
        mail_from="sara@example.ir",
        to=[SUPPORT],
    )


async def thread_of(context: AppContext, thread_id: int) -> Thread:
    async with context.sessions() as session:
        return await session.get_one(Thread, thread_id)


async def test_an_out_of_office_answer_to_the_survey_reopens_nothing(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    _, context, thread_id, survey_mail = await _survey_mailed(settings, start_app, relay)
    before = await thread_of(context, thread_id)
    await away(context, survey_mail, 1)
    await automated_stored(context, thread_id, 1)

    after = await thread_of(context, thread_id)
    assert (after.status, after.resolved_at, after.resolution) == (
        "resolved",
        before.resolved_at,
        before.resolution,
    )
    assert after.last_customer_message_at == before.last_customer_message_at
    async with context.sessions() as session:
        threads = await session.scalar(select(func.count()).select_from(Thread))
        reopens = await session.scalar(select(func.count()).where(ThreadEvent.kind == "reopened"))
    assert (threads, reopens) == (1, 0)  # no reopen, and no new thread either


async def test_an_out_of_office_answer_keeps_pending_and_starts_no_clock(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    client, context = await start_app(with_email(settings, relay), responder=QueueEveryThread())
    port = context.adapters["email"].port  # type: ignore[attr-defined]
    admin = await make_agent(context, "Admin", is_admin=True)
    policy = {"priority": "normal", "first_response_minutes": 60, "next_response_minutes": 30}
    status, answer = await api(client, "PUT", "/api/v1/sla-policies/normal", admin, json=policy)
    assert status == 200, answer
    await smtp_send(port, make_mail(), mail_from="sara@example.ir", to=[SUPPORT])

    async def thread_stored() -> bool:
        async with context.sessions() as session:
            return await session.scalar(select(Thread.id)) is not None

    await eventually(thread_stored)
    async with context.sessions() as session:
        thread_id = await session.scalar(select(Thread.id))
    assert thread_id is not None
    sara = await make_agent(context, "Sara", presence="online")
    for path, body in (("claim", None), ("messages", {"text": "ارسال شد"})):
        status, answer = await api(
            client, "POST", f"/api/v1/threads/{thread_id}/{path}", sara, json=body
        )
        assert status in (200, 201), answer

    async def replied() -> bool:
        return len(relay.received) >= 1

    await eventually(replied)
    agent_mail = relay.received[-1].message

    # Answered, nothing waiting: the auto-reply starts no next-response deadline.
    before = await thread_of(context, thread_id)
    assert before.next_response_due is None and before.first_response_due is None
    await away(context, agent_mail, 1)
    await automated_stored(context, thread_id, 1)
    after = await thread_of(context, thread_id)
    assert (after.status, after.next_response_due) == ("assigned", None)
    waited: datetime | None = before.last_customer_message_at
    assert after.last_customer_message_at == waited

    # Waiting on the customer: the auto-reply is not their answer.
    status, answer = await api(client, "POST", f"/api/v1/threads/{thread_id}/pending", sara)
    assert status == 200, answer
    await away(context, agent_mail, 2)
    await automated_stored(context, thread_id, 2)
    after = await thread_of(context, thread_id)
    assert is_pending(after) and after.next_response_due is None
