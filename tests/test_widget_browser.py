"""The widget in a real browser: Debian's Chromium driven by Playwright.

Each test runs the whole server (real ingest, database, outbox, sample-KB bot) on a
loopback port and opens the demo page. Screenshots of the widget in fa and en are
written to `artifacts/` (gitignored) for people to look at.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, WebSocketRoute, expect
from sqlalchemy import select

from bot import build_responder
from channels.webchat.tokens import TokenSigner
from config.settings import Settings
from router.context import AppContext
from router.core.responder import QueueEveryThread
from router.storage.models import Message, Thread
from tests.agent_support import api, make_agent
from tests.browser_support import ARTIFACTS, running_chromium
from tests.conftest import AppFactory
from tests.test_webchat_tokens import legacy_token

pytestmark = pytest.mark.browser

PERSIAN_DIGIT = re.compile("[۰-۹]")

# A host page that tries hard to break an embedded widget.
HOSTILE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hostile</title>
<style>
  * { all: unset !important; }
  html { font-size: 3px !important; direction: rtl !important; filter: none; }
  div, section, button, textarea, ol, li, form { display: none !important; }
  pasokh-chat { display: none !important; opacity: 0 !important; }
  button { color: transparent !important; background: red !important; }
  body * { visibility: hidden !important; transform: scale(0.1) !important; }
</style></head>
<body><p>Host content</p>
<script src="{server}/widget.js" data-lang="en" data-suggestions="How long does delivery take?">
</script>
</body></html>
"""


@pytest.fixture
async def browser(server_url: str) -> AsyncIterator[Browser]:
    """Chromium, closed before the server stops (its sockets would hold the shutdown)."""
    async with running_chromium() as chromium:
        yield chromium


@pytest.fixture
async def served(start_app: AppFactory, settings: Settings) -> tuple[str, AppContext]:
    """The whole server with the web chat and the sample-KB bot: base URL, context."""
    client, context = await start_app(
        settings.replace("webchat", enabled=True).replace("email", enabled=False),
        responder=build_responder(faq_path=None),
    )
    return str(client.make_url("/")).rstrip("/"), context


@pytest.fixture
def server_url(served: tuple[str, AppContext]) -> str:
    return served[0]


async def open_demo(browser: Browser, url: str) -> Page:
    page = await browser.new_page(viewport={"width": 1100, "height": 800})
    page.on("pageerror", lambda error: pytest.fail(f"page error: {error}"))
    await page.goto(url)
    return page


async def open_chat(page: Page) -> None:
    await page.locator("pasokh-chat .launcher").click()
    await expect(page.locator("pasokh-chat .panel")).to_be_visible()


async def ask(page: Page, text: str) -> None:
    composer = page.locator("pasokh-chat textarea")
    await composer.fill(text)
    await composer.press("Enter")


async def direction_of_widget(page: Page) -> Any:
    return await page.evaluate(
        "() => getComputedStyle(document.querySelector('pasokh-chat')"
        ".shadowRoot.querySelector('.root')).direction"
    )


async def test_persian_question_answer_history_and_rtl(browser: Browser, server_url: str) -> None:
    page = await open_demo(browser, f"{server_url}/?lang=fa")
    assert await direction_of_widget(page) == "rtl"
    await open_chat(page)
    await ask(page, "ارسال چند روز طول می‌کشد؟")
    customer = page.locator("pasokh-chat .msg.customer .bubble")
    await expect(customer).to_have_text("ارسال چند روز طول می‌کشد؟")
    answer = page.locator("pasokh-chat .msg.bot .bubble")
    await expect(answer).to_contain_text("روز کاری", timeout=10_000)
    # Acked: the customer's message carries its stored id and a Persian-digit time.
    await expect(page.locator("pasokh-chat .msg.customer[data-id]")).to_have_count(1)
    meta = await page.locator("pasokh-chat .msg.bot .meta").inner_text()
    assert PERSIAN_DIGIT.search(meta), meta
    # Bubbles of an RTL conversation: the customer's sits left of the bot's (mirrored).
    customer_box = await customer.bounding_box()
    answer_box = await answer.bounding_box()
    assert customer_box is not None and answer_box is not None
    assert customer_box["x"] < answer_box["x"]
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "widget-fa.png"))

    await page.reload()
    await expect(page.locator("pasokh-chat .panel")).to_be_visible()  # stays open
    await expect(page.locator("pasokh-chat .msg.customer .bubble")).to_have_text(
        "ارسال چند روز طول می‌کشد؟"
    )
    await expect(page.locator("pasokh-chat .msg.bot .bubble")).to_contain_text("روز کاری")
    await expect(page.locator("pasokh-chat .msg")).to_have_count(2)


