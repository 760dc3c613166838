"""The console's shell, admin pages and notifications in Debian's Chromium (Playwright),
in fa and en, on 1400×900 and 1024×768 desktops and a 375×812 phone.

The whole server runs on loopback (real ingest, database, outbox, console socket); a
queue-everything responder makes every new customer thread wait for an agent.
"""

from __future__ import annotations

import re
from datetime import timedelta

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from config.settings import Settings
from router.context import AppContext
from router.core.messages import utcnow
from router.core.responder import QueueEveryThread
from router.service.breaches import fire_due_alarms
from router.storage.models import Message
from tests.agent_support import make_agent
from tests.browser_support import open_console
from tests.conftest import AppFactory
from tests.console_support import (
    PASSWORD,
    add_agent,
    agent_token,
    integration_token,
    seed_thread,
)

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1400, "height": 900}
NARROW_DESKTOP = {"width": 1024, "height": 768}
PHONE = {"width": 375, "height": 812}
RAW_MAIL = (
    b"From: Maryam <maryam@example.org>\r\nSubject: Order 1234 is late\r\n\r\nWhere is it?\r\n"
)

# Records every notification the page raises; the real one is kept for its permission.
NOTIFICATION_HOOK = """
(() => {
  const Real = window.Notification;
  window.__notifications = [];
  class Recorded {
    constructor(title, options) {
      window.__notifications.push({ title, body: (options && options.body) || "" });
    }
    static get permission() { return Real ? Real.permission : "denied"; }
    static requestPermission() { return Real.requestPermission(); }
    close() {}
  }
  window.Notification = Recorded;
})();
"""


@pytest.fixture
async def server(start_app: AppFactory, settings: Settings) -> tuple[str, AppContext]:
    client, context = await start_app(
        settings.replace("webchat", enabled=False).replace("email", enabled=False),
        responder=QueueEveryThread(),
    )
    return str(client.make_url("/")).rstrip("/"), context


async def long_email_thread(app: AppContext, messages: int = 14) -> int:
    """A queued thread of an email customer with no name: a subject, `messages`
    messages, the first with the raw mail the email channel keeps."""
    raw = await app.attachment_store.put(
        RAW_MAIL, filename="message.eml", content_type="message/rfc822"
    )
    attachment = {
        "sha256": raw.sha256,
        "filename": raw.filename,
        "content_type": raw.content_type,
        "size": raw.size,
    }
    seeded = await seed_thread(
        app,
        channel="email",
        address="maryam@example.org",
        texts=[f"Message {n + 1}: " + "a fairly long line of text. " * 6 for n in range(messages)],
        start=utcnow() - timedelta(hours=2),
        subject="Order 1234 is late",
        first_attachments=[attachment],
    )
    return seeded.thread_id


async def window_scroll(page: Page) -> int:
    return int(await page.evaluate("() => window.scrollY"))


