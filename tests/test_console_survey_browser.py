"""A low survey answer in the agent console, in headless Chromium (Persian): the
thread's row carries a "low rating" badge, live, and the "low ratings" tab lists the
flagged threads only (GET /api/v1/threads?low_rating=true)."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from config.settings import Settings
from router.core.responder import QueueEveryThread
from tests.browser_support import sign_in_to_console
from tests.conftest import AppFactory
from tests.console_support import add_agent, agent_token
from tests.support import FakeAdapter
from tests.test_console_sla_browser import Api, csp_watch, row

pytestmark = pytest.mark.browser


async def test_a_low_rating_badge_and_the_low_ratings_tab(
    browser: Browser, start_app: AppFactory, settings: Settings
) -> None:
    chat = FakeAdapter(name="webchat")
    client, context = await start_app(
        settings.replace("threads", reopen_window_minutes=0).replace("surveys", min_days_between=0),
        adapters=[chat],
        responder=QueueEveryThread(),
    )
    boss = await add_agent(context, "boss@example.com", name="Boss", admin=True, language="fa")
    api = Api(client, await agent_token(context, boss))
    threads = []
    for sender in ("happy", "unhappy"):
        thread_id = (await chat.push("سلام", sender=sender, language="fa")).thread_id
        await api.client.post(f"/api/v1/threads/{thread_id}/claim", headers=api.headers)
        reply = await api.client.post(
            f"/api/v1/threads/{thread_id}/messages", headers=api.headers, json={"text": "بفرمایید"}
        )
        assert reply.status == 201
        await api.call("POST", f"/api/v1/threads/{thread_id}/resolve", {})
        threads.append(thread_id)
    happy, unhappy = threads
    sent = await chat.wait_sent(1)
    while len([m for m in sent if m.survey is not None]) < 2:
        sent = await chat.wait_sent(len(sent) + 1)
    tokens = {m.thread_id: m.survey.token for m in sent if m.survey is not None}
    answer = await client.post(f"/api/v1/surveys/{tokens[happy]}", json={"score": 5})
    assert answer.status == 200

    page = await browser.new_page(viewport={"width": 1280, "height": 860})
    problems = csp_watch(page)
    await sign_in_to_console(page, str(client.make_url("/")).rstrip("/"), "boss@example.com")
    await expect(page.locator("#live")).to_have_attribute("data-state", "on")
    await page.locator('.tab[data-view="all"]').click()
    await page.locator('.tab[data-view="low"]').click()
    await expect(page.locator('.tab[data-view="low"]')).to_have_text("امتیاز پایین")
    await expect(page.locator("#thread-list .thread-item")).to_have_count(0)

    # The unhappy customer answers 1: the console hears it live.
    answer = await client.post(
        f"/api/v1/surveys/{tokens[unhappy]}", json={"score": 1, "comment": "جواب نگرفتم"}
    )
    assert answer.status == 200
    await expect(page.locator("#thread-list .thread-item")).to_have_count(1)
    await expect(row(page, unhappy).locator(".low-rating-badge")).to_have_text("امتیاز پایین")
    await expect(row(page, happy)).to_have_count(0)
    assert problems == []
