"""Fixtures: a fresh database per test (SQLite, or PostgreSQL when
PASOKH_TEST_DATABASE_URL names a server), settings, and a running app."""

from __future__ import annotations

import asyncio
import gc
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web, web_app
from aiohttp.test_utils import TestClient, TestServer
from playwright.async_api import Browser, expect

from channels.base import ChannelServices
from config.settings import Settings
from router.app import build_app
from router.context import AppContext
from router.core.responder import QueueEveryThread
from router.http.compressed_bodies import SERVER_OPTIONS
from router.http.keys import CONTEXT
from router.storage.engine import new_engine
from router.storage.migrate import upgrade_to_head
from tests.browser_support import running_chromium
from tests.email_support import FakeRelay
from tests.fake_telegram import FakeTelegram
from tests.support import PostgresAdmin, make_settings, postgres_admin_url
from tests.telegram_support import RecordingIngest, make_services

# aiohttp memoises the middleware chain per (handler, apps) pair, up to 1,024 pairs; each
# pair keeps a finished test's whole app alive. A heap grown by a hundred dead apps makes
# each full collection stall the running test's event loop for seconds.
_MIDDLEWARE_CACHE = getattr(web_app, "_cached_build_middleware", None)


# Playwright's 5 s for a page to show what a test expects is short on two loaded cores
# where a sign-in verifies an argon2 hash: a failing expectation waits longer, nothing else.
expect.set_options(timeout=15_000)


def _start_rank(item: pytest.Item) -> tuple[float, int]:
    """Longest first: a test given more than the default timeout, then one that starts
    pasokh processes, then one that drives a browser, then the rest."""
    timeout = item.get_closest_marker("timeout")
    allowed = float(timeout.args[0]) if timeout is not None and timeout.args else 0.0
    kind = 0 if item.get_closest_marker("slow") else 1 if item.get_closest_marker("browser") else 2
    return (-allowed, kind)


# The fixtures through which a test reaches the database its run is pointed at. A test
# whose fixtures include none of them (the matcher's, the MIME parser's, one that starts
# its own PostgreSQL) does the same thing on either run.
_RUN_DATABASE_FIXTURES = frozenset(
    {"database_url", "postgres_admin", "postgres_template", "db_kind"}
)


def _belongs_to_a_postgresql_run(item: pytest.Item) -> bool:
    """A test that uses the run's database, or one that only a PostgreSQL run keeps.

    A browser test is kept only when marked `end_to_end`. The others check what the
    page shows and does; every request they make (route, query parameters, outcome) is
    also made by a test the PostgreSQL run keeps, and they are a third of its time."""
    if item.get_closest_marker("postgresql") is not None:
        return True
    if item.get_closest_marker("browser") is not None:
        return item.get_closest_marker("end_to_end") is not None
    return not _RUN_DATABASE_FIXTURES.isdisjoint(getattr(item, "fixturenames", ()))


def _leave_out(
    config: pytest.Config, items: list[pytest.Item], kept: Callable[[pytest.Item], bool]
) -> None:
    left_out = [item for item in items if not kept(item)]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if kept(item)]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A SQLite run leaves out the tests of what only a database server has (row locks,
    cut connections). A PostgreSQL run keeps only the tests that use the run's database:
    the rest ran, byte for byte the same, in the SQLite run (`.ci/run` runs both).

    Then start the long tests first: the workers share them out at the beginning of a
    run instead of one worker finishing a two-minute test while the others idle. (A
    stable sort: tests of one rank keep their order, every worker collects the same
    list.)"""
    if postgres_admin_url() is None:
        _leave_out(config, items, lambda item: item.get_closest_marker("postgresql") is None)
    else:
        _leave_out(config, items, _belongs_to_a_postgresql_run)
    items.sort(key=_start_rank)


def pytest_collection_finish(session: pytest.Session) -> None:
    """What the run imported lives to its end: keep it out of every full collection."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def release_finished_apps() -> Iterator[None]:
    yield
    if _MIDDLEWARE_CACHE is not None:
        _MIDDLEWARE_CACHE.cache_clear()


