"""The Customers page in the console's pane layout, and the queue list following `next`,
in Debian's Chromium (Playwright), in fa and en, at 1400×900 and on a 375×812 phone.

The whole server runs on loopback (real database, console socket, integration API); a
queue-everything responder makes every new customer thread wait for an agent.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
import pytest
from playwright.async_api import Browser, Page, Route, expect

from config.settings import Settings
from router.context import AppContext
from router.core.messages import utcnow
from router.core.responder import QueueEveryThread
from router.storage.models import Customer, CustomerNote, Identity, Thread, ThreadStatus
from tests.browser_support import sign_in_to_console
from tests.conftest import AppFactory
from tests.console_support import add_agent, integration_token

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 375, "height": 812}
QUEUE_PAGE = 50  # rows the console asks for per page of the queue
NAMES = ["مریم احمدی", "رضا کریمی", "زهرا حسینی", "علی موسوی", "سارا تهرانی"]


@pytest.fixture
async def server(start_app: AppFactory, settings: Settings) -> tuple[str, AppContext]:
    client, context = await start_app(
        settings.replace("webchat", enabled=False).replace("email", enabled=False),
        responder=QueueEveryThread(),
    )
    return str(client.make_url("/")).rstrip("/"), context


async def queued_customers(app: AppContext, names: list[str | None]) -> list[tuple[int, int]]:
    """One customer per name (None: nothing known about them), each with a thread
    waiting at tier 1, the first oldest; (customer id, thread id) pairs."""
    start = utcnow() - timedelta(hours=5)
    made: list[tuple[int, int]] = []
    async with app.sessions() as session, session.begin():
        for n, name in enumerate(names):
            customer = Customer(name=name)
            session.add(customer)
            await session.flush()
            identity = None
            if name is not None:
                identity = Identity(
                    customer_id=customer.id, channel="api", address=f"c-{n}", verified=True
                )
                session.add(identity)
                await session.flush()
            at = start + timedelta(minutes=n)
            thread = Thread(
                customer_id=customer.id,
                status=ThreadStatus.QUEUED,
                tier=1,
                last_channel="api",
                last_identity_id=identity.id if identity else None,
                created_at=at,
                updated_at=at,
                queued_at=at,
            )
            session.add(thread)
            await session.flush()
            made.append((customer.id, thread.id))
    return made


def fa_digits(number: int) -> str:
    return "".join("۰۱۲۳۴۵۶۷۸۹"[int(d)] for d in str(number))


async def signed_in(browser: Browser, url: str, viewport: dict[str, int]) -> Page:
    context = await browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    await sign_in_to_console(page, url, "sara@example.com")
    await expect(page.locator("#live")).to_have_attribute("data-state", "on")
    return page


async def window_fits(page: Page) -> None:
    """The window scrolls neither way: the panes scroll, each on its own."""
    fits = await page.evaluate(
        "() => [window.scrollX, window.scrollY,"
        " document.scrollingElement.scrollWidth - window.innerWidth,"
        " document.scrollingElement.scrollHeight - window.innerHeight]"
    )
    assert fits[0] == 0 and fits[1] == 0 and fits[2] <= 1 and fits[3] <= 1, fits


async def scrolls_alone(page: Page, selector: str) -> None:
    """`selector` overflows and scrolls by itself, leaving the window where it was."""
    moved = await page.locator(selector).evaluate(
        "p => { const before = p.scrollHeight > p.clientHeight;"
        " p.scrollTop = p.scrollHeight; return [before, p.scrollTop > 0]; }"
    )
    assert moved == [True, True], (selector, moved)
    await window_fits(page)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1400x900", "375x812"])
@pytest.mark.parametrize("lang", ["fa", "en"])
async def test_the_customers_page_has_a_list_pane_and_a_profile_pane(
    browser: Browser, server: tuple[str, AppContext], lang: str, viewport: dict[str, int]
) -> None:
    url, app = server
    sara = await add_agent(app, "sara@example.com", name="Sara", language=lang)
    names = [f"{NAMES[n % 5]} {n}" for n in range(1, 39)]
    made = await queued_customers(app, [None, *names, "مریم احمدی"])
    maryam, maryam_thread = made[-1]
    unnamed, _ = made[0]
    async with app.sessions() as session, session.begin():
        for n in range(25):
            session.add(CustomerNote(customer_id=maryam, agent_id=sara, text=f"note {n} " * 8))
    page = await signed_in(browser, url, viewport)
    await page.locator('.page-tab[data-page="customers"]').click()
    items = page.locator("#customer-list .customer-item")
    await expect(items).to_have_count(20)
    await page.locator("#customers-more").click()
    await expect(items).to_have_count(40)
    # Nothing known about a customer: named by number, in the agent's digits.
    unnamed_item = page.locator(f'.customer-item[data-customer-id="{unnamed}"]')
    await expect(unnamed_item).to_contain_text(
        f"مشتری #{fa_digits(unnamed)}" if lang == "fa" else f"Customer #{unnamed}"
    )
    await window_fits(page)
    await scrolls_alone(page, ".customers-list-pane")
    phone = viewport == PHONE
    if phone:  # one pane at a time
        await expect(page.locator(".customers-profile-pane")).to_be_hidden()

    await page.locator(f'.customer-item[data-customer-id="{maryam}"] button').click()
    profile = page.locator("#customer-profile")
    await expect(profile.locator("h2")).to_have_text("مریم احمدی")
    await expect(profile.locator(".profile-notes li")).to_have_count(25)
    link = profile.locator(".profile-threads button.link")
    await expect(link).to_have_text(
        f"گفت‌وگوی #{fa_digits(maryam_thread)}" if lang == "fa" else f"Thread #{maryam_thread}"
    )
    await window_fits(page)
    await scrolls_alone(page, ".customers-profile-pane")
    pane = page.locator(".customers-list-pane")
    if phone:
        await expect(pane).to_be_hidden()
        await page.locator("#customers-back").click()
        await expect(pane).to_be_visible()
        await expect(page.locator(".customers-profile-pane")).to_be_hidden()
    else:
        await expect(page.locator("#customers-back")).to_be_hidden()
        listed = await pane.bounding_box()
        shown = await page.locator(".customers-profile-pane").bounding_box()
        assert listed and shown
        assert abs(listed["y"] - shown["y"]) < 2  # side by side, like the queue and thread
        # The list is at the start of the line: the right in fa, the left in en.
        assert (listed["x"] > shown["x"]) == (lang == "fa")
    await window_fits(page)
    assert page.errors == []  # type: ignore[attr-defined]


async def arrive(url: str, token: str, key: str, name: str) -> None:
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{url}/api/v1/inbound/messages",
            json={"id": key, "customer": {"external_id": key, "name": name}, "text": "Help"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status == 202, await response.text()


async def listed_ids(page: Page) -> list[int]:
    ids = await page.locator("#thread-list .thread-item").evaluate_all(
        "items => items.map(i => Number(i.dataset.threadId))"
    )
    return [int(i) for i in ids]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1400x900", "375x812"])
async def test_the_queue_loads_further_pages_without_repeating_newcomers(
    browser: Browser, server: tuple[str, AppContext], viewport: dict[str, int]
) -> None:
    url, app = server
    await add_agent(app, "sara@example.com", name="Sara", language="fa")
    made = await queued_customers(app, [f"{NAMES[n % 5]} {n}" for n in range(QUEUE_PAGE + 7)])
    token = await integration_token(app)
    page = await signed_in(browser, url, viewport)
    await page.locator('.tab[data-view="all"]').click()  # most recently changed first
    items = page.locator("#thread-list .thread-item")
    await expect(items).to_have_count(QUEUE_PAGE)

    # A newcomer goes on top while the agent reads the first page: one row moves to
    # the second page, which must still hold it, once.
    await arrive(url, token, "new-1", "Newcomer One")
    await expect(items.first).to_contain_text("Newcomer One")
    await expect(items).to_have_count(QUEUE_PAGE)
    # Scrolling to the end of the queue pane loads the next page.
    await page.locator(".queue-pane").evaluate("p => { p.scrollTop = p.scrollHeight; }")
    await expect(items).to_have_count(QUEUE_PAGE + 8)
    await expect(page.locator("#queue-more")).to_be_hidden()
    ids = await listed_ids(page)
    assert len(set(ids)) == len(ids)
    assert set(ids) >= {thread for _, thread in made}

    # Another arrives with every page shown while the agent reads the top of the list:
    # it joins the top, and the rows below the first page neither repeat nor go.
    await page.locator(".queue-pane").evaluate("p => { p.scrollTop = 0; }")
    await arrive(url, token, "new-2", "Newcomer Two")
    await expect(items.first).to_contain_text("Newcomer Two")
    await expect(items).to_have_count(QUEUE_PAGE + 9)
    ids = await listed_ids(page)
    assert len(set(ids)) == len(ids) and set(ids) >= {thread for _, thread in made}
    await window_fits(page)
    assert page.errors == []  # type: ignore[attr-defined]


async def test_a_profile_answering_after_a_newer_one_is_not_shown(
    browser: Browser, server: tuple[str, AppContext]
) -> None:
    """An agent opens one customer, then another before the first profile answered: the
    first profile's late answer must not replace the second."""
    url, app = server
    await add_agent(app, "sara@example.com", name="Sara", language="en")
    (first, _), (second, _) = await queued_customers(app, ["Maryam First", "Reza Second"])
    held: list[Route] = []
    first_read_held = asyncio.Event()

    async def hold_the_first_profile(route: Route) -> None:
        if held:
            await route.continue_()
            return
        held.append(route)
        first_read_held.set()

    page = await signed_in(browser, url, DESKTOP)
    await page.route(f"**/api/v1/customers/{first}", hold_the_first_profile)
    await page.locator('.page-tab[data-page="customers"]').click()
    await page.locator(f'.customer-item[data-customer-id="{first}"] button').click()
    await asyncio.wait_for(first_read_held.wait(), 15)
    await page.locator(f'.customer-item[data-customer-id="{second}"] button').click()
    profile = page.locator("#customer-profile")
    await expect(profile.locator("h2")).to_have_text("Reza Second")
    await expect(profile).to_have_attribute("aria-busy", "true")  # the first read is open

    await held[0].continue_()
    await expect(profile).to_have_attribute("aria-busy", "false")
    await expect(profile.locator("h2")).to_have_text("Reza Second")
    assert page.errors == []  # type: ignore[attr-defined]
