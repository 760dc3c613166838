"""The web chat's defences against floods and odd input, against an in-memory router.

Per client address: new visitor sessions, uploads and hand-offs to people are rate
limited; odd Origin headers and ids are refused or ignored, never a 500 or a dropped
socket. The client address is the TCP peer (`request.remote`), see docs/widget.md.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from channels.webchat import WebchatAdapter
from config.settings import WebchatSettings
from router.events import InProcessEventBus
from tests.webchat_fakes import SECRET, FakeRouter, build_test_app, make_services, next_frame

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
SESSIONS = "/api/v1/webchat/sessions"


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
        client = await aiohttp_client(build_test_app(adapter, make_services(router, tmp_path)))
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