async def in_viewport(page: Page, selector: str) -> bool:
    box = await page.locator(selector).bounding_box()
    size = page.viewport_size
    assert box is not None and size is not None
    return (
        box["y"] >= 0
        and box["y"] + box["height"] <= size["height"]
        and box["x"] >= 0
        and box["x"] + box["width"] <= size["width"]
    )


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1400x900", "375x812"])
@pytest.mark.parametrize("lang", ["fa", "en"])
async def test_a_long_thread_scrolls_its_own_pane_and_keeps_the_reply_box_in_view(
    browser: Browser, server: tuple[str, AppContext], lang: str, viewport: dict[str, int]
) -> None:
    url, app = server
    await add_agent(app, "sara@example.com", name="Sara", language=lang)
    thread_id = await long_email_thread(app)
    context, page = await open_console(browser, url, "sara@example.com", viewport)
    item = page.locator(f'.thread-item[data-thread-id="{thread_id}"]')
    # The customer is named by their best identity, not «Customer #1».
    await expect(item.locator(".name")).to_have_text("maryam@example.org")
    await item.click()
    await expect(page.locator("#history .msg")).to_have_count(14)

    assert await window_scroll(page) == 0
    assert await page.evaluate(
        "() => document.scrollingElement.scrollHeight <= window.innerHeight + 1"
    ), "the page itself must not be taller than the window"
    assert await in_viewport(page, "#reply-text")
    assert await in_viewport(page, "#reply-send")
    # The thread pane scrolled to its newest message, on its own.
    scroll = await page.evaluate(
        "() => { const p = document.getElementById('thread-scroll');"
        " return [p.scrollTop, p.scrollHeight, p.clientHeight]; }"
    )
    assert scroll[1] > scroll[2], "14 messages should overflow the pane"
    assert scroll[0] + scroll[2] >= scroll[1] - 2
    assert await in_viewport(page, "#history .msg:last-child")

    # Subject, channel name and dates in the agent's language; raw mail behind a control.
    await expect(page.locator("#thread-subject")).to_contain_text("Order 1234 is late")
    badge = page.locator("#history .msg .badge[data-channel='email']").first
    await expect(badge).to_have_text("ایمیل" if lang == "fa" else "email")
    stamp = await page.locator("#history .msg time").first.text_content()
    assert stamp
    if lang == "fa":
        assert "," not in stamp and re.search("[۰-۹]", stamp), stamp
        assert re.search("۱۴۰[۰-۹]", stamp), f"Solar Hijri year expected: {stamp}"
    await expect(page.locator("#history .attachment")).to_have_count(0)
    await page.locator("#history .show-original").scroll_into_view_if_needed()
    await page.locator("#history .show-original").click()
    await expect(page.locator("#history .original-text")).to_contain_text("Subject: Order 1234")
    assert await window_scroll(page) == 0

    if viewport is PHONE:
        # One pane at a time: the queue is hidden behind the thread, with a way back.
        await expect(page.locator(".queue-pane")).to_be_hidden()
        await page.locator("#show-customer").click()
        await expect(page.locator("#identities")).to_contain_text("maryam@example.org")
        await page.locator("#back-to-thread").click()
        await page.locator("#back-to-queue").click()
        await expect(page.locator(".queue-pane")).to_be_visible()
        await expect(page.locator("#thread-view")).to_be_hidden()
    else:
        await expect(page.locator(".queue-pane")).to_be_visible()
        await expect(page.locator(".topbar")).to_be_in_viewport()
    assert await window_scroll(page) == 0
    assert page.errors == []  # type: ignore[attr-defined]
    await context.close()


@pytest.mark.parametrize("lang", ["fa", "en"])
async def test_an_admin_adds_an_agent_who_can_then_sign_in(
    browser: Browser, server: tuple[str, AppContext], lang: str
) -> None:
    url, app = server
    await add_agent(app, "boss@example.com", name="Boss", admin=True, language=lang)
    await add_agent(app, "sara@example.com", name="Sara", language=lang)
    context, page = await open_console(browser, url, "boss@example.com", DESKTOP)
    await page.locator('.page-tab[data-page="agents"]').click()
    await expect(page.locator("#admin-page tr[data-agent-id]")).to_have_count(2)
    form = page.locator("#add-agent-form")
    await form.locator('input[name="email"]').fill("nima@example.com")
    await form.locator('input[name="name"]').fill("نیما")
    await form.locator('select[name="tier"]').select_option("2")
    # The new agent's language: preselected as the admin's console, chosen here.
    await expect(form.locator('select[name="language"]')).to_have_value(lang)
    await form.locator('select[name="language"]').select_option("ar")
    if lang == "fa":
        # An initial password.
        await form.locator('input[name="password"]').fill("nima's password")
        await form.locator('button[type="submit"]').click()
        await expect(page.locator("#admin-page tr[data-agent-id]")).to_have_count(3)
        new_password = "nima's password"
    else:
        # No password: an invitation link the new agent opens to choose one.
        await form.locator('button[type="submit"]').click()
        link = page.locator("#invitation-url")
        await expect(link).to_be_visible()
        invitation = await link.input_value()
        assert "/console#invite=" in invitation
        invited = await browser.new_context(viewport=PHONE)
        invite_page = await invited.new_page()
        await invite_page.goto(invitation)
        await expect(invite_page.locator("#invite")).to_be_visible()
        await invite_page.locator("#invite-password").fill("nima's password")
        await invite_page.locator("#invite-submit").click()
        # "Save and sign in": straight into the console, in the language the admin
        # chose for them, not the sign-in form again.
        await expect(invite_page.locator("#console")).to_be_visible()
        await expect(invite_page.locator("#live")).to_have_attribute("data-state", "on")
        await expect(invite_page.locator("#me")).to_contain_text("نیما")
        await expect(invite_page.locator("html")).to_have_attribute("lang", "ar")
        await expect(invite_page.locator("html")).to_have_attribute("dir", "rtl")
        await invited.close()
        new_password = "nima's password"
    row = page.locator("#admin-page tr[data-agent-id]", has_text="nima@example.com")
    await expect(row.locator("select")).to_have_value("2")
    nima_context, nima = await open_console(
        browser, url, "nima@example.com", DESKTOP, password=new_password
    )
    await expect(nima.locator("#me")).to_contain_text("نیما")
    await expect(nima.locator("html")).to_have_attribute("lang", "ar")
    # Admin pages are for admins only.
    await expect(nima.locator('.page-tab[data-page="agents"]')).to_be_hidden()
    await nima_context.close()

    # Deactivating Sara from the page: she is marked so at once.
    page.on("dialog", lambda dialog: dialog.accept())
    sara_row = page.locator("#admin-page tr[data-agent-id]", has_text="sara@example.com")
    await sara_row.locator("button.deactivate").click()
    await expect(sara_row.locator("button.reactivate")).to_be_visible()
    assert page.errors == []  # type: ignore[attr-defined]
    await context.close()


