"""The channel adapter seam (Rasa's InputChannel/OutputChannel split, one class)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from router.core.messages import (
    AttachmentRef,
    AuthorKind,
    DeliveryResult,
    IngestFn,
    OutboundMessage,
)

if TYPE_CHECKING:
    from aiohttp import web

    from router.core.attachments import AttachmentStore
    from router.core.events import EventBus


class ChannelUnavailable(Exception):
    """The channel cannot take work right now (network down, relay refusing)."""


@dataclass(frozen=True, slots=True)
class ConversationMessage:
    """A message of a customer's conversation as a channel may show it back to them."""

    id: int
    thread_id: int
    author: AuthorKind
    text: str
    channel: str
    created_at: datetime
    author_name: str | None = None
    suggestions: tuple[str, ...] = ()
    attachments: tuple[AttachmentRef, ...] = ()


@dataclass(frozen=True, slots=True)
class ConversationLocation:
    """Which customer and open (or latest) thread an identity belongs to."""

    customer_id: int
    thread_id: int | None
    identity_id: int


class ConversationReader(Protocol):
    """Read-only view of a customer's conversation, for channels that show history."""

    async def locate(self, channel: str, address: str) -> ConversationLocation | None:
        """The identity's customer and current thread; None for an unknown identity."""
        ...

    async def history(
        self, channel: str, address: str, *, after_id: int | None = None, limit: int = 50
    ) -> list[ConversationMessage]:
        """Messages (oldest first, no internal notes) of the identity's customer's threads."""
        ...

    async def message(self, message_id: int) -> ConversationMessage | None:
        """One stored message (never an internal note)."""
        ...


@dataclass(frozen=True, slots=True)
class ChannelServices:
    """What the router lends an adapter at start: the only doors into the core."""

    ingest: IngestFn
    events: EventBus
    attachments: AttachmentStore
    conversation: ConversationReader


class ChannelSender(Protocol):
    """The outbound half of a channel: all the outbox worker needs."""

    name: str

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Deliver one outbound message; never raise for channel errors."""
        ...


class ChannelAdapter(ChannelSender, Protocol):
    """One channel: receives into `ingest`, sends what the outbox hands it."""

    async def start(self, services: ChannelServices) -> None:
        """Start receiving; raise RuntimeError if already started."""
        ...

    async def stop(self) -> None:
        """Stop receiving and drain in-flight work; a no-op when stopped."""
        ...

    def routes(self) -> list[web.AbstractRouteDef]:
        """HTTP routes this channel serves (webhooks, sockets); may be empty."""
        ...
