"""The SLA clocks applied to thread rows, inside the caller's write transaction.

The write paths call one function each: `customer_wrote` (ingest), `agent_replied`
(replies), `status_changed` (escalate, resolve, pending), `recompute` (priority). Each
reads the thread's clock state, moves it on with `router.service.sla`, stores the
deadlines on the thread and replaces its unfired alarms. A calendar or policy change
only marks the threads it may move (`sla_stale`); the SLA scheduler recomputes them in
batches (`recompute_stale_threads`), so an admin's PUT costs one statement.

Calendars and policies come from the TOML settings (`[service.calendars.NAME]`,
`[service.policies.NAME]`) and from the tables the admin API writes; a stored one wins
over a configured one of the same name.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import delete, exists, literal, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.core.transaction import Effects, write
from router.service import priority_rules, sla
from router.service.calendars import (
    BusinessCalendar,
    CalendarError,
    calendar_from_json,
    calendar_to_json,
)
from router.storage.core_rows import selected
from router.storage.models import (
    AuditEvent,
    Message,
    SlaAlarm,
    SlaCalendar,
    SlaPolicy,
    Thread,
    ThreadStatus,
)

logger = logging.getLogger(__name__)

# Statuses in which people owe the customer something: the clocks may run.
_HUMAN_STATUSES = (ThreadStatus.QUEUED, ThreadStatus.ASSIGNED)
# Threads recomputed per transaction after a calendar or policy change.
STALE_BATCH = 50


@dataclass(frozen=True, slots=True)
class ServiceLevels:
    """Every calendar and policy in force (configured, overridden by stored ones)."""

    calendars: dict[str, BusinessCalendar]
    policies: tuple[sla.SlaPolicy, ...]

    def measure(self, policy: sla.SlaPolicy | None) -> sla.Measure:
        if policy is None or not policy.business_hours or policy.calendar is None:
            return sla.Measure(None)
        calendar = self.calendars.get(policy.calendar)
        if calendar is None:
            # A policy naming a missing calendar counts wall-clock time rather than none.
            logger.warning("SLA policy %s names unknown calendar %s", policy.name, policy.calendar)
        return sla.Measure(calendar)


# Where `service_levels` keeps what it read, with the transaction it read it in.
_LEVELS_KEY = "pasokh_service_levels"
# Every stored calendar and policy; built once, as it runs in every ingest.
_STORED_LEVELS = select(
    union_all(
        select(literal("calendar").label("kind"), SlaCalendar.name, SlaCalendar.body),
        select(literal("policy").label("kind"), SlaPolicy.name, SlaPolicy.body),
    ).subquery()
)


async def service_levels(app: AppContext, session: AsyncSession) -> ServiceLevels:
    """The configured calendars and policies, with the stored ones over them.

    Read with one statement, once per transaction: an ingest asks for them up to three
    times (the bot's calendar, the clocks, a hand-off's report). Nothing is kept longer,
    so a definition stored by any process is in force from the next transaction on.
    """
    kept = _kept_levels(session)
    if kept is not None:
        return kept
    return keep_service_levels(app, session, list(await selected(session, _STORED_LEVELS)))


def _kept_levels(session: AsyncSession) -> ServiceLevels | None:
    """The levels `session`'s transaction read already, if it did."""
    read = session.info.get(_LEVELS_KEY)
    if read is not None and read[0] is session.sync_session.get_transaction():
        return cast(ServiceLevels, read[1])
    return None


def service_levels_read(session: AsyncSession) -> Any | None:
    """The statement `service_levels` reads with, for a caller that reads it with
    others in one statement (`router.storage.core_rows.selected_together`) and hands
    its rows to `keep_service_levels`; None when this transaction read them already."""
    return None if _kept_levels(session) is not None else _STORED_LEVELS


def keep_service_levels(
    app: AppContext, session: AsyncSession, stored: Sequence[Sequence[Any]]
) -> ServiceLevels:
    """The levels in force given the `stored` rows (kind, name, body) of the statement
    `service_levels` reads, kept for the rest of `session`'s transaction."""
    calendar_bodies: dict[str, Any] = dict(app.settings.service.calendars)
    policy_bodies: dict[str, Any] = dict(app.settings.service.policies)
    for kind, name, body in stored:
        (calendar_bodies if kind == "calendar" else policy_bodies)[name] = body
    calendars = {}
    for name, body in calendar_bodies.items():
        try:
            calendars[name] = calendar_from_json(name, body)
        except CalendarError as exc:
            logger.error("calendar %s is unusable and ignored: %s", name, exc)
    policies = []
    for name, body in sorted(policy_bodies.items()):
        try:
            policies.append(sla.policy_from_json(name, body))
        except sla.PolicyError as exc:
            logger.error("SLA policy %s is unusable and ignored: %s", name, exc)
    levels = ServiceLevels(calendars, tuple(policies))
    session.info[_LEVELS_KEY] = (session.sync_session.get_transaction(), levels)
    return levels


