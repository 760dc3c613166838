"""Bearer-token authentication for the JSON API (agents and integrations)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web
from sqlalchemy import event, select, update
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from router.context import AppContext
from router.core.events import Event, EventsResumed, IntegrationRevoked
from router.core.messages import utcnow
from router.core.security import token_hash
from router.core.shared_events import PostgresEventBus, notify_at_commit
from router.core.tasks import BackgroundTasks
from router.core.transaction import Effects, write
from router.http import console_sessions
from router.http.keys import CONTEXT
from router.storage.models import Agent, ApiToken

logger = logging.getLogger(__name__)

LAST_USED_RESOLUTION = timedelta(minutes=1)
# How long a process trusts an integration token it checked: the backstop for a
# revocation whose notification it missed without noticing (docs/security.md).
TRUSTED_FOR_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as."""

    kind: str  # "agent" | "integration"
    token_id: int
    name: str
    agent_id: int | None = None
    tier: int = 0
    is_admin: bool = False


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, if present."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def principal_for_token(app: AppContext, token: str, kind: str) -> Principal | None:
    """Look up a live token of `kind`; None when unknown, revoked, of another kind, or
    an agent's token of a deactivated agent."""
    async with app.read_sessions() as session:
        row = await session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
        if row is None or row.revoked_at is not None or row.kind != kind:
            return None
        agent = None
        if kind == "agent" and row.agent_id is not None:
            agent = await session.get(Agent, row.agent_id)
            if agent is None or agent.deactivated_at is not None:
                return None
    now = utcnow()
    if _use_worth_recording(row.last_used_at, now):
        await _record_use(app, row.id, now)
    if agent is not None:
        return Principal(kind, row.id, agent.name, agent.id, agent.tier, agent.is_admin)
    return Principal(kind, row.id, row.name)


@dataclass(slots=True)
class _Trusted:
    token_id: int
    until: float  # `time.monotonic()` after which the token is looked up again
    used_at: datetime | None  # its `last_used_at` as this process last saw or wrote it


class IntegrationTokenCheck:
    """What the API channel asks of the router (`ChannelServices.integrations`): the
    tokens are the router's, stored and revoked with the agents' tokens.

    A token found live is trusted for `trusted_for` seconds without reading it again,
    only while every revocation reaches this process: on PostgreSQL `revoke_integration`
    notifies every process's bus, trusted while that bus is connected and its events
    read; on SQLite it appends to the database's revocation file after its commit, and
    a request finding the file changed (or unreadable) forgets every token.
    """

    def __init__(self, app: AppContext, *, trusted_for: float = TRUSTED_FOR_SECONDS) -> None:
        self._app = app
        self._trusted_for = trusted_for
        self._trusted: dict[str, _Trusted] = {}  # by token hash
        # Counts the revocations seen: a look-up that ran across one is not trusted.
        self._revocations = 0
        self._events: asyncio.Queue[Event] | None = None
        # The events `_events` had missed for want of room when this process last
        # forgot what it trusted (`PostgresEventBus.dropped`).
        self._dropped = 0
        # SQLite's revocation file, and what it was when this process last forgot.
        self._revocation_file = revocation_file(app.engine.url)
        self._file_seen: tuple[int, int, int] | None = None
        self._tasks = BackgroundTasks(logger)

    async def start(self) -> None:
        bus = self._app.events
        if isinstance(bus, PostgresEventBus):
            self._events = bus.subscribe()
            self._tasks.spawn(self._forget_revoked(self._events), "integrations:revocations")

    async def stop(self) -> None:
        await self._tasks.cancel()
        if self._events is not None:
            self._app.events.unsubscribe(self._events)
            self._events = None
        self._trusted.clear()

    async def token_id(self, token: str) -> int | None:
        digest = token_hash(token)
        if self._trusting():
            trusted = self._trusted.get(digest)
            if trusted is not None and time.monotonic() < trusted.until:
                now = utcnow()
                if _use_worth_recording(trusted.used_at, now):
                    trusted.used_at = now
                    await _record_use(self._app, trusted.token_id, now)
                return trusted.token_id
        revocations = self._revocations
        principal = await principal_for_token(self._app, token, "integration")
        if principal is None:
            self._trusted.pop(digest, None)
            return None
        if self._trusting() and revocations == self._revocations:
            self._trusted[digest] = _Trusted(
                principal.token_id, time.monotonic() + self._trusted_for, utcnow()
            )
        return principal.token_id

    def _trusting(self) -> bool:
        """Whether every revocation reached this process: on SQLite, the revocation file
        is as it was when this process last forgot what it trusted; on PostgreSQL, its
        bus is connected and its queue dropped no event (any one, as it may have been a
        revocation) since then."""
        if self._revocation_file is not None:
            try:
                seen = _file_state(self._revocation_file)
            except OSError:
                self._forget()  # cannot tell: trust nothing
                return False
            if seen == self._file_seen:
                return True
            self._file_seen = seen
            self._forget()
            return False
        bus, events = self._app.events, self._events
        if events is None or not isinstance(bus, PostgresEventBus):
            return False
        dropped = bus.dropped(events)
        if bus.listening and dropped == self._dropped:
            return True
        self._dropped = dropped
        self._forget()
        return False

    def _forget(self) -> None:
        self._revocations += 1
        self._trusted.clear()

    async def _forget_revoked(self, events: asyncio.Queue[Event]) -> None:
        while True:
            event = await events.get()
            # After a reconnection the bus may have missed a revocation: forget all.
            if isinstance(event, IntegrationRevoked | EventsResumed):
                self._forget()


