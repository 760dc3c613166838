"""What the bot promises when it hands a customer to people, and what a customer who
asks again while queued hears: through the real app (API channel, sample-KB bot)."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import select

from bot import build_responder
from bot.texts import DEFAULT_TEXTS
from config.settings import Settings
from router.agents.queue import set_presence
from router.context import AppContext
from router.storage.models import Message, Thread, ThreadStatus
from tests.conftest import AppFactory
from tests.console_support import add_agent, integration_token

ASK_FA = "میخوام با یک آدم صحبت کنم"
ASK_EN = "I want to talk to a human"


class ApiCustomers:
    """Customers writing through the integration API of a running app."""

    def __init__(self, url: str, token: str, context: AppContext) -> None:
        self.url, self.token, self.context = url, token, context
        self.sent = 0

    async def say(self, customer: str, text: str, language: str) -> int:
        """Post one message (ingest has committed when this returns); its thread id."""
        self.sent += 1
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                f"{self.url}/api/v1/inbound/messages",
                json={
                    "id": f"m-{self.sent}",
                    "customer": {"external_id": customer},
                    "text": text,
                    "language": language,
                },
                headers={"Authorization": f"Bearer {self.token}"},
            )
            assert response.status == 202, await response.text()
            thread_id: int = (await response.json())["thread_id"]
            return thread_id

    async def bot_texts(self, thread_id: int) -> list[str]:
        async with self.context.sessions() as session:
            return list(
                await session.scalars(
                    select(Message.text)
                    .where(Message.thread_id == thread_id, Message.author_kind == "bot")
                    .order_by(Message.id)
                )
            )

    async def status(self, thread_id: int) -> str:
        async with self.context.sessions() as session:
            thread = await session.get(Thread, thread_id)
            assert thread is not None
            return thread.status


async def customers(settings: Settings, start_app: AppFactory) -> ApiCustomers:
    client, context = await start_app(settings, responder=build_responder(faq_path=None))
    token = await integration_token(context)
    return ApiCustomers(str(client.make_url("/")).rstrip("/"), token, context)


def text(key: str, language: str, **values: Any) -> str:
    template = DEFAULT_TEXTS[key][language]
    for name, value in values.items():
        template = template.replace(f"{{{name}}}", str(value))
    return template


async def test_no_agent_means_no_promise_and_a_queued_customer_hears_where_they_stand_fa(
    settings: Settings, start_app: AppFactory
) -> None:
    app = await customers(settings, start_app)
    thread = await app.say("c-1", ASK_FA, "fa")
    assert await app.status(thread) == ThreadStatus.QUEUED
    assert await app.bot_texts(thread) == [text("handoff_nobody_available", "fa")]

    # Asking again while queued: where they stand, in Persian digits; once, not per message.
    assert await app.say("c-1", ASK_FA, "fa") == thread
    reminder = text("queued_reminder_nobody_available", "fa", position="۱")
    assert await app.bot_texts(thread) == [text("handoff_nobody_available", "fa"), reminder]
    await app.say("c-1", ASK_FA, "fa")
    await app.say("c-1", "سفارش ۱۲۳۴ من کجاست؟", "fa")  # details for the agent: no reply
    assert await app.bot_texts(thread) == [text("handoff_nobody_available", "fa"), reminder]
    assert await app.status(thread) == ThreadStatus.QUEUED


async def test_with_an_agent_online_the_bot_promises_soon_and_tells_the_queue_place_en(
    settings: Settings, start_app: AppFactory
) -> None:
    app = await customers(settings, start_app)
    agent = await add_agent(app.context, "sara@example.com", tier=1)
    # An agent account that is offline is nobody to answer.
    first = await app.say("c-1", ASK_EN, "en")
    assert await app.bot_texts(first) == [text("handoff_nobody_available", "en")]

    await set_presence(app.context, agent, "online")
    second = await app.say("c-2", ASK_EN, "en")
    assert await app.bot_texts(second) == [text("handoff_requested", "en")]
    await app.say("c-2", "Talk to a person", "en")  # the button's text, typed
    assert (await app.bot_texts(second))[1:] == [text("queued_reminder", "en", position=2)]
    # Its place in the queue stays: asking again does not queue it again at the back.
    await app.say("c-1", ASK_EN, "en")
    assert (await app.bot_texts(first))[1:] == [text("queued_reminder", "en", position=1)]
