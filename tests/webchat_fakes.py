"""A small in-memory router for the web chat adapter's tests: ingest + conversation reader.

It keeps messages in lists, dedupes on (channel, external_id) like the real ingest,
publishes `MessageStored` after "commit", and can answer like a bot in the same
"transaction" (as the router does when the responder answers at once).
"""

from __future__ import annotations

import asyncio
import itertools
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import ClientWebSocketResponse, web
from sqlalchemy import select

from channels.base import ChannelServices
from channels.webchat import WebchatAdapter
from config.settings import WebchatSettings
from router.context import AppContext
from router.core.attachments import AttachmentStore
from router.core.events import InProcessEventBus, MessageStored
from router.core.messages import (
    AttachmentRef,
    AuthorKind,
    ConversationLocation,
    ConversationMessage,
    InboundMessage,
    IngestResult,
    utcnow,
)
from router.core.outbound_messages import enqueue_outbound
from router.storage.models import Thread

SECRET = "test-secret-key-not-for-production"

BotReply = Callable[[InboundMessage], tuple[str, tuple[str, ...]] | None]


@dataclass
class FakeRouter:
    """Ingest and ConversationReader over plain lists."""

    events: InProcessEventBus
    bot: BotReply | None = None
    messages: list[ConversationMessage] = field(default_factory=list)
    customers: dict[tuple[str, str], int] = field(default_factory=dict)
    inbound: list[InboundMessage] = field(default_factory=list)
    fail_next: bool = False
    reads: list[int] = field(default_factory=list)  # ids asked of `message()`
    read_waves: list[list[int]] = field(default_factory=list)  # each `messages_by_id` call
    ingest_delay: float = 0.0  # seconds each ingest takes ("the database is slow")
    in_flight: int = 0
    hands_off: bool = False  # a new customer's first message goes to the agents' queue
    most_in_flight: int = 0
    _seen: dict[tuple[str, str], IngestResult] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def customer(self, channel: str, address: str) -> int:
        """The customer of an identity, created on first sight (one thread each)."""
        key = (channel, address)
        if key not in self.customers:
            self.customers[key] = len(self.customers) + 1
        return self.customers[key]

    def link(self, channel: str, address: str, customer_id: int) -> None:
        """Give another identity (say an email address) to an existing customer."""
        self.customers[(channel, address)] = customer_id

    def store(
        self,
        customer_id: int,
        author: AuthorKind,
        text: str,
        *,
        channel: str = "webchat",
        author_name: str | None = None,
        suggestions: tuple[str, ...] = (),
        attachments: tuple[AttachmentRef, ...] = (),
        publish: bool = True,
    ) -> ConversationMessage:
        """Commit one message to the customer's thread (thread id == customer id)."""
        message = ConversationMessage(
            id=next(self._ids),
            thread_id=customer_id,
            author=author,
            text=text,
            channel=channel,
            created_at=utcnow(),
            author_name=author_name,
            suggestions=suggestions,
            attachments=attachments,
        )
        self.messages.append(message)
        if publish:
            self.publish(message)
        return message

    def publish(self, message: ConversationMessage) -> None:
        self.events.publish(
            MessageStored(
                message_id=message.id,
                thread_id=message.thread_id,
                customer_id=message.thread_id,
                author=message.author.value,
            )
        )

    async def ingest(self, inbound: InboundMessage) -> IngestResult:
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("database unavailable")
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.ingest_delay)
            return self._commit(inbound)
        finally:
            self.in_flight -= 1

    def _commit(self, inbound: InboundMessage) -> IngestResult:
        key = (inbound.channel, inbound.external_id)
        if key in self._seen:
            first = self._seen[key]
            return IngestResult(first.message_id, first.thread_id, first.customer_id, True)
        self.inbound.append(inbound)
        new_customer = (inbound.channel, inbound.sender_address) not in self.customers
        customer_id = self.customer(inbound.channel, inbound.sender_address)
        stored = [
            self.store(
                customer_id,
                AuthorKind.CUSTOMER,
                inbound.text,
                attachments=inbound.attachments,
                publish=False,
            )
        ]
        reply = self.bot(inbound) if self.bot else None
        if reply is not None:
            text, suggestions = reply
            stored.append(
                self.store(
                    customer_id, AuthorKind.BOT, text, suggestions=suggestions, publish=False
                )
            )
        for message in stored:  # published after "commit", before ingest returns
            self.publish(message)
        queued = self.hands_off and new_customer and reply is None
        result = IngestResult(stored[0].id, customer_id, customer_id, queued=queued)
        self._seen[key] = result
        return result

    async def locate(self, channel: str, address: str) -> ConversationLocation | None:
        customer_id = self.customers.get((channel, address))
        if customer_id is None:
            return None
        return ConversationLocation(customer_id=customer_id, thread_id=customer_id, identity_id=1)

    async def history(
        self, channel: str, address: str, *, after_id: int | None = None, limit: int = 50
    ) -> list[ConversationMessage]:
        customer_id = self.customers.get((channel, address))
        mine = [m for m in self.messages if m.thread_id == customer_id]
        if after_id is not None:
            return [m for m in mine if m.id > after_id][:limit]
        return mine[-limit:]

    async def message(self, message_id: int) -> ConversationMessage | None:
        self.reads.append(message_id)
        return next((m for m in self.messages if m.id == message_id), None)

    async def messages_by_id(self, message_ids: Sequence[int]) -> list[ConversationMessage]:
        self.reads.extend(message_ids)
        self.read_waves.append(list(message_ids))
        wanted = set(message_ids)
        return [m for m in self.messages if m.id in wanted]


