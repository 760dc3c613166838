"""The agent JSON API: replies and notes, canned responses, errors, authentication,
admin-only actions, and every response checked against the served OpenAPI document."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from aiohttp.web import RouteDef
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select, update

from channels.api import ApiAdapter
from config.settings import Settings
from router.core.conversation import shown_to_customer
from router.core.messages import AuthorKind, ConversationMessage, utcnow
from router.core.responder import QueueEveryThread
from router.core.security import PASSWORDS, PasswordsBusy, new_token, token_hash
from router.http import agent_api, outreach_api
from router.outreach.consent import unsubscribe_token
from router.service.surveys import survey_token
from router.storage.core_rows import inserted
from router.storage.models import (
    ApiToken,
    Identity,
    Message,
    OutboxItem,
    Purchase,
    SurveyAnswer,
    Thread,
)
from tests.agent_support import AgentUser, api, count_rows, make_agent
from tests.outreach_support import WARRANTY
from tests.support import FakeAdapter

# --- responses checked against the served document, by jsonschema ----------------------


def schema_errors(value: Any, schema: dict[str, Any], doc: dict[str, Any]) -> list[str]:
    """Where `value` breaks `schema` (whose $refs point into `doc`); empty when it conforms."""
    registry: Registry[Any] = Registry().with_resource(
        "urn:doc", Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    checked = {**schema, "$ref": f"urn:doc{schema['$ref']}"} if "$ref" in schema else schema
    validator = Draft202012Validator(
        checked, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    return [
        f"${''.join(f'[{p!r}]' for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(value)
    ]


class CheckedApi:
    """Calls the API and validates each response against the served document."""

    def __init__(self, client: TestClient[Any, Any], doc: dict[str, Any]) -> None:
        self.client = client
        self.doc = doc
        self.seen: set[tuple[str, str, int]] = set()

    async def __call__(
        self,
        method: str,
        template: str,
        agent: AgentUser | None = None,
        *,
        expect: int,
        **kwargs: Any,
    ) -> Any:
        params = kwargs.pop("path", {})
        path = template.format(**params)
        headers = dict(kwargs.pop("headers", {}))
        if agent is not None:
            headers.update(agent.headers)
        response = await self.client.request(method, path, headers=headers, **kwargs)
        status, served = response.status, response.content_type
        body = await response.json() if served == "application/json" else None
        assert status == expect, (method, path, status, body)
        operation = self.doc["paths"][template][method.lower()]
        response = operation["responses"].get(str(status))
        assert response is not None, f"{method} {template} answers {status}, undocumented"
        content = response.get("content")
        if content is None:
            assert body is None, f"{method} {template} {status} has an undocumented body"
        elif "application/json" in content:
            problems = schema_errors(body, content["application/json"]["schema"], self.doc)
            assert not problems, (method, template, status, problems)
        else:  # a file: not JSON, of a documented media type
            assert body is None, f"{method} {template} {status} answered JSON"
            assert any(
                served == kind or (kind.endswith("/*") and served.startswith(kind[:-1]))
                for kind in content
            ), (method, template, served, list(content))
        self.seen.add((method.lower(), template, status))
        return body


async def _document(client: TestClient[Any, Any]) -> dict[str, Any]:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    doc = await response.json()
    assert isinstance(doc, dict)
    return doc


async def _start(settings: Settings, start_app, *adapters: FakeAdapter):  # type: ignore[no-untyped-def]
    return await start_app(
        settings, adapters=list(adapters) or [FakeAdapter()], responder=QueueEveryThread()
    )


# --- tests --------------------------------------------------------------------------


async def test_openapi_document_matches_responses(settings: Settings, start_app) -> None:
    web = FakeAdapter(name="web")
    client, context = await _start(settings, start_app, web)
    doc = await _document(client)
    call = CheckedApi(client, doc)
    sara = await make_agent(context, "Sara")
    reza = await make_agent(context, "Reza", max_concurrent=1)
    senior = await make_agent(context, "Senior", tier=2)
    admin = await make_agent(context, "Boss", is_admin=True)
    assert web.services is not None
    photo = await web.services.attachments.put(
        b"\x89PNG\r\n\x1a\n", filename="photo.png", content_type="image/png"
    )
    first = await web.push(
        "سلام، کسی هست؟",
        sender="v1",
        sender_name="Maryam",
        language="fa",
        attachments=(photo,),
    )
    thread = {"id": first.thread_id}

    await call("GET", "/api/v1/threads", sara, expect=200, params={"status": "queued"})
    await call("GET", "/api/v1/threads", sara, expect=403, params={"tier": "2"})
    await call("GET", "/api/v1/threads", sara, expect=422, params={"status": "sleeping"})
    await call("POST", "/api/v1/threads/{id}/claim", sara, path=thread, expect=200)
    await call("POST", "/api/v1/threads/{id}/claim", reza, path=thread, expect=409)
    await call("POST", "/api/v1/threads/{id}/claim", senior, path=thread, expect=403)
    await call("POST", "/api/v1/threads/{id}/claim", sara, path={"id": 999999}, expect=404)
    await call(
        "POST", "/api/v1/threads/{id}/messages", sara, path=thread, json={"text": "Hi"}, expect=201
    )
    await call(
        "POST",
        "/api/v1/threads/{id}/messages",
        sara,
        path=thread,
        json={"text": "VIP", "internal": True},
        expect=201,
    )
    await call("POST", "/api/v1/threads/{id}/messages", sara, path=thread, json={}, expect=422)
    # An idempotency key: the repeat is the stored reply (200), another request 409.
    keyed = {"text": "once", "idempotency_key": "doc-1"}
    for status in (201, 200):
        await call(
            "POST", "/api/v1/threads/{id}/messages", sara, path=thread, json=keyed, expect=status
        )
    reused = {**keyed, "text": "twice"}
    await call("POST", "/api/v1/threads/{id}/messages", sara, path=thread, json=reused, expect=409)
    await call(
        "POST", "/api/v1/threads/{id}/messages", sara, path=thread, data=b"{not json", expect=400
    )
    png = FormData()
    png.add_field("file", b"\x89PNG\r\n\x1a\n", filename="p.png", content_type="image/png")
    uploaded = await call("POST", "/api/v1/uploads", sara, data=png, expect=201)
    script = FormData()
    script.add_field("file", b"<script>", filename="p.png", content_type="image/png")
    await call("POST", "/api/v1/uploads", sara, data=script, expect=415)
    with_file = {"text": "photo", "attachments": [uploaded["upload"]]}
    await call(
        "POST", "/api/v1/threads/{id}/messages", sara, path=thread, json=with_file, expect=201
    )
    await call("GET", "/api/v1/threads/{id}", sara, path=thread, expect=200)
    await call("GET", "/api/v1/threads/{id}", senior, path=thread, expect=403)
    await call("GET", "/api/v1/threads/{id}/suggestions", sara, path=thread, expect=200)
    await call("GET", "/api/v1/threads/{id}/suggestions", senior, path=thread, expect=403)
    await call("GET", "/api/v1/threads/{id}", sara, path={"id": "abc"}, expect=404)
    file_path = "/api/v1/threads/{id}/attachments/{sha256}"
    await call("GET", file_path, sara, path={**thread, "sha256": photo.sha256}, expect=200)
    await call("GET", file_path, sara, path={**thread, "sha256": "0" * 64}, expect=404)
    await call("GET", file_path, senior, path={**thread, "sha256": photo.sha256}, expect=403)
    await call("GET", "/api/v1/threads", sara, expect=200)
    await call(
        "POST",
        "/api/v1/threads/{id}/transfer",
        sara,
        path=thread,
        json={"agent": reza.email},
        expect=200,
    )
    await call(
        "POST",
        "/api/v1/threads/{id}/transfer",
        reza,
        path=thread,
        json={"agent": "x@y"},
        expect=404,
    )
    await call("POST", "/api/v1/threads/{id}/release", reza, path=thread, expect=200)
    await call("POST", "/api/v1/threads/{id}/release", reza, path=thread, expect=409)
    calendar = {"timezone": "Asia/Tehran", "week": {"sat": [["09:00", "17:00"]]}}
    policy = {"priority": "high", "calendar": "tehran", "first_response_minutes": 60}
    for template, body in (
        ("/api/v1/calendars/{name}", calendar),
        ("/api/v1/sla-policies/{name}", policy),
    ):
        await call("PUT", template, admin, path={"name": "tehran"}, json=body, expect=200)
        await call("GET", template, admin, path={"name": "tehran"}, expect=200)
        await call("GET", template, admin, path={"name": "none"}, expect=404)
        await call("GET", template, sara, path={"name": "tehran"}, expect=403)
    for listing in ("/api/v1/calendars", "/api/v1/sla-policies"):
        await call("GET", listing, admin, expect=200)
        await call("GET", listing, sara, expect=403)
    priority = {"priority": "high"}
    await call(
        "POST", "/api/v1/threads/{id}/priority", reza, path=thread, json=priority, expect=200
    )
    await call("POST", "/api/v1/threads/{id}/pending", reza, path=thread, expect=200)
    pending = {"pending": False}
    await call("POST", "/api/v1/threads/{id}/pending", reza, path=thread, json=pending, expect=200)
    await call(
        "POST",
        "/api/v1/threads/{id}/escalate",
        sara,
        path=thread,
        json={"tier": 2, "reason": "warranty"},
        expect=200,
    )
    await call(
        "POST",
        "/api/v1/threads/{id}/escalate",
        senior,
        path=thread,
        json={"tier": 1, "reason": "back"},
        expect=422,
    )
    await call("POST", "/api/v1/threads/{id}/resolve", senior, path=thread, expect=200)
    await call("POST", "/api/v1/threads/{id}/resolve", senior, path=thread, expect=409)
    # the customer returns within the window: the thread reopens, with its history
    await web.push("Thanks, one more question", sender="v1", language="fa")
    detail = await call("GET", "/api/v1/threads/{id}", senior, path=thread, expect=200)
    assert [m["internal"] for m in detail["messages"]].count(True) == 1
    # a survey is answered by its token alone (no login); a forged token is refused
    async with context.sessions() as session, session.begin():
        survey = SurveyAnswer(
            token_hash="-",
            thread_id=first.thread_id,
            customer_id=first.customer_id,
            kind="csat",
            expires_at=utcnow() + timedelta(days=1),
        )
        session.add(survey)
        await session.flush()
        token = survey_token(context.settings.server.secret_key, survey.id, first.thread_id)
        survey.token_hash = token_hash(token)
    answer_path = "/api/v1/surveys/{token}"
    score = {"score": 4, "comment": "ok"}
    await call("POST", answer_path, None, path={"token": token}, json=score, expect=200)
    await call("POST", answer_path, None, path={"token": token}, json={"score": 9}, expect=422)
    # One character of the signature changed: always another token (a fixed ending
    # could be the real one's).
    at = len(token) - 5
    forged = {"token": token[:at] + ("B" if token[at] == "A" else "A") + token[at + 1 :]}
    await call("POST", answer_path, None, path=forged, json=score, expect=404)
    customer = {"id": first.customer_id}
    await call("GET", "/api/v1/customers/{id}", senior, path=customer, expect=200)
    await call("GET", "/api/v1/customers/{id}", sara, path=customer, expect=403)
    note = {"text": "prefers email"}
    await call("POST", "/api/v1/customers/{id}/notes", senior, path=customer, json=note, expect=201)
    await call("POST", "/api/v1/customers/{id}/notes", sara, path=customer, json=note, expect=403)
    await call(
        "POST",
        "/api/v1/customers/{id}/tags",
        senior,
        path=customer,
        json={"tag": "VIP"},
        expect=200,
    )
    tag_path = "/api/v1/customers/{id}/tags/{tag}"
    await call("DELETE", tag_path, senior, path={**customer, "tag": "vip"}, expect=204)
    await call("DELETE", tag_path, senior, path={**customer, "tag": "vip"}, expect=404)
    await call("GET", "/api/v1/customers", senior, expect=200, params={"limit": "1"})
    await call("GET", "/api/v1/customers", senior, expect=422, params={"cursor": "x"})
    await call("GET", "/api/v1/search", senior, expect=200, params={"q": "سلام"})
    await call("GET", "/api/v1/search", senior, expect=422, params={"q": "!!"})
    await call("GET", "/api/v1/customers/{id}", admin, path={"id": 424242}, expect=404)
    await call("GET", "/api/v1/agents", sara, expect=200)
    await call("GET", "/api/v1/agents/me", sara, expect=200)
    await call("GET", "/api/v1/agents/me/presence", sara, expect=200)
    await call("POST", "/api/v1/agents/me/presence", sara, json={"status": "away"}, expect=200)
    await call("POST", "/api/v1/agents/me/presence", sara, json={"status": "asleep"}, expect=422)
    await call("GET", "/api/v1/canned", sara, expect=200)
    await call("GET", "/api/v1/canned", sara, params={"thread_id": first.thread_id}, expect=403)
    await call("GET", "/api/v1/canned", senior, params={"thread_id": first.thread_id}, expect=200)
    await call("GET", "/api/v1/canned", sara, params={"language": "de"}, expect=422)
    canned = {"language": "en", "title": "Bye", "text": "Bye {customer_name}"}
    await call("POST", "/api/v1/canned", sara, json=canned, expect=403)
    created = await call("POST", "/api/v1/canned", admin, json=canned, expect=201)
    await call("POST", "/api/v1/canned", admin, json=canned, expect=409)
    await call("POST", "/api/v1/canned", admin, json={**canned, "language": "xx"}, expect=422)
    await call("DELETE", "/api/v1/canned/{id}", sara, path=created["canned"], expect=403)
    await call("DELETE", "/api/v1/canned/{id}", admin, path=created["canned"], expect=204)
    await call("DELETE", "/api/v1/canned/{id}", admin, path=created["canned"], expect=404)
    await call("GET", "/api/v1/knowledge/gaps", admin, expect=200)
    await call("GET", "/api/v1/knowledge/gaps", sara, expect=403)
    await call("GET", "/api/v1/knowledge/gaps", admin, params={"since": "soon"}, expect=422)
    await call("GET", "/api/v1/queue/stats", sara, expect=200)
    await call("GET", "/api/v1/threads", None, expect=401)

    # customers across channels: hints, a merge by hand, export, erasure
    second = await web.push("me again, from my phone", sender="v2")
    customer, merge = {"id": first.customer_id}, {"other": second.customer_id}
    await call("GET", "/api/v1/customers/{id}/claims", senior, path=customer, expect=200)
    # the thread went to tier 2: a tier-1 agent sees neither the customer nor their claims
    await call("GET", "/api/v1/customers/{id}", sara, path=customer, expect=403)
    await call("GET", "/api/v1/customers/{id}/claims", sara, path=customer, expect=403)
    await call("POST", "/api/v1/customers/{id}/merge", sara, path=customer, json=merge, expect=403)
    await call("POST", "/api/v1/customers/{id}/merge", admin, path=customer, json=merge, expect=200)
    await call("POST", "/api/v1/customers/{id}/merge", admin, path=customer, json=merge, expect=409)
    await call("GET", "/api/v1/customers/{id}/export", admin, path=customer, expect=200)
    await call("DELETE", "/api/v1/customers/{id}", sara, path=customer, expect=403)
    await call("DELETE", "/api/v1/customers/{id}", admin, path=customer, expect=200)

    # the API channel is described by the same document
    integration = new_token("pk_int")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name="shop", token_hash=token_hash(integration)))
    bearer = {"Authorization": f"Bearer {integration}"}
    message = {"id": "m1", "text": "hi", "customer": {"external_id": "42", "name": "Ali"}}
    await call("POST", "/api/v1/inbound/messages", headers=bearer, json=message, expect=202)
    await call("POST", "/api/v1/inbound/messages", headers=bearer, json=message, expect=200)
    await call(
        "GET",
        "/api/v1/inbound/customers/{external_id}/messages",
        headers=bearer,
        path={"external_id": "42"},
        expect=200,
    )

    await call("GET", "/api/v1/reports/summary", admin, expect=200, params={"group_by": "day"})

    # administration
    invited = await call(
        "POST",
        "/api/v1/agents",
        admin,
        json={"email": "new@example.com", "name": "New", "tier": 1},
        expect=201,
    )
    invitation = {"id": invited["agent"]["id"]}
    # Withdrawn, then re-issued: only the new link is accepted.
    await call("DELETE", "/api/v1/agents/{id}/invitation", admin, path=invitation, expect=200)
    await call("DELETE", "/api/v1/agents/{id}/invitation", sara, path=invitation, expect=403)
    reissued = await call(
        "POST", "/api/v1/agents/{id}/invitation", admin, path=invitation, expect=201
    )
    withdrawn = invited["invitation_url"].split("#invite=", 1)[1]
    await call(
        "POST",
        "/api/v1/invitations/accept",
        json={"token": withdrawn, "password": "a long password"},
        expect=404,
    )
    token = reissued["invitation_url"].split("#invite=", 1)[1]
    accept = {"token": token, "password": "a long password"}
    # Every place in the password threads' line taken: refused at once, nothing changed.
    with contextlib.ExitStack() as held:
        with contextlib.suppress(PasswordsBusy):
            while True:
                held.enter_context(PASSWORDS.slot())
        await call("POST", "/api/v1/invitations/accept", json=accept, expect=503)
        await call(
            "POST",
            "/api/v1/agents",
            admin,
            json={"email": "pw@example.com", "name": "Pw", "tier": 1, "password": "long enough"},
            expect=503,
        )
    await call("POST", "/api/v1/invitations/accept", json=accept, expect=200)
    await call("POST", "/api/v1/invitations/accept", json=accept, expect=409)
    await call("POST", "/api/v1/agents/{id}/invitation", admin, path=invitation, expect=409)
    await call(
        "PATCH",
        "/api/v1/agents/{id}",
        admin,
        path={"id": invited["agent"]["id"]},
        json={"active": False},
        expect=200,
    )
    tag = await call("POST", "/api/v1/tags", admin, json={"name": "vip"}, expect=201)
    await call("GET", "/api/v1/tags", sara, expect=200)
    tag_path = {"id": tag["tag"]["id"]}
    await call("PATCH", "/api/v1/tags/{id}", admin, path=tag_path, json={"name": "v"}, expect=200)
    await call("DELETE", "/api/v1/tags/{id}", admin, path=tag_path, expect=204)
    await call("GET", "/api/v1/channels/status", admin, expect=200)
    await call("GET", "/api/v1/channels/status", sara, expect=403)
    async with context.sessions() as session, session.begin():
        stored = await session.scalar(select(Message).limit(1))
        assert stored is not None
        dead = OutboxItem(
            message_id=stored.id,
            thread_id=stored.thread_id,
            channel="web",
            address="v1",
            status="dead",
            last_error="550 gone",
        )
        session.add(dead)
    await call("POST", "/api/v1/outbox/{id}/retry", admin, path={"id": dead.id}, expect=200)
    await call("POST", "/api/v1/outbox/{id}/retry", admin, path={"id": dead.id}, expect=409)
    # Outreach: a template, a message, a purchase, the unsubscribe link.
    name = {"name": "warranty_reminder"}
    await call("PUT", "/api/v1/templates/{name}", admin, path=name, json=WARRANTY, expect=200)
    await call("GET", "/api/v1/templates/{name}", admin, path=name, expect=200)
    await call("GET", "/api/v1/templates", headers=bearer, expect=200)
    outbound = {
        "customer_id": first.customer_id,
        "template": "warranty_reminder",
        "params": {"product": "Galaxy", "expires_on": "2027-03-21"},
        "idempotency_key": "k-1",
    }
    sent = await call("POST", "/api/v1/outbound/messages", admin, json=outbound, expect=202)
    other = {**outbound, "params": {"product": "Galaxy S24", "expires_on": "2027-03-21"}}
    refused = await call("POST", "/api/v1/outbound/messages", admin, json=other, expect=409)
    assert refused["error"]["code"] == "idempotency_key_reused"
    await call("GET", "/api/v1/outbound/messages/{id}", admin, path={"id": sent["id"]}, expect=200)
    await call("GET", "/api/v1/outbound/messages", admin, params={"status": "sent"}, expect=200)
    purchase = {
        "order_id": "A-1",
        "customer": {"external_id": "42"},
        "product": "Galaxy",
        "purchased_on": "2026-06-01",
        "warranty_months": 12,
    }
    await call("POST", "/api/v1/purchases", headers=bearer, json=purchase, expect=201)
    await call("POST", "/api/v1/purchases", headers=bearer, json=purchase, expect=200)
    order = {"order_id": "A-1"}
    # The integration's order: an admin names its owner (the admins' own is another).
    await call("DELETE", "/api/v1/purchases/{order_id}", admin, path=order, expect=404)
    async with context.read_sessions() as session:
        shop = {"integration": str(await session.scalar(select(Purchase.integration_id)))}
    await call("DELETE", "/api/v1/purchases/{order_id}", admin, path=order, params=shop, expect=204)
    link = {"t": unsubscribe_token(context.settings.server.secret_key, first.customer_id)}
    await call("GET", "/outreach/unsubscribe", params=link, expect=200)
    await call("POST", "/outreach/unsubscribe", params=link, expect=200)
    # the knowledge base editor
    kb_entry = {"id": "doc-check", "questions": {"en": ["doc check"]}, "answers": {"en": "ok"}}
    kb_path = "/api/v1/knowledge/entries/{entry_id}"
    named = {"entry_id": "doc-check"}
    await call("GET", "/api/v1/knowledge/entries", admin, expect=200)
    await call("POST", "/api/v1/knowledge/entries", admin, json=kb_entry, expect=201)
    await call("GET", kb_path, admin, path=named, expect=200)
    await call("PUT", kb_path, admin, path=named, json={**kb_entry, "version": 1}, expect=200)
    await call("GET", kb_path + "/history", admin, path=named, expect=200)
    restore = {"restore": 1, "version": 2}
    await call("POST", kb_path + "/restore", admin, path=named, json=restore, expect=200)
    exported = await call("GET", "/api/v1/knowledge/export", admin, expect=200)
    await call("POST", "/api/v1/knowledge/import", admin, json=exported, expect=200)
    await call("DELETE", kb_path, admin, path=named, params={"version": "3"}, expect=204)
    # every documented operation was exercised with a documented success status
    for template, operations in doc["paths"].items():
        for method, operation in operations.items():
            if template == "/api/v1/openapi.json":
                continue
            ok = [code for code in operation["responses"] if code.startswith("2")]
            assert any((method, template, int(code)) in call.seen for code in ok), (
                method,
                template,
            )


async def test_document_describes_the_served_routes(settings: Settings, start_app) -> None:
    """Every documented operation is served; every agent and API-channel route is
    documented (other /api/v1 route tables add themselves to the document later)."""
    client, context = await _start(settings, start_app)
    api_channel = context.adapters["api"]
    assert isinstance(api_channel, ApiAdapter)
    api_channel_routes = api_channel.routes()
    doc = await _document(client)
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in client.server.app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    documented = {(method, template) for template, ops in doc["paths"].items() for method in ops}
    assert documented <= served
    ours = {
        (route.method.lower(), route.path)
        for table in (agent_api.routes, outreach_api.routes, api_channel_routes)
        for route in table
        if isinstance(route, RouteDef)
    }
    assert ours <= documented


async def test_reply_leaves_on_the_customers_channel(settings: Settings, start_app) -> None:
    web, mail = FakeAdapter(name="web"), FakeAdapter(name="mail")
    client, context = await _start(settings, start_app, web, mail)
    sara = await make_agent(context, "Sara")
    first = await web.push("my order?", sender="visitor-1", sender_name="Alice", language="en")
    thread_path = f"/api/v1/threads/{first.thread_id}"
    async with context.sessions() as session, session.begin():
        verified = Identity(
            customer_id=first.customer_id, channel="mail", address="alice@x.ir", verified=True
        )
        unverified = Identity(
            customer_id=first.customer_id, channel="mail", address="maybe@x.ir", verified=False
        )
        session.add_all([verified, unverified])
    await web.push("me too", sender="visitor-2")
    strangers = await _identity_of(context, "visitor-2")
    status, body = await api(client, "POST", f"{thread_path}/messages", sara, json={"text": "hi"})
    # The reason as a word a client can show in its own language, not only the status.
    assert (status, body["error"]["code"]) == (409, "claim_first"), body
    assert (await api(client, "POST", f"{thread_path}/claim", sara))[0] == 200
    reza = await make_agent(context, "Reza")
    status, body = await api(client, "POST", f"{thread_path}/messages", reza, json={"text": "x"})
    assert (status, body["error"]["code"]) == (409, "taken"), body
    await web.wait_sent(1)  # "Sara ... is with you now"

    status, body = await api(client, "POST", f"{thread_path}/messages", sara, json={"text": "A"})
    assert status == 201 and body["message"]["channel"] == "web"
    sent = await web.wait_sent(2)
    assert (sent[-1].text, sent[-1].address, sent[-1].author) == (
        "A",
        "visitor-1",
        AuthorKind.AGENT,
    )
    assert sent[-1].author_name == "Sara"

    status, body = await api(
        client,
        "POST",
        f"{thread_path}/messages",
        sara,
        json={"text": "B by mail", "identity_id": verified.id},
    )
    assert status == 201 and body["message"]["identity_id"] == verified.id
    assert [(m.text, m.address) for m in await mail.wait_sent(1)] == [("B by mail", "alice@x.ir")]

    # an unverified address of theirs is refused (409); somebody else's is not theirs (404)
    for bad, refused in ((unverified.id, 409), (strangers, 404), (999999, 404)):
        status, body = await api(
            client, "POST", f"{thread_path}/messages", sara, json={"text": "C", "identity_id": bad}
        )
        assert status == refused, body

    # the customer now writes by email: replies follow them there
    again = await mail.push("any news?", sender="alice@x.ir")
    assert again.thread_id == first.thread_id
    await api(client, "POST", f"{thread_path}/messages", sara, json={"text": "D"})
    assert [m.text for m in await mail.wait_sent(2)] == ["B by mail", "D"]
    assert len(web.sent) == 2

    # an unreachable last channel is refused with a reason, not silently dropped
    async with context.sessions() as session, session.begin():
        await session.execute(
            update(Identity)
            .where(Identity.id == verified.id)
            .values(unreachable_reason="mailbox does not exist")
        )
    status, body = await api(client, "POST", f"{thread_path}/messages", sara, json={"text": "E"})
    assert status == 409 and "mailbox does not exist" in body["error"]["message"]
    _, customer = await api(client, "GET", f"/api/v1/customers/{first.customer_id}", sara)
    reasons = {i["address"]: i["unreachable_reason"] for i in customer["identities"]}
    assert reasons["alice@x.ir"] == "mailbox does not exist"

    _, detail = await api(client, "GET", thread_path, sara)
    assert detail["thread"]["first_response_at"] is not None
    assert detail["customer"]["name"] == "Alice"
    delivered = next(m for m in detail["messages"] if m["text"] == "A")
    assert delivered["delivery"]["status"] == "delivered"


async def _identity_of(context, address: str) -> int:  # type: ignore[no-untyped-def]
    async with context.sessions() as session:
        found = await session.scalar(select(Identity.id).where(Identity.address == address))
        assert found is not None
        return int(found)


async def test_a_written_message_is_carried_only_when_the_reader_would_show_it(
    settings: Settings, start_app
) -> None:
    """The writer's copy of what a customer is shown (`shown_to_customer`, carried by
    `MessageStored` in the writing process) follows the reader's rule exactly: notes and
    unauthenticated senders' messages are never carried."""
    web = FakeAdapter(name="web")
    _client, context = await _start(settings, start_app, web)
    first = await web.push("hello", sender="v1")
    carried: dict[int, ConversationMessage | None] = {}
    async with context.sessions() as session, session.begin():
        for internal in (False, True):
            for authenticated in (None, True, False):
                message = await inserted(
                    session,
                    Message,
                    thread_id=first.thread_id,
                    customer_id=first.customer_id,
                    direction="in" if authenticated is not None else "out",
                    author_kind=AuthorKind.CUSTOMER if authenticated is not None else "agent",
                    channel="email" if authenticated is not None else "web",
                    text=f"internal={internal} authenticated={authenticated}",
                    internal=internal,
                    sender_authenticated=authenticated,
                    suggestions=["a", "b"],
                    created_at=utcnow(),
                )
                carried[message.id] = shown_to_customer(message)
    assert web.services is not None
    read = {m.id: m for m in await web.services.conversation.messages_by_id(list(carried))}
    assert carried == {message_id: read.get(message_id) for message_id in carried}
    assert sum(m is not None for m in carried.values()) == 2  # not a note, not forged


