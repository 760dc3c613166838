"""Debian's Chromium driven by Playwright, the one way every browser test starts it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, Page, async_playwright, expect

from tests.console_support import PASSWORD

CHROMIUM = "/usr/bin/chromium"
# As root Chromium needs --no-sandbox; the network flags stop it calling home on a
# machine with no network (its refused connections slow every start otherwise).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


@asynccontextmanager
async def running_chromium() -> AsyncIterator[Browser]:
    """A headless Chromium, closed on exit."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def sign_in_to_console(page: Page, base_url: str, email: str) -> None:
    """Open the console at `base_url` and sign in as `email` (password `PASSWORD`)."""
    await page.goto(f"{base_url}/console")
    await page.locator("#signin-email").fill(email)
    await page.locator("#signin-password").fill(PASSWORD)
    await page.locator("#signin-submit").click()
    await expect(page.locator("#console")).to_be_visible()
