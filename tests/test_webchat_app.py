"""The web chat against the real app: real ingest, database, outbox and tier-0 bot.

The protocol details and every limit are pinned in test_webchat_protocol.py against an
in-memory router; here the same promises are checked end to end (SQLite or PostgreSQL).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bot import build_responder
from channels.webchat.tokens import TokenSigner, user_hash
from config.settings import Settings
from router.context import AppContext
from router.core.events import MessageStored
from router.core.ingest import ingest
from router.core.messages import InboundMessage
from router.core.responder import QueueEveryThread
from router.storage.models import Message, OutboxItem, Thread
from tests.conftest import AppFactory
from tests.webchat_fakes import frames_until_witness, next_frame, next_reply

SESSIONS = "/api/v1/webchat/sessions"


async def start(
    start_app: AppFactory, settings: Settings, **webchat: Any
) -> tuple[TestClient[Any, Any], AppContext]:
    """The whole server with the web chat enabled from settings and the sample-KB bot."""
    # Only the web chat: the email channel would bind its fixed SMTP port.
    settings = settings.replace("webchat", enabled=True, **webchat).replace("email", enabled=False)
    client, context = await start_app(settings, responder=build_responder(faq_path=None))
    return client, context


async def new_token(client: TestClient[Any, Any], **body: Any) -> str:
    response = await client.post(SESSIONS, json=body)
    assert response.status == 200, await response.text()
    token: str = (await response.json())["visitor_token"]
    return token


async def connect(client: TestClient[Any, Any], token: str, **query: Any) -> Any:
    ws = await client.ws_connect("/ws/webchat", params={"token": token, **query})
    assert (await next_frame(ws))["type"] == "ready"
    return ws


async def say(ws: Any, text: str, client_id: str) -> dict[str, Any]:
    frame = {"type": "message", "client_id": client_id, "text": text}
    await ws.send_str(json.dumps(frame, ensure_ascii=False))
    return await next_frame(ws, "ack")


async def stored_texts(context: AppContext) -> list[str]:
    async with context.sessions() as session:
        rows = await session.scalars(select(Message.text).order_by(Message.id))
        return list(rows)


async def test_a_persian_question_gets_the_bots_persian_answer_after_the_ack(
    start_app: AppFactory, settings: Settings
) -> None:
    client, context = await start(start_app, settings)
    ws = await connect(client, await new_token(client), lang="fa")
    assert (await next_frame(ws, "history"))["messages"] == []
    ack = await say(ws, "ارسال چند روز طول می‌کشد؟", "q1")
    # Acked after commit: the id names a stored row already.
    async with context.sessions() as session:
        row = await session.get(Message, int(ack["message_id"]))
    assert row is not None and row.channel == "webchat" and row.author_kind == "customer"

    answer = await next_reply(ws)
    assert answer["author"] == "bot"
    assert "روز کاری" in answer["text"]
    assert answer["suggestions"]  # "did this help?" buttons
    assert int(answer["id"]) > int(ack["message_id"])


async def test_duplicate_client_id_is_stored_once(
    start_app: AppFactory, settings: Settings
) -> None:
    client, context = await start(start_app, settings)
    token = await new_token(client)
    ws = await connect(client, token)
    first = await say(ws, "سفارشم کجاست؟", "dup-1")
    await ws.close()
    again = await connect(client, token)
    second = await say(again, "سفارشم کجاست؟", "dup-1")
    assert first["message_id"] == second["message_id"]
    assert (await stored_texts(context)).count("سفارشم کجاست؟") == 1


async def test_history_and_catch_up_after_reconnect(
    start_app: AppFactory, settings: Settings
) -> None:
    client, _ = await start(start_app, settings)
    token = await new_token(client)
    ws = await connect(client, token)
    await say(ws, "ارسال چند روز طول می‌کشد؟", "h1")
    answer = await next_reply(ws)
    await ws.close()

    reloaded = await connect(client, token)
    history = (await next_frame(reloaded, "history"))["messages"]
    assert [m["author"] for m in history] == ["customer", "bot"]
    assert history[1]["id"] == answer["id"]
    # While this tab is away the visitor writes from another tab; the bot answers.
    other_tab = await connect(client, token)
    await next_frame(other_tab, "history")
    await reloaded.close()
    await say(other_tab, "چطور کالا را مرجوع کنم؟", "h2")
    await next_reply(other_tab)

    resumed = await connect(client, token, after=answer["id"])
    missed = (await next_frame(resumed, "history"))["messages"]
    assert [m["author"] for m in missed] == ["customer", "bot"]
    assert missed[0]["text"] == "چطور کالا را مرجوع کنم؟"
    assert "۷ روز" in missed[1]["text"]


async def test_a_first_message_shows_what_was_stored_before_the_socket_knew_its_customer(
    start_app: AppFactory, settings: Settings
) -> None:
    client, context = await start(start_app, settings)
    token = await new_token(client)
    ws = await connect(client, token)
    assert (await next_frame(ws, "history"))["messages"] == []
    # The visitor writes from a tab on another process (its message stored by the same
    # ingest): its event reaches this process before this socket knows any customer.
    address = TokenSigner(context.settings.server.secret_key).open_visitor(token).address
    elsewhere = InboundMessage(
        channel="webchat",
        external_id=f"{address}/elsewhere",
        sender_address=address,
        text="از تب دیگر",
    )
    async with context.events.subscription() as events, asyncio.timeout(10):
        stored = await ingest(context, elsewhere)
        while not isinstance(seen := await events.get(), MessageStored) or (
            seen.message_id != stored.message_id
        ):
            pass
    await say(ws, "سلام", "first")
    # This socket's first message makes the customer its own: what it missed comes now.
    while (await next_frame(ws, "message"))["message"]["id"] != str(stored.message_id):
        pass


async def test_visitor_a_never_sees_visitor_b(start_app: AppFactory, settings: Settings) -> None:
    client, context = await start(start_app, settings)
    token_a, token_b = await new_token(client), await new_token(client)
    ws_b = await connect(client, token_b)
    await say(ws_b, "کد سفارش محرمانه من ۹۸۷۶ است", "same-id")
    ws_a = await connect(client, token_a)
    assert (await next_frame(ws_a, "history"))["messages"] == []
    ack_a = await say(ws_a, "سلام", "same-id")  # B's client id means nothing for A
    async with context.sessions() as session:
        row = await session.get(Message, int(ack_a["message_id"]))
    assert row is not None and row.text == "سلام"
    frames = await frames_until_witness(context, ws_a, row.customer_id)
    assert all("۹۸۷۶" not in str(frame) for frame in frames)
    resumed = await connect(client, token_a, after="0")
    texts = [m["text"] for m in (await next_frame(resumed, "history"))["messages"]]
    assert "سلام" in texts and all("۹۸۷۶" not in t for t in texts)


async def test_forged_user_hash_is_refused(start_app: AppFactory, settings: Settings) -> None:
    client, _ = await start(start_app, settings, user_hash_secret="the-sites-secret")
    forged = await client.post(SESSIONS, json={"user_id": "u-7", "user_hash": "0" * 64})
    assert forged.status == 403
    unsigned = await client.post(SESSIONS, json={"user_id": "u-7"})
    assert unsigned.status == 403
    signed = {"user_id": "u-7", "user_hash": user_hash("the-sites-secret", "u-7")}
    token = await new_token(client, **signed)
    ws = await connect(client, token)
    await say(ws, "سلام", "u1")
    # The same user on another device resumes the same conversation.
    other_device = await connect(client, await new_token(client, **signed))
    texts = [m["text"] for m in (await next_frame(other_device, "history"))["messages"]]
    assert texts[0] == "سلام"


async def test_bot_replies_go_through_the_outbox_and_are_delivered(
    start_app: AppFactory, settings: Settings
) -> None:
    client, context = await start(start_app, settings)
    ws = await connect(client, await new_token(client))
    await say(ws, "چه روش‌های پرداختی دارید؟", "o1")
    await next_reply(ws)
    for _ in range(100):
        async with context.sessions() as session:
            pending = await session.scalar(
                select(func.count()).select_from(OutboxItem).where(OutboxItem.status != "delivered")
            )
        if pending == 0:
            break
        await asyncio.sleep(0.05)
    assert pending == 0


async def test_limits_hold_in_the_real_app(
    start_app: AppFactory, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("WARNING", logger="channels.webchat.adapter")
    client, context = await start(
        start_app,
        settings,
        max_message_length=20,
        rate_limit_per_minute=2,
        allowed_origins=["https://shop.example"],
    )
    token = await new_token(client)
    bad_origin = await client.ws_connect(
        "/ws/webchat", params={"token": token}, headers={"Origin": "https://evil.example"}
    )
    assert (await next_frame(bad_origin))["code"] == "origin_not_allowed"
    assert (await bad_origin.receive()).type == WSMsgType.CLOSE
    ws = await connect(client, token)
    await ws.send_str("{oops")
    assert (await next_frame(ws, "error"))["code"] == "invalid_json"
    await ws.send_json({"type": "message", "client_id": "l", "text": "x" * 21})
    assert (await next_frame(ws, "error"))["code"] == "message_too_long"
    await say(ws, "سلام", "r1")
    await say(ws, "سلام دوباره", "r2")
    await ws.send_json({"type": "message", "client_id": "r3", "text": "سوم"})
    assert (await next_frame(ws, "error"))["code"] == "rate_limited"
    # Text no column can store (JSON-escaped NUL, lone surrogate) is refused, not retried.
    await ws.send_str('{"type": "message", "client_id": "n", "text": "a\\u0000"}')
    assert (await next_frame(ws, "error"))["code"] == "invalid_text"
    # A flood: every frame refused and counted, the log holds only the first few.
    for n in range(40):
        await ws.send_json({"type": "message", "client_id": f"f{n}", "text": "سلام"})
    for _ in range(40):
        assert (await next_frame(ws, "error"))["code"] == "rate_limited"
    await ws.send_json({"type": "ping"})
    assert (await next_frame(ws, "pong"))["type"] == "pong"
    # Over the hard frame cap (4 × max_frame_bytes: 256 KiB) the socket is dropped.
    huge = await connect(client, token)
    await huge.send_str("x" * 270_000)
    async with asyncio.timeout(10):
        closing = await huge.receive()
        while closing.type == WSMsgType.TEXT:  # the history frames come first
            closing = await huge.receive()
    assert closing.type == WSMsgType.CLOSE and closing.data == 1009
    async with context.sessions() as session:
        inbound = await session.scalars(
            select(Message.text).where(Message.direction == "in").order_by(Message.id)
        )
        assert list(inbound) == ["سلام", "سلام دوباره"]
    async with asyncio.timeout(5):  # the server sees the dropped socket a moment later
        while 'code="frame_too_large"} 1.0' not in (metrics := await metrics_text(client)):
            await asyncio.sleep(0.02)
    assert 'pasokh_webchat_refused_total{code="origin_not_allowed"} 1.0' in metrics
    assert 'pasokh_webchat_refused_total{code="invalid_text"} 1.0' in metrics
    assert 'pasokh_webchat_refused_total{code="rate_limited"} 41.0' in metrics
    assert 'pasokh_webchat_refused_total{code="frame_too_large"} 1.0' in metrics
    logged = [r.getMessage() for r in caplog.records if "web chat refused" in r.getMessage()]
    assert any("code=origin_not_allowed" in line for line in logged)
    assert any("code=frame_too_large" in line for line in logged)
    # the origin refusal, at most 5 for the flooding socket, the dropped one
    assert len(logged) <= 1 + 5 + 1
    assert (await client.get("/healthz")).status == 200


async def metrics_text(client: TestClient[Any, Any]) -> str:
    return await (await client.get("/metrics")).text()


@pytest.mark.parametrize("lang", ["fa", "ar", "en"])
async def test_demo_page_and_widget_are_served(
    start_app: AppFactory, settings: Settings, lang: str
) -> None:
    client, _ = await start(start_app, settings)
    page = await client.get("/", params={"lang": lang})
    assert page.status == 200 and f'lang="{lang}"' in await page.text()
    assert (await client.get("/widget.js")).status == 200


async def test_thirty_fresh_visitors_from_one_address_cannot_flood_the_queue(
    start_app: AppFactory, settings: Settings
) -> None:
    # No bot: every new conversation goes straight to the agents' queue.
    # The thirty sockets are let in (the cap on sockets per address is not under test).
    settings = settings.replace(
        "webchat", enabled=True, sessions_per_address_per_minute=10, max_sockets_per_address=40
    ).replace("email", enabled=False)
    client, context = await start_app(settings, responder=QueueEveryThread())
    started = time.monotonic()
    answers = await asyncio.gather(*(client.post(SESSIONS, json={}) for _ in range(30)))
    granted = sum(1 for a in answers if a.status == 200)
    assert {a.status for a in answers} == {200, 429}
    assert 10 <= granted <= 10 + refilled_since(started)
    tokens = [(await a.json())["visitor_token"] for a in answers if a.status == 200]
    # Visitors who got their tokens earlier (or from another process) join in.
    signer = TokenSigner(context.settings.server.secret_key)
    tokens += [signer.new_anonymous()[0] for _ in range(20)]
    sockets = [await connect(client, token) for token in tokens]
    started = time.monotonic()
    for n, ws in enumerate(sockets):
        await ws.send_json({"type": "message", "client_id": f"p{n}", "text": f"کمک {n}"})
    outcomes = [await next_ack_or_error(ws) for ws in sockets]
    handed_off = sum(1 for o in outcomes if o["type"] == "ack")
    assert 10 <= handed_off <= 10 + refilled_since(started)  # the default hand-off limit
    assert {o["code"] for o in outcomes if o["type"] == "error"} == {"rate_limited"}
    async with context.sessions() as session:
        queued = await session.scalar(
            select(func.count()).select_from(Thread).where(Thread.status == "queued")
        )
    assert queued == handed_off


def refilled_since(started: float, per_minute: int = 10) -> int:
    """Tokens a bucket of `per_minute` a minute has earned back since `started` (the
    database's buckets run on its clock, which a test cannot stop: a loaded machine may
    take seconds over thirty requests)."""
    return int((time.monotonic() - started) * per_minute / 60)


async def next_ack_or_error(ws: Any) -> dict[str, Any]:
    while True:
        frame = await next_frame(ws)
        if frame["type"] in ("ack", "error"):
            return frame
