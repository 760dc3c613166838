"""The agent console: the page, sign-in and sign-out, and the live WebSocket.

The console itself is static HTML, CSS and plain JavaScript (`router/http/static/`);
it reads and changes threads through the JSON API (`/api/v1`), authenticated by the
session cookie set here plus the session's CSRF token on every state change. The
WebSocket at `/ws/console` pushes event ids (never customer text) so the page knows
what to re-read; the API decides what the agent may see.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.agents import queue as agent_queue
from router.agents.console_sockets import ConsoleSocketLocks, socket_locks_for
from router.context import AppContext
from router.core.connection_slots import ClientSlots, Refusal
from router.core.events import (
    Event,
)
from router.core.messages import utcnow
from router.core.rate_limits import (
    DatabaseRateLimits,
    MemoryRateLimits,
    RateLimiter,
    rate_limits_for,
)
from router.core.security import PASSWORDS, PasswordSlot
from router.core.transaction import Effects, write
from router.http.console_events import ThreadSight, payload_for
from router.http.console_sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    ConsoleIdentity,
    cookie_secure,
    create_session,
    csrf_token_for,
    identity_for_request,
    identity_for_token,
    login_csrf_for,
    new_login_cookie_value,
    origin_allowed,
    revoke_session,
    tokens_equal,
)
from router.http.errors import json_error
from router.http.forwarded import client_key
from router.http.keys import CONTEXT
from router.http.sign_in_backoff import BackoffPolicy, backoff_key, claim_attempt, forget
from router.storage.models import Agent, AuditEvent

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_FILES = {
    "console.js": "text/javascript; charset=utf-8",
    "console-outreach.js": "text/javascript; charset=utf-8",
    "console-customers.js": "text/javascript; charset=utf-8",
    "console-assist.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "console-notify.js": "text/javascript; charset=utf-8",
    "console-admin.js": "text/javascript; charset=utf-8",
    "console-knowledge.js": "text/javascript; charset=utf-8",
    # the notification chime (a generated 0.18 s tone; see docs/console.md)
    "notify.wav": "audio/wav",
    # The "Service hours" admin page: calendars and SLA policies
    "console-admin-sla.js": "text/javascript; charset=utf-8",
    "console-admin-sla.css": "text/css; charset=utf-8",
    # Chart.js 4 (MIT, its licence beside it), for the Reports page's charts
    "vendor/chart.umd.min.js": "text/javascript; charset=utf-8",
    "vendor/chart.js.LICENSE.md": "text/plain; charset=utf-8",
}
# The page loads only its own script and style; nothing inline can run.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
MAX_FIELD_LENGTH = 1024

routes = web.RouteTableDef()


SIGN_IN_LIMIT = "console:sign-in"  # the limits bucket of sign-in attempts per address


@dataclass
class ConsoleState:
    """What the console keeps per app: the sign-in rate and the open sockets."""

    attempts_per_minute: int
    # Sign-in attempts per client address, counted where every process sees them (on
    # PostgreSQL); made on first use, when the engine exists.
    limits: MemoryRateLimits | DatabaseRateLimits | None = None
    sockets: dict[int, set[web.WebSocketResponse]] = field(default_factory=dict)
    # Open sockets per session against `[console] max_sockets_per_session`, and in all
    # against the process's budget shared with the web chat; made on first use.
    slots: ClientSlots | None = None
    # A refused socket is counted every time but logged once a minute per session, so
    # a page (or a stolen cookie) opening sockets in a loop cannot flood the log.
    refusals_logged: RateLimiter = field(default_factory=lambda: RateLimiter(1))
    # Open console sockets per agent, and the pending "mark offline" of agents with none.
    agent_sockets: dict[int, int] = field(default_factory=dict)
    offline_timers: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    shutting_down: bool = False
    # Consoles open in other processes (PostgreSQL); made on first use, None on SQLite.
    socket_locks: ConsoleSocketLocks | None = None
    socket_locks_made: bool = False
    # An argon2 hash to verify against for unknown emails, so timing does not tell.
    dummy_hash: str | None = None


CONSOLE_STATE = web.AppKey("pasokh_console_state", ConsoleState)


def setup(app: web.Application, sign_in_attempts_per_minute: int) -> None:
    """Add the console's routes and state to `app`."""
    app[CONSOLE_STATE] = ConsoleState(sign_in_attempts_per_minute)
    app.router.add_routes(routes)
    app.on_shutdown.append(_close_all_sockets)


