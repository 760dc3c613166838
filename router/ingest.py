"""`ingest`: the one path from "a channel received a message" to "committed".

One transaction: dedupe → identity → customer → thread → message → routing decision
→ outbox. Adapters acknowledge only after `ingest` returns. Races between concurrent
ingests (a new customer writing twice at once) end in a unique-index violation for
the loser, which simply runs the transaction again and finds the winner's rows.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.events import Event, MessageStored, ThreadChanged
from router.identity_links import apply_inbound_proofs, email_prompt_after_handoff, mask_codes
from router.model import AuthorKind, Direction, InboundMessage, IngestResult, utcnow
from router.outbound import attachments_to_json, enqueue_outbound
from router.responder import (
    Answer,
    Decision,
    HandOff,
    MessageView,
    Resolve,
    Silent,
    ThreadContext,
)
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
from router.threads import choose_thread, hand_off, resolve

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


# NUL is refused in PostgreSQL text and a lone surrogate cannot be encoded by either
# database: a message holding one would fail on every redelivery, for ever.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_CLEANED_FIELDS = (
    "external_id",
    "sender_address",
    "text",
    "sender_name",
    "subject",
    "full_text",
    "sender_username",
    "edit_of",
    "language",
)


def _storable(msg: InboundMessage) -> InboundMessage:
    """`msg` without NUL characters, lone surrogates shown as U+FFFD."""
    changes: dict[str, Any] = {}
    for name in _CLEANED_FIELDS:
        value = getattr(msg, name)
        if isinstance(value, str) and _UNSTORABLE.search(value):
            changes[name] = re.sub("[\ud800-\udfff]", "\ufffd", value.replace("\x00", ""))
    if not changes:
        return msg
    logger.warning(
        "ingest channel=%s: removed NUL / lone surrogates from %s",
        msg.channel,
        ", ".join(sorted(changes)),
    )
    return dataclasses.replace(msg, **changes)


class IngestFailed(RuntimeError):
    """The message could not be stored; the channel must not acknowledge it."""


@dataclass
class _Outcome:
    result: IngestResult
    events: list[Event] = field(default_factory=list)
    outbound: int = 0
    decision: str = "none"


async def ingest(app: AppContext, msg: InboundMessage) -> IngestResult:
    """Store `msg` and act on it in one transaction; return the committed ids.

    A redelivery (same channel and external id) returns the first delivery's ids
    with `duplicate=True` and stores nothing.

    Raises:
        IngestFailed: the database kept refusing; nothing was committed.
    """
    started = time.perf_counter()
    msg = _storable(msg)
    last_error: Exception | None = None
    for attempt in range(MAX_ATTEMPTS):
        try:
            async with app.writing(), app.sessions() as session, session.begin():
                outcome = await _ingest_once(app, session, msg)
            break
        except (IntegrityError, OperationalError) as exc:
            # IntegrityError: a concurrent ingest created the same identity, thread or
            # message first; OperationalError: SQLite busy / PostgreSQL serialisation.
            last_error = exc
            logger.debug(
                "ingest retry %d for %s:%s: %s", attempt, msg.channel, msg.external_id, exc
            )
    else:
        app.metrics.ingest_errors.labels(msg.channel).inc()
        raise IngestFailed(f"could not store {msg.channel} message: {last_error}") from last_error
    for event in outcome.events:
        app.events.publish(event)
    if outcome.outbound:
        app.outbox_wakeup.set()
    elapsed = time.perf_counter() - started
    result = outcome.result
    if result.duplicate:
        app.metrics.messages_duplicate.labels(msg.channel).inc()
    else:
        app.metrics.messages_ingested.labels(msg.channel).inc()
        app.metrics.ingest_latency.labels(msg.channel).observe(elapsed)
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


async def _ingest_once(app: AppContext, session: AsyncSession, msg: InboundMessage) -> _Outcome:
    existing = await session.scalar(
        select(Message).where(
            Message.channel == msg.channel,
            Message.external_id == msg.external_id,
            Message.direction == Direction.INBOUND,
        )
    )
    if existing is not None:
        return _Outcome(
            IngestResult(existing.id, existing.thread_id, existing.customer_id, duplicate=True)
        )

    identity = await _resolve_identity(session, msg)
    proof = await apply_inbound_proofs(app, session, msg, identity)  # may merge customers
    choice = await choose_thread(
        session,
        customer_id=identity.customer_id,
        msg=msg,
        reopen_window=timedelta(minutes=app.settings.threads.reopen_window_minutes),
    )
    thread = choice.thread
    await session.flush()  # a racing second "first thread" fails here, and retries
    status_before = (thread.status, thread.tier, thread.assignee_id)

    edit_of_id = None
    if msg.edit_of is not None:
        edit_of_id = await session.scalar(
            select(Message.id).where(
                Message.channel == msg.channel, Message.external_id == msg.edit_of
            )
        )
    message = Message(
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
        edit_of_id=edit_of_id,
        language=msg.language,
        attachments=attachments_to_json(msg.attachments),
        created_at=msg.received_at,
    )
    session.add(message)
    await session.flush()

    now = utcnow()
    thread.last_channel = msg.channel
    thread.last_identity_id = identity.id
    thread.last_customer_message_at = now
    thread.updated_at = now
    if thread.subject is None and msg.subject:
        thread.subject = msg.subject[:500]
    if msg.language and thread.language is None:
        thread.language = msg.language
    events: list[Event] = [
        *proof.events,
        MessageStored(message.id, thread.id, thread.customer_id, AuthorKind.CUSTOMER),
    ]
    if choice.referred_thread_id is not None:
        session.add(
            AuditEvent(
                actor_kind="customer",
                actor_id=identity.customer_id,
                action="foreign_thread_reference",
                thread_id=thread.id,
                customer_id=identity.customer_id,
                details={"referred_thread_id": choice.referred_thread_id, "channel": msg.channel},
            )
        )

    if msg.delivery_failure is not None and msg.delivery_failure.permanent:
        await _record_delivery_failure(session, msg, thread)
    outcome = _Outcome(IngestResult(message.id, thread.id, identity.customer_id), events)
    outcome.outbound += proof.outbound
    if proof.reply is not None:  # a proof step (a code, /start) is answered by the router
        await _say_as_system(session, thread, identity, proof.reply, msg.language, outcome)
        outcome.decision = "proof"
    elif thread.status == ThreadStatus.BOT and not msg.automated and edit_of_id is None:
        decision = await app.responder.respond(
            await _thread_context(app, session, thread, msg, choice.created), _view(message)
        )
        outcome.decision = type(decision).__name__.lower()
        app.metrics.bot_decisions.labels(outcome.decision).inc()
        outcome.outbound += await _apply_decision(session, thread, identity, decision, events)
        if app.settings.bot.ask_email_on_handoff and thread.status == ThreadStatus.QUEUED:
            # So that the agent's answer can also reach them by mail, and the histories
            # join once the code is typed back.
            question = await email_prompt_after_handoff(session, msg, identity, thread.status)
            if question is not None:
                await _say_as_system(session, thread, identity, question, msg.language, outcome)
    elif msg.automated:
        outcome.decision = "automated"

    if (thread.status, thread.tier, thread.assignee_id) != status_before or choice.created:
        events.append(
            ThreadChanged(
                thread.id, thread.customer_id, thread.status, thread.tier, thread.assignee_id
            )
        )
    return outcome


async def _say_as_system(
    session: AsyncSession,
    thread: Thread,
    identity: Identity,
    text: str,
    language: str | None,
    outcome: _Outcome,
) -> None:
    """Queue a message from the router itself (not the bot) to the sender."""
    out = await enqueue_outbound(
        session,
        thread=thread,
        identity=identity,
        text=text,
        author=AuthorKind.SYSTEM,
        language=language,
    )
    outcome.events.append(MessageStored(out.id, thread.id, thread.customer_id, AuthorKind.SYSTEM))
    outcome.outbound += 1


async def _record_delivery_failure(
    session: AsyncSession, msg: InboundMessage, report_thread: Thread
) -> None:
    """A bounce: mark the failed identities unreachable, the bounced delivery and any
    pending ones to them failed (no more retries), and leave an audit record."""
    failure = msg.delivery_failure
    assert failure is not None
    reason = f"bounced: {failure.reason or 'delivery failed'}"[:2000]
    identities = list(
        await session.scalars(
            select(Identity).where(
                Identity.channel == msg.channel, Identity.address.in_(failure.addresses)
            )
        )
    )
    for identity in identities:
        identity.unreachable_reason = reason
    identity_ids = [i.id for i in identities]
    bounced: Message | None = None
    if failure.external_id:
        bounced = await session.scalar(
            select(Message).where(
                Message.channel == msg.channel,
                Message.external_id == failure.external_id,
                Message.direction == Direction.OUTBOUND,
            )
        )
    rows = select(OutboxItem).where(
        OutboxItem.channel == msg.channel,
        (OutboxItem.message_id == (bounced.id if bounced else -1))
        | (OutboxItem.identity_id.in_(identity_ids) & (OutboxItem.status == OutboxStatus.PENDING)),
    )
    for row in await session.scalars(rows):
        row.status = OutboxStatus.DEAD
        row.last_error = reason
    for identity in identities:
        session.add(
            AuditEvent(
                actor_kind="system",
                action="delivery_failed",
                thread_id=bounced.thread_id if bounced else report_thread.id,
                customer_id=identity.customer_id,
                details={
                    "channel": msg.channel,
                    "address": identity.address,
                    "reason": failure.reason,
                    "message_id": bounced.id if bounced else None,
                },
            )
        )


async def _resolve_identity(session: AsyncSession, msg: InboundMessage) -> Identity:
    # Locked now (it is updated below anyway): a customer merge locks identities too, so
    # this waits for one in flight and then reads the identity's new customer.
    identity = await session.scalar(
        select(Identity)
        .where(Identity.channel == msg.channel, Identity.address == msg.sender_address)
        .with_for_update(key_share=True)
    )
    now = utcnow()
    if identity is None:
        customer = Customer(name=msg.sender_name, language=msg.language, created_at=now)
        session.add(customer)
        await session.flush()
        identity = Identity(
            customer_id=customer.id,
            channel=msg.channel,
            address=msg.sender_address,
            display_name=msg.sender_name,
            verified=msg.sender_verified,
            created_at=now,
        )
        session.add(identity)
        await session.flush()  # a concurrent first contact fails here, and retries
    else:
        if msg.sender_name and identity.display_name != msg.sender_name:
            identity.display_name = msg.sender_name
        if identity.unreachable_reason and msg.delivery_failure is None and not msg.automated:
            # They wrote to us from it: it works again (unblocked the bot, mailbox fixed).
            identity.unreachable_reason = None
    if msg.sender_username:
        identity.username = msg.sender_username
    identity.last_seen_at = now
    return identity


def _view(message: Message) -> MessageView:
    return MessageView(
        id=message.id,
        author=AuthorKind(message.author_kind),
        text=message.text,
        channel=message.channel,
        created_at=message.created_at,
        language=message.language,
        author_name=message.author_name,
    )


async def _thread_context(
    app: AppContext, session: AsyncSession, thread: Thread, msg: InboundMessage, created: bool
) -> ThreadContext:
    rows = await session.scalars(
        select(Message)
        .where(Message.thread_id == thread.id, Message.internal.is_(False))
        .order_by(Message.id.desc())
        .limit(app.settings.threads.history_limit + 1)
    )
    recent = tuple(_view(m) for m in reversed(list(rows)))[:-1]
    customer = await session.get(Customer, thread.customer_id)
    return ThreadContext(
        thread_id=thread.id,
        customer_id=thread.customer_id,
        status=thread.status,
        tier=thread.tier,
        channel=msg.channel,
        recent=recent,
        language=msg.language or thread.language,
        customer_name=customer.name if customer else None,
        is_new_thread=created,
        automated=msg.automated,
    )


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
        out = await enqueue_outbound(
            session,
            thread=thread,
            identity=identity,
            text=text,
            author=AuthorKind.BOT,
            suggestions=suggestions,
            language=language,
        )
        events.append(MessageStored(out.id, thread.id, thread.customer_id, AuthorKind.BOT))
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
    gap = getattr(decision, "gap", None)
    if gap is not None:
        session.add(
            KnowledgeGapRecord(
                thread_id=thread.id,
                text=gap.text,
                language=gap.language,
                best_candidate=gap.best_candidate,
                score=gap.score,
            )
        )
    return queued


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