async def test_queue_rows_preview_the_customers_words_not_the_bots(
    browser: Browser, server: tuple[str, AppContext]
) -> None:
    url, app = server
    await add_agent(app, "sara@example.com", name="Sara", language="fa")
    start = utcnow() - timedelta(minutes=5)
    raw = await app.attachment_store.put(
        b"\x89PNG\r\n\x1a\n", filename="box.png", content_type="image/png"
    )
    photo = {
        "sha256": raw.sha256,
        "filename": raw.filename,
        "content_type": raw.content_type,
        "size": raw.size,
    }
    asked = await seed_thread(
        app, channel="email", address="maryam@example.org", texts=["سفارش ۱۲۳۴ کجاست؟"], start=start
    )
    # Only a photo: no words of the customer's to show.
    pictured = await seed_thread(
        app,
        channel="email",
        address="john@example.org",
        texts=[""],
        start=start,
        first_attachments=[photo],
    )
    handoff = "اگر نشانی ایمیلتان را همین‌جا بنویسید، پاسخ را آنجا هم می‌فرستیم."
    async with app.sessions() as session, session.begin():
        for seeded in (asked, pictured):
            session.add(
                Message(
                    thread_id=seeded.thread_id,
                    customer_id=seeded.customer_id,
                    direction="out",
                    author_kind="bot",
                    channel="email",
                    text=handoff,
                    created_at=start + timedelta(minutes=1),
                )
            )
    context, page = await open_console(browser, url, "sara@example.com", DESKTOP)
    asked_row = page.locator(f'#thread-list li[data-thread-id="{asked.thread_id}"]')
    await expect(asked_row.locator(".preview")).to_have_text("سفارش ۱۲۳۴ کجاست؟")
    pictured_row = page.locator(f'#thread-list li[data-thread-id="{pictured.thread_id}"]')
    await expect(pictured_row.locator(".preview")).to_have_text(f"ربات: {handoff}")
    await expect(pictured_row.locator(".preview .preview-author")).to_have_text("ربات:")
    assert page.errors == []  # type: ignore[attr-defined]
    await context.close()


async def test_an_accepted_invitation_that_cannot_sign_in_says_so_as_a_success(
    browser: Browser, server: tuple[str, AppContext]
) -> None:
    url, app = server
    boss = await add_agent(app, "boss@example.com", name="Boss", admin=True)
    bearer = {"Authorization": f"Bearer {await agent_token(app, boss)}"}
    new = {"email": "omar@example.com", "name": "عمر", "tier": 1, "language": "ar"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{url}/api/v1/agents", json=new, headers=bearer) as response,
    ):
        assert response.status == 201
        invitation = (await response.json())["invitation_url"]
    context = await browser.new_context(viewport=PHONE)
    page = await context.new_page()
    # Signing in at once is refused (too many attempts from this network).
    await page.route(
        "**/console/login",
        lambda route: route.fulfill(status=429, json={"error": {"message": "wait"}}),
    )
    await page.goto(invitation)
    await page.locator("#invite-password").fill("omar's password")
    await page.locator("#invite-submit").click()
    await expect(page.locator("#signin")).to_be_visible()
    await expect(page.locator("#signin-email")).to_have_value("omar@example.com")
    # The password was saved: said in the success style, apart from why sign-in failed.
    notice = page.locator("#signin-notice")
    await expect(notice).to_have_text("گذرواژه ثبت شد؛ با آن وارد شوید.")
    await expect(notice).to_have_css("color", "rgb(15, 110, 92)")
    await expect(page.locator("#signin-error")).to_have_text(
        "تلاش‌ها زیاد است؛ کمی صبر کنید و دوباره امتحان کنید."
    )
    await context.close()