def _agent_json(identity: ConsoleIdentity) -> dict[str, Any]:
    return {
        "id": identity.agent_id,
        "email": identity.email,
        "name": identity.name,
        "tier": identity.tier,
        "is_admin": identity.is_admin,
        "language": identity.language,
        "presence": identity.presence,
    }


def _set_session_cookie(
    response: web.StreamResponse, request: web.Request, app: AppContext, token: str
) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=app.settings.console.session_hours * 3600,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=cookie_secure(request, app),
    )


def _login_cookie(request: web.Request) -> tuple[str, bool]:
    """This browser's login-cookie value, and whether it is new (must be set)."""
    value = request.cookies.get(LOGIN_COOKIE)
    if value and len(value) <= 64:
        return value, False
    return new_login_cookie_value(), True


def _set_login_cookie(
    response: web.StreamResponse, request: web.Request, app: AppContext, value: str
) -> None:
    response.set_cookie(
        LOGIN_COOKIE,
        value,
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=cookie_secure(request, app),
    )


@routes.get("/console")
async def console_page(request: web.Request) -> web.StreamResponse:
    """The console's single page (sign-in form and the console itself)."""
    app = request.app[CONTEXT]
    response = web.FileResponse(STATIC_DIR / "console.html", headers=PAGE_HEADERS)
    response.content_type = "text/html"
    response.charset = "utf-8"
    value, is_new = _login_cookie(request)
    if is_new:
        _set_login_cookie(response, request, app, value)
    return response


