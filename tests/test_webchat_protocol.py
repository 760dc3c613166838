"""The web chat protocol against an in-memory router (tests/webchat_fakes.py).

Sessions, the socket protocol, isolation between visitors and every limit; the same
behaviour against the real app is in test_webchat_app.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, WSMsgType
from aiohttp.test_utils import TestClient

from channels.webchat import WebchatAdapter
from channels.webchat.adapter import PUSHED, STORED
from channels.webchat.tokens import user_hash
from router.core.events import (
    CustomersMerged,
    EventsResumed,
    InProcessEventBus,
    MessageStored,
    Typing,
)
from router.core.messages import AuthorKind, InboundMessage, OutboundMessage
from router.core.rate_limits import MemoryRateLimits
from tests.webchat_fakes import (
    FRAME_WAIT,
    FakeRouter,
    build_test_app,
    make_adapter,
    make_services,
    messages_before,
    next_frame,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def persian_bot(inbound: InboundMessage) -> tuple[str, tuple[str, ...]] | None:
    if "ارسال" in inbound.text:
        return "ارسال در تهران دو روز کاری طول می‌کشد.", ("هزینهٔ ارسال چقدر است؟",)
    return None


class Harness:
    """One app with the adapter and a fake router; helpers to open sessions and sockets."""

    def __init__(self, client: TestClient[Any, Any], router: FakeRouter, adapter: Any) -> None:
        self.client = client
        self.router = router
        self.adapter: WebchatAdapter = adapter

    async def token(self, **body: Any) -> str:
        response = await self.client.post("/api/v1/webchat/sessions", json=body)
        assert response.status == 200, await response.text()
        token: str = (await response.json())["visitor_token"]
        return token

    async def connect(self, token: str, **query: Any) -> Any:
        ws = await self.client.ws_connect("/ws/webchat", params={"token": token, **query})
        ready = await next_frame(ws)
        assert ready["type"] == "ready", ready
        return ws


@pytest.fixture
async def make_harness(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> Callable[..., Awaitable[Harness]]:
    async def make(**settings: Any) -> Harness:
        router = FakeRouter(InProcessEventBus(), bot=persian_bot)
        adapter = make_adapter(**settings)
        app = build_test_app(adapter, make_services(router, tmp_path))
        return Harness(await aiohttp_client(app), router, adapter)

    return make


@pytest.fixture
async def harness(make_harness: Callable[..., Awaitable[Harness]]) -> Harness:
    return await make_harness()


async def send(ws: Any, text: str, client_id: str = "c1", **extra: Any) -> None:
    # Like a browser's JSON.stringify: non-ASCII letters are not escaped.
    frame = {"type": "message", "client_id": client_id, "text": text, **extra}
    await ws.send_str(json.dumps(frame, ensure_ascii=False))


class HeldRefunds(MemoryRateLimits):
    """Rate limits whose refunds wait until the test lets them go."""

    def __init__(self) -> None:
        super().__init__()
        self.refunding = asyncio.Event()
        self.release = asyncio.Event()

    async def refund(self, name: str, key: str, capacity: int, per_seconds: float) -> None:
        self.refunding.set()
        await self.release.wait()
        await super().refund(name, key, capacity, per_seconds)


async def test_the_ack_does_not_wait_for_the_hand_off_token_to_be_given_back(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    """A message the bot answers gives its hand-off token back (on PostgreSQL a round
    trip); the visitor's ack is sent before that, not after."""
    router = FakeRouter(InProcessEventBus(), bot=persian_bot)
    limits = HeldRefunds()
    services = dataclasses.replace(make_services(router, tmp_path), limits=limits)
    adapter = make_adapter()
    harness = Harness(await aiohttp_client(build_test_app(adapter, services)), router, adapter)
    ws = await harness.connect(await harness.token())
    await send(ws, "هزینهٔ ارسال چقدر است؟")
    await asyncio.wait_for(limits.refunding.wait(), FRAME_WAIT)
    ack = await next_frame(ws, "ack")
    assert ack["client_id"] == "c1" and not limits.release.is_set()
    limits.release.set()


