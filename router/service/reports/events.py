"""Recording every state change of a thread, with its time, in the transaction that
makes it (the callers run inside `router.core.transaction.write`).

Each recorder adds one `ThreadEvent` row and computes what the event measures then, so
a report only aggregates rows (see docs/reports.md for each definition). Prometheus
histograms are observed only once the transaction commits: a rolled-back or retried
attempt observes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import event, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from router.context import AppContext
from router.core.messages import AuthorKind, Direction, utcnow
from router.service.calendars import business_minutes_between
from router.service.sla_threads import answering_calendar
from router.storage.core_rows import transaction_connection
from router.storage.models import Message, Thread, ThreadEvent, ThreadStatus

CREATED = "created"
HANDOFF = "handoff"
ASSIGNED = "assigned"
RELEASED = "released"
ESCALATED = "escalated"
RESPONSE = "response"
RESOLVED = "resolved"
REOPENED = "reopened"
BREACHED = "breached"
HELPED = "helped"
NOT_HELPED = "not_helped"

# The queue's audit actions, as the state change each one is.
_AUDITED = {
    "claim": ASSIGNED,
    "auto_assign": ASSIGNED,
    "transfer": ASSIGNED,
    "release": RELEASED,
    "requeue": RELEASED,
    "escalate": ESCALATED,
    "transfer_tier": RELEASED,  # down or sideways: back to a queue, not an escalation
}
_PENDING = "pasokh_reports_after_commit"


def _add(session: AsyncSession, thread: Thread, kind: str, **options: Any) -> ThreadEvent:
    """A new event of `thread` (`_event_values`), written by the session's flush."""
    row = ThreadEvent(**_event_values(thread, kind, **options))
    session.add(row)
    return row


def _event_values(
    thread: Thread,
    kind: str,
    *,
    actor_kind: str,
    agent_id: int | None = None,
    at: datetime | None = None,
    channel: str | None = None,
    tier: int | None = None,
    first: bool = False,
    seconds: float | None = None,
    replies: int | None = None,
    business_seconds: float | None = None,
    sla_met: bool | None = None,
) -> dict[str, Any]:
    """The columns of one event of `thread`, attributed as the thread is now."""
    return {
        "thread_id": thread.id,
        "at": at or utcnow(),
        "kind": kind,
        "actor_kind": actor_kind,
        "agent_id": agent_id,
        "tier": thread.tier if tier is None else tier,
        "channel": channel or thread.last_channel,
        "language": thread.language,
        "first": first,
        "seconds": seconds,
        "replies": replies,
        "business_seconds": business_seconds,
        "sla_met": sla_met,
    }


# Built once: it runs for a new thread's first message (see `record_ingest`).
_INSERT_EVENTS = insert(ThreadEvent)


async def _write_events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """`rows` written now by one prebuilt statement on the session's connection (one
    INSERT, or one batch of them): nothing reads them back in the transaction, and the
    ORM's flush of new objects cost more CPU than the statement."""
    if rows:
        await (await transaction_connection(session)).execute(_INSERT_EVENTS, rows)


def _after_commit(session: AsyncSession, observe: Callable[[], None]) -> None:
    """Run `observe` once this session's transaction commits (never on rollback)."""
    sync = session.sync_session
    pending: list[Callable[[], None]] | None = sync.info.get(_PENDING)
    if pending is None:
        pending = sync.info[_PENDING] = []

        def committed(_: Session) -> None:
            for done in sync.info.pop(_PENDING, []):
                done()

        def rolled_back(_: Session) -> None:
            sync.info.pop(_PENDING, None)

        event.listen(sync, "after_commit", committed, once=True)
        event.listen(sync, "after_soft_rollback", rolled_back, once=True)
    pending.append(observe)


async def _first_of(session: AsyncSession, thread: Thread, kind: str) -> datetime | None:
    at: datetime | None = await session.scalar(
        select(func.min(ThreadEvent.at)).where(
            ThreadEvent.thread_id == thread.id, ThreadEvent.kind == kind
        )
    )
    return at


async def _count(session: AsyncSession, thread: Thread, kind: str) -> int:
    return int(
        await session.scalar(
            select(func.count()).where(ThreadEvent.thread_id == thread.id, ThreadEvent.kind == kind)
        )
        or 0
    )


