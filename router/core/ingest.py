"""`ingest`: the one path from "a channel received a message" to "committed".

One transaction, one pipeline (`_ingest_once`): dedupe → identity (the sender's, and
the proofs the message carries) → thread → store → decide (one call to the responder:
the identity dialogue around the bot) → outbound. Adapters acknowledge only after
`ingest` returns. Races between concurrent ingests (a new customer writing twice at
once) end in a unique-index violation for the loser, which simply runs the transaction
again and finds the winner's rows.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from operator import attrgetter
from typing import Any

from sqlalchemy import BigInteger, bindparam, literal, literal_column, select, true, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from router.agents.staffing import staffing_of, staffing_read
from router.context import AppContext
from router.core.conversation import shown_to_customer
from router.core.events import Event, MessageStored, ThreadChanged
from router.core.messages import (
    AuthorKind,
    Direction,
    InboundMessage,
    IngestFailed,
    IngestResult,
    utcnow,
)
from router.core.outbound_messages import attachments_to_json, enqueue_outbound
from router.core.responder import (
    Answer,
    Decision,
    HandOff,
    MessageView,
    ProofStep,
    Resolve,
    Silent,
    SystemReply,
    ThreadContext,
    helped_answer,
)
from router.core.storable_text import BIDI_CONTROLS, fit, fit_key, plain_name, storable
from router.core.threads import (
    OpenThreadRead,
    ThreadChoice,
    choose_thread,
    customer_wrote,
    hand_off,
    open_thread_of_customer,
    resolve,
)
from router.core.transaction import Effects, Work, is_data_error, is_race, write
from router.identity.identities import new_identity, stored_identity
from router.identity.proofs import (
    InboundProof,
    apply_inbound_proofs,
    mask_codes,
    may_ask_for_email,
)
from router.outreach.consent import count_opt_out, opt_out_answer
from router.service import sla_threads
from router.service.reports.events import record_ingest
from router.storage import direct
from router.storage.column_sizes import LANGUAGE_COLUMNS, SENDER_NAME_COLUMNS, column_limit
from router.storage.core_rows import (
    as_written,
    changed_columns,
    columns_of,
    flush_pending,
    inserted_with_reads,
    loaded,
    selected_together,
    transaction_connection,
    updated,
)
from router.storage.engine import is_database_unavailable
from router.storage.models import (
    AuditEvent,
    Customer,
    Identity,
    KnowledgeGapRecord,
    Message,
    OutboxItem,
    OutboxStatus,
    Thread,
    ThreadStatus,
)

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


# How long each bounded inbound field may be: the smallest of the columns it is written
# to, so a long From name or Subject is stored (shortened) on PostgreSQL as on SQLite.
# Read once: asking a column for its type costs more than the rest of the check.
_NAME_LIMITS: dict[str, int] = {
    "sender_name": column_limit(*SENDER_NAME_COLUMNS),
    "sender_username": column_limit(Identity.username),
    "subject": column_limit(Message.subject, Thread.subject),
}
# Lookup keys: shortened with a hash of the whole value, so they stay distinct.
_KEY_LIMITS: dict[str, int] = {
    "external_id": column_limit(Message.external_id),
    "edit_of": column_limit(Message.external_id),
    "sender_address": column_limit(Identity.address),
}
_LANGUAGE_LIMIT = column_limit(*LANGUAGE_COLUMNS)
_TEXT_FIELDS = ("text", "full_text")
# What the reduced forms leave out (see `_reduced`).
_DESCRIPTIVE_FIELDS = (
    "sender_name",
    "subject",
    "full_text",
    "sender_username",
    "language",
    "edit_of",
    "hint",
    "proof",
)
UNSTORED_TEXT = "[Pasokh: the database refused this message's text; see the server log]"


def _storable(msg: InboundMessage) -> tuple[InboundMessage, set[str]]:
    """`msg` as every database stores it, and why it changed (empty: it did not).

    NUL dropped and lone surrogates shown as U+FFFD everywhere; bidi controls removed
    from names (sender and file names, subject); bounded fields cut to their columns.
    """
    changes: dict[str, Any] = {}
    why: dict[str, set[str]] = {}

    def note(name: str, before: str, after: str, limit: int | None = None) -> None:
        if after == before:
            return
        changes[name] = after
        reasons = why.setdefault(name, set())
        if storable(before) != before:
            reasons.add("unstorable")
        if BIDI_CONTROLS.search(storable(before)) and not BIDI_CONTROLS.search(after):
            reasons.add("bidi_control")
        if limit is not None and len(after) == limit and len(before) > limit:
            reasons.add("too_long")

    for name in _TEXT_FIELDS:
        value = getattr(msg, name)
        if value is not None:
            note(name, value, storable(value))
    for name, limit in _NAME_LIMITS.items():
        value = getattr(msg, name)
        if value is not None:
            note(name, value, fit(plain_name(value), limit), limit)
    for name, limit in _KEY_LIMITS.items():
        value = getattr(msg, name)
        if value is not None:
            note(name, value, fit_key(storable(value), limit), limit)
    if msg.language is not None:
        language = storable(msg.language)
        if len(language) > _LANGUAGE_LIMIT:
            language = ""
            why.setdefault("language", set()).add("too_long")
        if language != msg.language:
            changes["language"] = language or None
    files = tuple(
        dataclasses.replace(ref, filename=plain_name(ref.filename)) for ref in msg.attachments
    )
    if files != msg.attachments:
        changes["attachments"] = files
        why.setdefault("attachments", set()).add("file_name")
    if msg.hint is not None:
        hint = dataclasses.replace(
            msg.hint,
            reply_token=storable(msg.hint.reply_token) if msg.hint.reply_token else None,
            references=tuple(storable(r) for r in msg.hint.references),
        )
        if hint != msg.hint:
            changes["hint"] = hint
            why.setdefault("hint", set()).add("unstorable")
    failure = msg.delivery_failure
    if failure is not None:
        cleaned = dataclasses.replace(
            failure,
            addresses=tuple(storable(a) for a in failure.addresses),
            external_id=storable(failure.external_id) if failure.external_id else None,
            reason=plain_name(failure.reason) if failure.reason else failure.reason,
        )
        if cleaned != failure:
            changes["delivery_failure"] = cleaned
            why.setdefault("delivery_failure", set()).add("unstorable")
    if not changes:
        return msg, set()
    logger.warning(
        "ingest channel=%s external_id=%s: made storable: %s",
        msg.channel,
        changes.get("external_id", msg.external_id),
        ", ".join(f"{name} ({'/'.join(sorted(r))})" for name, r in sorted(why.items())),
    )
    return dataclasses.replace(msg, **changes), set().union(*why.values())


def _reduced(msg: InboundMessage) -> InboundMessage | None:
    """A smaller form of `msg` to store when the database refused it as it was (a data
    error no rule above foresaw), or None when it is already as small as it gets.

    First without its descriptive fields (names, subject, quoted history, language),
    then with a placeholder for its text too. Attachments stay: for a mail they hold
    the raw message, so nothing is lost for good.
    """
    if any(getattr(msg, name) is not None for name in _DESCRIPTIVE_FIELDS):
        return dataclasses.replace(
            msg,
            sender_name=None,
            subject=None,
            full_text=None,
            sender_username=None,
            language=None,
            edit_of=None,
            hint=None,
            proof=None,
        )
    if msg.text != UNSTORED_TEXT:
        return dataclasses.replace(msg, text=UNSTORED_TEXT)
    return None


@dataclass
class _Outcome:
    result: IngestResult
    events: list[Event] = field(default_factory=list)
    outbound: int = 0
    decision: str = "none"
    bot_decision: str | None = None  # counted once the transaction commits
    delivery_report: str | None = None  # "verified" / "unverified": a bounce was judged
    opted_out: bool = False  # the message opted its customer out of outreach just now


async def ingest(app: AppContext, msg: InboundMessage) -> IngestResult:
    """Store `msg` and act on it in one transaction; return the committed ids.

    A redelivery (same channel and external id) returns the first delivery's ids
    with `duplicate=True` and stores nothing.

    Raises:
        IngestFailed: the database kept refusing; nothing was committed.
    """
    started = time.perf_counter()
    msg, altered = _storable(msg)
    for reason in sorted(altered):
        app.metrics.inbound_altered.labels(msg.channel, reason).inc()
    while True:
        try:
            outcome = await write(
                app, _storing(app, msg), attempts=MAX_ATTEMPTS, retry_duplicates=True, grouped=True
            )
            break
        except Exception as exc:
            if is_database_unavailable(exc):
                # Down, frozen, locked or full: retrying at once only holds the channel
                # longer; its temporary answer (503, 451, server_error) makes it retry.
                app.metrics.database_unavailable.labels("ingest").inc()
                app.metrics.ingest_errors.labels(msg.channel).inc()
                raise IngestFailed(
                    f"could not store {msg.channel} message: database unavailable: {exc}"
                ) from exc
            if isinstance(exc, DBAPIError) and is_data_error(exc):
                # A data error is the same on every retry: a 451 / redelivery loop for
                # ever. Store a reduced form instead; the sender is answered as usual.
                reduced = _reduced(msg)
                if reduced is None:
                    raise
                logger.error(
                    "ingest channel=%s external_id=%s: the database refused the message"
                    " (%s); storing it reduced",
                    msg.channel,
                    msg.external_id,
                    str(exc.orig).splitlines()[0] if exc.orig else exc,
                )
                app.metrics.inbound_altered.labels(msg.channel, "data_error").inc()
                msg = reduced
                continue
            if not is_race(exc, duplicates=True):
                raise
            # Still racing after every attempt: concurrent ingests creating the same
            # identity, thread or message, or SQLite busy / PostgreSQL serialisation.
            app.metrics.ingest_errors.labels(msg.channel).inc()
            raise IngestFailed(f"could not store {msg.channel} message: {exc}") from exc
    elapsed = time.perf_counter() - started
    result = outcome.result
    if result.duplicate:
        app.metrics.messages_duplicate.labels(msg.channel).inc()
    else:
        app.metrics.messages_ingested.labels(msg.channel).inc()
        app.metrics.ingest_latency.labels(msg.channel).observe(elapsed)
    if outcome.bot_decision is not None:
        app.metrics.bot_decisions.labels(outcome.bot_decision).inc()
    if outcome.delivery_report is not None:
        app.metrics.delivery_reports.labels(msg.channel, outcome.delivery_report).inc()
    if outcome.opted_out:
        count_opt_out(app, result.customer_id, msg.channel)
    logger.info(
        "ingest channel=%s external_id=%s message=%d thread=%d customer=%d duplicate=%s "
        "decision=%s outbound=%d ms=%.1f",
        msg.channel,
        msg.external_id,
        result.message_id,
        result.thread_id,
        result.customer_id,
        result.duplicate,
        outcome.decision,
        outcome.outbound,
        elapsed * 1000,
    )
    return result


def _storing(app: AppContext, msg: InboundMessage) -> Work[_Outcome]:
    """The transaction's work for `msg`: store it and act on it, then hand its events
    and whether it queued deliveries to `write`, to make known after commit."""

    async def work(session: AsyncSession, effects: Effects) -> _Outcome:
        outcome = await _ingest_once(app, session, msg)
        effects.events.extend(outcome.events)
        effects.outbound = outcome.outbound > 0
        return outcome

    return work


async def _ingest_once(app: AppContext, session: AsyncSession, msg: InboundMessage) -> _Outcome:
    """The pipeline, each step once: dedupe → identity → thread → store → decide →
    outbound."""
    # A sender the channel did not know is most likely new: the statement that marks a
    # known sender seen would find nobody, so their identity is written first.
    fresh = await _new_identity(session, msg) if msg.sender_unknown else None
    sender = None if fresh is not None else await _known_sender(session, msg)
    duplicate = await _dedupe(session, sender)
    if duplicate is not None:
        return duplicate
    turn = await _identify(app, session, msg, sender, fresh)
    await _thread(app, session, turn)
    await _store(app, session, turn)
    decision = await _decide(app, session, turn)
    await _outbound(app, session, turn, decision)
    # The thread's bookkeeping, gathered over the steps: one UPDATE, not a flush.
    assert turn.choice is not None
    if turn.choice.created and changed_columns(turn.thread) == {"updated_at"}:
        # A thread this transaction wrote keeps the stamp it was written with: a later
        # one of the same transaction (the bot's answer, milliseconds on) commits with
        # it, and an UPDATE for the stamp alone cost a statement for every new thread.
        as_written(session, turn.thread)
    await updated(session, turn.thread)
    return turn.stored[1]


@dataclass
class _Turn:
    """One message on its way through the pipeline: what each step found so far."""

    msg: InboundMessage
    identity: Identity
    proof: InboundProof
    sender: _KnownSender | None
    # A customer's id and name as this transaction read or wrote them (the bot's context
    # names the customer), and whether it created that customer (so it has no threads).
    customer_named: tuple[int, str | None] | None = None
    customer_is_new: bool = False
    choice: ThreadChoice | None = None
    status_before: tuple[str, int, int | None] | None = None
    message: Message | None = None
    edit_of_id: int | None = None
    outcome: _Outcome | None = None  # set once stored
    # The bot's context, when read by the statement that stored the message.
    context_rows: _ContextRows | None = None
    # `_queued_silence` once asked: its answer in a 1-tuple.
    queued_silence: tuple[Decision | None] | None = None

    @property
    def thread(self) -> Thread:
        assert self.choice is not None, "the thread step has not run"
        return self.choice.thread

    @property
    def stored(self) -> tuple[Message, _Outcome]:
        assert self.message is not None and self.outcome is not None, "not stored yet"
        return self.message, self.outcome


@dataclass(frozen=True, slots=True)
class _KnownSender:
    identity: Identity  # seen now, its row held until commit
    first_delivery_id: int | None  # the message's id when it was stored before
    customer_id: int  # their customer, as the statement found it, and its name
    customer_name: str | None
    # That customer's open thread, when the statement read it too (PostgreSQL).
    open_thread: OpenThreadRead | None = None


def _sender_seen_statement() -> Any:
    """The sender's identity marked seen, with the first delivery of the message's id
    from them (a redelivery) and their customer's name."""
    # Keyed by the sender too: the sender chooses the id (an email Message-ID), so
    # another sender reusing it must not get their message dropped as "already stored".
    # Named in full: SQLite's RETURNING is rendered with bare column names, and a bare
    # `id` inside the subquery would be the message's own.
    identity_id = literal_column(f"{Identity.__tablename__}.{Identity.id.key}", BigInteger)
    customer_id = literal_column(f"{Identity.__tablename__}.{Identity.customer_id.key}", BigInteger)
    # The bot's context names the customer: read here rather than in a statement of its own.
    customer_name = select(Customer.name).where(Customer.id == customer_id).scalar_subquery()
    first_delivery = (
        select(Message.id)
        .where(
            Message.identity_id == identity_id,
            Message.channel == bindparam("sender_channel"),
            Message.external_id == bindparam("message_id"),
            # Written into the SQL, not bound: the unique index this look-up uses holds
            # only inbound rows, and SQLite's planner proves that from a bound value by
            # preparing the statement again at every run (~0.1 ms of CPU a message).
            Message.direction == literal(Direction.INBOUND.value, literal_execute=True),
        )
        .limit(1)
        .scalar_subquery()
    )
    return (
        update(Identity)
        .where(
            Identity.channel == bindparam("sender_channel"),
            Identity.address == bindparam("sender_address"),
        )
        .values(last_seen_at=bindparam("seen_at"))
        .returning(
            *columns_of(Identity),
            first_delivery.label("first_delivery_id"),
            customer_name.label("customer_name"),
        )
    )