async def test_ack_comes_after_the_message_is_committed(harness: Harness) -> None:
    ws = await harness.connect(await harness.token())
    assert (await next_frame(ws))["type"] == "history"
    await send(ws, "سلام، کی سفارشم می‌رسد؟")
    ack = await next_frame(ws, "ack")
    assert ack["client_id"] == "c1"
    stored = await harness.router.message(int(ack["message_id"]))
    assert stored is not None and stored.text == "سلام، کی سفارشم می‌رسد؟"
    inbound = harness.router.inbound[0]
    assert inbound.channel == "webchat"
    assert inbound.external_id.endswith("/c1") and inbound.external_id.startswith("visitor:")
    assert inbound.sender_address.startswith("visitor:")


async def test_same_client_id_is_acked_with_the_same_id_and_stored_once(harness: Harness) -> None:
    token = await harness.token()
    ws = await harness.connect(token)
    await send(ws, "یک پیام", client_id="same")
    first = await next_frame(ws, "ack")
    await ws.close()
    again = await harness.connect(token)  # a reconnect resends what was not acked
    await send(again, "یک پیام", client_id="same")
    second = await next_frame(again, "ack")
    assert first["message_id"] == second["message_id"]
    assert [m.text for m in harness.router.messages] == ["یک پیام"]


async def test_the_bot_answer_reaches_a_new_visitor(harness: Harness) -> None:
    ws = await harness.connect(await harness.token(), lang="fa")
    await send(ws, "ارسال چقدر طول می‌کشد؟")
    frame = await next_frame(ws, "message")
    message = frame["message"]
    assert message["author"] == "bot"
    assert message["text"].startswith("ارسال در تهران")
    assert message["suggestions"] == ["هزینهٔ ارسال چقدر است؟"]
    assert {"id", "author_name", "created_at", "attachments"} <= message.keys()
    assert harness.router.inbound[0].language == "fa"


async def test_a_message_every_socket_has_is_not_read_back(harness: Harness) -> None:
    token = await harness.token()
    ws = await harness.connect(token)
    await send(ws, "سلام", client_id="c0")
    await next_frame(ws, "ack")
    await send(ws, "ارسال؟")
    await next_frame(ws, "ack")
    bot = (await next_frame(ws, "message"))["message"]
    # The sender has its own messages through the acks: only the bot's answer is read.
    assert harness.router.reads == [int(bot["id"])]
    second_tab = await harness.connect(token)
    await send(ws, "دوباره", client_id="c2")
    ack = await next_frame(ws, "ack")
    assert (await next_frame(second_tab, "message"))["message"]["text"] == "دوباره"
    assert harness.router.reads[-1] == int(ack["message_id"])  # the other tab needed it


async def test_messages_stored_together_are_read_back_by_one_read(harness: Harness) -> None:
    ws = await harness.connect(await harness.token())
    await send(ws, "سلام")
    await next_frame(ws, "ack")
    customer = harness.router.customers[("webchat", harness.router.inbound[0].sender_address)]
    stored = [
        harness.router.store(customer, AuthorKind.AGENT, f"پاسخ {n}", author_name="Sara")
        for n in range(5)
    ]
    shown = [(await next_frame(ws, "message"))["message"]["text"] for _ in stored]
    assert shown == [m.text for m in stored]
    # Five events in the queue at once: one read for the wave, not one per message.
    assert harness.router.read_waves == [[m.id for m in stored]]


async def test_history_on_connect_and_catch_up_after_last_id(harness: Harness) -> None:
    token = await harness.token()
    ws = await harness.connect(token)
    await next_frame(ws, "history")
    await send(ws, "ارسال؟")
    ack = await next_frame(ws, "ack")
    bot = await next_frame(ws, "message")
    await ws.close()
    customer = harness.router.customers[("webchat", harness.router.inbound[0].sender_address)]
    harness.router.store(customer, AuthorKind.AGENT, "من مریم هستم", author_name="مریم")

    fresh = await harness.connect(token)
    history = await next_frame(fresh, "history")
    assert [m["text"] for m in history["messages"]] == [
        "ارسال؟",
        bot["message"]["text"],
        "من مریم هستم",
    ]
    assert history["messages"][2]["author_name"] == "مریم"
    await fresh.close()

    resumed = await harness.connect(token, after=bot["message"]["id"])
    missed = await next_frame(resumed, "history")
    assert [m["text"] for m in missed["messages"]] == ["من مریم هستم"]
    assert int(ack["message_id"]) < int(bot["message"]["id"])


