"""The human agent queue: who may see and work a thread, and every assignment change.

A claim is one conditional UPDATE (`... WHERE id = ? AND status = 'queued' AND
assignee_id IS NULL`) whose row count says who won: of two agents claiming one thread
at once exactly one succeeds, on PostgreSQL (the loser's UPDATE waits for the winner's
row lock, then re-checks the condition and matches nothing) and on SQLite (one writer
at a time). Every path that gives an agent a thread first locks that agent's row, so
the open-thread count read under the lock is exact and nobody is assigned above
`max_concurrent`. Locks are always taken agents first (in id order), then threads, so
two of these transactions never wait on each other in a cycle.

Every change is audited, published as an event after commit, and, when an agent
takes a thread, tells the customer who is with them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.core.events import AgentPresence, MessageStored, ThreadChanged
from router.core.languages import supported_language
from router.core.messages import AuthorKind, Direction, utcnow
from router.core.outbound_messages import enqueue_outbound
from router.core.transaction import Effects, write
from router.service import priority_rules, sla, sla_threads, surveys
from router.service.audit_trail import record_action
from router.service.reports.events import record_resolution
from router.service.tier_moves import tier_changed
from router.storage.column_sizes import column_limit
from router.storage.models import (
    OPEN_STATUSES,
    Agent,
    Customer,
    Identity,
    Message,
    Thread,
    ThreadStatus,
)

logger = logging.getLogger(__name__)

MAX_TIER = 3
PRESENCE_STATES = ("online", "away", "offline")


class QueueError(Exception):
    """An agent action that cannot be done; the message says why, for the agent.

    `code`: a stable word for the reason (the API's `error.code`), so a client shows
    its own words for it in its own language instead of guessing from the status."""

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class NotFound(QueueError):
    """No such thread, customer or agent."""


class Forbidden(QueueError):
    """The agent may not do this (another tier's thread, an admin-only action)."""


class Conflict(QueueError):
    """The thread's state does not allow it now (taken, resolved, agent at capacity)."""


class Invalid(QueueError):
    """The request names something impossible (a lower tier, an unknown agent)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """The agent acting (built by the HTTP layer from its principal)."""

    agent_id: int
    name: str
    tier: int
    is_admin: bool = False


@dataclass(frozen=True, slots=True)
class Assignment:
    """Auto-assignment gave `thread_id` to `agent_id`."""

    thread_id: int
    agent_id: int
    tier: int


def agent_tier(thread: Thread) -> int:
    """The tier whose agents work the thread: the bot's threads (tier 0) are the first
    tier's to watch and take over."""
    return working_tier(thread.tier)


def working_tier(tier: int) -> int:
    """`agent_tier` of a thread at `tier`."""
    return max(tier, 1)


def can_view(actor: Actor, thread: Thread) -> bool:
    """Admins see every thread; an agent sees their tier's threads (tier 1 also the
    bot's, see `agent_tier`) and their own.

    The one visibility rule: every path that shows a thread, its messages, notes or
    files (detail, earlier threads, customer, attachments, lists) applies it, here or
    as `visible_to` in SQL.
    """
    return sees_thread(actor, thread.tier, thread.assignee_id)


def sees_thread(actor: Actor, tier: int, assignee_id: int | None) -> bool:
    """`can_view` on a thread's tier and assignee alone (what its events carry)."""
    return actor.is_admin or working_tier(tier) == actor.tier or assignee_id == actor.agent_id


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """`can_view` as a condition on `Thread` rows, for queries."""
    if actor.is_admin:
        return true()
    tiers = (0, 1) if actor.tier == 1 else (actor.tier,)
    return or_(Thread.tier.in_(tiers), Thread.assignee_id == actor.agent_id)


def can_act(actor: Actor, thread: Thread) -> bool:
    """Who may change a thread: admins, its assignee, or its tier's agents while unassigned."""
    if actor.is_admin or thread.assignee_id == actor.agent_id:
        return True
    return thread.assignee_id is None and agent_tier(thread) == actor.tier


def language_of(thread: Thread, customer: Customer | None, default: str) -> str:
    """The language to speak to the customer in: fa, ar or en."""
    for candidate in (thread.language, customer.language if customer else None, default):
        short = (candidate or "").split("-")[0].split("_")[0].lower()
        if supported_language(short):
            return short
    return "en"


async def reply_language(app: AppContext, session: AsyncSession, thread: Thread) -> str:
    """The language an agent's reply is sent in (its mail's `lang`, `dir`, footer): the
    one our newest message in the thread carries (the bot picks it from what the
    customer wrote; email does not say), else the thread's, the customer's, the default."""
    spoken = await session.scalar(
        select(Message.language)
        .where(
            Message.thread_id == thread.id,
            Message.direction == Direction.OUTBOUND,
            Message.internal.is_(False),
            Message.language.is_not(None),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    known = spoken or thread.language
    if known:
        return known
    customer = await session.get(Customer, thread.customer_id)
    return (customer.language if customer else None) or app.settings.faq.default_language


# --- reading under lock -------------------------------------------------------------


async def _thread(session: AsyncSession, thread_id: int) -> Thread:
    thread = await session.get(Thread, thread_id)
    if thread is None:
        raise NotFound(f"thread {thread_id} does not exist")
    return thread


async def _lock_agents(session: AsyncSession, *where: Any) -> list[Agent]:
    # FOR UPDATE is a no-op on SQLite, where BEGIN IMMEDIATE already serialises writers.
    rows = await session.scalars(select(Agent).where(*where).order_by(Agent.id).with_for_update())
    return list(rows)


async def lock_agent(session: AsyncSession, agent_id: int) -> Agent:
    agents = await _lock_agents(session, Agent.id == agent_id)
    if not agents:
        raise NotFound(f"agent {agent_id} does not exist")
    return agents[0]


async def open_counts(session: AsyncSession, agent_ids: Iterable[int]) -> dict[int, int]:
    """How many assigned threads each agent holds now."""
    ids = list(agent_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(Thread.assignee_id, func.count())
        .where(Thread.status == ThreadStatus.ASSIGNED, Thread.assignee_id.in_(ids))
        .group_by(Thread.assignee_id)
    )
    return {int(agent_id): int(count) for agent_id, count in rows if agent_id is not None}


def _guard(thread: Thread) -> list[Any]:
    """WHERE clauses that match the thread only if nobody changed it since we read it."""
    assignee = (
        Thread.assignee_id.is_(None)
        if thread.assignee_id is None
        else Thread.assignee_id == thread.assignee_id
    )
    return [
        Thread.id == thread.id,
        Thread.status == thread.status,
        Thread.tier == thread.tier,
        assignee,
    ]


async def _conditional_update(
    session: AsyncSession, thread: Thread, where: list[Any], **values: Any
) -> bool:
    """UPDATE the thread only where `where` still holds; refresh it; True if it did."""
    values.setdefault("updated_at", utcnow())
    result = await session.execute(
        update(Thread).where(*where).values(**values).execution_options(synchronize_session=False)
    )
    await session.refresh(thread)
    return bool(getattr(result, "rowcount", 0) == 1)


def _audit(
    session: AsyncSession,
    thread: Thread,
    action: str,
    *,
    actor: Actor | None,
    **details: Any,
) -> None:
    record_action(
        session, thread, action, actor_id=actor.agent_id if actor is not None else None, **details
    )


def _changed(effects: Effects, thread: Thread) -> None:
    effects.events.append(
        ThreadChanged(thread.id, thread.customer_id, thread.status, thread.tier, thread.assignee_id)
    )


async def _tell_customer_who(
    app: AppContext, session: AsyncSession, effects: Effects, thread: Thread, agent: Agent
) -> None:
    """A system message naming the agent, on the channel the customer last wrote from."""
    customer = await session.get(Customer, thread.customer_id)
    language = language_of(thread, customer, app.settings.faq.default_language)
    identity = (
        await session.get(Identity, thread.last_identity_id)
        if thread.last_identity_id is not None
        else None
    )
    if identity is not None and identity.unreachable_reason:
        identity = None  # keep it in the thread; nobody to send it to
    elif identity is not None and identity.channel == app.roles.mail:
        # In a chat it is a line on the screen; by mail it would be a mail of its own for
        # every claim, transfer and escalation (help desks send none). The agent's reply
        # comes from their name anyway; the line stays in the thread.
        identity = None
    message = await enqueue_outbound(
        session,
        thread=thread,
        identity=identity,
        text=app.texts.text("agent_joined", language, agent_name=agent.name),
        author=AuthorKind.SYSTEM,
        author_name=agent.name,
        language=language,
    )
    effects.events.append(
        MessageStored(message.id, thread.id, thread.customer_id, AuthorKind.SYSTEM)
    )
    effects.outbound = effects.outbound or identity is not None


async def _give(
    app: AppContext,
    session: AsyncSession,
    effects: Effects,
    thread: Thread,
    agent: Agent,
    where: list[Any],
    *,
    announce: bool = True,
    **values: Any,
) -> bool:
    """Assign `thread` to the locked `agent` if `where` still holds and they have room
    (`values`: other columns set in the same UPDATE); `announce`: tell the customer who
    answers now."""
    if agent.deactivated_at is not None:
        raise Conflict(f"{agent.name} is deactivated")
    counts = await open_counts(session, [agent.id])
    if counts.get(agent.id, 0) >= agent.max_concurrent:
        raise Conflict(
            f"{agent.name} is at capacity ({agent.max_concurrent} open threads)",
            code="at_capacity",
        )
    now = utcnow()
    taken = await _conditional_update(
        session,
        thread,
        where,
        status=ThreadStatus.ASSIGNED,
        assignee_id=agent.id,
        assigned_at=now,
        updated_at=now,
        **values,
    )
    if taken:
        if announce:
            await _tell_customer_who(app, session, effects, thread, agent)
        _changed(effects, thread)
    return taken


async def _holder_name(session: AsyncSession, thread: Thread) -> str:
    if thread.assignee_id is None:
        return "nobody"
    holder = await session.get(Agent, thread.assignee_id)
    return holder.name if holder is not None else f"agent {thread.assignee_id}"


# --- agent actions ------------------------------------------------------------------


async def take(
    app: AppContext,
    session: AsyncSession,
    effects: Effects,
    actor: Actor,
    agent: Agent,
    thread: Thread,
    *,
    announce: bool = True,
) -> None:
    """Give `thread` to the acting, locked `agent`: a queued thread (a claim) or one the
    bot is handling (a take-over: the bot stays silent on it while it is assigned).
    Taking one's own thread again is a no-op. `announce`: tell the customer who answers
    now (not when the agent's own reply follows at once and says so).

    Raises:
        Forbidden (another tier), Conflict (taken, not waiting, at capacity).
    """
    if not (actor.is_admin or agent_tier(thread) == actor.tier):
        raise Forbidden(
            f"thread {thread.id} is at tier {agent_tier(thread)}; you work tier {actor.tier}"
        )
    if thread.status == ThreadStatus.ASSIGNED and thread.assignee_id == actor.agent_id:
        return
    if thread.status not in (ThreadStatus.QUEUED, ThreadStatus.BOT):
        if thread.status == ThreadStatus.ASSIGNED:
            raise Conflict(
                f"thread {thread.id} is taken by {await _holder_name(session, thread)}",
                code="taken",
            )
        raise Conflict(
            f"thread {thread.id} is not waiting in the queue (it is {thread.status})",
            code="not_waiting",
        )
    from_status = thread.status
    where = [
        Thread.id == thread.id,
        Thread.status == from_status,
        Thread.assignee_id.is_(None),
    ]
    if not await _give(app, session, effects, thread, agent, where, announce=announce):
        # Another claim committed between our read and our UPDATE (PostgreSQL).
        logger.debug("claim of thread %d by agent %d lost the race", thread.id, agent.id)
        raise Conflict(
            f"thread {thread.id} is taken by {await _holder_name(session, thread)}",
            code="taken",
        )
    if agent.presence == "offline":
        # Taking work means being at work: an offline claimer would lose it to the sweep.
        agent.presence = "online"
        agent.presence_changed_at = utcnow()
        effects.events.append(AgentPresence(agent.id, "online"))
    _audit(session, thread, "claim", actor=actor, tier=thread.tier, from_status=from_status)
    if from_status == ThreadStatus.BOT:
        await sla_threads.status_changed(app, session, thread)  # people owe an answer now


async def claim(app: AppContext, actor: Actor, thread_id: int) -> Thread:
    """Take a queued thread, or one the bot is handling (see `take`).

    Raises:
        NotFound, Forbidden (another tier), Conflict (taken, not waiting, at capacity).
    """

    async def work(session: AsyncSession, effects: Effects) -> Thread:
        agent = await lock_agent(session, actor.agent_id)
        thread = await _thread(session, thread_id)
        await take(app, session, effects, actor, agent, thread)
        return thread

    return await write(app, work)


async def release(app: AppContext, actor: Actor, thread_id: int) -> Thread:
    """Give an assigned thread back (its assignee or an admin): to its tier's queue, or
    to the bot when it was the bot's thread taken over (tier 0)."""

    async def work(session: AsyncSession, effects: Effects) -> Thread:
        thread = await _thread(session, thread_id)
        _require_view(actor, thread)
        if thread.status != ThreadStatus.ASSIGNED:
            raise Conflict(f"thread {thread_id} is not assigned (it is {thread.status})")
        if thread.assignee_id != actor.agent_id and not actor.is_admin:
            raise Forbidden(f"thread {thread_id} is {await _holder_name(session, thread)}'s")
        previous = thread.assignee_id
        to_bot = thread.tier == 0
        if not await _conditional_update(
            session,
            thread,
            _guard(thread),
            status=ThreadStatus.BOT if to_bot else ThreadStatus.QUEUED,
            assignee_id=None,
            # Keep its place: the customer has been waiting since it first queued.
            queued_at=None if to_bot else thread.queued_at or utcnow(),
        ):
            raise Conflict(f"thread {thread_id} changed meanwhile; reload it", code="changed")
        _audit(session, thread, "release", actor=actor, from_agent_id=previous, to_bot=to_bot)
        if to_bot:
            await sla_threads.status_changed(app, session, thread)
        _changed(effects, thread)
        return thread

    return await write(app, work)


async def _thread_to_act_on(session: AsyncSession, actor: Actor, thread_id: int) -> Thread:
    """The thread, if `actor` may see it and act on it (Forbidden/NotFound otherwise)."""
    thread = await _thread(session, thread_id)
    _require_view(actor, thread)
    if not can_act(actor, thread):
        raise Forbidden(f"thread {thread_id} is {await _holder_name(session, thread)}'s")
    return thread


async def transfer(app: AppContext, actor: Actor, thread_id: int, email: str) -> Thread:
    """Give the thread to the agent with `email` (who must have room). An agent of
    another tier takes the thread to their tier; the SLA clocks run on (they belong to
    the customer's wait, not to who holds it)."""

    async def work(session: AsyncSession, effects: Effects) -> Thread:
        address = email.strip().lower()
        found = await session.scalar(select(Agent.id).where(func.lower(Agent.email) == address))
        if found is None:
            raise NotFound(f"no agent has the email {email[:320]!r}")
        target = await lock_agent(session, found)
        thread = await _thread_to_act_on(session, actor, thread_id)
        if thread.status not in (ThreadStatus.QUEUED, ThreadStatus.ASSIGNED):
            raise Conflict(
                f"only queued or assigned threads can be transferred (it is {thread.status})"
            )
        if thread.assignee_id == target.id:
            return thread
        previous = (thread.tier, thread.assignee_id)
        guard = _guard(thread)
        tier = thread.tier if target.is_admin else target.tier
        if not await _give(app, session, effects, thread, target, guard, tier=tier):
            raise Conflict(f"thread {thread_id} changed meanwhile; reload it", code="changed")
        _audit(
            session,
            thread,
            "transfer",
            actor=actor,
            from_agent_id=previous[1],
            to_agent_id=target.id,
            to_email=target.email,
            from_tier=previous[0],
            to_tier=tier,
        )
        if tier != previous[0]:
            await sla_threads.status_changed(app, session, thread)  # a tier's policy may differ
        return thread

    return await write(app, work)


async def _queue_at_tier(
    app: AppContext,
    session: AsyncSession,
    effects: Effects,
    actor: Actor,
    thread: Thread,
    tier: int,
    reason: str,
    **values: Any,
) -> Thread:
    """Queue `thread`, unassigned, at `tier` (`values`: the other columns set)."""
    previous = (thread.tier, thread.assignee_id)
    if not await _conditional_update(
        session,
        thread,
        _guard(thread),
        status=ThreadStatus.QUEUED,
        tier=tier,
        assignee_id=None,
        **values,
    ):
        raise Conflict(f"thread {thread.id} changed meanwhile; reload it", code="changed")
    await tier_changed(
        app,
        session,
        thread,
        from_tier=previous[0],
        from_agent_id=previous[1],
        reason=reason,
        actor_id=actor.agent_id if actor is not None else None,
    )
    _changed(effects, thread)
    return thread


async def transfer_to_tier(
    app: AppContext, actor: Actor, thread_id: int, tier: int, reason: str | None = None
) -> Thread:
    """Queue the thread, unassigned, at another tier, higher or lower; the customer keeps
    their place (`queued_at`) and the SLA clocks run on. Up is an escalation (audited as
    one); down or sideways a transfer."""
    if not 1 <= tier <= MAX_TIER:
        raise Invalid(f"tier must be 1 to {MAX_TIER}")
    reason = (reason or "").strip()
    if len(reason) > 1000:
        raise Invalid("the reason must be at most 1000 characters")

    async def work(session: AsyncSession, effects: Effects) -> Thread:
        thread = await _thread_to_act_on(session, actor, thread_id)
        if thread.status not in (ThreadStatus.QUEUED, ThreadStatus.ASSIGNED):
            raise Conflict(
                f"only queued or assigned threads can be transferred (it is {thread.status})"
            )
        if thread.tier == tier and thread.status == ThreadStatus.QUEUED:
            return thread
        queued_at = thread.queued_at or utcnow()
        return await _queue_at_tier(
            app, session, effects, actor, thread, tier, reason, queued_at=queued_at
        )

    return await write(app, work)


async def escalate(app: AppContext, actor: Actor, thread_id: int, tier: int, reason: str) -> Thread:
    """Move the thread, unassigned, to the queue of a higher tier, with a reason."""
    reason = reason.strip()
    if not reason:
        raise Invalid("a reason is required to escalate")
    if len(reason) > 1000:
        raise Invalid("the reason must be at most 1000 characters")

    async def work(session: AsyncSession, effects: Effects) -> Thread:
        thread = await _thread_to_act_on(session, actor, thread_id)
        if thread.status not in OPEN_STATUSES:
            raise Conflict(f"thread {thread_id} is {thread.status}")
        if not tier <= MAX_TIER:
            raise Invalid(f"tier must be at most {MAX_TIER}")
        if not thread.tier < tier:  # the thread's state, not the request, forbids it
            raise Conflict(
                f"thread {thread_id} is at tier {thread.tier} already; escalate above it"
            )
        now = utcnow()
        return await _queue_at_tier(
            app,
            session,
            effects,
            actor,
            thread,
            tier,
            reason,
            queued_at=now,
            updated_at=now,
        )

    return await write(app, work)


async def resolve(
    app: AppContext,
    actor: Actor,
    thread_id: int,
    resolution: str = "resolved",
    *,
    survey: bool | None = None,
) -> Thread:
    """Close an open thread; a customer writing within the reopen window reopens it.

    `survey`: ask the customer how it went (None: as configured; the rules of
    `router.service.surveys` decide whether one is sent)."""
    resolution = resolution.strip() or "resolved"
    if len(resolution) > column_limit(Thread.resolution):
        raise Invalid(f"resolution must be at most {column_limit(Thread.resolution)} characters")

    async def work(session: AsyncSession, effects: Effects) -> Thread:
        thread = await _thread_to_act_on(session, actor, thread_id)
        if thread.status not in OPEN_STATUSES:
            raise Conflict(f"thread {thread_id} is already {thread.status}", code="resolved")
        now = utcnow()
        if not await _conditional_update(
            session,
            thread,
            _guard(thread),
            status=ThreadStatus.RESOLVED,
            resolution=resolution,
            resolved_at=now,
            updated_at=now,
        ):
            raise Conflict(f"thread {thread_id} changed meanwhile; reload it", code="changed")
        _audit(session, thread, "resolve", actor=actor, resolution=resolution)
        await record_resolution(app, session, thread, actor_kind="agent", agent_id=actor.agent_id)
        await sla_threads.status_changed(app, session, thread)
        await surveys.offer_after_resolution(
            app,
            session,
            effects,
            thread,
            wanted=survey,
            language=await reply_language(app, session, thread),
        )
        _changed(effects, thread)
        return thread

    return await write(app, work)


async def set_priority(app: AppContext, actor: Actor, thread_id: int, priority: str) -> Thread:
    """Set the thread's priority (urgent, high, normal, low); its deadlines follow."""
    if priority not in sla.PRIORITIES:
        raise Invalid(f"priority must be one of {', '.join(sla.PRIORITIES)}")

    async def work(session: AsyncSession, effects: Effects) -> Thread:
        thread = await _thread_to_act_on(session, actor, thread_id)
        await _change_priority(app, session, effects, thread, priority, actor=actor)
        return thread

    return await write(app, work)


async def apply_priority_rules(
    app: AppContext, session: AsyncSession, effects: Effects, customer_id: int
) -> None:
    """After the customer's tags changed: raise each open thread to the strongest matching
    priority rule's priority, unless an agent set its priority by hand (a rule never
    lowers a priority, and a manual choice sticks)."""
    rules = app.settings.service.priority_rules
    if not rules:
        return
    threads = await session.scalars(
        select(Thread)
        .where(Thread.customer_id == customer_id, Thread.status.in_(OPEN_STATUSES))
        .order_by(Thread.id)
        .with_for_update()
    )
    for thread in list(threads):
        match = await priority_rules.rule_for(rules, session, thread, thread.last_channel)
        if match is None or sla.priority_rank(match.priority) <= thread.priority:
            continue
        if await priority_rules.set_by_hand(session, thread.id):
            continue
        await _change_priority(
            app, session, effects, thread, match.priority, actor=None, reason=match.reason
        )


async def _change_priority(
    app: AppContext,
    session: AsyncSession,
    effects: Effects,
    thread: Thread,
    priority: str,
    *,
    actor: Actor | None,
    reason: str | None = None,
) -> None:
    """The one priority change: store it, recompute the deadlines, audit who or which
    rule changed it."""
    before = sla.priority_name(thread.priority)
    if before == priority:
        return
    thread.priority = sla.priority_rank(priority)
    thread.updated_at = utcnow()
    await sla_threads.recompute(app, session, thread)
    because = {"reason": reason} if reason is not None else {}
    _audit(session, thread, "priority", actor=actor, before=before, after=priority, **because)
    _changed(effects, thread)


async def set_pending(app: AppContext, actor: Actor, thread_id: int, pending: bool) -> Thread:
    """Mark the thread as waiting on the customer (its clocks pause), or not any more."""

    async def work(session: AsyncSession, effects: Effects) -> Thread:
        thread = await _thread_to_act_on(session, actor, thread_id)
        if thread.status not in (ThreadStatus.QUEUED, ThreadStatus.ASSIGNED):
            raise Conflict(
                f"only threads with people can wait on the customer (it is {thread.status})"
            )
        if sla_threads.is_pending(thread) == pending:
            return thread
        thread.updated_at = utcnow()
        await sla_threads.set_pending(app, session, thread, pending)
        _audit(session, thread, "pending" if pending else "pending_end", actor=actor)
        _changed(effects, thread)
        return thread

    return await write(app, work)


def _require_view(actor: Actor, thread: Thread) -> None:
    if not can_view(actor, thread):
        raise Forbidden(f"thread {thread.id} is at tier {thread.tier}; you work tier {actor.tier}")


# --- presence -----------------------------------------------------------------------


async def set_presence(app: AppContext, agent_id: int, status: str) -> Agent:
    """Mark the agent online, away or offline (the console calls this on connect/close)."""
    if status not in PRESENCE_STATES:
        raise Invalid(f"presence must be one of {', '.join(PRESENCE_STATES)}")

    async def work(session: AsyncSession, effects: Effects) -> Agent:
        agent = await lock_agent(session, agent_id)
        if agent.presence != status:
            agent.presence = status
            agent.presence_changed_at = utcnow()
            effects.events.append(AgentPresence(agent.id, status))
        return agent

    return await write(app, work)


async def requeue_from_offline_agents(app: AppContext, *, now: datetime | None = None) -> list[int]:
    """Return to the queue the unanswered threads of agents offline for longer than the
    grace period; answered ones stay (the customer is not waiting on anybody).

    A thread is unanswered when no agent reply is newer than the customer's last message.
    """
    cutoff = (now or utcnow()) - timedelta(seconds=app.settings.threads.offline_grace_seconds)

    async def work(session: AsyncSession, effects: Effects) -> list[int]:
        agent_ids = list(
            await session.scalars(
                select(Agent.id).where(
                    Agent.presence == "offline",
                    Agent.presence_changed_at.is_not(None),
                    Agent.presence_changed_at <= cutoff,
                )
            )
        )
        if not agent_ids:
            return []
        threads = list(
            await session.scalars(
                select(Thread).where(
                    Thread.status == ThreadStatus.ASSIGNED, Thread.assignee_id.in_(agent_ids)
                )
            )
        )
        if not threads:
            return []
        rows = await session.execute(
            select(Message.thread_id, func.max(Message.created_at))
            .where(
                Message.thread_id.in_([t.id for t in threads]),
                Message.direction == Direction.OUTBOUND,
                Message.author_kind == AuthorKind.AGENT,
                Message.internal.is_(False),
            )
            .group_by(Message.thread_id)
        )
        replies = {thread_id: at for thread_id, at in rows}
        requeued = []
        for thread in threads:
            last_reply = replies.get(thread.id)
            waiting = last_reply is None or (
                thread.last_customer_message_at is not None
                and thread.last_customer_message_at > last_reply
            )
            if not waiting:
                continue
            previous = thread.assignee_id
            if await _conditional_update(
                session,
                thread,
                _guard(thread),
                status=ThreadStatus.QUEUED,
                assignee_id=None,
                queued_at=thread.queued_at or utcnow(),
            ):
                _audit(
                    session,
                    thread,
                    "requeue",
                    actor=None,
                    reason="agent offline",
                    from_agent_id=previous,
                )
                _changed(effects, thread)
                requeued.append(thread.id)
        return requeued

    # Nearly always there is nothing to do: find that out without the write lock.
    async with app.read_sessions() as session:
        anything = await session.scalar(
            select(Thread.id)
            .join(Agent, Agent.id == Thread.assignee_id)
            .where(
                Thread.status == ThreadStatus.ASSIGNED,
                Agent.presence == "offline",
                Agent.presence_changed_at.is_not(None),
                Agent.presence_changed_at <= cutoff,
            )
            .limit(1)
        )
    if anything is None:
        return []
    requeued = await write(app, work)
    if requeued:
        logger.info("returned %d threads of offline agents to the queue", len(requeued))
    return requeued


async def requeue_agent_threads(
    session: AsyncSession, effects: Effects, agent_id: int, *, actor: Actor, reason: str
) -> list[int]:
    """Return every thread `agent_id` holds to its tier's queue, keeping its place
    (an agent leaving the team: nobody else would ever answer those customers)."""
    threads = list(
        await session.scalars(
            select(Thread).where(
                Thread.status == ThreadStatus.ASSIGNED, Thread.assignee_id == agent_id
            )
        )
    )
    requeued = []
    for thread in threads:
        if await _conditional_update(
            session,
            thread,
            _guard(thread),
            status=ThreadStatus.QUEUED,
            assignee_id=None,
            queued_at=thread.queued_at or utcnow(),
        ):
            _audit(session, thread, "requeue", actor=actor, reason=reason, from_agent_id=agent_id)
            _changed(effects, thread)
            requeued.append(thread.id)
    return requeued


# --- auto-assignment ----------------------------------------------------------------


async def auto_assign(
    app: AppContext, tiers: Iterable[int] = (1, 2, 3), *, limit: int = 200
) -> list[Assignment]:
    """Give queued threads to online agents, most free capacity first, never above it.

    One transaction per assignment holds the row locks of the tier's online agents, so
    concurrent assigners (several processes) count and assign one at a time.
    """
    done: list[Assignment] = []
    for tier in tiers:
        for _ in range(limit):

            async def work(session: AsyncSession, effects: Effects, tier: int = tier) -> object:
                return await _assign_next(app, session, effects, tier)

            outcome = await write(app, work)
            if outcome is None:
                break
            if isinstance(outcome, Assignment):
                done.append(outcome)
    return done


_LOST_RACE = object()


async def _assign_next(
    app: AppContext, session: AsyncSession, effects: Effects, tier: int
) -> Assignment | object | None:
    agents = await _lock_agents(
        session, Agent.tier == tier, Agent.presence == "online", Agent.deactivated_at.is_(None)
    )
    if not agents:
        return None
    counts = await open_counts(session, [a.id for a in agents])
    best = max(
        agents,
        key=lambda a: (a.max_concurrent - counts.get(a.id, 0), -counts.get(a.id, 0), -a.id),
    )
    if best.max_concurrent - counts.get(best.id, 0) <= 0:
        return None
    thread = await session.scalar(
        select(Thread)
        .where(
            Thread.status == ThreadStatus.QUEUED,
            Thread.tier == tier,
            Thread.assignee_id.is_(None),
        )
        .order_by(Thread.priority.desc(), Thread.queued_at, Thread.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if thread is None:
        return None
    where = [
        Thread.id == thread.id,
        Thread.status == ThreadStatus.QUEUED,
        Thread.assignee_id.is_(None),
    ]
    if not await _give(app, session, effects, thread, best, where):
        return _LOST_RACE
    _audit(session, thread, "auto_assign", actor=None, agent_id=best.id, tier=tier)
    return Assignment(thread.id, best.id, tier)
