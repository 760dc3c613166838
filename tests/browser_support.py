"""Debian's Chromium driven by Playwright, the one way every browser test starts it."""

from __future__ import annotations

import asyncio
import atexit
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.console_support import PASSWORD

CHROMIUM = "/usr/bin/chromium"
# As root Chromium needs --no-sandbox; the network flags stop it calling home on a
# machine with no network (its refused connections slow every start otherwise). The
# rest are what Playwright's own launch passes for automation: no throttling of timers
# or rendering in a page that is not in front (a test drives two or three at once), no
# pop-up blocking, no first-run or keychain prompts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-field-trial-config",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--disable-back-forward-cache",
    "--disable-breakpad",
    "--disable-default-apps",
    "--disable-dev-shm-usage",
    "--disable-extensions",
    "--disable-hang-monitor",
    "--disable-ipc-flooding-protection",
    "--disable-popup-blocking",
    "--disable-prompt-on-repost",
    "--disable-search-engine-choice-screen",
    "--metrics-recording-only",
    "--password-store=basic",
    "--use-mock-keychain",
    "--force-color-profile=srgb",
    "--hide-scrollbars",
    "--mute-audio",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
# Every test starts Playwright's Node driver afresh (its objects belong to the test's own
# event loop), and most of that start is compiling the driver's JavaScript: Node keeps
# the compiled code here for the next start (about a fifth of the driver's CPU).
NODE_COMPILE_CACHE = Path(tempfile.gettempdir()) / "pasokh-playwright-compile-cache"


class SharedChromium:
    """One Chromium process for all the browser tests of one test process.

    Starting Chromium costs more CPU than most browser tests' own work; each test
    connects to this one instead and works in contexts of its own (cookies, storage
    and permissions apart), which it closes when it disconnects. Started on first use,
    started again if it died, killed when the test process exits.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._profile: Path | None = None
        self._endpoint = ""
        atexit.register(self.stop)

    async def endpoint(self) -> str:
        if self._process is None or self._process.poll() is not None:
            self._endpoint = await asyncio.to_thread(self._start)
        return self._endpoint

    def _start(self) -> str:
        self.stop()
        self._profile = Path(tempfile.mkdtemp(prefix="pasokh-chromium-"))
        self._process = subprocess.Popen(
            [
                CHROMIUM,
                *CHROMIUM_ARGS,
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Chromium writes the port it chose (and the browser's path) here once it listens.
        port_file = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self._process.poll() is None:
            lines = port_file.read_text().split() if port_file.exists() else []
            if len(lines) == 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.05)
        raise RuntimeError(f"{CHROMIUM} did not start listening for a debugger")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._process = None
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None


_SHARED = SharedChromium()


@asynccontextmanager
async def running_chromium() -> AsyncIterator[Browser]:
    """Debian's headless Chromium, connected for this test: what the test opened in it
    is closed on exit."""
    endpoint = await _SHARED.endpoint()
    os.environ.setdefault("NODE_COMPILE_CACHE", str(NODE_COMPILE_CACHE))
    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(endpoint)
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


async def open_console(
    browser: Browser,
    url: str,
    email: str,
    viewport: dict[str, int],
    password: str = PASSWORD,
    *,
    scale: float = 1,
) -> tuple[BrowserContext, Page]:
    """A new browser context of `viewport` (`scale`: device pixels per CSS pixel, 2 for
    a 200% zoom) signed in to the console at `url` as `email`, its socket live. The
    page's script errors collect in `page.errors`."""
    context = await browser.new_context(
        viewport=viewport,  # type: ignore[arg-type]
        device_scale_factor=scale,
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.errors = errors  # type: ignore[attr-defined]
    await page.goto(f"{url}/console")
    await submit_sign_in(page, email, password)
    return context, page


async def submit_sign_in(page: Page, email: str, password: str = PASSWORD) -> None:
    """Fill in and send the sign-in form the page shows; wait for the live console."""
    await page.locator("#signin-email").fill(email)
    await page.locator("#signin-password").fill(password)
    await page.locator("#signin-submit").click()
    await expect(page.locator("#console")).to_be_visible()
    await expect(page.locator("#live")).to_have_attribute("data-state", "on")
