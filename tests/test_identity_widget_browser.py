"""The widget's identity steps in a real browser (Debian's Chromium via Playwright):
link an email by the mailed code, and open the chat from a mail's continue link."""

from __future__ import annotations

from collections.abc import AsyncIterator
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from channels.webchat.tokens import user_hash
from config.settings import Settings
from router.storage.models import Identity
from tests.browser_support import running_chromium
from tests.email_support import SUPPORT, FakeRelay, make_mail
from tests.identity_support import IdentityApp, code_in, continue_token_in, start_identity_app

pytestmark = pytest.mark.browser

SARA = "sara@example.ir"
EARLIER = "Order 1234 never arrived"


@pytest.fixture
async def app(settings: Settings, start_app: Any, relay: FakeRelay) -> IdentityApp:
    app = await start_identity_app(start_app, settings, relay)
    await app.mail(make_mail(sender=f"Sara <{SARA}>", body=EARLIER), mail_from=SARA)
    await app.relayed(1)
    return app


@pytest.fixture
async def browser(app: IdentityApp) -> AsyncIterator[Browser]:
    async with running_chromium() as chromium:
        yield chromium


async def new_page(browser: Browser, url: str) -> Page:
    page = await browser.new_page(viewport={"width": 1100, "height": 800})
    page.on("pageerror", lambda error: pytest.fail(f"page error: {error}"))
    await page.goto(url)
    return page


def base_url(app: IdentityApp) -> str:
    return str(app.client.make_url("/")).rstrip("/")


async def test_link_an_email_in_the_widget(app: IdentityApp, browser: Browser) -> None:
    page = await new_page(browser, f"{base_url(app)}/?lang=en")
    await page.locator("pasokh-chat .launcher").click()
    composer = page.locator("pasokh-chat textarea")
    await composer.fill("Where is my parcel?")
    await composer.press("Enter")
    await expect(page.locator("pasokh-chat .msg.bot .bubble")).to_contain_text("received:")
    await expect(page.locator("pasokh-chat .messages")).not_to_contain_text(EARLIER)

    await page.locator("pasokh-chat .idlink", has_text="Link my email").click()
    field = page.locator("pasokh-chat .idform input")
    await field.fill(SARA)
    await page.locator("pasokh-chat .idform button").click()
    await expect(page.locator("pasokh-chat .idnote")).to_contain_text("six-digit code")
    code = code_in(await app.relayed(2))
    await field.fill("000000" if code != "000000" else "111111")
    await page.locator("pasokh-chat .idform button").click()
    await expect(page.locator("pasokh-chat .idnote")).to_contain_text("4 tries left")
    await expect(page.locator("pasokh-chat .messages")).not_to_contain_text(EARLIER)
    await field.fill(code)
    await page.locator("pasokh-chat .idform button").click()
    await expect(page.locator("pasokh-chat .idnote")).to_contain_text("verified")
    # The earlier mail conversation is now part of the visitor's own history.
    await expect(page.locator("pasokh-chat .messages")).to_contain_text(EARLIER, timeout=10_000)
    await page.close()


async def test_continue_link_opens_the_chat_on_that_conversation(
    app: IdentityApp, browser: Browser
) -> None:
    token = continue_token_in(await app.relayed(1))
    page = await new_page(browser, f"{base_url(app)}/continue?lang=en&token={token}")
    await expect(page.locator("pasokh-chat .panel")).to_be_visible()
    # Loading the page (as a mail scanner would) says what would be joined, joins nothing.
    await expect(page.locator("body > .continue-note")).to_contain_text(SARA)
    await expect(page.locator("pasokh-chat .idnote")).to_contain_text(SARA)
    await expect(page.locator("pasokh-chat .status")).to_be_hidden()  # chat connected
    await page.locator("pasokh-chat textarea").fill("hello from the continue page")
    await page.locator("pasokh-chat textarea").press("Enter")
    await expect(page.locator("pasokh-chat .msg.bot .bubble")).to_contain_text("received:")
    await expect(page.locator("pasokh-chat .messages")).not_to_contain_text(EARLIER)
    assert await app.customer_of("email", SARA) not in await _webchat_customers(app)

    # The click spends the token and joins the mail conversation.
    await page.locator("pasokh-chat .idconfirm", has_text="Continue here").click()
    await expect(page.locator("pasokh-chat .idnote")).to_contain_text("verified")
    await expect(page.locator("pasokh-chat .messages")).to_contain_text(EARLIER, timeout=10_000)
    assert await app.customer_of("email", SARA) in await _webchat_customers(app)
    await page.close()

    # The same link in another browser: refused, nothing shown.
    context = await browser.new_context()
    other = await context.new_page()
    await other.goto(f"{base_url(app)}/continue?lang=en&token={token}")
    await expect(other.locator("body > .continue-note")).to_contain_text("not valid")
    await expect(other.locator("pasokh-chat .panel")).to_be_visible()
    await expect(other.locator("pasokh-chat .idconfirm")).to_have_count(0)
    await expect(other.locator("pasokh-chat .messages")).not_to_contain_text(EARLIER)
    await context.close()


