"""The widget's rating prompt in a real browser (Debian's Chromium via Playwright): an
agent resolves the visitor's thread, the widget renders the survey the message carries,
a tap on a star answers it at POST /api/v1/surveys/{token}, a comment can follow.
Persian (RTL, Persian digits) and English (LTR)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from config.settings import Settings
from router.context import AppContext
from router.core.responder import QueueEveryThread
from router.storage.models import SurveyAnswer, Thread
from tests.agent_support import api, eventually, make_agent
from tests.browser_support import ARTIFACTS, running_chromium
from tests.conftest import AppFactory
from tests.test_widget_browser import ask, direction_of_widget, open_chat, open_demo

pytestmark = pytest.mark.browser


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with running_chromium() as chromium:
        yield chromium


async def _resolved_with_survey(
    browser: Browser, start_app: AppFactory, settings: Settings, lang: str, question: str
) -> tuple[Page, AppContext]:
    client, context = await start_app(
        settings.replace("webchat", enabled=True).replace("email", enabled=False),
        responder=QueueEveryThread(),
    )
    url = str(client.make_url("/")).rstrip("/")
    page = await open_demo(browser, f"{url}/?lang={lang}")
    await open_chat(page)
    await ask(page, question)
    await expect(page.locator("pasokh-chat .msg.customer[data-id]")).to_have_count(1)
    async with context.sessions() as session:
        thread_id = await session.scalar(select(Thread.id))
    sara = await make_agent(context, "Sara", presence="online")
    for path, body in (("claim", None), ("messages", {"text": "Done!"}), ("resolve", {})):
        status, answer = await api(
            client, "POST", f"/api/v1/threads/{thread_id}/{path}", sara, json=body
        )
        assert status in (200, 201), answer
    return page, context


async def _answer(context: AppContext) -> tuple[int | None, str | None]:
    async with context.sessions() as session:
        survey = await session.scalar(select(SurveyAnswer))
        assert survey is not None
        return survey.score, survey.comment


async def test_the_rating_prompt_in_persian_is_rtl_with_persian_digits(
    browser: Browser, start_app: AppFactory, settings: Settings
) -> None:
    page, context = await _resolved_with_survey(
        browser, start_app, settings, "fa", "سفارشم هنوز نرسیده"
    )
    prompt = page.locator("pasokh-chat .rating")
    await expect(prompt).to_be_visible(timeout=10_000)
    await expect(page.locator("pasokh-chat .msg.bot .bubble").last).to_contain_text(
        "گفتگوی ما چطور بود؟"
    )
    assert await direction_of_widget(page) == "rtl"
    assert await prompt.evaluate("node => getComputedStyle(node).direction") == "rtl"
    stars = prompt.locator(".scores button")
    await expect(stars).to_have_count(5)
    await expect(stars.nth(3)).to_have_attribute("aria-label", "امتیاز ۴ از ۵")
    # RTL: the first star sits right of the last.
    first, last = await stars.first.bounding_box(), await stars.last.bounding_box()
    assert first is not None and last is not None and first["x"] > last["x"]

    await stars.nth(3).click()
    await expect(prompt.locator(".said")).to_have_text("ممنون از نظرتان!")
    await expect(prompt.locator(".scores button.on")).to_have_count(4)

    async def answered() -> bool:
        return (await _answer(context))[0] == 4

    await eventually(answered)
    await prompt.locator("textarea").fill("پاسخ سریع بود")
    await prompt.locator(".commit").click()
    await expect(prompt.locator(".said")).to_have_text("توضیح شما ثبت شد؛ ممنون.")
    assert await _answer(context) == (4, "پاسخ سریع بود")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "widget-survey-fa.png"))


async def test_the_rating_prompt_in_english_is_ltr(
    browser: Browser, start_app: AppFactory, settings: Settings
) -> None:
    page, context = await _resolved_with_survey(
        browser, start_app, settings, "en", "My order has not arrived"
    )
    prompt = page.locator("pasokh-chat .rating")
    await expect(prompt).to_be_visible(timeout=10_000)
    await expect(page.locator("pasokh-chat .msg.bot .bubble").last).to_contain_text(
        "How did we do?"
    )
    assert await direction_of_widget(page) == "ltr"
    stars = prompt.locator(".scores button")
    await expect(stars.nth(1)).to_have_attribute("aria-label", "2 out of 5")
    first, last = await stars.first.bounding_box(), await stars.last.bounding_box()
    assert first is not None and last is not None and first["x"] < last["x"]
    await stars.nth(1).click()
    await expect(prompt.locator(".said")).to_have_text("Thank you for your rating!")

    async def answered() -> bool:
        return (await _answer(context))[0] == 2

    await eventually(answered)
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "widget-survey-en.png"))