async def _resolved_by_agent(session: AsyncSession, thread: Thread) -> bool:
    """Whether an agent resolved `thread` before (the row being added is not flushed)."""
    found = await session.scalar(
        select(ThreadEvent.id)
        .where(
            ThreadEvent.thread_id == thread.id,
            ThreadEvent.kind == RESOLVED,
            ThreadEvent.first_by_agent.is_(True),
        )
        .limit(1)
    )
    return found is not None


async def resolutions(session: AsyncSession, thread: Thread) -> int:
    """How many times `thread` has been resolved (this transaction's resolution too)."""
    return await _count(session, thread, RESOLVED)


def _seconds(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds())


async def _business_seconds(
    app: AppContext, session: AsyncSession, thread: Thread, start: datetime, end: datetime
) -> float | None:
    """The seconds of [start, end) inside the hours of the thread's calendar (its SLA
    policy's, else the default one); None when the team keeps no hours."""
    calendar = await answering_calendar(
        app, session, thread, thread.last_channel or "", created=False
    )
    if calendar is None:
        return None
    return round(business_minutes_between(calendar, start, end) * 60, 1)


def _met(at: datetime, due: datetime | None) -> bool | None:
    """Whether `at` met the deadline in force (None: there was none)."""
    return None if due is None else at <= due


def record_created_by_us(session: AsyncSession, thread: Thread, *, channel: str) -> None:
    """A thread the service opened itself (a proactive message), so reports count it
    among the threads created, as they count those a customer opened."""
    _add(
        session, thread, CREATED, actor_kind="system", at=thread.created_at, channel=channel, tier=0
    )


async def record_ingest(
    app: AppContext,
    session: AsyncSession,
    thread: Thread,
    *,
    before: tuple[str, int],
    channel: str,
    created: bool,
    reopened: bool,
    helped: bool | None = None,
) -> None:
    """What a customer's message and the bot's decision on it did to `thread`:
    created or reopened it, answered the bot's "did this help?" (`helped`: yes, no, or
    None for no answer), handed it off (to the queue, or a higher tier), resolved it.

    `before` is the thread's (status, tier) after it was chosen, before the decision.
    """
    status, tier = before
    rows: list[dict[str, Any]] = []
    # Creation and hand-off count for the tier the thread was at (the bot's, 0), so a
    # report by tier shows the bot's hand-off rate among the threads it started with.
    if created:
        rows.append(
            _event_values(
                thread,
                CREATED,
                actor_kind="customer",
                at=thread.created_at,
                channel=channel,
                tier=tier,
            )
        )
    if reopened:
        rows.append(_event_values(thread, REOPENED, actor_kind="customer", channel=channel))
        await _flag_reopened(session, thread)
    if helped is not None:
        kind = HELPED if helped else NOT_HELPED
        rows.append(_event_values(thread, kind, actor_kind="customer", channel=channel, tier=tier))
    if thread.status == ThreadStatus.QUEUED and (status == ThreadStatus.BOT or thread.tier > tier):
        # A thread created in this transaction has no earlier hand-off to look for.
        first = created or await _first_of(session, thread, HANDOFF) is None
        rows.append(
            _event_values(
                thread, HANDOFF, actor_kind="bot", channel=channel, tier=tier, first=first
            )
        )
    await _write_events(session, rows)
    if thread.status == ThreadStatus.RESOLVED and status != ThreadStatus.RESOLVED:
        await record_resolution(app, session, thread, actor_kind="bot", agent_id=None)


async def _flag_reopened(session: AsyncSession, thread: Thread) -> None:
    """Mark the thread's resolutions as reopened, on their rows: the reopen and FCR
    rates then count flags instead of searching each resolution's later events."""
    await session.execute(
        update(ThreadEvent)
        .where(
            ThreadEvent.thread_id == thread.id,
            ThreadEvent.kind == RESOLVED,
            ThreadEvent.reopened.is_(False),
        )
        .values(reopened=True)
        .execution_options(synchronize_session=False)
    )


def record_audited(
    session: AsyncSession, thread: Thread, action: str, actor_id: int | None
) -> None:
    """The queue's assignment changes (claim, auto-assign, transfer, release, requeue,
    escalate), named by their audit action; other actions are not state changes."""
    kind = _AUDITED.get(action)
    if kind is None:
        return
    _add(
        session,
        thread,
        kind,
        actor_kind="agent" if actor_id is not None else "system",
        agent_id=thread.assignee_id if kind == ASSIGNED else actor_id,
    )