async def test_a_stored_token_is_resumed_and_the_fresh_one_kept(
    browser: Browser, served: tuple[str, AppContext]
) -> None:
    """A returning visitor's token is re-issued on the page's first call, and the widget
    keeps the new one; a token from before issue times keeps its conversation too."""
    url, context = served
    page = await open_demo(browser, f"{url}/?lang=en")
    await open_chat(page)
    await ask(page, "How long does delivery take?")
    await expect(page.locator("pasokh-chat .msg.customer[data-id]")).to_have_count(1)
    key = f"pasokh:{url}:anon:token"
    read = "key => JSON.parse(localStorage.getItem(key))"
    signer = TokenSigner(context.settings.server.secret_key)
    address = signer.open_visitor(await page.evaluate(read, key)).address
    old = legacy_token(address, context.settings.server.secret_key)
    await page.evaluate(
        "([key, token]) => localStorage.setItem(key, JSON.stringify(token))", [key, old]
    )
    await page.reload()
    await expect(page.locator("pasokh-chat .msg.customer .bubble")).to_have_text(
        "How long does delivery take?"
    )
    kept = await page.evaluate(read, key)
    assert kept != old and signer.open_visitor(kept).address == address


async def test_english_is_ltr_and_a_tapped_suggestion_is_sent(
    browser: Browser, server_url: str
) -> None:
    page = await open_demo(browser, f"{server_url}/?lang=en")
    assert await direction_of_widget(page) == "ltr"
    await open_chat(page)
    starter = page.locator("pasokh-chat .suggestions button", has_text="How long does delivery")
    await starter.click()
    await expect(page.locator("pasokh-chat .msg.customer .bubble")).to_have_text(
        "How long does delivery take?"
    )
    await expect(page.locator("pasokh-chat .msg.bot .bubble")).to_contain_text(
        "business days", timeout=10_000
    )
    # The bot's own suggestion buttons (did this help?) send their text too.
    offered = page.locator("pasokh-chat .suggestions button").first
    await expect(offered).to_be_visible()
    label = await offered.inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "widget-en.png"))
    await offered.click()
    await expect(page.locator("pasokh-chat .msg.customer .bubble").last).to_have_text(label)
    await expect(page.locator("pasokh-chat .msg.customer[data-id]")).to_have_count(2)


async def test_arabic_is_rtl_with_arabic_strings(browser: Browser, server_url: str) -> None:
    page = await open_demo(browser, f"{server_url}/?lang=ar")
    assert await direction_of_widget(page) == "rtl"
    launcher = page.locator("pasokh-chat .launcher")
    await expect(launcher).to_have_attribute("aria-label", "تحدث مع الدعم")
    await open_chat(page)
    await ask(page, "كم يستغرق التوصيل؟")
    await expect(page.locator("pasokh-chat .msg.bot .bubble")).to_contain_text(
        "يوم عمل", timeout=10_000
    )


async def test_keyboard_only_use(browser: Browser, server_url: str) -> None:
    page = await open_demo(browser, f"{server_url}/?lang=en")
    launcher = page.locator("pasokh-chat .launcher")
    await expect(launcher).to_have_attribute("aria-expanded", "false")
    await launcher.focus()
    await page.keyboard.press("Enter")
    await expect(launcher).to_have_attribute("aria-expanded", "true")
    focused = "() => document.querySelector('pasokh-chat').shadowRoot.activeElement?.className"
    assert await page.evaluate(focused) == ""  # the composer (a textarea without a class)
    assert (
        await page.evaluate(
            "() => document.querySelector('pasokh-chat').shadowRoot.activeElement.id"
        )
        == "pasokh-input"
    )
    await page.keyboard.type("Where is my order?")
    await page.keyboard.press("Enter")
    await expect(page.locator("pasokh-chat .msg.bot .bubble")).to_contain_text(
        "My orders", timeout=10_000
    )
    await page.keyboard.press("Escape")
    await expect(page.locator("pasokh-chat .panel")).to_be_hidden()
    assert "launcher" in (await page.evaluate(focused) or "")
    labelled = await page.evaluate(
        """() => [...document.querySelector('pasokh-chat').shadowRoot
             .querySelectorAll('button:not([hidden]), textarea')]
             .filter(e => !(e.getAttribute('aria-label') || e.labels?.length
                            || e.textContent.trim()))
             .length"""
    )
    assert labelled == 0


async def test_hostile_host_css_does_not_break_the_widget(
    browser: Browser, server_url: str
) -> None:
    # The hostile page lives on another origin (another loopback port), as a customer's
    # site would: the widget is embedded cross-origin and talks back to its own server.
    async def hostile(_: web.Request) -> web.Response:
        return web.Response(
            text=HOSTILE_PAGE.replace("{server}", server_url), content_type="text/html"
        )

    host_app = web.Application()
    host_app.router.add_get("/", hostile)
    async with TestServer(host_app, host="127.0.0.1") as host_site:
        page = await browser.new_page(viewport={"width": 1100, "height": 800})
        page.on("pageerror", lambda error: pytest.fail(f"page error: {error}"))
        await page.goto(str(host_site.make_url("/")))
        await check_widget_survives(page)


