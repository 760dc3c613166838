"""Web chat clients from several loopback source addresses (127.0.0.x), each its own
client address to the per-address limits, against a real app on loopback."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from config.settings import Settings
from router.context import AppContext
from tests.conftest import AppFactory


class LoopbackClient:
    """HTTP and WebSocket requests from one loopback source address."""

    def __init__(self, base: str, ip: str) -> None:
        self.base, self.ip = base, ip
        connector = aiohttp.TCPConnector(limit=0, local_addr=(ip, 0))
        self.http = aiohttp.ClientSession(connector=connector)

    async def token(self) -> str:
        """A fresh anonymous visitor token."""
        async with self.http.post(self.base + "/api/v1/webchat/sessions", json={}) as response:
            assert response.status == 200, await response.text()
            token: str = (await response.json())["visitor_token"]
            return token

    async def open(self, token: str) -> aiohttp.ClientWebSocketResponse:
        return await self.http.ws_connect(self.base + "/ws/webchat", params={"token": token})


@contextlib.asynccontextmanager
async def webchat_clients(
    start_app: AppFactory, settings: Settings, first: int, **webchat: Any
) -> AsyncIterator[tuple[str, AppContext, list[LoopbackClient]]]:
    """The app with the web chat on (`webchat` settings changed, email off), and
    clients from 127.0.0.`first` and the two addresses after it."""
    settings = settings.replace("webchat", enabled=True, **webchat).replace("email", enabled=False)
    client, context = await start_app(settings)
    base = str(client.make_url("")).rstrip("/")
    clients = [LoopbackClient(base, f"127.0.0.{first + n}") for n in range(3)]
    try:
        yield base, context, clients
    finally:
        for each in clients:
            await each.http.close()
