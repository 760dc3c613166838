"""The SLA scheduler: fires the warnings and breaches that came due, each exactly once.

A pass claims due alarm rows with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has one
writer at a time), so any number of processes may run it: two passes never see the same
row, and the conditional `fired_at IS NULL` update is the second guard. Alarms of a
paused (pending or resolved) thread wait: resuming replaces them. A fired alarm is
recorded as an audit event on the thread, counted on /metrics, published to the
console, and a breached response target optionally escalates the thread one tier.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.core.events import SlaAlarmFired, ThreadChanged
from router.core.tasks import BackgroundTasks, run_passes
from router.core.transaction import Effects, write
from router.http.keys import CONTEXT
from router.service.reports.events import record_breach
from router.service.sla_threads import STALE_BATCH, recompute_stale_threads
from router.service.tier_moves import tier_changed
from router.storage.models import OPEN_STATUSES, AuditEvent, SlaAlarm, Thread, ThreadStatus

logger = logging.getLogger(__name__)

MAX_TIER = 3
BATCH = 100


@dataclass(frozen=True, slots=True)
class FiredAlarm:
    thread_id: int
    target: str
    kind: str
    priority: str
    due_at: datetime


async def fire_due_alarms(app: AppContext, *, limit: int = BATCH) -> list[FiredAlarm]:
    """Fire the alarms due at `app.clock()`; return the ones this call fired."""
    now = app.clock()

    async def work(session: AsyncSession, effects: Effects) -> list[FiredAlarm]:
        rows = (
            await session.execute(
                select(SlaAlarm, Thread)
                .join(Thread, Thread.id == SlaAlarm.thread_id)
                .where(
                    SlaAlarm.fired_at.is_(None),
                    SlaAlarm.fire_at <= now,
                    Thread.paused_since.is_(None),
                    Thread.status.in_(OPEN_STATUSES),
                )
                .order_by(SlaAlarm.fire_at, SlaAlarm.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=SlaAlarm)
            )
        ).all()
        fired = []
        for alarm, thread in rows:
            marked = await session.execute(
                update(SlaAlarm)
                .where(SlaAlarm.id == alarm.id, SlaAlarm.fired_at.is_(None))
                .values(fired_at=now)
                .execution_options(synchronize_session=False)
            )
            if getattr(marked, "rowcount", 0) != 1:
                continue
            await _record(app, session, effects, alarm, thread, now)
            fired.append(
                FiredAlarm(thread.id, alarm.target, alarm.kind, alarm.priority, alarm.due_at)
            )
        return fired

    fired = await write(app, work)
    for alarm in fired:
        counter = app.metrics.sla_breaches if alarm.kind == "breach" else app.metrics.sla_warnings
        counter.labels(alarm.target, alarm.priority).inc()
    return fired


async def _record(
    app: AppContext,
    session: AsyncSession,
    effects: Effects,
    alarm: SlaAlarm,
    thread: Thread,
    now: datetime,
) -> None:
    session.add(
        AuditEvent(
            at=now,
            actor_kind="system",
            action=f"sla_{alarm.kind}",
            thread_id=thread.id,
            customer_id=thread.customer_id,
            details={
                "target": alarm.target,
                "priority": alarm.priority,
                "due_at": alarm.due_at.isoformat(),
            },
        )
    )
    effects.events.append(
        SlaAlarmFired(thread.id, thread.customer_id, alarm.target, alarm.kind, alarm.priority)
    )
    if alarm.kind == "breach":
        record_breach(session, thread, now)
    escalates = (
        alarm.kind == "breach"
        and alarm.target in ("first_response", "next_response")
        and app.settings.service.escalate_on_breach
        and thread.status in (ThreadStatus.QUEUED, ThreadStatus.ASSIGNED)
        and thread.tier < MAX_TIER
    )
    if not escalates:
        return
    from_tier, from_agent = thread.tier, thread.assignee_id
    # The clocks keep running: escalation keeps the first-response clock.
    thread.status, thread.tier, thread.assignee_id = ThreadStatus.QUEUED, from_tier + 1, None
    thread.queued_at = thread.updated_at = now
    reason = f"{alarm.target.replace('_', ' ')} target breached"
    # The new tier's policy applies from the clock's start; this run of the clock does
    # not fire its breach again (`sla_threads.recompute`).
    await tier_changed(
        app,
        session,
        thread,
        from_tier=from_tier,
        from_agent_id=from_agent,
        reason=reason,
        actor_id=None,
        at=now,
    )
    effects.events.append(
        ThreadChanged(thread.id, thread.customer_id, thread.status, thread.tier, None)
    )


async def _one_pass(app: AppContext) -> None:
    # Deadlines a calendar or policy change moved, before firing by them.
    while await recompute_stale_threads(app) == STALE_BATCH:
        pass
    while len(await fire_due_alarms(app)) == BATCH:
        pass  # a backlog: keep going before sleeping


async def sla_scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    """`cleanup_ctx` entry: runs the SLA scheduler while the app runs."""
    tasks = BackgroundTasks(logger)
    context = app[CONTEXT]
    passes = run_passes(
        lambda: _one_pass(context),
        context.settings.service.scheduler_interval_seconds,
        name="sla",
        logger=logger,
        passes=context.metrics.worker_passes,
    )
    tasks.spawn(passes, "pasokh:sla")
    yield
    await tasks.cancel()
