"""The console's "Gaps" and "Knowledge base" pages in headless Chromium: an admin
working in Persian sees a question the bot could not answer as a gap topic, adds it as a
phrasing of an entry from there (the editor opens prefilled, right-to-left), saves, and
the bot then answers that question; the entry's history shows the change and restores
the version before it."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from bot import build_responder
from config.settings import Settings
from router.core.messages import utcnow
from router.core.security import new_token, token_hash
from router.storage.models import ApiToken, KnowledgeGapRecord
from tests.agent_support import eventually
from tests.browser_support import sign_in_to_console
from tests.conftest import AppFactory
from tests.console_support import add_agent
from tests.test_bot_end_to_end import ApiCustomer
from tests.test_console_sla_browser import csp_watch
from tests.test_knowledge_gaps_semantic import EGG, HIRING, tiny_kb

pytestmark = pytest.mark.browser

QUESTION = "با ارز دیجیتال هم می‌شود حساب کرد؟"  # "can I settle in crypto too?"
PAYMENT_ANSWER = "شتاب"  # a word of the payment-methods entry's Persian answer


@pytest.mark.timeout(300)
async def test_an_admin_turns_a_gap_into_phrasings_and_the_bot_answers_it(
    browser: Browser, start_app: AppFactory, settings: Settings
) -> None:
    client, context = await start_app(settings)  # the default bot, answering from the DB's KB
    await add_agent(context, "boss@example.com", admin=True)
    token = new_token("pk_int")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name="shop", token_hash=token_hash(token)))
    before = await ApiCustomer(client, token, "c1").say(QUESTION)
    assert PAYMENT_ANSWER not in before["text"], before

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.add_init_script("localStorage.setItem('pasokh.console.lang', 'fa')")
    problems = csp_watch(page)
    await sign_in_to_console(page, str(client.make_url("/")).rstrip("/"), "boss@example.com")
    assert await page.evaluate("document.documentElement.dir") == "rtl"

    gaps_tab = page.locator('.page-tab[data-page="gaps"]')
    await expect(gaps_tab).to_have_text("پرسش‌های بی‌پاسخ")
    await gaps_tab.click()
    topic = page.locator(".gap-topic").filter(has_text=QUESTION)
    await expect(topic).to_be_visible()
    await topic.locator(".gaps-entry").select_option("payment-methods")
    await topic.locator(".gaps-add").click()

    editor = page.locator("#kb-editor")
    await expect(editor).to_be_visible()
    persian = editor.locator('textarea[data-kb-questions="fa"]')
    assert await persian.get_attribute("dir") == "rtl"
    assert await editor.locator('textarea[data-kb-questions="en"]').get_attribute("dir") == "ltr"
    before_edit = "چه روش‌های پرداختی دارید؟\nپرداخت در محل دارید؟"
    await expect(persian).to_have_value(before_edit + "\n" + QUESTION)
    await page.locator("#kb-save").click()
    history = page.locator("#kb-history")
    await expect(history.locator("tbody tr").first).to_contain_text("questions.fa")

    asked = 1

    async def bot_answers() -> bool:
        nonlocal asked
        asked += 1
        reply = await ApiCustomer(client, token, f"c{asked}").say(QUESTION)
        return PAYMENT_ANSWER in reply["text"]

    await eventually(bot_answers, timeout=90)

    # The version before the change comes back from the history.
    await history.locator("tbody tr").nth(1).locator(".kb-restore").click()
    await expect(history.locator("tbody tr").first).to_contain_text("restored version")
    await expect(page.locator('#kb-editor textarea[data-kb-questions="fa"]')).to_have_value(
        before_edit
    )
    assert problems == []


async def test_many_gap_topics_each_show_their_examples_and_actions_unclipped(
    browser: Browser, start_app: AppFactory, settings: Settings
) -> None:
    """More topics than the window holds: the page scrolls, no card is squeezed."""
    from router.core.messages import utcnow
    from router.storage.models import KnowledgeGapRecord

    client, context = await start_app(settings)
    await add_agent(context, "boss@example.com", admin=True)
    questions = (
        "با ارز دیجیتال هم می‌شود حساب کرد؟",
        "Do you ship to Herat?",
        "هل عندكم فرع في جدة؟",
        "Can I rent a laptop for a week?",
        "گارانتی باتری چند ماه است؟",
        "Is there a student discount?",
    )
    async with context.sessions() as session, session.begin():
        for text in questions:
            session.add(KnowledgeGapRecord(text=text, language=None, created_at=utcnow()))
    page = await browser.new_page(viewport={"width": 1200, "height": 760})
    await sign_in_to_console(page, str(client.make_url("/")).rstrip("/"), "boss@example.com")
    await page.locator('.page-tab[data-page="gaps"]').click()
    topics = page.locator(".gap-topic")
    await expect(topics.first).to_be_visible()
    assert await topics.count() >= 4
    squeezed = await page.evaluate(
        """() => [...document.querySelectorAll('.gap-topic')]
            .filter((card) => card.scrollHeight > card.clientHeight + 1)
            .map((card) => card.dataset.topic)"""
    )
    assert squeezed == []
    # Each topic is named by a question it holds, not by the matcher's features.
    titles = await topics.locator("h3").all_inner_texts()
    assert titles and set(titles) <= set(questions), titles
    await expect(page.locator("#gaps-since option:checked")).to_have_text("Last 7 days")


@pytest.mark.timeout(300)
async def test_another_admins_save_shows_live_and_never_replaces_unsaved_text(
    browser: Browser, start_app: AppFactory, settings: Settings
) -> None:
    """A second admin saves through the API while the first has the pages open: the list
    and the gaps page's entry picker re-read themselves; an entry open in the editor with
    typed text gets a notice instead, and the typed text stays until the admin chooses."""
    from tests.agent_support import api, make_agent

    client, context = await start_app(settings)
    await add_agent(context, "boss@example.com", admin=True)
    other = await make_agent(context, "Other", is_admin=True)
    entries = "/api/v1/knowledge/entries"

    async def save_elsewhere(entry_id: str, **change: object) -> int:
        status, body = await api(client, "GET", f"{entries}/{entry_id}", other)
        assert status == 200, body
        edit = {
            k: v for k, v in body["entry"].items() if k not in ("updated_at", "updated_by")
        } | change
        status, body = await api(client, "PUT", f"{entries}/{entry_id}", other, json=edit)
        assert status == 200, body
        return int(body["entry"]["version"])

    async def add_elsewhere(entry_id: str) -> None:
        new = {"id": entry_id, "questions": {"en": ["do you rent bikes?"]}, "answers": {"en": "no"}}
        status, body = await api(client, "POST", entries, other, json=new)
        assert status in (200, 201), body

    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    problems = csp_watch(page)
    await sign_in_to_console(page, str(client.make_url("/")).rstrip("/"), "boss@example.com")
    await expect(page.locator('#live[data-state="on"]')).to_be_visible()

    # The gaps page: the entry picker learns an entry added elsewhere.
    async with context.sessions() as session, session.begin():
        from router.core.messages import utcnow
        from router.storage.models import KnowledgeGapRecord

        gap = KnowledgeGapRecord(text="do you rent bikes?", language="en", created_at=utcnow())
        session.add(gap)
    await page.locator('.page-tab[data-page="gaps"]').click()
    picker = page.locator(".gap-topic .gaps-entry").first
    await expect(picker).to_be_visible()
    await add_elsewhere("bike-rental")
    await expect(picker.locator('option[value="bike-rental"]')).to_have_count(1)

    # The list: another admin's save shows without navigation.
    await page.locator('.page-tab[data-page="knowledge"]').click()
    returns_row = page.locator('#kb-list tr[data-entry="returns"]')
    await expect(returns_row).to_be_visible()
    await save_elsewhere("returns", tags=["changed-elsewhere"])
    await expect(returns_row).to_contain_text("changed-elsewhere")

    # The editor, untouched: it simply shows the newer version.
    await returns_row.locator("button").click()
    answer = page.locator('#kb-editor textarea[data-kb-answer="en"]')
    await expect(answer).to_be_visible()
    await save_elsewhere("returns", tags=["second-change"])
    await expect(page.locator("#kb-tags")).to_have_value("second-change")
    await expect(page.locator("#kb-conflict")).to_be_hidden()

    # The editor with typed text: a notice, and the text stays.
    typed = (await answer.input_value()) + " Typed by the first admin."
    await answer.fill(typed)
    version = await save_elsewhere("returns", tags=["third-change"])
    notice = page.locator("#kb-conflict")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("Someone else changed this entry")
    await expect(notice).to_contain_text(str(version))
    await expect(answer).to_have_value(typed)
    await expect(page.locator("#kb-tags")).to_have_value("second-change")

    # Keep editing: saving then replaces their version with what the admin sees.
    await page.locator("#kb-conflict-keep").click()
    await expect(notice).to_be_hidden()
    await page.locator("#kb-save").click()
    # The saved version's own row (a time in another row's date column can hold the digit).
    saved_row = page.locator(f'#kb-history tbody tr[data-version="{version + 1}"]')
    await expect(saved_row).to_have_count(1)
    _, body = await api(client, "GET", f"{entries}/returns", other)
    assert body["entry"]["answers"]["en"] == typed.strip()
    assert body["entry"]["version"] == version + 1

    # Reload: their change replaces the typed text.
    await answer.fill("Typed again.")
    await save_elsewhere("returns", answers={**body["entry"]["answers"], "en": "Their answer."})
    await expect(notice).to_be_visible()
    await page.locator("#kb-conflict-reload").click()
    await expect(page.locator('#kb-editor textarea[data-kb-answer="en"]')).to_have_value(
        "Their answer."
    )
    assert problems == []


@pytest.mark.timeout(300)
async def test_gap_topics_grouped_by_meaning_when_the_semantic_extra_is_on(
    browser: Browser, start_app: AppFactory, settings: Settings, tmp_path: Path
) -> None:
    """With the extra on, a question asked in Persian, Arabic and English is one card
    (the matcher's words read it as three) and an unrelated one is another."""
    bot = build_responder(faq_path=tiny_kb(tmp_path), embedding_reranker=True)
    client, context = await start_app(settings, responder=bot)
    await add_agent(context, "boss@example.com", admin=True)
    async with context.sessions() as session, session.begin():
        for text, language in (*HIRING, EGG):
            session.add(KnowledgeGapRecord(text=text, language=language, created_at=utcnow()))
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    await page.add_init_script("localStorage.setItem('pasokh.console.lang', 'ar')")
    problems = csp_watch(page)
    await sign_in_to_console(page, str(client.make_url("/")).rstrip("/"), "boss@example.com")
    await page.locator('.page-tab[data-page="gaps"]').click()
    # The first report embeds its questions (seconds on a loaded core).
    await expect(page.locator("#gaps-grouping")).to_have_text(
        "الأسئلة مجمّعة حسب المعنى عبر اللغات (النموذج الدلالي).", timeout=120_000
    )
    cards = page.locator(".gap-topic")
    await expect(cards).to_have_count(2)
    hiring = cards.filter(has_text=HIRING[0][0])
    await expect(hiring.locator(".gap-examples li")).to_have_text(
        [text for text, _ in reversed(HIRING)],  # newest first
        use_inner_text=True,
    )
    await expect(hiring.locator("h3")).to_have_text(HIRING[2][0])  # the admin's language
    await expect(cards.filter(has_text=EGG[0]).locator(".gap-examples li")).to_have_count(1)
    assert problems == []