async def test_history_is_limited_to_the_recent_messages(
    make_harness: Callable[..., Awaitable[Harness]],
) -> None:
    harness = await make_harness(history_limit=3)
    token = await harness.token()
    ws = await harness.connect(token)
    for n in range(5):
        await send(ws, f"پیام {n}", client_id=f"m{n}")
        await next_frame(ws, "ack")
    await ws.close()
    again = await harness.connect(token)
    history = await next_frame(again, "history")
    assert [m["text"] for m in history["messages"]] == ["پیام 2", "پیام 3", "پیام 4"]
    await again.close()
    caught_up = await harness.connect(token, after="0")
    everything = await next_frame(caught_up, "history")
    assert len(everything["messages"]) == 5  # catch-up pages through everything missed


async def test_every_message_of_the_thread_reaches_every_tab(harness: Harness) -> None:
    token = await harness.token()
    tab1 = await harness.connect(token)
    tab2 = await harness.connect(token)
    await send(tab1, "از تب اول")
    await next_frame(tab1, "ack")
    seen = await next_frame(tab2, "message")
    assert seen["message"]["text"] == "از تب اول"
    assert seen["message"]["author"] == "customer"
    address = harness.router.inbound[0].sender_address
    customer = harness.router.customers[("webchat", address)]
    # An agent's reply, and a message the same customer sent by email, reach both tabs.
    harness.router.store(customer, AuthorKind.AGENT, "پاسخ کارشناس", author_name="رضا")
    harness.router.store(customer, AuthorKind.CUSTOMER, "از ایمیل", channel="email")
    for tab in (tab1, tab2):
        texts = [(await next_frame(tab, "message"))["message"]["text"] for _ in range(2)]
        assert texts == ["پاسخ کارشناس", "از ایمیل"]


async def test_internal_notes_and_other_customers_never_reach_the_socket(
    harness: Harness,
) -> None:
    ws = await harness.connect(await harness.token())
    await send(ws, "سلام")
    await next_frame(ws, "ack")
    other = harness.router.customer("webchat", "visitor:someone-else")
    harness.router.store(other, AuthorKind.AGENT, "پیام مشتری دیگر")
    mine = harness.router.customers[("webchat", harness.router.inbound[0].sender_address)]
    harness.router.events.publish(
        MessageStored(
            message_id=999, thread_id=mine, customer_id=mine, author="agent", internal=True
        )
    )
    harness.router.store(mine, AuthorKind.AGENT, "برای شما")
    frame = await next_frame(ws, "message")
    assert frame["message"]["text"] == "برای شما"


async def test_visitor_a_cannot_read_or_write_visitor_b(harness: Harness) -> None:
    token_a, token_b = await harness.token(), await harness.token()
    assert token_a != token_b
    ws_b = await harness.connect(token_b)
    await send(ws_b, "راز من: کد سفارش ۱۲۳۴", client_id="shared-id")
    await next_frame(ws_b, "ack")

    ws_a = await harness.connect(token_a)
    assert (await next_frame(ws_a, "history"))["messages"] == []
    # The same client id from A is A's own message, not a duplicate of B's.
    await send(ws_a, "پیام الف", client_id="shared-id")
    ack_a = await next_frame(ws_a, "ack")
    assert [m.text for m in harness.router.messages if str(m.id) == ack_a["message_id"]] == [
        "پیام الف"
    ]
    addresses = {m.sender_address for m in harness.router.inbound}
    assert len(addresses) == 2
    # Nothing of B's reaches A, live or on reconnect, whatever `after` A claims.
    mine = next(m.thread_id for m in harness.router.messages if str(m.id) == ack_a["message_id"])
    harness.router.store(mine, AuthorKind.AGENT, "برای الف")
    live = await messages_before(ws_a, "برای الف")
    assert all("۱۲۳۴" not in m["text"] for m in live), live
    again = await harness.connect(token_a, after="0")
    texts = [m["text"] for m in (await next_frame(again, "history"))["messages"]]
    assert texts == ["پیام الف", "برای الف"]


