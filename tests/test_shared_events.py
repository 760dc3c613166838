"""The event bus between processes on one PostgreSQL (router.core.shared_events).

Two apps on one database stand for two processes: what one writes, the other's
subscribers (the web chat's sockets, the console's live queue) see. On the embedded
SQLite there is one process and the in-process bus is all there is.
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import text

from bot import build_responder
from config.settings import Settings
from router.context import AppContext
from router.core.events import (
    Event,
    EventsResumed,
    InProcessEventBus,
    MessageStored,
    ThreadChanged,
    Typing,
)
from router.core.messages import AuthorKind, ConversationMessage, utcnow
from router.core.responder import QueueEveryThread
from router.core.shared_events import MAX_PAYLOAD_BYTES, PostgresEventBus, decode, encode
from router.metrics import Metrics
from tests.agent_support import api, make_agent
from tests.conftest import AppFactory
from tests.test_ingest_statements import QUESTION
from tests.test_webchat_app import connect, new_token, say
from tests.webchat_fakes import next_frame, next_reply


async def two_processes(
    start_app: AppFactory, settings: Settings
) -> list[tuple[TestClient[Any, Any], AppContext]]:
    settings = settings.replace("webchat", enabled=True).replace("email", enabled=False)
    return [await start_app(settings, responder=QueueEveryThread()) for _ in range(2)]


async def next_event(queue: asyncio.Queue[Event], kind: type[Any], **fields: Any) -> Any:
    async with asyncio.timeout(10):
        while True:
            event = await queue.get()
            if isinstance(event, kind) and all(getattr(event, k) == v for k, v in fields.items()):
                return event


async def test_agent_reply_through_b_reaches_the_visitor_and_console_on_a(
    start_app: AppFactory, settings: Settings, db_kind: str
) -> None:
    (client_a, context_a), (client_b, context_b) = await two_processes(start_app, settings)
    if db_kind == "sqlite":
        # One process owns an embedded database: no bus between processes.
        assert isinstance(context_a.events, InProcessEventBus)
        return
    assert isinstance(context_a.events, PostgresEventBus)
    agent = await make_agent(context_b, "Sara", presence="online")
    ws = await connect(client_a, await new_token(client_a, name="Mina"))
    await next_frame(ws, "history")
    async with context_a.events.subscription() as console_a:
        ack = await say(ws, "سلام، با یک نفر کار دارم", "c1")
        customer_message = await next_event(
            console_a, MessageStored, message_id=int(ack["message_id"])
        )
        thread_id = customer_message.thread_id
        # Written through process B: its events must reach process A.
        status, _ = await api(client_b, "POST", f"/api/v1/threads/{thread_id}/claim", agent)
        assert status == 200
        await next_event(console_a, ThreadChanged, thread_id=thread_id, assignee_id=agent.id)
        context_b.events.publish(Typing(thread_id, customer_message.customer_id, "agent", "Sara"))
        assert (await next_frame(ws, "typing"))["who"] == "agent"
        status, body = await api(
            client_b,
            "POST",
            f"/api/v1/threads/{thread_id}/messages",
            agent,
            json={"text": "سلام مینا، در خدمتم"},
        )
        assert status == 201, body
        reply_id = int(body["message"]["id"])
        await next_event(console_a, MessageStored, message_id=reply_id)
    # The claim's "Sara is with you now" may come first; then the reply itself.
    replies = [await next_reply(ws)]
    while int(replies[-1]["id"]) != reply_id:
        replies.append(await next_reply(ws))
    assert replies[-1]["text"] == "سلام مینا، در خدمتم"
    assert len(replies) <= 2 and all(r["author_name"] == "Sara" for r in replies)


async def test_the_bots_answer_written_by_b_reaches_the_visitors_tab_on_a(
    start_app: AppFactory, settings: Settings, db_kind: str
) -> None:
    """B's own subscribers get the answer with the event; A gets ids only and reads it."""
    if db_kind == "sqlite":
        return  # one process owns an embedded database
    settings = settings.replace("webchat", enabled=True).replace("email", enabled=False)
    (client_a, context_a), (client_b, _) = [
        await start_app(settings, responder=build_responder(faq_path=None)) for _ in range(2)
    ]
    token = await new_token(client_a)
    tab_a = await connect(client_a, token, lang="fa")
    await next_frame(tab_a, "history")
    await say(tab_a, QUESTION, "c0")  # the visitor is a customer, tab A knows whose
    assert (await next_reply(tab_a, wait=30))["author"] == "bot"
    tab_b = await connect(client_b, token, lang="fa")  # the same visitor's other tab
    await next_frame(tab_b, "history")
    async with context_a.events.subscription() as events_a:
        await say(tab_b, QUESTION, "c1")  # answered by B
        answer_b = await next_reply(tab_b, wait=30)
        assert answer_b["author"] == "bot"
        stored_on_a = await next_event(events_a, MessageStored, message_id=int(answer_b["id"]))
    assert stored_on_a.shown is None  # the notification carried no text
    answer_a = await next_reply(tab_a, wait=30)
    assert answer_a == answer_b