async def answering_calendar(
    app: AppContext, session: AsyncSession, thread: Thread, channel: str, created: bool
) -> BusinessCalendar | None:
    """The hours of the people `thread` goes to (its tier, tier 1 for a bot thread): its
    SLA policy's calendar, else `[service] default_calendar`, else None (no hours kept).
    A thread created by this message is judged at the priority it starts with."""
    priority = (await starting_priority(app, session, thread, channel))[0] if created else None
    return await _calendar_of(
        app,
        session,
        priority=priority or sla.priority_name(thread.priority),
        tier=max(thread.tier, 1),
        channel=channel,
    )


async def channel_calendar(
    app: AppContext, session: AsyncSession, channel: str
) -> BusinessCalendar | None:
    """The hours of the people a new thread of `channel` would go to: tier 1, at the
    priority the channel gives it (as `answering_calendar` judges a new thread)."""
    priority = _channel_priority(app, channel) or app.settings.service.default_priority
    return await _calendar_of(app, session, priority=priority, tier=1, channel=channel)


async def _calendar_of(
    app: AppContext, session: AsyncSession, *, priority: str, tier: int, channel: str
) -> BusinessCalendar | None:
    levels = await service_levels(app, session)
    policy = sla.choose_policy(levels.policies, priority=priority, tier=tier, channel=channel)
    name = policy.calendar if policy is not None and policy.calendar else None
    return levels.calendars.get(name or app.settings.service.default_calendar)


def _channel_priority(app: AppContext, channel: str) -> str | None:
    """The priority a new thread of `channel` starts with (None: not a known one)."""
    service = app.settings.service
    name = service.channel_priorities.get(channel, service.default_priority)
    return name if name in sla.PRIORITIES else None


async def starting_priority(
    app: AppContext, session: AsyncSession, thread: Thread, channel: str
) -> tuple[str | None, priority_rules.RuleMatch | None]:
    """The priority a new thread starts with: the strongest matching priority rule's,
    else its channel's (None: neither names a known one), and that rule."""
    match = await priority_rules.rule_for(
        app.settings.service.priority_rules, session, thread, channel
    )
    return _priority_of(app, match, channel), match


def known_starting_rank(app: AppContext, channel: str, *, customer_is_new: bool) -> int | None:
    """The rank `starting_priority` gives a new thread of `channel`, when it is known
    without reading anything: no priority rules are set, or the thread's customer was
    created by this transaction (no tags yet); else None, as when neither names a known
    priority. A thread written with it needs no UPDATE of its priority afterwards."""
    rules = app.settings.service.priority_rules
    if rules and not customer_is_new:
        return None
    name = _priority_of(
        app, priority_rules.strongest_match(rules, tags=(), channel=channel), channel
    )
    return sla.priority_rank(name) if name is not None else None


def _priority_of(
    app: AppContext, match: priority_rules.RuleMatch | None, channel: str
) -> str | None:
    """A new thread's priority: its matching rule's, else its channel's."""
    return match.priority if match is not None else _channel_priority(app, channel)


def clock_state(thread: Thread) -> sla.ClockState:
    return sla.ClockState(
        started_at=thread.sla_started_at,
        paused_minutes=thread.sla_paused_minutes or 0.0,
        paused_since=thread.paused_since,
        first_response_at=thread.first_response_at,
        next_response_started_at=thread.next_response_started_at,
    )


def is_pending(thread: Thread) -> bool:
    """Waiting on the customer: paused while open."""
    return thread.paused_since is not None and thread.status != ThreadStatus.RESOLVED