@pytest.mark.parametrize("lang", ["fa", "en"])
async def test_a_new_queued_thread_raises_a_notification_and_counts_in_the_title(
    browser: Browser, server: tuple[str, AppContext], lang: str
) -> None:
    url, app = server
    await add_agent(app, "sara@example.com", name="Sara", language=lang)
    context = await browser.new_context(viewport=DESKTOP)
    await context.grant_permissions(["notifications"], origin=url)
    await context.add_init_script(NOTIFICATION_HOOK)
    page = await context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    await page.goto(f"{url}/console")
    await page.locator("#signin-email").fill("sara@example.com")
    await page.locator("#signin-password").fill(PASSWORD)
    await page.locator("#signin-submit").click()
    await expect(page.locator("#live")).to_have_attribute("data-state", "on")
    await expect(page.locator("#thread-list-empty")).to_be_visible()
    # Permission granted already: no button asking for it.
    await expect(page.locator("#notify-enable")).to_be_hidden()

    token = await integration_token(app)
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{url}/api/v1/inbound/messages",
            json={"id": "n-1", "customer": {"external_id": "c-9", "name": "Reza"}, "text": "Help"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status == 202
    await expect(page.locator(".thread-item")).to_have_count(1)
    await page.wait_for_function("() => window.__notifications.length > 0")
    raised = await page.evaluate("() => window.__notifications")
    expected = "گفت‌وگوی تازه در صف" if lang == "fa" else "New thread in the queue"
    assert raised[0]["title"] == expected
    assert raised[0]["body"] == "Reza"
    one = "(۱)" if lang == "fa" else "(1)"
    await expect(page).to_have_title(re.compile(re.escape(one)))
    # Opening the thread reads it: the count goes.
    await page.locator(".thread-item").click()
    await expect(page).not_to_have_title(re.compile(re.escape(one)))

    # Sara takes it, then reads another customer's thread; Reza writes again.
    await page.locator("#claim").click()
    await expect(page.locator("#release")).to_be_visible()
    async with aiohttp.ClientSession() as http:
        for message_id, customer, name in (("n-2", "c-10", "Leila"), ("n-3", "c-9", "Reza")):
            if message_id == "n-3":
                await page.locator('.tab[data-view="queue"]').click()
                await page.locator(".thread-item", has_text="Leila").click()
                await expect(page.locator("#customer-name")).to_have_text("Leila")
            response = await http.post(
                f"{url}/api/v1/inbound/messages",
                json={
                    "id": message_id,
                    "customer": {"external_id": customer, "name": name},
                    "text": "Are you there?",
                },
                headers={"Authorization": f"Bearer {token}"},
            )
            assert response.status in (200, 202)
    replied = "مشتری پاسخ داد" if lang == "fa" else "The customer replied"
    await page.wait_for_function(
        "(title) => window.__notifications.some((n) => n.title === title)", arg=replied
    )
    assert page_errors == []
    await context.close()


@pytest.mark.parametrize("lang", ["fa", "en"])
async def test_a_service_level_warning_raises_a_notification(
    browser: Browser, server: tuple[str, AppContext], lang: str
) -> None:
    url, app = server
    started = utcnow().replace(microsecond=0)
    clock = {"now": started}
    app.clock = lambda: clock["now"]
    boss = await add_agent(app, "boss@example.com", name="Boss", admin=True, language=lang)
    bearer = {"Authorization": f"Bearer {await agent_token(app, boss)}"}
    policy = {"priority": "normal", "business_hours": False, "first_response_minutes": 10}
    async with aiohttp.ClientSession() as http:
        response = await http.put(f"{url}/api/v1/sla-policies/normal", json=policy, headers=bearer)
        assert response.status == 200, await response.text()
        response = await http.post(
            f"{url}/api/v1/inbound/messages",
            json={"id": "w-1", "customer": {"external_id": "c-1", "name": "Reza"}, "text": "Hi"},
            headers={"Authorization": f"Bearer {await integration_token(app)}"},
        )
        assert response.status == 202, await response.text()
    context = await browser.new_context(viewport=DESKTOP)
    await context.grant_permissions(["notifications"], origin=url)
    await context.add_init_script(NOTIFICATION_HOOK)
    page = await context.new_page()
    page_errors: list[str] = []
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    await page.goto(f"{url}/console")
    await page.locator("#signin-email").fill("boss@example.com")
    await page.locator("#signin-password").fill(PASSWORD)
    await page.locator("#signin-submit").click()
    await expect(page.locator("#live")).to_have_attribute("data-state", "on")
    await expect(page.locator(".thread-item")).to_have_count(1)

    # Nine minutes on (80% of ten) the scheduler fires the warning; the console hears it.
    clock["now"] = started + timedelta(minutes=9)
    fired = await fire_due_alarms(app)
    assert [alarm.kind for alarm in fired] == ["warning"]
    warning = "مهلت نزدیک است" if lang == "fa" else "A target is nearly due"
    await page.wait_for_function(
        "(title) => window.__notifications.some((n) => n.title === title)", arg=warning
    )
    raised = await page.evaluate("() => window.__notifications")
    assert [n["body"] for n in raised if n["title"] == warning] == ["Reza"]
    assert page_errors == []
    await context.close()


async def test_a_click_that_lands_while_the_queue_is_re_read_still_opens_the_thread(
    browser: Browser, server: tuple[str, AppContext]
) -> None:
    """The queue re-reads itself on every event; an item whose content did not change
    keeps its element, so the press and the release of one click meet the same item."""
    url, app = server
    await add_agent(app, "sara@example.com", name="Sara", language="en")
    thread_id = await long_email_thread(app)
    context, page = await open_console(browser, url, "sara@example.com", DESKTOP)
    item = page.locator(f'.thread-item[data-thread-id="{thread_id}"]')
    await expect(item).to_have_count(1)
    box = await item.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    # Another customer writes between press and release: the queue is read again.
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{url}/api/v1/inbound/messages",
            json={"id": "q-1", "customer": {"external_id": "c-1", "name": "Reza"}, "text": "Hi"},
            headers={"Authorization": f"Bearer {await integration_token(app)}"},
        )
        assert response.status == 202
    await expect(page.locator(".thread-item")).to_have_count(2)
    await page.mouse.up()
    await expect(page.locator("#history .msg")).to_have_count(14)
    await context.close()


