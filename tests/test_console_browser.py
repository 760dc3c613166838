"""The agent console in a real browser: Debian's Chromium driven by Playwright.

The whole server runs on a loopback port (real ingest, database, outbox, the
sample-KB bot and the web chat). A visitor in the widget asks for a person; agents
in other browser contexts see the thread arrive without reloading, claim it, reply,
escalate; customer text that looks like HTML stays text. Screenshots of the console
in fa and en are written to `artifacts/` (gitignored).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Dialog, Page, expect
from sqlalchemy import select

from bot import build_responder
from config.settings import Settings
from router.context import AppContext
from router.core.messages import utcnow
from router.storage.models import Agent, Identity, Message, OutboxItem, Thread, ThreadStatus
from tests.browser_support import ARTIFACTS
from tests.conftest import AppFactory
from tests.console_support import PASSWORD, add_agent, agent_token, integration_token

pytestmark = pytest.mark.browser

XSS_TEXT = '<img src=x onerror="window.__pwned=1;alert(1)"><script>window.__pwned=2</script>'
XSS_NAME = "<b>Bold</b><img src=x onerror=alert(2)>"


class Watched:
    """A page and everything it did that it must not: dialogs and script errors."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    async def _dialog(self, dialog: Dialog) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    async def assert_clean(self) -> None:
        if "/console" in self.page.url:
            assert await self.page.evaluate("() => window.__notReloaded") is True
        assert self.dialogs == [], f"a dialog fired: {self.dialogs}"
        assert self.errors == [], f"script errors: {self.errors}"
        assert await self.page.evaluate("() => window.__pwned") is None


@pytest.fixture
async def server(start_app: AppFactory, settings: Settings) -> tuple[str, AppContext]:
    """The whole server with the web chat and the sample-KB bot: (base URL, context)."""
    client, context = await start_app(
        settings.replace("webchat", enabled=True).replace("email", enabled=False),
        responder=build_responder(faq_path=None),
    )
    return str(client.make_url("/")).rstrip("/"), context


async def new_context(browser: Browser) -> BrowserContext:
    return await browser.new_context(viewport={"width": 1280, "height": 860})


async def sign_in_console(context: BrowserContext, url: str, email: str) -> Watched:
    page = Watched(await context.new_page())
    await page.page.goto(f"{url}/console")
    await page.page.locator("#signin-email").fill(email)
    await page.page.locator("#signin-password").fill(PASSWORD)
    await page.page.locator("#signin-submit").click()
    await expect(page.page.locator("#console")).to_be_visible()
    await expect(page.page.locator("#live")).to_have_attribute("data-state", "on")
    # A mark that a reload would wipe: the tests check that updates came without one.
    await page.page.evaluate("() => { window.__notReloaded = true; }")
    return page


async def type_until_seen(composer: Any, indicator: Any) -> None:
    """Type until the agent sees "typing" (the widget reports it at most every 3 s)."""
    for _ in range(12):
        await composer.press_sequentially("x")
        try:
            await expect(indicator).to_be_visible(timeout=500)
            return
        except AssertionError:
            continue
    await expect(indicator).to_be_visible()


async def agent_reply_delivery(app: AppContext) -> tuple[str, str] | None:
    """(channel, status) of the agent reply's outbox row, once the worker has sent it."""
    found = None
    for _ in range(100):
        async with app.sessions() as session:
            row = await session.scalar(
                select(OutboxItem)
                .join(Message, Message.id == OutboxItem.message_id)
                .where(Message.author_kind == "agent")
            )
        found = (row.channel, row.status) if row is not None else None
        if found is not None and found[1] != "pending":
            break
        await asyncio.sleep(0.05)
    return found


def thread_items(page: Page) -> Any:
    return page.locator("#thread-list .thread-item")