async def recompute(
    app: AppContext,
    session: AsyncSession,
    thread: Thread,
    state: sla.ClockState | None = None,
    levels: ServiceLevels | None = None,
    *,
    new_thread: bool = False,
) -> None:
    """Store `state` (default: the thread's own) and the deadlines and alarms it gives.

    `new_thread`: this transaction created the thread, so it has no alarms yet; with
    none to add either, its new values are left to the caller's write of the thread
    (the ingest's one UPDATE) instead of a flush and a DELETE of alarms that are not
    there (every new customer's first message, where most clocks start).
    """
    state = state or clock_state(thread)
    policy, measure = await _policy(app, session, thread, levels)
    warning_percent = app.settings.service.warning_percent
    dues, alarms = sla.deadlines_and_alarms(state, policy, measure, warning_percent)
    thread.sla_started_at = state.started_at
    thread.sla_paused_minutes = state.paused_minutes
    thread.paused_since = state.paused_since
    thread.first_response_at = state.first_response_at
    thread.next_response_started_at = state.next_response_started_at
    thread.first_response_due = dues.first_response
    thread.next_response_due = dues.next_response
    thread.resolution_due = dues.resolution
    if new_thread and not alarms:
        return
    await session.flush()
    await session.execute(
        delete(SlaAlarm).where(SlaAlarm.thread_id == thread.id, SlaAlarm.fired_at.is_(None))
    )
    for alarm in alarms:
        already = await session.scalar(
            select(
                exists().where(
                    SlaAlarm.thread_id == thread.id,
                    SlaAlarm.target == alarm.target,
                    SlaAlarm.kind == alarm.kind,
                    SlaAlarm.clock_started_at == alarm.clock_started_at,
                )
            )
        )
        if already:  # this run of the clock fired it before: once is enough
            continue
        session.add(
            SlaAlarm(
                thread_id=thread.id,
                target=alarm.target,
                kind=alarm.kind,
                priority=sla.priority_name(thread.priority),
                clock_started_at=alarm.clock_started_at,
                due_at=alarm.due_at,
                fire_at=alarm.fire_at,
            )
        )
    await session.flush()


def _settled(thread: Thread, state: sla.ClockState, now: datetime) -> sla.ClockState:
    """The state the thread's status asks for: clocks start when people are owed an
    answer, and pause while it is resolved."""
    if thread.status == ThreadStatus.RESOLVED:
        return sla.paused(state, now)
    if thread.status in _HUMAN_STATUSES and state.started_at is None:
        return sla.ClockState(
            started_at=now,
            paused_minutes=0.0,
            paused_since=None,
            first_response_at=None,
            next_response_started_at=None,
        )
    return state


async def status_changed(app: AppContext, session: AsyncSession, thread: Thread) -> None:
    """After a status, tier or priority change: start, pause or re-target the clocks."""
    await recompute(app, session, thread, _settled(thread, clock_state(thread), app.clock()))


async def customer_wrote(
    app: AppContext, session: AsyncSession, thread: Thread, message: Message, *, first: bool
) -> None:
    """After ingest stored a customer message in `thread` and the responder acted: a new
    thread (`first`: this message created it) gets its channel's priority; the clocks
    start (hand-off), resume (a pending or reopened thread) or restart next-response (a
    message nobody answered yet)."""
    now = app.clock()
    if first:
        name, match = await starting_priority(app, session, thread, message.channel)
        rank = sla.priority_rank(name) if name is not None else None
        # Unchanged when the thread was written with it (`known_starting_rank`).
        if rank is not None and thread.priority != rank:
            thread.priority = rank
        if match is not None:
            session.add(
                AuditEvent(
                    actor_kind="system",
                    action="priority",
                    thread_id=thread.id,
                    customer_id=thread.customer_id,
                    details={
                        "before": _channel_priority(app, message.channel),
                        "after": match.priority,
                        "reason": match.reason,
                    },
                )
            )
    before = clock_state(thread)
    state = before
    if state.paused_since is not None and thread.status != ThreadStatus.RESOLVED:
        state = sla.resumed(state, await _measure(app, session, thread), now)
    state = _settled(thread, state, now)
    if thread.status in _HUMAN_STATUSES:
        state = sla.customer_wrote(state, now)
    if state != before:  # a bot conversation touches no clock
        await recompute(app, session, thread, state, new_thread=first)


async def agent_replied(app: AppContext, session: AsyncSession, thread: Thread) -> None:
    """After an agent's reply to the customer: the response clocks stop."""
    await recompute(app, session, thread, sla.agent_replied(clock_state(thread), app.clock()))


async def set_pending(
    app: AppContext, session: AsyncSession, thread: Thread, pending: bool
) -> None:
    """Pause (pending) or resume the thread's clocks."""
    state, now = clock_state(thread), app.clock()
    if pending:
        state = sla.paused(state, now)
    else:
        state = sla.resumed(state, await _measure(app, session, thread), now)
    await recompute(app, session, thread, state)