@pytest.mark.parametrize("lang", ["fa", "en"])
async def test_at_1024_wide_the_three_panes_fit_and_the_reply_box_stays_in_view(
    browser: Browser, server: tuple[str, AppContext], lang: str
) -> None:
    url, app = server
    await add_agent(app, "sara@example.com", name="Sara", language=lang)
    thread_id = await long_email_thread(app)
    context, page = await open_console(browser, url, "sara@example.com", NARROW_DESKTOP)
    await page.locator(f'.thread-item[data-thread-id="{thread_id}"]').click()
    await expect(page.locator("#history .msg")).to_have_count(14)

    assert await window_scroll(page) == 0
    assert await page.evaluate(
        "() => document.scrollingElement.scrollHeight <= window.innerHeight + 1"
        " && document.scrollingElement.scrollWidth <= window.innerWidth"
    ), "the page itself must fit the window, across and down"
    assert await in_viewport(page, "#reply-text")
    assert await in_viewport(page, "#reply-send")
    assert await in_viewport(page, "#history .msg:last-child")
    await expect(page.locator(".topbar")).to_be_in_viewport()
    # Below three columns' width the design keeps two: queue and thread side by side,
    # the thread the wider, and the customer opens in the thread's place on demand.
    queue = await page.locator(".queue-pane").bounding_box()
    thread = await page.locator("#thread-view").bounding_box()
    assert queue is not None and thread is not None
    for box in (queue, thread):
        assert box["x"] >= 0 and box["x"] + box["width"] <= NARROW_DESKTOP["width"] + 1
    assert thread["width"] > queue["width"] > 150, (queue, thread)
    if lang == "fa":  # right to left: the queue is the rightmost pane
        assert queue["x"] >= thread["x"] + thread["width"] - 1, (queue, thread)
    else:
        assert thread["x"] >= queue["x"] + queue["width"] - 1, (queue, thread)
    await expect(page.locator("#customer-pane")).to_be_hidden()
    await page.locator("#show-customer").click()
    await expect(page.locator("#identities")).to_contain_text("maryam@example.org")
    customer = await page.locator("#customer-pane").bounding_box()
    assert customer is not None and abs(customer["x"] - thread["x"]) <= 1, (customer, thread)
    await expect(page.locator(".queue-pane")).to_be_visible()
    await page.locator("#back-to-thread").click()
    await expect(page.locator("#customer-pane")).to_be_hidden()
    assert await in_viewport(page, "#reply-text")
    assert await window_scroll(page) == 0
    assert page.errors == []  # type: ignore[attr-defined]
    await context.close()