def _sender_seen_and_open_thread_statement() -> tuple[Any, Any, Any]:
    """`_SENDER_SEEN` with their customer's open thread, read and locked in the same
    statement (PostgreSQL). The thread is read after the sender's row is held, and
    locked: its newest version, as a statement of its own after it would read it (the
    UPDATE's own RETURNING would see it as the statement began, before a concurrent
    ingest from the sender committed). A thread such an ingest created is not seen, and
    creating another fails on the one-open-thread index and runs the transaction again.
    The lock leaves the thread's key shared (FOR NO KEY UPDATE, as an UPDATE of it
    takes): every insert of a row that refers to the thread (an agent's reply, an
    outbox row, an event) key-shares it, and a message must not wait for those."""
    seen = _SENDER_SEEN.cte("seen")
    open_thread = (
        select(Thread.__table__)
        .where(open_thread_of_customer(seen.c[Identity.customer_id.key]))
        .with_for_update(key_share=True)
        .lateral("open_thread")
    )
    statement = select(seen, open_thread).select_from(seen.outerjoin(open_thread, true()))
    return statement, seen, open_thread


# Built once and run on the connection: it runs for every message, and building it, or
# the ORM's copy of it for each execution, cost more CPU than running it.
_SENDER_SEEN = _sender_seen_statement()
# With `_SEEN`'s columns (the sender's identity) and `_OPEN`'s (their open thread).
_SENDER_SEEN_AND_OPEN_THREAD, _SEEN, _OPEN = _sender_seen_and_open_thread_statement()