async def test_a_forged_or_foreign_token_is_refused(harness: Harness) -> None:
    token = await harness.token()
    payload, signature = token.split(".")[1:]
    forged = f"v1.{payload}.{'A' * len(signature)}"
    for bad in (forged, "", "v1.e30.x", token + "x"):
        ws = await harness.client.ws_connect("/ws/webchat", params={"token": bad})
        error = await next_frame(ws)
        assert error == {"type": "error", "code": "invalid_token", "message": error["message"]}
        closing = await ws.receive()
        assert closing.type == WSMsgType.CLOSE and closing.data == 4401


async def test_user_hash_is_required_and_checked_when_the_secret_is_set(
    make_harness: Callable[..., Awaitable[Harness]],
) -> None:
    harness = await make_harness(user_hash_secret="site-secret")
    post = harness.client.post
    url = "/api/v1/webchat/sessions"
    forged = await post(url, json={"user_id": "42", "user_hash": user_hash("guess", "42")})
    assert forged.status == 403 and (await forged.json())["error"] == "invalid_user_hash"
    missing = await post(url, json={"user_id": "42"})
    assert missing.status == 403 and (await missing.json())["error"] == "user_hash_required"
    other = await post(url, json={"user_id": "43", "user_hash": user_hash("site-secret", "42")})
    assert other.status == 403
    # Not hex at all (non-ASCII, a surrogate): refused like any wrong hash, not a 500.
    for junk in ("۱۲۳ab", "\ud800", "é" * 64):
        weird = await post(url, json={"user_id": "42", "user_hash": junk})
        assert weird.status == 403 and (await weird.json())["error"] == "invalid_user_hash"

    good = await post(
        url, json={"user_id": "42", "user_hash": user_hash("site-secret", "42"), "name": "سارا"}
    )
    assert good.status == 200 and (await good.json())["user_verified"] is True
    ws = await harness.connect((await good.json())["visitor_token"])
    await send(ws, "سلام")
    await next_frame(ws, "ack")
    inbound = harness.router.inbound[0]
    assert (inbound.sender_address, inbound.sender_name, inbound.sender_verified) == (
        "user:42",
        "سارا",
        True,
    )


async def test_without_a_secret_a_user_id_is_ignored_not_trusted(harness: Harness) -> None:
    response = await harness.client.post(
        "/api/v1/webchat/sessions", json={"user_id": "42", "user_hash": "anything"}
    )
    body = await response.json()
    assert body["user_verified"] is False
    ws = await harness.connect(body["visitor_token"])
    await send(ws, "سلام")
    await next_frame(ws, "ack")
    assert harness.router.inbound[0].sender_address.startswith("visitor:")


