"""The outbox worker: delivers committed outbound messages through channel adapters.

Only the head of each recipient's queue is claimable: the row with the lowest id among
that recipient's pending rows (leased, waiting to retry or due). A later reply
therefore waits while an earlier one is retried, so a customer reads replies in the
order they were written; other recipients are not held up. A dead-lettered row stops
blocking: the rows after it go out (the dead letter is logged at WARNING).

A claim is its own commit, made before the adapter is called: the row gets a lease
naming this worker, its attempt is counted and a `sending` attempt is recorded. The
send runs outside any transaction and its outcome is recorded in a new one:
delivered, retried later with exponential backoff and jitter (or the channel's own
`retry_after`), or dead-lettered. A temporary failure is given up on after
`max_attempts`, or, on a channel that declares a `RetryPolicy` (email), once that
policy's time is spent too. If the process dies mid-send, the next worker to
start sees that the lease holder's lock is gone (`router.core.worker_presence`) and sends
the row again at once; without a restart the lease runs out first. Delivery is at
least once: a resend may duplicate a message the channel had in fact accepted (email
keeps the same Message-ID, so receiving systems can drop the copy).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Select,
    String,
    Table,
    and_,
    bindparam,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from router.context import AppContext
from router.core.messages import (
    AuthorKind,
    DeliveryResult,
    DeliveryStatus,
    OutboundMessage,
    RetryPolicy,
    utcnow,
)
from router.core.outbound_messages import ref_from_json, survey_from_json
from router.core.transaction import Effects, write
from router.core.worker_presence import WorkerPresence, presence_for
from router.outreach.consent import unsubscribe_url
from router.storage import direct
from router.storage.core_rows import selected, transaction_connection
from router.storage.engine import is_sqlite
from router.storage.models import (
    DeliveryAttempt,
    Identity,
    Message,
    OutboxItem,
    OutboxStatus,
    OutreachMessage,
    Thread,
)

logger = logging.getLogger(__name__)


# Seconds between two looks for sends cut short by a worker that died.
_RESUME_EVERY = 3.0

# DeliveryAttempt.outcome of a send under way, and of one whose process died during it.
SENDING = "sending"
INTERRUPTED = "interrupted"
_INTERRUPTED_ERROR = "no outcome: the worker stopped (or its lease ran out) mid-send; sent again"


@dataclass(frozen=True, slots=True)
class _Claimed:
    outbox_id: int
    attempt_id: int
    attempts: int  # including this one
    message: OutboundMessage
    identity_id: int | None  # the recipient's identity, when the row names one
    queued_at: datetime  # when the row was written (a channel's retry time counts from it)


def backoff_delay(attempts: int, *, base: float, cap: float) -> float:
    """Seconds to wait before try `attempts + 1`: exponential, capped, with full jitter
    in the upper half so a burst of failures does not retry in lock-step."""
    ceiling = min(cap, base * (2 ** max(attempts - 1, 0)))
    return random.uniform(ceiling / 2, ceiling)


def _recipient_head() -> ColumnElement[bool]:
    """No earlier row to the same recipient is still pending (leased, retrying or due).

    Rows only ever leave `pending`, never come back, so a stale read can only see an
    earlier row as still pending: it may hold a row back one poll, never send early.
    """
    earlier = aliased(OutboxItem, name="earlier")
    return ~exists().where(
        earlier.channel == OutboxItem.channel,
        earlier.address == OutboxItem.address,
        earlier.status == OutboxStatus.PENDING,
        earlier.id < OutboxItem.id,
    )


# Built once: the condition never changes, and building it (a fresh alias, its
# attributes, the statement's cache key) cost more CPU than the rest of a claim.
_IS_RECIPIENT_HEAD = _recipient_head()


def _claim_statements() -> tuple[Select[Any], Select[*tuple[Any, ...]], Select[*tuple[Any, ...]]]:
    """(is any row due at `now`; the due rows as the columns a send needs of them, their
    message, thread, recipient's unreachable reason and outreach customer, oldest first,
    at most `how_many`; the same with the rows locked, skipping those another worker
    holds). Columns, not ORM objects: nothing of a claimed row is changed through the
    session, and loading three objects a row cost more CPU than the query."""
    now = bindparam("now", type_=OutboxItem.next_attempt_at.type)
    due = (
        OutboxItem.status == OutboxStatus.PENDING,
        OutboxItem.next_attempt_at <= now,
        or_(OutboxItem.leased_until.is_(None), OutboxItem.leased_until < now),
        _IS_RECIPIENT_HEAD,
    )
    outreach_customer = (
        select(OutreachMessage.customer_id)
        .where(OutreachMessage.message_id == OutboxItem.message_id)
        .limit(1)
        .scalar_subquery()
    )
    rows = (
        select(
            OutboxItem.id,
            OutboxItem.message_id,
            OutboxItem.thread_id,
            OutboxItem.identity_id,
            OutboxItem.channel,
            OutboxItem.address,
            OutboxItem.attempts,
            OutboxItem.parts_done,
            OutboxItem.leased_by,
            OutboxItem.created_at,
            Message.text,
            Message.author_kind,
            Message.author_name,
            Message.suggestions,
            Message.attachments,
            Message.automated,
            Message.survey,
            Message.link_question_id,
            Message.language.label("message_language"),
            Message.subject.label("message_subject"),
            Thread.language.label("thread_language"),
            Thread.subject.label("thread_subject"),
            Identity.unreachable_reason,
            outreach_customer.label("outreach_customer_id"),
        )
        .join(Message, Message.id == OutboxItem.message_id)
        .join(Thread, Thread.id == OutboxItem.thread_id)
        .outerjoin(Identity, Identity.id == OutboxItem.identity_id)
        .where(*due)
        .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
        .limit(bindparam("how_many"))
    )
    # Two workers may both see X1 as X's head; the row lock lets one have it, and the
    # lease check is re-evaluated on the locked row's newest version (PostgreSQL).
    locked = rows.with_for_update(skip_locked=True, of=OutboxItem)
    return select(OutboxItem.id).where(*due).limit(1), rows, locked


# Built once, like the statements that record outcomes: a claim and its record run for
# every message sent, and building their statements cost more than running them.
_ANY_DUE, _DUE_ROWS, _DUE_ROWS_LOCKED = _claim_statements()
# By id, for an executemany of the claimed rows: one statement whatever their number.
_LEASE = (
    update(cast(Table, OutboxItem.__table__))
    .where(OutboxItem.id == bindparam("row_id"))
    .values(
        attempts=OutboxItem.attempts + 1,
        leased_by=bindparam("lease_holder"),
        leased_until=bindparam("lease_end"),
    )
)
_NEW_ATTEMPTS = insert(DeliveryAttempt).returning(DeliveryAttempt.id, sort_by_parameter_order=True)


def _lease_and_attempts() -> Any:
    """PostgreSQL: `_LEASE` and `_NEW_ATTEMPTS` as one statement (one round trip while
    the claimed rows are locked), returning (attempt id, outbox id). The ids go as one
    array parameter, so every batch size runs the same prepared statement."""
    leased = (
        update(OutboxItem)
        .where(OutboxItem.id == func.any(bindparam("outbox_ids", type_=ARRAY(BigInteger))))
        .values(
            attempts=OutboxItem.attempts + 1,
            leased_by=bindparam("lease_holder"),
            leased_until=bindparam("lease_end"),
        )
        .returning(OutboxItem.id)
        .cte("leased")
    )
    started = bindparam("now", type_=DeliveryAttempt.attempted_at.type)
    return (
        insert(DeliveryAttempt)
        .from_select(
            ["outbox_id", "attempted_at", "outcome"],
            select(leased.c.id, started, literal(SENDING, String)).order_by(leased.c.id),
        )
        .returning(DeliveryAttempt.id, DeliveryAttempt.outbox_id)
    )


_LEASE_AND_ATTEMPTS = _lease_and_attempts()


async def claim_due(app: AppContext, worker_id: int, limit: int) -> list[_Claimed]:
    """Lease up to `limit` due recipient-head rows to `worker_id`, counting the attempt
    (committed before anything is sent), and build their outbound messages.

    A batch costs the same few statements as one row: the rows come with their message,
    thread, recipient and outreach in one locking query; the leases are one UPDATE, the
    attempts one INSERT, the earlier channel ids of their threads one SELECT (only for
    rows of a channel that uses them, see `ChannelAdapter`).
    """
    settings = app.settings.outbox
    now = utcnow()
    # Look before locking: an idle poll must not take SQLite's write lock (or row locks).
    async with app.read_sessions() as session:
        if (await selected(session, _ANY_DUE, {"now": now})).first() is None:
            return []
    due_rows = _DUE_ROWS if is_sqlite(app.settings.database_url) else _DUE_ROWS_LOCKED

    async def work(session: AsyncSession, _: Effects) -> tuple[list[_Claimed], list[Any]]:
        rows = (await selected(session, due_rows, {"now": now, "how_many": limit})).all()
        dead = [row for row in rows if row.unreachable_reason]
        # Known not to arrive (blocked the bot, mailbox gone): do not try again.
        await _update_rows(
            session,
            _SET_OUTBOX_ROW,
            [
                {"row_id": row.id, "status": OutboxStatus.DEAD, "last_error": _unreachable(row)}
                for row in dead
            ],
        )
        sending = [row for row in rows if not row.unreachable_reason]
        for row in sending:
            if row.leased_by is not None:
                await _mark_interrupted(session, row.id)
        if not sending:
            return [], dead
        lease = {
            "outbox_ids": [row.id for row in sending],
            "lease_holder": worker_id,
            "lease_end": now + timedelta(seconds=settings.lease_seconds),
        }
        attempt_ids = await _lease(session, lease, now)
        # Only a channel that threads replies by earlier channel ids (email's
        # References) needs them: the others' sends cost no statement for it.
        threading = [row for row in sending if _threads_by_reference(app, row.channel)]
        references = await _earlier_channel_ids(session, threading) if threading else {}
        claimed = [
            _Claimed(
                row.id,
                attempt_ids[row.id],
                row.attempts + 1,
                _render(app, row, references),
                row.identity_id,
                row.created_at,
            )
            for row in sending
        ]
        return claimed, dead

    # Grouped on SQLite: committed with the ingests waiting for the write lock, not in a
    # write transaction of its own between their groups.
    claimed, dead = await write(app, work, grouped=True)
    for row in dead:  # counted once committed
        _count_dead_letter(
            app, row.channel, row.id, row.message_id, attempt=row.attempts, error=_unreachable(row)
        )
    return claimed


def _unreachable(row: Any) -> str:
    """A claimed row's error when its recipient is known not to be reachable."""
    return f"not sent: recipient unreachable ({row.unreachable_reason})"