async def test_notes_never_leave(settings: Settings, start_app) -> None:
    web = FakeAdapter(name="web")
    client, context = await _start(settings, start_app, web)
    sara = await make_agent(context, "Sara")
    tier2 = await make_agent(context, "Two", tier=2)
    first = await web.push("hello", sender="v1")
    path = f"/api/v1/threads/{first.thread_id}"
    # a note needs no claim; any agent who can see the thread may write one
    status, body = await api(
        client, "POST", f"{path}/messages", sara, json={"text": "SECRET-NOTE", "internal": True}
    )
    assert status == 201 and body["message"]["internal"] is True
    note_id = body["message"]["id"]
    status, _ = await api(
        client, "POST", f"{path}/messages", tier2, json={"text": "x", "internal": True}
    )
    assert status == 403
    status, _ = await api(
        client,
        "POST",
        f"{path}/messages",
        sara,
        json={"text": "x", "internal": True, "identity_id": 1},
    )
    assert status == 422
    await api(client, "POST", f"{path}/claim", sara)
    await api(client, "POST", f"{path}/messages", sara, json={"text": "public reply"})
    sent = await web.wait_sent(2)
    assert "public reply" in [m.text for m in sent]
    assert all("SECRET-NOTE" not in m.text for m in sent)
    assert await count_rows(context, OutboxItem, OutboxItem.message_id == note_id) == 0
    async with context.sessions() as session:
        note = await session.get(Message, note_id)
        assert note is not None and note.internal
    # the customer's own view of the conversation has no notes either
    assert web.services is not None
    history = await web.services.conversation.history("web", "v1")
    assert "SECRET-NOTE" not in [m.text for m in history]
    assert await web.services.conversation.message(note_id) is None
    shown = await web.services.conversation.message(first.message_id)
    assert shown is not None and shown.text == "hello"
    assert await web.services.conversation.messages_by_id([note_id, first.message_id]) == [shown]
    _, detail = await api(client, "GET", path, sara)
    assert detail["thread"]["last_message"]["text"] == "public reply"


