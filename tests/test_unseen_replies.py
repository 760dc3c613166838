"""A web chat visitor who left gets the agent's reply where they are (their email).

The real app (web chat, email through a loopback aiosmtpd relay, database, outbox) on
SQLite or PostgreSQL. A page shown an agent's reply marks its outbox row seen (on the
live push, from the event bus, in the history on return); a reply no page was shown
after `[outbox] unseen_resend_after_seconds` goes once more, to the customer's verified
email, and the customer's answer by mail lands in the same thread.
"""

from __future__ import annotations

import asyncio
import dataclasses
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from channels.webchat.tokens import TokenSigner
from config.settings import Settings
from router.agents.replies import post_message
from router.context import AppContext
from router.core.messages import AuthorKind, SurveyOffer, utcnow
from router.core.outbound_messages import enqueue_outbound
from router.core.responder import QueueEveryThread
from router.core.seen import resend_unseen
from router.storage.models import Identity, Message, OutboxItem, OutboxStatus, Thread
from tests.agent_support import AgentUser, api, eventually, make_agent
from tests.conftest import AppFactory
from tests.email_support import SUPPORT, FakeRelay, with_email
from tests.test_webchat_app import connect, new_token, say
from tests.webchat_fakes import next_frame, next_reply

CUSTOMER_MAIL = "sara@example.ir"
DELAY = 300.0
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@dataclass
class Desk:
    client: TestClient[Any, Any]
    context: AppContext
    relay: FakeRelay
    agent: AgentUser

    @property
    def smtp_port(self) -> int:
        return int(self.context.adapters["email"].port)


async def open_desk(
    start_app: AppFactory,
    settings: Settings,
    relay: FakeRelay,
    *,
    delay: float = DELAY,
    interval: float = 3600.0,
    agent_name: str = "Neda",
) -> Desk:
    """The app with web chat and email; by default the resend pass never comes due by
    itself (the tests run it with a `now` of their choosing)."""
    settings = (
        with_email(settings, relay)
        .replace("webchat", enabled=True)
        .replace("outbox", unseen_resend_after_seconds=delay, unseen_check_interval=interval)
    )
    client, context = await start_app(settings, responder=QueueEveryThread())
    agent = await make_agent(context, agent_name, is_admin=True, presence="online")
    return Desk(client, context, relay, agent)


async def visitor_writes(desk: Desk, token: str, text: str = "سلام، سفارشم کجاست؟") -> Message:
    """The visitor's first message (its thread is queued for an agent); the socket is
    closed after: the visitor left."""
    ws = await connect(desk.client, token)
    await next_frame(ws, "history")
    ack = await say(ws, text, "first")
    await ws.close()
    async with desk.context.sessions() as session:
        message = await session.get(Message, int(ack["message_id"]))
    assert message is not None
    return message


async def give_email(desk: Desk, customer_id: int, *, verified: bool = True) -> None:
    """The customer's email address, as a proof (a code, the continue link) joins it."""
    async with desk.context.sessions() as session, session.begin():
        session.add(
            Identity(
                customer_id=customer_id,
                channel="email",
                address=CUSTOMER_MAIL,
                display_name="Sara",
                verified=verified,
            )
        )


async def known_visitor(desk: Desk, token: str) -> Message:
    """A visitor with a verified email who wrote once and left: their first message."""
    first = await visitor_writes(desk, token)
    await give_email(desk, first.customer_id)
    return first


async def agent_replies(
    desk: Desk, thread_id: int, text: str = "بسته شما فردا می‌رسد.", **kwargs: Any
) -> int:
    posted = await post_message(desk.context, desk.agent.actor, thread_id, text=text, **kwargs)
    return posted.message.id


async def rows_of(context: AppContext, message_id: int) -> list[OutboxItem]:
    async with context.sessions() as session:
        return list(
            await session.scalars(
                select(OutboxItem)
                .where(OutboxItem.message_id == message_id)
                .order_by(OutboxItem.id)
            )
        )


async def delivered(context: AppContext, message_id: int) -> OutboxItem:
    async def done() -> bool:
        rows = await rows_of(context, message_id)
        return bool(rows) and rows[0].status == OutboxStatus.DELIVERED

    await eventually(done, timeout=20)
    return (await rows_of(context, message_id))[0]


async def seen(context: AppContext, message_id: int) -> None:
    async def marked() -> bool:
        rows = await rows_of(context, message_id)
        return bool(rows) and rows[0].seen_at is not None

    await eventually(marked, timeout=20)


def after_delay(row: OutboxItem, seconds: float = DELAY) -> Any:
    return row.created_at + timedelta(seconds=seconds + 1)


async def api_delivery(desk: Desk, thread_id: int, message_id: int) -> dict[str, Any]:
    status, body = await api(desk.client, "GET", f"/api/v1/threads/{thread_id}", desk.agent)
    assert status == 200, body
    message = next(m for m in body["messages"] if m["id"] == message_id)
    delivery: dict[str, Any] = message["delivery"]
    return delivery