async def _lease(session: AsyncSession, lease: dict[str, Any], now: datetime) -> dict[int, int]:
    """Lease the rows and start an attempt on each, committed before anything is sent;
    return each row's attempt id by its outbox id."""
    connection = await transaction_connection(session)
    if connection.dialect.name == "postgresql":
        rows = await connection.execute(_LEASE_AND_ATTEMPTS, {**lease, "now": now})
        return {outbox_id: attempt_id for attempt_id, outbox_id in rows}
    ids = lease["outbox_ids"]
    holder, end = lease["lease_holder"], lease["lease_end"]
    await direct.execute_many(
        connection,
        _LEASE,
        [{"row_id": i, "lease_holder": holder, "lease_end": end} for i in ids],
    )
    attempt_ids = await connection.scalars(
        _NEW_ATTEMPTS,
        [{"outbox_id": outbox_id, "attempted_at": now, "outcome": SENDING} for outbox_id in ids],
    )
    return dict(zip(ids, attempt_ids, strict=True))


async def _mark_interrupted(session: AsyncSession, outbox_id: int) -> None:
    """The row's last claim never recorded an outcome: its worker died mid-send (or
    overran its lease), so the recipient may get this message twice."""
    await session.execute(
        update(DeliveryAttempt)
        .where(DeliveryAttempt.outbox_id == outbox_id, DeliveryAttempt.outcome == SENDING)
        .values(outcome=INTERRUPTED, error=_INTERRUPTED_ERROR)
    )


