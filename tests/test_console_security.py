"""Agent console security over real HTTP: sessions, cookies, CSRF, lock-out, the socket,
and that no agent API call works without a valid token or session."""

from __future__ import annotations

import asyncio
import re
import threading
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from config.settings import Settings
from router.core import security
from router.core.messages import utcnow
from router.core.responder import QueueEveryThread
from router.http import console
from router.http.console_sessions import LOGIN_COOKIE, SESSION_COOKIE
from router.storage.models import Agent, ApiToken, AuditEvent, ConsoleSession, SignInBackoff
from tests.agent_support import eventually
from tests.console_support import (
    PASSWORD,
    add_agent,
    agent_token,
    integration_token,
    login_csrf,
    sign_in,
)
from tests.support import FakeAdapter

EMAIL = "sara@example.com"


def _cookie(response: aiohttp.ClientResponse, name: str) -> Any:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar.get(name)


def _origin(client: TestClient[Any, Any]) -> str:
    return str(client.make_url("/")).rstrip("/")


async def _audit_actions(context: Any, agent_id: int | None = None) -> list[str]:
    async with context.sessions() as session:
        query = select(AuditEvent.action).order_by(AuditEvent.id)
        if agent_id is not None:
            query = query.where(AuditEvent.actor_id == agent_id)
        return list(await session.scalars(query))


async def test_page_is_served_with_a_strict_content_security_policy(
    settings: Settings, start_app: Any
) -> None:
    client, _ = await start_app(settings)
    page = await client.get("/console")
    assert page.status == 200
    assert page.content_type == "text/html"
    html = await page.text()
    assert '<form id="signin-form" method="post" action="/console/login"' in html
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    login = _cookie(page, LOGIN_COOKIE)
    assert login is not None and login["httponly"] and login["samesite"] == "Strict"

    script = await client.get("/console/static/console.js")
    assert script.status == 200 and script.content_type == "text/javascript"
    assert "innerHTML" not in (await script.text()).replace("never innerHTML", "")
    assert (await client.get("/console/static/console.py")).status == 404
    assert (await client.get("/console/static/..%2Fconsole.py")).status == 404


