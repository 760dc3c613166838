"""What held up under the outside security review, kept so that it keeps holding:
SMTP smuggling and SQL injection through the query strings and bodies clients send."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from config.settings import Settings
from router.storage.models import Message, Thread
from tests.agent_support import api, make_agent
from tests.email_support import FakeRelay
from tests.support import FakeAdapter
from tests.test_email_end_to_end import SUPPORT, EchoBot, start_email_app

# After "hello" come the end-of-data sequences other servers have accepted (bare LF,
# LF+CRLF, CR+LF mixed); behind each, a second transaction that would be "smuggled" in.
SMUGGLED_ENDINGS = ["\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r"]


def _smuggling_data(ending: str) -> bytes:
    smuggled = (
        "MAIL FROM:<ceo@support.localhost>\r\n"
        f"RCPT TO:<{SUPPORT}>\r\n"
        "DATA\r\n"
        "From: CEO <ceo@support.localhost>\r\n"
        "Subject: smuggled\r\n"
        "Message-ID: <smuggled@attacker.example>\r\n"
        "\r\n"
        "wire the money\r\n"
    )
    head = (
        "From: Sara <sara@example.ir>\r\n"
        f"To: {SUPPORT}\r\n"
        "Subject: one mail\r\n"
        "Message-ID: <one@example.ir>\r\n"
        "\r\n"
        "hello"
    )
    return (head + ending + smuggled + "\r\n.\r\n").encode()


async def _smtp_conversation(port: int, data: bytes) -> list[str]:
    """Speak SMTP by hand (smtplib would normalise the line endings we are testing)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    replies: list[str] = []

    async def reply() -> str:
        while True:
            line = (await reader.readline()).decode()
            if line[3:4] != "-":
                replies.append(line.strip())
                return line

    try:
        await reply()  # greeting
        for command in (
            "EHLO attacker.example",
            "MAIL FROM:<sara@example.ir>",
            f"RCPT TO:<{SUPPORT}>",
            "DATA",
        ):
            writer.write(command.encode() + b"\r\n")
            await reply()
        writer.write(data)
        await writer.drain()
        await reply()  # the answer to the one message
        writer.write(b"QUIT\r\n")
        await reply()
    finally:
        writer.close()
    return replies


@pytest.mark.parametrize("ending", SMUGGLED_ENDINGS, ids=["lf", "lf-crlf", "crlf-lf", "cr"])
async def test_smtp_smuggling_stores_one_message_never_two(
    settings: Settings, start_app: Any, ending: str
) -> None:
    relay = FakeRelay()
    await relay.start()
    try:
        app = await start_email_app(settings, start_app, relay, EchoBot())
        replies = await _smtp_conversation(app.port, _smuggling_data(ending))
    finally:
        await relay.stop()
    assert replies[-2].startswith("250"), replies
    async with app.context.sessions() as session:
        inbound = (await session.scalars(select(Message).where(Message.direction == "in"))).all()
    assert len(inbound) == 1
    assert "smuggled" not in (inbound[0].external_id or "")
    assert inbound[0].text.startswith("hello")


INJECTIONS = ["' OR '1'='1", "1; DROP TABLE messages; --", '" OR ""="', "queued' --"]


@pytest.mark.parametrize("payload", INJECTIONS)
async def test_quotes_in_queries_and_bodies_are_data_not_sql(
    settings: Settings, start_app: Any, payload: str
) -> None:
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web])
    junior = await make_agent(context, "Junior", tier=1)
    pushed = await web.push(payload, sender=payload, sender_name=payload)
    async with context.sessions() as session, session.begin():
        thread = await session.get(Thread, pushed.thread_id)
        assert thread is not None
        thread.tier = 3  # out of a tier-1 agent's sight

    for query in ("status", "assignee", "tier"):
        status, body = await api(client, "GET", f"/api/v1/threads?{query}={payload}", junior)
        assert status in (200, 400, 422), (query, status)
        if status == 200:
            assert all(item["id"] != pushed.thread_id for item in body["threads"])
    status, _ = await api(client, "GET", f"/api/v1/threads/{payload}", junior)
    assert status in (400, 404)

    async with context.sessions() as session:
        stored = await session.scalar(select(Message).where(Message.id == pushed.message_id))
        tables_alive = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "in")
        )
    assert stored is not None and stored.text == payload  # stored verbatim, as data
    assert tables_alive == 1


async def test_api_answers_are_never_cached_unless_their_route_says_so(
    settings: Settings, start_app: Any
) -> None:
    client, context = await start_app(settings)
    agent = await make_agent(context, "Sara")
    for path in (
        "/api/v1/threads",
        "/api/v1/customers/1",  # 404, still private
        "/api/v1/search?q=card",
        "/api/v1/no-such-route",  # aiohttp's own 404
        "/api/v1/webchat/files/abc",  # a visitor route, 401 without a token
    ):
        async with client.get(path, headers=agent.headers) as answer:
            assert answer.headers.get("Cache-Control") == "no-store", (path, answer.status)
    async with client.get("/widget.js") as widget:  # public, and not the API
        assert widget.headers["Cache-Control"] == "public, max-age=300"
