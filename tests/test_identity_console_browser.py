"""An unproven claim shows in the agent console as a hint; an admin merges by hand."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Dialog, expect

from config.settings import Settings
from tests.browser_support import running_chromium, sign_in_to_console
from tests.console_support import add_agent
from tests.email_support import FakeRelay, make_mail
from tests.identity_support import EMAIL, say, start_identity_app
from tests.webchat_fakes import next_frame, next_reply

pytestmark = pytest.mark.browser

SARA = "sara@example.ir"


async def test_admin_merges_a_claimed_customer_from_the_console(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    app = await start_identity_app(start_app, settings, relay)
    await app.mail(make_mail(sender=f"Sara <{SARA}>", body="order 55 is late"), mail_from=SARA)
    await app.relayed(1)
    sara = await app.customer_of("email", SARA)
    token = await app.visitor()
    ws = await app.connect(token)
    await next_frame(ws, "history")
    await say(ws, "I am Sara, order 55", "v1")
    await next_reply(ws)
    await ws.close()
    assert (await app.post(EMAIL, token, {"email": SARA}))[0] == 202
    await add_agent(app.context, "boss@example.com", admin=True)
    url = str(app.client.make_url("/")).rstrip("/")

    async with running_chromium() as chromium:
        page = await chromium.new_page(viewport={"width": 1280, "height": 860})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        dialogs: list[str] = []

        async def accept(dialog: Dialog) -> None:
            dialogs.append(dialog.message)
            await dialog.accept()

        page.on("dialog", accept)
        await sign_in_to_console(page, url, "boss@example.com")
        await page.locator("#thread-list .thread-item", has_text="I am Sara").click()
        claims = page.locator("#claims")
        await expect(claims).to_contain_text(f"Claims {SARA}")
        await expect(claims).to_contain_text("not proven")
        await expect(page.locator("#identities")).not_to_contain_text(SARA)

        await claims.locator("button.merge").click()
        await expect(page.locator("#identities")).to_contain_text(SARA)
        await expect(page.locator("#history")).to_contain_text("order 55 is late")
        await expect(claims.locator("button.merge")).to_have_count(0)
        assert dialogs and "Merge customer" in dialogs[0]
        assert errors == []
    merged = await app.customer_of("email", SARA)
    assert merged == sara
    assert await app.customer_of("webchat", _address(app, token)) == sara


def _address(app: Any, token: str) -> str:
    return str(app.address_of(token))
