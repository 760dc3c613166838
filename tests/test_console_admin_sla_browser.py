"""The console's "Service hours" page in headless Chromium: an admin working in Persian
edits a calendar (a second interval on a day, a closed date, the holidays country) and
an SLA policy, and the API returns the changes, audited; an agent who is not an admin
sees no such page and is refused by the API."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from config.settings import Settings
from router.core.responder import QueueEveryThread
from router.storage.models import AuditEvent
from tests.browser_support import ARTIFACTS, sign_in_to_console
from tests.conftest import AppFactory
from tests.console_support import add_agent, agent_token
from tests.test_console_sla_browser import csp_watch

pytestmark = pytest.mark.browser

WEEK = {day: [["09:00", "17:00"]] for day in ("sat", "sun", "mon", "tue", "wed")} | {
    "thu": [["09:00", "13:00"]]
}


async def call(
    client: TestClient[Any, Any], token: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    response = await client.request(
        method, path, headers={"Authorization": f"Bearer {token}"}, json=body
    )
    return response.status, await response.json()


async def console_in_persian(browser: Browser, url: str, email: str) -> Page:
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.add_init_script("localStorage.setItem('pasokh.console.lang', 'fa')")
    await sign_in_to_console(page, url, email)
    return page


async def test_an_admin_edits_a_calendar_and_a_policy_in_persian(
    browser: Browser, start_app: AppFactory, settings: Settings
) -> None:
    client, context = await start_app(settings, responder=QueueEveryThread())
    admin_id = await add_agent(context, "boss@example.com", admin=True)
    token = await agent_token(context, admin_id)
    calendar = {"timezone": "Asia/Tehran", "week": WEEK, "holidays": None}
    assert (await call(client, token, "PUT", "/api/v1/calendars/tehran", calendar))[0] == 200
    url = str(client.make_url("/")).rstrip("/")
    page = await console_in_persian(browser, url, "boss@example.com")
    problems = csp_watch(page)

    tab = page.locator('.page-tab[data-page="service"]')
    await expect(tab).to_have_text("ساعات کاری")
    await tab.click()
    await expect(page.locator("#service-admin")).to_be_visible()
    assert await page.evaluate("document.documentElement.dir") == "rtl"
    await page.locator('.sla-calendar-list .sla-item[data-name="tehran"]').click()
    form = page.locator(".sla-calendar-form")
    # A lunch break on Sunday: 09:00-12:00 and 13:00-17:00.
    sunday = form.locator('.sla-day[data-day="sun"]')
    await expect(sunday.locator(".sla-day-name")).to_have_text("یک‌شنبه")
    await sunday.locator(".sla-end").first.fill("12:00")
    await sunday.locator(".sla-add").click()
    await sunday.locator(".sla-start").nth(1).fill("13:00")
    await sunday.locator(".sla-end").nth(1).fill("17:00")
    # Wednesday closed all day; Nowruz closed; the Iranian holidays.
    await form.locator('.sla-day[data-day="wed"] .sla-remove').click()
    await form.locator(".sla-closed").fill("2027-03-21, 2027-03-22")
    await form.locator(".sla-holidays").fill("ir")
    await form.locator(".sla-save").click()
    await expect(page.locator("#notice")).to_have_text("ذخیره شد: tehran")

    status, stored = await call(client, token, "GET", "/api/v1/calendars/tehran")
    assert status == 200
    assert stored["week"]["sun"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert "wed" not in stored["week"] and stored["week"]["thu"] == [["09:00", "13:00"]]
    assert stored["closed"] == ["2027-03-21", "2027-03-22"] and stored["holidays"] == "IR"

    # A new policy for high priority on that calendar.
    await page.locator(".sla-new-policy").click()
    policy = page.locator(".sla-policy-form")
    await policy.locator(".sla-name").fill("high")
    await policy.locator(".sla-priority").select_option("high")
    await policy.locator(".sla-policy-calendar").select_option("tehran")
    await policy.locator(".sla-first").fill("60")
    await policy.locator(".sla-save").click()
    await expect(page.locator('.sla-policy-list .sla-item[data-name="high"]')).to_be_visible()
    status, stored = await call(client, token, "GET", "/api/v1/sla-policies/high")
    assert status == 200
    assert (stored["priority"], stored["calendar"], stored["business_hours"]) == (
        "high",
        "tehran",
        True,
    )
    assert stored["first_response_minutes"] == 60 and stored["resolution_minutes"] is None

    assert problems == []  # no script error, nothing the page's CSP refused

    # A bad zone is refused with the server's reason, and nothing changes.
    await page.locator('.sla-calendar-list .sla-item[data-name="tehran"]').click()
    await page.locator(".sla-calendar-form .sla-timezone").fill("Mars/Base")
    await page.locator(".sla-calendar-form .sla-save").click()
    await expect(page.locator("#notice")).to_contain_text("Mars/Base")
    assert (await call(client, token, "GET", "/api/v1/calendars/tehran"))[1]["timezone"] == (
        "Asia/Tehran"
    )
    async with context.sessions() as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.action).where(
                    AuditEvent.actor_id == admin_id,
                    AuditEvent.action.in_(("calendar_stored", "sla_policy_stored")),
                )
            )
        )
    assert sorted(actions) == ["calendar_stored", "calendar_stored", "sla_policy_stored"]
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-fa-service-hours.png"), full_page=True)


async def test_an_agent_who_is_not_an_admin_sees_no_page_and_is_refused(
    browser: Browser, start_app: AppFactory, settings: Settings
) -> None:
    client, context = await start_app(settings, responder=QueueEveryThread())
    agent_id = await add_agent(context, "sara@example.com")
    token = await agent_token(context, agent_id)
    page = await console_in_persian(
        browser, str(client.make_url("/")).rstrip("/"), "sara@example.com"
    )
    await expect(page.locator('.page-tab[data-page="reports"]')).to_be_visible()
    await expect(page.locator('.page-tab[data-page="service"]')).to_be_hidden()
    await expect(page.locator("#service-admin")).to_be_hidden()
    for path in ("/api/v1/calendars", "/api/v1/sla-policies", "/api/v1/calendars/tehran"):
        assert (await call(client, token, "GET", path))[0] == 403
    status, _ = await call(
        client, token, "PUT", "/api/v1/calendars/tehran", {"timezone": "UTC", "week": {}}
    )
    assert status == 403
