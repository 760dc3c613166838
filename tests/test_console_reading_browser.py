"""Reading and answering a thread in the console, in Debian's Chromium (Playwright):
one reply however often Send is asked for, the server's reason for a refused reply in
the agent's language, a conversation that keeps its height on a laptop, a phone and at
200% zoom, a history the keyboard scrolls, addresses kept left-to-right in Persian
text, tabs and queue rows a screen reader and the keyboard can use, and a session that
ends with a word about it.

The whole server runs on loopback (`queued_server`): every customer thread waits for
an agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta

import aiohttp
import pytest
from playwright.async_api import Browser, Page, Route, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import func, select, update

from router.context import AppContext
from router.core.messages import utcnow
from router.storage.models import ConsoleSession, Message
from tests.browser_support import ARTIFACTS, open_console, submit_sign_in
from tests.console_support import add_agent, agent_token, seed_thread

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 860}
LAPTOP = {"width": 1366, "height": 768}
PHONE = {"width": 360, "height": 740}
# 200% zoom of a 1366×768 window: half the CSS pixels, each drawn twice as large.
ZOOMED = {"width": 683, "height": 384}

SENT = {"en": "Sent.", "fa": "فرستاده شد.", "ar": "تم الإرسال."}
CLAIM_FIRST = {
    "en": "Claim this thread before replying.",
    "fa": "پیش از پاسخ دادن، این گفت‌وگو را بردارید.",
    "ar": "استلم هذه المحادثة قبل الرد.",
}
SESSION_ENDED = {
    "en": "Your session has ended; sign in again. What you were writing is kept, not sent.",
    "fa": "نشست شما به پایان رسیده است؛ دوباره وارد شوید. آنچه می‌نوشتید نگه داشته شده و "
    "فرستاده نشده است.",
    "ar": "انتهت جلستك؛ سجّل الدخول مرة أخرى. ما كنت تكتبه محفوظ ولم يُرسل.",
}


async def queued_thread(app: AppContext, texts: list[str], messages: int = 1) -> int:
    seeded = await seed_thread(
        app,
        channel="webchat",
        address="visitor:abc",
        texts=texts * messages,
        start=utcnow() - timedelta(hours=1),
        customer_name="مریم",
    )
    return seeded.thread_id


async def claim(url: str, app: AppContext, agent_id: int, thread_id: int) -> None:
    bearer = {"Authorization": f"Bearer {await agent_token(app, agent_id)}"}
    async with aiohttp.ClientSession() as http:
        response = await http.post(f"{url}/api/v1/threads/{thread_id}/claim", headers=bearer)
        assert response.status == 200, await response.text()


async def open_thread(page: Page, thread_id: int, view: str = "queue") -> None:
    await page.locator(f'.tab[data-view="{view}"]').click()
    await page.locator(f'.thread-item[data-thread-id="{thread_id}"]').click()
    await expect(page.locator("#thread-view")).to_be_visible()
    await expect(page.locator("#history .msg").first).to_be_visible()


async def agent_replies(app: AppContext, thread_id: int) -> list[str]:
    async with app.sessions() as session:
        rows = await session.scalars(
            select(Message.text)
            .where(Message.thread_id == thread_id, Message.author_kind == "agent")
            .order_by(Message.id)
        )
        return list(rows)


async def test_ctrl_enter_twice_sends_the_reply_once(
    browser: Browser, queued_server: tuple[str, AppContext]
) -> None:
    """The keyboard's second Ctrl+Enter, while the first reply is on its way, sends
    nothing: one request, one message, and the box is cleared once it is stored."""
    url, app = queued_server
    sara = await add_agent(app, "sara@example.com", name="Sara", language="fa")
    thread_id = await queued_thread(app, ["سلام، سفارشم کجاست؟"])
    await claim(url, app, sara, thread_id)
    context, page = await open_console(browser, url, "sara@example.com", DESKTOP)
    # Counts the reply requests the page makes, as it makes them.
    await page.evaluate(
        """() => {
          window.__replies = 0;
          const real = window.fetch;
          window.fetch = (path, options) => {
            if (String(path).endsWith('/messages') && options && options.method === 'POST') {
              window.__replies += 1;
            }
            return real(path, options);
          };
        }"""
    )
    # The first reply is held on the way until both key presses are in.
    gate = asyncio.Event()

    async def hold(route: Route) -> None:
        await gate.wait()
        await route.continue_()

    await page.route("**/api/v1/threads/*/messages", hold)
    await open_thread(page, thread_id, "mine")
    box = page.locator("#reply-text")
    await box.fill("پیام دوم")
    await box.press("Control+Enter")
    await box.press("Control+Enter")
    await page.locator("#reply-send").press("Enter")
    assert await page.evaluate("() => window.__replies") == 1
    gate.set()
    await expect(page.locator("#notice")).to_have_text(SENT["fa"])
    await expect(box).to_have_value("")
    await expect(page.locator("#history .msg.author-agent")).to_have_count(1)
    assert await agent_replies(app, thread_id) == ["پیام دوم"]
    # Unlocked again for the next reply.
    await box.fill("سوم")
    await box.press("Control+Enter")
    await expect(page.locator("#history .msg.author-agent")).to_have_count(2)
    assert page.errors == []  # type: ignore[attr-defined]
    await context.close()


async def test_a_reply_whose_answer_was_lost_is_sent_again_with_its_key(
    browser: Browser, queued_server: tuple[str, AppContext]
) -> None:
    """The server stores the reply but its answer never reaches the page (the network
    drops it): Send again carries the same idempotency key, so the server answers with
    the stored reply and the customer gets one message; the next reply has a new key."""
    url, app = queued_server
    sara = await add_agent(app, "sara@example.com", name="Sara", language="fa")
    thread_id = await queued_thread(app, ["سلام، سفارشم کجاست؟"])
    await claim(url, app, sara, thread_id)
    context, page = await open_console(browser, url, "sara@example.com", DESKTOP)
    keys: list[str] = []
    answers: list[int] = []

    async def lose_first_answer(route: Route) -> None:
        keys.append(json.loads(route.request.post_data or "{}")["idempotency_key"])
        response = await route.fetch()  # the server stores the reply ...
        answers.append(response.status)
        if len(keys) == 1:
            await route.abort("connectionreset")  # ... and its answer is lost
        else:
            await route.fulfill(response=response)

    await page.route("**/api/v1/threads/*/messages", lose_first_answer)
    await open_thread(page, thread_id, "mine")
    box = page.locator("#reply-text")
    await box.fill("فردا می‌رسد.")
    await box.press("Control+Enter")
    await expect(box).to_be_editable()  # the send failed, as far as the page knows
    await expect(box).to_have_value("فردا می‌رسد.")
    await box.press("Control+Enter")
    await expect(page.locator("#notice")).to_have_text(SENT["fa"])
    await expect(box).to_have_value("")
    assert answers == [201, 200] and keys[0] == keys[1]
    assert await agent_replies(app, thread_id) == ["فردا می‌رسد."]
    await box.fill("فردا می‌رسد.")  # the same words again are a new reply
    await box.press("Control+Enter")
    await expect(page.locator("#history .msg.author-agent")).to_have_count(2)
    assert answers[2] == 201 and keys[2] != keys[0]
    assert page.errors == []  # type: ignore[attr-defined]
    await context.close()


@pytest.mark.parametrize("lang", ["fa", "ar", "en"])
async def test_a_refused_reply_says_the_servers_reason_in_the_agents_language(
    browser: Browser, queued_server: tuple[str, AppContext], lang: str
) -> None:
    """A reply to a queued thread nobody has taken is refused with "claim it first",
    and the console says that, not that someone else has taken it."""
    url, app = queued_server
    await add_agent(app, "sara@example.com", name="Sara", language=lang)
    thread_id = await queued_thread(app, ["Where is my order?"])
    context, page = await open_console(browser, url, "sara@example.com", DESKTOP)
    await open_thread(page, thread_id)
    await page.locator("#reply-text").fill("On its way")
    await page.locator("#reply-send").click()
    await expect(page.locator("#notice")).to_have_text(CLAIM_FIRST[lang])
    # Nothing was sent, and the draft is still there to send once claimed.
    await expect(page.locator("#reply-text")).to_have_value("On its way")
    assert await agent_replies(app, thread_id) == []
    assert page.errors == []  # type: ignore[attr-defined]
    await context.close()


# Three long suggested answers, as the knowledge base offers for a real question.
SUGGESTIONS = {
    "message_id": 1,
    "suggestions": [
        {
            "entry_id": f"e{n}",
            "question": "چه روش‌های پرداختی دارید؟",
            "answer": "با همهٔ کارت‌های بانکی عضو شتاب آنلاین پرداخت کنید؛ " * 4,
            "language": "fa",
            "score": 0.9,
        }
        for n in range(3)
    ],
}


@pytest.mark.parametrize(
    ("viewport", "scale", "lang"),
    [(LAPTOP, 1, "en"), (PHONE, 2, "fa"), (ZOOMED, 2, "fa")],
    ids=["1366x768", "360x740", "zoom200"],
)
async def test_the_conversation_keeps_its_height_and_every_page_tab_can_be_reached(
    browser: Browser,
    queued_server: tuple[str, AppContext],
    viewport: dict[str, int],
    scale: float,
    lang: str,
) -> None:
    """An admin (every page tab) with a long thread and three long suggested answers:
    the history is at least a third of the window, the reply box can be reached, and
    every page tab can be scrolled to and clicked, on a laptop, a phone and at 200%."""
    url, app = queued_server
    await add_agent(app, "boss@example.com", name="Boss", admin=True, language=lang)
    thread_id = await queued_thread(
        app, ["سلام، سفارش ۱۲۳۴ من کجاست؟ " * 3, "در حال بررسی است."], messages=8
    )
    context, page = await open_console(browser, url, "boss@example.com", viewport, scale=scale)

    async def suggest(route: Route) -> None:
        await route.fulfill(content_type="application/json", body=json.dumps(SUGGESTIONS))

    await page.route("**/api/v1/threads/*/suggestions", suggest)
    height = viewport["height"]
    tabs = page.locator(".page-tab:visible")
    assert await tabs.count() == 11  # every page an admin has
    for n in range(await tabs.count()):
        tab = tabs.nth(n)
        await tab.scroll_into_view_if_needed()
        assert await tab.evaluate(
            """(tab) => { const r = tab.getBoundingClientRect();
              const x = r.left + r.width / 2, y = r.top + r.height / 2;
              return x > 0 && x < innerWidth && y > 0 && y < innerHeight
                && tab.contains(document.elementFromPoint(x, y)); }"""
        ), f"page tab {n} cannot be reached"
    await tabs.last.click()
    await expect(tabs.last).to_have_attribute("aria-selected", "true")
    await page.locator('.page-tab[data-page="threads"]').click()

    await open_thread(page, thread_id)
    await expect(page.locator(".kb-suggestion")).to_have_count(3)
    history = await page.locator("#thread-scroll").evaluate("(e) => e.clientHeight")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=ARTIFACTS / f"console-thread-{viewport['width']}-{lang}.png")
    assert history >= height / 3, f"the history is {history} px of a {height} px window"
    reply = page.locator("#reply-text")
    if viewport is not ZOOMED:
        await expect(reply).to_be_in_viewport(ratio=1)
        await expect(page.locator("#reply-send")).to_be_in_viewport(ratio=1)
    await reply.scroll_into_view_if_needed()
    await expect(reply).to_be_in_viewport()
    # The window itself never scrolls sideways.
    assert await page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth")
    assert page.errors == []  # type: ignore[attr-defined]
    await context.close()


async def test_the_keyboard_scrolls_the_history(
    browser: Browser, queued_server: tuple[str, AppContext]
) -> None:
    url, app = queued_server
    await add_agent(app, "sara@example.com", name="Sara", language="en")
    thread_id = await queued_thread(app, ["A long question. " * 8, "An answer."], messages=10)
    context, page = await open_console(browser, url, "sara@example.com", DESKTOP)
    await open_thread(page, thread_id)
    pane = page.locator("#thread-scroll")
    await expect(pane).to_have_attribute("role", "log")
    await expect(pane).to_have_attribute("aria-label", "Conversation")
    # Tab from the last queue row reaches it after the thread's controls.
    await pane.focus()
    assert await page.evaluate("() => document.activeElement.id") == "thread-scroll"
    bottom = await pane.evaluate("(e) => e.scrollTop")
    assert bottom > 0  # opened at the newest message
    await page.keyboard.press("Home")
    await page.wait_for_function("() => document.getElementById('thread-scroll').scrollTop === 0")
    await page.keyboard.press("PageDown")
    await page.wait_for_function("() => document.getElementById('thread-scroll').scrollTop > 0")
    await context.close()


async def test_an_address_in_persian_text_stays_left_to_right_and_ends_before_punctuation(
    browser: Browser, queued_server: tuple[str, AppContext]
) -> None:
    url, app = queued_server
    await add_agent(app, "sara@example.com", name="Sara", language="fa")
    thread_id = await queued_thread(
        app,
        [
            "لینک پیگیری: https://example.com/track/42/ را باز کنید",
            "(https://example.com/b) و https://example.com/c، و https://en.wikipedia.org/wiki/A_(b).",
        ],
    )
    context, page = await open_console(browser, url, "sara@example.com", DESKTOP)
    await open_thread(page, thread_id)
    urls = page.locator("#history .msg .text bdi.url")
    await expect(urls).to_have_text(
        [
            "https://example.com/track/42/",
            "https://example.com/b",
            "https://example.com/c",
            "https://en.wikipedia.org/wiki/A_(b)",
        ]
    )
    # Drawn as written: the address's last "/" right of its "h", inside right-to-left text.
    first_and_last = await urls.first.evaluate(
        """(node) => { const text = node.firstChild, range = document.createRange();
          range.setStart(text, 0); range.setEnd(text, 1);
          const h = range.getBoundingClientRect().left;
          range.setStart(text, text.length - 1); range.setEnd(text, text.length);
          return [h, range.getBoundingClientRect().left]; }"""
    )
    assert first_and_last[1] > first_and_last[0], first_and_last
    # The whole message text is still there, character for character.
    await expect(page.locator("#history .msg .text").first).to_have_text(
        "لینک پیگیری: https://example.com/track/42/ را باز کنید"
    )
    await context.close()


def contrast(foreground: str, background: str) -> float:
    def luminance(colour: str) -> float:
        channels = [int(c) / 255 for c in colour[colour.index("(") + 1 : -1].split(",")[:3]]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("lang", ["en", "fa"])
async def test_tabs_queue_rows_focus_and_the_live_mark_work_for_keyboard_and_screen_readers(
    browser: Browser, queued_server: tuple[str, AppContext], lang: str
) -> None:
    url, app = queued_server
    await add_agent(app, "boss@example.com", name="Boss", admin=True, language=lang)
    thread_id = await queued_thread(app, ["Hello?"])
    context, page = await open_console(browser, url, "boss@example.com", DESKTOP)
    # Signing in moves focus to the console's heading, not the page's body.
    assert await page.evaluate("() => document.activeElement.id") == "console-heading"

    for tablist in (".pages", ".tabs"):
        roles = await page.locator(f"{tablist} > button").evaluate_all(
            "(tabs) => tabs.map((t) => t.getAttribute('role'))"
        )
        assert set(roles) == {"tab"}, roles
        await expect(page.locator(tablist)).to_have_attribute("role", "tablist")
    # Only the selected tab is in the Tab order; the arrow keys move along the reading
    # direction and select.
    await expect(page.locator('.tabs [tabindex="0"]')).to_have_attribute("data-view", "queue")
    await page.locator('.tab[data-view="queue"]').focus()
    await page.keyboard.press("ArrowLeft" if lang == "fa" else "ArrowRight")
    mine = page.locator('.tab[data-view="mine"]')
    await expect(mine).to_be_focused()
    await expect(mine).to_have_attribute("aria-selected", "true")
    await expect(page.locator("#queue-panel")).to_have_attribute("aria-labelledby", "view-tab-mine")
    await page.keyboard.press("Home")
    await expect(page.locator('.tab[data-view="queue"]')).to_have_attribute("aria-selected", "true")

    # A queue row is a button: Space opens it.
    row = page.locator(f'.thread-item[data-thread-id="{thread_id}"] button.thread-open')
    await row.focus()
    await page.keyboard.press("Space")
    await expect(page.locator("#thread-view")).to_be_visible()

    live = page.locator("#live")
    colours = await live.evaluate(
        "(e) => [getComputedStyle(e).color, getComputedStyle(e.closest('.topbar')).backgroundColor]"
    )
    assert contrast(*colours) >= 4.5, colours
    assert page.errors == []  # type: ignore[attr-defined]
    await context.close()


@pytest.mark.parametrize("lang", ["fa", "ar", "en"])
async def test_an_expired_session_says_so_and_keeps_the_draft(
    browser: Browser, queued_server: tuple[str, AppContext], lang: str
) -> None:
    url, app = queued_server
    sara = await add_agent(app, "sara@example.com", name="Sara", language=lang)
    thread_id = await queued_thread(app, ["Hello?"])
    await claim(url, app, sara, thread_id)
    context, page = await open_console(browser, url, "sara@example.com", DESKTOP)
    await open_thread(page, thread_id, "mine")
    await page.locator("#reply-text").fill("my unsent draft")
    async with app.sessions() as session, session.begin():
        await session.execute(
            update(ConsoleSession).values(expires_at=utcnow() - timedelta(minutes=1))
        )
    # A live event's reload of the thread (the claim's greeting delivered) can meet the
    # ended session first and show the sign-in before the click: the agent is told
    # either way, which is what the rest checks.
    with contextlib.suppress(PlaywrightTimeoutError):
        await page.locator("#reply-send").click(timeout=5_000)
    await expect(page.locator("#signin")).to_be_visible()
    await expect(page.locator("#signin-error")).to_have_text(SESSION_ENDED[lang])
    await submit_sign_in(page, "sara@example.com")  # the same page: no reload
    await expect(page.locator("#reply-text")).to_have_value("my unsent draft")
    async with app.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(Message).where(Message.author_kind == "agent")
        )
    assert count == 0
    assert page.errors == []  # type: ignore[attr-defined]
    await context.close()