async def test_a_session_resumes_with_its_token(harness: Harness) -> None:
    token = await harness.token()
    assert await harness.token(visitor_token=token) == token
    assert await harness.token(visitor_token="v1.bogus.token") != token
    deep = await harness.client.post("/api/v1/webchat/sessions", data=b"[" * 8000 + b"]" * 8000)
    assert deep.status == 400 and (await deep.json())["error"] == "invalid_json"
    long = await harness.client.post(
        "/api/v1/webchat/sessions", data=b'{"n": ' + b"9" * 5000 + b"}"
    )
    assert long.status == 400 and (await long.json())["error"] == "invalid_json"
    # Not even ASCII (a JSON-escaped lone surrogate): a new visitor, not a 500.
    assert await harness.token(visitor_token="v1.\ud800.\u00e9") != token


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "message", "text": "no id"}', "invalid_frame"),
        ('{"type": "message", "client_id": "a b", "text": "x"}', "invalid_frame"),
        ('{"type": "message", "client_id": "e", "text": "   "}', "empty_message"),
        ('{"type": "message", "client_id": "t", "text": 5}', "invalid_frame"),
        # valid UTF-8 whose JSON escapes decode to text no database column can store
        ('{"type": "message", "client_id": "n", "text": "a\\u0000b"}', "invalid_text"),
        ('{"type": "message", "client_id": "s", "text": "\\ud800 hi"}', "invalid_text"),
        # a number of more digits than Python converts: its own ValueError, not JSON's
        (
            '{"type": "message", "client_id": "d", "text": "x", "n": ' + "9" * 5000 + "}",
            "invalid_json",
        ),
    ],
)
async def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(
    harness: Harness, raw: str, code: str
) -> None:
    ws = await harness.connect(await harness.token())
    await ws.send_str(raw)
    error = await next_frame(ws, "error")
    assert error["code"] == code and error["message"]
    await ws.send_json({"type": "ping"})
    assert (await next_frame(ws, "pong"))["type"] == "pong"
    assert harness.router.inbound == []


async def test_binary_frames_are_refused(harness: Harness) -> None:
    ws = await harness.connect(await harness.token())
    await ws.send_bytes(b"\x00\x01")
    assert (await next_frame(ws, "error"))["code"] == "binary_not_supported"


async def test_frame_size_limit(make_harness: Callable[..., Awaitable[Harness]]) -> None:
    harness = await make_harness(max_frame_bytes=1000, max_message_length=5000)
    ws = await harness.connect(await harness.token())
    await send(ws, "ب" * 600)  # 1200 bytes of UTF-8
    assert (await next_frame(ws, "error"))["code"] == "frame_too_large"
    await send(ws, "ب" * 400, client_id="ok")
    assert (await next_frame(ws, "ack"))["client_id"] == "ok"
    # Far over the limit, the socket itself is closed as "message too big".
    await ws.send_str("x" * 100_000)
    closing = await ws.receive()
    assert closing.type == WSMsgType.CLOSE and closing.data == 1009


async def test_message_length_limit(make_harness: Callable[..., Awaitable[Harness]]) -> None:
    harness = await make_harness(max_message_length=10)
    ws = await harness.connect(await harness.token())
    await send(ws, "این پیام بیش از ده نویسه است", client_id="long")
    error = await next_frame(ws, "error")
    assert (error["code"], error["client_id"]) == ("message_too_long", "long")
    assert harness.router.inbound == []


async def test_rate_limit_per_visitor_across_tabs(
    make_harness: Callable[..., Awaitable[Harness]],
) -> None:
    harness = await make_harness(rate_limit_per_minute=3)
    token = await harness.token()
    tab1, tab2 = await harness.connect(token), await harness.connect(token)
    for n in range(3):
        await send(tab1 if n % 2 else tab2, f"پیام {n}", client_id=f"r{n}")
    acks = [await next_frame(tab2, "ack"), await next_frame(tab1, "ack")]
    await next_frame(tab2, "ack")
    await send(tab1, "یکی بیشتر", client_id="r3")
    error = await next_frame(tab1, "error")
    assert (error["code"], error["client_id"]) == ("rate_limited", "r3")
    assert 0 < error["retry_after"] <= 20
    assert len(harness.router.inbound) == 3 and acks
    # Another visitor has their own budget.
    other = await harness.connect(await harness.token())
    await send(other, "من دیگری‌ام", client_id="o1")
    assert (await next_frame(other, "ack"))["client_id"] == "o1"


