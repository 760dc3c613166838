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
from contextlib import asynccontextmanager
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


@pytest.mark.end_to_end
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


@asynccontextmanager
async def host_pages(pages: dict[str, tuple[str, dict[str, str]]]) -> AsyncIterator[str]:
    """A customer's site on another loopback port: path -> (HTML, response headers)."""

    async def page(request: web.Request) -> web.Response:
        html, headers = pages[request.path]
        return web.Response(text=html, content_type="text/html", headers=headers)

    app = web.Application()
    for path in pages:
        app.router.add_get(path, page)
    async with TestServer(app, host="127.0.0.1") as site:
        yield str(site.make_url("")).rstrip("/")


def shop_page(server: str, head: str = "", attrs: str = 'data-lang="en"') -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>shop</title>{head}'
        f"</head><body><main>Shop</main>"
        f'<script src="{server}/widget.js" {attrs}></script></body></html>'
    )


def contrast(first: str, second: str) -> float:
    """WCAG contrast of two computed colours (`rgb(r, g, b)`)."""

    def luminance(css: str) -> float:
        channels = [int(v) / 255 for v in re.findall(r"\d+", css)[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    lighter, darker = sorted((luminance(first), luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


async def in_widget(page: Page, script: str) -> Any:
    """Evaluate `script`, a function of the widget's shadow root."""
    return await page.evaluate(
        f"() => ({script})(document.querySelector('pasokh-chat').shadowRoot)"
    )


async def test_a_body_with_a_transform_does_not_carry_the_launcher_off_screen(
    browser: Browser, server_url: str
) -> None:
    # Page-transition libraries and GPU-layer hacks put these on <body>; each makes it the
    # containing block of position:fixed descendants.
    style = (
        "<style>body{transform:translateZ(0);filter:opacity(1);will-change:transform;"
        "contain:paint;margin:0}main{height:3000px}</style>"
    )
    async with host_pages({"/": (shop_page(server_url, style), {})}) as site:
        page = await browser.new_page(viewport={"width": 1100, "height": 800})
        await page.goto(site + "/")
        launcher = page.locator("pasokh-chat .launcher")
        box = await launcher.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 800, box
        await launcher.click()
        panel = await page.locator("pasokh-chat .panel").bounding_box()
        assert panel is not None and panel["y"] >= 0 and panel["y"] + panel["height"] <= 800
        assert await page.evaluate("() => scrollY") == 0


async def test_trusted_types_and_a_bad_colour_do_not_stop_the_widget(
    browser: Browser, server_url: str
) -> None:
    # A strict site's CSP (docs/widget.md) including Trusted Types; and two colours: one
    # that is no colour at all, one so light that white text on it cannot be read.
    origin = server_url.replace("http://", "")
    csp = (
        f"default-src 'self'; script-src {server_url}; connect-src {server_url} ws://{origin}; "
        "img-src blob:; require-trusted-types-for 'script'"
    )
    pages = {
        "/strict": (shop_page(server_url), {"Content-Security-Policy": csp}),
        "/broken": (shop_page(server_url, attrs='data-lang="en" data-color="#12345"'), {}),
        "/yellow": (shop_page(server_url, attrs='data-lang="en" data-color="#fde047"'), {}),
    }
    async with host_pages(pages) as site:
        page = await browser.new_page(viewport={"width": 1100, "height": 800})
        refused: list[str] = []
        page.on("console", lambda m: refused.append(m.text) if m.type == "error" else None)
        await page.goto(site + "/strict")
        await open_chat(page)
        await ask(page, "How long does delivery take?")
        await expect(page.locator("pasokh-chat .msg.bot .bubble")).to_contain_text(
            "business days", timeout=10_000
        )
        assert await page.locator("pasokh-chat .launcher svg path").count() == 1
        assert not [text for text in refused if "TrustedHTML" in text], refused

        warnings: list[str] = []
        page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
        await page.goto(site + "/broken")
        launcher = page.locator("pasokh-chat .launcher")
        await expect(launcher).to_have_css("background-color", "rgb(15, 118, 110)")
        assert any("data-color" in text for text in warnings), warnings

        await page.goto(site + "/yellow")
        await expect(launcher).to_have_css("background-color", "rgb(253, 224, 71)")
        text_colour = await launcher.evaluate("b => getComputedStyle(b).color")
        assert contrast(text_colour, "rgb(253, 224, 71)") >= 4.5, text_colour


async def test_links_and_names_inside_persian_text_read_whole(
    browser: Browser, server_url: str
) -> None:
    page = await open_demo(browser, f"{server_url}/?lang=fa")
    sockets: list[WebSocketRoute] = []

    async def keep_route(route: WebSocketRoute) -> None:
        route.connect_to_server()
        sockets.append(route)

    await page.route_web_socket(re.compile(r".*/ws/webchat.*"), keep_route)
    await page.reload()
    await open_chat(page)
    composer = page.locator("pasokh-chat textarea")
    # An empty Persian composer is right-to-left (placeholder and caret at the right).
    await expect(composer).to_have_css("direction", "rtl")
    await composer.fill("hello")
    await expect(composer).to_have_css("direction", "ltr")
    await composer.fill("")
    await expect(composer).to_have_css("direction", "rtl")

    await ask(
        page,
        "لینک پیگیری: https://example.com/track/42/ را باز کنید (https://example.com/b) "
        "و https://example.com/c، و https://en.wikipedia.org/wiki/Foo_(bar).",
    )
    links = page.locator("pasokh-chat .msg.customer .bubble a")
    await expect(links).to_have_count(4)
    assert await links.evaluate_all("as => as.map(a => a.getAttribute('href'))") == [
        "https://example.com/track/42/",
        "https://example.com/b",
        "https://example.com/c",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
    ]
    # Drawn left to right as one piece: its "h" is left of its final "/".
    first, last = await links.first.evaluate(
        """a => { const t = a.firstChild, at = i => { const r = document.createRange();
                    r.setStart(t, i); r.setEnd(t, i + 1); return r.getBoundingClientRect().x; };
                  return [at(0), at(t.length - 1)]; }"""
    )
    assert first < last, (first, last)

    # "Sam joined" in Persian: a Latin name first does not turn the line left-to-right.
    joined = {
        "id": "900",
        "author": "bot",
        "author_name": "Sam",
        "text": "Sam از تیم پشتیبانی اکنون همراه شماست.",
        "created_at": "2026-11-23T10:05:00+00:00",
        "suggestions": [],
        "attachments": [],
    }
    sockets[-1].send(json.dumps({"type": "message", "message": joined}, ensure_ascii=False))
    bubble = page.locator("pasokh-chat .msg.bot .bubble", has_text="همراه شماست")
    await expect(bubble).to_have_css("direction", "rtl")


async def test_the_log_announces_each_message_once_and_a_phone_panel_keeps_focus(
    browser: Browser, server_url: str
) -> None:
    page = await browser.new_page(viewport={"width": 400, "height": 740})
    await page.goto(f"{server_url}/?lang=en")
    await open_chat(page)
    # The live log wraps a plain list (role=log on an <ol> hid its list semantics).
    assert await in_widget(
        page,
        "r => [r.querySelector('[role=log]').tagName, r.querySelector('ol').getAttribute('role')]",
    ) == ["DIV", None]
    await in_widget(
        page,
        """r => { window.added = [];
                 new MutationObserver(rs => rs.forEach(m => m.addedNodes.forEach(n =>
                     n.nodeType === 1 && window.added.push(n.textContent))))
                   .observe(r.querySelector('[role=log]'), {childList: true, subtree: true}); }""",
    )
    await ask(page, "Where is my order?")
    await expect(page.locator("pasokh-chat .msg.bot .bubble")).to_contain_text(
        "My orders", timeout=10_000
    )
    await expect(page.locator("pasokh-chat .msg.customer:not([data-client])")).to_have_count(1)
    added = await page.evaluate("() => window.added")
    assert len([text for text in added if "Where is my order?" in text]) == 1, added

    # A focus ring that stands out (3:1) on the white panel.
    await page.locator("pasokh-chat textarea").focus()
    ring = await page.locator("pasokh-chat textarea").evaluate(
        "t => getComputedStyle(t).outlineColor"
    )
    assert contrast(ring, "rgb(255, 255, 255)") >= 3, ring

    # Full screen on a phone: modal, and Tab never leaves the panel for the page behind.
    await expect(page.locator("pasokh-chat .panel")).to_have_attribute("aria-modal", "true")
    for _ in range(14):
        await page.keyboard.press("Tab")
        assert await in_widget(
            page, "r => !!r.activeElement && r.querySelector('.panel').contains(r.activeElement)"
        ), await page.evaluate("() => document.activeElement.outerHTML.slice(0, 80)")
    await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Shift+Tab")
    assert await in_widget(page, "r => r.querySelector('.panel').contains(r.activeElement)")


async def test_two_tabs_offline_lose_nothing_and_send_nothing_twice(
    browser: Browser, served: tuple[str, AppContext]
) -> None:
    url, context = served
    tabs = await browser.new_context(viewport={"width": 1100, "height": 800})
    offline = {"on": False}
    routes: list[WebSocketRoute] = []

    async def network(route: WebSocketRoute) -> None:
        # Offline: the visitor's messages never reach the server.
        server = route.connect_to_server()
        routes.append(route)

        def page_to_server(message: str | bytes) -> None:
            if not (offline["on"] and '"type":"message"' in str(message)):
                server.send(message)

        route.on_message(page_to_server)

    await tabs.route_web_socket(re.compile(r".*/ws/webchat.*"), network)
    first = await tabs.new_page()
    await first.goto(f"{url}/?lang=en")
    await open_chat(first)
    await ask(first, "first-online")
    await expect(first.locator("pasokh-chat .msg.customer[data-id]")).to_have_count(1)
    second = await tabs.new_page()
    await second.goto(f"{url}/?lang=en")
    await expect(second.locator("pasokh-chat .panel")).to_be_visible()  # open in every tab
    await expect(second.locator("pasokh-chat .msg.customer")).to_have_count(1)

    offline["on"] = True
    await ask(first, "offline-A1")
    await ask(first, "offline-A2")
    await ask(second, "offline-B1")
    # Each tab shows what the other typed as waiting too.
    await expect(second.locator("pasokh-chat .msg.customer[data-client]")).to_have_count(3)
    await expect(first.locator("pasokh-chat .msg.customer[data-client]")).to_have_count(3)
    await first.close()  # gone before it could send its messages

    offline["on"] = False
    for route in routes:
        await route.close(code=4000, reason="network back")
    await expect(second.locator("pasokh-chat .msg.customer[data-id]")).to_have_count(
        4, timeout=15_000
    )
    await expect(second.locator("pasokh-chat .msg.customer")).to_have_count(4)
    assert "offline-" not in await second.evaluate("() => JSON.stringify(localStorage)")
    async with context.sessions() as session:
        texts = list(
            await session.scalars(select(Message.text).where(Message.author_kind == "customer"))
        )
    assert sorted(texts) == ["first-online", "offline-A1", "offline-A2", "offline-B1"]
    await tabs.close()


async def test_a_silent_connection_is_given_up_and_the_message_sent_once(
    browser: Browser, served: tuple[str, AppContext]
) -> None:
    # A half-open connection: the socket stays "open" but nothing gets through either way
    # (a Wi-Fi change, a NAT that forgot the flow); the browser fires no close for minutes.
    url, context = served
    page = await open_demo(browser, f"{url}/?lang=en")
    frozen: set[int] = set()
    routes: list[WebSocketRoute] = []

    async def network(route: WebSocketRoute) -> None:
        server = route.connect_to_server()
        number = len(routes)
        routes.append(route)
        route.on_message(lambda m: None if number in frozen else server.send(m))
        server.on_message(lambda m: None if number in frozen else route.send(m))

    await page.route_web_socket(re.compile(r".*/ws/webchat.*"), network)
    await page.reload()
    await open_chat(page)
    await expect(page.locator("pasokh-chat .status")).to_be_hidden()
    # The status shows "connection lost" until the next attempt says "connecting": kept.
    await in_widget(
        page,
        """r => { const s = r.querySelector('.status'); window.said = [];
                 new MutationObserver(() => window.said.push(s.textContent))
                   .observe(s, {childList: true, characterData: true, subtree: true}); }""",
    )
    frozen.add(len(routes) - 1)
    await ask(page, "are you there?")
    await expect(page.locator("pasokh-chat .msg.customer[data-id]")).to_have_count(
        1, timeout=30_000
    )
    await expect(page.locator("pasokh-chat .status")).to_be_hidden()
    assert "Connection lost; reconnecting…" in await page.evaluate("() => window.said")
    async with context.sessions() as session:
        texts = list(
            await session.scalars(select(Message.text).where(Message.author_kind == "customer"))
        )
    assert texts == ["are you there?"]
