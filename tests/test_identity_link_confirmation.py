"""A link can come from an attacker: it joins nothing until the person who opens it
confirms, in the channel being linked, what will be joined.

The attacker asks for a "continue on Telegram" link in their own web chat (or gets a
"continue in chat" link in a mail sent to them) and sends it to a victim. The
victim's history must never reach the attacker's chat unless the victim says yes.
Telegram runs against the fake Bot API; the web chat over its real WebSocket.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, update

from config.settings import Settings
from router.core.ingest import ingest
from router.core.messages import InboundMessage, ProofClaim, ProofKind, utcnow
from router.core.texts import ROUTER_TEXTS
from router.identity.links import KIND_CHAT_LINK, KIND_CONTINUE
from router.storage.models import IdentityProof
from tests.email_support import FakeRelay, make_mail
from tests.fake_telegram import ApiCall, FakeTelegram
from tests.identity_support import (
    CONTINUE,
    TELEGRAM,
    IdentityApp,
    continue_token_in,
    say,
    start_identity_app_with_telegram,
)
from tests.telegram_support import replies_to
from tests.webchat_fakes import next_frame, next_reply

VICTIM_SECRET = "deliver to 12 Elm Street, order 998877"
VICTIM_LATER = "and my phone is 0912 000 0000"
ATTACKER = "evil@example.ir"
ATTACKER_TEXT = "attacker says hi"


@pytest.fixture
async def app(
    settings: Settings, start_app: Any, relay: FakeRelay, fake: FakeTelegram
) -> IdentityApp:
    return await start_identity_app_with_telegram(start_app, settings, relay, fake)


async def answer_to(fake: FakeTelegram, chat: int, text: str) -> ApiCall:
    """Send `text` from `chat`; the router's next reply to it."""
    seen = len(replies_to(fake, chat))
    fake.add_message(chat, text, user=fake.user(chat))
    await fake.wait_for(lambda: len(replies_to(fake, chat)) > seen)
    return replies_to(fake, chat)[seen]


async def tap(fake: FakeTelegram, chat: int, question: ApiCall, index: int) -> ApiCall:
    """Tap button `index` under `question`; the router's next reply."""
    seen = len(replies_to(fake, chat))
    button = buttons_of(question)[index]
    fake.add_callback(chat, button["callback_data"], on_message=question.result)
    await fake.wait_for(lambda: len(replies_to(fake, chat)) > seen)
    return replies_to(fake, chat)[seen]


async def tell(app: IdentityApp, fake: FakeTelegram, chat: int, text: str) -> None:
    """Send `text` from `chat` (nobody answers a queued thread); wait until it is stored."""
    fake.add_message(chat, text, user=fake.user(chat))
    customer = await app.customer_of("telegram", str(chat))
    assert customer is not None
    for _ in range(500):
        if text in await app.customer_texts(customer):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{text!r} was never stored")


def buttons_of(call: ApiCall) -> list[dict[str, Any]]:
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}
    return [row[0] for row in markup["inline_keyboard"]]


async def web_chat_with_link(app: IdentityApp) -> tuple[str, Any, str]:
    """A web chat visitor who wrote once and asked for a Telegram link."""
    token = await app.visitor()
    ws = await app.connect(token)
    await next_frame(ws, "history")
    await say(ws, ATTACKER_TEXT, "a1")
    await next_reply(ws)
    status, link = await app.post(TELEGRAM, token, {})
    assert status == 200, link
    return token, ws, link["start"]


async def web_history(app: IdentityApp, token: str) -> list[str]:
    ws = await app.connect(token)
    history = (await next_frame(ws, "history"))["messages"]
    await ws.close()
    return [m["text"] for m in history]


async def victim_on_telegram(fake: FakeTelegram, chat: int) -> None:
    """A Telegram user with a history of their own (the bot answered and queued it)."""
    await answer_to(fake, chat, VICTIM_SECRET)


async def asked_to_link(
    app: IdentityApp, fake: FakeTelegram, chat: int
) -> tuple[str, Any, ApiCall]:
    """A web chat's link opened by Telegram user `chat` (who wrote before): the visitor's
    token and socket, and the "link this chat?" question `chat` was asked."""
    token, ws, start = await web_chat_with_link(app)
    await victim_on_telegram(fake, chat)
    question = await answer_to(fake, chat, f"/start {start}")
    return token, ws, question


async def expire_open_questions(app: IdentityApp) -> None:
    async with app.context.sessions() as session, session.begin():
        await session.execute(
            update(IdentityProof)
            .where(IdentityProof.kind == KIND_CHAT_LINK, IdentityProof.used_at.is_(None))
            .values(expires_at=utcnow())
        )