async def test_a_listed_thread_previews_the_customers_newest_words(
    settings: Settings, start_app
) -> None:
    """After a claim the newest message is "Sara ... is with you now", the same on every
    row; the list carries the customer's own newest words apart for the queue to show."""
    web = FakeAdapter(name="web")
    client, context = await _start(settings, start_app, web)
    sara = await make_agent(context, "Sara")
    first = await web.push("سفارش ۱۲۳۴ من هنوز نرسیده", sender="v1", language="fa")
    await web.push("a photo of the box", sender="v1", language="fa")
    await api(client, "POST", f"/api/v1/threads/{first.thread_id}/claim", sara)
    await api(
        client,
        "POST",
        f"/api/v1/threads/{first.thread_id}/messages",
        sara,
        json={"text": "checking", "internal": True},
    )
    status, body = await api(client, "GET", "/api/v1/threads?status=assigned", sara)
    assert status == 200
    (row,) = body["threads"]
    assert row["last_message"]["author_kind"] == AuthorKind.SYSTEM
    said = row["last_customer_message"]
    assert (said["author_kind"], said["text"]) == (AuthorKind.CUSTOMER, "a photo of the box")


async def test_canned_responses_fill_placeholders_per_language(
    settings: Settings, start_app
) -> None:
    web = FakeAdapter(name="web")
    client, context = await _start(settings, start_app, web)
    sara = await make_agent(context, "Sara")
    admin = await make_agent(context, "Boss", is_admin=True)
    named = await web.push("hi", sender="v1", sender_name="Alice")
    unnamed = await web.push("سلام", sender="v2")
    status, body = await api(
        client,
        "POST",
        "/api/v1/canned",
        admin,
        json={
            "language": "fa",
            "title": "قیمت",
            "text": "{customer_name}، قیمت {price} است. {agent_name}",
        },
    )
    assert status == 201
    _, body = await api(
        client, "GET", f"/api/v1/canned?language=en&thread_id={named.thread_id}", sara
    )
    rendered = {c["title"]: c["rendered"] for c in body["canned"]}
    assert rendered["Greeting"] == "Hello Alice, I'm Sara. How can I help?"
    assert {c["language"] for c in body["canned"]} == {"en"}
    _, body = await api(
        client, "GET", f"/api/v1/canned?language=fa&thread_id={unnamed.thread_id}", sara
    )
    rendered = {c["title"]: c["rendered"] for c in body["canned"]}
    assert rendered["قیمت"] == "مشتری گرامی، قیمت {price} است. Sara"
    _, body = await api(client, "GET", "/api/v1/canned?language=ar", sara)
    assert body["canned"] and all(c["rendered"] is None for c in body["canned"])


