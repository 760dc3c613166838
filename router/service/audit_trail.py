"""An action on a thread as the audit log and the reports both see it: the audit event,
and the report's thread event for the actions that change who holds the thread
(`reports.events.record_audited`). One rule, so neither is ever written without the
other."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from router.service.reports.events import record_audited
from router.storage.models import AuditEvent, Thread


def record_action(
    session: AsyncSession,
    thread: Thread,
    action: str,
    *,
    actor_id: int | None,
    at: datetime | None = None,
    **details: Any,
) -> None:
    """`action` on `thread` by the agent `actor_id` (the system when None), at `at` if
    not now (a scheduler's own clock)."""
    event = AuditEvent(
        actor_kind="agent" if actor_id is not None else "system",
        actor_id=actor_id,
        action=action,
        thread_id=thread.id,
        customer_id=thread.customer_id,
        details=details,
    )
    if at is not None:
        event.at = at
    session.add(event)
    record_audited(session, thread, action, actor_id)