async def test_the_agents_page_and_transfer_picker_follow_every_page_of_agents(
    browser: Browser, server: tuple[str, AppContext]
) -> None:
    url, app = server
    await add_agent(app, "boss@example.com", name="Boss", admin=True, language="en")
    # More agents than one page of GET /api/v1/agents holds (100 by default).
    for n in range(120):
        await make_agent(app, f"Agent{n:03d}", tier=1 + n % 3)
    context, page = await open_console(browser, url, "boss@example.com", DESKTOP)
    await expect(page.locator("#agent-emails option")).to_have_count(120)
    await page.locator('.page-tab[data-page="agents"]').click()
    await expect(page.locator("#admin-page tr[data-agent-id]")).to_have_count(121)
    assert page.errors == []  # type: ignore[attr-defined]
    await context.close()


INVITE_BUTTONS = {
    "fa": ("پس گرفتن دعوت", "پیوند دعوت تازه"),
    "ar": ("سحب الدعوة", "رابط دعوة جديد"),
    "en": ("Withdraw invitation", "New invitation link"),
}


@pytest.mark.parametrize("lang", ["fa", "ar", "en"])
async def test_an_admin_withdraws_and_re_issues_an_invitation_from_the_agents_page(
    browser: Browser, server: tuple[str, AppContext], lang: str
) -> None:
    url, app = server
    await add_agent(app, "boss@example.com", name="Boss", admin=True, language=lang)
    withdraw_text, reissue_text = INVITE_BUTTONS[lang]
    context, page = await open_console(browser, url, "boss@example.com", DESKTOP)
    page.on("dialog", lambda dialog: dialog.accept())
    await page.locator('.page-tab[data-page="agents"]').click()
    form = page.locator("#add-agent-form")
    await form.locator('input[name="email"]').fill("nima@example.com")
    await form.locator('input[name="name"]').fill("نیما")
    await form.locator('button[type="submit"]').click()
    link = page.locator("#invitation-url")
    await expect(link).to_be_visible()
    leaked = await link.input_value()
    row = page.locator("#admin-page tr[data-agent-id]", has_text="nima@example.com")
    # Withdrawn: the link shown goes away with it, and opened it is refused.
    await expect(row.locator("button.withdraw-invitation")).to_have_text(withdraw_text)
    await row.locator("button.withdraw-invitation").click()
    await expect(link).to_have_count(0)
    invited = await browser.new_context(viewport=PHONE)
    invite_page = await invited.new_page()

    async def accept(invitation: str) -> None:
        await invite_page.goto("about:blank")
        await invite_page.goto(invitation)
        await invite_page.locator("#invite-password").fill("nima's password")
        await invite_page.locator("#invite-submit").click()

    await accept(leaked)
    # (The invitation page speaks the browser's language, Persian here.)
    await expect(invite_page.locator("#invite-error")).to_contain_text("پس گرفته شده")
    # Re-issued: a new link is shown, and it works.
    await expect(row.locator("button.reissue-invitation")).to_have_text(reissue_text)
    await row.locator("button.reissue-invitation").click()
    await expect(link).to_be_visible()
    fresh = await link.input_value()
    assert fresh != leaked and "/console#invite=" in fresh
    await accept(fresh)
    await expect(invite_page.locator("#console")).to_be_visible()
    await invited.close()
    # With a password, the row offers no invitation any more.
    await page.reload()
    await page.locator('.page-tab[data-page="agents"]').click()
    await expect(row).to_be_visible()
    await expect(row.locator("button.withdraw-invitation")).to_have_count(0)
    assert page.errors == []  # type: ignore[attr-defined]
    await context.close()
