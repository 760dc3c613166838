"""How many SQL statements one answered message costs, pinned.

Every channel is capped by the ingest and outbox transactions, so their statements are
counted with a `before_cursor_execute` listener while one message from a known customer
is posted, answered by the bot and delivered: the ingest's transaction, the outbox's
claim and the record of its outcome. Only statements of write transactions are counted
(`BEGIN` left out): the read-only polls of the test and of idle workers come and go
with the clock, the write path's statements do not. A change that adds one fails here;
lower the pin when a change removes some.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from bot import build_responder
from channels.email.adapter import EmailAdapter
from channels.webchat import protocol
from config.settings import Settings
from router.context import AppContext
from router.core.conversation import DatabaseConversationReader
from router.core.events import Event, MessageStored
from router.core.messages import AttachmentRef
from router.core.responder import Decision, MessageView, ThreadContext
from router.storage.engine import READ_ONLY_OPTION
from tests.agent_support import eventually
from tests.conftest import AppFactory
from tests.email_support import FakeRelay, make_mail, smtp_send, with_email
from tests.support import outbox_drained, waiting_for_a_lock
from tests.test_api_channel import _integration_token
from tests.test_webchat_app import connect, new_token
from tests.webchat_fakes import next_reply

# A question the sample KB answers with confidence: the thread stays with the bot.
QUESTION = "ارسال چند روز طول می‌کشد؟"

# Statements of the write transactions for one answered follow-up message, by database.
# The web chat records the channel's id of the answer it pushed (one more). On PostgreSQL
# it also takes the visitor's rate-limit tokens from the database, in a transaction of
# their own that touches no message and is not counted here. PostgreSQL leases the
# claimed outbox rows and starts their delivery attempts in one statement, reads a
# known sender's open thread (locked) in the statement that marks the sender seen, and
# reads the bot's context in the statement that stores the message (its INSERT a
# data-modifying CTE of the read), and writes the bot's answer, its outbox row and the
# thread's pending changes in one statement (the answer's INSERT and the thread's
# UPDATE as CTEs of the outbox row's INSERT).
API_STATEMENTS = {"sqlite": 12, "postgresql": 7}
WEBCHAT_STATEMENTS = {"sqlite": 13, "postgresql": 8}
# A new customer's first message that the bot hands to people at once (what most of
# `bench/ingest.py`'s first messages are): ingest, outbox claim and record. A customer
# the transaction creates has no thread to look for and no earlier messages to read,
# and its customer, identity and thread are written by prebuilt statements with what
# the message makes of them, the thread's later changes in one UPDATE (the bot's reply
# is not written through the unit of work, which flushed them once with it and again at
# commit). The thread's two report events are
# written by one statement (a batch). Its service-level clocks start with the thread's
# one UPDATE: a thread the transaction created has no alarms to delete. On PostgreSQL
# the customer and its identity are one statement (the identity's INSERT a CTE of the
# customer's), and the hand-off's answer is one with its outbox row.
HANDED_OFF_FIRST_STATEMENTS = {"sqlite": 17, "postgresql": 13}
# A follow-up from a customer waiting in the queue, which the bot leaves to the agent
# (most of `bench/ingest.py`'s messages): nothing is sent, so only the ingest counts.
# It does not ask for a person, so the bot's silence is settled by its text alone
# (`queued_silence`): the bot is not asked and its context (the thread's recent
# messages, its staffing and queue place, the calendars and policies for its hours) is
# not read. On PostgreSQL the thread's bookkeeping (who wrote last, when) is written
# by the message's INSERT, as a data-modifying CTE: nothing else changes the thread,
# so no UPDATE of it follows.
QUEUED_FOLLOW_UP_STATEMENTS = {"sqlite": 4, "postgresql": 2}
# A new web chat visitor's answered first message (every visitor's first round in
# `bench/webchat.py`).
# A customer, its identity and thread are created (and the thread's first report event),
# and no earlier messages are read for the bot. The socket found no customer for the
# visitor, so the identity is written first: no look-up of a known sender that finds
# nobody. The thread is written with its starting priority and keeps its written
# stamp: no UPDATE of it follows (SQLite; on PostgreSQL that UPDATE was a CTE of the
# answer's statement already).
WEBCHAT_FIRST_STATEMENTS = {"sqlite": 14, "postgresql": 10}
# An answered follow-up mail (what most of `bench/email_ingest.py`'s mails are): the raw
# message is the inbound message's attachment, a row of its own.
EMAIL_STATEMENTS = {"sqlite": 14, "postgresql": 9}


# A transaction of the message's path writes a message, an outbox row or a delivery
# attempt; the periodic sweeps that may run meanwhile (offline agents, SLA timers) do not.
MESSAGE_PATH = re.compile(r"\b(messages|outbox|delivery_attempts)\b")


@contextmanager
def written_statements(context: AppContext, *, this_task: bool = False) -> Iterator[list[str]]:
    """The statements of the message path's write transactions on `context`'s engine
    while inside; with `this_task`, those of every write transaction of the calling task.
    """
    seen: list[str] = []
    caller = asyncio.current_task() if this_task else None
    running: dict[int, list[str]] = {}

    def record(
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        execution: Any,
        executemany: bool,
    ) -> None:
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            return
        if caller is not None and asyncio.current_task() is not caller:
            return
        if statement.split(None, 1)[0].upper() in {"BEGIN", "COMMIT", "ROLLBACK"}:
            return
        running.setdefault(id(conn), []).append(" ".join(statement.split()))

    def ended(conn: Connection) -> None:
        statements = running.pop(id(conn), [])
        # Searched in full: a statement may name its table after a CTE.
        if caller is not None or any(MESSAGE_PATH.search(text) for text in statements):
            seen.extend(text[:120] for text in statements)

    engine = context.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    event.listen(engine, "commit", ended)
    event.listen(engine, "rollback", ended)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)
        event.remove(engine, "commit", ended)
        event.remove(engine, "rollback", ended)


def _explain(statements: list[str]) -> str:
    return "\n".join(statements)


async def test_an_answered_api_message_costs_the_pinned_statements(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    client, context = await start_app(settings.replace("email", enabled=False))
    headers = {"Authorization": f"Bearer {await _integration_token(context)}"}
    url = "/api/v1/inbound/messages"

    async def post(message_id: str) -> None:
        body = {"id": message_id, "customer": {"external_id": "c-1"}, "text": QUESTION}
        response = await client.post(url, json=body, headers=headers)
        assert response.status == 202, await response.text()
        await outbox_drained(context, timeout=30)

    await post("first")  # the customer, identity and thread exist from here on
    with written_statements(context) as statements:
        await post("second")
    assert len(statements) == API_STATEMENTS[db_kind], _explain(statements)


async def test_a_new_customers_handed_off_message_costs_the_pinned_statements(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    client, context = await start_app(settings.replace("email", enabled=False))
    headers = {"Authorization": f"Bearer {await _integration_token(context)}"}
    url = "/api/v1/inbound/messages"
    body = {"id": "first", "customer": {"external_id": "c-1"}, "text": "message 1"}
    with written_statements(context) as statements:
        response = await client.post(url, json=body, headers=headers)
        assert response.status == 202, await response.text()
        await outbox_drained(context, timeout=30)
    assert len(statements) == HANDED_OFF_FIRST_STATEMENTS[db_kind], _explain(statements)


async def test_a_queued_customers_follow_up_costs_the_pinned_statements(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    client, context = await start_app(settings.replace("email", enabled=False))
    headers = {"Authorization": f"Bearer {await _integration_token(context)}"}
    url = "/api/v1/inbound/messages"

    async def post(message_id: str) -> None:
        body = {"id": message_id, "customer": {"external_id": "c-1"}, "text": message_id}
        response = await client.post(url, json=body, headers=headers)
        assert response.status == 202, await response.text()
        await outbox_drained(context, timeout=30)

    await post("message 1")  # no confident answer: handed to people at once
    asked = []
    respond = context.responder.respond

    async def counted(ctx: ThreadContext, new: MessageView) -> Decision:
        asked.append(new.text)
        decision: Decision = await respond(ctx, new)
        return decision

    context.responder.respond = counted
    with written_statements(context) as statements:
        await post("message 2")
    assert len(statements) == QUEUED_FOLLOW_UP_STATEMENTS[db_kind], _explain(statements)
    assert asked == []
    # Asking for a person is the bot's to answer (the reminder of their place).
    await post("I want to talk to a person")
    assert asked == ["I want to talk to a person"]


async def _ask(ws: Any, context: AppContext, client_id: str) -> dict[str, Any]:
    """The bot's answer to `QUESTION`, once the outbox sent it."""
    frame = {"type": "message", "client_id": client_id, "text": QUESTION}
    await ws.send_str(json.dumps(frame, ensure_ascii=False))
    # The answer may be pushed before the ack: wait for the answer, whatever comes first.
    answer = await next_reply(ws, wait=30)
    assert answer["author"] == "bot", json.dumps(answer, ensure_ascii=False)
    await outbox_drained(context, timeout=30)
    return answer


