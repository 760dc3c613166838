"""The identity dialogue is a responder around the bot, and the core reads a message's
proofs and whether it is a conversation from the message, never from its channel name."""

from __future__ import annotations

from typing import Any

from channels.telegram.inbound import start_link_claim
from config.settings import Settings
from router.core.messages import ProofKind
from router.core.responder import Answer, MessageView, ThreadContext
from router.core.texts import ROUTER_TEXTS
from router.identity.tokens import CHAT_LINK_TOKEN_LENGTH
from tests.support import FakeAdapter, outbox_drained


class EchoBot:
    """Answers every turn it is given, and counts them."""

    def __init__(self) -> None:
        self.turns: list[str] = []

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Answer:
        assert ctx.proof_step is None  # the dialogue answers proof steps itself
        self.turns.append(new.text)
        return Answer(text=f"bot: {new.text}", language="en")


async def test_a_conversation_on_any_channel_takes_a_typed_address(
    settings: Settings, start_app: Any
) -> None:
    # A channel the core has never heard of: only the message's flag says it is a chat.
    chat, mail = FakeAdapter(name="signal"), FakeAdapter(name="email")
    bot = EchoBot()
    await start_app(
        settings.replace("email", relay_host="127.0.0.1"), adapters=[chat, mail], responder=bot
    )
    await chat.push("sara@example.com", sender="s1", language="en", conversational=True)
    assert (await mail.wait_sent(1))[0].address == "sara@example.com"
    reply = (await chat.wait_sent(1))[0]
    assert reply.text == ROUTER_TEXTS.text("code_sent", "en", email="sara@example.com")
    assert bot.turns == []  # a proof step is not the bot's turn


async def test_a_message_that_is_no_conversation_is_the_bots_turn(
    settings: Settings, start_app: Any
) -> None:
    chat, mail = FakeAdapter(name="signal"), FakeAdapter(name="email")
    bot = EchoBot()
    _, context = await start_app(
        settings.replace("email", relay_host="127.0.0.1"), adapters=[chat, mail], responder=bot
    )
    await chat.push("sara@example.com", sender="s2", language="en", conversational=False)
    assert [m.text for m in await chat.wait_sent(1)] == ["bot: sara@example.com"]
    await outbox_drained(context)
    assert mail.sent == [] and bot.turns == ["sara@example.com"]


def test_the_telegram_channel_claims_only_token_shaped_start_payloads() -> None:
    token = "A" * CHAT_LINK_TOKEN_LENGTH
    for command in (f"/start {token}", f"/start@PasokhBot {token}", f" /start {token} "):
        claim = start_link_claim(command)
        assert claim is not None and (claim.kind, claim.token) == (ProofKind.LINK_TOKEN, token)
    for other in ("/start", "/start spring_sale", f"/start {token}x", f"hello {token}"):
        assert start_link_claim(other) is None
