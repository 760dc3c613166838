"""The ingest path: dedupe, identity → customer, one open thread, routing decisions."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from config.settings import Settings
from router.core.messages import InboundMessage, ProofClaim, ProofKind, ThreadHint, utcnow
from router.core.responder import Answer, HandOff, MessageView, Resolve, ThreadContext
from router.service import sla
from router.storage.models import (
    Customer,
    Identity,
    KnowledgeGapRecord,
    Message,
    OutboxItem,
    Thread,
    ThreadStatus,
)
from tests.agent_support import eventually
from tests.support import FakeAdapter, waiting_for_a_lock


class ScriptedResponder:
    """Answers every message with `Answer("echo: ...")`, or what `next` says."""

    def __init__(self) -> None:
        self.next: list[object] = []
        self.seen: list[tuple[ThreadContext, MessageView]] = []

    async def respond(self, ctx: ThreadContext, new: MessageView) -> object:
        self.seen.append((ctx, new))
        if self.next:
            return self.next.pop(0)
        return Answer(text=f"echo: {new.text}", suggestions=("yes", "no"), language="en")


async def count(context, model, *where) -> int:  # type: ignore[no-untyped-def]
    async with context.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)))


async def test_redelivery_is_stored_once_and_returns_same_ids(
    settings: Settings, start_app
) -> None:
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    first = await adapter.push("سلام، سفارشم کجاست؟", external_id="m-1")
    again = await adapter.push("سلام، سفارشم کجاست؟", external_id="m-1")
    assert not first.duplicate and again.duplicate
    assert (again.message_id, again.thread_id, again.customer_id) == (
        first.message_id,
        first.thread_id,
        first.customer_id,
    )
    assert await count(context, Message, Message.direction == "in") == 1
    # the responder ran once: one answer queued, not two
    assert await count(context, OutboxItem) == 1


async def test_fifty_concurrent_ingests_from_new_customer(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    results = await asyncio.gather(
        *(
            adapter.push(f"message {i}", sender="new-customer", external_id=f"c-{i}")
            for i in range(50)
        )
    )
    assert len({r.customer_id for r in results}) == 1
    assert len({r.thread_id for r in results}) == 1
    assert await count(context, Customer) == 1
    assert await count(context, Identity) == 1
    assert await count(context, Thread, Thread.status != ThreadStatus.RESOLVED) == 1
    assert await count(context, Message, Message.direction == "in") == 50


async def test_a_sender_taken_for_unknown_but_stored_is_found_not_doubled(
    settings: Settings, start_app
) -> None:
    """`sender_unknown` is a channel's guess: messages of a sender stored already (or
    stored by a concurrent message meanwhile) join that sender's customer and thread,
    and a redelivery is still found."""
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    results = await asyncio.gather(
        *(
            adapter.push(
                f"message {i}", sender="visitor", external_id=f"v-{i}", sender_unknown=True
            )
            for i in range(20)
        )
    )
    again = await adapter.push(
        "message 0", sender="visitor", external_id="v-0", sender_unknown=True
    )
    assert again.duplicate and again.message_id == results[0].message_id
    assert len({r.customer_id for r in results}) == 1
    assert len({r.thread_id for r in results}) == 1
    assert sum(r.new_customer for r in results) == 1
    assert await count(context, Customer) == 1
    assert await count(context, Identity) == 1
    assert await count(context, Message, Message.direction == "in") == 20


async def test_a_new_thread_starts_at_its_channels_priority(settings: Settings, start_app) -> None:
    """Written with it when the thread is created (nothing else to read): for a new
    customer, and for a known one when no rule looks at customers' tags."""
    adapter = FakeAdapter()
    settings = settings.replace("threads", reopen_window_minutes=0)
    settings = settings.replace("service", channel_priorities={"fake": "high"})
    _, context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    first = await adapter.push("hello", sender="alice")
    async with context.sessions() as session, session.begin():
        thread = await session.get_one(Thread, first.thread_id)
        thread.status, thread.resolution = ThreadStatus.RESOLVED, "done"
        thread.resolved_at = utcnow() - timedelta(minutes=5)
    second = await adapter.push("hello again", sender="alice")
    assert second.thread_id != first.thread_id
    async with context.sessions() as session:
        priorities = await session.scalars(select(Thread.priority).order_by(Thread.id))
        assert list(priorities) == [sla.priority_rank("high")] * 2