async def _answered_visitor(settings: Settings, start_app: AppFactory) -> tuple[Any, AppContext]:
    """A web chat visitor whose first question was answered (the first message also
    reads the visitor's history), and the app."""
    settings = settings.replace("webchat", enabled=True).replace("email", enabled=False)
    client, context = await start_app(settings, responder=build_responder(faq_path=None))
    ws = await connect(client, await new_token(client), lang="fa")
    await _ask(ws, context, "first")
    return ws, context


async def test_an_answered_webchat_message_costs_the_pinned_statements(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    ws, context = await _answered_visitor(settings, start_app)
    with written_statements(context) as statements:
        await _ask(ws, context, "second")
    assert len(statements) == WEBCHAT_STATEMENTS[db_kind], _explain(statements)


@contextmanager
def flushed_objects() -> Iterator[list[str]]:
    """The kinds of the objects every ORM flush wrote while inside (new, changed or
    deleted), in order."""
    seen: list[str] = []

    def record(session: Session, *_: Any) -> None:
        for instance in (*session.new, *session.dirty, *session.deleted):
            seen.append(type(instance).__name__)

    event.listen(Session, "before_flush", record)
    try:
        yield seen
    finally:
        event.remove(Session, "before_flush", record)


async def test_a_new_visitors_answered_first_message_costs_the_pinned_statements(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    settings = settings.replace("webchat", enabled=True).replace("email", enabled=False)
    client, context = await start_app(settings, responder=build_responder(faq_path=None))
    ws = await connect(client, await new_token(client), lang="fa")
    with (
        written_statements(context) as statements,
        flushed_objects() as flushed,
        statements_like(context, HISTORY_READ) as history_reads,
    ):
        await _ask(ws, context, "first")
    assert len(statements) == WEBCHAT_FIRST_STATEMENTS[db_kind], _explain(statements)
    # The new customer, its identity, thread and the thread's first event are written
    # by prebuilt statements, as messages are: the unit of work writes nothing.
    assert flushed == []
    # A customer the message created has nothing stored before it to catch up on (what
    # its commit published reaches the socket): its history is not read.
    assert history_reads == [], _explain(history_reads)


# The web chat's read of a visitor's conversation (`history`: their customer's messages).
HISTORY_READ = re.compile(
    r"\bFROM messages\b.*\bmessages\.customer_id = \(SELECT identities\.customer_id", re.S
)


@contextmanager
def statements_like(context: AppContext, pattern: re.Pattern[str]) -> Iterator[list[str]]:
    """Every statement on `context`'s engine (reads too) that `pattern` finds, while inside."""
    found: list[str] = []

    def record(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if pattern.search(statement):
            found.append(" ".join(statement.split())[:120])

    engine = context.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield found
    finally:
        event.remove(engine, "before_cursor_execute", record)


# A read of messages by id: the web chat's read-back of what was stored (its reader's
# `messages_by_id` and `message`).
READ_BY_ID = re.compile(r"\bFROM messages\b.*\bWHERE messages\.id (IN \(|=)", re.S)


async def test_the_bots_answer_is_pushed_by_its_process_without_reading_it_back(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    ws, context = await _answered_visitor(settings, start_app)
    reads: list[str] = []

    def record(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if READ_BY_ID.search(statement):
            reads.append(" ".join(statement.split())[:120])

    engine = context.engine.sync_engine
    async with context.events.subscription() as events:
        event.listen(engine, "before_cursor_execute", record)
        try:
            answer = await _ask(ws, context, "second")
        finally:
            event.remove(engine, "before_cursor_execute", record)
        stored = [e for e in _drain(events) if isinstance(e, MessageStored)]
    assert reads == [], _explain(reads)
    # What was pushed is what the visitor's reader finds of it, frame for frame.
    reader = DatabaseConversationReader(context.read_sessions)
    (read_back,) = await reader.messages_by_id([int(answer["id"])])
    assert answer == protocol.message_payload(read_back, _no_files)
    (carried,) = [e.shown for e in stored if e.message_id == read_back.id]
    assert carried == read_back


def _drain(queue: asyncio.Queue[Event]) -> list[Event]:
    found = []
    while not queue.empty():
        found.append(queue.get_nowait())
    return found


def _no_files(ref: AttachmentRef) -> str:
    raise AssertionError(f"the answer has no files: {ref}")


async def test_an_answered_email_costs_the_pinned_statements(
    settings: Settings, start_app: AppFactory, relay: FakeRelay, db_kind: str
) -> None:
    _, context = await start_app(with_email(settings, relay))
    adapter = context.adapters["email"]
    assert isinstance(adapter, EmailAdapter)
    sender = "sara@example.ir"

    async def mail(number: int) -> None:
        raw = make_mail(
            sender=sender, body=QUESTION, message_id=f"<statements-{number}@example.ir>"
        )
        await smtp_send(adapter.port, raw, mail_from=sender, to=["support@support.localhost"])
        await relay.wait_for(number, seconds=30)  # the bot's answer went out
        await outbox_drained(context, timeout=30)

    await mail(1)
    with written_statements(context) as statements:
        await mail(2)
    assert len(statements) == EMAIL_STATEMENTS[db_kind], _explain(statements)


async def test_an_idle_offline_sweep_takes_no_write_transaction(
    settings: Settings, start_app: AppFactory
) -> None:
    """The sweep runs every few seconds; with nobody to requeue it must not write (on
    SQLite a write transaction holds the one write lock every ingest waits for)."""
    from router.agents.queue import requeue_from_offline_agents

    _, context = await start_app(settings)
    with written_statements(context, this_task=True) as statements:
        assert await requeue_from_offline_agents(context) == []
    assert statements == []


async def _api_customer(
    settings: Settings, start_app: AppFactory
) -> tuple[Callable[[str], Coroutine[Any, Any, dict[str, Any]]], AppContext]:
    """An app and how customer c-1 sends it an API message: the ingest's answer."""
    client, context = await start_app(settings.replace("email", enabled=False))
    headers = {"Authorization": f"Bearer {await _integration_token(context)}"}

    async def post(message_id: str) -> dict[str, Any]:
        body = {"id": message_id, "customer": {"external_id": "c-1"}, "text": message_id}
        response = await client.post("/api/v1/inbound/messages", json=body, headers=headers)
        assert response.status == 202, await response.text()
        return dict(await response.json())

    return post, context


async def _waiting_for_a_lock(context: AppContext) -> bool:
    """Whether a statement of the ingest (the one that marks the sender seen and reads
    their open thread) waits for a row lock another transaction holds (PostgreSQL)."""
    return await waiting_for_a_lock(context, "%identities%")


async def test_a_known_senders_open_thread_is_read_as_the_ingest_before_committed_it(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    """On PostgreSQL the open thread is read in the statement that marks the sender seen,
    which may wait for another transaction holding the sender's row: the thread is then
    read as that transaction left it (here: resolved, so the message reopens it), not as
    it was when the statement began."""
    if db_kind == "sqlite":
        return  # one writer at a time: nothing holds the sender's row meanwhile
    post, context = await _api_customer(settings, start_app)
    first = await post("message 1")
    async with context.engine.connect() as holder:
        identity_id = (
            await holder.execute(
                text("SELECT identity_id FROM messages WHERE id = :id"),
                {"id": first["message_id"]},
            )
        ).scalar_one()
        await holder.execute(
            text("UPDATE identities SET last_seen_at = now() WHERE id = :id"), {"id": identity_id}
        )
        await holder.execute(
            text(
                "UPDATE threads SET status = 'resolved', resolution = 'solved',"
                " resolved_at = now() WHERE id = :id"
            ),
            {"id": first["thread_id"]},
        )
        second = asyncio.create_task(post("message 2"))

        async def waiting_for_the_sender() -> bool:
            return await _waiting_for_a_lock(context)

        await eventually(waiting_for_the_sender)
        await holder.commit()
    stored = await second
    assert stored["thread_id"] == first["thread_id"]
    async with context.read_sessions() as session:
        status = await session.scalar(
            text("SELECT status FROM threads WHERE id = :id"), {"id": first["thread_id"]}
        )
    assert status != "resolved"  # reopened by the customer's message


async def test_a_transaction_that_key_shares_the_open_thread_does_not_hold_up_a_message(
    settings: Settings, start_app: AppFactory, db_kind: str
) -> None:
    """Every insert of a row that refers to the thread (an agent's reply, an outbox row,
    an event) key-shares it until it commits; the customer's next message does not wait
    for it: the ingest locks the open thread without claiming its key."""
    if db_kind == "sqlite":
        return  # no row locks: one writer at a time
    post, context = await _api_customer(settings, start_app)
    first = await post("message 1")
    async with context.engine.connect() as holder:
        # What a foreign-key check takes on the referenced thread.
        await holder.execute(
            text("SELECT 1 FROM threads WHERE id = :id FOR KEY SHARE"), {"id": first["thread_id"]}
        )
        second = asyncio.create_task(post("message 2"))

        async def stored_or_waiting() -> bool:
            return second.done() or await _waiting_for_a_lock(context)

        await eventually(stored_or_waiting)
        held_up = not second.done()
        await holder.commit()
    assert (await second)["thread_id"] == first["thread_id"]
    assert not held_up, "the message waited for a transaction that only key-shared its thread"
