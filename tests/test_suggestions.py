"""Agent assist: the knowledge base's best answers to the customer's latest message,
in the customer's language, from the bot's own matcher (through the responder chain)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot import build_responder
from config.settings import Settings
from router.core.responder import QueueEveryThread
from tests.agent_support import api, make_agent
from tests.support import FakeAdapter

KB = Path(__file__).parent / "fixtures" / "faq" / "kb.json"


async def test_suggestions_answer_the_latest_customer_message_in_its_language(
    settings: Settings, start_app: Any
) -> None:
    web = FakeAdapter(name="webchat")
    client, context = await start_app(
        settings, adapters=[web], responder=build_responder(faq_path=KB)
    )
    boss = await make_agent(context, "Boss", is_admin=True)
    senior = await make_agent(context, "Senior", tier=2)
    persian = await web.push("سفارشمو چجوری پیگیری کنم؟", sender="v1")
    path = f"/api/v1/threads/{persian.thread_id}/suggestions"
    status, body = await api(client, "GET", path, boss)
    assert status == 200, body
    assert body["message_id"] == persian.message_id
    best = body["suggestions"][0]
    assert best["language"] == "fa" and best["answer"].startswith("وضعیت سفارش و کد رهگیری")
    assert 1 <= len(body["suggestions"]) <= 3

    arabic = await web.push("كيف ارجع المنتج", sender="v2")
    status, body = await api(client, "GET", f"/api/v1/threads/{arabic.thread_id}/suggestions", boss)
    assert status == 200, body
    best = body["suggestions"][0]
    assert best["language"] == "ar" and best["answer"].startswith("يمكنك إرجاع المنتج")
    assert (await api(client, "GET", path, senior))[0] == 403
    status, body = await api(client, "GET", path, boss, params={"limit": "1"})
    assert len(body["suggestions"]) == 1


async def test_no_bot_no_suggestions(settings: Settings, start_app: Any) -> None:
    web = FakeAdapter(name="webchat")
    client, context = await start_app(settings, adapters=[web], responder=QueueEveryThread())
    boss = await make_agent(context, "Boss", is_admin=True)
    pushed = await web.push("سفارشمو چجوری پیگیری کنم؟", sender="v1")
    status, body = await api(client, "GET", f"/api/v1/threads/{pushed.thread_id}/suggestions", boss)
    assert (status, body["suggestions"]) == (200, [])