async def test_a_reply_pushed_live_is_seen_and_never_resent(
    start_app: AppFactory, settings: Settings, relay: FakeRelay
) -> None:
    desk = await open_desk(start_app, settings, relay)
    token = await new_token(desk.client)
    first = await known_visitor(desk, token)
    ws = await connect(desk.client, token)
    await next_frame(ws, "history")
    reply_id = await agent_replies(desk, first.thread_id)
    assert int((await next_reply(ws))["id"]) == reply_id
    row = await delivered(desk.context, reply_id)
    await seen(desk.context, reply_id)
    assert await resend_unseen(desk.context, now=after_delay(row)) == []
    delivery = await api_delivery(desk, first.thread_id, reply_id)
    assert delivery["seen"] is True and delivery["resent"] is None


async def test_a_reply_shown_in_the_history_on_return_is_seen(
    start_app: AppFactory, settings: Settings, relay: FakeRelay
) -> None:
    desk = await open_desk(start_app, settings, relay)
    token = await new_token(desk.client)
    first = await known_visitor(desk, token)
    reply_id = await agent_replies(desk, first.thread_id)
    row = await delivered(desk.context, reply_id)
    assert row.seen_at is None  # delivered means "stored": nobody was shown it yet
    delivery = await api_delivery(desk, first.thread_id, reply_id)
    assert delivery["status"] == "delivered" and delivery["seen"] is False

    back = await connect(desk.client, token)
    history = (await next_frame(back, "history"))["messages"]
    assert reply_id in [int(m["id"]) for m in history]
    await seen(desk.context, reply_id)
    assert await resend_unseen(desk.context, now=after_delay(row)) == []


async def test_a_reply_a_page_gets_from_the_event_bus_is_seen(
    start_app: AppFactory, settings: Settings, relay: FakeRelay
) -> None:
    """The reply goes to the address the visitor wrote from, which has no page open; a
    page of the same customer's other address gets it from the event bus (as a page on
    another process does with several workers) and marks it there."""
    desk = await open_desk(start_app, settings, relay)
    first = await known_visitor(desk, await new_token(desk.client))
    other_tab = await new_token(desk.client)
    signer = TokenSigner(desk.context.settings.server.secret_key)
    async with desk.context.sessions() as session, session.begin():
        session.add(
            Identity(
                customer_id=first.customer_id,
                channel="webchat",
                address=signer.open_visitor(other_tab).address,
            )
        )
    ws = await connect(desk.client, other_tab)
    await next_frame(ws, "history")
    reply_id = await agent_replies(desk, first.thread_id)
    assert int((await next_reply(ws))["id"]) == reply_id
    row = await delivered(desk.context, reply_id)
    assert row.external_id == "webchat:stored"  # not the send: the bus showed it
    await seen(desk.context, reply_id)
    assert await resend_unseen(desk.context, now=after_delay(row)) == []


async def test_an_unseen_reply_is_resent_once_after_the_delay(
    start_app: AppFactory, settings: Settings, relay: FakeRelay
) -> None:
    desk = await open_desk(start_app, settings, relay)
    first = await known_visitor(desk, await new_token(desk.client))
    reply_id = await agent_replies(desk, first.thread_id)
    row = await delivered(desk.context, reply_id)

    assert await resend_unseen(desk.context, now=after_delay(row, DELAY - 2)) == []
    added = await resend_unseen(desk.context, now=after_delay(row))
    assert len(added) == 1
    assert await resend_unseen(desk.context, now=after_delay(row, DELAY + 60)) == []
    rows = await rows_of(desk.context, reply_id)
    assert [(r.channel, r.address) for r in rows] == [
        ("webchat", row.address),
        ("email", CUSTOMER_MAIL),
    ]
    mails = await relay.wait_for(1)
    assert mails[0].rcpt_tos == (CUSTOMER_MAIL,)

    async def resent_delivered() -> bool:
        delivery = await api_delivery(desk, first.thread_id, reply_id)
        return bool(delivery["resent"]) and delivery["resent"]["status"] == "delivered"

    await eventually(resent_delivered, timeout=20)
    delivery = await api_delivery(desk, first.thread_id, reply_id)
    assert delivery["status"] == "delivered" and delivery["seen"] is False
    assert delivery["resent"]["channel"] == "email"
    assert delivery["resent"]["delivered_at"]


async def test_not_resent_without_a_verified_email_nor_when_too_old(
    start_app: AppFactory, settings: Settings, relay: FakeRelay
) -> None:
    desk = await open_desk(start_app, settings, relay)
    first = await visitor_writes(desk, await new_token(desk.client))
    reply_id = await agent_replies(desk, first.thread_id)
    row = await delivered(desk.context, reply_id)
    assert await resend_unseen(desk.context, now=after_delay(row)) == []  # no email at all
    await give_email(desk, first.customer_id, verified=False)
    assert await resend_unseen(desk.context, now=after_delay(row)) == []  # not proven
    async with desk.context.sessions() as session, session.begin():
        identity = await session.scalar(select(Identity).where(Identity.channel == "email"))
        assert identity is not None
        identity.verified = True
    max_age = desk.context.settings.outbox.unseen_resend_max_age_seconds
    assert await resend_unseen(desk.context, now=after_delay(row, max_age + 1)) == []
    assert len(await resend_unseen(desk.context, now=after_delay(row))) == 1