def _positions(statement: Any, columns: tuple[Any, ...], of: Any) -> tuple[int, ...]:
    """Where each of `columns` (as `of`, a CTE or subquery, names them) is in the rows
    of `statement`: a row read by position costs less than by column, every message."""
    place = {column: n for n, column in enumerate(statement.selected_columns)}
    return tuple(place[of.c[column.key]] for column in columns)


def _picked(row: Any, columns: tuple[Any, ...], positions: tuple[int, ...]) -> dict[Any, Any]:
    """`columns`' values in `row`, at `positions` (`_positions`), by column."""
    return {column: row[n] for column, n in zip(columns, positions, strict=True)}


_IDENTITY_COLUMNS = columns_of(Identity)
_THREAD_COLUMNS = columns_of(Thread)
_SEEN_IDENTITY_AT = _positions(_SENDER_SEEN_AND_OPEN_THREAD, _IDENTITY_COLUMNS, _SEEN)
_OPEN_THREAD_AT = _positions(_SENDER_SEEN_AND_OPEN_THREAD, _THREAD_COLUMNS, _OPEN)
_FIRST_DELIVERY_AT, _CUSTOMER_NAME_AT, _OPEN_THREAD_ID_AT = (
    list(_SENDER_SEEN_AND_OPEN_THREAD.selected_columns).index(column)
    for column in (_SEEN.c.first_delivery_id, _SEEN.c.customer_name, _OPEN.c.id)
)


