"""The widget in Chromium: a Persian customer who asks for a person outside business
hours is told when a person will answer, with the Solar Hijri date in Persian digits;
the header shows the team's status (away until the opening, or online) in fa and en."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC

import aiohttp
import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from bot import build_responder
from config.settings import ServiceSettings, Settings
from router.agents.queue import set_presence
from router.context import AppContext
from router.core.texts import ROUTER_TEXTS
from router.service.calendars import calendar_to_json, iranian_week
from router.service.dates import render_instant
from router.storage.models import Thread, ThreadStatus
from tests.agent_support import make_agent
from tests.browser_support import ARTIFACTS, running_chromium
from tests.conftest import AppFactory
from tests.console_support import add_agent
from tests.test_service_expectations import (
    SATURDAY_IN_PERSIAN,
    SATURDAY_OPENING,
    TEHRAN,
    THURSDAY_AFTERNOON,
)
from tests.test_webchat_team_status import SUNDAY_MORNING
from tests.test_widget_browser import ask, open_chat, open_demo

pytestmark = pytest.mark.browser


@pytest.fixture
async def served(start_app: AppFactory, settings: Settings) -> tuple[str, AppContext]:
    """The server with the web chat, the sample-KB bot, the Iranian week as the default
    calendar, an agent online, and the clock at Thursday 14:00 Tehran (closed)."""
    service = ServiceSettings(
        calendars={"tehran": calendar_to_json(iranian_week())}, default_calendar="tehran"
    )
    configured = dataclasses.replace(
        settings.replace("webchat", enabled=True).replace("email", enabled=False),
        service=service,
    )
    client, context = await start_app(configured, responder=build_responder(faq_path=None))
    context.clock = lambda: THURSDAY_AFTERNOON.astimezone(UTC)
    agent = await add_agent(context, "sara@example.com", tier=1)
    await set_presence(context, agent, "online")
    return str(client.make_url("/")).rstrip("/"), context


@pytest.fixture
async def browser(served: tuple[str, AppContext]) -> AsyncIterator[Browser]:
    async with running_chromium() as chromium:
        yield chromium


async def test_the_hand_off_outside_hours_names_saturday_in_solar_hijri(
    browser: Browser, served: tuple[str, AppContext]
) -> None:
    page = await open_demo(browser, f"{served[0]}/?lang=fa")
    await open_chat(page)
    await ask(page, "میخوام با یک آدم صحبت کنم")
    promise = page.locator("pasokh-chat .msg.bot .bubble", has_text="شنبه")
    await expect(promise).to_have_text(
        ROUTER_TEXTS.text("handoff_opening", "fa", when=SATURDAY_IN_PERSIAN), timeout=10_000
    )
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "widget-fa-outside-hours.png"))


async def test_the_header_shows_the_team_away_until_saturday_then_online_in_fa_and_en(
    browser: Browser, served: tuple[str, AppContext]
) -> None:
    url, context = served
    persian = await open_demo(browser, f"{url}/?lang=fa")
    await open_chat(persian)
    team = persian.locator("pasokh-chat header .team")
    await expect(team).to_have_text(
        ROUTER_TEXTS.text("team_away_until", "fa", when=SATURDAY_IN_PERSIAN), timeout=10_000
    )
    assert await team.evaluate("node => getComputedStyle(node).direction") == "rtl"
    ARTIFACTS.mkdir(exist_ok=True)
    await persian.screenshot(path=str(ARTIFACTS / "widget-fa-team-away.png"))

    english = await open_demo(browser, f"{url}/?lang=en")
    await open_chat(english)
    await expect(english.locator("pasokh-chat header .team")).to_have_text(
        ROUTER_TEXTS.text("team_away_until", "en", when="Saturday 9 January 2027 at 09:00"),
        timeout=10_000,
    )
    # Sunday 10:00, open and the agent online: reopening the chat shows the team online.
    context.clock = lambda: SUNDAY_MORNING.astimezone(UTC)
    await english.locator("pasokh-chat .close").click()
    await open_chat(english)
    await expect(english.locator("pasokh-chat header .team.online")).to_have_text(
        ROUTER_TEXTS.text("team_online", "en"), timeout=10_000
    )


async def test_a_visitor_chatting_with_a_tier_2_agent_sees_the_team_online(
    browser: Browser, served: tuple[str, AppContext]
) -> None:
    url, context = served  # Thursday afternoon: closed; tier 1 is away until Saturday
    page = await open_demo(browser, f"{url}/?lang=ar")
    await open_chat(page)
    team = page.locator("pasokh-chat header .team")
    await expect(team).to_have_text(
        ROUTER_TEXTS.text(
            "team_away_until",
            "ar",
            when=render_instant(SATURDAY_OPENING, language="ar", zone=TEHRAN),
        ),
        timeout=10_000,
    )
    await ask(page, "عندي مشكلة في الفاتورة")
    await expect(page.locator("pasokh-chat .msg.customer[data-id]")).to_have_count(1)
    async with context.sessions() as session, session.begin():
        thread = await session.scalar(select(Thread))
        assert thread is not None
        thread.tier, thread.status = 2, ThreadStatus.QUEUED
        thread_id = thread.id
    samir = await make_agent(context, "Samir", tier=2, presence="online")
    async with aiohttp.ClientSession(base_url=url, headers=samir.headers) as agent_api:
        for path, body in (("claim", None), ("messages", {"text": "أهلاً، أنا أتابع طلبك"})):
            async with agent_api.post(f"/api/v1/threads/{thread_id}/{path}", json=body) as done:
                assert done.status in (200, 201), await done.text()
    # His reply names him in the header, and the status under it no longer says away.
    await expect(page.locator("pasokh-chat header .sub")).to_have_text("Samir", timeout=10_000)
    await expect(page.locator("pasokh-chat header .team.online")).to_have_text(
        ROUTER_TEXTS.text("team_online", "ar"), timeout=10_000
    )
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "widget-ar-team-online-tier-2.png"))
