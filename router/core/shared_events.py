"""The event bus between processes sharing one PostgreSQL: LISTEN/NOTIFY.

Every process publishes to its own subscribers at once (as `InProcessEventBus` does)
and sends the event to the others with NOTIFY on one connection kept for the bus,
which also LISTENs. A NOTIFY payload is limited to 8000 bytes, so events stay small
plain data: ids, states, a short name — never message text (fields marked `LOCAL`,
such as the visitor's view of a message its own process wrote, stay out); a receiver
that needs a message reads its row (the web chat does, through the conversation reader). NOTIFY is
sent after the publisher's commit, so the row is there when the event arrives.

When the bus connection breaks, the events sent by others meanwhile are lost to this
process: after it reconnects it publishes `EventsResumed` to its own subscribers,
who re-read what they show. Events it could not send wait in a bounded queue and go
out once connected again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
from collections import deque
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from router.core.events import (
    LOCAL,
    AgentPresence,
    CustomersMerged,
    Event,
    EventsResumed,
    IdentityRetired,
    InProcessEventBus,
    IntegrationRevoked,
    KnowledgeBaseChanged,
    MessageStored,
    SlaAlarmFired,
    ThreadChanged,
    Typing,
)
from router.core.tasks import BackgroundTasks

if TYPE_CHECKING:
    import asyncpg

logger = logging.getLogger(__name__)

CHANNEL = "pasokh_events"
APPLICATION_NAME = "pasokh events"
MAX_PAYLOAD_BYTES = 7900  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
_SHARED: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        MessageStored,
        ThreadChanged,
        Typing,
        AgentPresence,
        CustomersMerged,
        IdentityRetired,
        SlaAlarmFired,
        KnowledgeBaseChanged,
        IntegrationRevoked,
    )
}
_SEND_BATCH = 200
_OUTGOING_LIMIT = 10_000
_RETRY_CAP = 5.0  # seconds between reconnection attempts at most


def encode(event: Event, origin: str, number: int) -> str | None:
    """The NOTIFY payload of `event`; None for events that stay in the process."""
    kind = type(event).__name__
    if kind not in _SHARED:
        return None
    # `n` makes every payload unique: PostgreSQL folds identical payloads of one
    # transaction into one notification.
    # Fields for this process only (a message's text) stay out: the payload is ids.
    fields = {
        f.name: getattr(event, f.name)
        for f in dataclasses.fields(event)
        if not f.metadata.get(LOCAL)
    }
    body = {"o": origin, "n": number, "k": kind, "f": fields}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def decode(payload: str) -> tuple[str, Event]:
    """(origin, event) from a payload.

    Raises:
        ValueError: not a payload this bus sent.
    """
    try:
        body = json.loads(payload)
        cls = _SHARED[body["k"]]
        fields: dict[str, Any] = body["f"]
        return str(body["o"]), cls(**fields)
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not an event: {payload[:80]!r}") from exc


_NOTIFY = text("SELECT pg_notify(:channel, :payload)")


async def notify_at_commit(session: AsyncSession, event: Event) -> None:
    """Send `event` to the bus of every process on the database when `session`'s
    transaction commits, and never if it rolls back: for a change every process must
    learn of even when its writer runs no bus (a `pasokh` command). Nothing to send on
    a database without NOTIFY (SQLite: one process)."""
    if session.get_bind().dialect.name != "postgresql":
        return
    # A writer of its own, not any process's bus: every bus hands it to its subscribers.
    payload = encode(event, secrets.token_hex(8), 0)
    assert payload is not None, f"{type(event).__name__} is not shared between processes"
    await session.execute(_NOTIFY, {"channel": CHANNEL, "payload": payload})


def listen_dsn(url: URL) -> str:
    """The plain libpq URL asyncpg connects with, from the engine's SQLAlchemy URL."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class PostgresEventBus:
    """`EventBus` for several processes on one PostgreSQL (see the module docstring)."""

    def __init__(
        self,
        dsn: str,
        counter: Counter,
        *,
        connect_timeout: float = 5.0,
        check_every: float = 10.0,
        queue_size: int = 1000,
    ) -> None:
        self._dsn = dsn
        self._counter = counter
        self._connect_timeout = connect_timeout
        self._check_every = check_every
        self._local = InProcessEventBus(queue_size=queue_size)
        self._origin = secrets.token_hex(8)
        self._sent_count = 0
        self._outgoing: deque[str] = deque()
        self._wake = asyncio.Event()
        self._lost = asyncio.Event()
        self._listening = asyncio.Event()
        # The bus connection's backend: what it sends comes back to it (a listening
        # session is notified of its own NOTIFYs) and is dropped unread.
        self._own_backend: int | None = None
        self._tasks = BackgroundTasks(logger)

    # -- the EventBus protocol -------------------------------------------------------

    def publish(self, event: Event) -> None:
        self._local.publish(event)
        self._sent_count += 1
        payload = encode(event, self._origin, self._sent_count)
        if payload is None:
            return
        if len(payload.encode()) > MAX_PAYLOAD_BYTES:
            self._counter.labels("too_large").inc()
            logger.error("event %s too large to share; only this process sees it", type(event))
            return
        if len(self._outgoing) >= _OUTGOING_LIMIT:
            self._counter.labels("dropped").inc()
            logger.warning("event bus disconnected too long: dropping the oldest event")
            self._outgoing.popleft()
        self._outgoing.append(payload)
        self._wake.set()

    def subscribe(self) -> asyncio.Queue[Event]:
        return self._local.subscribe()

    def unsubscribe(self, queue: asyncio.Queue[Event]) -> None:
        self._local.unsubscribe(queue)

    def dropped(self, queue: asyncio.Queue[Event]) -> int:
        return self._local.dropped(queue)

    def subscription(self) -> AbstractAsyncContextManager[asyncio.Queue[Event]]:
        return self._local.subscription()

    # -- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Connect and LISTEN; waits for the first connection up to the connect timeout
        (and keeps trying in the background after that)."""
        self._tasks.spawn(self._run(), "events:postgres")
        try:
            async with asyncio.timeout(self._connect_timeout):
                await self._listening.wait()
        except TimeoutError:
            logger.warning("event bus: not connected yet; events of other processes wait")

    async def stop(self) -> None:
        await self._tasks.cancel()

    @property
    def listening(self) -> bool:
        """Whether the bus connection is up (a test and a health detail)."""
        return self._listening.is_set()

    # -- the connection --------------------------------------------------------------

    async def _run(self) -> None:
        # Imported here: asyncpg is the `postgres` extra; SQLite installs go without.
        import asyncpg

        delay = 0.1
        first = True
        while True:
            try:
                connection = await asyncpg.connect(
                    self._dsn,
                    timeout=self._connect_timeout,
                    # Named, so an administrator sees each process's bus in pg_stat_activity.
                    server_settings={"application_name": APPLICATION_NAME},
                )
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                logger.warning("event bus: cannot connect (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_CAP)
                continue
            delay = 0.1
            try:
                await self._serve(connection, resumed=not first)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                logger.warning("event bus connection lost: %s", exc)
            finally:
                self._listening.clear()
                connection.terminate()
            first = False

    async def _serve(self, connection: asyncpg.Connection, *, resumed: bool) -> None:
        self._lost.clear()
        self._own_backend = connection.get_server_pid()
        connection.add_termination_listener(lambda _: self._lost.set())
        await connection.add_listener(CHANNEL, self._received)
        self._listening.set()
        if resumed:
            self._counter.labels("reconnects").inc()
            logger.warning("event bus reconnected; listeners re-read what they show")
            self._local.publish(EventsResumed())
        while not self._lost.is_set():
            await self._send_pending(connection)
            self._wake.clear()
            if self._outgoing:
                continue
            waiters = [asyncio.ensure_future(e.wait()) for e in (self._wake, self._lost)]
            try:
                done, _ = await asyncio.wait(
                    waiters, timeout=self._check_every, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for waiter in waiters:
                    waiter.cancel()
            if not done:
                # A connection silently gone (no FIN) is only found by using it.
                await connection.fetchval("SELECT 1", timeout=self._connect_timeout)
        raise ConnectionError("the bus connection was closed")

    async def _send_pending(self, connection: asyncpg.Connection) -> None:
        while self._outgoing:
            batch = [self._outgoing[i] for i in range(min(_SEND_BATCH, len(self._outgoing)))]
            # One statement (one transaction) per batch; notifications keep their order.
            await connection.execute(
                "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload",
                CHANNEL,
                batch,
                timeout=self._connect_timeout,
            )
            for _ in batch:  # sent: only now leave the queue
                self._outgoing.popleft()
            self._counter.labels("sent").inc(len(batch))

    def _received(self, _connection: object, pid: int, _channel: str, payload: str) -> None:
        if pid == self._own_backend:
            # Sent by `_send_pending` on this connection: our own subscribers had it at
            # `publish`. Dropped unread, as decoding is most of what a notification
            # costs; the origin below still catches ours where the pid is not the
            # backend's (a pooler in front of the server).
            return
        try:
            origin, event = decode(payload)
        except ValueError:
            self._counter.labels("undecodable").inc()
            logger.warning("event bus: ignored an undecodable notification")
            return
        if origin == self._origin:
            return  # our own subscribers had it when it was published
        self._counter.labels("received").inc()
        self._local.publish(event)
