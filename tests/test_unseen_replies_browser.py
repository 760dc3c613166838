"""The console tells an agent that a web chat reply was not seen, and where it went then:
"delivered" alone would say the visitor has it (Chromium, the real app)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from config.settings import Settings
from router.agents.queue import Actor
from router.agents.replies import post_message
from router.core.seen import resend_unseen
from router.storage.models import OutboxStatus
from tests.agent_support import eventually
from tests.browser_support import running_chromium, sign_in_to_console
from tests.conftest import AppFactory
from tests.console_support import add_agent
from tests.email_support import FakeRelay
from tests.test_unseen_replies import (
    CUSTOMER_MAIL,
    Desk,
    after_delay,
    delivered,
    give_email,
    open_desk,
    rows_of,
    visitor_writes,
)
from tests.test_webchat_app import new_token

pytestmark = pytest.mark.browser


async def test_the_console_says_not_seen_then_sent_by_email(
    start_app: AppFactory, settings: Settings, relay: FakeRelay
) -> None:
    desk = await open_desk(start_app, settings, relay)
    first = await visitor_writes(desk, await new_token(desk.client), "Where is my parcel?")
    await give_email(desk, first.customer_id)
    boss = await add_agent(desk.context, "boss@example.com", name="Boss", admin=True)
    posted = await post_message(
        desk.context, Actor(boss, "Boss", 1, True), first.thread_id, text="It arrives tomorrow"
    )
    row = await delivered(desk.context, posted.message.id)

    url = str(desk.client.make_url("/")).rstrip("/")
    async with running_chromium() as chromium:
        page = await chromium.new_page(viewport={"width": 1280, "height": 860})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await sign_in_to_console(page, url, "boss@example.com")

        async def open_thread() -> None:
            await page.locator('.tab[data-view="all"]').click()
            await page.locator("#thread-list .thread-item", has_text="Where is my parcel?").click()
            await expect(page.locator("#history")).to_contain_text("It arrives tomorrow")

        await open_thread()
        unseen = page.locator("#history .delivery-unseen")
        await expect(unseen).to_have_count(1)
        await expect(unseen).to_have_text("Not seen yet")

        assert len(await resend_unseen(desk.context, now=after_delay(row))) == 1
        assert (await relay.wait_for(1))[0].rcpt_tos == (CUSTOMER_MAIL,)
        await delivered_again(desk, posted.message.id)
        await page.reload()
        await open_thread()
        await expect(unseen).to_have_count(1)
        text = await unseen.inner_text()
        assert text.startswith("Not seen yet — sent by email at "), text
        assert errors == []


async def delivered_again(desk: Desk, message_id: int) -> None:
    async def done() -> bool:
        rows = await rows_of(desk.context, message_id)
        return len(rows) == 2 and rows[1].status == OutboxStatus.DELIVERED

    await eventually(done, timeout=20)