class Clock:
    """Wall-clock seconds the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def build_test_app(adapter: WebchatAdapter, services: ChannelServices) -> web.Application:
    """An app with only the web chat's routes, started and stopped like `build_app` does."""
    app = web.Application()
    app.add_routes(adapter.routes())

    async def lifecycle(_: web.Application) -> Any:
        await adapter.start(services)
        yield
        await adapter.stop()

    async def close_sockets(_: web.Application) -> None:
        await adapter.close_connections()

    app.cleanup_ctx.append(lifecycle)
    app.on_shutdown.append(close_sockets)
    return app


def make_services(router: FakeRouter, tmp_path: Path) -> ChannelServices:
    return ChannelServices(
        ingest=router.ingest,
        events=router.events,
        attachments=AttachmentStore(tmp_path / "attachments"),
        conversation=router,
    )


def make_adapter(**changes: Any) -> WebchatAdapter:
    return WebchatAdapter(settings=WebchatSettings(**changes), secret_key=SECRET)


# A frame that comes arrives at once; the wait only bounds a failing test. 5 s was short
# for a bot answer on PostgreSQL with three test workers on two cores.
FRAME_WAIT = 15.0


# Message frames passed over while waiting for another kind, per socket, oldest first.
# The server may push the bot's answer before the ack of the message it answers (the
# answer leaves through the outbox as soon as the message is committed); waiting for the
# ack must not throw the answer away.
_PASSED_MESSAGES: weakref.WeakKeyDictionary[ClientWebSocketResponse, deque[dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


async def next_frame(
    ws: ClientWebSocketResponse, kind: str | None = None, wait: float = FRAME_WAIT
) -> dict[str, Any]:
    """The next frame (of `kind`, skipping others) within `wait` seconds. Message frames
    skipped on the way are kept for the next call that wants one."""
    passed = _PASSED_MESSAGES.setdefault(ws, deque())
    if passed and kind in (None, "message"):
        return passed.popleft()
    while True:
        frame: dict[str, Any] = await ws.receive_json(timeout=wait)
        if kind is None or frame["type"] == kind:
            return frame
        if frame["type"] == "message":
            passed.append(frame)


async def next_reply(ws: ClientWebSocketResponse, wait: float = FRAME_WAIT) -> dict[str, Any]:
    """The next message not written by the customer (the sender may see its own first)."""
    while True:
        frame = await next_frame(ws, "message", wait=wait)
        message: dict[str, Any] = frame["message"]
        if message["author"] != "customer":
            return message


async def messages_before(ws: ClientWebSocketResponse, marker: str) -> list[dict[str, Any]]:
    """The messages pushed to `ws` before the one reading `marker`.

    The test stores the marker last: the web chat pushes messages in the order they were
    stored, so what has not come before the marker was never pushed.
    """
    seen: list[dict[str, Any]] = []
    while True:
        message: dict[str, Any] = (await next_frame(ws, "message"))["message"]
        if message["text"] == marker:
            return seen
        seen.append(message)


WITNESS = "(a marker stored by the test)"


async def frames_until_witness(
    context: AppContext, ws: ClientWebSocketResponse, customer_id: int
) -> list[dict[str, Any]]:
    """Every frame pushed to `ws` before a marker message the test stores now.

    The web chat pushes stored messages in the order their events were published, so a
    message committed before the marker that has not arrived with it was never pushed:
    a test proves "nothing else reached the visitor" without waiting for quiet.
    """
    async with context.sessions() as session, session.begin():
        thread = await session.scalar(
            select(Thread).where(Thread.customer_id == customer_id).order_by(Thread.id.desc())
        )
        assert thread is not None
        marker = await enqueue_outbound(
            session, thread=thread, identity=None, text=WITNESS, author=AuthorKind.SYSTEM
        )
    context.events.publish(MessageStored(marker.id, thread.id, customer_id, AuthorKind.SYSTEM))
    frames: list[dict[str, Any]] = []
    while True:
        frame = await next_frame(ws)
        if frame.get("type") == "message" and frame["message"]["text"] == WITNESS:
            return frames
        frames.append(frame)
