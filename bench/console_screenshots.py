"""Screenshots of the agent console's pages for `docs/console.md`, in fa and en.

One command: `python bench/console_screenshots.py` (option `--out DIR`, default
`docs/screenshots/`). It starts the whole server in this process (SQLite in a temporary
data dir, every new thread queued), seeds an admin, agents, canned responses, tags, a
long email thread and a dead letter, then drives Debian's Chromium (Playwright) and
writes one PNG per page and language: the thread view (1200×760 and a 375×812 phone),
agents, canned responses, tags, channels, customers (list and a profile), search
results, service hours and outreach.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The repository, not bench/ (whose telegram.py would shadow python-telegram-bot).
sys.path[0] = str(ROOT)

from aiohttp import web
from playwright.async_api import Page, expect

from config.settings import load_settings
from router.agents.admin import NewAgent, add_agent
from router.agents.canned import add_canned
from router.agents.queue import Actor
from router.agents.tags import add_tag
from router.app import build_app
from router.context import AppContext
from router.core.messages import utcnow
from router.core.responder import QueueEveryThread
from router.http.keys import CONTEXT
from router.storage.models import KnowledgeGapRecord, OutboxItem, ThreadStatus
from tests.browser_support import running_chromium
from tests.console_support import seed_thread
from tests.support import free_port

PASSWORD = "screenshot password"
DESKTOP = {"width": 1200, "height": 760}
PHONE = {"width": 375, "height": 812}
CUSTOMERS = (
    ("علی کریمی", "webchat", "visitor-ali"),
    ("Reza Ahmadi", "telegram", "123456789"),
    ("مریم رضایی", "email", "maryam.rezaei@example.org"),
)
GAP_QUESTIONS = (
    ("با ارز دیجیتال هم می‌شود حساب کرد؟", "fa"),
    ("پرداخت با ارز دیجیتال دارید؟", "fa"),
    ("هل تقبلون الدفع بالعملات الرقمية؟", "ar"),
    ("Can I pay with crypto?", "en"),
    ("Do you ship to Herat?", "en"),
)
TEXTS = {
    "fa": ["سلام، سفارش ۱۲۳۴ من هنوز نرسیده.", "سلام مریم جان، بررسی می‌کنم.", "ممنون، منتظرم."],
    "en": ["Hello, my order 1234 has not arrived.", "Hi Maryam, let me check.", "Thanks!"],
}


async def seed(app: AppContext) -> Actor:
    boss = await add_agent(
        app, Actor(0, "setup", 3, True), NewAgent("admin@example.com", "Admin", 3, True, PASSWORD)
    )
    actor = Actor(boss.agent.id, "Admin", 3, True)
    await add_agent(app, actor, NewAgent("sara@example.com", "سارا", 1, False, PASSWORD))
    await add_agent(app, actor, NewAgent("nima@example.com", "Nima", 2, False))
    welcome = "سلام {customer_name}، من {agent_name} هستم."
    await add_canned(app, actor, language="fa", title="خوشامد", text=welcome)
    await add_canned(
        app, actor, language="en", title="Welcome", text="Hi {customer_name}, {agent_name} here."
    )
    for name in ("VIP", "بازپرداخت", "shipping"):
        await add_tag(app, actor, name)
    start = utcnow() - timedelta(hours=3)
    texts = [TEXTS["fa" if n < 7 else "en"][n % 3] for n in range(14)]
    thread = await seed_thread(
        app,
        channel="email",
        address="maryam@example.org",
        texts=texts,
        start=start,
        subject="Order 1234",
        spacing=timedelta(minutes=5),
    )
    async with app.sessions() as session, session.begin():
        session.add(
            OutboxItem(
                message_id=thread.last_message_id,
                thread_id=thread.thread_id,
                channel="email",
                address="maryam@example.org",
                status="dead",
                attempts=8,
                last_error="550 5.1.1 mailbox unavailable",
            )
        )
    # Questions the bot could not answer, for the Gaps page.
    async with app.sessions() as session, session.begin():
        for text, language in GAP_QUESTIONS:
            session.add(KnowledgeGapRecord(text=text, language=language, created_at=start))
    # Customers with names in both scripts on other channels, for the Customers page.
    for name, channel, address in CUSTOMERS:
        await seed_thread(
            app,
            channel=channel,
            address=address,
            texts=[TEXTS["fa"][0] if channel == "webchat" else TEXTS["en"][0]],
            start=start,
            status=ThreadStatus.RESOLVED,
            customer_name=name,
        )
    return actor


async def shoot(page: Page, path: Path) -> None:
    await page.wait_for_timeout(200)  # the last repaint after the data arrived
    await page.screenshot(path=str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


async def run(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={}, data_dir=Path(tmp))
        settings = settings.replace("database", url=f"sqlite+aiosqlite:///{tmp}/pasokh.db")
        settings = settings.replace("email", enabled=False).replace("webchat", enabled=False)
        app = build_app(settings, responder=QueueEveryThread())
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        url = f"http://127.0.0.1:{port}"
        try:
            await seed(app[CONTEXT])
            async with running_chromium() as browser:
                for lang in ("fa", "en"):
                    for viewport, suffix in ((DESKTOP, ""), (PHONE, "-phone")):
                        context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
                        await context.add_init_script(
                            f"localStorage.setItem('pasokh.console.lang', '{lang}')"
                        )
                        page = await context.new_page()
                        await page.goto(f"{url}/console")
                        await page.locator("#signin-email").fill("admin@example.com")
                        await page.locator("#signin-password").fill(PASSWORD)
                        await page.locator("#signin-submit").click()
                        await expect(page.locator("#live")).to_have_attribute("data-state", "on")
                        await page.locator(".thread-item").first.click()
                        await expect(page.locator("#history .msg")).to_have_count(14)
                        await shoot(page, out / f"console-thread-{lang}{suffix}.png")
                        if suffix:
                            await context.close()
                            continue
                        for name in ("agents", "canned", "tags", "channels"):
                            await page.locator(f'.page-tab[data-page="{name}"]').click()
                            card = page.locator("#admin-page .admin-card").first
                            await expect(card).to_be_visible()
                            await shoot(page, out / f"console-{name}-{lang}.png")
                        await shoot_desk_pages(page, out, lang)
                        await context.close()
        finally:
            await runner.cleanup()


async def shoot_desk_pages(page: Page, out: Path, lang: str) -> None:
    """Customers (list, a profile), search results, service hours and outreach."""
    await page.locator('.page-tab[data-page="customers"]').click()
    await expect(page.locator("#customer-list .customer-item")).to_have_count(4)
    await shoot(page, out / f"console-customers-{lang}.png")
    await page.locator("#customer-list .customer-item", has_text="علی").locator("button").click()
    await expect(page.locator("#customer-profile h2")).to_have_text("علی کریمی")
    await shoot(page, out / f"console-customer-profile-{lang}.png")
    # Arabic letters find the Persian spelling, as the FAQ's normalisation does.
    await page.locator("#search-input").fill("علي" if lang == "fa" else "order")
    await page.locator("#search-form button[type=submit]").click()
    await expect(page.locator("#search-results li").first).to_be_visible()
    await shoot(page, out / f"console-search-{lang}.png")
    await page.locator('.page-tab[data-page="service"]').click()
    await expect(page.locator("#service-admin")).to_be_visible()
    await shoot(page, out / f"console-service-{lang}.png")
    await page.locator('.page-tab[data-page="outreach"]').click()
    await expect(page.locator("#outreach")).to_be_visible()
    await shoot(page, out / f"console-outreach-{lang}.png")
    await page.locator('.page-tab[data-page="knowledge"]').click()
    await expect(page.locator("#kb-list tbody tr").first).to_be_visible()
    await shoot(page, out / f"console-knowledge-{lang}.png")
    await page.locator("#kb-list tbody tr button").first.click()
    await expect(page.locator("#kb-editor")).to_be_visible()
    await shoot(page, out / f"console-knowledge-entry-{lang}.png")
    await page.locator('.page-tab[data-page="gaps"]').click()
    await expect(page.locator(".gap-topic").first).to_be_visible()
    await shoot(page, out / f"console-gaps-{lang}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    asyncio.run(run(out))


if __name__ == "__main__":
    main()
