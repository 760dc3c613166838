"""Files in agents' replies: uploaded with the web chat's rules (sniffed type, size
limit), sent as JSON with upload ids or as multipart, and delivered on the customer's
channel: a web chat file link the visitor opens with their token, an email attachment
the relay receives, a Telegram photo and document the fake Bot API sees."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from config.settings import Settings
from router.core.responder import QueueEveryThread
from router.storage.models import Thread
from tests.agent_support import AgentUser, api, eventually, make_agent
from tests.email_support import FakeRelay, make_mail, smtp_send, with_email
from tests.fake_telegram import FakeTelegram
from tests.support import make_settings
from tests.telegram_support import replies_to, telegram_values
from tests.webchat_fakes import next_frame, next_reply

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n%%EOF\n"


async def upload(
    client: TestClient[Any, Any], agent: AgentUser, data: bytes, name: str, kind: str
) -> tuple[int, Any]:
    form = FormData()
    form.add_field("file", data, filename=name, content_type=kind)
    return await api(client, "POST", "/api/v1/uploads", agent, data=form)


async def only_thread(context: Any) -> int:
    async with context.sessions() as session:
        thread_id = await session.scalar(select(Thread.id))
    assert thread_id is not None
    return int(thread_id)


async def test_web_chat_visitor_opens_the_file_an_agent_attached(
    settings: Settings, start_app: Any
) -> None:
    settings = settings.replace("webchat", enabled=True).replace("email", enabled=False)
    client, context = await start_app(settings, responder=QueueEveryThread())
    sara = await make_agent(context, "Sara")
    reza = await make_agent(context, "Reza")
    session = await client.post("/api/v1/webchat/sessions", json={})
    token = (await session.json())["visitor_token"]
    ws = await client.ws_connect("/ws/webchat", params={"token": token})
    await next_frame(ws, "ready")
    await ws.send_str(json.dumps({"type": "message", "client_id": "c1", "text": "رسید؟"}))
    await next_frame(ws, "ack")
    thread_id = await only_thread(context)
    assert (await api(client, "POST", f"/api/v1/threads/{thread_id}/claim", sara))[0] == 200

    status, refused = await upload(client, sara, b"#!/bin/sh\n", "run.png", "image/png")
    assert status == 415, refused
    status, uploaded = await upload(client, sara, PNG, "رسید.png", "image/png")
    assert status == 201, uploaded
    assert (uploaded["content_type"], uploaded["size"]) == ("image/png", len(PNG))
    path = f"/api/v1/threads/{thread_id}/messages"
    body = {"text": "رسید شما", "attachments": [uploaded["upload"]]}
    status, _ = await api(client, "POST", path, reza, json=body)  # not his upload (nor thread)
    assert status in (409, 422)
    status, refused = await api(
        client, "POST", path, sara, json={"text": "x", "attachments": ["forged.upload"]}
    )
    assert status == 422, refused
    status, sent = await api(client, "POST", path, sara, json=body)
    assert status == 201, sent
    assert sent["message"]["attachments"][0]["filename"] == "رسید.png"

    reply = await next_reply(ws)
    while not reply["attachments"]:  # "Sara is with you now" comes first
        reply = await next_reply(ws)
    [file] = reply["attachments"]
    assert (file["filename"], file["content_type"]) == ("رسید.png", "image/png")
    got = await client.get(file["url"], headers={"Authorization": f"Bearer {token}"})
    assert got.status == 200 and await got.read() == PNG
    assert (await client.get(file["url"])).status == 401  # the link alone opens nothing


async def test_email_customer_receives_the_agents_attachment_through_the_relay(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    client, context = await start_app(with_email(settings, relay), responder=QueueEveryThread())
    port = context.adapters["email"].port
    await smtp_send(
        port, make_mail(), mail_from="sara@example.ir", to=["support@support.localhost"]
    )
    await eventually(lambda: _has_thread(context))
    thread_id = await only_thread(context)
    boss = await make_agent(context, "Boss", is_admin=True)
    form = FormData()
    form.add_field("text", "فاکتور پیوست است")
    form.add_field("file", PDF, filename="فاکتور.pdf", content_type="application/pdf")
    form.add_field("file", PNG, filename="photo.png", content_type="image/png")
    status, sent = await api(
        client, "POST", f"/api/v1/threads/{thread_id}/messages", boss, data=form
    )
    assert status == 201, sent
    [mail] = await relay.wait_for(1)
    files = {
        part.get_filename(): part.get_payload(decode=True)
        for part in mail.message.iter_attachments()
    }
    assert files == {"فاکتور.pdf": PDF, "photo.png": PNG}


async def _has_thread(context: Any) -> bool:
    async with context.sessions() as session:
        return await session.scalar(select(Thread.id)) is not None


async def test_telegram_customer_gets_a_photo_and_a_document(
    settings: Settings, start_app: Any, fake: FakeTelegram
) -> None:
    settings = make_settings(
        settings.data_dir, settings.database_url, telegram=telegram_values(fake)
    )
    client, context = await start_app(settings, responder=QueueEveryThread())
    chat = 7770042
    fake.add_message(chat, "فاکتور رو بفرستید", user=fake.user(chat, first_name="Ali"))
    await eventually(lambda: _has_thread(context))
    thread_id = await only_thread(context)
    sara = await make_agent(context, "Sara")
    assert (await api(client, "POST", f"/api/v1/threads/{thread_id}/claim", sara))[0] == 200
    ids = []
    for data, name, kind in ((PNG, "photo.png", "image/png"), (PDF, "bill.pdf", "application/pdf")):
        status, uploaded = await upload(client, sara, data, name, kind)
        assert status == 201, uploaded
        ids.append(uploaded["upload"])
    status, sent = await api(
        client,
        "POST",
        f"/api/v1/threads/{thread_id}/messages",
        sara,
        json={"text": "بفرمایید", "attachments": ids},
    )
    assert status == 201, sent
    await fake.wait_for(lambda: fake.calls_to("sendDocument"))
    [photo] = [c for c in fake.calls_to("sendPhoto") if c.chat_id == chat]
    [document] = [c for c in fake.calls_to("sendDocument") if c.chat_id == chat]
    assert list(photo.files.values()) == [PNG]
    assert list(document.files.values()) == [PDF]
    assert any(c.params["text"] == "بفرمایید" for c in replies_to(fake, chat))
