"""What a console socket is told about each bus event: ids and states, never customer
text, and nothing about a thread its agent may not see.

The console's lists and thread view are read through the API, which applies the one
visibility rule (`router.agents.queue.can_view`); the socket only says what to reload.
So an event about a thread the agent cannot see is dropped, except that a thread
leaving the agent's sight (escalated, given to someone else) still tells the console
to reload its queue, with no id in it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from sqlalchemy import select

from router.agents.queue import Actor, sees_thread
from router.context import AppContext
from router.core.events import (
    AgentPresence,
    CustomersMerged,
    Event,
    EventsResumed,
    IdentityRetired,
    IntegrationRevoked,
    KnowledgeBaseChanged,
    MessageStored,
    SlaAlarmFired,
    SurveyAnswered,
    ThreadChanged,
    Typing,
)
from router.storage.models import Thread

# Threads one socket remembers the visibility of (an agent's console rarely meets more).
_REMEMBERED = 2_000

QUEUE_CHANGED: dict[str, Any] = {"type": "queue"}


class ThreadSight:
    """Which threads one console socket's agent may see: learned from the bus's thread
    changes, and read from the database for a thread not met yet."""

    def __init__(self, app: AppContext, actor: Actor) -> None:
        self._app = app
        self.actor = actor
        self._known: OrderedDict[int, bool] = OrderedDict()

    def forget(self, actor: Actor | None = None) -> None:
        """Start over (events were missed, or the agent's tier changed)."""
        self._known.clear()
        if actor is not None:
            self.actor = actor

    def _remember(self, thread_id: int, visible: bool) -> bool:
        self._known[thread_id] = visible
        self._known.move_to_end(thread_id)
        if len(self._known) > _REMEMBERED:
            self._known.popitem(last=False)
        return visible

    def changed(self, event: ThreadChanged) -> bool:
        """Whether the agent sees the thread as `event` leaves it."""
        visible = sees_thread(self.actor, event.tier, event.assignee_id)
        return self._remember(event.thread_id, visible)

    async def sees(self, thread_id: int) -> bool:
        if self.actor.is_admin:
            return True
        known = self._known.get(thread_id)
        if known is not None:
            return known
        async with self._app.read_sessions() as session:
            row = (
                await session.execute(
                    select(Thread.tier, Thread.assignee_id).where(Thread.id == thread_id)
                )
            ).first()
        visible = row is not None and sees_thread(self.actor, row.tier, row.assignee_id)
        return self._remember(thread_id, visible)


async def payload_for(event: Event, sight: ThreadSight) -> dict[str, Any] | None:
    """What `sight`'s socket is told about `event`, or None to say nothing."""
    match event:
        case ThreadChanged():
            return event_payload(event) if sight.changed(event) else QUEUE_CHANGED
        case MessageStored() | Typing() | SlaAlarmFired() | SurveyAnswered():
            return event_payload(event) if await sight.sees(event.thread_id) else None
        case EventsResumed():
            sight.forget()
        case IdentityRetired() | IntegrationRevoked():
            return None  # a credential of a browser or an integration: nothing shown
    return event_payload(event)


def event_payload(event: Event) -> dict[str, Any]:
    """What a console socket is told about an event: ids and states, never text."""
    match event:
        case MessageStored():
            return {
                "type": "message",
                "message_id": event.message_id,
                "thread_id": event.thread_id,
                "customer_id": event.customer_id,
                "author": event.author,
                "internal": event.internal,
            }
        case ThreadChanged():
            return {
                "type": "thread",
                "thread_id": event.thread_id,
                "customer_id": event.customer_id,
                "status": event.status,
                "tier": event.tier,
                "assignee_id": event.assignee_id,
            }
        case Typing():
            return {"type": "typing", "thread_id": event.thread_id, "who": event.who}
        case AgentPresence():
            return {"type": "presence", "agent_id": event.agent_id, "status": event.status}
        case CustomersMerged():
            return {
                "type": "customers_merged",
                "surviving_id": event.surviving_id,
                "merged_id": event.merged_id,
            }
        case EventsResumed():
            # Events of other processes may have been missed: reload what is shown.
            return {"type": "resync"}
        case SlaAlarmFired():
            return {
                "type": "sla",
                "thread_id": event.thread_id,
                "customer_id": event.customer_id,
                "target": event.target,
                "kind": event.kind,
                "priority": event.priority,
            }
        case KnowledgeBaseChanged():
            return {"type": "knowledge", "revision": event.revision}
        case IdentityRetired():
            return {"type": "identity_retired", "channel": event.channel}
        case IntegrationRevoked():
            return {"type": "integration_revoked"}
        case SurveyAnswered():
            return {
                "type": "survey",
                "thread_id": event.thread_id,
                "customer_id": event.customer_id,
                "kind": event.kind,
                "score": event.score,
                "low": event.low,
            }