async def test_origins_outside_the_allowed_list_are_refused(
    make_harness: Callable[..., Awaitable[Harness]],
) -> None:
    harness = await make_harness(allowed_origins=["https://shop.example"])
    good = {"Origin": "https://shop.example"}
    bad = {"Origin": "https://evil.example"}
    refused = await harness.client.post("/api/v1/webchat/sessions", json={}, headers=bad)
    assert refused.status == 403
    allowed = await harness.client.post("/api/v1/webchat/sessions", json={}, headers=good)
    assert allowed.status == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    token = (await allowed.json())["visitor_token"]
    preflight = await harness.client.options("/api/v1/webchat/sessions", headers=good)
    assert preflight.status == 204 and "POST" in preflight.headers["Access-Control-Allow-Methods"]

    ws = await harness.client.ws_connect("/ws/webchat", params={"token": token}, headers=bad)
    assert (await next_frame(ws))["code"] == "origin_not_allowed"
    closing = await ws.receive()
    assert closing.type == WSMsgType.CLOSE and closing.data == 4403
    ok = await harness.client.ws_connect("/ws/webchat", params={"token": token}, headers=good)
    assert (await next_frame(ok))["type"] == "ready"
    own_host = {"Origin": f"http://{harness.client.host}:{harness.client.port}"}
    same = await harness.client.ws_connect("/ws/webchat", params={"token": token}, headers=own_host)
    assert (await next_frame(same))["type"] == "ready"


async def test_too_many_open_sockets_for_one_visitor(
    make_harness: Callable[..., Awaitable[Harness]],
) -> None:
    harness = await make_harness(max_sockets_per_visitor=2)
    token = await harness.token()
    await harness.connect(token)
    await harness.connect(token)
    third = await harness.client.ws_connect("/ws/webchat", params={"token": token})
    assert (await next_frame(third))["code"] == "too_many_sockets"
    assert (await third.receive()).data == 4429


async def test_a_failed_ingest_is_reported_and_retried_without_loss(harness: Harness) -> None:
    ws = await harness.connect(await harness.token())
    harness.router.fail_next = True
    await send(ws, "پیام مهم", client_id="retry-me")
    error = await next_frame(ws, "error")
    assert (error["code"], error["client_id"]) == ("server_error", "retry-me")
    await send(ws, "پیام مهم", client_id="retry-me")
    assert (await next_frame(ws, "ack"))["client_id"] == "retry-me"
    assert [m.text for m in harness.router.messages] == ["پیام مهم"]


async def test_typing_both_ways(harness: Harness) -> None:
    ws = await harness.connect(await harness.token())
    await send(ws, "سلام")
    await next_frame(ws, "ack")
    events = harness.router.events.subscribe()
    await ws.send_json({"type": "typing"})
    await ws.send_json({"type": "typing"})  # throttled: one event per couple of seconds
    await send(ws, "و بعد", client_id="c2")  # frames are handled in order
    event = await asyncio.wait_for(events.get(), 2)
    assert isinstance(event, Typing) and event.who == "customer"
    after = await asyncio.wait_for(events.get(), 2)  # the message's, not a second typing
    assert isinstance(after, MessageStored), after
    harness.router.events.publish(
        Typing(thread_id=event.thread_id, customer_id=event.customer_id, who="agent", name="مریم")
    )
    frame = await next_frame(ws, "typing")
    assert frame == {"type": "typing", "who": "agent", "name": "مریم"}


