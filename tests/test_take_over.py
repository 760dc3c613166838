"""Taking a thread over from the bot and handing it back, a reply in a bot thread that
takes it over, and transfers across tiers (down too) and to agents of other tiers, with
the SLA clock kept."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot import build_responder
from config.settings import Settings
from router.core.messages import AuthorKind
from router.core.responder import QueueEveryThread
from router.storage.models import AuditEvent, Message, ThreadEvent
from tests.agent_support import api, get_thread, make_agent
from tests.support import FakeAdapter

KB = Path(__file__).parent / "fixtures" / "faq" / "kb.json"
QUESTION = "سفارشمو چجوری پیگیری کنم؟"  # the KB answers it


async def _bot_replies_after(context: Any, thread_id: int, message_id: int) -> int:
    async with context.sessions() as session:
        rows = await session.scalars(
            select(Message.id).where(
                Message.thread_id == thread_id,
                Message.author_kind == AuthorKind.BOT,
                Message.id > message_id,
            )
        )
        return len(list(rows))


async def test_tier_one_agent_takes_over_a_bot_thread_and_the_bot_stays_silent_until_release(
    settings: Settings, start_app: Any
) -> None:
    chat = FakeAdapter(name="webchat")
    client, context = await start_app(
        settings, adapters=[chat], responder=build_responder(faq_path=KB)
    )
    sara = await make_agent(context, "Sara", tier=1)
    senior = await make_agent(context, "Senior", tier=2)
    first = await chat.push(QUESTION, sender="v1", language="fa")
    assert await _bot_replies_after(context, first.thread_id, first.message_id) == 1
    assert (await get_thread(context, first.thread_id)).status == "bot"

    status, listed = await api(client, "GET", "/api/v1/threads?status=bot", sara)
    assert status == 200 and [t["id"] for t in listed["threads"]] == [first.thread_id]
    status, _ = await api(client, "POST", f"/api/v1/threads/{first.thread_id}/claim", senior)
    assert status == 403
    status, body = await api(client, "POST", f"/api/v1/threads/{first.thread_id}/claim", sara)
    assert status == 200, body
    assert (body["thread"]["status"], body["thread"]["assignee"]["id"]) == ("assigned", sara.id)

    second = await chat.push(QUESTION, sender="v1", language="fa")
    assert second.thread_id == first.thread_id
    assert await _bot_replies_after(context, first.thread_id, second.message_id - 1) == 0
    thread = await get_thread(context, first.thread_id)
    assert (thread.status, thread.assignee_id) == ("assigned", sara.id)

    status, body = await api(client, "POST", f"/api/v1/threads/{first.thread_id}/release", sara)
    assert status == 200, body
    assert (body["thread"]["status"], body["thread"]["assignee"]) == ("bot", None)
    third = await chat.push(QUESTION, sender="v1", language="fa")
    assert await _bot_replies_after(context, first.thread_id, third.message_id) == 1


async def test_an_agent_reply_in_a_bot_thread_takes_it_over_so_the_next_mail_reaches_them(
    settings: Settings, start_app: Any
) -> None:
    mail = FakeAdapter(name="email")
    client, context = await start_app(
        settings, adapters=[mail], responder=build_responder(faq_path=KB)
    )
    boss = await make_agent(context, "Boss", is_admin=True)
    first = await mail.push(QUESTION, sender="maryam@example.com", language="fa")
    assert await _bot_replies_after(context, first.thread_id, first.message_id) == 1

    status, body = await api(
        client,
        "POST",
        f"/api/v1/threads/{first.thread_id}/messages",
        boss,
        json={"text": "سلام، من پیگیری می‌کنم."},
    )
    assert status == 201, body
    thread = await get_thread(context, first.thread_id)
    assert (thread.status, thread.assignee_id) == ("assigned", boss.id)

    again = await mail.push(QUESTION, sender="maryam@example.com", language="fa")
    assert again.thread_id == first.thread_id
    assert await _bot_replies_after(context, first.thread_id, again.message_id) == 0


async def test_transfer_down_a_tier_and_to_an_agent_of_another_tier_keeps_the_sla_clock(
    settings: Settings, start_app: Any
) -> None:
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=QueueEveryThread())
    sara = await make_agent(context, "Sara", tier=1)
    senior = await make_agent(context, "Senior", tier=2)
    expert = await make_agent(context, "Expert", tier=3)
    pushed = await web.push("my order is broken", sender="v1", language="en")
    path = f"/api/v1/threads/{pushed.thread_id}"
    before = await get_thread(context, pushed.thread_id)
    assert before.sla_started_at is not None

    status, body = await api(client, "POST", f"{path}/claim", sara)
    assert status == 200, body
    status, body = await api(client, "POST", f"{path}/transfer", sara, json={"agent": expert.email})
    assert status == 200, body
    assert (body["thread"]["tier"], body["thread"]["assignee"]["id"]) == (3, expert.id)
    status, body = await api(
        client, "POST", f"{path}/transfer", expert, json={"tier": 2, "reason": "not a bug"}
    )
    assert status == 200, body
    assert (body["thread"]["status"], body["thread"]["tier"]) == ("queued", 2)
    status, body = await api(client, "POST", f"{path}/transfer", senior, json={"tier": 1})
    assert status == 200, body
    assert body["thread"]["tier"] == 1
    status, body = await api(
        client, "POST", f"{path}/transfer", sara, json={"tier": 1, "agent": "x"}
    )
    assert status == 422, body

    after = await get_thread(context, pushed.thread_id)
    assert after.sla_started_at == before.sla_started_at
    assert after.first_response_due == before.first_response_due
    assert after.queued_at == before.queued_at
    async with context.sessions() as session:
        audits = [
            (a.action, a.details.get("from_tier"), a.details.get("to_tier"))
            for a in await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.thread_id == pushed.thread_id)
                .order_by(AuditEvent.id)
            )
            if a.action.startswith("transfer")
        ]
        kinds = list(
            await session.scalars(
                select(ThreadEvent.kind)
                .where(ThreadEvent.thread_id == pushed.thread_id)
                .order_by(ThreadEvent.id)
            )
        )
    assert audits == [("transfer", 1, 3), ("transfer_tier", 3, 2), ("transfer_tier", 2, 1)]
    assert kinds.count("released") == 2
