"""Agent console sessions: the cookie, the server-side session row, and CSRF tokens.

The browser holds a random token in an `HttpOnly`, `SameSite=Lax` cookie; the
database holds only its SHA-256, so sessions can be revoked and a copy of the
database signs nobody in. Every state change made with the cookie must also carry
the session's CSRF token (an HMAC of the session token under the server secret),
which a page on another site cannot read.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.core.messages import utcnow
from router.core.security import digests_match, new_token, sign, token_hash
from router.core.transaction import Effects, write
from router.storage.models import Agent, ConsoleSession

SESSION_COOKIE = "pasokh_console"
# A random value set before sign-in; the sign-in form must echo its HMAC (login CSRF).
LOGIN_COOKIE = "pasokh_console_login"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Writing last_seen_at on every request would serialise SQLite on reads.
LAST_SEEN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class ConsoleIdentity:
    """The agent behind a live console session."""

    session_id: int
    agent_id: int
    email: str
    name: str
    tier: int
    is_admin: bool
    language: str
    presence: str
    csrf_token: str


def csrf_token_for(secret_key: str, session_token: str) -> str:
    """The CSRF token of a session (derived, so nothing more to store)."""
    return sign(secret_key, "console-csrf", session_token)


def login_csrf_for(secret_key: str, login_cookie: str) -> str:
    """The token the sign-in form must carry for this browser's login cookie."""
    return sign(secret_key, "console-login", login_cookie)


def tokens_equal(given: str | None, expected: str) -> bool:
    """Constant-time comparison; a missing token never matches."""
    return given is not None and digests_match(expected, given)


def new_login_cookie_value() -> str:
    """A fresh random login-cookie value."""
    return secrets.token_urlsafe(24)


def cookie_secure(request: web.Request, app: AppContext) -> bool:
    """Whether cookies get the `Secure` flag for this request."""
    mode = app.settings.console.secure_cookies
    if mode == "always":
        return True
    if mode == "never":
        return False
    return request.secure or app.settings.server.public_url.lower().startswith("https://")


def allowed_origins(request: web.Request, app: AppContext) -> set[str]:
    """Origins that may sign in and open the console socket: ours, public_url, configured."""
    scheme = "https" if request.secure else "http"
    origins = {f"{scheme}://{request.host}".lower()}
    public = urlsplit(app.settings.server.public_url)
    if public.scheme and public.netloc:
        origins.add(f"{public.scheme}://{public.netloc}".lower())
    origins.update(origin.rstrip("/").lower() for origin in app.settings.console.allowed_origins)
    return origins


def origin_allowed(request: web.Request, app: AppContext, *, required: bool) -> bool:
    """True when the request's Origin is one of ours (or absent and not `required`)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return not required
    return origin.rstrip("/").lower() in allowed_origins(request, app)


async def create_session(
    app: AppContext, agent_id: int, *, user_agent: str | None, remote: str | None
) -> str | None:
    """Store a new session for `agent_id` and return its token (for the cookie); None
    when the agent was deactivated meanwhile (during the password check)."""
    token = new_token("pc")
    now = utcnow()

    async def work(session: AsyncSession, _: Effects) -> bool:
        # The agent's row held until commit: a deactivation running now either comes
        # first (seen here) or waits, then revokes this session with the others.
        active = await session.scalar(
            select(Agent.id)
            .where(Agent.id == agent_id, Agent.deactivated_at.is_(None))
            .with_for_update()
        )
        if active is None:
            return False
        session.add(
            ConsoleSession(
                token_hash=token_hash(token),
                agent_id=agent_id,
                created_at=now,
                expires_at=now + timedelta(hours=app.settings.console.session_hours),
                last_seen_at=now,
                user_agent=(user_agent or "")[:300] or None,
                remote=(remote or "")[:64] or None,
            )
        )
        return True

    return token if await write(app, work) else None


async def identity_for_token(app: AppContext, token: str) -> ConsoleIdentity | None:
    """The agent of a live (unexpired, unrevoked) session of an active agent; None
    otherwise."""
    now = utcnow()
    async with app.read_sessions() as session:
        row = await session.execute(
            select(ConsoleSession, Agent)
            .join(Agent, Agent.id == ConsoleSession.agent_id)
            .where(ConsoleSession.token_hash == token_hash(token), Agent.deactivated_at.is_(None))
        )
        found = row.first()
        if found is None:
            return None
        console_session, agent = found
        if console_session.revoked_at is not None or console_session.expires_at <= now:
            return None
        stale = (
            console_session.last_seen_at is None
            or now - console_session.last_seen_at > LAST_SEEN_EVERY
        )
    if stale:
        await _record_seen(app, console_session.id, now)
    return ConsoleIdentity(
        session_id=console_session.id,
        agent_id=agent.id,
        email=agent.email,
        name=agent.name,
        tier=agent.tier,
        is_admin=agent.is_admin,
        language=agent.language,
        presence=agent.presence,
        csrf_token=csrf_token_for(app.settings.server.secret_key, token),
    )


async def _record_seen(app: AppContext, session_id: int, now: datetime) -> None:
    async def work(session: AsyncSession, _: Effects) -> None:
        fresh = await session.get(ConsoleSession, session_id)
        if fresh is not None:
            fresh.last_seen_at = now

    await write(app, work)


async def identity_for_request(request: web.Request, app: AppContext) -> ConsoleIdentity | None:
    """The console identity of the request's session cookie, if it names a live session."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await identity_for_token(app, token)


async def revoke_session(app: AppContext, token: str) -> int | None:
    """Revoke the session of `token`; its id, or None when there was none live."""

    async def work(session: AsyncSession, _: Effects) -> int | None:
        row = await session.scalar(
            select(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token))
        )
        if row is None or row.revoked_at is not None:
            return None
        row.revoked_at = utcnow()
        return row.id

    return await write(app, work)


def csrf_header_valid(request: web.Request, identity: ConsoleIdentity) -> bool:
    """True when the request carries the session's CSRF token in `X-CSRF-Token`."""
    return tokens_equal(request.headers.get(CSRF_HEADER), identity.csrf_token)