async def test_no_call_works_without_a_valid_agent_token(settings: Settings, start_app) -> None:
    client, context = await _start(settings, start_app)
    doc = await _document(client)
    sara = await make_agent(context, "Sara")
    revoked = await make_agent(context, "Gone")
    async with context.sessions() as session, session.begin():
        await session.execute(
            update(ApiToken).where(ApiToken.agent_id == revoked.id).values(revoked_at=utcnow())
        )
    integration = new_token("pk_int")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name="shop", token_hash=token_hash(integration)))
    bad_headers = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic c2FyYTpzZWNyZXQ="},
        {"Authorization": "Bearer pk_agent_not-a-real-token"},
        {"Authorization": f"Bearer {integration}"},  # an integration is not an agent
        revoked.headers,
        {"Authorization": sara.token},  # no scheme
    ]
    checked = 0
    for template, operations in doc["paths"].items():
        if template == "/api/v1/openapi.json" or template.startswith("/api/v1/inbound"):
            continue
        path = re.sub(r"\{[^}]+\}", "1", template)
        for method, operation in operations.items():
            security = operation.get("security", doc["security"])
            if not security:
                # open by design: a survey's, an invitation's or an unsubscribe link's
                # token is its credential
                continue
            for headers in bad_headers:
                if headers.get("Authorization") == f"Bearer {integration}" and (
                    {"integrationToken": []} in security
                ):
                    continue  # integrations may manage outreach
                response = await client.request(method, path, headers=headers, json={})
                assert response.status == 401, (method, path, headers)
                body = await response.json()
                assert not schema_errors(body, {"$ref": "#/components/schemas/Error"}, doc)
                checked += 1
    assert checked >= 17 * len(bad_headers)  # every agent operation was tried
    # and an agent token does not work on the integration channel
    response = await client.post(
        "/api/v1/inbound/messages",
        headers=sara.headers,
        json={"id": "1", "text": "x", "customer": {"external_id": "1"}},
    )
    assert response.status == 401


