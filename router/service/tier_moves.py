"""What every move of a thread to another tier writes, whoever moved it: an agent's
escalation or transfer, the SLA scheduler's escalation of a breached thread, a merge
that brought in a higher tier's thread. One rule, so that the audit trail, the reports
and the SLA deadlines agree on every tier move."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.service import sla_threads
from router.service.audit_trail import record_action
from router.storage.models import Thread


async def tier_changed(
    app: AppContext,
    session: AsyncSession,
    thread: Thread,
    *,
    from_tier: int,
    from_agent_id: int | None,
    reason: str,
    actor_id: int | None,
    at: datetime | None = None,
) -> None:
    """The audit event, `escalate` up and `transfer_tier` down or sideways (by the agent
    `actor_id`, or the system when None), with its report event; then the SLA deadlines
    under the new tier's policy (a tier's policy may differ). `at`: when it happened, if
    not now (the scheduler's own clock)."""
    record_action(
        session,
        thread,
        "escalate" if thread.tier > from_tier else "transfer_tier",
        actor_id=actor_id,
        at=at,
        from_tier=from_tier,
        to_tier=thread.tier,
        from_agent_id=from_agent_id,
        reason=reason,
    )
    await sla_threads.status_changed(app, session, thread)
