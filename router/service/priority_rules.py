"""Priority rules (`[[service.priority_rules]]`): which priority a customer tag or a
channel gives a thread. Among matching rules the highest priority wins; a priority an
agent set by hand (an agent's `priority` audit row on the thread) is never changed by a
rule, so a manual change sticks."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import PriorityRule
from router.service import sla
from router.storage.models import AuditEvent, CustomerTag, Thread


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """The rule that decides a thread's priority, and the reason audit rows give."""

    priority: sla.Priority
    rule: PriorityRule

    @property
    def reason(self) -> str:
        return f"rule: {self.rule.describe()}"


def strongest_match(
    rules: Sequence[PriorityRule], *, tags: Collection[str], channel: str | None
) -> RuleMatch | None:
    """The matching rule with the highest priority (the first of equals), else None."""
    best: RuleMatch | None = None
    for rule in rules:
        if rule.customer_tag and rule.customer_tag not in tags:
            continue
        if rule.channel and rule.channel != channel:
            continue
        if best is None or sla.priority_rank(rule.priority) > sla.priority_rank(best.priority):
            best = RuleMatch(rule.priority, rule)
    return best


async def customer_tags(session: AsyncSession, customer_id: int) -> set[str]:
    return set(
        await session.scalars(select(CustomerTag.tag).where(CustomerTag.customer_id == customer_id))
    )


async def rule_for(
    rules: Sequence[PriorityRule], session: AsyncSession, thread: Thread, channel: str | None
) -> RuleMatch | None:
    """The rule deciding `thread`'s priority from its customer's tags and `channel`."""
    if not rules:
        return None
    tags = await customer_tags(session, thread.customer_id)
    return strongest_match(rules, tags=tags, channel=channel)


async def set_by_hand(session: AsyncSession, thread_id: int) -> bool:
    """An agent chose this thread's priority: rules leave it alone."""
    return bool(
        await session.scalar(
            select(
                exists().where(
                    AuditEvent.thread_id == thread_id,
                    AuditEvent.action == "priority",
                    AuditEvent.actor_kind == "agent",
                )
            )
        )
    )