@pytest.fixture(scope="session")
def postgres_admin() -> Iterator[PostgresAdmin | None]:
    """The worker's one admin connection to the server (None on SQLite): it drops each
    test's database when the next test starts, the last one when the run ends."""
    admin_url = postgres_admin_url()
    if admin_url is None:
        yield None
        return
    admin = PostgresAdmin(admin_url)
    yield admin
    admin.close()


@pytest.fixture(scope="session")
def postgres_template(postgres_admin: PostgresAdmin | None) -> Iterator[str | None]:
    """A migrated template database, copied for each test (fast on PostgreSQL)."""
    if postgres_admin is None:
        yield None
        return
    url = postgres_admin.create_database_now()

    async def migrate() -> None:
        engine = new_engine(url)
        await upgrade_to_head(engine)
        await engine.dispose()

    asyncio.run(migrate())
    yield url.rsplit("/", 1)[1]
    postgres_admin.drop_databases([url])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path | None:
    """A migrated SQLite file, copied for each test: migrating one costs most of a second,
    copying it a millisecond. None on a PostgreSQL run."""
    if postgres_admin_url() is not None:
        return None
    path = tmp_path_factory.mktemp("template") / "pasokh.db"

    async def prepare() -> None:
        engine = new_engine(f"sqlite+aiosqlite:///{path}")
        await upgrade_to_head(engine)
        await engine.dispose()

    asyncio.run(prepare())
    # The last connection closed checkpoints the write-ahead log into the file itself:
    # the one file is the whole database.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture
def db_kind() -> str:
    """ "postgresql" or "sqlite": the database this run tests."""
    return "postgresql" if postgres_admin_url() else "sqlite"


@pytest.fixture
async def database_url(
    tmp_path: Path,
    postgres_admin: PostgresAdmin | None,
    postgres_template: str | None,
    sqlite_template: Path | None,
) -> str:
    """A fresh, migrated database for this test: a copy of the worker's template."""
    if postgres_admin is None:
        assert sqlite_template is not None
        path = tmp_path / "pasokh.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    assert postgres_template is not None
    return await postgres_admin.create_test_database(postgres_template)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings for one test: its own data dir and database."""
    return make_settings(tmp_path / "data", database_url)


AppFactory = Callable[..., Any]


@pytest.fixture
async def start_app() -> AsyncIterator[AppFactory]:
    """`await start_app(settings, adapters=[...], responder=...)` -> (client, context).

    Runs the real app (startup, outbox worker, adapters) on a loopback port.
    """
    clients: list[TestClient[Any, Any]] = []

    async def start(settings: Settings, **kwargs: Any) -> tuple[TestClient[Any, Any], AppContext]:
        app: web.Application = build_app(settings, migrate=True, **kwargs)
        client: TestClient[Any, Any] = TestClient(
            TestServer(app, host="127.0.0.1", **SERVER_OPTIONS)
        )
        await client.start_server()
        clients.append(client)
        return client, app[CONTEXT]

    yield start
    for client in reversed(clients):
        await client.close()


@pytest.fixture
async def relay() -> AsyncIterator[FakeRelay]:
    """A real SMTP server on loopback playing the outbound mail relay."""
    server = FakeRelay()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    """The fake Telegram Bot API on loopback (`tests/fake_telegram.py`)."""
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
def ingest() -> RecordingIngest:
    """An ingest that records what a channel adapter hands the core (no database)."""
    return RecordingIngest()


@pytest.fixture
def services(ingest: RecordingIngest, tmp_path: Path) -> ChannelServices:
    """Channel services around the recording `ingest`, for an adapter under test alone."""
    return make_services(ingest, tmp_path / "attachments")


@pytest.fixture
async def queued_server(start_app: AppFactory, settings: Settings) -> tuple[str, AppContext]:
    """The whole server on loopback, web chat and email off, every new customer thread
    queued for an agent: (base URL, context)."""
    client, context = await start_app(
        settings.replace("webchat", enabled=False).replace("email", enabled=False),
        responder=QueueEveryThread(),
    )
    return str(client.make_url("/")).rstrip("/"), context


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium for one test (Debian's, as CI installs it)."""
    async with running_chromium() as chromium:
        yield chromium