@pytest.mark.end_to_end
async def test_widget_visitor_to_agent_to_tier_two(
    browser: Browser, server: tuple[str, AppContext]
) -> None:
    url, app = server
    await add_agent(app, "sara@example.com", name="Sara", tier=1, language="en")
    await add_agent(app, "reza@example.com", name="رضا", tier=2, language="fa")

    agent_context = await new_context(browser)
    senior_context = await new_context(browser)
    visitor_context = await new_context(browser)
    agent = await sign_in_console(agent_context, url, "sara@example.com")
    senior = await sign_in_console(senior_context, url, "reza@example.com")
    assert await agent.page.evaluate("() => document.documentElement.dir") == "ltr"
    assert await senior.page.evaluate("() => document.documentElement.dir") == "rtl"
    await expect(agent.page.locator("#thread-list-empty")).to_be_visible()

    # The visitor asks for a person in the widget; the bot hands the thread to tier 1.
    visitor = Watched(await visitor_context.new_page())
    await visitor.page.goto(f"{url}/?lang=en")
    await visitor.page.locator("pasokh-chat .launcher").click()
    composer = visitor.page.locator("pasokh-chat textarea")
    await composer.fill("Talk to a person")
    await composer.press("Enter")
    await expect(visitor.page.locator("pasokh-chat .msg.bot .bubble")).to_contain_text(
        "person", timeout=10_000
    )

    # The agent's queue shows it without a reload.
    await expect(thread_items(agent.page)).to_have_count(1, timeout=10_000)
    # The channel's name, in the agent's language.
    await expect(thread_items(agent.page).first).to_contain_text("web chat")
    await thread_items(agent.page).first.click()
    history = agent.page.locator("#history")
    await expect(history.locator(".msg.author-customer .text")).to_have_text("Talk to a person")
    await expect(history.locator(".msg.author-customer .badge.ch-webchat")).to_be_visible()

    await agent.page.locator("#claim").click()
    await expect(agent.page.locator("#thread-meta")).to_contain_text("Sara")
    await expect(agent.page.locator('#audit-list [data-action="claim"]')).to_contain_text("Sara")
    # The visitor is told who is with them.
    await expect(visitor.page.locator("pasokh-chat .msg .bubble").last).to_contain_text(
        "Sara from our support team", timeout=10_000
    )

    await agent.page.locator("#reply-text").fill("Hello, this is Sara. How can I help?")
    await agent.page.locator("#reply-send").click()
    reply = visitor.page.locator("pasokh-chat .msg.agent")
    await expect(reply.locator(".bubble")).to_have_text(
        "Hello, this is Sara. How can I help?", timeout=10_000
    )
    await expect(reply.locator(".meta")).to_contain_text("Sara")
    assert await agent_reply_delivery(app) == ("webchat", "delivered")

    # An internal note stays in the console and never reaches the visitor.
    await agent.page.locator("#reply-text").fill("Customer seems to need a refund")
    await agent.page.locator("#reply-internal").check()
    await agent.page.locator("#reply-send").click()
    await expect(history.locator(".msg.internal .text")).to_have_text(
        "Customer seems to need a refund"
    )

    # The visitor types (the agent sees it), then sends something that looks like HTML:
    # the console shows it as text.
    await type_until_seen(composer, agent.page.locator("#typing"))
    await composer.fill(XSS_TEXT)
    await composer.press("Enter")
    await expect(history.locator(".msg.author-customer .text").last).to_have_text(
        XSS_TEXT, timeout=10_000
    )
    assert await history.locator("img, script:not([src])").count() == 0
    await expect(visitor.page.locator("pasokh-chat .msg.agent")).to_have_count(1)

    ARTIFACTS.mkdir(exist_ok=True)
    await agent.page.screenshot(path=str(ARTIFACTS / "console-en.png"), full_page=True)

    # Escalate to tier 2: it leaves the tier-1 agent and appears for the senior.
    await expect(senior.page.locator("#thread-list-empty")).to_be_visible()
    # Escalation is among the thread's folded "more actions".
    await agent.page.locator("#thread-tools-toggle").click()
    await agent.page.locator("#escalate-tier").select_option("2")
    await agent.page.locator("#escalate-reason").fill("refund over the first-line limit")
    await agent.page.locator("#escalate").click()
    await expect(thread_items(senior.page)).to_have_count(1, timeout=10_000)
    await thread_items(senior.page).first.click()
    senior_history = senior.page.locator("#history")
    await expect(senior_history.locator(".msg.author-customer .text").first).to_have_text(
        "Talk to a person"
    )
    await expect(senior_history.locator(".msg.author-customer .text").last).to_have_text(XSS_TEXT)
    await expect(senior.page.locator('#audit-list [data-action="escalate"]')).to_contain_text(
        "refund over the first-line limit"
    )
    await expect(senior.page.locator("#claim")).to_be_visible()
    await expect(senior.page.locator("#claim")).to_have_text("برداشتن")
    await senior.page.screenshot(path=str(ARTIFACTS / "console-fa.png"), full_page=True)

    for page in (agent, senior, visitor):
        await page.assert_clean()
    for context in (agent_context, senior_context, visitor_context):
        await context.close()


