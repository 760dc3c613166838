"""The console page, refused a live socket because its session holds as many as it may,
waits before trying again instead of reconnecting in a loop, and is live again once a
slot is free. Debian's Chromium driven by Playwright, against the real app."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Browser, WebSocket, expect

from config.settings import Settings
from router.core.responder import QueueEveryThread
from tests.agent_support import eventually
from tests.conftest import AppFactory
from tests.console_support import add_agent
from tests.test_console_browser import new_context, sign_in_console
from tests.test_webchat_socket_caps import metric

pytestmark = pytest.mark.browser


async def test_a_refused_console_waits_before_it_reconnects(
    start_app: AppFactory, settings: Settings, browser: Browser
) -> None:
    settings = settings.replace("console", max_sockets_per_session=1)
    client, context = await start_app(
        settings.replace("webchat", enabled=False).replace("email", enabled=False),
        responder=QueueEveryThread(),
    )
    base = str(client.make_url("/")).rstrip("/")
    await add_agent(context, "sara@example.com")
    tabs = await new_context(browser)
    first = await sign_in_console(tabs, base, "sara@example.com")  # holds the one socket

    second = await tabs.new_page()  # another tab of the same session
    opened: list[float] = []

    def on_socket(socket: WebSocket) -> None:
        if socket.url.endswith("/ws/console"):
            opened.append(time.monotonic())

    second.on("websocket", on_socket)
    await second.goto(f"{base}/console")
    await expect(second.locator("#console")).to_be_visible()
    await expect(second.locator("#live")).to_have_attribute("data-state", "off")
    code = "too_many_session_sockets"

    async def refused() -> bool:
        return await metric(base, "pasokh_console_refused_total", code=code) == 1

    await eventually(refused)
    await first.page.close()  # its slot is free from now on

    # The refused tab comes back on its own, after a wait of seconds (8 s or more, less
    # its jitter), not half a second later.
    await expect(second.locator("#live")).to_have_attribute("data-state", "on", timeout=40_000)
    assert len(opened) == 2, opened
    assert opened[1] - opened[0] >= 4.0, opened
    assert await metric(base, "pasokh_console_refused_total", code=code) == 1
    await tabs.close()
