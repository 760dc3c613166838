"""Bidi controls in what customers send cannot reorder what agents read.

A name or file name with U+202E RIGHT-TO-LEFT OVERRIDE («invoice_\u202efdp.exe» shows
as "invoice_exe.pdf») is stored without it; and whatever reaches the console from a
customer or a remote server is laid out in its own bidi isolate, so even a row
stored before that rule, or a relay's answer, cannot reverse the sentence around it.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from playwright.async_api import Page, expect

from config.settings import Settings
from router.core.messages import AuthorKind, DeliveryResult, Direction
from router.core.outbound_messages import attachments_to_json
from router.core.responder import QueueEveryThread
from router.storage.models import Message
from tests.browser_support import running_chromium, sign_in_to_console
from tests.conftest import AppFactory
from tests.console_support import add_agent, agent_token
from tests.support import FakeAdapter
from tests.test_console_delivery_browser import dead_reply

pytestmark = pytest.mark.browser

RLO = "\u202e"
REFUSAL = f"550 <{RLO}moc.elpmaxe@aras> unknown"


async def unicode_bidi(page: Page, selector: str) -> str:
    """How the browser lays out the first element `selector` finds (CSS unicode-bidi)."""
    style: str = await page.locator(selector).first.evaluate(
        "(node) => getComputedStyle(node).unicodeBidi"
    )
    return style


async def test_bidi_overrides_from_customers_do_not_reverse_the_console(
    settings: Settings, start_app: AppFactory
) -> None:
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    assert adapter.services is not None
    invoice = await adapter.services.attachments.put(
        b"MZ", filename=f"invoice_{RLO}fdp.exe", content_type="application/octet-stream"
    )
    result = await adapter.push(
        "Here is the invoice",
        sender="sara@example.ir",
        sender_name=f"Sara {RLO}nimda",
        attachments=(invoice,),
        language="en",
    )
    # A row stored before names were cleaned keeps its override; the console isolates it.
    async with context.sessions() as session, session.begin():
        session.add(
            Message(
                thread_id=result.thread_id,
                customer_id=result.customer_id,
                direction=Direction.INBOUND,
                author_kind=AuthorKind.CUSTOMER,
                channel="fake",
                external_id="old-row",
                text="older file",
                attachments=attachments_to_json((replace(invoice, filename=f"old_{RLO}fdp.exe"),)),
            )
        )
    # Free text keeps what was written, overrides too: the console drops them on display.
    await adapter.push(f"please open my invoice_{RLO}fdp.exe", sender="sara@example.ir")
    admin_id = await add_agent(context, "boss@example.com", name="Boss", admin=True)
    token = await agent_token(context, admin_id)
    headers = {"Authorization": f"Bearer {token}"}
    tagged = await client.post(
        f"/api/v1/customers/{result.customer_id}/tags", json={"tag": f"{RLO}piv"}, headers=headers
    )
    assert tagged.ok, await tagged.text()
    assert (await client.post(f"/api/v1/threads/{result.thread_id}/claim", headers=headers)).ok
    await adapter.wait_sent(1)
    adapter.fail_next = [DeliveryResult.failed(REFUSAL, identity_unreachable=True)]
    reply = await client.post(
        f"/api/v1/threads/{result.thread_id}/messages", json={"text": "Thanks"}, headers=headers
    )
    assert reply.status == 201
    assert await dead_reply(context) is not None

    url = str(client.make_url("/")).rstrip("/")
    async with running_chromium() as chromium:
        page = await chromium.new_page(viewport={"width": 1280, "height": 860})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await sign_in_to_console(page, url, "boss@example.com")
        await page.locator('.tab[data-view="all"]').click()
        await page.locator("#thread-list .thread-item").first.click()
        history = page.locator("#history")
        await expect(history.locator(".delivery-failed")).to_have_count(1)

        # Stored plain: the name and the file name reached the DOM without the override.
        await expect(page.locator("#customer-name")).to_have_text("Sara nimda")
        await expect(page.locator("#thread-list .name").first).to_have_text("Sara nimda")
        links = history.locator(".attachment a")
        await expect(links.first).to_have_text("Attachment: invoice_fdp.exe (2 bytes)")
        shown = await page.evaluate(
            "() => ['#thread-list', '#customer-name', '#identities .address']"
            ".map((s) => document.querySelector(s).textContent).join('')"
        )
        assert RLO not in shown

        # Every customer-supplied piece is laid out isolated.
        for selector in ("#customer-name", "#thread-list .name", ".msg.author-customer .author"):
            assert await unicode_bidi(page, selector) in ("isolate", "plaintext"), selector
        for selector in (
            "#history .attachment bdi",
            "#history .delivery-failed bdi",
            "#identities .unreachable bdi",
        ):
            assert await unicode_bidi(page, selector) == "isolate", selector

        # Overrides in free text, in an agent's tag and in a row stored before names were
        # cleaned are gone from the page: nothing reads reversed.
        await expect(
            history.locator(".msg .text").filter(has_text="please open my invoice")
        ).to_have_text("please open my invoice_fdp.exe")
        everything = await page.evaluate("() => document.body.textContent")
        assert RLO not in everything
        # The sentence around a file name reads left to right, "Attachment: " first and
        # "(2 bytes)" last, not reversed.
        old = links.last
        await expect(old.locator("bdi").first).to_have_text("old_fdp.exe")
        boxes = await old.evaluate(
            """(link) => [...link.childNodes].map((node) => {
              const range = document.createRange();
              range.selectNodeContents(node);
              const box = range.getBoundingClientRect();
              return [box.left, box.right];
            })"""
        )
        assert len(boxes) == 5  # "Attachment: ", name, " (", size, " bytes)"
        for before, after in itertools.pairwise(boxes):
            assert before[1] <= after[0] + 1, boxes

        # An agent's tag on the customer list: "piv" as stored order, not "vip".
        await page.locator('.page-tab[data-page="customers"]').click()
        await expect(page.locator("#customer-list .badge.tag").first).to_have_text("piv")
        assert errors == []