async def test_agent_token_cannot_act_as_admin(settings: Settings, start_app) -> None:
    web = FakeAdapter(name="web")
    client, context = await _start(settings, start_app, web)
    sara = await make_agent(context, "Sara", tier=1)
    admin = await make_agent(context, "Boss", tier=1, is_admin=True)
    high = await web.push("complicated", sender="v1")
    assert (
        await api(
            client,
            "POST",
            f"/api/v1/threads/{high.thread_id}/escalate",
            admin,
            json={"tier": 3, "reason": "specialist"},
        )
    )[0] == 200
    canned = {"language": "en", "title": "T", "text": "x"}
    forbidden = [
        ("POST", "/api/v1/canned", {"json": canned}),
        ("DELETE", "/api/v1/canned/1", {}),
        ("GET", "/api/v1/threads?tier=3", {}),
        ("GET", f"/api/v1/threads/{high.thread_id}", {}),
        ("POST", f"/api/v1/threads/{high.thread_id}/claim", {}),
        ("POST", f"/api/v1/threads/{high.thread_id}/resolve", {}),
        ("POST", f"/api/v1/threads/{high.thread_id}/release", {}),
        ("GET", f"/api/v1/customers/{high.customer_id}", {}),
    ]
    for method, path, kwargs in forbidden:
        status, body = await api(client, method, path, sara, **kwargs)
        assert status == 403, (method, path, status, body)
        assert body["error"]["status"] == 403 and body["error"]["message"]
    # what the admin may do with the same requests
    assert (await api(client, "POST", "/api/v1/canned", admin, json=canned))[0] == 201
    assert (await api(client, "GET", "/api/v1/threads?tier=3", admin))[0] == 200
    assert (await api(client, "POST", f"/api/v1/threads/{high.thread_id}/claim", admin))[0] == 200


