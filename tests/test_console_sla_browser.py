"""Service levels in the agent console, in headless Chromium: priority, the nearest
deadline and the breach badge on queue rows and in the thread header, the "due soonest"
sort, live refresh when the scheduler fires an alarm, and the priority selector and
"waiting on customer" toggle acting through the API. The server's clock is injected;
the console runs in Persian (Solar Hijri dates, Persian digits, right to left)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, ConsoleMessage, Page, Route, expect

from config.settings import Settings
from router.core.messages import utcnow
from router.core.responder import QueueEveryThread
from router.service.breaches import fire_due_alarms
from tests.browser_support import ARTIFACTS, sign_in_to_console
from tests.conftest import AppFactory
from tests.console_support import add_agent, agent_token
from tests.support import FakeAdapter

pytestmark = pytest.mark.browser

PERSIAN_DIGITS = set("۰۱۲۳۴۵۶۷۸۹")
ARABIC_DIGITS = set("٠١٢٣٤٥٦٧٨٩")
# First-response targets in wall-clock minutes, one policy per priority.
TARGETS = {"urgent": 120, "normal": 10, "low": 600}


class Api:
    """The agent JSON API with one agent's bearer token."""

    def __init__(self, client: TestClient[Any, Any], token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        response = await self.client.request(method, path, headers=self.headers, json=body)
        assert response.status == 200, await response.text()
        return await response.json()

    async def thread(self, thread_id: int) -> dict[str, Any]:
        body = await self.call("GET", f"/api/v1/threads/{thread_id}")
        thread: dict[str, Any] = body["thread"]
        return thread


def row(page: Page, thread_id: int) -> Any:
    return page.locator(f'#thread-list .thread-item[data-thread-id="{thread_id}"]')


def csp_watch(page: Page) -> list[str]:
    """Script errors and Content-Security-Policy refusals the page reports."""
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    return problems


async def test_breach_badge_due_sort_and_priority_from_the_header(
    browser: Browser, start_app: AppFactory, settings: Settings
) -> None:
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    started = utcnow().replace(microsecond=0)
    clock = {"now": started}
    context.clock = lambda: clock["now"]
    boss = await add_agent(context, "boss@example.com", name="Boss", admin=True, language="fa")
    api = Api(client, await agent_token(context, boss))
    for priority, minutes in TARGETS.items():
        policy = {"priority": priority, "business_hours": False, "first_response_minutes": minutes}
        await api.call("PUT", f"/api/v1/sla-policies/{priority}", policy)

    # Urgent with a long target (due in two hours), then normal with a short one.
    urgent = (await adapter.push("help", sender="u", language="fa")).thread_id
    await api.call("POST", f"/api/v1/threads/{urgent}/priority", {"priority": "urgent"})
    normal = (await adapter.push("help", sender="n", language="fa")).thread_id

    page = await browser.new_page(viewport={"width": 1280, "height": 860})
    problems = csp_watch(page)
    await sign_in_to_console(page, str(client.make_url("/")).rstrip("/"), "boss@example.com")
    await expect(page.locator("#live")).to_have_attribute("data-state", "on")
    assert await page.evaluate("() => document.documentElement.dir") == "rtl"
    items = page.locator("#thread-list .thread-item")
    await expect(items).to_have_count(2)
    # The server's order: priority first.
    await expect(items.first).to_have_attribute("data-thread-id", str(urgent))
    await expect(row(page, urgent).locator(".badge.priority")).to_have_text("فوری")
    due_time = row(page, normal).locator(".due time")
    await expect(due_time).to_have_attribute(
        "datetime", (started + timedelta(minutes=10)).isoformat()
    )
    assert set(await due_time.inner_text()) & PERSIAN_DIGITS
    await expect(page.locator(".sla-badge")).to_have_count(0)

    # Nine minutes on (80% of ten elapsed) the warning fires: amber, live.
    clock["now"] = started + timedelta(minutes=9)
    fired = await fire_due_alarms(context)
    assert {(alarm.kind, alarm.thread_id) for alarm in fired} == {("warning", normal)}
    await expect(row(page, normal).locator('.sla-badge[data-sla="warning"]')).to_have_text(
        "نزدیک به مهلت"
    )

    # Eleven minutes on the scheduler fires the normal thread's breach; the console hears
    # it on its socket and shows the red badge without a reload.
    clock["now"] = started + timedelta(minutes=11)
    fired = await fire_due_alarms(context)
    assert ("breach", normal) in {(alarm.kind, alarm.thread_id) for alarm in fired}
    await expect(row(page, normal).locator('.sla-badge[data-sla="breached"]')).to_have_text(
        "از مهلت گذشته"
    )
    await expect(row(page, normal).locator(".sla-badge")).to_have_count(1)  # red replaces amber
    await expect(row(page, urgent).locator(".sla-badge")).to_have_count(0)

    # "Due soonest" puts the breached thread first.
    await page.locator("#queue-sort").select_option("due")
    await expect(items.first).to_have_attribute("data-thread-id", str(normal))
    await expect(items.nth(1)).to_have_attribute("data-thread-id", str(urgent))

    # The priority selector in the header: urgent -> low moves the deadline to ten hours
    # after the clock's start, in the API and on the page.
    await row(page, urgent).click()
    await page.locator("#thread-tools-toggle").click()  # the header's folded controls
    await expect(page.locator("#priority-select")).to_have_value("urgent")
    header_due = page.locator("#thread-sla .due time")
    before = (started + timedelta(minutes=TARGETS["urgent"])).isoformat()
    await expect(header_due).to_have_attribute("datetime", before)
    shown_before = await header_due.inner_text()
    await page.locator("#priority-select").select_option("low")
    after = started + timedelta(minutes=TARGETS["low"])
    await expect(header_due).to_have_attribute("datetime", after.isoformat())
    assert await header_due.inner_text() != shown_before
    await expect(page.locator("#thread-sla .badge.priority")).to_have_text("پایین")
    thread = await api.thread(urgent)
    assert thread["priority"] == "low"
    assert datetime.fromisoformat(thread["sla"]["first_response_due"]) == after
    await expect(row(page, urgent).locator(".badge.priority")).to_have_text("پایین")
    await expect(page.locator('#audit-list [data-action="priority"]').last).to_contain_text(
        "از فوری به پایین"
    )

    # "Waiting on the customer": the clocks pause, the deadline goes.
    await page.locator("#pending-toggle").check()
    await expect(page.locator("#thread-sla .pending-badge")).to_be_visible()
    await expect(header_due).to_have_count(0)
    thread = await api.thread(urgent)
    assert thread["pending"] is True and thread["sla"]["first_response_due"] is None
    await page.locator("#pending-toggle").uncheck()
    await expect(header_due).to_have_count(1)
    assert (await api.thread(urgent))["pending"] is False

    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-sla-fa.png"), full_page=True)

    # The same in Arabic (Arabic-Indic digits, right to left) and English.
    language = page.locator("#console .lang-select")
    breached = row(page, normal).locator(".sla-badge")
    await language.select_option("ar")
    await expect(breached).to_have_text("تجاوز المهلة")
    assert await page.evaluate("() => document.documentElement.dir") == "rtl"
    assert set(await row(page, normal).locator(".due time").inner_text()) & ARABIC_DIGITS
    await page.screenshot(path=str(ARTIFACTS / "console-sla-ar.png"), full_page=True)
    await language.select_option("en")
    await expect(breached).to_have_text("breached")
    await expect(page.locator("#priority-select")).to_contain_text("urgent")
    assert await page.evaluate("() => document.documentElement.dir") == "ltr"
    await page.screenshot(path=str(ARTIFACTS / "console-sla-en.png"), full_page=True)
    assert problems == []


async def test_a_read_begun_before_an_action_does_not_undo_it(
    browser: Browser, start_app: AppFactory, settings: Settings
) -> None:
    """A colleague's change makes the console re-read the open thread; the agent unticks
    "waiting on customer" while that read is still on its way. The read's answer (still
    pending) arrives after the action's own and must not tick the box again."""
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    boss = await add_agent(context, "boss@example.com", name="Boss", admin=True, language="en")
    api = Api(client, await agent_token(context, boss))
    thread_id = (await adapter.push("help", sender="u")).thread_id
    await api.call("POST", f"/api/v1/threads/{thread_id}/pending", {"pending": True})

    page = await browser.new_page(viewport={"width": 1280, "height": 860})
    await sign_in_to_console(page, str(client.make_url("/")).rstrip("/"), "boss@example.com")
    await expect(page.locator("#live")).to_have_attribute("data-state", "on")
    await row(page, thread_id).click()
    await page.locator("#thread-tools-toggle").click()  # the header's folded controls
    toggle = page.locator("#pending-toggle")
    await expect(toggle).to_be_checked()
    view = page.locator("#thread-view")
    await expect(view).to_have_attribute("aria-busy", "false")

    # The next read of the thread is answered now (pending) but delivered only later.
    held, release = asyncio.Event(), asyncio.Event()

    async def hold_first_read(route: Route) -> None:
        if route.request.method != "GET" or held.is_set():
            await route.continue_()
            return
        answer = await route.fetch()
        held.set()
        await release.wait()
        await route.fulfill(response=answer)

    await page.route(f"**/api/v1/threads/{thread_id}", hold_first_read)
    await api.call("POST", f"/api/v1/threads/{thread_id}/priority", {"priority": "high"})
    await asyncio.wait_for(held.wait(), 15)
    await expect(view).to_have_attribute("aria-busy", "true")

    await toggle.uncheck()
    # The action's own read shows the colleague's change and no "waiting" badge.
    await expect(page.locator("#thread-sla .badge.priority")).to_have_text("high")
    await expect(page.locator("#thread-sla .pending-badge")).to_have_count(0)
    assert (await api.thread(thread_id))["pending"] is False

    release.set()
    await expect(view).to_have_attribute("aria-busy", "false")
    await expect(toggle).not_to_be_checked()
    await expect(page.locator("#thread-sla .pending-badge")).to_have_count(0)