async def check_widget_survives(page: Page) -> None:
    launcher = page.locator("pasokh-chat .launcher")
    await expect(launcher).to_be_visible()
    box = await launcher.bounding_box()
    assert box is not None and box["width"] >= 50 and box["height"] >= 50
    await launcher.click()
    panel = page.locator("pasokh-chat .panel")
    await expect(panel).to_be_visible()
    panel_box = await panel.bounding_box()
    assert panel_box is not None and panel_box["width"] >= 300 and panel_box["height"] >= 300
    assert await direction_of_widget(page) == "ltr"  # the widget's language, not the host's
    font_size = await page.evaluate(
        "() => getComputedStyle(document.querySelector('pasokh-chat').shadowRoot"
        ".querySelector('textarea')).fontSize"
    )
    assert font_size == "14px"
    await page.locator("pasokh-chat .suggestions button").first.click()
    await expect(page.locator("pasokh-chat .msg.bot .bubble")).to_contain_text(
        "business days", timeout=10_000
    )


async def test_no_message_is_lost_when_acks_or_sockets_drop(
    browser: Browser, served: tuple[str, AppContext]
) -> None:
    url, context = served
    page = await open_demo(browser, f"{url}/?lang=fa")
    faults = {"drop_acks": True, "cut_on_message": False}

    async def flaky_network(route: WebSocketRoute) -> None:
        server = route.connect_to_server()

        async def page_to_server(message: str | bytes) -> None:
            if faults["cut_on_message"] and '"type":"message"' in str(message):
                faults["cut_on_message"] = False
                await route.close(code=4000, reason="network drop")  # the frame is lost
                return
            server.send(message)

        def server_to_page(message: str | bytes) -> None:
            if faults["drop_acks"] and json.loads(message)["type"] == "ack":
                return
            route.send(message)

        route.on_message(page_to_server)
        server.on_message(server_to_page)

    await page.route_web_socket(re.compile(r".*/ws/webchat.*"), flaky_network)
    await page.reload()
    await open_chat(page)

    # 1. Stored, but the ack is lost: the message waits in localStorage, and after a
    # reload it is sent again and matched to the stored one (same id, one bubble).
    await ask(page, "سفارشم کجاست؟")
    await expect(page.locator("pasokh-chat .msg.bot .bubble")).to_contain_text("سفارش‌های من")
    waiting = await page.evaluate("() => JSON.stringify(localStorage)")
    assert "سفارشم کجاست؟" in waiting
    faults["drop_acks"] = False
    await page.reload()
    await expect(page.locator("pasokh-chat .msg.customer[data-id]")).to_have_count(1)
    await expect(page.locator("pasokh-chat .msg.customer:not([data-client])")).to_have_count(1)
    assert "سفارشم" not in await page.evaluate("() => JSON.stringify(localStorage)")

    # 2. The socket drops with the message in flight: the widget reconnects and resends.
    faults["cut_on_message"] = True
    await ask(page, "چطور کالا را مرجوع کنم؟")
    await expect(page.locator("pasokh-chat .msg.bot .bubble").last).to_contain_text(
        "۷ روز", timeout=15_000
    )
    await expect(page.locator("pasokh-chat .msg.customer[data-id]")).to_have_count(2)

    async with context.sessions() as session:
        texts = list(
            await session.scalars(select(Message.text).where(Message.author_kind == "customer"))
        )
    assert sorted(texts) == sorted(["سفارشم کجاست؟", "چطور کالا را مرجوع کنم؟"])