async def seed_email_history(app: AppContext, customer_id: int) -> None:
    """An earlier, resolved email conversation of the same customer (a proven address)."""
    earlier = utcnow() - timedelta(days=30)
    async with app.sessions() as session, session.begin():
        session.add(
            Identity(
                customer_id=customer_id,
                channel="email",
                address="customer@example.org",
                verified=True,
                created_at=earlier,
            )
        )
        thread = Thread(
            customer_id=customer_id,
            status=ThreadStatus.RESOLVED,
            tier=1,
            created_at=earlier,
            updated_at=earlier,
            resolved_at=earlier,
            resolution="resolved",
        )
        session.add(thread)
        await session.flush()
        session.add(
            Message(
                thread_id=thread.id,
                customer_id=customer_id,
                direction="in",
                author_kind="customer",
                channel="email",
                external_id="<seed-1@example.org>",
                text="My parcel is late",
                created_at=earlier,
            )
        )


async def test_admin_console_in_arabic_history_canned_transfer_resolve_and_inert_html(
    browser: Browser, server: tuple[str, AppContext]
) -> None:
    url, app = server
    admin_id = await add_agent(
        app, "admin@example.com", name="Admin", tier=3, admin=True, language="ar"
    )
    await add_agent(app, "nima@example.com", name="Nima", tier=1)
    token = await integration_token(app)
    async with aiohttp.ClientSession() as http:
        admin_token = await agent_token(app, admin_id)
        created = await http.post(
            f"{url}/api/v1/canned",
            json={
                "language": "ar",
                "title": "ترحيب",
                "text": "مرحبًا {customer_name}، أنا {agent_name}.",
            },
            headers={"Authorization": f"Bearer {admin_token}"},
        )
        assert created.status == 201
    context = await new_context(browser)
    admin = await sign_in_console(context, url, "admin@example.com")
    page = admin.page
    assert await page.evaluate("() => document.documentElement.dir") == "rtl"
    await page.locator('.tab[data-view="all"]').click()

    # A customer from an integration, with HTML in their name and message.
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{url}/api/v1/inbound/messages",
            json={
                "id": "m-1",
                "customer": {"external_id": "c-1", "name": XSS_NAME},
                "text": XSS_TEXT,
                # An Arabic-speaking customer: the Arabic canned response is the one
                # offered (a thread's language otherwise follows the bot's reading of
                # the text, here Latin letters: English).
                "language": "ar",
            },
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status == 202
        customer_id = (await response.json())["customer_id"]
    await seed_email_history(app, customer_id)

    item = thread_items(page).first
    await expect(item.locator(".name")).to_have_text(XSS_NAME, timeout=10_000)
    await item.click()
    await expect(page.locator("#customer-name")).to_have_text(XSS_NAME)
    history = page.locator("#history")
    # The whole history, oldest first, each message with its channel's badge.
    await expect(history.locator(".separator")).to_have_count(2)
    await expect(history.locator(".msg .text").first).to_have_text("My parcel is late")
    await expect(history.locator(".msg").first.locator(".badge.ch-email")).to_be_visible()
    await expect(history.locator(".msg.author-customer .text").last).to_have_text(XSS_TEXT)
    await expect(history.locator(".msg.author-customer").last.locator(".ch-api")).to_be_visible()
    identities = page.locator("#identities li")
    await expect(identities).to_have_count(2)
    await expect(identities.filter(has=page.locator(".ch-email"))).to_contain_text("✓")

    # A canned response, filled in by the server for this customer and agent.
    await page.locator("#canned").select_option(label="ترحيب")
    await expect(page.locator("#reply-text")).to_have_value(f"مرحبًا {XSS_NAME}، أنا Admin.")
    await page.locator("#reply-send").click()
    await expect(history.locator(".msg.author-agent .text")).to_have_text(
        f"مرحبًا {XSS_NAME}، أنا Admin."
    )

    await page.locator("#thread-tools-toggle").click()
    await page.locator("#transfer-agent").fill("nima@example.com")
    await page.locator("#transfer").click()
    await expect(page.locator("#thread-meta")).to_contain_text("Nima")
    await expect(page.locator('#audit-list [data-action="transfer"]')).to_contain_text(
        "nima@example.com"
    )
    await page.locator("#resolve").click()
    await expect(page.locator("#thread-meta .status-resolved")).to_be_visible()
    await expect(page.locator('#audit-list [data-action="resolve"]')).to_be_visible()

    await page.locator("#presence-select").select_option("away")
    for _ in range(100):
        async with app.sessions() as session:
            presence = (await session.get(Agent, admin_id)).presence  # type: ignore[union-attr]
        if presence == "away":
            break
        await asyncio.sleep(0.05)
    assert presence == "away"

    assert await page.locator("#console img, #console b, #console script:not([src])").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "console-ar.png"), full_page=True)
    await admin.assert_clean()
    await context.close()