async def test_a_survey_is_resent_and_a_bot_answer_is_not(
    start_app: AppFactory, settings: Settings, relay: FakeRelay
) -> None:
    desk = await open_desk(start_app, settings, relay)
    first = await known_visitor(desk, await new_token(desk.client))
    survey = SurveyOffer(token="survey-token", kind="csat", scale=5, url="")
    async with desk.context.sessions() as session, session.begin():
        thread = await session.get(Thread, first.thread_id)
        identity = await session.get(Identity, first.identity_id)
        assert thread is not None and identity is not None
        bot = await enqueue_outbound(
            session, thread=thread, identity=identity, text="ربات", author=AuthorKind.BOT
        )
        asked = await enqueue_outbound(
            session,
            thread=thread,
            identity=identity,
            text="از ۱ تا ۵ چه نمره‌ای می‌دهید؟",
            author=AuthorKind.SYSTEM,
            survey=survey,
        )
    desk.context.outbox_wakeup.set()
    await delivered(desk.context, bot.id)
    row = await delivered(desk.context, asked.id)
    added = await resend_unseen(desk.context, now=after_delay(row))
    assert len(added) == 1
    assert [r.channel for r in await rows_of(desk.context, asked.id)] == ["webchat", "email"]
    assert [r.channel for r in await rows_of(desk.context, bot.id)] == ["webchat"]


async def test_concurrent_passes_of_two_processes_resend_once(
    start_app: AppFactory, settings: Settings, relay: FakeRelay
) -> None:
    """Two apps on one database (two `--workers` on PostgreSQL), passes at once: the
    unique index keeps the resend single even without the pass's lock."""
    desk = await open_desk(start_app, settings, relay)
    other = await open_desk(
        start_app,
        dataclasses.replace(settings, data_dir=settings.data_dir / "second"),
        relay,
        agent_name="Reza",
    )
    first = await known_visitor(desk, await new_token(desk.client))
    replies = [await agent_replies(desk, first.thread_id, f"پاسخ {n}") for n in range(5)]
    rows = [await delivered(desk.context, r) for r in replies]
    now = after_delay(rows[-1])
    for _ in range(3):
        await asyncio.gather(
            *(resend_unseen(app, now=now) for app in (desk.context, other.context) * 3)
        )
    for reply_id in replies:
        channels = [r.channel for r in await rows_of(desk.context, reply_id)]
        assert channels == ["webchat", "email"], channels
    assert len(await relay.wait_for(5)) >= 5


async def test_the_visitor_who_left_gets_the_reply_by_mail_and_answers_into_the_thread(
    start_app: AppFactory, settings: Settings, relay: FakeRelay
) -> None:
    """The finding's case end to end, the pass running by itself: the reply with a PDF
    reaches the relay as a mail threaded to the conversation; the customer's answer by
    mail (smtplib, to Pasokh's SMTP) lands in the same thread."""
    desk = await open_desk(start_app, settings, relay, delay=0.2, interval=0.05)
    first = await known_visitor(desk, await new_token(desk.client))
    pdf = await desk.context.attachment_store.put(
        PDF, filename="invoice.pdf", content_type="application/pdf"
    )
    reply_id = await agent_replies(desk, first.thread_id, "فاکتور پیوست است.", attachments=(pdf,))
    mail = message_from_bytes((await relay.wait_for(1))[0].data, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert mail["To"] == CUSTOMER_MAIL
    body = mail.get_body(("plain",))
    assert body is not None and "فاکتور پیوست است." in body.get_content()
    files = [(part.get_filename(), part.get_content()) for part in mail.iter_attachments()]
    assert ("invoice.pdf", PDF) in files
    reply_to = mail["Reply-To"].addresses[0].addr_spec
    assert reply_to != SUPPORT and reply_to.endswith("@support.localhost")

    answer = EmailMessage()
    answer["From"] = f"Sara <{CUSTOMER_MAIL}>"
    answer["To"] = reply_to
    answer["Subject"] = "Re: " + str(mail["Subject"])
    answer["Message-ID"] = "<answer-1@example.ir>"
    answer["In-Reply-To"] = mail["Message-ID"]
    answer["References"] = mail["Message-ID"]
    answer.set_content("ممنون، رسید.")

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", desk.smtp_port) as smtp:
            smtp.send_message(answer, from_addr=CUSTOMER_MAIL, to_addrs=[reply_to])

    await asyncio.to_thread(send)

    async def landed() -> bool:
        async with desk.context.sessions() as session:
            found = await session.scalar(
                select(Message).where(Message.external_id == "answer-1@example.ir")
            )
        return found is not None and found.thread_id == first.thread_id

    await eventually(landed, timeout=20)
    rows = await rows_of(desk.context, reply_id)
    assert [r.channel for r in rows] == ["webchat", "email"]
    assert rows[0].seen_at is None
    assert utcnow() - rows[1].created_at < timedelta(minutes=1)