@pytest.mark.postgresql  # no bus connection to lose on SQLite
async def test_after_a_reconnect_listeners_are_told_to_resync(settings: Settings) -> None:
    from router.core.shared_events import listen_dsn
    from router.storage.engine import new_engine

    engine = new_engine(settings.database_url)
    metrics = Metrics()
    bus = PostgresEventBus(listen_dsn(engine.url), metrics.shared_events, check_every=0.2)
    other = PostgresEventBus(listen_dsn(engine.url), metrics.shared_events, check_every=0.2)
    await bus.start()
    await other.start()
    try:
        async with bus.subscription() as queue, other.subscription() as others_queue:
            # The administrator (or a failover) cuts the bus connection.
            async with engine.connect() as connection:
                cut = await connection.scalar(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE application_name = 'pasokh events'"
                        " AND datname = current_database()"
                    )
                )
            assert cut == 2
            await next_event(queue, EventsResumed)
            # Both buses lost their connection: the sender's is back too before it sends.
            await next_event(others_queue, EventsResumed)
            # Connected again: events flow both ways.
            other.publish(ThreadChanged(7, 8, "open", 1, None))
            assert await next_event(queue, ThreadChanged, thread_id=7)
        assert metrics.shared_events.labels("reconnects")._value.get() >= 1
    finally:
        await bus.stop()
        await other.stop()
        await engine.dispose()


def test_events_travel_as_small_plain_data() -> None:
    event = MessageStored(message_id=5, thread_id=6, customer_id=7, author="agent")
    payload = encode(event, "origin", 1)
    assert payload is not None and "text" not in payload
    assert decode(payload) == ("origin", event)
    # What a visitor is shown of it stays with the subscribers of the writing process.
    shown = ConversationMessage(5, 6, AuthorKind.BOT, "the answer", "webchat", utcnow())
    carried = encode(dataclasses.replace(event, shown=shown), "origin", 1)
    assert carried == payload
    assert decode(payload)[1].shown is None  # type: ignore[union-attr]
    # A long visitor name still fits PostgreSQL's limit (the web chat caps names).
    long_name = encode(Typing(1, 2, "customer", "ن" * 200), "origin", 2)
    assert long_name is not None and len(long_name.encode()) < MAX_PAYLOAD_BYTES
    assert encode(EventsResumed(), "origin", 3) is None  # each process's own


@pytest.mark.postgresql  # NOTIFY is PostgreSQL's
async def test_the_bus_drops_its_own_notifications_unread(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL notifies a listening session of its own NOTIFYs too: the bus's own
    events come back to it, and are dropped before their payload is decoded."""
    from router.core import shared_events
    from router.core.shared_events import listen_dsn, notify_at_commit
    from router.storage.engine import new_engine, new_sessionmaker

    decoded: list[str] = []

    def counting_decode(payload: str) -> tuple[str, Event]:
        decoded.append(payload)
        return decode(payload)

    monkeypatch.setattr(shared_events, "decode", counting_decode)
    engine = new_engine(settings.database_url)
    metrics = Metrics()
    bus = PostgresEventBus(listen_dsn(engine.url), metrics.shared_events)
    await bus.start()
    try:
        async with bus.subscription() as queue:
            for thread_id in range(20):
                bus.publish(ThreadChanged(thread_id, 8, "open", 1, None))
            async with asyncio.timeout(10):
                while metrics.shared_events.labels("sent")._value.get() < 20:
                    await asyncio.sleep(0.01)
            # Another connection's notification, sent after the bus's own were
            # committed, arrives after them: once it is here, so are they.
            async with new_sessionmaker(engine)() as session, session.begin():
                await notify_at_commit(session, ThreadChanged(99, 8, "open", 1, None))
            await next_event(queue, ThreadChanged, thread_id=99)
        assert len(decoded) == 1 and '"thread_id":99' in decoded[0]
    finally:
        await bus.stop()
        await engine.dispose()
