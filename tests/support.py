"""Helpers shared by tests: fresh databases, settings, a fake channel adapter."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import io
import itertools
import logging
import os
import random
import socket
import threading
import uuid
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from sqlalchemy.engine import make_url

from channels.base import ChannelServices, ChannelSummary
from config.settings import Settings, load_settings
from router.context import AppContext
from router.core.messages import DeliveryResult, InboundMessage, IngestResult, OutboundMessage
from router.core.outbox_worker import outbox_depth
from router.logs import configure_logging

_T = TypeVar("_T")

POSTGRES_ENV = "PASOKH_TEST_DATABASE_URL"


def postgres_admin_url() -> str | None:
    """The PostgreSQL server the run is pointed at, or None for SQLite."""
    return os.environ.get(POSTGRES_ENV) or None


# Ports handed out by free_port: a block per test worker, below Linux's ephemeral range
# (32768-60999), which the kernel uses for port-0 binds and outgoing connections. A port
# picked from the ephemeral range could be taken by any of those, in any process, before
# the test binds it (an SMTP listener's port was, in CI).
_FIRST_PORT = 20_000
_PORTS_PER_WORKER = 1_500
# A random start: two runs on one machine (a bench beside a test run, two engineers'
# test runs) seldom walk the same ports at the same time.
_port_turns = itertools.count(random.randrange(_PORTS_PER_WORKER))


def free_port() -> int:
    """A TCP port free on loopback right now, from this test worker's own block: no
    other worker hands it out, and the kernel gives it to no port-0 bind or connection."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    first = _FIRST_PORT + (int(worker) % 8 if worker.isdigit() else 0) * _PORTS_PER_WORKER
    for _ in range(_PORTS_PER_WORKER):
        port = first + next(_port_turns) % _PORTS_PER_WORKER
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use, or still in TIME_WAIT
            return port
    raise RuntimeError(f"no free port in {first}-{first + _PORTS_PER_WORKER - 1}")