async def test_upload_becomes_an_attachment_only_its_visitor_can_send(harness: Harness) -> None:
    token, other = await harness.token(), await harness.token()
    form = FormData()
    form.add_field("file", PNG, filename="رسید.png", content_type="image/png")
    response = await harness.client.post(
        "/api/v1/webchat/uploads", data=form, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == 200, await response.text()
    upload = await response.json()
    assert (upload["content_type"], upload["size"], upload["filename"]) == (
        "image/png",
        len(PNG),
        "رسید.png",
    )

    thief = await harness.connect(other)
    await send(thief, "", client_id="steal", attachments=[upload["upload"]])
    assert (await next_frame(thief, "error"))["code"] == "invalid_attachment"
    await thief.send_str(
        '{"type": "message", "client_id": "junk", "text": "", "attachments": ["v1.\\ud800.x"]}'
    )
    assert (await next_frame(thief, "error"))["code"] == "invalid_attachment"

    ws = await harness.connect(token)
    await send(ws, "رسید پرداخت", client_id="pay", attachments=[upload["upload"]])
    await next_frame(ws, "ack")
    (ref,) = harness.router.inbound[0].attachments
    assert (ref.filename, ref.content_type, ref.size) == ("رسید.png", "image/png", len(PNG))
    await ws.close()
    again = await harness.connect(token)
    (shown,) = (await next_frame(again, "history"))["messages"]
    (attachment,) = shown["attachments"]
    as_visitor = {"Authorization": f"Bearer {token}"}
    download = await harness.client.get(attachment["url"], headers=as_visitor)
    assert download.status == 200 and await download.read() == PNG
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    tampered = attachment["url"].replace("t=image%2Fpng", "t=text%2Fhtml")
    assert (await harness.client.get(tampered, headers=as_visitor)).status == 404
    # A signature that is not even ASCII is just as wrong (not a 500).
    base, _, _ = attachment["url"].partition("&s=")
    assert (await harness.client.get(base + "&s=%C3%A9%C3%A9", headers=as_visitor)).status == 404


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"<html><script>alert(1)</script>", "image/png", 415, "unsupported_type"),
        (b"MZ\x90\x00 an executable", "application/pdf", 415, "unsupported_type"),
        (PNG + b"\x00" * 2000, "image/png", 413, "too_large"),
    ],
)
async def test_upload_limits(
    make_harness: Callable[..., Awaitable[Harness]],
    data: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    harness = await make_harness(max_upload_bytes=1000)
    token = await harness.token()
    form = FormData()
    form.add_field("file", data, filename="f", content_type=content_type)
    response = await harness.client.post(
        "/api/v1/webchat/uploads", data=form, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status == status
    assert (await response.json())["error"] == code


async def test_upload_needs_a_visitor_token(harness: Harness) -> None:
    form = FormData()
    form.add_field("file", PNG, filename="a.png", content_type="image/png")
    response = await harness.client.post("/api/v1/webchat/uploads", data=form)
    assert response.status == 401


async def test_send_pushes_once_to_open_sockets(harness: Harness) -> None:
    token = await harness.token()
    ws = await harness.connect(token)
    await send(ws, "سلام")
    await next_frame(ws, "ack")
    address = harness.router.inbound[0].sender_address
    customer = harness.router.customers[("webchat", address)]
    stored = harness.router.store(customer, AuthorKind.BOT, "پاسخ", publish=False)
    outbound = OutboundMessage(
        outbox_id=1,
        message_id=stored.id,
        thread_id=customer,
        channel="webchat",
        address=address,
        text="پاسخ",
        author=AuthorKind.BOT,
        suggestions=("بله", "نه"),
    )
    result = await harness.adapter.send(outbound)
    assert (result.status, result.external_id) == ("delivered", PUSHED)
    frame = await next_frame(ws, "message")
    assert (frame["message"]["text"], frame["message"]["suggestions"]) == ("پاسخ", ["بله", "نه"])
    harness.router.publish(stored)  # the event arrives too: no second frame
    harness.router.store(customer, AuthorKind.BOT, "بعدی")
    assert await messages_before(ws, "بعدی") == []
    offline = await harness.adapter.send(
        OutboundMessage(1, 99, 9, "webchat", "visitor:nobody", "x", AuthorKind.BOT)
    )
    # It is in the thread (shown on reconnect, or by another process holding a socket);
    # the result says no socket of this process got it.
    assert (offline.status, offline.external_id) == ("delivered", STORED)


async def test_a_resumed_bus_sends_what_the_socket_missed(harness: Harness) -> None:
    ws = await harness.connect(await harness.token())
    await send(ws, "سلام")
    await next_frame(ws, "ack")
    customer = harness.router.customers[("webchat", harness.router.inbound[0].sender_address)]
    # Written by another process while this one's bus connection was down: no event.
    harness.router.store(customer, AuthorKind.AGENT, "پاسخ از فرآیند دیگر", publish=False)
    harness.router.events.publish(EventsResumed())
    frame = await next_frame(ws, "message")
    assert frame["message"]["text"] == "پاسخ از فرآیند دیگر"


async def test_widget_and_demo_pages(harness: Harness) -> None:
    widget = await harness.client.get("/widget.js", headers={"Accept-Encoding": "gzip"})
    assert widget.status == 200
    assert widget.headers["Content-Type"].startswith("application/javascript")
    assert widget.headers["Content-Encoding"] == "gzip"
    assert "attachShadow" in await widget.text()
    cached = await harness.client.get(
        "/widget.js", headers={"If-None-Match": widget.headers["ETag"]}
    )
    assert cached.status == 304
    for lang, direction, shop in (
        ("fa", "rtl", "نارنج"),
        ("ar", "rtl", "نارنج"),
        ("en", "ltr", "Naranj"),
    ):
        page = await harness.client.get("/", params={"lang": lang})
        html = await page.text()
        assert f'<html lang="{lang}" dir="{direction}">' in html
        assert shop in html and f'data-lang="{lang}"' in html
    default = await (await harness.client.get("/")).text()
    assert 'lang="fa"' in default


async def test_adapter_lifecycle(tmp_path: Path) -> None:
    router = FakeRouter(InProcessEventBus())
    adapter = make_adapter()
    await adapter.stop()  # stopping a stopped adapter does nothing
    await adapter.start(make_services(router, tmp_path))
    with pytest.raises(RuntimeError):
        await adapter.start(make_services(router, tmp_path))
    await adapter.stop()
    await adapter.stop()


def test_frames_are_plain_json() -> None:
    from channels.webchat import protocol

    assert json.loads(json.dumps(protocol.ack_frame("c", 5))) == {
        "type": "ack",
        "client_id": "c",
        "message_id": "5",
    }


async def test_a_socket_too_slow_to_keep_up_is_closed_not_buffered_forever() -> None:
    from channels.webchat.adapter import CLOSE_OVERLOADED, _Socket
    from channels.webchat.tokens import Visitor

    class StuckSocket:
        """A peer that reads nothing until released."""

        def __init__(self) -> None:
            self.release = asyncio.Event()
            self.sent: list[str] = []
            self.closed_with: int | None = None

        @property
        def closed(self) -> bool:
            return self.closed_with is not None

        async def send_str(self, data: str) -> None:
            await self.release.wait()
            self.sent.append(data)

        async def close(self, *, code: int, message: bytes = b"") -> None:
            self.closed_with = code

    peer = StuckSocket()
    socket = _Socket(peer, Visitor("visitor:slow"), 1, "127.0.0.1")  # type: ignore[arg-type]
    writer = asyncio.create_task(socket.write_frames())
    for n in range(600):
        socket.push({"type": "pong", "n": n})
    assert socket.overloaded
    peer.release.set()
    await asyncio.wait_for(writer, 2)
    assert peer.closed_with == CLOSE_OVERLOADED
    assert len(peer.sent) < 600


async def test_ingests_at_once_are_capped(make_harness: Callable[..., Awaitable[Harness]]) -> None:
    harness = await make_harness(ingest_concurrency=2)
    harness.router.ingest_delay = 0.05
    sockets = [await harness.connect(await harness.token()) for _ in range(6)]
    for n, ws in enumerate(sockets):
        await send(ws, f"پیام {n}", client_id=f"burst{n}")
    for ws in sockets:
        await next_frame(ws, "ack")
    assert harness.router.most_in_flight == 2


async def test_after_a_customer_merge_the_socket_follows_the_surviving_customer(
    harness: Harness,
) -> None:
    ws = await harness.connect(await harness.token())
    await send(ws, "سلام")
    await next_frame(ws, "ack")
    mine = harness.router.customers[("webchat", harness.router.inbound[0].sender_address)]
    surviving = harness.router.customer("email", "sara@example.com")
    harness.router.events.publish(CustomersMerged(surviving_id=surviving, merged_id=mine))
    harness.router.store(surviving, AuthorKind.AGENT, "پرونده‌های شما یکی شد")
    frame = await next_frame(ws, "message")
    assert frame["message"]["text"] == "پرونده‌های شما یکی شد"
