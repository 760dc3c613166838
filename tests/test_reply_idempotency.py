"""An agent's reply is stored and sent once per idempotency key, however often it is
sent: a repeat answers 200 with the first message, the key with another request is
409, keys are each agent's own, bad keys are refused, and twenty copies at once leave
one message, one outbox row and one mail through a real relay (router/core/idempotency.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient

from config.settings import Settings
from router.context import AppContext
from router.core.responder import QueueEveryThread
from router.storage.models import Message, OutboxItem
from tests.agent_support import AgentUser, api, count_rows, make_agent
from tests.email_support import SUPPORT, FakeRelay, make_mail, smtp_send, with_email
from tests.support import FakeAdapter, outbox_drained

REPLIES = "/api/v1/threads/{}/messages"


async def _desk(settings: Settings, start_app: Any) -> tuple[TestClient[Any, Any], AppContext, int]:
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=QueueEveryThread())
    first = await web.push("سلام، سفارشم کجاست؟", sender="v1", language="fa")
    return client, context, first.thread_id


async def _reply(
    client: TestClient[Any, Any], agent: AgentUser, thread_id: int, **body: Any
) -> tuple[int, Any, str | None]:
    response = await client.post(REPLIES.format(thread_id), json=body, headers=agent.headers)
    return response.status, await response.json(), response.headers.get("Idempotent-Replayed")


async def _agent_messages(context: AppContext, agent: AgentUser) -> int:
    return await count_rows(context, Message, Message.agent_id == agent.id)


async def test_a_repeated_reply_answers_with_the_first_and_writes_nothing(
    settings: Settings, start_app: Any
) -> None:
    client, context, thread_id = await _desk(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    reply = {"text": "بررسی می‌کنم.", "idempotency_key": "reply-7f3a"}
    status, first, replayed = await _reply(client, boss, thread_id, **reply)
    assert (status, replayed) == (201, None)
    status, again, replayed = await _reply(client, boss, thread_id, **reply)
    assert (status, replayed) == (200, "true")
    assert again["message"]["id"] == first["message"]["id"]
    assert await _agent_messages(context, boss) == 1
    assert await count_rows(context, OutboxItem) == 1
    # Even once the thread is resolved, the repeat is the stored reply, not a 409.
    resolved = await api(client, "POST", f"/api/v1/threads/{thread_id}/resolve", boss)
    assert resolved[0] == 200, resolved
    status, late, _ = await _reply(client, boss, thread_id, **reply)
    assert (status, late["message"]["id"]) == (200, first["message"]["id"])
    assert await count_rows(context, OutboxItem) == 1


async def test_a_repeated_multipart_reply_with_its_files_uploaded_again(
    settings: Settings, start_app: Any
) -> None:
    client, context, thread_id = await _desk(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)

    def form(png: bytes) -> FormData:
        data = FormData()
        data.add_field("text", "the receipt")
        data.add_field("idempotency_key", "with-file")
        data.add_field("file", png, filename="r.png", content_type="image/png")
        return data

    png = b"\x89PNG\r\n\x1a\n"
    path = REPLIES.format(thread_id)
    first = await client.post(path, data=form(png), headers=boss.headers)
    again = await client.post(path, data=form(png), headers=boss.headers)
    assert (first.status, again.status) == (201, 200)
    assert (await first.json())["message"]["id"] == (await again.json())["message"]["id"]
    other = await client.post(path, data=form(png + b"\0"), headers=boss.headers)
    assert other.status == 409
    assert (await other.json())["error"]["code"] == "idempotency_key_reused"
    assert await _agent_messages(context, boss) == 1


async def test_the_key_with_another_request_is_refused(settings: Settings, start_app: Any) -> None:
    client, context, thread_id = await _desk(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    key = {"idempotency_key": "k-1"}
    assert (await _reply(client, boss, thread_id, text="one", **key))[0] == 201
    for other in ({"text": "two"}, {"text": "one", "internal": True}):
        status, body, _ = await _reply(client, boss, thread_id, **other, **key)
        assert status == 409, body
        assert body["error"]["code"] == "idempotency_key_reused"
    assert await _agent_messages(context, boss) == 1


async def test_keys_are_each_agents_own(settings: Settings, start_app: Any) -> None:
    client, context, thread_id = await _desk(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    lead = await make_agent(context, "Lead", is_admin=True)
    reply = {"text": "on it", "idempotency_key": "shared-key"}
    mine = await _reply(client, boss, thread_id, **reply)
    theirs = await _reply(client, lead, thread_id, **reply)
    assert (mine[0], theirs[0]) == (201, 201)
    assert mine[1]["message"]["id"] != theirs[1]["message"]["id"]
    assert theirs[1]["message"]["author_name"] == "Lead"
    assert (await _agent_messages(context, boss), await _agent_messages(context, lead)) == (1, 1)


async def test_bad_keys_are_refused(settings: Settings, start_app: Any) -> None:
    client, context, thread_id = await _desk(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    # 422 a key the document refuses; 400 a NUL anywhere in a body (the API's one rule).
    bad = {"": 422, "k" * 201: 422, "line\nbreak": 422, "trailing\n": 422, "nul\0": 400}
    for key, expected in [*bad.items(), (42, 422), (["k"], 422)]:
        status, body, _ = await _reply(client, boss, thread_id, text="hi", idempotency_key=key)
        assert status == expected, (key, body)
        assert "idempotency_key" in body["error"]["message"]
    form = FormData({"text": "hi", "idempotency_key": "tab\there"}, default_to_multipart=True)
    response = await client.post(REPLIES.format(thread_id), data=form, headers=boss.headers)
    assert response.status == 422
    assert await _agent_messages(context, boss) == 0
    longest = "ک" * 200  # 200 characters, any script
    assert (await _reply(client, boss, thread_id, text="hi", idempotency_key=longest))[0] == 201


async def test_without_a_key_every_request_is_a_new_reply(
    settings: Settings, start_app: Any
) -> None:
    client, context, thread_id = await _desk(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    for _ in range(2):
        assert (await _reply(client, boss, thread_id, text="same words"))[0] == 201
    assert await _agent_messages(context, boss) == 2
    assert await count_rows(context, OutboxItem) == 2


async def test_twenty_copies_at_once_send_one_mail(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    """Twenty identical requests at once over loopback: one stored (the unique index
    decides, on PostgreSQL between concurrent transactions), nineteen answered with it;
    one outbox row; one mail at the relay."""
    client, context = await start_app(with_email(settings, relay), responder=QueueEveryThread())
    port = context.adapters["email"].port  # type: ignore[attr-defined]
    # The channel answers 250 once the mail is stored: its thread is in the queue now.
    await smtp_send(port, make_mail(body="سفارشم نرسید"), mail_from="sara@example.ir", to=[SUPPORT])
    boss = await make_agent(context, "Boss", is_admin=True)
    _, queued = await api(client, "GET", "/api/v1/threads?status=queued", boss)
    (thread,) = queued["threads"]
    thread_id = thread["id"]
    reply = {"text": "فردا می‌رسد.", "idempotency_key": "retry-storm"}
    answers = await asyncio.gather(*(_reply(client, boss, thread_id, **reply) for _ in range(20)))
    statuses = sorted(status for status, _, _ in answers)
    assert statuses == [200] * 19 + [201], statuses
    assert len({body["message"]["id"] for _, body, _ in answers}) == 1
    assert await _agent_messages(context, boss) == 1
    assert await count_rows(context, OutboxItem) == 1
    await outbox_drained(context)
    mails = await relay.wait_for(1)
    assert len(mails) == 1
    assert "فردا می‌رسد." in str(mails[0].message.get_body(("plain",)).get_content())