async def test_an_attackers_telegram_link_joins_nothing_when_the_victim_says_no(
    app: IdentityApp, fake: FakeTelegram
) -> None:
    token, ws, start = await web_chat_with_link(app)
    victim = 7770001
    await victim_on_telegram(fake, victim)

    question = await answer_to(fake, victim, f"/start {start}")
    assert question.params["text"] == ROUTER_TEXTS.text("link_confirm", "fa")
    yes, no = ROUTER_TEXTS.text("link_yes", "fa"), ROUTER_TEXTS.text("link_no", "fa")
    assert [b["text"] for b in buttons_of(question)] == [yes, no]
    # Asked, not linked: neither side sees the other.
    assert await app.customer_of("telegram", str(victim)) != await app.customer_of(
        "webchat", await _address(app, token)
    )
    assert VICTIM_SECRET not in await web_history(app, token)

    declined = await tap(fake, victim, question, 1)
    assert declined.params["text"] == ROUTER_TEXTS.text("link_declined", "fa")

    await tell(app, fake, victim, VICTIM_LATER)
    history = await web_history(app, token)
    assert VICTIM_SECRET not in history and VICTIM_LATER not in history
    assert await app.customer_of("telegram", str(victim)) != await app.customer_of(
        "webchat", await _address(app, token)
    )

    # The link is spent: tapping it again asks nothing and links nothing.
    again = await answer_to(fake, victim, f"/start {start}")
    assert again.params["text"] == ROUTER_TEXTS.text("link_refused", "fa")
    await ws.close()


async def test_anything_but_yes_declines_and_a_late_yes_links_nothing(
    app: IdentityApp, fake: FakeTelegram
) -> None:
    token, ws, start = await web_chat_with_link(app)
    victim = 7770002
    await victim_on_telegram(fake, victim)
    await answer_to(fake, victim, f"/start {start}")
    declined = await answer_to(fake, victim, "what is this?")
    assert declined.params["text"] == ROUTER_TEXTS.text("link_declined", "fa")
    await tell(app, fake, victim, "yes")
    assert VICTIM_SECRET not in await web_history(app, token)

    # A fresh link, confirmed only after the question has expired.
    token2, ws2, start2 = await web_chat_with_link(app)
    await answer_to(fake, victim, f"/start {start2}")
    await expire_open_questions(app)
    late = await answer_to(fake, victim, ROUTER_TEXTS.text("link_yes", "fa"))
    assert late.params["text"] == ROUTER_TEXTS.text("link_refused", "fa")
    assert await app.customer_of("telegram", str(victim)) not in {
        await app.customer_of("webchat", await _address(app, token)),
        await app.customer_of("webchat", await _address(app, token2)),
    }
    assert VICTIM_SECRET not in await web_history(app, token2)
    await ws.close()
    await ws2.close()


async def test_the_owner_who_says_yes_gets_one_conversation(
    app: IdentityApp, fake: FakeTelegram
) -> None:
    owner = 7770003
    token, ws, question = await asked_to_link(app, fake, owner)
    # Somebody else saying yes confirms nothing of theirs.
    stranger = 7770004
    await answer_to(fake, stranger, "yes")
    assert await app.customer_of("telegram", str(owner)) != await app.customer_of(
        "webchat", await _address(app, token)
    )

    linked = await tap(fake, owner, question, 0)
    assert linked.params["text"] == ROUTER_TEXTS.text("linked", "fa")
    assert await app.customer_of("telegram", str(owner)) == await app.customer_of(
        "webchat", await _address(app, token)
    )
    assert VICTIM_SECRET in await web_history(app, token)
    await ws.close()


async def stale_tap(fake: FakeTelegram, chat: int, question: ApiCall, index: int) -> list[str]:
    """Tap button `index` of `question` as its keyboard was first sent (a client that
    has not redrawn it, or a quick second tap); once the update is acknowledged, the
    texts the tap was answered with."""
    data = buttons_of(question)[index]["callback_data"]
    return await tap_notices(fake, chat, data, question.result)


async def tap_notices(
    fake: FakeTelegram, chat: int, data: str, message: dict[str, Any]
) -> list[str]:
    """Tap a button with `data` under `message`; once the update is acknowledged, the
    texts the tap was answered with."""
    update_id, query_id = fake.add_callback(chat, data, on_message=message)
    await fake.wait_acknowledged(update_id)
    return [
        call.params.get("text", "")
        for call in fake.calls_to("answerCallbackQuery")
        if call.params.get("callback_query_id") == query_id
    ]


async def what_the_chat_holds(
    app: IdentityApp, fake: FakeTelegram, chat: int
) -> tuple[int, tuple[list[str], int]]:
    """The chat's customer, and what was stored for it and how many replies it got."""
    customer = await app.customer_of("telegram", str(chat))
    assert customer is not None
    return customer, (await app.customer_texts(customer), len(replies_to(fake, chat)))


