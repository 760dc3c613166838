"""The admin API: adding agents (password or invitation), changing and deactivating them,
tags, the channel status page's data and retrying dead letters. Real server on loopback,
the real ingest and outbox worker; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select

from channels.email.adapter import EmailAdapter
from config.settings import EmailSettings, Settings
from router.agents.admin import invitation_token
from router.core import security
from router.core.messages import DeliveryResult, utcnow
from router.core.responder import QueueEveryThread
from router.core.security import hash_password, new_token, token_hash
from router.http.console_sessions import identity_for_token
from router.storage.models import (
    Agent,
    ApiToken,
    AuditEvent,
    ConsoleSession,
    OutboxItem,
    Thread,
    ThreadStatus,
)
from tests.agent_support import AgentUser, api, count_rows, eventually, get_thread, make_agent
from tests.console_support import PASSWORD, login_csrf, sign_in
from tests.email_support import FakeRelay
from tests.support import FakeAdapter, free_port


async def _start(settings: Settings, start_app: Any, *adapters: FakeAdapter) -> Any:
    return await start_app(
        settings, adapters=list(adapters) or [FakeAdapter()], responder=QueueEveryThread()
    )


async def _sign_in_status(client: TestClient[Any, Any], email: str, password: str) -> int:
    csrf = await login_csrf(client)
    response = await client.post(
        "/console/login",
        json={"email": email, "password": password},
        headers={"X-CSRF-Token": csrf},
    )
    status = response.status
    if status == 200:
        await client.post(
            "/console/logout",
            headers={"X-CSRF-Token": (await response.json())["csrf_token"]},
        )
    client.session.cookie_jar.clear()
    return status


async def _invite(client: TestClient[Any, Any], admin: AgentUser, email: str) -> tuple[int, str]:
    """Add an agent without a password: their id and invitation token."""
    status, body = await api(
        client, "POST", "/api/v1/agents", admin, json={"email": email, "name": "N", "tier": 1}
    )
    assert status == 201, body
    assert body["agent"]["invited"] is True
    return body["agent"]["id"], _token(body)


def _token(body: dict[str, Any]) -> str:
    url: str = body["invitation_url"]
    return url.split("#invite=", 1)[1]


async def _accept(
    client: TestClient[Any, Any], token: str, password: str = "new password 1"
) -> int:
    status, _ = await api(
        client, "POST", "/api/v1/invitations/accept", json={"token": token, "password": password}
    )
    return status


async def test_admin_adds_an_agent_who_can_then_sign_in(settings: Settings, start_app) -> None:
    client, context = await _start(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    sara = await make_agent(context, "Sara")
    new = {"email": "Nima@Example.com", "name": "نیما", "tier": 2, "password": PASSWORD}

    status, _ = await api(client, "POST", "/api/v1/agents", sara, json=new)
    assert status == 403
    status, body = await api(client, "POST", "/api/v1/agents", boss, json=new)
    assert status == 201, body
    assert body["agent"]["email"] == "nima@example.com"
    assert body["agent"]["tier"] == 2 and body["agent"]["active"] is True
    assert body["invitation_url"] is None
    assert await _sign_in_status(client, "nima@example.com", PASSWORD) == 200

    status, _ = await api(client, "POST", "/api/v1/agents", boss, json=new)
    assert status == 409
    status, _ = await api(client, "POST", "/api/v1/agents", boss, json={**new, "tier": 7})
    assert status == 422
    status, _ = await api(
        client, "POST", "/api/v1/agents", boss, json={**new, "email": "x@y.z", "password": "short"}
    )
    assert status == 422
    async with context.read_sessions() as session:
        audit = await session.scalar(select(AuditEvent).where(AuditEvent.action == "agent_added"))
    assert audit is not None and audit.actor_id == boss.id


async def test_an_invitation_sets_the_password_once_even_when_used_twice_at_once(
    settings: Settings, start_app
) -> None:
    client, context = await _start(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    _, token = await _invite(client, boss, "leila@example.com")
    # No password yet: nobody can sign in as the new agent.
    assert await _sign_in_status(client, "leila@example.com", PASSWORD) == 401

    passwords = ["first password 1", "second password 2"]
    answers = await asyncio.gather(
        *(
            api(client, "POST", "/api/v1/invitations/accept", json={"token": token, "password": p})
            for p in passwords
        )
    )
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200, 409], answers
    winner = passwords[[s for s, _ in answers].index(200)]
    loser = passwords[[s for s, _ in answers].index(409)]
    assert await _sign_in_status(client, "leila@example.com", winner) == 200
    assert await _sign_in_status(client, "leila@example.com", loser) == 401

    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    status, _ = await api(
        client, "POST", "/api/v1/invitations/accept", json={"token": forged, "password": "x" * 9}
    )
    assert status == 404
    expired = invitation_token(context, 123, now=utcnow() - timedelta(days=30))
    status, _ = await api(
        client, "POST", "/api/v1/invitations/accept", json={"token": expired, "password": "x" * 9}
    )
    assert status == 404


async def test_a_withdrawn_or_superseded_invitation_never_works_again(
    settings: Settings, start_app
) -> None:
    client, context = await _start(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    sara = await make_agent(context, "Sara")
    agent_id, leaked = await _invite(client, boss, "leak@example.com")
    path = f"/api/v1/agents/{agent_id}/invitation"

    # Only admins re-issue or withdraw.
    assert (await api(client, "POST", path, sara))[0] == 403
    assert (await api(client, "DELETE", path, sara))[0] == 403
    # Deactivated and reactivated: the link of before stays ended (it used to work again).
    patch = f"/api/v1/agents/{agent_id}"
    assert (await api(client, "PATCH", patch, boss, json={"active": False}))[0] == 200
    assert (await api(client, "POST", path, boss))[0] == 409  # reactivate first
    assert (await api(client, "PATCH", patch, boss, json={"active": True}))[0] == 200
    assert await _accept(client, leaked) == 404
    # Re-issued: the new link works, the one before it does not.
    status, body = await api(client, "POST", path, boss)
    assert status == 201, body
    second = _token(body)
    status, body = await api(client, "POST", path, boss)
    third = _token(body)
    assert await _accept(client, second) == 404
    # Withdrawn: no link works, not even the newest.
    status, body = await api(client, "DELETE", path, boss)
    assert status == 200 and body["agent"]["invited"] is True
    assert await _accept(client, third) == 404
    assert await _sign_in_status(client, "leak@example.com", "new password 1") == 401
    # A link issued after the withdrawal works once; replayed, it is refused.
    status, body = await api(client, "POST", path, boss)
    fourth = _token(body)
    assert await _accept(client, fourth) == 200
    assert await _accept(client, fourth, "another password 2") == 409
    assert await _sign_in_status(client, "leak@example.com", "new password 1") == 200
    # With a password there is no invitation to re-issue or withdraw.
    assert (await api(client, "POST", path, boss))[0] == 409
    assert (await api(client, "DELETE", path, boss))[0] == 409
    assert (await api(client, "POST", "/api/v1/agents/999999/invitation", boss))[0] == 404
    async with context.read_sessions() as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.action).where(AuditEvent.action.like("invitation_%"))
            )
        )
    assert sorted(actions) == sorted(
        ["invitation_reissued"] * 3 + ["invitation_withdrawn", "invitation_accepted"]
    )


async def test_an_invitation_re_issued_while_it_is_accepted_works_at_most_once(
    settings: Settings, start_app
) -> None:
    # At once (each in its own transaction on PostgreSQL): an acceptance of the old link
    # and re-issues. Either the acceptance came first (the re-issues are refused) or
    # the old link is refused; only the newest re-issued link may still be accepted.
    client, context = await _start(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    agent_id, old = await _invite(client, boss, "race@example.com")
    path = f"/api/v1/agents/{agent_id}/invitation"
    answers = await asyncio.gather(
        _accept(client, old), *(api(client, "POST", path, boss) for _ in range(4))
    )
    accepted, reissues = answers[0], answers[1:]
    new_links = [_token(body) for status, body in reissues if status == 201]
    if accepted == 200:
        assert all(status == 409 for status, _ in reissues), reissues
    else:
        assert accepted == 404 and len(new_links) == len(reissues), answers
        # Only the newest link is live: of all of them exactly one sets the password.
        results = [await _accept(client, link) for link in new_links]
        assert results.count(200) == 1 and set(results) <= {200, 404, 409}, results


async def test_deactivating_an_agent_requeues_their_threads_and_ends_their_sessions(
    settings: Settings, start_app
) -> None:
    web = FakeAdapter(name="web")
    client, context = await _start(settings, start_app, web)
    boss = await make_agent(context, "Boss", is_admin=True)
    sara = await make_agent(context, "Sara")
    status, _ = await api(
        client,
        "PATCH",
        f"/api/v1/agents/{sara.id}",
        boss,
        json={"max_concurrent": 3},
    )
    assert status == 200
    first = await web.push("سلام", sender="v1")
    second = await web.push("hello", sender="v2")
    for result in (first, second):
        status, _ = await api(client, "POST", f"/api/v1/threads/{result.thread_id}/claim", sara)
        assert status == 200
    # Sara also has a console session.
    await _set_password(context, sara)
    await sign_in(client, sara.email)
    status, _ = await api(client, "GET", "/api/v1/agents/me")
    assert status == 200

    status, _ = await api(
        client, "PATCH", f"/api/v1/agents/{boss.id}", boss, json={"active": False}
    )
    assert status == 409  # not oneself
    status, body = await api(
        client, "PATCH", f"/api/v1/agents/{sara.id}", boss, json={"active": False}
    )
    assert status == 200, body
    assert body["agent"]["active"] is False
    for result in (first, second):
        thread = await get_thread(context, result.thread_id)
        assert thread.status == ThreadStatus.QUEUED and thread.assignee_id is None
    # The cookie session and the API token both ended; signing in is refused.
    status, _ = await api(client, "GET", "/api/v1/agents/me")
    assert status == 401
    status, _ = await api(client, "GET", "/api/v1/agents/me", sara)
    assert status == 401
    client.session.cookie_jar.clear()
    assert await _sign_in_status(client, sara.email, PASSWORD) == 401
    async with context.read_sessions() as session:
        requeued = list(
            await session.scalars(select(AuditEvent).where(AuditEvent.action == "requeue"))
        )
    assert {e.thread_id for e in requeued} == {first.thread_id, second.thread_id}
    # A transfer to the deactivated agent is refused.
    status, _ = await api(
        client,
        "POST",
        f"/api/v1/threads/{first.thread_id}/transfer",
        boss,
        json={"agent": sara.email},
    )
    assert status == 409


async def test_an_agent_deactivated_while_signing_in_gets_no_session(
    settings: Settings, start_app, monkeypatch
) -> None:
    client, context = await _start(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    sara = await make_agent(context, "Sara")
    await _set_password(context, sara)
    # The sign-in is held inside its password check (argon2 takes a few hundred ms:
    # the window a deactivation can fall into) until the deactivation is done.
    checking, go = threading.Event(), threading.Event()
    real_verify = security.verify_password

    def held_verify(hashed: str, password: str) -> bool:
        checking.set()
        go.wait(10)
        return real_verify(hashed, password)

    # The password threads look it up where it is defined.
    monkeypatch.setattr(security, "verify_password", held_verify)
    csrf = await login_csrf(client)
    signing_in = asyncio.create_task(
        client.post(
            "/console/login",
            json={"email": sara.email, "password": PASSWORD},
            headers={"X-CSRF-Token": csrf},
        )
    )
    assert await asyncio.to_thread(checking.wait, 10)
    status, _ = await api(
        client, "PATCH", f"/api/v1/agents/{sara.id}", boss, json={"active": False}
    )
    assert status == 200
    go.set()
    response = await signing_in
    assert response.status == 401, await response.text()
    live = ConsoleSession.agent_id == sara.id, ConsoleSession.revoked_at.is_(None)
    assert await count_rows(context, ConsoleSession, *live) == 0


async def test_a_deactivated_agents_session_and_token_are_refused_however_they_were_made(
    settings: Settings, start_app
) -> None:
    client, context = await _start(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    sara = await make_agent(context, "Sara")
    status, _ = await api(
        client, "PATCH", f"/api/v1/agents/{sara.id}", boss, json={"active": False}
    )
    assert status == 200
    # Rows written after the deactivation (a command-line token, a session that slipped
    # past it): the agent's state decides, not only the row's.
    session_token, api_token = new_token("pc"), new_token("pk_agent")
    now = utcnow()
    async with context.sessions() as session, session.begin():
        session.add(
            ConsoleSession(
                token_hash=token_hash(session_token),
                agent_id=sara.id,
                created_at=now,
                expires_at=now + timedelta(hours=1),
            )
        )
        session.add(
            ApiToken(
                kind="agent", name=sara.email, agent_id=sara.id, token_hash=token_hash(api_token)
            )
        )
    assert await identity_for_token(context, session_token) is None
    response = await client.get(
        "/api/v1/agents/me", headers={"Authorization": f"Bearer {api_token}"}
    )
    assert response.status == 401
    status, _ = await api(client, "PATCH", f"/api/v1/agents/{sara.id}", boss, json={"active": True})
    assert status == 200
    assert await identity_for_token(context, session_token) is not None


async def _set_password(context: Any, agent: AgentUser) -> None:
    hashed = await asyncio.to_thread(hash_password, PASSWORD)
    async with context.sessions() as session, session.begin():
        row = await session.get(Agent, agent.id)
        assert row is not None
        row.password_hash = hashed


async def test_patch_changes_tier_capacity_and_admin_flag(settings: Settings, start_app) -> None:
    client, context = await _start(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    sara = await make_agent(context, "Sara")
    status, body = await api(
        client,
        "PATCH",
        f"/api/v1/agents/{sara.id}",
        boss,
        json={"tier": 3, "max_concurrent": 9, "admin": True},
    )
    assert status == 200
    assert (body["agent"]["tier"], body["agent"]["max_concurrent"]) == (3, 9)
    assert body["agent"]["is_admin"] is True
    status, _ = await api(client, "PATCH", f"/api/v1/agents/{sara.id}", boss, json={"tier": 0})
    assert status == 422
    status, _ = await api(client, "PATCH", "/api/v1/agents/999999", boss, json={"tier": 1})
    assert status == 404
    reza = await make_agent(context, "Reza")
    status, _ = await api(client, "PATCH", f"/api/v1/agents/{boss.id}", reza, json={"tier": 2})
    assert status == 403
    status, _ = await api(client, "PATCH", f"/api/v1/agents/{sara.id}", boss, json={"nope": 1})
    assert status == 422


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(
    settings: Settings, start_app
) -> None:
    """Each request's credential was read as an admin's before either change committed:
    both demotions went through and the team had no admin left. The acting admin is
    read again, under a lock, in the change's transaction."""
    client, context = await _start(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    sara = await make_agent(context, "Sara", is_admin=True)

    async def demote(actor: AgentUser, target: AgentUser) -> int:
        path = f"/api/v1/agents/{target.id}"
        status, _ = await api(client, "PATCH", path, actor, json={"admin": False})
        return status

    statuses = await asyncio.gather(demote(boss, sara), demote(sara, boss))
    assert sorted(statuses) == [200, 403]
    async with context.read_sessions() as session:
        admins = await session.scalar(
            select(func.count()).select_from(Agent).where(Agent.is_admin.is_(True))
        )
    assert admins == 1


async def test_a_dead_letter_is_retried_once_and_then_delivered(
    settings: Settings, start_app
) -> None:
    web = FakeAdapter(name="web", fail_next=[DeliveryResult.failed("550 mailbox gone")])
    client, context = await _start(settings, start_app, web)
    boss = await make_agent(context, "Boss", is_admin=True)
    sara = await make_agent(context, "Sara")
    result = await web.push("hi", sender="v1")
    await api(client, "POST", f"/api/v1/threads/{result.thread_id}/claim", sara)
    status, _ = await api(
        client, "POST", f"/api/v1/threads/{result.thread_id}/messages", sara, json={"text": "Hi!"}
    )
    assert status == 201

    async def dead_row() -> OutboxItem | None:
        async with context.read_sessions() as session:
            return await session.scalar(select(OutboxItem).where(OutboxItem.status == "dead"))

    async def has_dead() -> bool:
        return await dead_row() is not None

    await eventually(has_dead)
    row = await dead_row()
    assert row is not None
    status, report = await api(client, "GET", "/api/v1/channels/status", boss)
    assert status == 200
    assert report["outbox"]["dead"] == 1
    assert [d["id"] for d in report["dead_letters"]] == [row.id]
    assert report["dead_letters"][0]["last_error"] == "550 mailbox gone"

    status, _ = await api(client, "POST", f"/api/v1/outbox/{row.id}/retry", sara)
    assert status == 403
    answers = await asyncio.gather(
        *(api(client, "POST", f"/api/v1/outbox/{row.id}/retry", boss) for _ in range(3))
    )
    assert sorted(s for s, _ in answers) == [200, 409, 409], answers
    # The claim's "Sara is with you" notice died; retried, it goes out, and so does the reply.
    sent = await web.wait_sent(2)
    assert row.message_id in {m.message_id for m in sent}
    assert "Hi!" in [m.text for m in sent]

    async def retried_row_delivered() -> bool:
        async with context.read_sessions() as session:
            again = await session.get(OutboxItem, row.id)
        return again is not None and again.status == "delivered"

    await eventually(retried_row_delivered)
    status, _ = await api(client, "POST", "/api/v1/outbox/999999/retry", boss)
    assert status == 404
    async with context.read_sessions() as session:
        audit = await session.scalar(select(AuditEvent).where(AuditEvent.action == "outbox_retry"))
        thread = await session.get(Thread, result.thread_id)
    assert audit is not None and audit.thread_id == result.thread_id
    assert thread is not None


async def test_channel_status_lists_each_adapter_and_its_facts(
    settings: Settings, start_app
) -> None:
    client, context = await _start(settings, start_app, FakeAdapter(name="web"))
    boss = await make_agent(context, "Boss", is_admin=True)
    sara = await make_agent(context, "Sara")
    status, _ = await api(client, "GET", "/api/v1/channels/status", sara)
    assert status == 403
    status, report = await api(client, "GET", "/api/v1/channels/status", boss)
    assert status == 200
    names = [c["name"] for c in report["channels"]]
    assert names == sorted(names) and "web" in names and "api" in names
    web = next(c for c in report["channels"] if c["name"] == "web")
    assert web["summary"] == "web (a test double)"
    assert report["outbox"] == {"pending": 0, "delivered": 0, "dead": 0}


def _email_settings(relay_port: int) -> EmailSettings:
    return EmailSettings(
        smtp_host="127.0.0.1",
        smtp_port=0,
        domains=["support.localhost", "help.example"],
        address="support@support.localhost",
        relay_host="127.0.0.1",
        relay_port=relay_port,
        relay_timeout=5.0,
    )


async def test_the_email_channel_says_whether_its_relay_answers(relay: FakeRelay) -> None:
    answering = EmailAdapter(
        _email_settings(relay.port), secret_key="s", registry=CollectorRegistry()
    )
    facts = dict(answering.describe().facts)
    assert facts["domains"] == ("support.localhost", "help.example")
    assert facts["relay"] == f"127.0.0.1:{relay.port}"
    assert dict(await answering.probe()) == {"relay_answers": True}
    silent = EmailAdapter(
        _email_settings(free_port()), secret_key="s", registry=CollectorRegistry()
    )
    probed = dict(await silent.probe())
    assert probed["relay_answers"] is False and "relay_error" in probed


async def test_tags_are_listed_added_renamed_and_removed_by_admins(
    settings: Settings, start_app
) -> None:
    client, context = await _start(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    sara = await make_agent(context, "Sara")
    status, _ = await api(client, "POST", "/api/v1/tags", sara, json={"name": "vip"})
    assert status == 403
    status, body = await api(client, "POST", "/api/v1/tags", boss, json={"name": "  ویژه  "})
    assert status == 201 and body["tag"]["name"] == "ویژه"
    tag_id = body["tag"]["id"]
    status, _ = await api(client, "POST", "/api/v1/tags", boss, json={"name": "ویژه"})
    assert status == 409
    status, body = await api(client, "PATCH", f"/api/v1/tags/{tag_id}", boss, json={"name": "vip"})
    assert status == 200 and body["tag"]["name"] == "vip"
    status, body = await api(client, "GET", "/api/v1/tags", sara)
    assert status == 200 and [t["name"] for t in body["tags"]] == ["vip"]
    status, _ = await api(client, "DELETE", f"/api/v1/tags/{tag_id}", boss)
    assert status == 204
    status, _ = await api(client, "DELETE", f"/api/v1/tags/{tag_id}", boss)
    assert status == 404