async def _known_sender(session: AsyncSession, msg: InboundMessage) -> _KnownSender | None:
    """The sender's identity, when stored, and whether `msg` is a redelivery: one
    statement that also marks the sender seen and holds their row (a customer merge
    in flight is waited for, and its new customer read)."""
    values = {
        "sender_channel": msg.channel,
        "sender_address": msg.sender_address,
        "message_id": msg.external_id,
        "seen_at": utcnow(),
    }
    connection = await transaction_connection(session)
    if connection.dialect.name != "postgresql":
        # No data-modifying CTE on SQLite; its one writer sees the open thread current
        # in a statement of its own (a round trip there costs a third of PostgreSQL's).
        row = (await direct.execute(connection, _SENDER_SEEN, values)).mappings().first()
        if row is None:
            return None
        identity = loaded(session, Identity, row)
        return _KnownSender(
            identity, row["first_delivery_id"], identity.customer_id, row["customer_name"]
        )
    found = (await connection.execute(_SENDER_SEEN_AND_OPEN_THREAD, values)).first()
    if found is None:
        return None
    identity = loaded(session, Identity, _picked(found, _IDENTITY_COLUMNS, _SEEN_IDENTITY_AT))
    thread = None
    if found[_OPEN_THREAD_ID_AT] is not None:
        thread = loaded(session, Thread, _picked(found, _THREAD_COLUMNS, _OPEN_THREAD_AT))
    return _KnownSender(
        identity,
        found[_FIRST_DELIVERY_AT],
        identity.customer_id,
        found[_CUSTOMER_NAME_AT],
        OpenThreadRead(thread),
    )


async def _dedupe(session: AsyncSession, sender: _KnownSender | None) -> _Outcome | None:
    """The first delivery's ids when the message was stored before; None for a new one."""
    if sender is None or sender.first_delivery_id is None:
        return None
    existing = await session.get_one(Message, sender.first_delivery_id)
    return _Outcome(
        IngestResult(existing.id, existing.thread_id, existing.customer_id, duplicate=True)
    )


async def _identify(
    app: AppContext,
    session: AsyncSession,
    msg: InboundMessage,
    sender: _KnownSender | None,
    fresh: Identity | None,
) -> _Turn:
    """The sender's identity (`fresh`: written by this transaction already), and what
    the proofs the message carries did (they may merge customers, so they run before
    the thread is chosen)."""
    identity, created = await _resolve_identity(session, msg, sender, fresh)
    customer_id = identity.customer_id
    proof = await apply_inbound_proofs(app, session, msg, identity)
    turn = _Turn(msg, identity, proof, sender)
    if sender is not None:
        turn.customer_named = (sender.customer_id, sender.customer_name)
    elif created:
        turn.customer_named = (customer_id, msg.sender_name)  # as it was just created
        # Nothing else can refer to a customer this transaction created, unless the
        # message's proofs joined it with another one.
        turn.customer_is_new = msg.proof is None and proof == InboundProof()
    return turn