async def test_queue_stats_counts(settings: Settings, start_app) -> None:
    web = FakeAdapter(name="web")
    client, context = await _start(settings, start_app, web)
    sara = await make_agent(context, "Sara", max_concurrent=3)
    await api(client, "POST", "/api/v1/agents/me/presence", sara, json={"status": "online"})
    first = await web.push("one", sender="v1")
    await web.push("two", sender="v2")
    await api(client, "POST", f"/api/v1/threads/{first.thread_id}/claim", sara)
    await api(
        client, "POST", f"/api/v1/threads/{first.thread_id}/messages", sara, json={"text": "hi"}
    )
    await api(client, "POST", f"/api/v1/threads/{first.thread_id}/resolve", sara)
    status, stats = await api(client, "GET", "/api/v1/queue/stats", sara)
    assert status == 200
    tier1 = stats["tiers"][0]
    assert (tier1["queued"], tier1["assigned"], tier1["agents_online"], tier1["free_capacity"]) == (
        1,
        0,
        1,
        3,
    )
    assert tier1["oldest_waiting_seconds"] >= 0
    assert stats["last_24h"]["first_responses"] == 1
    assert stats["last_24h"]["resolved"] == 1
    assert stats["last_24h"]["median_first_response_seconds"] >= 0


async def _web_chat_and_agent(
    settings: Settings, start_app
) -> tuple[FakeAdapter, Any, Any, AgentUser]:
    """An app with a fake web channel, and agent Sara."""
    web = FakeAdapter(name="web")
    client, context = await _start(settings, start_app, web)
    return web, client, context, await make_agent(context, "Sara")


