"""The console shows what the channels refused: a dead-lettered reply with the
channel's own answer, an identity marked unreachable, and the customer's files."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from config.settings import Settings
from router.context import AppContext
from router.core.messages import DeliveryResult
from router.core.responder import QueueEveryThread
from router.storage.models import Message, OutboxItem, OutboxStatus
from tests.agent_support import eventually
from tests.browser_support import open_console, running_chromium, sign_in_to_console
from tests.conftest import AppFactory
from tests.console_support import add_agent, agent_token
from tests.support import FakeAdapter

pytestmark = pytest.mark.browser

REFUSAL = "relay answered 550 5.1.1 <sara@example.ir>: no such user"


async def dead_reply(context: AppContext) -> OutboxItem | None:
    """The agent reply's outbox row once the worker gave up on it."""
    for _ in range(200):
        async with context.sessions() as session:
            row = await session.scalar(
                select(OutboxItem)
                .join(Message, Message.id == OutboxItem.message_id)
                .where(Message.author_kind == "agent", OutboxItem.status == OutboxStatus.DEAD)
            )
        if row is not None:
            return row
        await asyncio.sleep(0.05)
    return None


async def reply_answered(
    client: Any, context: AppContext, adapter: FakeAdapter, thread_id: int, outcome: DeliveryResult
) -> None:
    """Boss claims the thread (its greeting goes out), then replies "Your refund is on
    its way", which the channel answers with `outcome`."""
    admin_id = await add_agent(context, "boss@example.com", name="Boss", admin=True)
    headers = {"Authorization": f"Bearer {await agent_token(context, admin_id)}"}
    claim = await client.post(f"/api/v1/threads/{thread_id}/claim", headers=headers)
    assert claim.status == 200
    await adapter.wait_sent(1)
    adapter.fail_next = [outcome]
    reply = await client.post(
        f"/api/v1/threads/{thread_id}/messages",
        json={"text": "Your refund is on its way"},
        headers=headers,
    )
    assert reply.status == 201


async def test_refused_reply_unreachable_identity_and_files_show_in_the_console(
    settings: Settings, start_app: AppFactory
) -> None:
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    assert adapter.services is not None
    receipt = await adapter.services.attachments.put(
        b"%PDF-1.4 receipt", filename="receipt<b>.pdf", content_type="application/pdf"
    )
    result = await adapter.push(
        "Here is my receipt", sender="sara@example.ir", attachments=(receipt,), language="en"
    )
    # The claim's greeting goes out; the reply after it is refused for good.
    refusal = DeliveryResult.failed(REFUSAL, identity_unreachable=True)
    await reply_answered(client, context, adapter, result.thread_id, refusal)
    row = await dead_reply(context)
    assert row is not None and row.last_error == REFUSAL

    url = str(client.make_url("/")).rstrip("/")
    async with running_chromium() as chromium:
        page = await chromium.new_page(viewport={"width": 1280, "height": 860})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await sign_in_to_console(page, url, "boss@example.com")
        await page.locator('.tab[data-view="all"]').click()
        # The row previews the customer's newest words, not the agent's refused reply.
        await page.locator("#thread-list .thread-item", has_text="Here is my receipt").click()
        history = page.locator("#history")
        await expect(history).to_contain_text("Your refund is on its way")
        failed = history.locator(".delivery-failed")
        await expect(failed).to_have_count(1)
        await expect(failed).to_have_text(f"Not delivered: {REFUSAL}")
        link = history.locator(".attachment a")
        await expect(link).to_have_text("Attachment: receipt<b>.pdf (16 bytes)")
        href = await link.get_attribute("href")
        path, _, query = (href or "").partition("?")
        assert path == f"/api/v1/threads/{result.thread_id}/attachments/{receipt.sha256}"
        # The link names the message and the name shown: the reference clicked is served.
        assert parse_qs(query)["name"] == ["receipt<b>.pdf"] and "message" in parse_qs(query)
        download = await page.request.get(f"{url}{href}")  # with the console's cookie
        assert download.status == 200 and await download.body() == b"%PDF-1.4 receipt"
        await expect(page.locator("#identities .badge.unreachable")).to_have_text(
            f"unreachable: {REFUSAL}"
        )
        assert await history.locator(".attachment b").count() == 0  # a name stays text
        assert errors == []


DEFERRAL = "relay answered 451 4.7.1 Try again later"


async def test_a_deferred_reply_shows_as_retrying_with_its_next_try(
    settings: Settings, start_app: AppFactory
) -> None:
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    result = await adapter.push("Where is my order?", sender="sara@example.ir", language="en")
    # Deferred, next try in an hour: still on its way, not failed.
    deferral = DeliveryResult.retry(DEFERRAL, retry_after=3600)
    await reply_answered(client, context, adapter, result.thread_id, deferral)

    async def deferred() -> OutboxItem | None:
        async with context.sessions() as session:
            return await session.scalar(select(OutboxItem).where(OutboxItem.last_error == DEFERRAL))

    async def recorded() -> bool:
        return await deferred() is not None

    await eventually(recorded)
    row = await deferred()
    assert row is not None and row.status == OutboxStatus.PENDING

    url = str(client.make_url("/")).rstrip("/")
    async with running_chromium() as chromium:
        browser_context, page = await open_console(
            chromium, url, "boss@example.com", {"width": 1280, "height": 860}
        )
        await page.locator('.tab[data-view="all"]').click()
        await page.locator("#thread-list .thread-item", has_text="Where is my order?").click()
        history = page.locator("#history")
        await expect(history).to_contain_text("Your refund is on its way")
        retrying = history.locator(".delivery-retrying")
        await expect(retrying).to_have_count(1)
        await expect(retrying).to_contain_text(f"Not delivered yet, retrying: {DEFERRAL}. Next try")
        assert await history.locator(".delivery-failed").count() == 0
        assert page.errors == []  # type: ignore[attr-defined]
        await browser_context.close()