async def test_concurrent_messages_from_two_identities_of_a_customer_open_one_thread(
    settings: Settings, start_app
) -> None:
    """Each sender's row is held by its ingest, so one identity's messages queue behind
    each other; two identities of one customer do not, and both find no open thread. The
    database's unique index lets one create it; the other runs again and joins it."""
    adapter = FakeAdapter()
    settings = settings.replace("threads", reopen_window_minutes=0)  # a new thread each time
    _, context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    first = await adapter.push("hello", sender="alice")
    async with context.sessions() as session, session.begin():
        session.add(Identity(customer_id=first.customer_id, channel="fake", address="alice-2"))
        thread = await session.get_one(Thread, first.thread_id)
        thread.status, thread.resolution = ThreadStatus.RESOLVED, "done"
        thread.resolved_at = utcnow() - timedelta(minutes=5)
    results = await asyncio.gather(
        *(adapter.push(f"again {i}", sender=("alice", "alice-2")[i % 2]) for i in range(20))
    )
    assert {r.customer_id for r in results} == {first.customer_id}
    (thread_id,) = {r.thread_id for r in results}
    assert thread_id != first.thread_id
    assert await count(context, Thread, Thread.status != ThreadStatus.RESOLVED) == 1
    assert (
        await count(context, Message, Message.thread_id == thread_id, Message.direction == "in")
        == 20
    )


async def test_twenty_concurrent_messages_to_one_thread_each_see_all_before_them(
    settings: Settings, start_app
) -> None:
    """The open thread is locked by the statement that finds the sender, before the one
    that stores the message, writes the thread and reads the bot's context (one
    statement on PostgreSQL, whose reads see the database as that statement began): so
    each message sees every message stored before it, and the thread ends with the
    last one's bookkeeping."""
    settings = settings.replace("threads", history_limit=100)
    adapter = FakeAdapter()
    responder = ScriptedResponder()
    _, context = await start_app(settings, adapters=[adapter], responder=responder)
    first = await adapter.push("hello", sender="alice")
    async with context.sessions() as session, session.begin():
        session.add(Identity(customer_id=first.customer_id, channel="fake", address="alice-2"))
    results = await asyncio.gather(
        *(adapter.push(f"again {i}", sender=("alice", "alice-2")[i % 2]) for i in range(20))
    )
    assert {r.thread_id for r in results} == {first.thread_id}
    assert len(responder.seen) == 21  # the bot answered each message once
    assert len({new.id for _, new in responder.seen}) == 21
    async with context.sessions() as session:
        rows = (
            await session.execute(
                select(Message.id, Message.direction, Message.identity_id, Message.created_at)
                .where(Message.thread_id == first.thread_id)
                .order_by(Message.id)
            )
        ).all()
        thread = await session.get_one(Thread, first.thread_id)
    inbound = [row for row in rows if row.direction == "in"]
    assert len(inbound) == 21 and len(rows) == 42
    for ctx, new in responder.seen:
        # Everything stored before this message, the bot's answers too, in order.
        assert [m.id for m in ctx.recent] == [row.id for row in rows if row.id < new.id]
    assert thread.last_identity_id == inbound[-1].identity_id
    assert thread.last_customer_message_at is not None
    assert thread.last_customer_message_at >= max(row.created_at for row in inbound)


async def test_database_refuses_second_open_thread(settings: Settings, start_app) -> None:
    from sqlalchemy.exc import IntegrityError

    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    result = await adapter.push("hi")
    async with context.sessions() as session:
        session.add(Thread(customer_id=result.customer_id, status=ThreadStatus.QUEUED))
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
        else:
            raise AssertionError("a second open thread was accepted")


