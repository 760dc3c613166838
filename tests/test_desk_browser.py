"""The help-desk features in Debian's Chromium (Playwright), in fa and en: an agent
takes a thread over from the bot (the customer's next message gets no bot answer),
attaches a PNG that the web chat visitor then downloads with their token, and finds a
Persian customer by an Arabic-letter spelling. The visitor talks over the real web
chat socket; the agent works the real console."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from bot import build_responder
from config.settings import Settings
from router.context import AppContext
from router.core.ingest import ingest
from router.core.messages import AuthorKind, InboundMessage
from router.storage.models import Message, Thread
from tests.browser_support import sign_in_to_console
from tests.conftest import AppFactory
from tests.console_support import add_agent
from tests.webchat_fakes import next_frame

pytestmark = pytest.mark.browser

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
QUESTION = "سفارشم کجاست؟"  # the sample KB answers it


@pytest.fixture
async def server(start_app: AppFactory, settings: Settings) -> tuple[str, AppContext]:
    client, context = await start_app(
        settings.replace("webchat", enabled=True).replace("email", enabled=False),
        responder=build_responder(faq_path=None),
    )
    return str(client.make_url("/")).rstrip("/"), context


class Visitor:
    """A web chat visitor on the real socket."""

    def __init__(self, http: aiohttp.ClientSession, url: str) -> None:
        self.http, self.url = http, url
        self.token = ""
        self.ws: Any = None

    async def connect(self) -> None:
        async with self.http.post(f"{self.url}/api/v1/webchat/sessions", json={}) as response:
            self.token = (await response.json())["visitor_token"]
        self.ws = await self.http.ws_connect(f"{self.url}/ws/webchat", params={"token": self.token})
        await next_frame(self.ws, "ready")

    async def say(self, text: str) -> int:
        client_id = uuid.uuid4().hex
        frame = {"type": "message", "client_id": client_id, "text": text}
        await self.ws.send_str(json.dumps(frame, ensure_ascii=False))
        return int((await next_frame(self.ws, "ack"))["message_id"])


async def _bot_answers_after(app: AppContext, message_id: int) -> int:
    async with app.sessions() as session:
        rows = await session.scalars(
            select(Message.id).where(Message.author_kind == AuthorKind.BOT, Message.id > message_id)
        )
        return len(list(rows))


async def _console(
    browser: Browser, url: str, email: str, lang: str, width: int = 1400, height: int = 900
) -> Page:
    viewport = {"width": width, "height": height}
    page = await (await browser.new_context(viewport=viewport)).new_page()  # type: ignore[arg-type]
    await sign_in_to_console(page, url, email)
    await page.locator("#console .lang-select").select_option(lang)
    return page


@pytest.mark.parametrize("lang", ["fa", "en"])
async def test_agent_takes_over_a_bot_thread_and_attaches_a_png_the_visitor_opens(
    browser: Browser, server: tuple[str, AppContext], lang: str
) -> None:
    url, app = server
    await add_agent(app, "sara@example.com", name="Sara", tier=1, language=lang)
    async with aiohttp.ClientSession() as http:
        visitor = Visitor(http, url)
        await visitor.connect()
        first = await visitor.say(QUESTION)
        assert await _bot_answers_after(app, first) == 1
        async with app.sessions() as session:
            thread_id = await session.scalar(select(Thread.id))

        page = await _console(browser, url, "sara@example.com", lang)
        await page.locator('.tab[data-view="all"]').click()
        await page.locator(f'.thread-item[data-thread-id="{thread_id}"]').click()
        take_over = page.locator("#claim")
        await expect(take_over).to_have_text("گرفتن از ربات" if lang == "fa" else "Take over")
        await take_over.click()
        await expect(page.locator("#release")).to_be_visible()

        second = await visitor.say(QUESTION)  # ingest decided before the ack
        assert await _bot_answers_after(app, second) == 0

        await page.locator("#reply-files").set_input_files(
            files=[{"name": "receipt.png", "mimeType": "image/png", "buffer": PNG}]
        )
        await page.locator("#reply-text").fill("رسید شما" if lang == "fa" else "Your receipt")
        await page.locator("#reply-send").click()
        while True:
            frame = await next_frame(visitor.ws, "message", wait=10)
            if frame["message"]["attachments"]:
                break
        [file] = frame["message"]["attachments"]
        assert file["filename"] == "receipt.png"
        headers = {"Authorization": f"Bearer {visitor.token}"}
        async with http.get(f"{url}{file['url']}", headers=headers) as got:
            assert got.status == 200 and await got.read() == PNG
        await visitor.ws.close()


@pytest.mark.parametrize("lang", ["fa", "en"])
async def test_search_finds_a_persian_customer_by_an_arabic_spelling(
    browser: Browser, server: tuple[str, AppContext], lang: str, tmp_path: Path
) -> None:
    url, app = server
    await add_agent(app, "boss@example.com", name="Boss", admin=True, language=lang)
    await ingest(
        app,
        InboundMessage(
            channel="webchat",
            external_id="m1",
            sender_address="visitor-1",
            sender_name="علی کریمی",
            text="سلام",
        ),
    )
    page = await _console(browser, url, "boss@example.com", lang)
    await page.locator('.page-tab[data-page="customers"]').click()
    await expect(page.locator("#search-input")).to_be_visible()
    await page.locator("#search-input").fill("علي كريمي")  # Arabic yeh and kaf
    await page.locator("#search-form button[type=submit]").click()
    found = page.locator('#search-results [data-section="customers"] .customer-item')
    await expect(found).to_have_count(1)
    await expect(found.first).to_contain_text("علی کریمی")
    await found.first.locator("button").click()
    await expect(page.locator("#customer-profile h2")).to_have_text("علی کریمی")
    await page.screenshot(path=str(tmp_path / f"customers-{lang}.png"))


ASKED = {
    "fa": ("سفارشم کجاست؟", "وضعیت سفارش و کد رهگیری"),
    "en": ("How do I track my order?", "You can see your order status"),
}


async def test_suggested_answers_leave_the_reply_box_and_send_on_a_small_screen(
    browser: Browser, server: tuple[str, AppContext]
) -> None:
    url, app = server
    await add_agent(app, "sara@example.com", name="Sara", tier=1, language="en")
    async with aiohttp.ClientSession() as http:
        visitor = Visitor(http, url)
        await visitor.connect()
        await visitor.say(ASKED["en"][0])
        async with app.sessions() as session:
            thread_id = await session.scalar(select(Thread.id))
        page = await _console(browser, url, "sara@example.com", "en", 1280, 720)
        await page.locator('.tab[data-view="all"]').click()
        await page.locator(f'.thread-item[data-thread-id="{thread_id}"]').click()
        await page.locator("#claim").click()
        await expect(page.locator("#kb-suggestions .kb-suggestion").first).to_be_visible()
        # Every suggestion in the strip, however long: Send and the history stay in view.
        await expect(page.locator("#reply-send")).to_be_in_viewport(ratio=1)
        await expect(page.locator("#reply-text")).to_be_in_viewport(ratio=1)
        history = await page.locator("#thread-scroll").bounding_box()
        assert history is not None and history["height"] > 100, history


@pytest.mark.parametrize("lang", ["fa", "en"])
async def test_a_knowledge_base_suggestion_is_inserted_edited_and_sent(
    browser: Browser, server: tuple[str, AppContext], lang: str
) -> None:
    url, app = server
    await add_agent(app, "sara@example.com", name="Sara", tier=1, language=lang)
    question, answer_start = ASKED[lang]
    async with aiohttp.ClientSession() as http:
        visitor = Visitor(http, url)
        await visitor.connect()
        await visitor.say(question)
        async with app.sessions() as session:
            thread_id = await session.scalar(select(Thread.id))
        page = await _console(browser, url, "sara@example.com", lang)
        await page.locator('.tab[data-view="all"]').click()
        await page.locator(f'.thread-item[data-thread-id="{thread_id}"]').click()
        await page.locator("#claim").click()
        await expect(page.locator("#release")).to_be_visible()
        suggestion = page.locator("#kb-suggestions .kb-suggestion").first
        await expect(suggestion.locator(".kb-answer")).to_contain_text(answer_start)
        await suggestion.locator(".kb-insert").click()
        reply = page.locator("#reply-text")
        await expect(reply).to_have_value(re.compile("^" + re.escape(answer_start)))
        await reply.press("End")
        await reply.press_sequentially(" :)")
        await page.locator("#reply-send").click()
        while True:
            message = (await next_frame(visitor.ws, "message", wait=10))["message"]
            if message["author"] == "agent":
                break
        assert message["text"].startswith(answer_start) and message["text"].endswith(" :)")
        await visitor.ws.close()
