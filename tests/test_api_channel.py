"""The API channel over real HTTP: 202 after commit, 200 on redelivery, clear errors."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event, func, select

from config.settings import Settings
from router.core.security import new_token, token_hash
from router.storage.models import ApiToken, Message, Thread
from tests.agent_support import api, make_agent


async def _integration_token(context) -> str:  # type: ignore[no-untyped-def]
    token = new_token("pk_int")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name="crm", token_hash=token_hash(token)))
    return token


def _body(msg_id: str = "m-1", text: str = "سلام") -> dict[str, object]:
    return {"id": msg_id, "customer": {"external_id": "cust-9", "name": "Sara"}, "text": text}


async def test_post_answers_202_then_200_with_same_ids(settings: Settings, start_app) -> None:
    client, context = await start_app(settings)
    headers = {"Authorization": f"Bearer {await _integration_token(context)}"}
    first = await client.post("/api/v1/inbound/messages", json=_body(), headers=headers)
    assert first.status == 202
    ids = await first.json()
    again = await client.post("/api/v1/inbound/messages", json=_body(), headers=headers)
    assert again.status == 200
    repeat = await again.json()
    assert {k: repeat[k] for k in ("message_id", "thread_id", "customer_id")} == {
        k: ids[k] for k in ("message_id", "thread_id", "customer_id")
    }
    async with context.sessions() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(Message).where(Message.direction == "in")
            )
            == 1
        )


async def test_requires_integration_token(settings: Settings, start_app) -> None:
    client, context = await start_app(settings)
    assert (await client.post("/api/v1/inbound/messages", json=_body())).status == 401
    bad = {"Authorization": "Bearer pk_int_not-a-real-token"}
    assert (await client.post("/api/v1/inbound/messages", json=_body(), headers=bad)).status == 401
    agent_token = new_token("pk_agent")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="agent", name="x", token_hash=token_hash(agent_token)))
    wrong_kind = {"Authorization": f"Bearer {agent_token}"}
    response = await client.post("/api/v1/inbound/messages", json=_body(), headers=wrong_kind)
    assert response.status == 401
    metrics = await (await client.get("/metrics")).text()
    assert 'pasokh_rejected_input_total{channel="api",reason="unauthorized"} 3.0' in metrics


async def test_bad_input_gets_named_errors(settings: Settings, start_app) -> None:
    client, context = await start_app(settings.replace("api", max_text_length=100))
    headers = {"Authorization": f"Bearer {await _integration_token(context)}"}
    url = "/api/v1/inbound/messages"

    async def error_of(response) -> tuple[int, str]:  # type: ignore[no-untyped-def]
        return response.status, (await response.json())["error"]["message"]

    status, message = await error_of(await client.post(url, data=b"{not json", headers=headers))
    assert status == 400 and "invalid JSON" in message
    status, message = await error_of(await client.post(url, data=b"\xff\xfe{}", headers=headers))
    assert status == 400 and "UTF-8" in message
    status, message = await error_of(await client.post(url, json=[1, 2], headers=headers))
    assert status == 400 and "object" in message
    deep = b"[" * 100_000 + b"]" * 100_000  # deeper than the parser goes: not a 500
    status, message = await error_of(await client.post(url, data=deep, headers=headers))
    assert (status, message) == (400, "invalid JSON: nested too deeply")
    body = _body()
    del body["text"]
    status, message = await error_of(await client.post(url, json=body, headers=headers))
    assert (status, message) == (400, "missing field: text")
    body = {"id": "x", "customer": {}, "text": "hi"}
    status, message = await error_of(await client.post(url, json=body, headers=headers))
    assert (status, message) == (400, "missing field: customer.external_id")
    status, message = await error_of(
        await client.post(url, json=_body(text="x" * 101), headers=headers)
    )
    assert status == 413 and "100" in message
    huge = b'{"id": "1", "text": "' + b"a" * (settings.server.max_request_bytes + 10) + b'"}'
    response = await client.post(url, data=huge, headers=headers)
    assert response.status == 413
    async with context.sessions() as session:
        assert (
            await session.scalar(
                select(func.count()).select_from(Message).where(Message.direction == "in")
            )
            == 0
        )
    # the server is still fine
    assert (await client.post(url, json=_body(), headers=headers)).status == 202
    metrics = await (await client.get("/metrics")).text()
    assert 'pasokh_rejected_input_total{channel="api",reason="bad_body"}' in metrics


async def test_unstorable_characters_are_refused_and_logged(
    settings: Settings, start_app, caplog
) -> None:
    """Valid UTF-8 JSON can still escape a NUL or a lone surrogate, which no column stores."""
    client, context = await start_app(settings)
    headers = {
        "Authorization": f"Bearer {await _integration_token(context)}",
        "Content-Type": "application/json",
    }
    url = "/api/v1/inbound/messages"
    bodies = {
        "body.text": b'{"id": "a", "customer": {"external_id": "c"}, "text": "x\\u0000y"}',
        "body.customer.name": (
            b'{"id": "b", "customer": {"external_id": "c", "name": "\\ud800"}, "text": "hi"}'
        ),
        "body.id": b'{"id": "\\udfff", "customer": {"external_id": "c"}, "text": "hi"}',
    }
    # Nested nearly as deep as the parser allows, and still found.
    deep = b'{"id": "d", "customer": {"external_id": "c"}, "text": "x", "extra": '
    bodies["body.extra" + ".a" * 900] = deep + b'{"a": ' * 900 + b'"\\u0000"' + b"}" * 901
    caplog.set_level("WARNING", logger="channels.api.adapter")
    for field, raw in bodies.items():
        response = await client.post(url, data=raw, headers=headers)
        assert response.status == 400, field
        message = (await response.json())["error"]["message"]
        assert message.startswith(f"{field} holds a NUL character or a lone UTF-16 surrogate")
    assert sum("reason=bad_body status=400" in r.getMessage() for r in caplog.records) == 4
    async with context.sessions() as session:
        stored = select(func.count()).select_from(Message).where(Message.direction == "in")
        assert await session.scalar(stored) == 0
    metrics = await (await client.get("/metrics")).text()
    assert 'pasokh_rejected_input_total{channel="api",reason="bad_body"} 4.0' in metrics
    assert (await client.post(url, json=_body(), headers=headers)).status == 202


async def test_over_long_ids_names_and_language_are_refused_by_field(
    settings: Settings, start_app
) -> None:
    """The columns have limits PostgreSQL enforces; the API says so before the database."""
    client, context = await start_app(settings)
    headers = {"Authorization": f"Bearer {await _integration_token(context)}"}
    url = "/api/v1/inbound/messages"
    cases = {
        "id": {**_body(msg_id="i" * 201)},
        "customer.external_id": {**_body(), "customer": {"external_id": "e" * 201}},
        "customer.name": {**_body(), "customer": {"external_id": "e", "name": "ن" * 201}},
        "language": {**_body(), "language": "persian-please"},
    }
    for field, body in cases.items():
        response = await client.post(url, json=body, headers=headers)
        assert response.status == 400, field
        message = (await response.json())["error"]["message"]
        assert message.startswith(f"field {field} is longer than"), message
    at_limit = {
        "id": "i" * 200,
        "customer": {"external_id": "e" * 200, "name": "ن" * 200},
        "text": "سلام",
        "language": "fa",
    }
    assert (await client.post(url, json=at_limit, headers=headers)).status == 202


async def test_replies_readable_by_integration(settings: Settings, start_app) -> None:
    client, context = await start_app(settings)
    headers = {"Authorization": f"Bearer {await _integration_token(context)}"}
    await client.post("/api/v1/inbound/messages", json=_body(), headers=headers)
    response = await client.get("/api/v1/inbound/customers/cust-9/messages", headers=headers)
    assert response.status == 200
    messages = (await response.json())["messages"]
    assert messages[0]["text"] == "سلام" and messages[0]["author"] == "customer"
    url = "/api/v1/inbound/customers/cust-9/messages"
    for after in ("x", "-1", "9" * 30):  # 9…9 would overflow PostgreSQL's BIGINT
        response = await client.get(url, params={"after": after}, headers=headers)
        assert response.status == 400, after
    response = await client.get(url, params={"after": messages[0]["id"]}, headers=headers)
    assert messages[0]["id"] not in [m["id"] for m in (await response.json())["messages"]]
    other = {"Authorization": f"Bearer {await _integration_token(context)}"}
    response = await client.get("/api/v1/inbound/customers/cust-9/messages", headers=other)
    assert (await response.json())["messages"] == []  # another integration's namespace


async def test_healthz_and_metrics(settings: Settings, start_app) -> None:
    client, _ = await start_app(settings)
    response = await client.get("/healthz")
    assert response.status == 200 and (await response.json())["database"] == "ok"
    text = await (await client.get("/metrics")).text()
    assert "pasokh_outbox_depth" in text and "pasokh_ingest_seconds" in text


async def test_healthz_red_when_database_unreachable(settings: Settings) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from router.app import build_app
    from tests.support import free_port

    dead = settings.replace(
        "database", url=f"postgresql+asyncpg://nobody@127.0.0.1:{free_port()}/none"
    )
    async with TestClient(TestServer(build_app(dead, migrate=False))) as client:
        response = await client.get("/healthz")
        assert response.status == 503
        assert (await response.json())["database"] == "down"


@pytest.mark.parametrize(
    ("question", "language", "joined"),
    [
        ("How long does delivery take?", "en", "from our support team is with you now"),
        ("كم يستغرق التوصيل؟", "ar", "من فريق الدعم معك الآن"),
    ],
)
async def test_a_thread_takes_the_language_the_bot_answered_in(
    settings: Settings, start_app, question: str, language: str, joined: str
) -> None:
    # No `language` in the request: the bot reads it from the question, and what people
    # write on the thread later (here: the agent joined) is in it, not the KB's default.
    client, context = await start_app(settings)
    headers = {"Authorization": f"Bearer {await _integration_token(context)}"}
    for n, text in enumerate((question, "human please")):
        posted = await client.post(
            "/api/v1/inbound/messages", json=_body(f"m-{n}", text), headers=headers
        )
        assert posted.status == 202, await posted.text()
    thread_id = (await posted.json())["thread_id"]
    async with context.sessions() as session:
        thread = await session.get_one(Thread, thread_id)
        assert (thread.language, thread.status) == (language, "queued")
    agent = await make_agent(context, "Sara")
    status, _ = await api(client, "POST", f"/api/v1/threads/{thread_id}/claim", agent)
    assert status == 200
    async with context.sessions() as session:
        said = await session.scalar(
            select(Message.text).where(Message.author_kind == "system").order_by(Message.id.desc())
        )
    assert said is not None and joined in said, said


async def test_a_steady_load_of_concurrent_clients_closes_no_connection(
    settings: Settings, start_app
) -> None:
    """Sixteen integrations posting at once, round after round, are served by the
    connections the pool keeps. With a pool smaller than what a round holds at once, the
    connections above it were closed on their return and opened again the next round:
    on PostgreSQL a backend started and every statement prepared again."""
    client, context = await start_app(settings)
    headers = {"Authorization": f"Bearer {await _integration_token(context)}"}
    clients = 16
    closed: list[object] = []
    event.listen(context.engine.sync_engine, "close", lambda *_: closed.append(1))

    async def round_of_messages(n: int) -> None:
        responses = await asyncio.gather(
            *(
                client.post(
                    "/api/v1/inbound/messages",
                    json={"id": f"m-{n}-{c}", "customer": {"external_id": f"c-{c}"}, "text": "hi"},
                    headers=headers,
                )
                for c in range(clients)
            )
        )
        assert [r.status for r in responses] == [202] * clients

    for n in range(4):
        await round_of_messages(n)
    assert closed == []