async def revoke_integration(session: AsyncSession, name: str) -> int:
    """Revoke every live token of integration `name` in `session`'s transaction; the
    number revoked. Every process refuses them once the transaction commits: it tells
    every process's bus at commit (see `IntegrationTokenCheck`)."""
    revoked = await session.execute(
        update(ApiToken)
        .where(
            ApiToken.kind == "integration",
            ApiToken.name == name,
            ApiToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    count = int(getattr(revoked, "rowcount", 0))
    if count:
        await notify_at_commit(session, IntegrationRevoked(name))
        path = revocation_file(session.get_bind().engine.url)
        if path is not None:

            def mark(_: Session) -> None:
                _append_revocation(path)

            event.listen(session.sync_session, "after_commit", mark, once=True)
    return count


def revocation_file(url: URL) -> Path | None:
    """The file beside an SQLite database that grows by a line with each revocation
    committed, by any process (SQLite has no NOTIFY); None on PostgreSQL."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None  # in memory: no file to share, so no token is trusted unread
    return Path(f"{url.database}-revocations")


def _append_revocation(path: Path) -> None:
    # Its size, not its time, tells readers: a clock tick can hold two changes.
    try:
        with path.open("ab") as file:
            file.write(b"\n")
    except OSError:
        # The revocation is committed; a process that trusted the token stops within
        # `TRUSTED_FOR_SECONDS` all the same. Raising here would report it failed.
        logger.exception("could not mark the revocation in %s", path)


def _file_state(path: Path) -> tuple[int, int, int] | None:
    """Changes with every line appended (and if the file is replaced); None: none yet."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_size, stat.st_mtime_ns)


def _use_worth_recording(last_used_at: datetime | None, now: datetime) -> bool:
    """Whether a token's use at `now` is written: throttled, as a write per request would
    take SQLite's write lock for every GET."""
    return last_used_at is None or now - last_used_at > LAST_USED_RESOLUTION


async def _record_use(app: AppContext, token_id: int, now: datetime) -> None:
    async def work(session: AsyncSession, _: Effects) -> None:
        await session.execute(
            update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
        )

    await write(app, work)


async def agent_principal(request: web.Request) -> Principal:
    """The agent a JSON API request acts as; the one gate of the agent API.

    Accepts `Authorization: Bearer <agent token>`, or the console's session cookie;
    with the cookie, every request but GET/HEAD/OPTIONS must carry the session's
    CSRF token in `X-CSRF-Token` (a cookie alone is what a forged request has).

    Raises:
        web.HTTPUnauthorized: no credentials, or unknown/revoked ones (JSON body).
        web.HTTPForbidden: a cookie-authenticated change without the CSRF token.
    """
    token = bearer_token(request)
    if token is None:
        return await _console_principal(request)
    principal = await principal_for_token(request.app[CONTEXT], token, "agent")
    if principal is None or principal.agent_id is None:
        raise unauthorized("unknown or revoked agent token")
    return principal


async def _console_principal(request: web.Request) -> Principal:
    identity = await console_sessions.identity_for_request(request, request.app[CONTEXT])
    if identity is None:
        raise unauthorized()
    if request.method not in console_sessions.SAFE_METHODS and not (
        console_sessions.csrf_header_valid(request, identity)
    ):
        raise web.HTTPForbidden(
            text='{"error": {"status": 403, "message": "missing or wrong X-CSRF-Token header"}}',
            content_type="application/json",
        )
    return Principal(
        "agent",
        identity.session_id,
        identity.name,
        identity.agent_id,
        identity.tier,
        identity.is_admin,
    )


def unauthorized(message: str = "a valid bearer token is required") -> web.HTTPUnauthorized:
    """401 with a JSON body and the challenge header."""
    return web.HTTPUnauthorized(
        text=f'{{"error": {{"status": 401, "message": "{message}"}}}}',
        content_type="application/json",
        headers={"WWW-Authenticate": 'Bearer realm="pasokh"'},
    )