async def _policy(
    app: AppContext, session: AsyncSession, thread: Thread, levels: ServiceLevels | None = None
) -> tuple[sla.SlaPolicy | None, sla.Measure]:
    """The policy in force for `thread` and how it counts minutes."""
    levels = levels or await service_levels(app, session)
    policy = sla.choose_policy(
        levels.policies,
        priority=sla.priority_name(thread.priority),
        tier=thread.tier,
        channel=thread.last_channel,
    )
    return policy, levels.measure(policy)


async def _measure(app: AppContext, session: AsyncSession, thread: Thread) -> sla.Measure:
    return (await _policy(app, session, thread))[1]


async def stored_definition(
    app: AppContext, session: AsyncSession, kind: type[SlaCalendar] | type[SlaPolicy], name: str
) -> dict[str, Any] | None:
    """The body of a calendar or policy: the stored one, else the configured one."""
    row: SlaCalendar | SlaPolicy | None = await session.get(kind, name)
    if row is not None:
        return dict(row.body)
    configured = (
        app.settings.service.calendars if kind is SlaCalendar else app.settings.service.policies
    )
    body = configured.get(name)
    return dict(body) if body is not None else None


async def all_definitions(
    app: AppContext, session: AsyncSession, kind: type[SlaCalendar] | type[SlaPolicy]
) -> list[tuple[str, dict[str, Any], bool]]:
    """Every calendar or policy by name: (name, body in force, stored through the API)."""
    configured = (
        app.settings.service.calendars if kind is SlaCalendar else app.settings.service.policies
    )
    found: dict[str, tuple[dict[str, Any], bool]] = {
        name: (dict(body), False) for name, body in configured.items()
    }
    for name, body in await session.execute(select(kind.name, kind.body)):
        found[name] = (dict(body), True)
    listed = []
    for name, (body, stored) in sorted(found.items()):
        try:  # written the way a PUT stores it; an unusable configured one is left out
            if kind is SlaCalendar:
                body = calendar_to_json(calendar_from_json(name, body))
            else:
                body = sla.policy_to_json(sla.policy_from_json(name, body))
        except (CalendarError, sla.PolicyError):
            continue
        listed.append((name, body, stored))
    return listed


async def calendar_exists(app: AppContext, session: AsyncSession, name: str) -> bool:
    """Whether a calendar `name` is configured or stored through the API."""
    if name in app.settings.service.calendars:
        return True
    return await session.get(SlaCalendar, name) is not None


async def store_definition(
    app: AppContext,
    session: AsyncSession,
    kind: type[SlaCalendar] | type[SlaPolicy],
    name: str,
    body: dict[str, Any],
    *,
    actor_id: int | None = None,
) -> int:
    """Store a (checked) calendar or policy body, audited as the admin `actor_id`'s, and
    mark every thread whose clocks run for a recompute (`recompute_stale_threads`, run by
    the SLA scheduler in batches): one statement here however many threads there are;
    return how many were marked."""
    row: SlaCalendar | SlaPolicy | None = await session.get(kind, name, with_for_update=True)
    session.info.pop(_LEVELS_KEY, None)  # read before this change: read them again
    session.add(
        AuditEvent(
            actor_kind="agent" if actor_id is not None else "system",
            actor_id=actor_id,
            action="calendar_stored" if kind is SlaCalendar else "sla_policy_stored",
            details={"name": name},
        )
    )
    if row is None:
        session.add(kind(name=name, body=body, updated_at=app.clock()))
    else:
        row.body, row.updated_at = body, app.clock()
    await session.flush()
    marked = await session.execute(
        update(Thread)
        .where(Thread.sla_started_at.is_not(None), Thread.status.in_(_HUMAN_STATUSES))
        .values(sla_stale=True)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(marked, "rowcount", 0) or 0)


async def recompute_stale_threads(app: AppContext, *, limit: int = STALE_BATCH) -> int:
    """Recompute up to `limit` threads a calendar or policy change marked, in one short
    transaction (rows claimed with `FOR UPDATE SKIP LOCKED`, so several schedulers share
    the work); return how many. The flag is cleared in the same transaction, so a change
    stored meanwhile marks the thread again and it is recomputed once more."""

    async def work(session: AsyncSession, effects: Effects) -> int:
        threads = list(
            await session.scalars(
                select(Thread)
                .where(Thread.sla_stale.is_(True))
                .order_by(Thread.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not threads:
            return 0
        levels = await service_levels(app, session)  # read once for the whole batch
        for thread in threads:
            thread.sla_stale = False
            if thread.sla_started_at is not None and thread.status in _HUMAN_STATUSES:
                await recompute(app, session, thread, levels=levels)
        await session.flush()
        return len(threads)

    return await write(app, work)