async def resume_interrupted(app: AppContext, presence: WorkerPresence) -> int:
    """Make the rows whose lease holder died mid-send claimable now; return how many.

    Run at a worker's start-up and every few seconds after, so what a dead process
    was sending goes out again at once rather than after the lease. Only rows whose
    holder's lock is free are touched: a living worker in another process keeps its rows.
    """
    now = utcnow()
    leased = and_(
        OutboxItem.status == OutboxStatus.PENDING,
        OutboxItem.leased_until.is_not(None),
        OutboxItem.leased_until >= now,
        OutboxItem.leased_by.is_not(None),
        OutboxItem.leased_by != presence.worker_id,
    )
    async with app.read_sessions() as session:
        holders = set(await session.scalars(select(OutboxItem.leased_by).where(leased).distinct()))
    if not holders:
        return 0

    async def work(session: AsyncSession, _: Effects) -> int:
        gone = await presence.gone(session, {h for h in holders if h is not None})
        if not gone:
            return 0
        # One UPDATE with the holder in its WHERE: a row another worker re-claimed in
        # the meantime has a new holder and is left alone (PostgreSQL re-checks the
        # WHERE on the newest row version). `leased_by` stays: the next claim marks the
        # cut-short attempt `interrupted`.
        result = await session.execute(
            update(OutboxItem)
            .where(leased, OutboxItem.leased_by.in_(gone))
            .values(leased_until=None, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    resumed = await write(app, work)
    if resumed:
        logger.warning(
            "outbox: %d send(s) cut short by a stopped worker are sent again now "
            "(a recipient may get one twice)",
            resumed,
        )
    return resumed


def _threads_by_reference(app: AppContext, channel: str) -> bool:
    return bool(getattr(app.adapters.get(channel), "threads_by_reference", False))


@dataclass(frozen=True, slots=True)
class _EarlierMessage:
    """A message of the thread on the channel, as a later reply's headers need it."""

    message_id: int
    external_id: str  # the channel's id (a mail's Message-ID)
    sender_authenticated: bool | None  # a customer's mail: whether its sender passed


# Built once (the claim runs for every wave of sends): the threads' and channels' ids
# go in at each run as expanding parameters.
_EARLIER_CHANNEL_IDS = (
    select(
        Message.thread_id,
        Message.channel,
        Message.id,
        Message.external_id,
        Message.sender_authenticated,
    )
    .where(
        Message.thread_id.in_(bindparam("thread_ids", expanding=True)),
        Message.channel.in_(bindparam("channels", expanding=True)),
        Message.external_id.is_not(None),
    )
    .order_by(Message.id)
)


async def _earlier_channel_ids(
    session: AsyncSession, rows: list[Any]
) -> dict[tuple[int, str], list[_EarlierMessage]]:
    """For each (thread, channel) of `rows` (claimed rows): its messages that have
    channel ids, in order of message id (a mail's References)."""
    connection = await transaction_connection(session)
    found = await connection.execute(
        _EARLIER_CHANNEL_IDS,
        {
            "thread_ids": sorted({row.thread_id for row in rows}),
            "channels": sorted({row.channel for row in rows}),
        },
    )
    by_thread: dict[tuple[int, str], list[_EarlierMessage]] = {}
    for thread_id, channel, message_id, external_id, authenticated in found:
        if external_id:
            by_thread.setdefault((thread_id, channel), []).append(
                _EarlierMessage(message_id, external_id, authenticated)
            )
    return by_thread


def _answers_unauthenticated(earlier: list[_EarlierMessage]) -> bool:
    """Whether the newest customer's mail among `earlier` that was checked failed the
    check (`sender_authenticated` is None for our own messages and unchecked mail)."""
    checked = [m.sender_authenticated for m in earlier if m.sender_authenticated is not None]
    return bool(checked) and checked[-1] is False


def _render(
    app: AppContext, row: Any, references: dict[tuple[int, str], list[_EarlierMessage]]
) -> OutboundMessage:
    """The outbound message of a claimed row (the columns `_DUE_ROWS` reads)."""
    earlier = [
        m for m in references.get((row.thread_id, row.channel), []) if m.message_id < row.message_id
    ]
    return OutboundMessage(
        outbox_id=row.id,
        message_id=row.message_id,
        thread_id=row.thread_id,
        channel=row.channel,
        address=row.address,
        text=row.text,
        author=AuthorKind(row.author_kind),
        author_name=row.author_name,
        suggestions=tuple(row.suggestions or ()),
        attachments=tuple(ref_from_json(a) for a in row.attachments or ()),
        language=row.message_language or row.thread_language,
        subject=row.message_subject or row.thread_subject,
        references=tuple(m.external_id for m in earlier),
        automated=bool(row.automated),
        parts_done=row.parts_done,
        # A proactive message carries its one-click unsubscribe link.
        unsubscribe_url=(
            unsubscribe_url(app.settings, row.outreach_customer_id, row.message_language)
            if row.outreach_customer_id is not None
            else None
        ),
        survey=survey_from_json(row.survey),
        link_question_id=row.link_question_id,
        answers_unauthenticated=_answers_unauthenticated(earlier),
    )


async def deliver_one(app: AppContext, claimed: _Claimed) -> DeliveryResult:
    """Send through the channel's adapter; an adapter exception counts as a retry."""
    message = claimed.message
    adapter = app.adapters.get(message.channel)
    if adapter is None:
        return DeliveryResult.retry(f"channel {message.channel!r} is not running")
    try:
        return await adapter.send(message)
    except Exception as exc:
        logger.exception(
            "adapter %s raised while sending outbox %d", message.channel, claimed.outbox_id
        )
        return DeliveryResult.retry(f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True, slots=True)
class _Record:
    """One attempt's outcome as it is written: the row's new values and final state."""

    claimed: _Claimed
    result: DeliveryResult
    row_values: dict[str, object]
    final: str
    last_error: str | None


def _record_of(
    app: AppContext, claimed: _Claimed, result: DeliveryResult, now: datetime
) -> _Record:
    row_values: dict[str, object] = {"leased_until": None, "leased_by": None}
    if result.parts_done is not None:
        row_values["parts_done"] = result.parts_done
    final: str = OutboxStatus.PENDING
    last_error = result.error
    if result.status == DeliveryStatus.DELIVERED:
        final, last_error = OutboxStatus.DELIVERED, None
        row_values.update(
            status=final, delivered_at=now, external_id=result.external_id, last_error=None
        )
        if result.seen:
            row_values["seen_at"] = now
    elif (
        result.status == DeliveryStatus.RETRY
        and (delay := _retry_delay(app, claimed, result, now)) is not None
    ):
        row_values.update(last_error=result.error, next_attempt_at=now + timedelta(seconds=delay))
    else:
        final = OutboxStatus.DEAD
        row_values.update(status=final, last_error=result.error)
    return _Record(claimed, result, row_values, final, last_error)


def _retry_policy(app: AppContext, channel: str) -> RetryPolicy | None:
    """The channel's own retry policy, if its adapter declares one (`RetryPolicy`)."""
    policy = getattr(app.adapters.get(channel), "retry_policy", None)
    return policy if isinstance(policy, RetryPolicy) else None


def _retry_delay(
    app: AppContext, claimed: _Claimed, result: DeliveryResult, now: datetime
) -> float | None:
    """Seconds until a temporary failure is tried again; None when it is given up on.

    The outbox's `max_attempts` (about three minutes of backoff) suits a chat API; a
    channel whose peer is a mail relay says how long it keeps trying (days, as mail
    servers do), and how far apart the tries may grow.
    """
    settings = app.settings.outbox
    policy = _retry_policy(app, claimed.message.channel)
    tries_spent = claimed.attempts >= settings.max_attempts
    if policy is None:
        if tries_spent:
            return None
        cap = settings.backoff_max
    else:
        waited = (now - claimed.queued_at).total_seconds()
        if tries_spent and waited >= policy.give_up_after:
            return None
        cap = policy.backoff_max
    return result.retry_after or backoff_delay(
        claimed.attempts, base=settings.backoff_base, cap=cap
    )


def by_row_id(model: Any, *where: ColumnElement[bool]) -> Any:
    """An UPDATE of `model`'s table by `row_id`, whose SET clause is the columns each
    parameter set names: run for many rows at once (executemany)."""
    table = model.__table__
    return update(table).where(table.c.id == bindparam("row_id"), *where)


_SET_IDENTITY = by_row_id(Identity)
_SET_FIRST_RESPONSE = by_row_id(Thread, Thread.__table__.c.first_response_at.is_(None))
_SET_CHANNEL_ID = by_row_id(Message, Message.__table__.c.external_id.is_(None))
# A delivery report can come back, and mark the row dead, before the record of its send
# (the relay passes mail on before its answer reaches us): the row stays as the report
# left it.
_SET_OUTBOX_ROW = by_row_id(OutboxItem, OutboxItem.__table__.c.status != OutboxStatus.DEAD)
_SET_ATTEMPT = by_row_id(DeliveryAttempt)


async def _update_rows(session: AsyncSession, statement: Any, rows: list[dict[str, Any]]) -> None:
    """Run `statement` for `rows` in their order: one executemany for each run of rows
    that set the same columns (an executemany's rows must all name the same ones)."""
    connection = await transaction_connection(session)
    for _, run in itertools.groupby(rows, key=dict.keys):
        await direct.execute_many(connection, statement, list(run))


async def _write_records(session: AsyncSession, records: list[_Record], now: datetime) -> None:
    """Written blind (UPDATE by id, nothing read back): the claims know all they need.

    Table by table, each in id order, in the order a customer merge locks rows
    (identities, threads, messages, outbox rows): a wave recorded beside a merge of
    the same thread waits for it instead of holding a row it wants and deadlocking.
    """
    unreachable = sorted(
        (r.claimed.identity_id, r.result.error or "unreachable")
        for r in records
        if r.result.identity_unreachable and r.claimed.identity_id is not None
    )
    delivered = [r for r in records if r.result.status == DeliveryStatus.DELIVERED]
    answered = sorted(
        {
            r.claimed.message.thread_id
            for r in delivered
            if r.claimed.message.author == AuthorKind.AGENT
        }
    )
    channel_ids = sorted(
        (r.claimed.message.message_id, r.result.external_id)
        for r in delivered
        if r.result.external_id
    )
    outbox_rows = [
        {"row_id": r.claimed.outbox_id, **r.row_values}
        for r in sorted(records, key=lambda r: r.claimed.outbox_id)
    ]
    attempts = [
        {"row_id": r.claimed.attempt_id, "outcome": r.result.status, "error": r.result.error}
        for r in sorted(records, key=lambda r: r.claimed.attempt_id)
    ]
    updates: list[tuple[Any, list[dict[str, Any]]]] = [
        (_SET_IDENTITY, [{"row_id": i, "unreachable_reason": why} for i, why in unreachable]),
        (_SET_FIRST_RESPONSE, [{"row_id": i, "first_response_at": now} for i in answered]),
        (_SET_CHANNEL_ID, [{"row_id": i, "external_id": e} for i, e in channel_ids]),
        (_SET_OUTBOX_ROW, outbox_rows),
        (_SET_ATTEMPT, attempts),
    ]
    for statement, rows in updates:
        await _update_rows(session, statement, rows)


async def record_results(app: AppContext, outcomes: list[tuple[_Claimed, DeliveryResult]]) -> None:
    """Write the attempts' outcomes and their rows' new states in one transaction."""
    now = utcnow()
    records = [_record_of(app, claimed, result, now) for claimed, result in outcomes]

    async def work(session: AsyncSession, _: Effects) -> None:
        await _write_records(session, records, now)

    await write(app, work, grouped=True)  # as the claim: with the waiting ingests
    for record in records:
        _count_recorded(app, record)


def _count_recorded(app: AppContext, record: _Record) -> None:
    message, claimed = record.claimed.message, record.claimed
    if record.final == OutboxStatus.DEAD:
        _count_dead_letter(
            app,
            message.channel,
            message.outbox_id,
            message.message_id,
            attempt=claimed.attempts,
            error=record.last_error,
        )
        return
    outcome = (
        DeliveryStatus.DELIVERED if record.final == OutboxStatus.DELIVERED else record.result.status
    )
    app.metrics.deliveries.labels(message.channel, outcome).inc()
    logger.info(
        "delivery outbox=%d message=%d channel=%s outcome=%s attempt=%d error=%s",
        claimed.outbox_id,
        message.message_id,
        message.channel,
        outcome,
        claimed.attempts,
        record.result.error,
    )


class _Recorder:
    """Records outcomes as their sends finish, several in one transaction when they
    finish while an earlier record is being written (a busy batch costs one write
    transaction per wave, not one per row; a lone send is recorded at once)."""

    def __init__(self, app: AppContext) -> None:
        self._app = app
        self._waiting: list[tuple[_Claimed, DeliveryResult, asyncio.Future[None]]] = []
        self._writing = False

    async def record(self, claimed: _Claimed, result: DeliveryResult) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((claimed, result, done))
        if not self._writing:
            self._writing = True
            wave: list[tuple[_Claimed, DeliveryResult, asyncio.Future[None]]] = []
            try:
                while self._waiting:
                    wave, self._waiting = self._waiting, []
                    await self._write(wave)
            except BaseException as exc:
                # Cancelled or failed: nobody else will write what is waiting; its
                # rows stay leased and are sent again when the lease runs out.
                for *_, waiting in [*wave, *self._waiting]:
                    if waiting.done():
                        continue
                    if isinstance(exc, Exception):
                        waiting.set_exception(exc)
                    else:
                        waiting.cancel()
                self._waiting = []
                if done.done() and not done.cancelled():
                    done.exception()  # raised here; not "never retrieved"
                raise
            finally:
                self._writing = False
        await done

    async def _write(
        self, wave: list[tuple[_Claimed, DeliveryResult, asyncio.Future[None]]]
    ) -> None:
        try:
            await record_results(self._app, [(claimed, result) for claimed, result, _ in wave])
        except Exception:
            if len(wave) == 1:
                raise
            # One row's outcome the database refuses must not lose the others': each
            # alone, so only that one is left to its lease.
            for claimed, result, done in wave:
                try:
                    await record_results(self._app, [(claimed, result)])
                except Exception as exc:
                    done.set_exception(exc)
                else:
                    done.set_result(None)
            return
        for *_, done in wave:
            done.set_result(None)


def _count_dead_letter(
    app: AppContext,
    channel: str,
    outbox_id: int,
    message_id: int,
    *,
    attempt: int,
    error: str | None,
) -> None:
    """A row given up on: its final state is counted and logged where people look."""
    app.metrics.deliveries.labels(channel, OutboxStatus.DEAD).inc()
    app.metrics.delivery_failures.labels(channel).inc()
    logger.warning(
        "delivery outbox=%d message=%d channel=%s outcome=dead attempt=%d error=%s",
        outbox_id,
        message_id,
        channel,
        attempt,
        error,
    )


async def run_once(app: AppContext, worker_id: int) -> int:
    """Deliver what is due now; return how many rows were attempted."""
    claimed = await claim_due(app, worker_id, app.settings.outbox.batch_size)
    recorder = _Recorder(app)

    # One row per recipient (its queue's head), so every row can go concurrently.
    async def deliver(item: _Claimed) -> None:
        await recorder.record(item, await deliver_one(app, item))

    await asyncio.gather(*(deliver(item) for item in claimed))
    return len(claimed)


async def outbox_depth(app: AppContext) -> int:
    """Rows still waiting for delivery."""
    async with app.read_sessions() as session:
        count = await session.scalar(
            select(func.count()).where(OutboxItem.status == OutboxStatus.PENDING)
        )
    return int(count or 0)


class OutboxWorker:
    """Runs `run_once` in a loop until stopped; wakes early when ingest queues mail.

    It holds its presence lock for its whole life and, before its first claim, resumes
    the sends that a stopped worker (this process's previous life, say) left half-done.
    """

    def __init__(self, app: AppContext, presence: WorkerPresence | None = None) -> None:
        self._app = app
        self._presence = presence or presence_for(app.engine, app.settings.data_dir)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("outbox worker already started")
        self._stopping.clear()
        with contextlib.suppress(Exception):
            # A database that is down at start-up must not stop the app from starting
            # (its health check says so); the loop takes the lock once it can.
            await self._presence.hold()
        self._task = asyncio.create_task(self._loop(), name="outbox:worker")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        self._app.outbox_wakeup.set()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None
        await self._presence.release()

    async def _hold_presence(self) -> bool:
        """Take this worker's lock, retrying while the database is unavailable; False
        when the worker was stopped first."""
        while not self._stopping.is_set():
            try:
                await self._presence.hold()
                return True
            except Exception as exc:
                logger.warning("outbox: cannot take the worker lock yet (%s); retrying", exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        self._stopping.wait(), self._app.settings.outbox.poll_interval
                    )
        return False

    async def _loop(self) -> None:
        app = self._app
        worker_id = self._presence.worker_id
        if not await self._hold_presence():
            return
        resumed_at = -_RESUME_EVERY
        while not self._stopping.is_set():
            # Cleared before the pass, not after: a row queued (or `stop` called) while
            # the pass runs sets it again, and the wait below returns at once instead of
            # leaving that row for the next poll.
            app.outbox_wakeup.clear()
            if time.monotonic() - resumed_at >= _RESUME_EVERY:
                # At start, and now and then after: a worker of another process that
                # died mid-send (SIGKILL, a lost machine) leaves leases this one takes
                # over within seconds rather than when they run out.
                resumed_at = time.monotonic()
                try:
                    await resume_interrupted(app, self._presence)
                except Exception:
                    logger.exception("outbox: could not check for interrupted sends")
            try:
                attempted = await run_once(app, worker_id)
            except Exception:
                logger.exception("outbox iteration failed; retrying after the poll interval")
                attempted = 0
            app.metrics.worker_passes.labels("outbox").inc()
            if attempted:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(app.outbox_wakeup.wait(), app.settings.outbox.poll_interval)