async def _thread(app: AppContext, session: AsyncSession, turn: _Turn) -> None:
    """The thread the message lands in: open, reopened or new."""
    sender, open_thread = turn.sender, None
    if (
        sender is not None
        and sender.customer_id == turn.identity.customer_id
        and turn.msg.proof is None
        and turn.proof == InboundProof()
    ):
        # No proof ran that could have joined customers since: still the open thread.
        open_thread = sender.open_thread
    turn.choice = await choose_thread(
        session,
        customer_id=turn.identity.customer_id,
        identity_id=turn.identity.id,
        msg=turn.msg,
        reopen_window=timedelta(minutes=app.settings.threads.reopen_window_minutes),
        customer_is_new=turn.customer_is_new,
        open_thread=open_thread,
        new_priority=sla_threads.known_starting_rank(
            app, turn.msg.channel, customer_is_new=turn.customer_is_new
        ),
    )
    # A new thread was written with the message's bookkeeping (and fails on a racing
    # second open thread); a reopened one fails here, and the transaction runs again.
    await flush_pending(session)
    thread = turn.choice.thread
    turn.status_before = (thread.status, thread.tier, thread.assignee_id)


async def _store(app: AppContext, session: AsyncSession, turn: _Turn) -> None:
    """The message row, the thread's bookkeeping, and what the message reports (a
    reference to another customer's thread, a failed delivery)."""
    msg, identity, thread, proof = turn.msg, turn.identity, turn.thread, turn.proof
    if msg.edit_of is not None:
        turn.edit_of_id = await session.scalar(
            select(Message.id).where(
                Message.channel == msg.channel, Message.external_id == msg.edit_of
            )
        )
    assert turn.choice is not None
    if not turn.choice.created and not msg.automated:
        customer_wrote(thread, msg, identity.id)
    # On PostgreSQL the thread's bookkeeping so far is written with the message (for a
    # message nothing else changes the thread for, a queued follow-up, that is all), and
    # the bot's context read by the same statement when the bot will be asked.
    reads = None
    connection = await transaction_connection(session)
    if _asks_the_bot(app, turn) and connection.dialect.name == "postgresql":
        reads = _context_reads(app, session, turn, with_the_message=False)
    message, parts = await inserted_with_reads(
        session,
        thread,
        reads.statements if reads is not None else (),
        Message,
        thread_id=thread.id,
        customer_id=identity.customer_id,
        direction=Direction.INBOUND,
        author_kind=AuthorKind.CUSTOMER,
        author_name=msg.sender_name or identity.display_name,
        channel=msg.channel,
        identity_id=identity.id,
        external_id=msg.external_id,
        # A typed code proved what it had to (by its HMAC); it is not kept readable.
        text=mask_codes(msg.text) if proof.code_typed else msg.text,
        full_text=None if proof.code_typed else msg.full_text,
        subject=msg.subject,
        automated=msg.automated,
        sender_authenticated=msg.sender_authenticated,
        edit_of_id=turn.edit_of_id,
        language=msg.language,
        attachments=attachments_to_json(msg.attachments),
        created_at=msg.received_at,
    )
    turn.message = message
    if reads is not None:
        turn.context_rows = _ContextRows(reads, parts)

    events: list[Event] = [
        *proof.events,
        MessageStored(message.id, thread.id, thread.customer_id, AuthorKind.CUSTOMER),
    ]
    if turn.choice.referred_thread_id is not None:
        session.add(
            AuditEvent(
                actor_kind="customer",
                actor_id=identity.customer_id,
                action="foreign_thread_reference",
                thread_id=thread.id,
                customer_id=identity.customer_id,
                details={
                    "referred_thread_id": turn.choice.referred_thread_id,
                    "channel": msg.channel,
                },
            )
        )
    outcome = _Outcome(
        IngestResult(
            message.id,
            thread.id,
            identity.customer_id,
            new_thread=turn.choice.created,
            new_customer=turn.customer_is_new,
        ),
        events,
    )
    if msg.delivery_failure is not None and msg.delivery_failure.permanent:
        verified = await _record_delivery_failure(session, msg, thread)
        outcome.delivery_report = "verified" if verified else "unverified"
    outcome.outbound += proof.outbound
    turn.outcome = outcome


async def _decide(app: AppContext, session: AsyncSession, turn: _Turn) -> Decision | None:
    """One call to the responder (the identity dialogue around the bot), when there is
    something to decide: a proof step to answer, or a turn of the bot's thread."""
    # Its reads need none of the thread's pending bookkeeping: that is written once,
    # with the answer, instead of once before the reads and again with the answer.
    with session.no_autoflush:
        return await _deciding(app, session, turn)


