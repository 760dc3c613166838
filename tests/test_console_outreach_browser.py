"""The console's Outreach page in a real browser: an admin reads, per template and
channel, what was sent, delivered and skipped (and why), and the messages, in English
and in Persian; the page's own script runs under the console's CSP."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import ConsoleMessage, expect

from config.settings import Settings
from router.core.responder import QueueEveryThread
from tests.agent_support import api, make_agent
from tests.browser_support import running_chromium, sign_in_to_console
from tests.console_support import add_agent
from tests.outreach_support import put_warranty_template, until_finished
from tests.support import FakeAdapter, outbox_drained

pytestmark = pytest.mark.browser


async def test_an_admin_reads_the_campaign_in_english_and_persian(
    settings: Settings, start_app: Any
) -> None:
    web = FakeAdapter(name="web")
    client, context = await start_app(
        settings.replace("outreach", quiet_hours="", scheduler_interval_seconds=0.05),
        adapters=[web],
        responder=QueueEveryThread(),
    )
    admin = await make_agent(context, "Boss", is_admin=True)
    await put_warranty_template(client, admin)
    sara = await web.push("سلام", sender="sara", language="fa")
    ali = await web.push("سلام", sender="ali", language="fa")
    await web.push("لغو", sender="ali", language="fa")
    params = {"product": "Galaxy", "expires_on": "2027-03-21"}
    ids = []
    for customer, key in ((sara.customer_id, "s"), (ali.customer_id, "a")):
        body = {
            "customer_id": customer,
            "template": "warranty_reminder",
            "params": params,
            "idempotency_key": key,
        }
        ids.append(
            (await api(client, "POST", "/api/v1/outbound/messages", admin, json=body))[1]["id"]
        )
    for row_id in ids:
        await until_finished(context, row_id)
    await outbox_drained(context)
    await web.push("لغو", sender="sara", language="fa")  # after her reminder: counted
    await add_agent(context, "lead@example.com", name="Lead", admin=True, language="en")
    url = str(client.make_url("/")).rstrip("/")

    async with running_chromium() as browser:
        page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))

        def console_error(message: ConsoleMessage) -> None:
            if message.type == "error":  # a CSP refusal is reported here
                problems.append(message.text)

        page.on("console", console_error)
        await sign_in_to_console(page, url, "lead@example.com")
        await page.locator('.page-tab[data-page="outreach"]').click()
        await expect(page.locator("#outreach")).to_be_visible()
        await expect(page.locator("main.panes")).to_be_hidden()
        group = page.locator(
            '#outreach-counts tr[data-template="warranty_reminder"][data-channel="web"]'
        )
        await expect(group.locator('[data-count="delivered"]')).to_have_text("1")
        await expect(group.locator('[data-count="opted_out"]')).to_have_text("1")
        # Skipped before a channel was chosen: counted under no channel, with the reason.
        unsent = page.locator('#outreach-counts tr[data-channel="none"]')
        await expect(unsent.locator('[data-count="skipped"]')).to_have_text("1")
        await expect(unsent.locator('[data-count="reasons"]')).to_have_text("opted_out: 1")
        await expect(page.locator("#outreach-rows tr")).to_have_count(2)
        await expect(page.locator(f'#outreach-rows tr[data-id="{ids[1]}"] td').nth(3)).to_have_text(
            "skipped (opted_out)"
        )

        await page.locator("#outreach-status").select_option("delivered")
        await page.locator('#outreach-form button[type="submit"]').click()
        await expect(page.locator("#outreach-rows tr")).to_have_count(1)

        await page.locator("#console .lang-select").select_option("fa")
        await expect(page.locator('.page-tab[data-page="outreach"]')).to_have_text("اطلاع‌رسانی")
        await expect(group.locator('[data-count="delivered"]')).to_have_text("۱")
        await expect(page.locator("html")).to_have_attribute("dir", "rtl")

        await page.locator('.page-tab[data-page="threads"]').click()
        await expect(page.locator("#outreach")).to_be_hidden()
        await expect(page.locator("main.panes")).to_be_visible()
        assert problems == []