async def test_agent_typing_name_and_unread_badge(browser: Browser, server_url: str) -> None:
    page = await open_demo(browser, f"{server_url}/?lang=fa")
    sockets: list[WebSocketRoute] = []

    async def keep_route(route: WebSocketRoute) -> None:
        route.connect_to_server()  # frames flow both ways; the test can add its own
        sockets.append(route)

    await page.route_web_socket(re.compile(r".*/ws/webchat.*"), keep_route)
    await page.reload()
    await expect(page.locator("pasokh-chat .status")).to_be_hidden()  # connected
    # A person joins while the panel is closed (frames as the server would send them).
    agent = {"type": "typing", "who": "agent", "name": "مریم"}
    sockets[-1].send(json.dumps(agent, ensure_ascii=False))
    message = {
        "id": "900",
        "author": "agent",
        "author_name": "مریم",
        "text": "سلام، من مریم هستم. چطور کمکتان کنم؟",
        "created_at": "2026-11-23T10:05:00+00:00",
        "suggestions": [],
        "attachments": [],
    }
    sockets[-1].send(json.dumps({"type": "message", "message": message}, ensure_ascii=False))
    badge = page.locator("pasokh-chat .badge")
    await expect(badge).to_have_text("۱")
    await open_chat(page)
    await expect(badge).to_be_hidden()
    await expect(page.locator("pasokh-chat .sub")).to_have_text("مریم")
    # The widget invents no "joined" note of its own: the server's message says it.
    await expect(page.locator("pasokh-chat .note:not(.greeting)")).to_have_count(0)
    await expect(page.locator("pasokh-chat .msg.agent .meta")).to_contain_text("مریم")
    await expect(page.locator("pasokh-chat .typing")).to_be_hidden()  # the message came

    sockets[-1].send(json.dumps(agent, ensure_ascii=False))
    await expect(page.locator("pasokh-chat .typing")).to_have_text("مریم در حال نوشتن…")
    # Escaped, never rendered as HTML.
    hostile = dict(message, id="901", text='<img src=x onerror="window.pwned=1">')
    sockets[-1].send(json.dumps({"type": "message", "message": hostile}))
    await expect(page.locator("pasokh-chat .msg.agent .bubble").last).to_have_text(hostile["text"])
    assert await page.evaluate("() => window.pwned === undefined")


# A 1x1 PNG, so the browser can really decode what the server sends back.
TINY_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


async def test_an_uploaded_image_is_sent_and_shown(
    browser: Browser, served: tuple[str, AppContext]
) -> None:
    url, context = served
    page = await open_demo(browser, f"{url}/?lang=fa")
    await open_chat(page)
    await page.locator("pasokh-chat input[type=file]").set_input_files(
        files=[{"name": "رسید.png", "mimeType": "image/png", "buffer": TINY_PNG}]
    )
    image = page.locator("pasokh-chat .msg.customer[data-id] img")
    await expect(image).to_have_attribute("alt", "رسید.png")
    # Fetched with the visitor's token (the link alone opens nothing), shown from a blob.
    await expect(image).to_have_attribute("src", re.compile(r"^blob:"))
    assert await image.evaluate("img => img.decode().then(() => img.naturalWidth)") == 1
    async with context.sessions() as session:
        stored = list(
            await session.scalars(select(Message).where(Message.author_kind == "customer"))
        )
    assert [a["filename"] for a in stored[0].attachments] == ["رسید.png"]


async def test_an_agent_joining_is_announced_once(
    browser: Browser, start_app: AppFactory, settings: Settings
) -> None:
    client, context = await start_app(
        settings.replace("webchat", enabled=True).replace("email", enabled=False),
        responder=QueueEveryThread(),
    )
    url = str(client.make_url("/")).rstrip("/")
    page = await open_demo(browser, f"{url}/?lang=en")
    await open_chat(page)
    await ask(page, "I need a person please")
    await expect(page.locator("pasokh-chat .msg.customer[data-id]")).to_have_count(1)
    async with context.sessions() as session:
        thread_id = await session.scalar(select(Thread.id))
    sara = await make_agent(context, "Sara", presence="online")
    status, _ = await api(client, "POST", f"/api/v1/threads/{thread_id}/claim", sara)
    assert status == 200
    status, _ = await api(
        client, "POST", f"/api/v1/threads/{thread_id}/messages", sara, json={"text": "Hello!"}
    )
    assert status == 201
    await expect(page.locator("pasokh-chat .msg.agent .bubble")).to_have_text("Hello!")
    await expect(page.locator("pasokh-chat .sub")).to_have_text("Sara")
    mentions = page.locator("pasokh-chat .messages > li", has_text="Sara")
    # One announcement (the server's, in the visitor's language) and Sara's own message.
    await expect(mentions).to_have_count(2)
    await expect(mentions.first).to_contain_text("Sara from our support team is with you now")
    await page.reload()  # the history tells it the same way
    await expect(page.locator("pasokh-chat .msg.agent .bubble")).to_have_text("Hello!")
    await expect(mentions).to_have_count(2)


async def test_only_the_linking_options_the_server_offers_are_shown(
    browser: Browser, served: tuple[str, AppContext]
) -> None:
    # No Telegram bot and no mail relay on this server: neither button may show.
    url, _ = served
    page = await browser.new_page(viewport={"width": 1100, "height": 800})
    page.on("pageerror", lambda error: pytest.fail(f"page error: {error}"))
    async with page.expect_response(lambda r: r.url.endswith("/identity/options")) as answer:
        await page.goto(f"{url}/?lang=en")
    assert await (await answer.value).json() == {"email": False, "telegram": False}
    await open_chat(page)
    await expect(page.locator("pasokh-chat .idbar button", has_text="Telegram")).to_be_hidden()
    await expect(page.locator("pasokh-chat .idbar button", has_text="email")).to_be_hidden()