async def test_mailed_messages_show_their_files_in_the_chat_but_not_the_mails_raw_copy(
    app: IdentityApp, browser: Browser
) -> None:
    with_file = EmailMessage()
    with_file["From"], with_file["To"] = f"Sara <{SARA}>", SUPPORT
    with_file["Subject"], with_file["Message-ID"] = "فاکتور", "<second-1@example.ir>"
    with_file.set_content("فاکتور پیوست است")
    with_file.add_attachment(b"%PDF-1.4\n%%EOF\n", "application", "pdf", filename="فاکتور.pdf")
    await app.mail(with_file.as_bytes(policy=policy.SMTP), mail_from=SARA)
    token = continue_token_in(await app.relayed(1))
    page = await new_page(browser, f"{base_url(app)}/continue?lang=fa&token={token}")
    await page.locator("pasokh-chat .idconfirm").click()
    messages = page.locator("pasokh-chat .messages")
    await expect(messages).to_contain_text("فاکتور پیوست است", timeout=10_000)
    await expect(messages).to_contain_text(EARLIER)
    # The file Sara attached is hers to see; the copy of each whole mail the email
    # channel keeps for agents is not a file she sent.
    files = page.locator("pasokh-chat .msg.customer .bubble a")
    await expect(files).to_have_text(["📄 فاکتور.pdf"])
    await expect(messages).not_to_contain_text("message.eml")
    await page.close()


async def _webchat_customers(app: IdentityApp) -> set[int]:
    async with app.context.sessions() as session:
        rows = await session.scalars(
            select(Identity.customer_id).where(Identity.channel == "webchat")
        )
        return set(rows)


SHOP_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>shop</title></head>
<body><p>Shop</p><script src="{server}/widget.js" data-lang="en" {user}></script></body></html>
"""


async def test_signing_in_on_the_site_links_the_anonymous_chat(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    app = await start_identity_app(
        start_app, settings, relay, webchat={"user_hash_secret": "site-secret"}
    )
    server = base_url(app)

    async def shop(request: web.Request) -> web.Response:
        user = request.query.get("user")
        attrs = (
            f'data-user-id="{user}" data-user-hash="{user_hash("site-secret", user)}"'
            if user
            else ""
        )
        page = SHOP_PAGE.replace("{server}", server).replace("{user}", attrs)
        return web.Response(text=page, content_type="text/html")

    host_app = web.Application()
    host_app.router.add_get("/", shop)
    async with TestServer(host_app, host="127.0.0.1") as host, running_chromium() as chromium:
        page = await chromium.new_page()
        await page.goto(str(host.make_url("/")))
        await page.locator("pasokh-chat .launcher").click()
        composer = page.locator("pasokh-chat textarea")
        await composer.fill("asked before signing in")
        await composer.press("Enter")
        await expect(page.locator("pasokh-chat .msg.bot .bubble")).to_contain_text("received:")

        await page.goto(str(host.make_url("/?user=u42")))
        await page.locator("pasokh-chat .launcher").click()
        await expect(page.locator("pasokh-chat .messages")).to_contain_text(
            "asked before signing in", timeout=10_000
        )
        await say_and_wait(page, "written signed in")
        # Nothing of the anonymous chat stays in this browser once it is the user's...
        assert [key for key in await storage_keys(page) if ":anon:" in key] == []

        # ...so after the site's sign-out the next person at this computer starts afresh.
        await page.goto(str(host.make_url("/")))
        await page.locator("pasokh-chat .launcher").click()
        await say_and_wait(page, "the next person")
        await expect(page.locator("pasokh-chat .messages")).not_to_contain_text("signed in")

        # The site's sign-out on a page that stays (PasokhChat.reset(), or its
        # data-user-id taken away): the user's chat goes from the page and the browser.
        for sign_out in (
            "PasokhChat.reset()",
            "document.querySelector('script[data-user-id]').removeAttribute('data-user-id')",
        ):
            await page.goto(str(host.make_url("/?user=u42")))
            await page.evaluate("PasokhChat.open()")
            await expect(page.locator("pasokh-chat .messages")).to_contain_text(
                "written signed in", timeout=10_000
            )
            await page.evaluate(sign_out)
            await say_and_wait(page, "after signing out")
            await expect(page.locator("pasokh-chat .messages")).not_to_contain_text("signed in")
            assert [key for key in await storage_keys(page) if ":u:" in key] == []
    assert await app.customer_of("webchat", "user:u42") == await app.customer_of("site", "u42")


async def say_and_wait(page: Page, text: str) -> None:
    """Send `text` and wait for it to be stored (the socket sent the history before)."""
    composer = page.locator("pasokh-chat textarea")
    await composer.fill(text)
    await composer.press("Enter")
    stored = page.locator("pasokh-chat .msg.customer[data-id]:not([data-client])", has_text=text)
    await expect(stored).to_have_count(1, timeout=10_000)


async def storage_keys(page: Page) -> list[str]:
    keys: list[str] = await page.evaluate("() => Object.keys(localStorage)")
    return keys


async def test_without_a_mail_relay_the_widget_stops_offering_email_links(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    app = await start_identity_app(start_app, settings, relay, email={"relay_host": ""})
    async with running_chromium() as chromium:
        page = await chromium.new_page(viewport={"width": 1100, "height": 800})
        async with page.expect_response(lambda r: r.url.endswith("/identity/options")) as asked:
            await page.goto(f"{base_url(app)}/?lang=en")
        assert await (await asked.value).json() == {"email": False, "telegram": False}
        await page.locator("pasokh-chat .launcher").click()
        await expect(page.locator("pasokh-chat .idlink", has_text="Link my email")).to_be_hidden()
        await expect(page.locator("pasokh-chat .idform")).to_be_hidden()
    assert relay.received == []
