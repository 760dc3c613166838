"""The console socket tells each agent only about threads they may see: a tier-1
agent hears nothing of a tier-2 thread (no ids, no states, no SLA or survey alarms),
and a thread leaving their sight only says "reload the queue"
(router/http/console_events.py)."""

from __future__ import annotations

from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from config.settings import Settings
from router.core.responder import QueueEveryThread
from tests.agent_support import api, make_agent
from tests.conftest import AppFactory
from tests.console_support import PASSWORD, add_agent, sign_in
from tests.support import FakeAdapter


async def console_socket(
    client: TestClient[Any, Any], http: aiohttp.ClientSession, email: str
) -> aiohttp.ClientWebSocketResponse:
    """`email`'s console socket, signed in through `http` (its own cookie jar)."""
    base = str(client.make_url("")).rstrip("/")
    async with http.get(f"{base}/console/session") as response:
        csrf = (await response.json())["login_csrf"]
    login = {"email": email, "password": PASSWORD}
    async with http.post(
        f"{base}/console/login", json=login, headers={"X-CSRF-Token": csrf}
    ) as response:
        assert response.status == 200
    ws = await http.ws_connect(f"{base}/ws/console", headers={"Origin": base})
    assert (await ws.receive_json(timeout=10))["type"] == "hello"
    return ws


async def next_of_type(ws: aiohttp.ClientWebSocketResponse, kind: str) -> dict[str, Any]:
    while True:
        event: dict[str, Any] = await ws.receive_json(timeout=10)
        if event["type"] == kind:
            return event


async def test_a_tier_one_console_hears_nothing_of_a_tier_two_thread(
    settings: Settings, start_app: AppFactory
) -> None:
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=QueueEveryThread())
    await add_agent(context, "one@example.com", tier=1)
    await add_agent(context, "two@example.com", tier=2)
    escalator = await make_agent(context, "Esc", tier=1)
    jar_one, jar_two = aiohttp.CookieJar(unsafe=True), aiohttp.CookieJar(unsafe=True)
    async with (
        aiohttp.ClientSession(cookie_jar=jar_one) as http_one,
        aiohttp.ClientSession(cookie_jar=jar_two) as http_two,
    ):
        one = await console_socket(client, http_one, "one@example.com")
        two = await console_socket(client, http_two, "two@example.com")

        first = await web.push("my order is late", sender="visitor-a")
        seen_by_one: list[dict[str, Any]] = []
        while not {"thread", "message"} <= {e["type"] for e in seen_by_one}:
            seen_by_one.append(await one.receive_json(timeout=10))
        assert all(e.get("thread_id", first.thread_id) == first.thread_id for e in seen_by_one)

        # Escalated to tier 2: tier 2 hears the thread; tier 1 is told to reload its
        # queue, with no id or state in it.
        path = f"/api/v1/threads/{first.thread_id}/escalate"
        body = {"tier": 2, "reason": "refund over the limit"}
        assert (await api(client, "POST", path, escalator, json=body))[0] == 200
        left = await one.receive_json(timeout=10)
        assert left == {"type": "queue"}
        # Before it, tier 2 heard only "reload the queue" (the thread appeared at tier 1).
        while (event := await two.receive_json(timeout=10))["type"] != "thread":
            assert event == {"type": "queue"}, event
        assert event["thread_id"] == first.thread_id and event["tier"] == 2

        # The customer writes again on the tier-2 thread, then a new customer arrives
        # at tier 1: tier 1's next events are the new thread's, nothing of the first.
        again = await web.push("any news?", sender="visitor-a")
        assert again.thread_id == first.thread_id
        heard = await next_of_type(two, "message")
        assert heard["message_id"] == again.message_id
        second = await web.push("hello", sender="visitor-b")
        while True:
            event = await one.receive_json(timeout=10)
            assert event.get("thread_id") != first.thread_id, event
            assert event["type"] != "queue", event
            if event.get("message_id") == second.message_id:
                break
        await one.close()
        await two.close()


async def test_an_admin_console_hears_every_thread(
    settings: Settings, start_app: AppFactory
) -> None:
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=QueueEveryThread())
    await add_agent(context, "boss@example.com", tier=1, admin=True)
    escalator = await make_agent(context, "Esc", tier=1)
    await sign_in(client, "boss@example.com")
    base = str(client.make_url("")).rstrip("/")
    ws = await client.ws_connect("/ws/console", headers={"Origin": base})
    assert (await ws.receive_json(timeout=10))["type"] == "hello"
    first = await web.push("my order is late", sender="visitor-a")
    path = f"/api/v1/threads/{first.thread_id}/escalate"
    body = {"tier": 3, "reason": "legal"}
    assert (await api(client, "POST", path, escalator, json=body))[0] == 200
    again = await web.push("any news?", sender="visitor-a")
    while (event := await ws.receive_json(timeout=10)).get("message_id") != again.message_id:
        assert event["type"] != "queue"
    assert event["thread_id"] == first.thread_id
    await ws.close()