async def record_response(
    app: AppContext, session: AsyncSession, thread: Thread, message: Message
) -> None:
    """An agent's reply to the customer (never a note): the first response measures
    from the first hand-off (or the thread's creation); a later one from the oldest
    customer message since the previous reply (none waiting: no wait to measure).
    Call it before the SLA clocks stop: it reads the deadline the reply answers."""
    at = message.created_at
    previous = await session.scalar(
        select(func.max(ThreadEvent.at)).where(
            ThreadEvent.thread_id == thread.id, ThreadEvent.kind == RESPONSE
        )
    )
    start: datetime | None
    if previous is None:
        start = await _first_of(session, thread, HANDOFF) or thread.created_at
    else:
        start = await session.scalar(
            select(func.min(Message.created_at)).where(
                Message.thread_id == thread.id,
                Message.direction == Direction.INBOUND,
                Message.author_kind == AuthorKind.CUSTOMER,
                Message.automated.is_(False),  # an auto-reply waits for no answer
                Message.created_at > previous,
            )
        )
    seconds = business = None
    if start is not None:
        seconds = _seconds(start, at)
        business = await _business_seconds(app, session, thread, start, at)
    first = previous is None
    due = thread.first_response_due if first else thread.next_response_due
    row = _add(
        session,
        thread,
        RESPONSE,
        actor_kind="agent",
        agent_id=message.agent_id,
        at=at,
        channel=message.channel,
        first=first,
        seconds=seconds,
        business_seconds=business,
        sla_met=_met(at, due),
    )
    if first and seconds is not None:
        labels: dict[str, Any] = {"channel": row.channel or "none", "tier": str(row.tier)}
        _after_commit(
            session,
            lambda: app.metrics.first_response_seconds.labels(**labels).observe(seconds),
        )


async def record_resolution(
    app: AppContext,
    session: AsyncSession,
    thread: Thread,
    *,
    actor_kind: str,
    agent_id: int | None,
) -> None:
    """A resolution, by the bot or an agent: how long since the thread was created,
    how many agent replies it took, whether it is the thread's first. Call it before
    the SLA clocks pause: it reads the resolution deadline in force."""
    at = thread.resolved_at or utcnow()
    seconds = _seconds(thread.created_at, at)
    business = await _business_seconds(app, session, thread, thread.created_at, at)
    # The FCR and reopen rates are about the agents' work: a thread's first resolution
    # by an agent, even when the bot's "yes" closed it once before and the customer
    # went on asking (that reopen counts against the bot's containment only).
    first_by_agent = actor_kind == "agent" and not await _resolved_by_agent(session, thread)
    row = _add(
        session,
        thread,
        RESOLVED,
        actor_kind=actor_kind,
        agent_id=thread.assignee_id if thread.assignee_id is not None else agent_id,
        at=at,
        first=await _count(session, thread, RESOLVED) == 0,
        seconds=seconds,
        replies=await _count(session, thread, RESPONSE),
        business_seconds=business,
        sla_met=_met(at, thread.resolution_due),
    )
    row.first_by_agent = first_by_agent
    _after_commit(
        session, lambda: app.metrics.resolution_seconds.labels(by=actor_kind).observe(seconds)
    )


def record_merged(session: AsyncSession, thread: Thread, *, actor_kind: str) -> None:
    """`thread` closed by a merge of its customer into another (its messages moved to
    the survivor's thread): a resolution marked `merged`, so the thread counts as
    resolved, measuring nothing (no time, no replies, no deadline) and never one of
    the first resolutions the FCR, reopen and containment rates are about."""
    _add(
        session,
        thread,
        RESOLVED,
        actor_kind=actor_kind,
        agent_id=thread.assignee_id,
        at=thread.resolved_at,
    ).merged = True


def record_breach(session: AsyncSession, thread: Thread, at: datetime) -> None:
    """An SLA deadline of `thread` passed unmet (fired once per clock run)."""
    _add(session, thread, BREACHED, actor_kind="system", agent_id=thread.assignee_id, at=at)


async def record_reopened(session: AsyncSession, thread: Thread, *, actor_kind: str) -> None:
    """A resolved thread reopened by something other than a customer's message (a low
    survey answer sending it back to its agent)."""
    _add(session, thread, REOPENED, actor_kind=actor_kind, agent_id=thread.assignee_id)
    await _flag_reopened(session, thread)