async def test_answer_goes_to_outbox_on_senders_channel(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    responder = ScriptedResponder()
    _, _context = await start_app(settings, adapters=[adapter], responder=responder)
    await adapter.push("where is my order", sender="bob")
    sent = await adapter.wait_sent(1)
    assert sent[0].text == "echo: where is my order"
    assert sent[0].address == "bob" and sent[0].channel == "fake"
    assert sent[0].suggestions == ("yes", "no")
    ctx, new = responder.seen[0]
    assert ctx.is_new_thread and ctx.status == ThreadStatus.BOT and new.text == "where is my order"


async def test_the_bot_sees_the_threads_newest_messages_before_this_one(
    settings: Settings, start_app
) -> None:
    # On PostgreSQL they are read by the statement that stores the message, as the
    # thread was before it; elsewhere after it, and the message left out.
    settings = settings.replace("threads", history_limit=3)
    adapter = FakeAdapter()
    responder = ScriptedResponder()
    _, _context = await start_app(settings, adapters=[adapter], responder=responder)
    for text in ("one", "two", "three"):
        await adapter.push(text)
    ctx, new = responder.seen[-1]
    assert new.text == "three" and not ctx.is_new_thread
    assert [m.text for m in ctx.recent] == ["echo: one", "two", "echo: two"]
    assert [m.author for m in ctx.recent] == ["bot", "customer", "bot"]
    assert new.id > max(m.id for m in ctx.recent)


async def test_a_queued_customer_asking_again_is_told_their_place(
    settings: Settings, start_app
) -> None:
    adapter = FakeAdapter()
    responder = ScriptedResponder()
    responder.answers_queued_threads = True  # type: ignore[attr-defined]
    responder.next = [HandOff(reason="unsure", tier=1), HandOff(reason="unsure", tier=1)]
    _, _context = await start_app(settings, adapters=[adapter], responder=responder)
    await adapter.push("help", sender="first")
    await adapter.push("help", sender="second")
    await adapter.push("still there?", sender="second")
    ctx, new = responder.seen[-1]
    assert new.text == "still there?" and ctx.status == ThreadStatus.QUEUED
    assert ctx.staffing is not None and ctx.staffing.queue_position == 2
    assert [m.text for m in ctx.recent] == ["help"]


async def test_handoff_queues_thread_and_bot_stays_quiet_after(
    settings: Settings, start_app
) -> None:
    adapter = FakeAdapter()
    responder = ScriptedResponder()
    responder.next = [HandOff(reason="unsure", tier=1, text="I'll get a person")]
    _, context = await start_app(settings, adapters=[adapter], responder=responder)
    first = await adapter.push("something odd")
    await adapter.push("hello? anyone?")
    async with context.sessions() as session:
        thread = await session.get_one(Thread, first.thread_id)
    assert thread.status == ThreadStatus.QUEUED and thread.tier == 1
    assert thread.queued_at is not None
    assert len(responder.seen) == 1  # a queued thread is for people, not the bot
    assert [m.text for m in await adapter.wait_sent(1)] == ["I'll get a person"]


async def test_knowledge_gap_recorded(settings: Settings, start_app) -> None:
    from router.core.responder import KnowledgeGap

    adapter = FakeAdapter()
    responder = ScriptedResponder()
    responder.next = [HandOff(reason="unsure", gap=KnowledgeGap("odd q", "en", "faq-1", 0.31))]
    _, context = await start_app(settings, adapters=[adapter], responder=responder)
    await adapter.push("odd q")
    async with context.sessions() as session:
        gap = await session.scalar(select(KnowledgeGapRecord))
    assert gap is not None and gap.best_candidate == "faq-1" and abs(gap.score - 0.31) < 1e-9


async def test_resolved_thread_reopens_within_window_else_new_linked(
    settings: Settings, start_app
) -> None:
    adapter = FakeAdapter()
    responder = ScriptedResponder()
    responder.next = [Resolve(resolution="bot_deflected", text="glad to help")]
    _, context = await start_app(
        settings.replace("threads", reopen_window_minutes=60),
        adapters=[adapter],
        responder=responder,
    )
    first = await adapter.push("yes")
    second = await adapter.push("one more question")
    assert second.thread_id == first.thread_id  # reopened

    async with context.sessions() as session, session.begin():
        thread = await session.get_one(Thread, first.thread_id)
        thread.status = ThreadStatus.RESOLVED
        thread.resolved_at = utcnow() - timedelta(hours=2)
    third = await adapter.push("back after a while")
    assert third.thread_id != first.thread_id
    async with context.sessions() as session:
        new_thread = await session.get_one(Thread, third.thread_id)
    assert new_thread.previous_thread_id == first.thread_id


async def test_automated_message_stored_never_answered(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    responder = ScriptedResponder()
    _, context = await start_app(settings, adapters=[adapter], responder=responder)
    await adapter.push("I am out of office", automated=True)
    assert responder.seen == []
    assert await count(context, OutboxItem) == 0
    assert await count(context, Message) == 1


async def test_hint_to_other_customers_thread_is_not_followed(
    settings: Settings, start_app
) -> None:
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    victim = await adapter.push("my private order", sender="victim")
    stranger = await adapter.push(
        "let me in", sender="stranger", hint=ThreadHint(thread_id=victim.thread_id)
    )
    assert stranger.thread_id != victim.thread_id
    assert stranger.customer_id != victim.customer_id
    async with context.sessions() as session:
        texts = list(
            await session.scalars(select(Message.text).where(Message.thread_id == victim.thread_id))
        )
    assert "let me in" not in texts


async def test_hint_joins_own_earlier_thread_by_reference(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    _, _context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    first = await adapter.push("order 1", sender="carol", external_id="<a@mail>")
    reply = await adapter.push(
        "re: order 1", sender="carol", hint=ThreadHint(references=("<a@mail>",))
    )
    assert reply.thread_id == first.thread_id


def test_inbound_message_is_frozen() -> None:
    import dataclasses

    msg = InboundMessage(channel="x", external_id="1", sender_address="a", text="t")
    try:
        msg.text = "changed"  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        return
    raise AssertionError("InboundMessage must be immutable")


async def test_events_published_after_commit(settings: Settings, start_app) -> None:
    from router.core.events import MessageStored, ThreadChanged

    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    seen: list[object] = []
    async with context.events.subscription() as queue:
        result = await adapter.push("hello")
        # A grouped write publishes once its caller has its result (the loop's next turn).
        async with asyncio.timeout(10):
            while sum(isinstance(e, MessageStored) for e in seen) < 2 or not any(
                isinstance(e, ThreadChanged) for e in seen
            ):
                event = await queue.get()
                seen.append(event)
                if isinstance(event, MessageStored):
                    # published after commit: a fresh session can read it
                    async with context.sessions() as session:
                        assert await session.get(Message, event.message_id) is not None
    stored = [e for e in seen if isinstance(e, MessageStored)]
    assert [e.author for e in stored] == ["customer", "bot"]
    assert stored[0].message_id == result.message_id
    assert any(isinstance(e, ThreadChanged) and e.thread_id == result.thread_id for e in seen)


async def test_sender_username_and_name_kept_on_identity(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    await adapter.push("salam", sender="42", sender_name="Sara", sender_username="sara_k")
    await adapter.push("again", sender="42", sender_name="Sara K.", sender_username="sara_k2")
    async with context.sessions() as session:
        identity = await session.scalar(select(Identity).where(Identity.address == "42"))
    assert identity is not None
    assert (identity.display_name, identity.username) == ("Sara K.", "sara_k2")


async def test_text_no_column_can_store_is_cleaned_not_refused_forever(
    settings: Settings, start_app
) -> None:
    """A NUL (PostgreSQL refuses it in text) or a lone surrogate (no database can encode
    it) from a channel that cannot be told "no" (a mail body, a Telegram update) must
    not fail the transaction on every redelivery: it is stored without them."""
    adapter = FakeAdapter()
    responder = ScriptedResponder()
    _, context = await start_app(settings, adapters=[adapter], responder=responder)
    result = await adapter.push(
        "سلام\x00 order \ud800 ۱۲",
        external_id="nul-1",
        sender_name="Ali\x00",
        subject="re\udfff",
        full_text="quoted\x00",
    )
    again = await adapter.push("سلام\x00 order \ud800 ۱۲", external_id="nul-1")
    assert again.duplicate and again.message_id == result.message_id
    async with context.sessions() as session:
        row = await session.get(Message, result.message_id)
        identity = await session.scalar(select(Identity).where(Identity.address == "alice"))
    assert row is not None and row.text == "سلام order \ufffd ۱۲"
    assert identity is not None and identity.display_name == "Ali"
    assert responder.seen[0][1].text == "سلام order \ufffd ۱۲"


async def test_redelivery_is_found_whatever_the_ids_of_its_rows(
    settings: Settings, start_app
) -> None:
    # Several senders, so the redelivered message's id differs from its sender's.
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    for n in range(3):
        await adapter.push(f"hello {n}", sender="first", external_id=f"f-{n}")
    first = await adapter.push("from the second", sender="second", external_id="s-1")
    again = await adapter.push("from the second", sender="second", external_id="s-1")
    assert again.duplicate and again.message_id == first.message_id
    assert await count(context, Message, Message.direction == "in") == 4


async def test_a_transaction_run_again_counts_its_bot_decision_once(
    settings: Settings, start_app
) -> None:
    """A race makes the ingest run again; the decision is counted for what committed."""
    from sqlalchemy import event
    from sqlalchemy.exc import IntegrityError

    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    raced: list[bool] = []

    def race_once(_conn: object, _cursor: object, statement: str, parameters: Any, *_: Any) -> None:
        # The bot's reply being written, however it is written (ORM or Core).
        bot_reply = "INSERT INTO messages" in statement and "bot" in parameters
        if bot_reply and not raced:
            raced.append(True)
            raise IntegrityError("INSERT", {}, Exception("a concurrent writer got there first"))

    engine = context.engine.sync_engine
    event.listen(engine, "before_cursor_execute", race_once)
    try:
        result = await adapter.push("hello")
    finally:
        event.remove(engine, "before_cursor_execute", race_once)
    assert raced == [True]
    assert await count(context, Message, Message.thread_id == result.thread_id) == 2
    counted = context.metrics.registry.get_sample_value(
        "pasokh_bot_decisions_total", {"decision": "answer"}
    )
    assert counted == 1.0


async def test_a_message_with_a_proof_sees_what_another_identity_was_storing_meanwhile(
    settings: Settings, start_app, db_kind: str
) -> None:
    """A message carrying a proof reads its customer's open thread after the proof ran
    (it may have joined customers), in a statement of its own: locked there, as the
    first statement locks it for a message without one. Here the first statement found
    no open thread (it waited for the sender's row while the thread was reopened), and
    when the proof's message reads it, another identity's message is being stored in
    it: the proof's message waits for that one, and the bot sees it."""
    if db_kind == "sqlite":
        return  # one writer at a time: nothing is being stored meanwhile
    from sqlalchemy import text

    adapter = FakeAdapter()
    responder = ScriptedResponder()
    _, context = await start_app(settings, adapters=[adapter], responder=responder)
    first = await adapter.push("hello", sender="alice")
    async with context.sessions() as session, session.begin():
        other = Identity(customer_id=first.customer_id, channel="fake", address="alice-2")
        session.add(other)
        await session.flush()
        other_id = other.id
        await session.execute(
            text(
                "UPDATE threads SET status = 'resolved', resolution = 'solved',"
                " resolved_at = now() WHERE id = :id"
            ),
            {"id": first.thread_id},
        )
    first_statement = "WITH seen AS%"  # the ingest's: it marks the sender seen

    async with (
        context.sessions() as sender_row,
        sender_row.begin(),
        context.sessions() as meanwhile,
        meanwhile.begin(),
    ):
        # The sender's row held: the ingest's first statement waits for it, its snapshot
        # taken before the thread is reopened.
        await sender_row.execute(
            text("UPDATE identities SET last_seen_at = now() WHERE address = 'alice'")
        )
        proven = asyncio.create_task(
            adapter.push(
                "a reply to your mail",
                proof=ProofClaim(ProofKind.MAIL_REPLY, thread_id=first.thread_id),
            )
        )
        await eventually(lambda: waiting_for_a_lock(context, first_statement))
        async with context.sessions() as session, session.begin():
            await session.execute(
                text(
                    "UPDATE threads SET status = 'bot', resolution = NULL, resolved_at = NULL"
                    " WHERE id = :id"
                ),
                {"id": first.thread_id},
            )
        # What an ingest from alice-2 does to the open thread, not committed yet.
        await meanwhile.execute(
            text("UPDATE threads SET updated_at = now() WHERE id = :id"), {"id": first.thread_id}
        )
        meanwhile.add(
            Message(
                thread_id=first.thread_id,
                customer_id=first.customer_id,
                direction="in",
                author_kind="customer",
                channel="fake",
                identity_id=other_id,
                text="from alice-2, meanwhile",
            )
        )
        await meanwhile.flush()
        await sender_row.commit()
        # Waits for the thread now, wherever it reads it.
        await eventually(lambda: waiting_for_a_lock(context, unlike=first_statement))
        await meanwhile.commit()
    stored = await proven
    assert stored.thread_id == first.thread_id
    ctx, new = responder.seen[-1]
    assert new.text == "a reply to your mail"
    assert "from alice-2, meanwhile" in [m.text for m in ctx.recent]


async def test_a_new_customers_race_leaves_the_loser_nothing_to_undo(
    settings: Settings, start_app, db_kind: str
) -> None:
    """Two first messages of one new sender at once on PostgreSQL: the one that finds
    the identity written meanwhile writes no customer of its own (its customer is
    written by the identity's statement, only with the identity), so it has no orphan
    to delete, and the message joins the winner's customer and thread."""
    if db_kind == "sqlite":
        return  # one writer at a time: the second message finds the identity stored

    from tests.test_ingest_statements import statements_like

    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    async with context.sessions() as winner, winner.begin():
        customer = Customer(name="new")
        winner.add(customer)
        await winner.flush()
        winner.add(Identity(customer_id=customer.id, channel="fake", address="newbie"))
        await winner.flush()
        with statements_like(
            context, re.compile(r"\b(INSERT INTO|DELETE FROM) customers\b")
        ) as written:
            loser = asyncio.create_task(adapter.push("hello", sender="newbie"))
            await eventually(lambda: waiting_for_a_lock(context, "%INSERT INTO identities%"))
            await winner.commit()
            stored = await loser
    assert stored.customer_id == customer.id and not stored.new_customer
    assert await count(context, Customer) == 1
    assert not [statement for statement in written if statement.startswith("DELETE")], written


async def test_a_thread_reopened_meanwhile_is_joined_not_reopened_again(
    settings: Settings, start_app, db_kind: str
) -> None:
    """Two identities of one customer write at once after the thread was resolved: one
    reopens it and hands it to the tier-2 queue, not committed yet, while the other's
    message reads the thread still resolved. That message waits for the thread's row
    and joins it as the first left it, instead of reopening it from the older state
    (which would write the status the thread had at tier 0, "bot", over "queued")."""
    if db_kind == "sqlite":
        return  # one writer at a time: the second message finds the thread open
    from sqlalchemy import text

    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=ScriptedResponder())
    first = await adapter.push("hello", sender="alice")
    async with context.sessions() as session, session.begin():
        session.add(Identity(customer_id=first.customer_id, channel="fake", address="alice-2"))
        await session.execute(
            text(
                "UPDATE threads SET status = 'resolved', resolution = 'solved',"
                " resolved_at = now() WHERE id = :id"
            ),
            {"id": first.thread_id},
        )
    async with context.sessions() as meanwhile, meanwhile.begin():
        # What alice-2's message did to the thread: reopened, handed off at tier 2.
        await meanwhile.execute(
            text(
                "UPDATE threads SET status = 'queued', tier = 2, queued_at = now(),"
                " resolution = NULL, resolved_at = NULL WHERE id = :id"
            ),
            {"id": first.thread_id},
        )
        second = asyncio.create_task(adapter.push("are you there?", sender="alice"))
        await eventually(lambda: waiting_for_a_lock(context, "%threads%"))
        await meanwhile.commit()
    stored = await second
    assert stored.thread_id == first.thread_id
    async with context.sessions() as session:
        thread = await session.get(Thread, first.thread_id)
        assert thread is not None
        assert (thread.status, thread.tier) == ("queued", 2)
