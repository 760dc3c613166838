"""Who could answer a thread handed to people: what the responder may honestly promise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.core.responder import Staffing
from router.storage.core_rows import selected
from router.storage.models import Agent, Thread, ThreadStatus


def _tier_agents(tier: Any) -> Any:
    """Agents who may work `tier` (a number or a bound parameter): its agents and the
    admins."""
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


def _staffing_statement(*, queued: bool) -> Select[Any]:
    """Agents who may work the tier, how many are online and, with `queued`, how many
    queued threads go before the thread's place in the queue (the order auto-assignment
    takes: priority, then time queued)."""
    staff = select(Agent.id, Agent.presence).where(_tier_agents(bindparam("staff_tier"))).subquery()
    columns: list[Any] = [
        select(func.count()).select_from(staff).scalar_subquery(),
        select(func.count())
        .select_from(staff)
        .where(staff.c.presence == "online")
        .scalar_subquery(),
    ]
    if queued:
        # Named apart from the thread's columns: read in the statement that writes the
        # thread (`core_rows._refuse_written_names`).
        priority, queued_at, thread_id = (
            bindparam("place_priority", type_=Thread.priority.type),
            bindparam("place_queued_at", type_=Thread.queued_at.type),
            bindparam("place_thread_id", type_=Thread.id.type),
        )
        columns.append(
            select(func.count())
            .where(
                Thread.status == ThreadStatus.QUEUED,
                Thread.tier == bindparam("place_tier"),
                Thread.assignee_id.is_(None),
                Thread.id != thread_id,
                or_(
                    Thread.priority > priority,
                    and_(
                        Thread.priority == priority,
                        or_(
                            Thread.queued_at < queued_at,
                            and_(Thread.queued_at == queued_at, Thread.id < thread_id),
                        ),
                    ),
                ),
            )
            .scalar_subquery()
        )
    return select(*columns)


# Built once: building them cost more CPU than running them, for every message to a
# thread the bot or the queue holds.
_STAFFING = _staffing_statement(queued=False)
_STAFFING_AND_PLACE = _staffing_statement(queued=True)


async def staffing_for(session: AsyncSession, thread: Thread) -> Staffing:
    """Agents who may work `thread`'s tier (tier 1 for a bot thread), how many are
    online, and its place in that tier's queue while it waits. One statement: it runs
    in the ingest's write transaction, for every message to a thread the bot or the
    queue holds."""
    statement, params = staffing_read(thread)
    return staffing_of((await selected(session, statement, params)).one())


def staffing_read(thread: Thread) -> tuple[Select[Any], dict[str, Any]]:
    """The statement of `staffing_for` and its parameters, for a caller that reads it
    with others in one statement (`router.storage.core_rows.selected_together`); its
    one row becomes the `Staffing` by `staffing_of`."""
    staff_tier = max(thread.tier, 1)
    if thread.status == ThreadStatus.QUEUED and thread.queued_at is not None:
        place = {
            "staff_tier": staff_tier,
            "place_tier": thread.tier,
            "place_priority": thread.priority,
            "place_queued_at": thread.queued_at,
            "place_thread_id": thread.id,
        }
        return _STAFFING_AND_PLACE, place
    return _STAFFING, {"staff_tier": staff_tier}


def staffing_of(row: Sequence[Any]) -> Staffing:
    """The `Staffing` of the row of `staffing_read`'s statement."""
    if len(row) == 3:
        agents, online, ahead = row
        return Staffing(agents=int(agents), online=int(online), queue_position=int(ahead or 0) + 1)
    agents, online = row
    return Staffing(agents=int(agents), online=int(online), queue_position=None)