async def _deciding(app: AppContext, session: AsyncSession, turn: _Turn) -> Decision | None:
    msg, thread, step = turn.msg, turn.thread, turn.proof.step
    message, outcome = turn.stored
    # An opt-out changes what the customer is sent: a message anyone may have written
    # (an email whose sender failed authentication) cannot make it.
    if (
        step is None
        and not msg.automated
        and turn.edit_of_id is None
        and msg.sender_authenticated is not False
    ):
        language = msg.language or thread.language
        stop = await opt_out_answer(
            app, session, thread.customer_id, msg.text, msg.channel, language
        )
        if stop is not None:
            outcome.decision = "opt_out"  # whatever the thread's state: the router answers
            outcome.opted_out = stop.recorded
            return stop.reply
    if step is None and not _bots_turn(app, turn):
        if msg.automated:
            outcome.decision = "automated"
        return None
    # Only a thread still with the bot can be handed to people now.
    may_ask_email = (
        step is None
        and thread.status == ThreadStatus.BOT
        and await may_ask_for_email(app, session, msg, turn.identity)
    )
    assert turn.choice is not None
    silence = _queued_silence(app, turn)
    if silence is not None:
        decision = silence  # what `respond` would say, without the context's reads
    else:
        ctx = await _thread_context(app, session, turn, step, may_ask_email)
        decision = await app.responder.respond(ctx, _view(message))
    if thread.status == ThreadStatus.QUEUED and not _plain_answer(decision):
        # Queued again would send the customer to the back of the queue.
        decision = Silent("already waiting for a person")
    if isinstance(decision, SystemReply) and decision.after is None:
        outcome.decision = "proof"  # the router answered a proof step (a code, a link)
    else:
        bots = decision.after if isinstance(decision, SystemReply) else decision
        outcome.decision = outcome.bot_decision = type(bots).__name__.lower()
    return decision


async def _outbound(
    app: AppContext, session: AsyncSession, turn: _Turn, decision: Decision | None
) -> None:
    """Carry out the decision (queue its messages, move the thread) and tell who needs
    to know: the thread's change, and the channel that a hand-off happened."""
    thread, identity = turn.thread, turn.identity
    _, outcome = turn.stored
    if isinstance(decision, SystemReply):
        if decision.after is not None:
            outcome.outbound += await _apply_decision(
                session, thread, identity, decision.after, outcome.events
            )
        await _say_as_system(session, thread, identity, decision, outcome)
    elif decision is not None:
        outcome.outbound += await _apply_decision(
            session, thread, identity, decision, outcome.events
        )
    assert turn.choice is not None and turn.status_before is not None
    created, status_before = turn.choice.created, turn.status_before
    await record_ingest(
        app,
        session,
        thread,
        before=(status_before[0], status_before[1]),
        channel=turn.msg.channel,
        created=created,
        reopened=turn.choice.reopened,
        helped=helped_answer(decision),
    )
    if created or not turn.msg.automated:
        # Automated mail (an out-of-office answer) is nobody waiting: it neither resumes
        # a pending thread nor starts a response clock.
        await sla_threads.customer_wrote(app, session, thread, turn.stored[0], first=created)
    if (thread.status, thread.tier, thread.assignee_id) != status_before or created:
        outcome.events.append(
            ThreadChanged(
                thread.id, thread.customer_id, thread.status, thread.tier, thread.assignee_id
            )
        )
    if thread.status == ThreadStatus.QUEUED and (
        created or status_before[0] != ThreadStatus.QUEUED
    ):
        # Channels limit hand-offs per client; they learn of one here.
        outcome.result = dataclasses.replace(outcome.result, queued=True)


def _responds(app: AppContext, thread: Thread) -> bool:
    """The bot's threads; queued ones too for a responder that tells a waiting customer
    where they stand (`answers_queued_threads`; only a plain answer is carried out)."""
    if thread.status == ThreadStatus.QUEUED:
        return bool(getattr(app.responder, "answers_queued_threads", False))
    return thread.status == ThreadStatus.BOT


def _plain_answer(decision: Decision) -> bool:
    if isinstance(decision, SystemReply):
        return decision.after is None or _plain_answer(decision.after)
    return isinstance(decision, Silent) or (
        isinstance(decision, Answer) and decision.handoff_tier is None
    )


async def _say_as_system(
    session: AsyncSession,
    thread: Thread,
    identity: Identity,
    reply: SystemReply,
    outcome: _Outcome,
) -> None:
    """Queue a message from the router itself (not the bot) to the sender."""
    out = await enqueue_outbound(
        session,
        thread=thread,
        identity=identity,
        text=reply.text,
        author=AuthorKind.SYSTEM,
        suggestions=reply.suggestions,
        language=reply.language,
        link_question_id=reply.link_question_id,
    )
    outcome.events.append(MessageStored(out.id, thread.id, thread.customer_id, AuthorKind.SYSTEM))
    outcome.outbound += 1