@contextlib.contextmanager
def run_wide_directory(tmp_path_factory: pytest.TempPathFactory, name: str) -> Iterator[Path]:
    """A directory every test worker of this run shares, held under an exclusive lock
    until the block ends: the first worker to need a costly file writes it there, the
    others wait for it and read it."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the workers' own directories sit in the run's
    directory = root / name
    directory.mkdir(exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield directory


async def _admin_connection(admin_url: str) -> Any:
    import asyncpg

    url = make_url(admin_url)
    return await asyncpg.connect(
        host=url.host,
        port=url.port,
        user=url.username,
        password=url.password,
        database=url.database or "postgres",
    )


def _create_database_statement(name: str, template: str | None, server: Any) -> str:
    """CREATE DATABASE `name` (a copy of `template` if given) on the server of
    connection `server`."""
    suffix = f" TEMPLATE {template}" if template else ""
    if template and server.get_server_version() >= (15, 0):
        # A copy of the template's files: for a small database, faster than PostgreSQL
        # 15's default of writing every page to the write-ahead log.
        suffix += " STRATEGY FILE_COPY"
    return f'CREATE DATABASE "{name}"{suffix}'


def _new_database_name() -> str:
    return f"pasokh_test_{uuid.uuid4().hex[:12]}"


def _drop_database_statement(database_url: str) -> str:
    # WITH (FORCE): a test's server may not have let go of its connections yet.
    return f'DROP DATABASE IF EXISTS "{make_url(database_url).database}" WITH (FORCE)'


async def create_postgres_database(admin_url: str, template: str | None = None) -> str:
    """CREATE DATABASE with a unique name (from `template` if given); return its URL."""
    name = _new_database_name()
    conn = await _admin_connection(admin_url)
    try:
        await conn.execute(_create_database_statement(name, template, conn))
    finally:
        await conn.close()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(admin_url: str, database_url: str) -> None:
    """DROP a database `create_postgres_database` made, so that runs do not pile them
    up (~7 ms)."""
    conn = await _admin_connection(admin_url)
    try:
        await conn.execute(_drop_database_statement(database_url))
    finally:
        await conn.close()


class PostgresAdmin:
    """One admin connection for a test worker's whole run, on an event loop in a thread
    of its own (each test runs its own loop): every test's CREATE DATABASE and DROP
    DATABASE go over it. A connection of their own each would be a new server backend,
    about 10 ms of CPU between client and server, twice a test."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="postgres-admin", daemon=True
        )
        self._thread.start()
        self._connection = self._submit(_admin_connection(admin_url)).result()
        # One statement at a time: a test stopped by its timeout mid-CREATE leaves its
        # statement running on this loop when the next test sends one.
        self._turn = asyncio.Lock()
        self._ended: list[str] = []  # the databases of tests that have ended

    def _submit(self, work: Coroutine[Any, Any, _T]) -> concurrent.futures.Future[_T]:
        return asyncio.run_coroutine_threadsafe(work, self._loop)

    async def _execute(self, statements: list[str]) -> None:
        async with self._turn:
            for statement in statements:
                await self._connection.execute(statement)

    def _url(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    def create_database_now(self) -> str:
        """CREATE DATABASE with a unique name, blocking (a session fixture's set-up)."""
        name = _new_database_name()
        statement = _create_database_statement(name, None, self._connection)
        self._submit(self._execute([statement])).result()
        return self._url(name)

    async def create_test_database(self, template: str | None) -> str:
        """A copy of `template` for the test about to start, from its own event loop.

        First the databases of the tests before it are dropped: those tests have ended
        and their fixtures (apps, processes) are torn down. Dropped at the end of the run
        instead, a worker's thousand-odd databases took minutes of its last test's
        teardown on a loaded machine, past the test timeout, with the other workers idle.
        """
        name = _new_database_name()
        statement = _create_database_statement(name, template, self._connection)
        ended, self._ended = self._ended, []
        drops = [_drop_database_statement(url) for url in ended]
        await asyncio.wrap_future(self._submit(self._execute([*drops, statement])))
        url = self._url(name)
        self._ended.append(url)  # ended by the time the next test asks for its own
        return url

    def drop_databases(self, database_urls: list[str]) -> None:
        """DROP databases this admin made (~10 ms of server CPU each), blocking."""
        drops = [_drop_database_statement(url) for url in database_urls]
        self._submit(self._execute(drops)).result()

    def close(self) -> None:
        """Drop the last test's database and close the connection."""
        self.drop_databases(self._ended)
        self._submit(self._connection.close()).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


def make_settings(data_dir: Path, database_url: str, **sections: dict[str, Any]) -> Settings:
    """Test settings: given data dir and database, quick retries, overrides."""
    settings = load_settings(env={}, data_dir=data_dir)
    settings = settings.replace("database", url=database_url)
    # A queued row wakes the worker at once; polling only finds retries come due and
    # rows other processes queued. Each poll of every running app costs CPU the other
    # tests of the run wait for, so a quarter second, not less.
    settings = settings.replace("outbox", poll_interval=0.25, backoff_base=0.05, backoff_max=0.2)
    settings = settings.replace("server", secret_key="test-secret-key-" + "x" * 32)
    settings = settings.replace("email", smtp_port=free_port())  # never the shared 2525
    # The email channel's own retry policy caps its waits (an hour in production).
    settings = settings.replace("email", relay_retry_max_wait=0.2)
    # No DNS here: the sender checks run in the tests that start a DNS server for them.
    settings = settings.replace("email", sender_auth="off")
    # Tests send many mails from one loopback address; the tests of the per-client
    # budgets of mail (tests/test_email_flood.py) set them.
    settings = settings.replace(
        "email", new_threads_per_client_per_minute=0, handoffs_per_client_per_minute=0
    )
    # One message per hand-off keeps conversations in tests predictable; the tests of
    # the email question turn it back on.
    settings = settings.replace("bot", ask_email_on_handoff=False)
    for section, changes in sections.items():
        settings = settings.replace(section, **changes)
    return settings


def worker_passes(context: AppContext, worker: str) -> float:
    """How many passes `worker` ("outbox", "assignment") of this app has finished."""
    labels = {"worker": worker}
    value = context.metrics.registry.get_sample_value("pasokh_worker_passes_total", labels)
    return value or 0.0


async def later_passes(
    context: AppContext, worker: str = "outbox", count: int = 2, timeout: float = 10.0
) -> None:
    """Wait until `worker` has finished `count` whole passes begun after this call.

    What the worker would do next (retry a row, send it again, assign one more thread)
    it has then had `count` chances to do: a test proves an absence this way, not by
    sleeping. The pass under way at the call may have looked before it, so it does not
    count.
    """
    target = worker_passes(context, worker) + count + 1
    async with asyncio.timeout(timeout):
        while worker_passes(context, worker) < target:
            context.outbox_wakeup.set()  # an idle outbox worker need not wait its poll out
            await asyncio.sleep(0.01)


async def waiting_for_a_lock(context: AppContext, like: str = "%", *, unlike: str = "") -> bool:
    """Whether a statement on `context`'s database whose text is LIKE `like` (and not
    LIKE `unlike`) waits for a lock another transaction holds (PostgreSQL)."""
    from sqlalchemy import text

    async with context.engine.connect() as probe:
        waiting = await probe.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                " AND datname = current_database() AND query LIKE :like"
                " AND query NOT LIKE :unlike"
            ),
            {"like": like, "unlike": unlike},
        )
    return bool(waiting)