@routes.get(r"/console/static/{name:(vendor/)?[\w.-]+}")
async def console_static(request: web.Request) -> web.StreamResponse:
    """The console's script and stylesheet (a fixed list; nothing else is served)."""
    name = request.match_info["name"]
    content_type = STATIC_FILES.get(name)
    if content_type is None:
        raise web.HTTPNotFound()
    return web.FileResponse(
        STATIC_DIR / name,
        headers={
            "Content-Type": content_type,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


@routes.get("/console/session")
async def console_session(request: web.Request) -> web.Response:
    """Who is signed in (with the CSRF token), or the sign-in form's CSRF token."""
    app = request.app[CONTEXT]
    identity = await identity_for_request(request, app)
    headers = {"Cache-Control": "no-store"}
    if identity is not None:
        return web.json_response(
            {
                "authenticated": True,
                "agent": _agent_json(identity),
                "csrf_token": identity.csrf_token,
                "survey_on_resolve": app.settings.surveys.send_by_default,
            },
            headers=headers,
        )
    value, is_new = _login_cookie(request)
    response = web.json_response(
        {
            "authenticated": False,
            "login_csrf": login_csrf_for(app.settings.server.secret_key, value),
        },
        headers=headers,
    )
    if is_new:
        _set_login_cookie(response, request, app, value)
    return response


async def _read_credentials(request: web.Request) -> tuple[str, str, str | None] | None:
    """(email, password, CSRF token) from a form or a JSON body; None if malformed."""
    if request.content_type in FORM_TYPES:
        form = await request.post()
        email, password, token = form.get("email"), form.get("password"), form.get(CSRF_FIELD)
        if not isinstance(token, str):
            token = None
    elif request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        email, password = body.get("email"), body.get("password")
        token = request.headers.get(CSRF_HEADER)
    else:
        return None
    if not isinstance(email, str) or not isinstance(password, str):
        return None
    if len(email) > MAX_FIELD_LENGTH or len(password) > MAX_FIELD_LENGTH:
        return None
    return email.strip().lower(), password, token


def _audit(action: str, agent_id: int | None, **details: Any) -> AuditEvent:
    return AuditEvent(
        actor_kind="agent" if agent_id is not None else "system",
        actor_id=agent_id,
        action=action,
        details=details,
    )


async def _write_audit(app: AppContext, action: str, agent_id: int | None, **details: Any) -> None:
    """Audit a sign-in or sign-out in its own transaction."""

    async def work(session: AsyncSession, _: Effects) -> None:
        session.add(_audit(action, agent_id, **details))

    await write(app, work)


async def _dummy_hash(state: ConsoleState, passwords: PasswordSlot) -> str:
    if state.dummy_hash is None:
        state.dummy_hash = await passwords.hash("not a real password")
    return state.dummy_hash


@routes.post("/console/login")
async def console_login(request: web.Request) -> web.StreamResponse:
    """Sign in with email and password; sets the session cookie.

    Refused: a foreign Origin or a missing/wrong CSRF token (403), too many attempts
    from one client, or for one email from one client (429 with Retry-After; see
    `sign_in_backoff`), wrong email or password (401), every password thread busy and
    their line full (503 with Retry-After, `PASSWORDS`). Unknown and known addresses
    get the same answers after the same work.
    """
    app = request.app[CONTEXT]
    state = request.app[CONSOLE_STATE]
    if not origin_allowed(request, app, required=False):
        return json_error(403, "sign-in from another site is refused")
    if state.limits is None:
        state.limits = rate_limits_for(app.engine)
    client = client_key(request.remote)
    rate_wait = await state.limits.take(SIGN_IN_LIMIT, client, state.attempts_per_minute, 60.0)
    if rate_wait > 0:
        limited = json_error(429, "too many sign-in attempts; wait a minute")
        limited.headers["Retry-After"] = str(max(1, math.ceil(rate_wait)))
        return limited
    credentials = await _read_credentials(request)
    if credentials is None:
        return json_error(400, "send email and password as a form or a JSON object")
    email, password, given_csrf = credentials
    login_cookie = request.cookies.get(LOGIN_COOKIE)
    expected = login_csrf_for(app.settings.server.secret_key, login_cookie or "")
    if not login_cookie or not tokens_equal(given_csrf, expected):
        return json_error(403, "missing or wrong CSRF token; reload the console")

    settings = app.settings.console
    remote = request.remote
    key = backoff_key(app.settings.server.secret_key, email, client)
    policy = BackoffPolicy(
        free_attempts=settings.max_failed_logins,
        first=timedelta(seconds=settings.first_backoff_seconds),
        longest=timedelta(minutes=settings.lockout_minutes),
    )
    # A place on the password threads first (PasswordsBusy: 503, see `api_errors_as_json`),
    # so an attempt refused for a flood of others is not counted against this client.
    with PASSWORDS.slot() as passwords:
        wait = await claim_attempt(app, key, utcnow(), policy)
        if wait is not None:
            return _too_many(wait)
        async with app.read_sessions() as session:
            agent = await session.scalar(select(Agent).where(Agent.email == email))
        if agent is None or not agent.password_hash or agent.deactivated_at is not None:
            # The same argon2 work as for a real account, so timing does not tell either.
            await passwords.verify(await _dummy_hash(state, passwords), password)
            await _write_audit(
                app, "sign_in_failed", None, email=email, reason="unknown", remote=remote
            )
            return json_error(401, "wrong email or password")
        if not await passwords.verify(agent.password_hash, password):
            await _write_audit(app, "sign_in_failed", agent.id, reason="password", remote=remote)
            return json_error(401, "wrong email or password")

    await forget(app, key)
    await _write_audit(app, "sign_in", agent.id, remote=remote)
    token = await create_session(
        app, agent.id, user_agent=request.headers.get("User-Agent"), remote=remote
    )
    if token is None:  # deactivated while the password was checked
        await _write_audit(app, "sign_in_failed", agent.id, reason="deactivated", remote=remote)
        return json_error(401, "wrong email or password")
    logger.info("console sign-in agent=%d", agent.id)
    response: web.StreamResponse
    if request.content_type in FORM_TYPES:
        response = _see_console()
    else:
        identity = await identity_for_token(app, token)
        assert identity is not None
        response = web.json_response(
            {
                "authenticated": True,
                "agent": _agent_json(identity),
                "csrf_token": identity.csrf_token,
                "survey_on_resolve": app.settings.surveys.send_by_default,
            }
        )
    response.headers["Cache-Control"] = "no-store"
    _set_session_cookie(response, request, app, token)
    return response


def _see_console() -> web.Response:
    """303 back to the console page (the answer to a plain form post)."""
    return web.Response(status=303, headers={"Location": "/console"})


def _too_many(seconds: int) -> web.Response:
    response = json_error(429, f"too many sign-in attempts; try again in {seconds} seconds")
    response.headers["Retry-After"] = str(seconds)
    return response


@routes.post("/console/logout")
async def console_logout(request: web.Request) -> web.StreamResponse:
    """End the session (CSRF token required) and close its sockets."""
    app = request.app[CONTEXT]
    token = request.cookies.get(SESSION_COOKIE)
    identity = await identity_for_request(request, app)
    if token is None or identity is None:
        return json_error(401, "not signed in")
    is_form = request.content_type in FORM_TYPES
    given = request.headers.get(CSRF_HEADER)
    if given is None and is_form:
        field_value = (await request.post()).get(CSRF_FIELD)
        given = field_value if isinstance(field_value, str) else None
    if not tokens_equal(given, csrf_token_for(app.settings.server.secret_key, token)):
        return json_error(403, "missing or wrong CSRF token")
    await revoke_session(app, token)
    await _write_audit(app, "sign_out", identity.agent_id, remote=request.remote)
    for socket in list(request.app[CONSOLE_STATE].sockets.pop(identity.session_id, set())):
        await socket.close(code=4401, message=b"signed out")
    response: web.StreamResponse = (
        _see_console() if is_form else web.json_response({"signed_out": True})
    )
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/ws/console")
async def console_socket(request: web.Request) -> web.StreamResponse:
    """Live events for a signed-in console; same-origin pages only."""
    app = request.app[CONTEXT]
    state = request.app[CONSOLE_STATE]
    if not origin_allowed(request, app, required=True):
        return json_error(403, "WebSocket from another origin is refused")
    token = request.cookies.get(SESSION_COOKIE)
    identity = await identity_for_request(request, app)
    if token is None or identity is None:
        return json_error(401, "sign in to the console first")
    slots = _slots(app, state)
    holder = str(identity.session_id)
    # Counted before the first await, so concurrent opens cannot pass a cap together;
    # refused after the upgrade, because a page cannot read a refused handshake's
    # status, and the close code tells it to wait before trying again.
    refusal = slots.admit(holder)
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=4096)
    try:
        await ws.prepare(request)
        if refusal is not None:
            await _refuse_socket(ws, app, state, refusal, identity)
            return ws
        await _live_console(ws, app, state, identity, token)
    finally:
        if refusal is None:
            slots.release(holder)
    return ws


def _slots(app: AppContext, state: ConsoleState) -> ClientSlots:
    if state.slots is None:
        slots = ClientSlots(
            total=app.sockets, per_client=app.settings.console.max_sockets_per_session
        )
        app.metrics.console_sockets.set_function(lambda: len(slots))
        state.slots = slots
    return state.slots


async def _refuse_socket(
    ws: web.WebSocketResponse,
    app: AppContext,
    state: ConsoleState,
    refusal: Refusal,
    identity: ConsoleIdentity,
) -> None:
    """Close a socket over a cap with the web chat's close codes: 4429 over the
    session's cap, 1013 (try again later) over the process's."""
    code, close = (
        ("too_many_session_sockets", 4429) if refusal == "client" else ("server_busy", 1013)
    )
    app.metrics.console_refused.labels(code).inc()
    if not state.refusals_logged.take(str(identity.session_id)):
        logger.warning(
            "console socket refused: code=%s agent=%d session=%d (more this minute are"
            " counted in pasokh_console_refused_total, not logged)",
            code,
            identity.agent_id,
            identity.session_id,
        )
    await ws.close(code=close, message=code.encode())


async def _live_console(
    ws: web.WebSocketResponse,
    app: AppContext,
    state: ConsoleState,
    identity: ConsoleIdentity,
    token: str,
) -> None:
    sockets = state.sockets.setdefault(identity.session_id, set())
    sockets.add(ws)
    await _console_opened(app, state, identity)
    try:
        async with app.events.subscription() as queue:
            await ws.send_json({"type": "hello", "agent_id": identity.agent_id})
            forward = asyncio.create_task(
                _forward_events(ws, queue, app, token, ThreadSight(app, _actor(identity))),
                name=f"console-ws:{identity.session_id}:forward",
            )
            try:
                async for msg in ws:
                    if msg.type == WSMsgType.TEXT and msg.data == "ping":
                        await ws.send_str("pong")
            finally:
                forward.cancel()
                await asyncio.gather(forward, return_exceptions=True)
    finally:
        sockets.discard(ws)
        if not sockets:
            state.sockets.pop(identity.session_id, None)
        _console_closed(app, state, identity.agent_id)


def _socket_locks(app: AppContext, state: ConsoleState) -> ConsoleSocketLocks | None:
    if not state.socket_locks_made:
        state.socket_locks = socket_locks_for(app.engine)
        state.socket_locks_made = True
    return state.socket_locks


async def _sync_socket_lock(app: AppContext, state: ConsoleState, agent_id: int) -> None:
    """Tell other processes whether this one has a console of the agent open."""
    locks = _socket_locks(app, state)
    if locks is None:
        return
    try:
        await locks.sync(agent_id, lambda: state.agent_sockets.get(agent_id, 0) > 0)
    except Exception:
        logger.exception("could not share that agent %d's console is open", agent_id)


async def _console_opened(app: AppContext, state: ConsoleState, identity: ConsoleIdentity) -> None:
    """An agent opening the console is at work: offline becomes online (away stays away)."""
    state.agent_sockets[identity.agent_id] = state.agent_sockets.get(identity.agent_id, 0) + 1
    timer = state.offline_timers.pop(identity.agent_id, None)
    if timer is not None:
        timer.cancel()
    await _sync_socket_lock(app, state, identity.agent_id)
    try:
        async with app.read_sessions() as session:
            presence = await session.scalar(
                select(Agent.presence).where(Agent.id == identity.agent_id)
            )
        if presence == "offline":
            await agent_queue.set_presence(app, identity.agent_id, "online")
    except Exception:
        logger.exception("could not mark agent %d online", identity.agent_id)


def _console_closed(app: AppContext, state: ConsoleState, agent_id: int) -> None:
    """After the agent's last console socket here closed, mark them offline unless they
    come back soon (a reload, a dropped connection). Not at server shutdown: a restart
    must not send every agent offline."""
    left = state.agent_sockets.get(agent_id, 1) - 1
    if left > 0:
        state.agent_sockets[agent_id] = left
        return
    state.agent_sockets.pop(agent_id, None)
    if state.shutting_down or agent_id in state.offline_timers:
        return
    timer = asyncio.create_task(
        _mark_offline_later(app, state, agent_id), name=f"console:offline:{agent_id}"
    )
    state.offline_timers[agent_id] = timer
    timer.add_done_callback(lambda done: _forget_timer(state, agent_id, done))


async def _mark_offline_later(app: AppContext, state: ConsoleState, agent_id: int) -> None:
    await _sync_socket_lock(app, state, agent_id)
    await asyncio.sleep(app.settings.console.offline_after_seconds)
    if state.agent_sockets.get(agent_id) or state.shutting_down:
        return
    locks = _socket_locks(app, state)
    if locks is not None and await locks.open_elsewhere(agent_id):
        return  # a console of theirs is open in another process: still at work
    await agent_queue.set_presence(app, agent_id, "offline")


def _forget_timer(state: ConsoleState, agent_id: int, done: asyncio.Task[None]) -> None:
    if state.offline_timers.get(agent_id) is done:
        del state.offline_timers[agent_id]
    if not done.cancelled() and done.exception() is not None:
        logger.error("could not mark agent %d offline", agent_id, exc_info=done.exception())


def _actor(identity: ConsoleIdentity) -> agent_queue.Actor:
    return agent_queue.Actor(identity.agent_id, identity.name, identity.tier, identity.is_admin)


async def _forward_events(
    ws: web.WebSocketResponse,
    queue: asyncio.Queue[Event],
    app: AppContext,
    token: str,
    sight: ThreadSight,
) -> None:
    """Send each bus event the agent may know of to `ws` (`payload_for`); close it once
    its session has ended."""
    recheck = app.settings.console.websocket_recheck_seconds
    checked = time.monotonic()
    while not ws.closed:
        try:
            async with asyncio.timeout(recheck):
                event = await queue.get()
        except TimeoutError:
            event = None
        if time.monotonic() - checked >= recheck:
            checked = time.monotonic()
            identity = await identity_for_token(app, token)
            if identity is None:
                await ws.close(code=4401, message=b"session ended")
                return
            if _actor(identity) != sight.actor:  # an admin changed the agent's tier
                sight.forget(_actor(identity))
        if event is None or ws.closed:
            continue
        payload = await payload_for(event, sight)
        if payload is not None:
            await ws.send_json(payload)


async def _close_all_sockets(app: web.Application) -> None:
    state = app[CONSOLE_STATE]
    state.shutting_down = True
    for timer in list(state.offline_timers.values()):
        timer.cancel()
    for sockets in list(state.sockets.values()):
        for socket in list(sockets):
            await socket.close(code=1001, message=b"server shutting down")
    if state.socket_locks is not None:
        await state.socket_locks.close()