async def _record_delivery_failure(
    session: AsyncSession, msg: InboundMessage, report_thread: Thread
) -> bool:
    """A bounce: mark the failed identities unreachable, the bounced delivery and any
    pending ones to them failed (no more retries), and leave an audit record.

    Anyone can mail us a report naming anybody, so it counts only for a recipient we
    really sent the named message to: the outbox row the channel verified (a signed
    bounce address) or the row that sent the returned channel id, and only when that
    row went to an address the report names. Returns whether it counted.
    """
    failure = msg.delivery_failure
    assert failure is not None
    named = {address.lower() for address in failure.addresses}
    bounced_rows: list[OutboxItem] = []
    if failure.outbox_id is not None or failure.external_id:
        sent = select(OutboxItem).where(
            OutboxItem.channel == msg.channel,
            OutboxItem.id == failure.outbox_id
            if failure.outbox_id is not None
            else OutboxItem.external_id == failure.external_id,
        )
        bounced_rows = [row for row in await session.scalars(sent) if row.address.lower() in named]
    if not bounced_rows:
        logger.warning(
            "delivery report channel=%s external_id=%s ignored: it names no message we sent "
            "to the addresses it reports",
            msg.channel,
            msg.external_id,
        )
        return False
    reason = f"bounced: {failure.reason or 'delivery failed'}"[:2000]
    identity_ids = {row.identity_id for row in bounced_rows if row.identity_id is not None}
    identities = list(await session.scalars(select(Identity).where(Identity.id.in_(identity_ids))))
    for identity in identities:
        identity.unreachable_reason = reason
    rows = select(OutboxItem).where(
        OutboxItem.channel == msg.channel,
        OutboxItem.id.in_([row.id for row in bounced_rows])
        | (OutboxItem.identity_id.in_(identity_ids) & (OutboxItem.status == OutboxStatus.PENDING)),
    )
    for row in await session.scalars(rows):
        row.status = OutboxStatus.DEAD
        row.last_error = reason
    by_identity = {row.identity_id: row for row in bounced_rows}
    for identity in identities:
        bounced = by_identity[identity.id]
        session.add(
            AuditEvent(
                actor_kind="system",
                action="delivery_failed",
                thread_id=bounced.thread_id,
                customer_id=identity.customer_id,
                details={
                    "channel": msg.channel,
                    "address": identity.address,
                    "reason": failure.reason,
                    "message_id": bounced.message_id,
                    "report_thread_id": report_thread.id,
                },
            )
        )
    return True


async def _new_identity(session: AsyncSession, msg: InboundMessage) -> Identity | None:
    """The sender's identity written now with a customer of its own, or None when it is
    stored already."""
    return await new_identity(
        session,
        msg.channel,
        msg.sender_address,
        name=msg.sender_name,
        verified=msg.sender_verified,
        language=msg.language,
        seen_at=utcnow(),
    )


async def _resolve_identity(
    session: AsyncSession,
    msg: InboundMessage,
    sender: _KnownSender | None,
    fresh: Identity | None,
) -> tuple[Identity, bool]:
    """The sender's identity, and whether this transaction created it."""
    created = fresh is not None
    if sender is not None:
        identity = sender.identity
    elif fresh is not None:
        identity = fresh
    else:
        # New, its row this transaction's own; unless a concurrent ingest stored it
        # first (this one waited for it to commit): theirs, locked as a known one is.
        written = await _new_identity(session, msg)
        created = written is not None
        identity = written or await stored_identity(
            session, msg.channel, msg.sender_address, lock=True
        )
        if not created:
            identity.last_seen_at = utcnow()
    if msg.sender_name and identity.display_name != msg.sender_name:
        identity.display_name = msg.sender_name
    if (
        identity.unreachable_reason
        and msg.delivery_failure is None
        and not msg.automated
        and msg.sender_authenticated is not False  # a forged From proves nothing
    ):
        # They wrote to us from it: it works again (unblocked the bot, mailbox fixed).
        identity.unreachable_reason = None
    if msg.sender_username and identity.username != msg.sender_username:
        identity.username = msg.sender_username
    return identity, created


_VIEW_COLUMNS = (
    Message.id,
    Message.author_kind,
    Message.text,
    Message.channel,
    Message.created_at,
    Message.language,
    Message.author_name,
)


# The thread's newest messages, newest first; built once, as it runs for every message
# the bot answers.
_RECENT_MESSAGES = (
    select(*_VIEW_COLUMNS)
    .where(Message.thread_id == bindparam("recent_thread_id"), Message.internal.is_(False))
    .order_by(Message.id.desc())
    .limit(bindparam("how_many"))
)


def _view(message: Any) -> MessageView:
    """The bot's view of a `Message`, or of a row of `_VIEW_COLUMNS` (the same names)."""
    return MessageView(
        id=message.id,
        author=AuthorKind(message.author_kind),
        text=message.text,
        channel=message.channel,
        created_at=message.created_at,
        language=message.language,
        author_name=message.author_name,
    )


@dataclass(frozen=True, slots=True)
class _ContextReads:
    """The reads of the bot's context, for one statement (`selected_together`)."""

    statements: tuple[tuple[Any, dict[str, Any]], ...]
    levels: bool  # the stored calendars and policies are the second read
    with_the_message: bool  # the newest messages read include the one being stored


@dataclass(frozen=True, slots=True)
class _ContextRows:
    reads: _ContextReads
    parts: list[list[Any]]


def _bots_turn(app: AppContext, turn: _Turn) -> bool:
    """Whether the message is one for the bot to answer (a proof step aside)."""
    return _responds(app, turn.thread) and not turn.msg.automated and turn.edit_of_id is None


def _asks_the_bot(app: AppContext, turn: _Turn) -> bool:
    """Whether `_deciding` will read the bot's context (unless the message opts out)."""
    if turn.proof.step is not None:
        return True
    return _bots_turn(app, turn) and _queued_silence(app, turn) is None


def _queued_silence(app: AppContext, turn: _Turn) -> Decision | None:
    """The responder's decision on a queued thread's message that the text alone settles
    (`queued_silence`; a customer waiting for a person who does not ask for one), or
    None: it needs the thread's context."""
    if turn.queued_silence is None:
        settle = getattr(app.responder, "queued_silence", None)
        queued = turn.thread.status == ThreadStatus.QUEUED and turn.proof.step is None
        turn.queued_silence = (settle(turn.msg.text) if queued and settle else None,)
    return turn.queued_silence[0]


