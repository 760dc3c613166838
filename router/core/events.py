"""Domain events and the bus that carries them to WebSockets and other listeners.

Events are published after commit. `InProcessEventBus` serves one process; on
PostgreSQL `router.core.shared_events.PostgresEventBus` carries the same events to
every process sharing the database (LISTEN/NOTIFY).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

from router.core.messages import ConversationMessage

logger = logging.getLogger(__name__)

# Metadata key of an event field that only subscribers of the publishing process get.
LOCAL = "local"


@dataclass(frozen=True, slots=True)
class MessageStored:
    """A message (any author, any channel) was committed to a thread.

    `shown`: what its customer is shown of it (None when they are shown nothing), set
    by a writer that has the row at hand, so that subscribers in the writing process
    need not read it back. It never leaves the process (`LOCAL`): a subscriber given
    the event without it reads the message by id.
    """

    message_id: int
    thread_id: int
    customer_id: int
    author: str
    internal: bool = False
    # The same event with or without it: equality and the log line are the ids.
    shown: ConversationMessage | None = field(
        default=None, compare=False, repr=False, metadata={LOCAL: True}
    )


@dataclass(frozen=True, slots=True)
class ThreadChanged:
    """A thread's status, tier or assignee changed."""

    thread_id: int
    customer_id: int
    status: str
    tier: int
    assignee_id: int | None


@dataclass(frozen=True, slots=True)
class Typing:
    """Someone is typing in a thread (`who` is "customer" or "agent")."""

    thread_id: int
    customer_id: int
    who: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class AgentPresence:
    """An agent went online, away or offline."""

    agent_id: int
    status: str


@dataclass(frozen=True, slots=True)
class CustomersMerged:
    """`merged_id` was merged into `surviving_id`."""

    surviving_id: int
    merged_id: int


@dataclass(frozen=True, slots=True)
class IdentityRetired:
    """The identity (`channel`, `address`) was given another address: a credential that
    names the old one (a browser's visitor token) opens nothing of it any more, so
    connections made with it are ended."""

    channel: str
    address: str


@dataclass(frozen=True, slots=True)
class SlaAlarmFired:
    """A service-level target of a thread is nearly due (`warning`) or overdue (`breach`)."""

    thread_id: int
    customer_id: int
    target: str
    kind: str
    priority: str


@dataclass(frozen=True, slots=True)
class SurveyAnswered:
    """A customer answered (or changed their answer to) a survey of a thread.

    `low`: the score is at or below the team's threshold (the thread is flagged).
    """

    thread_id: int
    customer_id: int
    survey_id: int
    kind: str
    score: int
    low: bool
    agent_id: int | None = None


@dataclass(frozen=True, slots=True)
class KnowledgeBaseChanged:
    """The knowledge base in the database changed; it is now at `revision`."""

    revision: int


@dataclass(frozen=True, slots=True)
class IntegrationRevoked:
    """Tokens of integration `name` were revoked: a process that trusts tokens it
    checked before forgets them (`router.http.auth.IntegrationTokenCheck`)."""

    name: str


@dataclass(frozen=True, slots=True)
class EventsResumed:
    """The bus between processes was cut and is back: events of other processes may
    have been missed meanwhile, so listeners re-read what they show."""


Event = (
    MessageStored
    | ThreadChanged
    | Typing
    | AgentPresence
    | CustomersMerged
    | IdentityRetired
    | SlaAlarmFired
    | SurveyAnswered
    | KnowledgeBaseChanged
    | IntegrationRevoked
    | EventsResumed
)


class Subscription(Protocol):
    def __aiter__(self) -> AsyncIterator[Event]: ...


class EventBus(Protocol):
    """Publish after commit; every subscriber gets every event published after it joined."""

    def publish(self, event: Event) -> None: ...

    def subscribe(self) -> asyncio.Queue[Event]: ...

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None: ...

    def subscription(self) -> AbstractAsyncContextManager[asyncio.Queue[Event]]: ...


class InProcessEventBus:
    """Fan-out to bounded per-subscriber queues; a slow subscriber drops, never blocks."""

    def __init__(self, *, queue_size: int = 1000) -> None:
        # Each subscriber's queue with the number of events it missed for want of room.
        self._queues: dict[asyncio.Queue[Event], int] = {}
        self._queue_size = queue_size

    def publish(self, event: Event) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._queues[queue] += 1
                logger.warning("event subscriber full; dropping %s", type(event).__name__)

    def subscribe(self) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        self._queues[queue] = 0
        return queue

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._queues.pop(queue, None)

    def dropped(self, queue: asyncio.Queue[Event]) -> int:
        """How many events `queue` missed because it was full: a subscriber that must
        not miss one compares it (a drop leaves no other trace once the queue drains)."""
        return self._queues.get(queue, 0)

    @asynccontextmanager
    async def subscription(self) -> AsyncIterator[asyncio.Queue[Event]]:
        """`async with bus.subscription() as queue:` — unsubscribes on exit."""
        queue = self.subscribe()
        try:
            yield queue
        finally:
            self.unsubscribe(queue)