async def outbox_drained(context: AppContext, timeout: float = 10.0) -> None:
    """Wait until no outbox row waits for delivery: each went out or was given up on."""
    async with asyncio.timeout(timeout):
        while await outbox_depth(context):
            await asyncio.sleep(0.02)


@dataclass
class FakeAdapter:
    """A channel that records what it is asked to send and can be told to fail.

    `fail_next` DeliveryResults are returned (in order) before sends succeed.
    """

    name: str = "fake"
    sent: list[OutboundMessage] = field(default_factory=list)
    fail_next: list[DeliveryResult] = field(default_factory=list)
    services: ChannelServices | None = None
    sent_event: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self, services: ChannelServices) -> None:
        if self.services is not None:
            raise RuntimeError("FakeAdapter already started")
        self.services = services

    async def stop(self) -> None:
        self.services = None

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if self.fail_next:
            return self.fail_next.pop(0)
        self.sent.append(message)
        self.sent_event.set()
        return DeliveryResult.delivered(external_id=f"fake-{message.outbox_id}")

    async def close_connections(self) -> None:
        """Nothing long-lived to close: this channel holds no client connections."""

    def routes(self) -> list[web.AbstractRouteDef]:
        return []

    def describe(self) -> ChannelSummary:
        return ChannelSummary(f"{self.name} (a test double)")

    async def push(
        self, text: str, *, sender: str = "alice", external_id: str | None = None, **fields: Any
    ) -> IngestResult:
        """Deliver an inbound message through the real ingest path."""
        assert self.services is not None, "adapter not started"
        # A chat as the real web chat and Telegram channels mark theirs.
        fields.setdefault("conversational", self.name in ("webchat", "telegram"))
        return await self.services.ingest(
            InboundMessage(
                channel=self.name,
                external_id=external_id or uuid.uuid4().hex,
                sender_address=sender,
                text=text,
                **fields,
            )
        )

    async def wait_sent(self, count: int, timeout: float = 10.0) -> list[OutboundMessage]:
        """Wait until at least `count` messages were sent."""
        async with asyncio.timeout(timeout):
            while len(self.sent) < count:
                self.sent_event.clear()
                await self.sent_event.wait()
        return self.sent


@contextlib.contextmanager
def server_log(log_format: str = "text") -> Iterator[io.StringIO]:
    """What `pasokh serve` would write to stderr while the block runs: the root logger
    configured as the server configures it, into a buffer (restored afterwards)."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    with contextlib.redirect_stderr(buffer):
        configure_logging(log_format, "INFO")
    try:
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