async def test_a_threads_files_download_only_there_and_never_render(
    settings: Settings, start_app
) -> None:
    web, client, context, sara = await _web_chat_and_agent(settings, start_app)
    assert web.services is not None
    page = await web.services.attachments.put(
        b"<script>alert(1)</script>", filename="invoice.html", content_type="text/html"
    )
    photo = await web.services.attachments.put(
        b"\x89PNG\r\n\x1a\n", filename="photo.png", content_type="image/png"
    )
    other = await web.services.attachments.put(
        b"someone else's", filename="theirs.txt", content_type="text/plain"
    )
    mine = await web.push("see attached", sender="c1", attachments=(page, photo))
    theirs = await web.push("mine", sender="c2", attachments=(other,))
    url = f"/api/v1/threads/{mine.thread_id}/attachments"

    response = await client.get(f"{url}/{page.sha256}", headers=sara.headers)
    assert response.status == 200
    assert await response.read() == b"<script>alert(1)</script>"
    assert response.content_type == "application/octet-stream"  # never text/html
    assert response.headers["Content-Disposition"] == "attachment; filename*=UTF-8''invoice.html"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    response = await client.get(f"{url}/{photo.sha256}", headers=sara.headers)
    assert (response.status, response.content_type) == (200, "image/png")
    assert response.headers["Content-Disposition"].startswith("inline;")

    # another customer's file is not reachable through this thread; no token, no file
    assert (await client.get(f"{url}/{other.sha256}", headers=sara.headers)).status == 404
    assert (await client.get(f"{url}/{page.sha256}")).status == 401
    theirs_url = f"/api/v1/threads/{theirs.thread_id}/attachments/{other.sha256}"
    assert (await client.get(theirs_url, headers=sara.headers)).status == 200

    # after resolution, a new thread of the same customer still reaches the earlier file
    async with context.sessions() as session, session.begin():
        await session.execute(
            update(Thread).where(Thread.id == mine.thread_id).values(status="resolved")
        )
    again = await web.push("one more question", sender="c1")
    assert again.thread_id != mine.thread_id
    later = f"/api/v1/threads/{again.thread_id}/attachments/{photo.sha256}"
    assert (await client.get(later, headers=sara.headers)).status == 200


