"""After a hand-off on a chat channel the router asks for an email address (once)."""

from __future__ import annotations

from config.settings import Settings
from router.identity_links import text
from router.responder import HandOff, MessageView, ThreadContext
from tests.support import FakeAdapter


class HandEverythingOff:
    async def respond(self, ctx: ThreadContext, new: MessageView) -> HandOff:
        return HandOff(reason="unsure", text="I'll get a person", language="en")


async def test_handoff_asks_for_email_then_typed_address_gets_a_code(
    settings: Settings, start_app
) -> None:
    chat = FakeAdapter(name="webchat")
    mail = FakeAdapter(name="email")
    await start_app(
        settings.replace("bot", ask_email_on_handoff=True),
        adapters=[chat, mail],
        responder=HandEverythingOff(),
    )
    await chat.push("my parcel is broken", sender="visitor:1", language="en")
    sent = await chat.wait_sent(2)
    assert [m.text for m in sent] == ["I'll get a person", text("ask_email", "en")]

    await chat.push("sara@example.com", sender="visitor:1", language="en")
    code_mail = (await mail.wait_sent(1))[0]
    assert code_mail.address == "sara@example.com"
    assert any(ch.isdigit() for ch in code_mail.text)
    replies = await chat.wait_sent(3)
    assert "sara@example.com" in replies[2].text


async def test_question_not_asked_when_turned_off(settings: Settings, start_app) -> None:
    chat = FakeAdapter(name="webchat")
    await start_app(settings, adapters=[chat], responder=HandEverythingOff())
    await chat.push("help", sender="visitor:2", language="en")
    assert [m.text for m in await chat.wait_sent(1)] == ["I'll get a person"]
    await chat.push("anyone?", sender="visitor:2", language="en")
    import asyncio

    await asyncio.sleep(0.3)
    assert len(chat.sent) == 1
