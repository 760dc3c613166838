"""Who could answer a thread handed to people: what the responder may honestly promise."""

from __future__ import annotations

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.core.responder import Staffing
from router.storage.models import Agent, Thread, ThreadStatus


async def tier_staffing(session: AsyncSession, tier: int) -> tuple[int, int]:
    """(agents who may work `tier`: its agents and the admins, how many are online)."""
    counted = await session.execute(
        select(
            func.count(),
            func.count().filter(Agent.presence == "online"),
        ).where(or_(Agent.tier == tier, Agent.is_admin.is_(True)))
    )
    agents, online = counted.one()
    return int(agents), int(online)


async def staffing_for(session: AsyncSession, thread: Thread) -> Staffing:
    """Agents who may work `thread`'s tier (tier 1 for a bot thread), how many are
    online, and its place in that tier's queue while it waits (the order auto-assignment
    takes: priority, then time queued)."""
    agents, online = await tier_staffing(session, max(thread.tier, 1))
    position = None
    if thread.status == ThreadStatus.QUEUED and thread.queued_at is not None:
        ahead = await session.scalar(
            select(func.count()).where(
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
        )
        position = (ahead or 0) + 1
    return Staffing(agents=agents, online=online, queue_position=position)