async def test_sign_in_sets_a_session_cookie_httponly_lax_not_secure_over_http(
    settings: Settings, start_app: Any
) -> None:
    client, context = await start_app(settings)
    agent_id = await add_agent(context, EMAIL, tier=2)
    csrf = await login_csrf(client)
    response = await client.post(
        "/console/login",
        json={"email": "Sara@Example.com ", "password": PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status == 200
    body = await response.json()
    assert body["agent"] == {
        "id": agent_id,
        "email": EMAIL,
        "name": "Sara",
        "tier": 2,
        "is_admin": False,
        "language": "en",
        "presence": "offline",
    }
    assert response.headers["Cache-Control"] == "no-store"
    cookie = _cookie(response, SESSION_COOKIE)
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/"
    assert not cookie["secure"]
    assert int(cookie["max-age"]) == settings.console.session_hours * 3600

    # Only the token's hash is stored server side.
    async with context.sessions() as session:
        stored = list(await session.scalars(select(ConsoleSession)))
    assert len(stored) == 1 and stored[0].agent_id == agent_id
    assert cookie.value not in stored[0].token_hash

    me = await (await client.get("/console/session")).json()
    assert me["authenticated"] is True and me["csrf_token"] == body["csrf_token"]
    assert "sign_in" in await _audit_actions(context, agent_id)


@pytest.mark.parametrize(
    ("changes", "secure"),
    [
        ({"console": {"secure_cookies": "always"}}, True),
        ({"server": {"public_url": "https://support.example.com"}}, True),
        (
            {
                "server": {"public_url": "https://support.example.com"},
                "console": {"secure_cookies": "never"},
            },
            False,
        ),
    ],
)
async def test_cookie_is_secure_behind_tls(
    settings: Settings, start_app: Any, changes: dict[str, dict[str, Any]], secure: bool
) -> None:
    for section, values in changes.items():
        settings = settings.replace(section, **values)
    client, context = await start_app(settings)
    await add_agent(context, EMAIL)
    form = await client.get("/console/session")
    login_cookie = _cookie(form, LOGIN_COOKIE)
    assert bool(login_cookie["secure"]) is secure
    # A client only sends a Secure cookie over TLS; this one is told to send it anyway.
    response = await client.post(
        "/console/login",
        json={"email": EMAIL, "password": PASSWORD},
        headers={
            "X-CSRF-Token": (await form.json())["login_csrf"],
            "Cookie": f"{LOGIN_COOKIE}={login_cookie.value}",
        },
    )
    assert response.status == 200
    assert bool(_cookie(response, SESSION_COOKIE)["secure"]) is secure


async def test_sign_in_without_csrf_token_is_refused(settings: Settings, start_app: Any) -> None:
    client, context = await start_app(settings)
    await add_agent(context, EMAIL)
    form = {"email": EMAIL, "password": PASSWORD}

    # A plain cross-site form post: no login cookie, no token.
    response = await client.post("/console/login", data=form)
    assert response.status == 403
    assert _cookie(response, SESSION_COOKIE) is None

    csrf = await login_csrf(client)
    assert (await client.post("/console/login", data=form)).status == 403
    # Hex: flip the last digit so the token always differs (a fixed "00" matched 1 in 256).
    wrong = {**form, "csrf_token": csrf[:-1] + ("0" if csrf[-1] != "0" else "1")}
    assert (await client.post("/console/login", data=wrong)).status == 403
    assert (await client.post("/console/login", json=form)).status == 403
    foreign = {"Origin": "https://evil.example", "X-CSRF-Token": csrf}
    assert (await client.post("/console/login", json=form, headers=foreign)).status == 403
    assert (await (await client.get("/console/session")).json())["authenticated"] is False

    # The same form with the hidden field signs in and redirects to the console.
    response = await client.post(
        "/console/login", data={**form, "csrf_token": csrf}, allow_redirects=False
    )
    assert response.status == 303 and response.headers["Location"] == "/console"
    assert _cookie(response, SESSION_COOKIE) is not None


async def _attempt(
    client: TestClient[Any, Any], email: str, password: str, csrf: str
) -> aiohttp.ClientResponse:
    return await client.post(
        "/console/login",
        json={"email": email, "password": password},
        headers={"X-CSRF-Token": csrf},
    )


async def _other_client(client: TestClient[Any, Any]) -> aiohttp.ClientSession:
    """A browser on another address (127.0.0.2) with its own cookies."""
    return aiohttp.ClientSession(
        base_url=client.make_url("/"),
        connector=aiohttp.TCPConnector(local_addr=("127.0.0.2", 0)),
        cookie_jar=aiohttp.CookieJar(unsafe=True),  # keep cookies of an IP-address host
    )


async def test_failures_back_off_per_address_and_client(settings: Settings, start_app: Any) -> None:
    """Failures slow down that address from that client only (429, growing Retry-After);
    an unknown address is answered the same; the agent signs in from elsewhere."""
    settings = settings.replace(
        "console", max_failed_logins=3, first_backoff_seconds=60, sign_in_attempts_per_minute=100
    )
    client, context = await start_app(settings)
    agent_id = await add_agent(context, EMAIL)
    csrf = await login_csrf(client)

    answers: dict[str, list[tuple[int, str, bool]]] = {}
    for email in (EMAIL, "nobody@example.com"):
        for password in ["wrong password"] * 3 + [PASSWORD]:
            response = await _attempt(client, email, password, csrf)
            answers.setdefault(email, []).append(
                (
                    response.status,
                    re.sub(r"\d+", "N", (await response.json())["error"]["message"]),
                    "Retry-After" in response.headers,
                )
            )
            assert _cookie(response, SESSION_COOKIE) is None
    assert answers[EMAIL] == answers["nobody@example.com"]  # nothing tells them apart
    assert [status for status, _, _ in answers[EMAIL]] == [401, 401, 401, 429]
    refused = await _attempt(client, "nobody@example.com", PASSWORD, csrf)
    assert refused.status == 429 and 1 <= int(refused.headers["Retry-After"]) <= 60
    async with context.sessions() as session:
        agent = await session.get(Agent, agent_id)
    assert agent is not None and agent.locked_until is None  # the account is not locked

    # the agent, from another client, signs in at once
    async with await _other_client(client) as other:
        page = await other.get("/console/session")
        other_csrf = (await page.json())["login_csrf"]
        response = await other.post(
            "/console/login",
            json={"email": EMAIL, "password": PASSWORD},
            headers={"X-CSRF-Token": other_csrf},
        )
        assert response.status == 200, await response.text()

    # each further failure from the first client doubles the wait
    async def wait_over() -> None:
        async with context.sessions() as session, session.begin():
            await session.execute(
                update(SignInBackoff).values(blocked_until=utcnow() - timedelta(seconds=1))
            )

    waits = []
    for _ in range(3):
        await wait_over()
        assert (await _attempt(client, EMAIL, "wrong again", csrf)).status == 401
        refused = await _attempt(client, EMAIL, PASSWORD, csrf)
        assert refused.status == 429
        waits.append(int(refused.headers["Retry-After"]))
    assert 60 < waits[0] <= 120 < waits[1] <= 240 < waits[2] <= 480
    # once the wait is over the right password works, and the count starts again
    await wait_over()
    assert (await _attempt(client, EMAIL, PASSWORD, csrf)).status == 200
    assert (await _attempt(client, EMAIL, "one typo", csrf)).status == 401
    actions = await _audit_actions(context, agent_id)
    assert "account_locked" not in actions and "sign_in" in actions


async def test_unknown_email_fails_like_a_wrong_password(
    settings: Settings, start_app: Any
) -> None:
    client, context = await start_app(settings)
    csrf = await login_csrf(client)
    response = await client.post(
        "/console/login",
        json={"email": "nobody@example.com", "password": PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status == 401
    assert (await response.json())["error"]["message"] == "wrong email or password"
    assert await _audit_actions(context) == ["sign_in_failed"]


async def test_sign_in_attempts_are_rate_limited_per_address(
    settings: Settings, start_app: Any
) -> None:
    settings = settings.replace("console", sign_in_attempts_per_minute=3, max_failed_logins=50)
    client, context = await start_app(settings)
    await add_agent(context, EMAIL)
    headers = {"X-CSRF-Token": await login_csrf(client)}
    for _ in range(3):
        response = await client.post(
            "/console/login", json={"email": EMAIL, "password": "nope"}, headers=headers
        )
        assert response.status == 401
    limited = await client.post(
        "/console/login", json={"email": EMAIL, "password": PASSWORD}, headers=headers
    )
    assert limited.status == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 60


async def test_a_flood_of_sign_ins_is_refused_at_once_and_healthz_keeps_answering(
    settings: Settings, start_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 sign-ins at once from 40 clients while every password check hangs: what finds
    no place on the password threads is refused at once (503, Retry-After), and
    /healthz, whose disk check runs on the loop's default executor as file reads and
    writes do, still answers. On the shared default executor it waited for the checks."""
    settings = settings.replace("server", trusted_proxies=["127.0.0.1"]).replace(
        "console", sign_in_attempts_per_minute=1000, max_failed_logins=1000
    )
    client, context = await start_app(settings)
    await add_agent(context, EMAIL)
    csrf = await login_csrf(client)
    gate = threading.Event()

    def hanging_check(stored_hash: str, password: str) -> bool:
        gate.wait(60)
        return False

    monkeypatch.setattr(security, "verify_password", hanging_check)
    # Where the sign-in called it before it had threads of its own.
    monkeypatch.setattr(console, "verify_password", hanging_check, raising=False)

    async def guess(number: int) -> tuple[int, str | None]:
        headers = {"X-CSRF-Token": csrf, "X-Forwarded-For": f"198.51.100.{number + 1}"}
        body = {"email": EMAIL, "password": f"guess {number}"}
        async with client.post("/console/login", json=body, headers=headers) as answer:
            return answer.status, answer.headers.get("Retry-After")

    flood = [asyncio.ensure_future(guess(number)) for number in range(40)]
    try:

        async def many_answered() -> bool:
            return sum(attempt.done() for attempt in flood) >= 20

        await eventually(many_answered, timeout=30)
        assert {attempt.result() for attempt in flood if attempt.done()} == {(503, "2")}
        async with asyncio.timeout(30), client.get("/healthz") as health:
            assert health.status == 200
    finally:
        gate.set()
    answers = await asyncio.gather(*flood)
    assert {status for status, _ in answers} == {401, 503}


async def test_sign_out_needs_csrf_and_revokes_the_session(
    settings: Settings, start_app: Any
) -> None:
    client, context = await start_app(settings)
    agent_id = await add_agent(context, EMAIL)
    body = await sign_in(client, EMAIL)
    session_cookie = client.session.cookie_jar.filter_cookies(client.make_url("/"))[
        SESSION_COOKIE
    ].value

    assert (await client.post("/console/logout")).status == 403
    assert (await client.post("/console/logout", data={"x": "1"})).status == 403
    response = await client.post(
        "/console/logout", data={"csrf_token": body["csrf_token"]}, allow_redirects=False
    )
    assert response.status == 303
    assert "sign_out" in await _audit_actions(context, agent_id)

    # The old cookie, replayed, is worth nothing: the session is revoked server side.
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: session_cookie}) as other:
        replay = await other.get(client.make_url("/console/session"))
        assert (await replay.json())["authenticated"] is False


async def test_expired_session_is_not_accepted(settings: Settings, start_app: Any) -> None:
    client, context = await start_app(settings)
    await add_agent(context, EMAIL)
    await sign_in(client, EMAIL)
    async with context.sessions() as session, session.begin():
        await session.execute(
            update(ConsoleSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await (await client.get("/console/session")).json())["authenticated"] is False


async def test_console_socket_needs_session_and_same_origin_and_pushes_events(
    settings: Settings, start_app: Any
) -> None:
    settings = settings.replace("console", websocket_recheck_seconds=0.2)
    fake = FakeAdapter()
    client, context = await start_app(settings, adapters=[fake], responder=QueueEveryThread())
    await add_agent(context, EMAIL)
    origin = {"Origin": _origin(client)}

    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/ws/console", headers=origin)
    assert refused.value.status == 401

    await sign_in(client, EMAIL)
    for bad in ({}, {"Origin": "https://evil.example"}, {"Origin": "null"}):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/ws/console", headers=bad)
        assert refused.value.status == 403

    ws = await client.ws_connect("/ws/console", headers=origin)
    hello = await ws.receive_json(timeout=5)
    assert hello["type"] == "hello"
    result = await fake.push("<script>alert(1)</script>", sender="visitor-1")
    seen: dict[str, dict[str, Any]] = {}
    while not {"thread", "message"} <= seen.keys():
        event = await ws.receive_json(timeout=5)
        seen.setdefault(event["type"], event)
    assert seen["thread"]["thread_id"] == result.thread_id
    assert seen["thread"]["status"] == "queued"
    assert seen["message"]["message_id"] == result.message_id
    # Ids and states only: customer text is read through the API, never pushed.
    assert "script" not in repr(seen)

    # Revoking the session (another tab signed out) closes the socket.
    async with context.sessions() as session, session.begin():
        await session.execute(update(ConsoleSession).values(revoked_at=utcnow()))
    while True:
        message = await ws.receive(timeout=5)
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            break
    assert ws.close_code == 4401


async def test_sign_out_closes_the_sessions_sockets(settings: Settings, start_app: Any) -> None:
    client, context = await start_app(settings)
    await add_agent(context, EMAIL)
    body = await sign_in(client, EMAIL)
    ws = await client.ws_connect("/ws/console", headers={"Origin": _origin(client)})
    assert (await ws.receive_json(timeout=5))["type"] == "hello"
    response = await client.post("/console/logout", headers={"X-CSRF-Token": body["csrf_token"]})
    assert response.status == 200
    message = await ws.receive(timeout=5)
    assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert ws.close_code == 4401


def _agent_api_routes(client: TestClient[Any, Any]) -> list[tuple[str, str]]:
    """Every agent API route of the running app, with placeholders filled in."""
    found = []
    for route in client.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if not path.startswith("/api/v1/") or route.method == "HEAD":
            continue
        if path.startswith(
            ("/api/v1/inbound/", "/api/v1/webchat/", "/api/v1/surveys/")
        ) or path.endswith(("openapi.json", "/invitations/accept")):
            # the integration and visitor channels, survey answers and accepting an
            # invitation (their signed token is the credential), the public API description
            continue
        found.append((route.method, re.sub(r"\{[^}]+\}", "1", path)))
    return found


async def test_no_agent_api_call_works_without_a_valid_token_or_session(
    settings: Settings, start_app: Any
) -> None:
    client, context = await start_app(settings)
    routes = _agent_api_routes(client)
    paths = {path for _, path in routes}
    for expected in (
        "/api/v1/threads",
        "/api/v1/threads/1",
        "/api/v1/threads/1/claim",
        "/api/v1/threads/1/messages",
        "/api/v1/customers/1",
    ):
        assert expected in paths, f"{expected} is not served: {sorted(paths)}"
    agent_id = await add_agent(context, EMAIL, admin=True)
    revoked = await agent_token(context, agent_id)
    async with context.sessions() as session, session.begin():
        await session.execute(update(ApiToken).values(revoked_at=utcnow()))
    integration = await integration_token(context)
    credentials: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer pk_agent_not-a-real-token"},
        {"Authorization": f"Bearer {revoked}"},
        {"Authorization": f"Bearer {integration}"},
        {"Authorization": "Basic c2FyYTpwYXNzd29yZA=="},
        {"Cookie": f"{SESSION_COOKIE}=pc_forged-session-token"},
    ]
    # A shop's back office sends proactive messages with its integration token: those
    # operations take it (and check the body next); every other one refuses it, writing
    # a template (admins only) included.
    integrations_may = ("/api/v1/templates", "/api/v1/outbound/", "/api/v1/purchases")
    for method, path in routes:
        for headers in credentials:
            response = await client.request(method, path, headers=headers, json={})
            if (
                headers.get("Authorization") == f"Bearer {integration}"
                and path.startswith(integrations_may)
                and not (method == "PUT" and path.startswith("/api/v1/templates/"))
            ):
                assert response.status != 401, (method, path, response.status)
                continue
            assert response.status == 401, (method, path, headers, response.status)
            assert (await response.json())["error"]["status"] == 401


async def test_cookie_session_changes_need_the_csrf_header(
    settings: Settings, start_app: Any
) -> None:
    fake = FakeAdapter()
    client, context = await start_app(settings, adapters=[fake], responder=QueueEveryThread())
    await add_agent(context, EMAIL, tier=1)
    result = await fake.push("hello, a person please", sender="visitor-2")
    body = await sign_in(client, EMAIL)
    claim = f"/api/v1/threads/{result.thread_id}/claim"

    # Reading with the cookie works; changing without the token does not.
    assert (await client.get(f"/api/v1/threads/{result.thread_id}")).status == 200
    assert (await client.post(claim)).status == 403
    assert (await client.post(claim, data={"csrf_token": body["csrf_token"]})).status == 403
    assert (await client.post(claim, headers={"X-CSRF-Token": "0" * 64})).status == 403
    assert (await client.post(claim, headers={"X-CSRF-Token": body["csrf_token"]})).status == 200


async def test_many_concurrent_sign_ins_never_exceed_the_back_off(
    settings: Settings, start_app: Any
) -> None:
    """Concurrent guesses from one client get exactly `max_failed_logins` password
    checks (an atomic count under a row lock), the rest 429."""
    settings = settings.replace(
        "console", max_failed_logins=3, first_backoff_seconds=60, sign_in_attempts_per_minute=100
    )
    client, context = await start_app(settings)
    await add_agent(context, EMAIL)
    csrf = await login_csrf(client)
    responses = await asyncio.gather(
        *(_attempt(client, EMAIL, f"guess {n}", csrf) for n in range(8))
    )
    assert sorted(r.status for r in responses) == [401] * 3 + [429] * 5
    async with await _other_client(client) as other:
        other_csrf = (await (await other.get("/console/session")).json())["login_csrf"]
        response = await other.post(
            "/console/login",
            json={"email": EMAIL, "password": PASSWORD},
            headers={"X-CSRF-Token": other_csrf},
        )
        assert response.status == 200


async def test_an_agent_cannot_act_as_admin(settings: Settings, start_app: Any) -> None:
    fake = FakeAdapter()
    client, context = await start_app(settings, adapters=[fake], responder=QueueEveryThread())
    await add_agent(context, "admin@example.com", tier=3, admin=True)
    agent_id = await add_agent(context, EMAIL, tier=1)
    tier_one = await fake.push("first line question", sender="visitor-a")
    tier_three = await fake.push("a specialist question", sender="visitor-b")
    admin_body = await sign_in(client, "admin@example.com")
    admin_headers = {"X-CSRF-Token": admin_body["csrf_token"]}
    escalated = await client.post(
        f"/api/v1/threads/{tier_three.thread_id}/escalate",
        json={"tier": 3, "reason": "needs a specialist"},
        headers=admin_headers,
    )
    assert escalated.status == 200
    canned = await client.post(
        "/api/v1/canned",
        json={"language": "en", "title": "Hi", "text": "Hello {customer_name}"},
        headers=admin_headers,
    )
    assert canned.status == 201
    canned_id = (await canned.json())["canned"]["id"]

    token = await agent_token(context, agent_id)
    bearer = {"Authorization": f"Bearer {token}"}
    client.session.cookie_jar.clear()  # the admin's session is not used from here on
    # The same agent through the console: a cookie session of a non-admin.
    async with aiohttp.ClientSession(
        base_url=client.make_url("/"), cookie_jar=aiohttp.CookieJar(unsafe=True)
    ) as browser:
        body = await sign_in(browser, EMAIL)  # type: ignore[arg-type]
        cookie = {"X-CSRF-Token": body["csrf_token"]}
        for caller, headers in ((client.session, bearer), (browser, cookie)):
            calls = [
                ("GET", "/api/v1/threads?tier=3", None),
                ("GET", f"/api/v1/threads/{tier_three.thread_id}", None),
                ("POST", f"/api/v1/threads/{tier_three.thread_id}/claim", None),
                ("POST", f"/api/v1/threads/{tier_three.thread_id}/resolve", {}),
                ("POST", "/api/v1/canned", {"language": "en", "title": "x", "text": "y"}),
                ("DELETE", f"/api/v1/canned/{canned_id}", None),
            ]
            for method, path, json_body in calls:
                response = await caller.request(
                    method, client.make_url(path), json=json_body, headers=headers
                )
                assert response.status == 403, (method, path, response.status)
            listed = await caller.get(client.make_url("/api/v1/threads"), headers=headers)
            ids = {t["id"] for t in (await listed.json())["threads"]}
            assert tier_one.thread_id in ids and tier_three.thread_id not in ids


async def test_sign_in_rate_is_one_budget_across_processes(
    settings: Settings, start_app: Any, db_kind: str
) -> None:
    """Concurrent attempts from one address spread over every process: exactly
    `sign_in_attempts_per_minute` reach the password check, whichever process they hit
    (one app on the embedded SQLite, which is one process; two on PostgreSQL)."""
    settings = settings.replace(
        "console", sign_in_attempts_per_minute=4, max_failed_logins=50
    ).replace("email", enabled=False)
    apps = [await start_app(settings) for _ in range(1 if db_kind == "sqlite" else 2)]
    await add_agent(apps[0][1], EMAIL)
    csrfs = [await login_csrf(client) for client, _ in apps]
    responses = await asyncio.gather(
        *(
            _attempt(apps[n % len(apps)][0], EMAIL, f"guess {n}", csrfs[n % len(apps)])
            for n in range(10)
        )
    )
    assert sorted(r.status for r in responses) == [401] * 4 + [429] * 6
    for response in responses:
        if response.status == 429:
            assert 1 <= int(response.headers["Retry-After"]) <= 60
