"""The channel adapter seam (Rasa's InputChannel/OutputChannel split, one class)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from router.model import DeliveryResult, IngestFn, OutboundMessage

if TYPE_CHECKING:
    from aiohttp import web

    from router.attachments import AttachmentStore
    from router.events import EventBus


class ChannelUnavailable(Exception):
    """The channel cannot take work right now (network down, relay refusing)."""


@dataclass(frozen=True, slots=True)
class ChannelServices:
    """What the router lends an adapter at start: the only doors into the core."""

    ingest: IngestFn
    events: EventBus
    attachments: AttachmentStore
    # Optional doors a channel may need; the router fills the ones it offers.
    conversation: Callable[..., Awaitable[object]] | None = None


class ChannelAdapter(Protocol):
    """One channel: receives into `ingest`, sends what the outbox hands it."""

    name: str

    async def start(self, services: ChannelServices) -> None:
        """Start receiving; raise RuntimeError if already started."""
        ...

    async def stop(self) -> None:
        """Stop receiving and drain in-flight work; a no-op when stopped."""
        ...

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Deliver one outbound message; never raise for channel errors."""
        ...

    def routes(self) -> list[web.AbstractRouteDef]:
        """HTTP routes this channel serves (webhooks, sockets); may be empty."""
        ...
