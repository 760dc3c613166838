"""One customer across channels, end to end: real SMTP in, a captured relay out, the
widget's WebSocket, the agent API, and Telegram against the fake Bot API server."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from config.settings import Settings
from router.core.texts import ROUTER_TEXTS
from router.storage.models import AuditEvent, Thread
from tests.agent_support import api, make_agent
from tests.email_support import FakeRelay, make_mail
from tests.fake_telegram import FakeTelegram
from tests.identity_support import (
    EMAIL,
    TELEGRAM,
    IdentityApp,
    code_in,
    continue_token_in,
    say,
    start_identity_app,
    start_identity_app_with_telegram,
)
from tests.webchat_fakes import frames_until_witness, next_frame, next_reply

SARA = "sara@example.ir"


async def test_visitor_proves_email_by_code_and_agent_sees_one_customer(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    app = await start_identity_app(start_app, settings, relay)
    # Earlier, Sara wrote by email; the bot answered by mail (with a continue link).
    await app.mail(make_mail(sender=f"Sara <{SARA}>", body="سفارش ۱۲۳۴ من کجاست؟"), mail_from=SARA)
    first_answer = await app.relayed(1)
    assert "received:" in first_answer.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    continue_token_in(first_answer)
    email_customer = await app.customer_of("email", SARA)
    assert email_customer is not None

    # Now a web chat visitor writes; they see only their own chat.
    token = await app.visitor()
    ws = await app.connect(token)
    assert (await next_frame(ws, "history"))["messages"] == []
    await say(ws, "hello, any news on my order?", "c1")
    assert (await next_reply(ws))["text"].startswith("received:")
    visitor_customer = await app.customer_of("webchat", (await _address(app, token)))
    assert visitor_customer is not None and visitor_customer != email_customer

    # They give the address; the code goes by mail to it (and nowhere else).
    status, body = await app.post(EMAIL, token, {"email": "Sara@Example.ir"})
    assert status == 202 and body["status"] == "code_sent"
    code_mail = await app.relayed(2)
    assert code_mail["To"].addresses[0].addr_spec == SARA
    assert not str(code_mail["Subject"]).startswith("Re:")  # it answers no mail
    code = code_in(code_mail)
    seen = await frames_until_witness(app.context, ws, visitor_customer)
    assert all(code not in str(frame) for frame in seen)
    assert all("۱۲۳۴" not in str(frame) for frame in seen)  # nothing of Sara's yet
    assert await app.identities(visitor_customer) == [
        ("webchat", await _address(app, token), False)
    ]

    # They type the code in the chat (Persian digits are fine).
    await say(ws, code.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")), "c2")
    reply = await next_reply(ws)
    assert reply["author"] == "bot" and "verified" in reply["text"]

    # One customer now, and the agent sees both conversations in one thread.
    merged = await app.customer_of("webchat", await _address(app, token))
    assert merged == await app.customer_of("email", SARA) == min(email_customer, visitor_customer)
    admin = await make_agent(app.context, "Boss", is_admin=True)
    status, customer = await api(app.client, "GET", f"/api/v1/customers/{merged}", admin)
    assert status == 200, customer
    channels = {(i["channel"], i["address"], i["verified"]) for i in customer["identities"]}
    assert ("email", SARA, True) in channels
    open_threads = [t for t in customer["threads"] if t["status"] != "resolved"]
    assert len(open_threads) == 1
    status, detail = await api(app.client, "GET", f"/api/v1/threads/{open_threads[0]['id']}", admin)
    texts = [m["text"] for m in detail["messages"]]
    assert "سفارش ۱۲۳۴ من کجاست؟" in texts and "hello, any news on my order?" in texts
    by_channel = {m["text"]: m["channel"] for m in detail["messages"]}
    assert by_channel["سفارش ۱۲۳۴ من کجاست؟"] == "email"
    assert by_channel["hello, any news on my order?"] == "webchat"
    assert code not in str(detail)  # the code's mail is redacted once used

    # The thread that only carried the code mail is no conversation: the customer's
    # threads, the earlier threads beside this one and the resolved list leave it out
    # (it stays readable by id).
    async with app.context.sessions() as session:
        code_thread = await session.scalar(
            select(Thread.id).where(Thread.resolution == "verification")
        )
    assert code_thread is not None
    status, resolved = await api(app.client, "GET", "/api/v1/threads?status=resolved", admin)
    assert status == 200
    listed = {t["id"] for t in (*customer["threads"], *detail["earlier_threads"])}
    assert code_thread not in listed | {t["id"] for t in resolved["threads"]}
    assert (await api(app.client, "GET", f"/api/v1/threads/{code_thread}", admin))[0] == 200

    # The visitor's widget now shows the proven history.
    await ws.close()
    ws = await app.connect(token)
    history = (await next_frame(ws, "history"))["messages"]
    assert "سفارش ۱۲۳۴ من کجاست؟" in [m["text"] for m in history]

    # The agent's next reply goes out where the customer wrote last: the web chat.
    thread_id = open_threads[0]["id"]
    sara_agent = await make_agent(app.context, "Sara", tier=1)
    assert (await api(app.client, "POST", f"/api/v1/threads/{thread_id}/claim", sara_agent))[
        0
    ] == 200
    status, posted = await api(
        app.client,
        "POST",
        f"/api/v1/threads/{thread_id}/messages",
        sara_agent,
        json={"text": "It ships tomorrow."},
    )
    assert status == 201 and posted["message"]["channel"] == "webchat"
    while (frame := await next_reply(ws))["text"] != "It ships tomorrow.":
        pass
    assert frame["author"] == "agent"
    mails_before = len(relay.received)

    # Then she answers by mail: the next reply follows her there.
    await app.mail(
        make_mail(sender=f"Sara <{SARA}>", body="thanks!", message_id="<second-2@example.ir>"),
        mail_from=SARA,
    )
    await api(
        app.client,
        "POST",
        f"/api/v1/threads/{thread_id}/messages",
        sara_agent,
        json={"text": "You are welcome."},
    )
    later = await app.relayed(mails_before + 1)
    assert "You are welcome." in later.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    await ws.close()


async def _address(app: IdentityApp, token: str) -> str:
    return str(app.address_of(token))


async def test_continue_link_from_a_mail_proves_the_address_once(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    app = await start_identity_app(start_app, settings, relay)
    await app.mail(make_mail(sender=f"Sara <{SARA}>", body="where is it?"), mail_from=SARA)
    link_token = continue_token_in(await app.relayed(1))

    visitor = await app.visitor()
    status, body = await app.post(
        "/api/v1/webchat/identity/continue", visitor, {"token": link_token}
    )
    assert status == 200 and body["status"] == "verified", body
    address = await _address(app, visitor)
    assert await app.customer_of("webchat", address) == await app.customer_of("email", SARA)

    # Spent: the page the link opens says so and offers no button.
    page = await app.client.get("/continue", params={"token": link_token})
    assert page.status == 409 and "data-continue-token" not in await page.text()

    # Replayed: refused, even by another browser.
    other = await app.visitor()
    status, body = await app.post("/api/v1/webchat/identity/continue", other, {"token": link_token})
    assert status == 409 and body["error"]["code"] == "token_used"
    assert await app.customer_of("webchat", await _address(app, other)) != await app.customer_of(
        "email", SARA
    )


async def test_telegram_deep_link_links_on_start_and_yes(
    settings: Settings, start_app: Any, relay: FakeRelay, fake: FakeTelegram
) -> None:
    app = await start_identity_app_with_telegram(start_app, settings, relay, fake)

    token = await app.visitor()
    ws = await app.connect(token)
    await next_frame(ws, "history")
    await say(ws, "I want to continue on my phone", "w1")
    await next_reply(ws)
    status, link = await app.post(TELEGRAM, token, {})
    assert status == 200, link
    assert link["url"] == f"https://t.me/pasokh_test_bot?start={link['start']}"
    assert len(link["start"]) <= 64

    chat = 5550001
    fake.add_message(chat, f"/start {link['start']}", user=fake.user(chat, first_name="Sara"))
    await fake.wait_for(lambda: [c for c in fake.sent() if c.chat_id == chat])
    question = next(c for c in fake.sent() if c.chat_id == chat)
    assert question.params["text"] == ROUTER_TEXTS.text("link_confirm", "fa")
    fake.add_message(chat, "بله", user=fake.user(chat, first_name="Sara"))
    await fake.wait_for(lambda: len([c for c in fake.sent() if c.chat_id == chat]) == 2)
    reply = [c for c in fake.sent() if c.chat_id == chat][1]
    assert reply.params["text"] == ROUTER_TEXTS.text("linked", "fa")
    web_address = await _address(app, token)
    customer = await app.customer_of("telegram", str(chat))
    assert customer is not None and customer == await app.customer_of("webchat", web_address)
    async with app.context.sessions() as session:
        open_threads = list(
            await session.scalars(
                select(Thread).where(Thread.customer_id == customer, Thread.status != "resolved")
            )
        )
        assert len(open_threads) == 1
        audit = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "customers_merged")
        )
        assert audit is not None and audit.details["reason"] == "telegram_start"

    # The same link from another Telegram user: refused, nothing linked.
    stranger = 5550002
    fake.add_message(stranger, f"/start {link['start']}", user=fake.user(stranger))
    await fake.wait_for(lambda: [c for c in fake.sent() if c.chat_id == stranger])
    refused = next(c for c in fake.sent() if c.chat_id == stranger)
    assert refused.params["text"] == ROUTER_TEXTS.text("link_refused", "fa")
    assert await app.customer_of("telegram", str(stranger)) != customer
    await ws.close()


async def test_an_email_typed_in_the_chat_asks_for_a_code_there(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    app = await start_identity_app(start_app, settings, relay)
    token = await app.visitor()
    ws = await app.connect(token)
    await next_frame(ws, "history")
    await say(ws, "hi", "a")
    await next_reply(ws)
    await say(ws, "  Sara@example.ir ", "b")
    prompt = await next_reply(ws)
    assert prompt["author"] == "bot" and SARA in prompt["text"]
    code = code_in(await app.relayed(1))
    await say(ws, code, "c")
    assert "verified" in (await next_reply(ws))["text"]
    assert ("email", SARA, True) in await app.identities(
        await app.customer_of("webchat", await _address(app, token))  # type: ignore[arg-type]
    )
    await ws.close()


async def test_a_telegram_user_sharing_their_own_contact_proves_the_phone(
    settings: Settings, start_app: Any, relay: FakeRelay, fake: FakeTelegram
) -> None:
    app = await start_identity_app_with_telegram(start_app, settings, relay, fake)
    chat, friend = 6660001, 6660002
    user = fake.user(chat, first_name="Sara")
    # Someone else's contact proves nothing about the sender.
    fake.add_message(
        chat,
        user=user,
        contact={"phone_number": "+98 912 000 0002", "first_name": "Reza", "user_id": friend},
    )
    fake.add_message(
        chat,
        user=user,
        contact={"phone_number": "98 912 000 0001", "first_name": "Sara", "user_id": chat},
    )
    await fake.wait_for(lambda: [c for c in fake.sent() if c.chat_id == chat])
    reply = next(c for c in fake.sent() if c.chat_id == chat)
    assert reply.params["text"] == ROUTER_TEXTS.text("address_saved", "fa")
    customer = await app.customer_of("telegram", str(chat))
    assert customer is not None
    assert ("phone", "+989120000001", True) in await app.identities(customer)
    assert await app.customer_of("phone", "+989120000002") is None

    # The number later belongs to another Telegram account: nothing is handed over.
    newcomer = 6660003
    fake.add_message(
        newcomer,
        user=fake.user(newcomer),
        contact={"phone_number": "+989120000001", "first_name": "New", "user_id": newcomer},
    )
    await fake.wait_for(lambda: [c for c in fake.sent() if c.chat_id == newcomer])
    other = await app.customer_of("telegram", str(newcomer))
    assert other is not None and other != customer
    assert await app.customer_of("phone", "+989120000001") == customer
    async with app.context.sessions() as session:
        conflict = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "proven_address_conflict")
        )
        assert conflict is not None and conflict.details["other_customer_id"] == customer
