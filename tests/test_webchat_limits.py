"""The web chat's defences against floods and odd input, against an in-memory router.

Per client address: new visitor sessions, uploads and hand-offs to people are rate
limited; odd Origin headers and ids are refused or ignored, never a 500 or a dropped
socket. The client address is `request.remote`: the TCP peer, or the client a trusted
proxy forwarded (tests/test_forwarded.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData, WSMsgType
from aiohttp.test_utils import TestClient

from channels.webchat import WebchatAdapter
from config.settings import WebchatSettings
from router.core.events import InProcessEventBus
from router.core.rate_limits import MemoryRateLimits
from router.core.security import b64_bytes
from tests.webchat_fakes import SECRET, FakeRouter, build_test_app, make_services, next_frame

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
SESSIONS = "/api/v1/webchat/sessions"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def make_client(
    aiohttp_client: ClientFactory, tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[tuple[TestClient[Any, Any], FakeRouter]]]]:
    async def make(
        public_url: str = "", **settings: Any
    ) -> tuple[TestClient[Any, Any], FakeRouter]:
        router = FakeRouter(InProcessEventBus())
        adapter = WebchatAdapter(
            settings=WebchatSettings(**settings), secret_key=SECRET, public_url=public_url
        )
        # The buckets' clock stands still: a limit a minute is exact however long a
        # loaded machine takes to serve a burst (a token comes back every 6 s at 10).
        services = replace(
            make_services(router, tmp_path), limits=MemoryRateLimits(clock=lambda: 0.0)
        )
        client = await aiohttp_client(build_test_app(adapter, services))
        return client, router

    yield make


@pytest.mark.parametrize(
    "origin", ["http://a:99999", "http://[::1", "http://[::1]:70000", "ht!tp://"]
)
async def test_an_unparseable_origin_is_refused_not_a_500(
    make_client: Callable[..., Awaitable[tuple[TestClient[Any, Any], FakeRouter]]], origin: str
) -> None:
    client, _ = await make_client(
        public_url="https://support.example", allowed_origins=["https://shop.example"]
    )
    headers = {"Origin": origin}
    refused = await client.post(SESSIONS, json={}, headers=headers)
    assert refused.status == 403
    assert (await refused.json())["error"] == "origin_not_allowed"
    assert (await client.options(SESSIONS, headers=headers)).status == 403
    token = (await (await client.post(SESSIONS, json={})).json())["visitor_token"]
    ws = await client.ws_connect("/ws/webchat", params={"token": token}, headers=headers)
    assert (await next_frame(ws))["code"] == "origin_not_allowed"
    closing = await ws.receive()
    assert closing.type == WSMsgType.CLOSE and closing.data == 4403
    # With no allowed list any site may embed the widget: an odd origin is just another.
    open_client, _ = await make_client(public_url="https://support.example")
    assert (await open_client.post(SESSIONS, json={}, headers=headers)).status == 200


@pytest.mark.parametrize("after", ["²", "١٢", "99999999999999999999999", "-1", "0x10", ""])
async def test_an_odd_after_id_is_ignored_and_the_socket_stays(
    make_client: Callable[..., Awaitable[tuple[TestClient[Any, Any], FakeRouter]]], after: str
) -> None:
    client, _ = await make_client()
    token = (await (await client.post(SESSIONS, json={})).json())["visitor_token"]
    ws = await client.ws_connect("/ws/webchat", params={"token": token})
    assert (await next_frame(ws))["type"] == "ready"
    await ws.send_json({"type": "message", "client_id": "c1", "text": "سلام"})
    await next_frame(ws, "ack")
    await ws.close()
    again = await client.ws_connect("/ws/webchat", params={"token": token, "after": after})
    assert (await next_frame(again))["type"] == "ready"
    history = await next_frame(again, "history")
    assert [m["text"] for m in history["messages"]] == ["سلام"]  # the whole recent history
    await again.send_json({"type": "ping"})
    assert (await next_frame(again, "pong"))["type"] == "pong"


async def test_new_sessions_are_limited_per_client_address(
    make_client: Callable[..., Awaitable[tuple[TestClient[Any, Any], FakeRouter]]],
) -> None:
    client, _ = await make_client(sessions_per_address_per_minute=10)
    answers = await asyncio.gather(*(client.post(SESSIONS, json={}) for _ in range(30)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [200] * 10 + [429] * 20
    refused = next(a for a in answers if a.status == 429)
    assert (await refused.json())["error"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 7
    # A visitor who has a token resumes it whatever the address has spent.
    token = (await next(a for a in answers if a.status == 200).json())["visitor_token"]
    resumed = await client.post(SESSIONS, json={"visitor_token": token})
    assert resumed.status == 200
    # The same visitor since the same time; the token is re-issued ("i": now), so the
    # text differs once a second has passed.
    again = _payload((await resumed.json())["visitor_token"])
    assert (again["a"], again["o"]) == (_payload(token)["a"], _payload(token)["o"])


def _payload(token: str) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(b64_bytes(token.split(".")[1]))
    return payload


async def test_uploads_are_limited_per_client_address_across_visitors(
    make_client: Callable[..., Awaitable[tuple[TestClient[Any, Any], FakeRouter]]],
) -> None:
    client, _ = await make_client(uploads_per_address_per_minute=4)
    tokens = [
        (await (await client.post(SESSIONS, json={})).json())["visitor_token"] for _ in range(4)
    ]

    async def upload(token: str) -> int:
        form = FormData()
        form.add_field("file", PNG, filename="a.png", content_type="image/png")
        response = await client.post(
            "/api/v1/webchat/uploads", data=form, headers={"Authorization": f"Bearer {token}"}
        )
        return response.status

    # Four visitors, three uploads each, one address: four uploads in all get through.
    statuses = await asyncio.gather(*(upload(t) for t in tokens for _ in range(3)))
    assert sorted(statuses) == [200] * 4 + [429] * 8


async def test_hand_offs_are_limited_per_client_address(
    make_client: Callable[..., Awaitable[tuple[TestClient[Any, Any], FakeRouter]]],
) -> None:
    client, router = await make_client(
        handoffs_per_address_per_minute=5,
        sessions_per_address_per_minute=100,
        max_sockets_per_address=30,  # the sockets of the flood are all let in
    )
    router.hands_off = True
    router.bot = lambda inbound: ("دو روز کاری", ()) if "ارسال" in inbound.text else None
    tokens = [
        (await (await client.post(SESSIONS, json={})).json())["visitor_token"] for _ in range(30)
    ]
    sockets = await asyncio.gather(
        *(client.ws_connect("/ws/webchat", params={"token": t}) for t in tokens)
    )
    for ws in sockets:
        await next_frame(ws, "history")
    # A bot answer hands nothing off and spends nothing: asked first, it is answered.
    await sockets[0].send_json({"type": "message", "client_id": "faq", "text": "ارسال؟"})
    await next_frame(sockets[0], "ack")
    # 30 fresh visitors ask for a person at once (the flood the review measured).
    for n, ws in enumerate(sockets[1:]):
        await ws.send_json({"type": "message", "client_id": f"h{n}", "text": f"انسان {n}"})
    outcomes = [await next_frame_of(ws, ("ack", "error")) for ws in sockets[1:]]
    acked = [o for o in outcomes if o["type"] == "ack"]
    refused = [o for o in outcomes if o["type"] == "error"]
    assert len(acked) == 5 and len(refused) == 24
    assert {o["code"] for o in refused} == {"rate_limited"}
    assert all(0 < o["retry_after"] <= 13 for o in refused)  # the widget resends then
    assert sum(1 for m in router.inbound if m.text.startswith("انسان")) == 5


async def next_frame_of(ws: Any, kinds: tuple[str, ...]) -> dict[str, Any]:
    while True:
        frame = await next_frame(ws)
        if frame["type"] in kinds:
            return frame
