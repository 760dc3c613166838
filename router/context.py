"""The app's own context object: everything long-lived, built once by the app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from config.settings import Settings
from router.core.attachments import AttachmentStore
from router.core.connection_slots import SlotBudget, connection_budget
from router.core.events import EventBus, InProcessEventBus
from router.core.messages import ChannelSender, utcnow
from router.core.responder import Responder
from router.core.texts import ROUTER_TEXTS, TextCatalogue
from router.core.write_queue import WriteQueue
from router.metrics import Metrics
from router.storage.engine import new_read_sessionmaker

if TYPE_CHECKING:
    from faq.gaps import GapEmbeddings


@dataclass(frozen=True, slots=True)
class ChannelRoles:
    """Which channel plays each part the core's identity rules need.

    The core never names a channel: the composition root (`router.enabled_channels`)
    says which one does what. None means no channel plays that part here.
    """

    # The channel whose addresses are mail addresses: verification codes are mailed
    # there, a continue link names one of its addresses, a verified one is "an email".
    mail: str | None = None
    # Whether that channel can send (an outbound relay): without it no code is offered.
    mail_can_send: bool = False
    # The channel whose identities are browser visitors: a chat-link token names one.
    visitors: str | None = None
    # The channel whose identities are integrations' customers, named by the
    # integration's own ids (`router.core.integrations.integration_address`).
    integrations: str | None = None


@dataclass
class AppContext:
    """Shared by the HTTP handlers, the ingest path, the outbox worker and the adapters."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[
        AsyncSession
    ]  # write work: through `router.core.transaction.write`
    responder: Responder
    read_sessions: async_sessionmaker[AsyncSession] = field(init=False)  # read-only work
    events: EventBus = field(default_factory=InProcessEventBus)
    metrics: Metrics = field(default_factory=Metrics)
    roles: ChannelRoles = field(default_factory=ChannelRoles)
    # The installation's router texts (the shipped ones with its overrides).
    texts: TextCatalogue = ROUTER_TEXTS
    attachment_store: AttachmentStore = field(init=False)
    # The long-lived sockets this process may hold, web chat and console together
    # (`[webchat] max_sockets`, bounded by the open-file limit): one budget, because
    # they take the same file descriptors.
    sockets: SlotBudget = field(init=False)
    adapters: dict[str, ChannelSender] = field(default_factory=dict)
    # Set when new outbox rows are committed, so the worker need not wait for its poll.
    outbox_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    # The gap report groups by meaning with these when the semantic extra is on (the
    # bot's own embedding model; None: by the matcher's features).
    gap_embeddings: GapEmbeddings | None = None
    # "Now" for the service-level clocks and their scheduler; tests set a fixed one.
    clock: Callable[[], datetime] = utcnow
    # SQLite has one writer: queueing our own writers here is fairer and faster than
    # letting them spin in SQLite's busy handler (which sleeps up to 100 ms a turn).
    _sqlite_writes: asyncio.Lock | None = None
    # SQLite: the ingests waiting for that lock, committed together in groups
    # (`router.core.transaction.write`); None on PostgreSQL, whose writers run at once.
    write_queue: WriteQueue | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.read_sessions = new_read_sessionmaker(self.engine)
        self.attachment_store = AttachmentStore(self.settings.data_dir / "attachments")
        self.sockets = SlotBudget(connection_budget(self.settings.webchat.max_sockets))
        if self.engine.dialect.name == "sqlite":
            self._sqlite_writes = asyncio.Lock()
            self.write_queue = WriteQueue()

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Wrap a write transaction: serialised in-process on SQLite, free on PostgreSQL.

        `router.core.transaction.write` takes it; nothing else needs to.
        """
        if self._sqlite_writes is None:
            yield
            return
        async with self._sqlite_writes:
            yield