def buttons_removed(fake: FakeTelegram, question: ApiCall) -> bool:
    """Whether the bot took the buttons off `question` (and Telegram accepted it)."""
    return any(
        call.status == 200
        and str(call.params.get("message_id")) == str(question.result["message_id"])
        and "reply_markup" not in call.params
        for call in fake.calls_to("editMessageReplyMarkup")
    )


async def test_a_second_tap_on_an_answered_question_reaches_neither_bot_nor_thread(
    app: IdentityApp, fake: FakeTelegram
) -> None:
    owner = 7770005
    token, ws, question = await asked_to_link(app, fake, owner)
    linked = await tap(fake, owner, question, 0)
    assert linked.params["text"] == ROUTER_TEXTS.text("linked", "fa")
    await fake.wait_for(lambda: buttons_removed(fake, question))
    customer, seen = await what_the_chat_holds(app, fake, owner)

    closed = ROUTER_TEXTS.text("link_question_closed", "fa")
    for index in (0, 1, 0):
        assert await stale_tap(fake, owner, question, index) == [closed]
    # Nothing stored, nothing answered: the bot never saw the taps.
    assert (await what_the_chat_holds(app, fake, owner))[1] == seen
    assert await app.customer_of("webchat", await _address(app, token)) == customer
    await ws.close()


async def test_a_tap_on_an_expired_question_is_refused_and_closes_it(
    app: IdentityApp, fake: FakeTelegram
) -> None:
    chat = 7770006
    token, ws, question = await asked_to_link(app, fake, chat)
    await expire_open_questions(app)
    customer, seen = await what_the_chat_holds(app, fake, chat)

    assert await stale_tap(fake, chat, question, 0) == [ROUTER_TEXTS.text("link_refused", "fa")]
    assert buttons_removed(fake, question)
    async with app.context.sessions() as session:
        still_open = await session.scalar(
            select(IdentityProof).where(
                IdentityProof.kind == KIND_CHAT_LINK, IdentityProof.used_at.is_(None)
            )
        )
    assert still_open is None
    # Closed now: a second tap is one on an answered question.
    closed = ROUTER_TEXTS.text("link_question_closed", "fa")
    assert await stale_tap(fake, chat, question, 0) == [closed]
    assert (await what_the_chat_holds(app, fake, chat))[1] == seen
    assert await app.customer_of("webchat", await _address(app, token)) != customer
    await ws.close()


async def open_questions(app: IdentityApp) -> list[int]:
    async with app.context.sessions() as session:
        return list(
            await session.scalars(
                select(IdentityProof.id).where(
                    IdentityProof.kind == KIND_CHAT_LINK, IdentityProof.used_at.is_(None)
                )
            )
        )


async def test_a_tap_under_a_replaced_question_answers_nothing(
    app: IdentityApp, fake: FakeTelegram
) -> None:
    # The user opens one web chat's link, then another's (an attacker's, say): the
    # first question is replaced. A yes under the first must not link the second.
    chat = 7770007
    first_token, first_ws, first = await asked_to_link(app, fake, chat)
    second_token, second_ws, second_start = await web_chat_with_link(app)
    second = await answer_to(fake, chat, f"/start {second_start}")
    assert second.params["text"] == ROUTER_TEXTS.text("link_confirm", "fa")
    [open_id] = await open_questions(app)
    customer, seen = await what_the_chat_holds(app, fake, chat)

    notices = [await stale_tap(fake, chat, first, index) for index in (0, 1)]
    # Nothing joined, stored or answered; the newer question stays open.
    for token in (first_token, second_token):
        assert await app.customer_of("webchat", await _address(app, token)) != customer
    assert (await what_the_chat_holds(app, fake, chat))[1] == seen
    assert await open_questions(app) == [open_id]
    assert notices == [[ROUTER_TEXTS.text("link_question_replaced", "fa")]] * 2
    # Each keyboard names its own question, well within Telegram's 64 bytes.
    first_data = [b["callback_data"] for b in buttons_of(first)]
    second_data = [b["callback_data"] for b in buttons_of(second)]
    assert second_data == [f"lq:{open_id}:0", f"lq:{open_id}:1"]
    assert first_data != second_data
    assert all(len(data.encode()) <= 64 for data in first_data + second_data)

    # The current question's yes works as before, and joins the chat it asked about.
    linked = await tap(fake, chat, second, 0)
    assert linked.params["text"] == ROUTER_TEXTS.text("linked", "fa")
    assert await app.customer_of("webchat", await _address(app, second_token)) == customer
    assert await app.customer_of("webchat", await _address(app, first_token)) != customer
    await first_ws.close()
    await second_ws.close()


