"""The console's "ask how it went" checkbox next to Resolve, in a real browser: it
starts from the server's `surveys.send_by_default` (given in /console/session), an
unticked resolve sends {"survey": false} and no survey, a ticked one sends it."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import expect
from sqlalchemy import select

from config.settings import Settings
from router.context import AppContext
from router.core.responder import QueueEveryThread
from router.storage.models import SurveyAnswer
from tests.agent_support import api, make_agent
from tests.browser_support import running_chromium, sign_in_to_console
from tests.console_support import add_agent, sign_in
from tests.support import FakeAdapter

pytestmark = pytest.mark.browser


async def _surveyed(context: AppContext) -> list[int]:
    async with context.sessions() as session:
        return list(await session.scalars(select(SurveyAnswer.thread_id)))


async def test_resolve_with_and_without_a_survey_from_the_console(
    settings: Settings, start_app: Any
) -> None:
    settings = settings.replace("surveys", channels=["web"], min_days_between=0)
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=QueueEveryThread())
    await add_agent(context, "sara@example.com", name="Sara")
    sara = await make_agent(context, "Helper", presence="away")
    quiet = (await web.push("my parcel is late", sender="a")).thread_id
    asked = (await web.push("my invoice is wrong", sender="b")).thread_id
    for thread_id in (quiet, asked):
        # Sara's threads, answered (no survey after a thread no agent replied in)
        status, _ = await api(client, "POST", f"/api/v1/threads/{thread_id}/claim", sara)
        assert status == 200
        status, _ = await api(
            client, "POST", f"/api/v1/threads/{thread_id}/messages", sara, json={"text": "on it"}
        )
        assert status == 201
        status, _ = await api(
            client,
            "POST",
            f"/api/v1/threads/{thread_id}/transfer",
            sara,
            json={"agent": "sara@example.com"},
        )
        assert status == 200
    url = str(client.make_url("/")).rstrip("/")
    async with running_chromium() as browser:
        page = await (await browser.new_context()).new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        await sign_in_to_console(page, url, "sara@example.com")
        await page.locator('.tab[data-view="mine"]').click()
        ask = page.locator("#resolve-survey")

        await page.locator(f'.thread-item[data-thread-id="{quiet}"]').click()
        await expect(page.locator("#resolve-survey + span")).to_have_text("ask how it went")
        await expect(ask).to_be_checked()  # the server's default
        await ask.uncheck()
        await page.locator("#resolve").click()
        await expect(page.locator(f'.thread-item[data-thread-id="{quiet}"]')).to_have_count(0)
        await expect(ask).to_be_checked()  # back to the default for the next resolve

        await page.locator(f'.thread-item[data-thread-id="{asked}"]').click()
        await page.locator("#resolve").click()
        await expect(page.locator(f'.thread-item[data-thread-id="{asked}"]')).to_have_count(0)
        assert await _surveyed(context) == [asked]

        await page.locator("#console .lang-select").select_option("fa")
        await expect(page.locator("#resolve-survey + span")).to_have_text("نظر مشتری را بپرس")
        assert problems == []


async def test_the_session_gives_the_console_the_survey_default(
    settings: Settings, start_app: Any
) -> None:
    client, context = await start_app(settings.replace("surveys", send_by_default=False))
    await add_agent(context, "sara@example.com")
    session = await sign_in(client, "sara@example.com")
    assert session["survey_on_resolve"] is False
    again = await (await client.get("/console/session")).json()
    assert again["survey_on_resolve"] is False
