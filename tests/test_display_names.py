"""The one rule for a customer's display name (router/identity/display.py), and that the
API's thread and customer JSON use it."""

from __future__ import annotations

from config.settings import Settings
from router.core.responder import QueueEveryThread
from router.identity.display import customer_display_name
from router.storage.models import Identity
from tests.agent_support import api, make_agent
from tests.support import FakeAdapter


def _identity(address: str, **fields: object) -> Identity:
    return Identity(id=fields.pop("id", 1), channel="x", address=address, **fields)


def test_the_best_known_identity_names_the_customer() -> None:
    telegram = _identity("123456789", id=1, username="maryam_k", verified=True)
    phone = _identity("+989121234567", id=2, verified=True)
    email = _identity("maryam@example.org", id=3)
    named = _identity("user:77", id=4, display_name="Maryam K.")
    assert customer_display_name("مریم", [telegram, phone, email, named]) == "مریم"
    assert customer_display_name(None, [telegram, phone, email, named]) == "Maryam K."
    assert customer_display_name("  ", [telegram, phone, email]) == "maryam@example.org"
    assert customer_display_name(None, [phone, telegram]) == "@maryam_k"
    assert customer_display_name(None, [phone, _identity("user:5", id=9)]) == "+989121234567"
    assert customer_display_name(None, [_identity("user:5")]) is None


async def test_thread_and_customer_json_carry_the_display_name(
    settings: Settings, start_app
) -> None:
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=QueueEveryThread())
    sara = await make_agent(context, "Sara")
    result = await web.push("salam", sender="maryam@example.org")
    status, body = await api(client, "GET", "/api/v1/threads?status=queued", sara)
    assert status == 200
    assert [t["customer_name"] for t in body["threads"]] == ["maryam@example.org"]
    status, detail = await api(client, "GET", f"/api/v1/threads/{result.thread_id}", sara)
    assert status == 200
    assert detail["customer"]["display_name"] == "maryam@example.org"
    assert detail["thread"]["customer_name"] == "maryam@example.org"
