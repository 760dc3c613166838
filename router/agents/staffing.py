"""Who could answer a thread handed to people: what the responder may honestly promise."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.core.responder import Staffing
from router.storage.models import Agent, Thread, ThreadStatus


def _tier_agents(tier: int) -> Any:
    """Agents who may work `tier`: its agents and the admins."""
    return or_(Agent.tier == tier, Agent.is_admin.is_(True))


async def tier_staffing(session: AsyncSession, tier: int) -> tuple[int, int]:
    """(agents who may work `tier`: its agents and the admins, how many are online)."""
    counted = await session.execute(
        select(func.count(), func.count().filter(Agent.presence == "online")).where(
            _tier_agents(tier)
        )
    )
    agents, online = counted.one()
    return int(agents), int(online)


async def staffing_for(session: AsyncSession, thread: Thread) -> Staffing:
    """Agents who may work `thread`'s tier (tier 1 for a bot thread), how many are
    online, and its place in that tier's queue while it waits (the order auto-assignment
    takes: priority, then time queued). One statement: it runs in the ingest's write
    transaction, for every message to a thread the bot or the queue holds."""
    staff = select(Agent.id, Agent.presence).where(_tier_agents(max(thread.tier, 1))).subquery()
    columns: list[Any] = [
        select(func.count()).select_from(staff).scalar_subquery(),
        select(func.count())
        .select_from(staff)
        .where(staff.c.presence == "online")
        .scalar_subquery(),
    ]
    queued = thread.status == ThreadStatus.QUEUED and thread.queued_at is not None
    if queued:
        columns.append(
            select(func.count())
            .where(
                Thread.status == ThreadStatus.QUEUED,
                Thread.tier == thread.tier,
                Thread.assignee_id.is_(None),
                Thread.id != thread.id,
                or_(
                    Thread.priority > thread.priority,
                    and_(
                        Thread.priority == thread.priority,
                        or_(
                            Thread.queued_at < thread.queued_at,
                            and_(Thread.queued_at == thread.queued_at, Thread.id < thread.id),
                        ),
                    ),
                ),
            )
            .scalar_subquery()
        )
    row = (await session.execute(select(*columns))).one()
    return Staffing(
        agents=int(row[0]),
        online=int(row[1]),
        queue_position=int(row[2] or 0) + 1 if queued else None,
    )