async def test_a_tap_answers_only_the_question_its_button_names_when_ingested(
    app: IdentityApp, fake: FakeTelegram
) -> None:
    # The channel's check and the ingest are two transactions: a question asked between
    # them replaces the tapped one. The ingest answers only the question the tap names.
    chat = 7770008
    token, ws, _ = await asked_to_link(app, fake, chat)
    [asked] = await open_questions(app)
    seen = len(replies_to(fake, chat))  # the answer to their first message, the question
    tapped = ProofClaim(ProofKind.LINK_ANSWER, question_id=asked + 1000)
    yes = ROUTER_TEXTS.text("link_yes", "fa")
    result = await ingest(
        app.context,
        InboundMessage(
            channel="telegram",
            external_id="tg:cb:raced",
            sender_address=str(chat),
            text=yes,
            sender_verified=True,
            conversational=True,
            proof=tapped,
        ),
    )
    customer = await app.customer_of("telegram", str(chat))
    assert result.customer_id == customer
    assert await app.customer_of("webchat", await _address(app, token)) != customer
    assert await open_questions(app) == [asked]
    await fake.wait_for(lambda: len(replies_to(fake, chat)) > seen)
    assert replies_to(fake, chat)[-1].params["text"] == ROUTER_TEXTS.text(
        "link_question_replaced", "fa"
    )
    await ws.close()


async def test_a_button_sent_before_buttons_named_their_question_is_refused_as_expired(
    app: IdentityApp, fake: FakeTelegram
) -> None:
    # A keyboard as it was sent before: the label itself in the callback data. Which
    # question it was sent with cannot be known, so it links nothing: it is refused as
    # a late answer is, which closes the open question.
    chat = 7770009
    token, ws, question = await asked_to_link(app, fake, chat)
    old = dict(question.result)
    yes = ROUTER_TEXTS.text("link_yes", "fa")
    old["reply_markup"] = {"inline_keyboard": [[{"text": yes, "callback_data": f"s:{yes}"}]]}
    customer, seen = await what_the_chat_holds(app, fake, chat)

    notices = await tap_notices(fake, chat, f"s:{yes}", old)
    assert notices == [ROUTER_TEXTS.text("link_refused", "fa")]
    assert await open_questions(app) == []
    assert (await what_the_chat_holds(app, fake, chat))[1] == seen
    assert await app.customer_of("webchat", await _address(app, token)) != customer
    await ws.close()


async def test_an_attackers_continue_link_is_spent_only_by_the_click(
    app: IdentityApp,
) -> None:
    # The attacker mails us; our answer carries a continue link for their address.
    await app.mail(make_mail(sender=f"Evil <{ATTACKER}>", body=ATTACKER_TEXT), mail_from=ATTACKER)
    link = continue_token_in(await app.relayed(1))
    # The victim chats on the site and opens the attacker's link (or a scanner does).
    victim = await app.visitor()
    ws = await app.connect(victim)
    await next_frame(ws, "history")
    await say(ws, VICTIM_SECRET, "v1")
    await next_reply(ws)
    await ws.close()
    for _ in range(3):
        page = await app.client.get("/continue", params={"token": link, "lang": "en"})
        body = await page.text()
        assert page.status == 200, body
        assert ATTACKER in body  # what would be joined, before anything is
        assert "data-continue-token" in body
    async with app.context.sessions() as session:
        spent = await session.scalar(
            select(IdentityProof).where(IdentityProof.kind == KIND_CONTINUE)
        )
        assert spent is None
    assert await app.customer_of("email", ATTACKER) != await app.customer_of(
        "webchat", await _address(app, victim)
    )
    assert VICTIM_SECRET not in await app.customer_texts(
        await app.customer_of("email", ATTACKER)  # type: ignore[arg-type]
    )

    # Only the POST the button makes spends it; then the page says so.
    status, body = await app.post(CONTINUE, victim, {"token": link})
    assert status == 200, body
    page = await app.client.get("/continue", params={"token": link, "lang": "en"})
    text = await page.text()
    assert page.status == 409 and "data-continue-token" not in text
    assert ROUTER_TEXTS.text("link_refused", "en") in text


async def test_a_continue_token_with_a_non_ascii_signature_is_invalid_not_a_crash(
    app: IdentityApp,
) -> None:
    visitor = await app.visitor()
    for bad in ("abc.مخدوش", "ée.é", "x" * 10 + ".\u200c"):
        status, body = await app.post(CONTINUE, visitor, {"token": bad})
        assert (status, body["error"]["code"]) == (403, "invalid_token"), bad
        page = await app.client.get("/continue", params={"token": bad})
        assert page.status == 400, bad
        assert "data-continue-token" not in await page.text()


async def _address(app: IdentityApp, token: str) -> str:
    return str(app.address_of(token))
