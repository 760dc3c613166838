"""Helpers for the Telegram tests: a recording ingest, services, a webhook host."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from channels.base import ChannelServices
from channels.telegram import TelegramAdapter
from config.settings import TelegramSettings
from router.core.attachments import AttachmentStore
from router.core.events import InProcessEventBus
from router.core.messages import (
    ConversationLocation,
    ConversationMessage,
    InboundMessage,
    IngestResult,
)
from tests.fake_telegram import FAKE_TOKEN, ApiCall, FakeTelegram


@dataclass
class RecordingIngest:
    """Stands in for `router.core.ingest`: keeps what it got, dedupes like the router does.

    `fail_next` makes that many calls raise (as if the transaction did not commit);
    `observe()`, if set, is called on every call and its value kept in `observed`.
    """

    stored: list[InboundMessage] = field(default_factory=list)
    calls: list[InboundMessage] = field(default_factory=list)
    fail_next: int = 0
    observe: Callable[[], object] | None = None
    observed: list[object] = field(default_factory=list)

    async def __call__(self, message: InboundMessage) -> IngestResult:
        self.calls.append(message)
        if self.observe is not None:
            self.observed.append(self.observe())
        if self.fail_next > 0:
            self.fail_next -= 1
            raise RuntimeError("database unavailable (test)")
        for index, seen in enumerate(self.stored, start=1):
            if (seen.channel, seen.external_id) == (message.channel, message.external_id):
                return IngestResult(index, 1, 1, duplicate=True)
        self.stored.append(message)
        return IngestResult(len(self.stored), 1, 1)

    @property
    def texts(self) -> list[str]:
        return [message.text for message in self.stored]


class NoConversation:
    """The Telegram channel does not read history; this satisfies the seam."""

    async def locate(self, channel: str, address: str) -> ConversationLocation | None:
        return None

    async def history(
        self, channel: str, address: str, *, after_id: int | None = None, limit: int = 50
    ) -> list[ConversationMessage]:
        return []

    async def message(self, message_id: int) -> ConversationMessage | None:
        return None

    async def messages_by_id(self, message_ids: Sequence[int]) -> list[ConversationMessage]:
        return []


def make_services(ingest: RecordingIngest, attachments_root: Path) -> ChannelServices:
    return ChannelServices(
        ingest=ingest,
        events=InProcessEventBus(),
        attachments=AttachmentStore(attachments_root),
        conversation=NoConversation(),
    )


def telegram_values(fake: FakeTelegram, **changes: Any) -> dict[str, Any]:
    """The `[telegram]` section pointing at the fake server, with short waits for tests."""
    values: dict[str, Any] = {
        "token": FAKE_TOKEN,
        "api_url": fake.api_url,
        "poll_timeout": 1,
        "chat_interval": 0.0,
        "leader_retry_interval": 0.2,
    }
    values.update(changes)
    return values


def telegram_settings(fake: FakeTelegram, **changes: Any) -> TelegramSettings:
    """Settings for an adapter tested alone, pointing at the fake server."""
    return TelegramSettings(**telegram_values(fake, **({"max_retry_wait": 5.0} | changes)))


def replies_to(fake: FakeTelegram, chat: int) -> list[ApiCall]:
    """What the bot sent `chat` so far."""
    return [call for call in fake.sent() if call.chat_id == chat]


def bound_socket() -> socket.socket:
    """A listening-ready loopback socket on a free port (so the URL is known early)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@asynccontextmanager
async def webhook_host(
    make_adapter: Any, services: ChannelServices
) -> AsyncIterator[tuple[TelegramAdapter, str]]:
    """Serve a webhook-mode adapter's routes on loopback; yields (adapter, base URL).

    `make_adapter(public_url)` builds the adapter once the port is known.
    """
    sock = bound_socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    adapter: TelegramAdapter = make_adapter(base)
    app = web.Application()
    app.router.add_routes(adapter.routes())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    await adapter.start(services)
    try:
        yield adapter, base
    finally:
        await adapter.stop()
        await runner.cleanup()