async def test_the_same_bytes_under_two_names_download_under_the_name_clicked(
    settings: Settings, start_app
) -> None:
    # Files are stored once by content: a.pdf and b.pdf of the same bytes are one file,
    # two references. The console names the message and the name it shows.
    web, client, _context, sara = await _web_chat_and_agent(settings, start_app)
    assert web.services is not None
    data = b"%PDF-1.4 the same bytes"
    first = await web.services.attachments.put(
        data, filename="a.pdf", content_type="application/pdf"
    )
    second = await web.services.attachments.put(
        data, filename="b.pdf", content_type="application/pdf"
    )
    assert first.sha256 == second.sha256
    one = await web.push("first", sender="c1", attachments=(first,))
    two = await web.push("second", sender="c1", attachments=(second,))
    assert one.thread_id == two.thread_id
    status, detail = await api(client, "GET", f"/api/v1/threads/{one.thread_id}", sara)
    assert status == 200
    ids = {m["text"]: m["id"] for m in detail["messages"]}
    url = f"/api/v1/threads/{one.thread_id}/attachments/{first.sha256}"
    for text, name in (("first", "a.pdf"), ("second", "b.pdf")):
        response = await client.get(
            url, params={"message": ids[text], "name": name}, headers=sara.headers
        )
        assert response.status == 200 and await response.read() == data
        assert response.headers["Content-Disposition"] == f"attachment; filename*=UTF-8''{name}"
    # A message or a name that does not hold the file serves nothing.
    for params in ({"message": ids["first"], "name": "b.pdf"}, {"message": 2**40}):
        response = await client.get(url, params=params, headers=sara.headers)
        assert response.status == 404, params
    assert (await client.get(url, params={"message": "x"}, headers=sara.headers)).status == 422
    # Without them (an older link), the first reference, as before.
    response = await client.get(url, headers=sara.headers)
    assert response.headers["Content-Disposition"] == "attachment; filename*=UTF-8''a.pdf"


async def test_an_agents_upload_is_named_for_the_type_its_bytes_are(
    settings: Settings, start_app
) -> None:
    client, context = await _start(settings, start_app)
    sara = await make_agent(context, "Sara")
    form = FormData()
    form.add_field("file", b"\x89PNG\r\n\x1a\n", filename="tool.exe", content_type="image/png")
    status, body = await api(client, "POST", "/api/v1/uploads", sara, data=form)
    assert status == 201
    assert (body["filename"], body["content_type"]) == ("tool.exe.png", "image/png")


async def test_errors_aiohttp_answers_itself_are_json_under_the_api(
    settings: Settings, start_app
) -> None:
    client, context = await _start(settings, start_app)
    sara = await make_agent(context, "Sara")
    status, body = await api(client, "GET", "/api/v1/no-such-thing", sara)
    assert status == 404 and body["error"]["status"] == 404 and body["error"]["message"]
    response = await client.put("/api/v1/threads", headers=sara.headers)
    assert response.status == 405 and response.headers["Allow"]
    assert (await response.json())["error"]["message"] == "Method Not Allowed"
    # outside the API, aiohttp's own answers stay as they were
    response = await client.get("/no-such-page")
    assert response.status == 404 and response.content_type == "text/plain"


async def test_ids_clients_send_are_parsed_in_one_place(settings: Settings, start_app) -> None:
    """Superscripts, other scripts' digits and ids beyond a BIGINT are refused (404 in a
    path, 422 in a query or body), never a server error."""
    client, context = await _start(settings, start_app)
    admin = await make_agent(context, "Boss", is_admin=True)
    long = "1" * 30
    for path in ("/api/v1/threads/²", f"/api/v1/threads/{long}", "/api/v1/customers/²"):
        status, body = await api(client, "GET", path, admin)
        assert (status, body["error"]["status"]) == (404, 404), path
    for query in ("tier=²", f"tier={long}", f"assignee={long}", "assignee=²", "limit=٥"):
        status, body = await api(client, "GET", f"/api/v1/threads?{query}", admin)
        assert (status, body["error"]["status"]) == (422, 422), query
    status, _ = await api(client, "GET", f"/api/v1/canned?thread_id={long}", admin)
    assert status == 422
    for other in ("²", long, int(long)):
        status, _ = await api(
            client, "POST", "/api/v1/customers/1/merge", admin, json={"other": other}
        )
        assert status == 422, other
    integration = new_token("pk_int")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name="shop", token_hash=token_hash(integration)))
    for after in ("٥", " 5", long):
        response = await client.get(
            "/api/v1/inbound/customers/42/messages",
            params={"after": after},
            headers={"Authorization": f"Bearer {integration}"},
        )
        assert response.status == 400, after


async def test_a_customers_view_is_read_by_one_statement_without_a_transaction(
    settings: Settings, start_app, db_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import event
    from sqlalchemy.dialects.postgresql import asyncpg as pg_dialect

    web = FakeAdapter(name="web")
    _, context = await _start(settings, start_app, web)
    first = await web.push("hello", sender="v1")
    second = await web.push("again", sender="v1")
    reader = web.services.conversation if web.services is not None else None
    assert reader is not None
    statements: list[str] = []
    begun: list[object] = []
    adapted = pg_dialect.AsyncAdapt_asyncpg_connection
    start = adapted._start_transaction
    reading = asyncio.current_task()

    async def counted(self: Any) -> None:
        if self.isolation_level != "autocommit" and asyncio.current_task() is reading:
            begun.append(self)
        await start(self)

    def statement(_c: Any, _cursor: Any, sql: str, *_: Any) -> None:
        # This task's statements only (not the app's background passes); SQLite's
        # deferred BEGIN is no round trip.
        if asyncio.current_task() is reading and sql != "BEGIN":
            statements.append(sql)

    monkeypatch.setattr(adapted, "_start_transaction", counted)
    event.listen(context.engine.sync_engine, "before_cursor_execute", statement)
    try:
        reads = [
            await reader.messages_by_id([first.message_id, second.message_id]),
            await reader.history("web", "v1"),
            await reader.history("web", "v1", after_id=first.message_id),
            [await reader.message(second.message_id)],
            await reader.history("web", "nobody"),
        ]
    finally:
        event.remove(context.engine.sync_engine, "before_cursor_execute", statement)
    assert [[m.text for m in read if m is not None] for read in reads] == [
        ["hello", "again"],
        ["hello", "again"],
        ["again"],
        ["again"],
        [],
    ]
    # One statement a read, and on PostgreSQL no BEGIN/ROLLBACK round trips around it:
    # these reads are on the path of every message pushed to a visitor from the bus.
    assert len(statements) == len(reads)
    assert begun == []