def _context_reads(
    app: AppContext, session: AsyncSession, turn: _Turn, *, with_the_message: bool
) -> _ContextReads:
    """The thread's staffing and queue place, the calendars and policies (unless this
    transaction read them), the thread's newest messages (a new thread holds none but
    this one): on PostgreSQL a round trip costs more server CPU than any of these reads.
    `with_the_message`: read after the message was stored, one more to drop."""
    assert turn.choice is not None
    thread = turn.thread
    reads: list[tuple[Any, dict[str, Any]]] = [staffing_read(thread)]
    levels = sla_threads.service_levels_read(session)
    if levels is not None:
        reads.append((levels, {}))
    if not turn.choice.created:
        limit = app.settings.threads.history_limit + (1 if with_the_message else 0)
        reads.append((_RECENT_MESSAGES, {"recent_thread_id": thread.id, "how_many": limit}))
    return _ContextReads(tuple(reads), levels is not None, with_the_message)


async def _thread_context(
    app: AppContext,
    session: AsyncSession,
    turn: _Turn,
    proof_step: ProofStep | None,
    may_ask_email: bool,
) -> ThreadContext:
    assert turn.choice is not None
    thread, msg, created = turn.thread, turn.msg, turn.choice.created
    rows = turn.context_rows
    if rows is None:
        reads = _context_reads(app, session, turn, with_the_message=True)
        rows = _ContextRows(reads, await selected_together(session, reads.statements))
    parts = rows.parts
    if rows.reads.levels:
        sla_threads.keep_service_levels(app, session, parts[1])
    recent: tuple[MessageView, ...] = ()
    if not created:
        # Oldest first, without this message. Sorted here: the union keeps each read's
        # rows, not their order.
        recent = tuple(_view(row) for row in sorted(parts[-1], key=attrgetter("id")))
        if rows.reads.with_the_message:
            recent = recent[:-1]
    return ThreadContext(
        thread_id=thread.id,
        customer_id=thread.customer_id,
        status=thread.status,
        tier=thread.tier,
        channel=msg.channel,
        recent=recent,
        language=msg.language or thread.language,
        customer_name=await _customer_name(session, thread.customer_id, turn.customer_named),
        is_new_thread=created,
        automated=msg.automated,
        staffing=staffing_of(parts[0][0]),
        proof_step=proof_step,
        may_ask_email=may_ask_email,
        calendar=await sla_threads.answering_calendar(app, session, thread, msg.channel, created),
    )


async def _customer_name(
    session: AsyncSession, customer_id: int, named: tuple[int, str | None] | None
) -> str | None:
    """The name of `customer_id`: as this transaction read or wrote it (`named`: the
    sender's customer and its name), unless it loaded that customer since (a merge may
    have renamed it) or the sender's customer is another one now (merged away)."""
    loaded = session.sync_session.identity_map.get(Session.identity_key(Customer, customer_id))
    if named is not None and named[0] == customer_id and loaded is None:
        return named[1]
    customer = await session.get(Customer, customer_id)
    return customer.name if customer else None


async def _apply_decision(
    session: AsyncSession,
    thread: Thread,
    identity: Identity,
    decision: Decision,
    events: list[Event],
) -> int:
    """Carry out the responder's decision; return how many outbound rows it queued."""
    queued = 0

    async def say(text: str, suggestions: tuple[str, ...], language: str | None) -> None:
        nonlocal queued
        if thread.language is None and language:
            # The channel did not say; the bot read it from the question: what people
            # write on the thread later (the agent joined, a survey) follows it.
            thread.language = language
        out = await enqueue_outbound(
            session,
            thread=thread,
            identity=identity,
            text=text,
            author=AuthorKind.BOT,
            suggestions=suggestions,
            language=language,
        )
        # The answer as the visitor is shown it goes with the event: the web chat of
        # this process pushes it without reading back the row just written.
        shown = shown_to_customer(out)
        events.append(
            MessageStored(out.id, thread.id, thread.customer_id, AuthorKind.BOT, shown=shown)
        )
        queued += 1

    match decision:
        case Answer():
            await say(decision.text, decision.suggestions, decision.language)
            if decision.handoff_tier is not None:
                hand_off(thread, decision.handoff_tier)
                _audit_handoff(session, thread, decision.handoff_reason or "kb entry hands off")
        case HandOff():
            if decision.text:
                await say(decision.text, (), decision.language)
            hand_off(thread, decision.tier)
            _audit_handoff(session, thread, decision.reason)
        case Resolve():
            if decision.text:
                await say(decision.text, (), decision.language)
            resolve(thread, decision.resolution)
        case Silent():
            pass
    _record_gaps(session, thread, decision)
    return queued


def _record_gaps(session: AsyncSession, thread: Thread, decision: Decision) -> None:
    """What the decision showed the KB lacks: this question, and the bot's previous
    turn (a suggestion not taken, an answer that did not help)."""
    for gap in (getattr(decision, "previous_gap", None), getattr(decision, "gap", None)):
        if gap is not None:
            session.add(
                KnowledgeGapRecord(
                    thread_id=thread.id,
                    text=gap.text,
                    language=gap.language,
                    best_candidate=gap.best_candidate,
                    score=gap.score,
                    kind=gap.kind.value,
                    entry_given=gap.entry_given,
                )
            )


def _audit_handoff(session: AsyncSession, thread: Thread, reason: str) -> None:
    session.add(
        AuditEvent(
            actor_kind="bot",
            action="handoff",
            thread_id=thread.id,
            customer_id=thread.customer_id,
            details={"reason": reason, "tier": thread.tier},
        )
    )
