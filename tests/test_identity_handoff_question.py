"""After a hand-off on a chat channel the router asks for an email address (once)."""

from __future__ import annotations

from sqlalchemy import func, select

from config.settings import Settings
from router.core.responder import HandOff, MessageView, ThreadContext
from router.core.texts import ROUTER_TEXTS
from router.storage.models import IdentityProof, OutboxItem
from tests.email_support import FakeRelay
from tests.identity_support import EMAIL, say, start_identity_app
from tests.support import FakeAdapter, outbox_drained
from tests.webchat_fakes import frames_until_witness, next_frame, next_reply


class HandEverythingOff:
    async def respond(self, ctx: ThreadContext, new: MessageView) -> HandOff:
        return HandOff(reason="unsure", text="I'll get a person", language="en")


async def test_handoff_asks_for_email_then_typed_address_gets_a_code(
    settings: Settings, start_app
) -> None:
    chat = FakeAdapter(name="webchat")
    mail = FakeAdapter(name="email")
    await start_app(
        # A relay is configured (the fake mail channel stands in for it).
        settings.replace("bot", ask_email_on_handoff=True).replace("email", relay_host="127.0.0.1"),
        adapters=[chat, mail],
        responder=HandEverythingOff(),
    )
    await chat.push("my parcel is broken", sender="visitor:1", language="en")
    sent = await chat.wait_sent(2)
    assert [m.text for m in sent] == ["I'll get a person", ROUTER_TEXTS.text("ask_email", "en")]

    await chat.push("sara@example.com", sender="visitor:1", language="en")
    code_mail = (await mail.wait_sent(1))[0]
    assert code_mail.address == "sara@example.com"
    assert any(ch.isdigit() for ch in code_mail.text)
    replies = await chat.wait_sent(3)
    assert "sara@example.com" in replies[2].text


async def test_question_not_asked_when_turned_off(settings: Settings, start_app) -> None:
    chat = FakeAdapter(name="webchat")
    _, context = await start_app(settings, adapters=[chat], responder=HandEverythingOff())
    await chat.push("help", sender="visitor:2", language="en")
    assert [m.text for m in await chat.wait_sent(1)] == ["I'll get a person"]
    await chat.push("anyone?", sender="visitor:2", language="en")
    await outbox_drained(context)  # whatever that message queued has been sent
    assert len(chat.sent) == 1


async def test_without_a_mail_relay_email_linking_is_not_offered(
    settings: Settings, start_app
) -> None:
    # The default install: the email channel runs but nothing can leave by mail.
    relay = FakeRelay()
    await relay.start()
    try:
        app = await start_identity_app(
            start_app,
            settings,
            relay,
            email={"relay_host": ""},
            bot={"ask_email_on_handoff": True},
        )
        token = await app.visitor()
        ws = await app.connect(token)
        await next_frame(ws, "history")
        await say(ws, "my parcel is broken", "c1")
        assert (await next_reply(ws))["text"].startswith("received:")
        await say(ws, "sara@example.com", "c2")
        customer = await app.customer_of("webchat", app.address_of(token))
        assert customer is not None
        frames = await frames_until_witness(app.context, ws, customer)
        said = [
            f["message"]["text"]
            for f in frames
            if f["type"] == "message" and f["message"]["author"] != "customer"
        ]
        assert said == [], said  # no question after the hand-off, no "we sent a code"
        status, body = await app.post(EMAIL, token, {"email": "sara@example.com"})
        assert (status, body["error"]["code"]) == (404, "email_unavailable"), body
        async with app.context.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(IdentityProof)) == 0
            assert await session.scalar(select(func.count()).select_from(OutboxItem)) == 1
        await ws.close()
    finally:
        await relay.stop()
