"""Merging two customers into one, inside the caller's transaction.

The older customer survives. Identities, threads and messages move to it; the two open
threads (if both have one) become one: the less advanced one is closed as "merged"
*before* anything moves, so the database's "at most one open thread per customer"
index holds at every statement, and its messages join the surviving thread, each
keeping its channel. The merged customer stays as a row pointing at the survivor
(`merged_into_id`), so old references still resolve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.core.events import CustomersMerged, Event, ThreadChanged
from router.core.messages import Direction, utcnow
from router.core.threads import MERGED_RESOLUTION, open_thread_of
from router.service.reports.events import record_merged
from router.service.tier_moves import tier_changed
from router.storage.models import (
    CUSTOMER_ROWS,
    Agent,
    AuditEvent,
    Customer,
    CustomerTag,
    Identity,
    Message,
    OutboxItem,
    OutreachOptOut,
    Thread,
    ThreadStatus,
)

_STATUS_RANK = {ThreadStatus.BOT: 0, ThreadStatus.QUEUED: 1, ThreadStatus.ASSIGNED: 2}


class MergeRefused(ValueError):
    """The two customers cannot be merged (same one, unknown, erased).

    `unknown` is true when a customer does not exist (as opposed to a conflict).
    """

    def __init__(self, message: str, *, unknown: bool = False) -> None:
        super().__init__(message)
        self.unknown = unknown


@dataclass(frozen=True, slots=True)
class MergeResult:
    """Who survived, who was merged, and the open thread that holds both now."""

    surviving_id: int
    merged_id: int
    open_thread_id: int | None
    events: tuple[Event, ...]


async def current_customer_id(session: AsyncSession, customer_id: int) -> int:
    """Follow `merged_into_id` to the customer that holds `customer_id` now."""
    seen: set[int] = set()
    while customer_id not in seen:
        seen.add(customer_id)
        target = await session.scalar(
            select(Customer.merged_into_id).where(Customer.id == customer_id)
        )
        if target is None:
            return customer_id
        customer_id = target
    return customer_id


def _advanced(thread: Thread) -> tuple[int, int, int, int]:
    """Sort key: assigned > queued > bot, then higher tier, then the older thread."""
    return (
        _STATUS_RANK.get(ThreadStatus(thread.status), -1),
        thread.tier,
        1 if thread.assignee_id is not None else 0,
        -thread.id,
    )


async def _drop_what_the_survivor_has(session: AsyncSession, keep_id: int, gone_id: int) -> None:
    """Before `gone_id`'s rows move to `keep_id`: its tags the survivor has too (one row
    per customer and tag), and its opt-out if the survivor has one (one per customer; a
    person who opted out under either name has opted out)."""
    await session.execute(
        delete(CustomerTag).where(
            CustomerTag.customer_id == gone_id,
            CustomerTag.tag.in_(select(CustomerTag.tag).where(CustomerTag.customer_id == keep_id)),
        )
    )
    if await session.get(OutreachOptOut, keep_id) is not None:
        await session.execute(delete(OutreachOptOut).where(OutreachOptOut.customer_id == gone_id))


async def _to_higher_tier(
    session: AsyncSession, thread: Thread, merged: Thread, now: datetime
) -> None:
    """`thread` now holds `merged`'s messages and notes, written for agents of its higher
    tier: it moves to that tier, and an assignee who does not work that tier (and is no
    admin) leaves it, queued, rather than read what their tier may not. The caller
    records the move as every tier change is (`tier_changed`) once the messages moved."""
    thread.tier = merged.tier
    if thread.assignee_id is None:
        return
    assignee = await session.get(Agent, thread.assignee_id)
    if assignee is None or not (assignee.is_admin or assignee.tier == merged.tier):
        thread.status = ThreadStatus.QUEUED
        thread.assignee_id = None
        thread.queued_at = merged.queued_at or now


async def merge_customers(
    app: AppContext,
    session: AsyncSession,
    first_id: int,
    second_id: int,
    *,
    actor_kind: str,
    actor_id: int | None,
    reason: str,
) -> MergeResult:
    """Make `first_id` and `second_id` one customer (the older survives).

    Raises:
        MergeRefused: the same customer, an unknown or erased one.
    """
    first_id = await current_customer_id(session, first_id)
    second_id = await current_customer_id(session, second_id)
    if first_id == second_id:
        raise MergeRefused("these are already one customer")
    keep_id, gone_id = sorted((first_id, second_id))
    # Lock order (PostgreSQL; SQLite serialises writers anyway): both customers, then all
    # their identities, then all their threads, each in id order; messages and outbox
    # rows after. Ingest locks the sender's identity first and only key-shares the
    # customer (foreign keys), so neither waits for the other in a cycle, and an ingest
    # that waited here reads the identity's new customer. The outbox worker records a
    # delivery in the same order (identity, thread, message, outbox row).
    customers = {
        c.id: c
        for c in await session.scalars(
            select(Customer)
            .where(Customer.id.in_((keep_id, gone_id)))
            .order_by(Customer.id)
            .with_for_update(key_share=True)
            .execution_options(populate_existing=True)
        )
    }
    if any(customer.merged_into_id is not None for customer in customers.values()):
        # A merge this one waited for (on PostgreSQL) joined one of them into another
        # customer: start again from the customers they are now, which may be one.
        return await merge_customers(
            app, session, keep_id, gone_id, actor_kind=actor_kind, actor_id=actor_id, reason=reason
        )
    await session.execute(
        select(Identity.id)
        .where(Identity.customer_id.in_((keep_id, gone_id)))
        .order_by(Identity.id)
        .with_for_update(key_share=True)
    )
    await session.execute(
        select(Thread.id)
        .where(Thread.customer_id.in_((keep_id, gone_id)))
        .order_by(Thread.id)
        .with_for_update(key_share=True)
    )
    if len(customers) != 2:
        raise MergeRefused("no such customer", unknown=True)
    keep, gone = customers[keep_id], customers[gone_id]
    if keep.erased_at is not None or gone.erased_at is not None:
        raise MergeRefused("an erased customer cannot be merged")

    events: list[Event] = []
    now = utcnow()
    keep_open = await open_thread_of(session, keep_id)
    gone_open = await open_thread_of(session, gone_id)
    survivor_thread = keep_open or gone_open
    raised: tuple[int, int | None, int] | None = None  # from tier, from agent, merged thread
    if keep_open is not None and gone_open is not None:
        survivor_thread, loser = sorted((keep_open, gone_open), key=_advanced, reverse=True)
        loser.status = ThreadStatus.RESOLVED
        loser.resolution = MERGED_RESOLUTION
        loser.resolved_at = now
        loser.updated_at = now
        record_merged(session, loser, actor_kind=actor_kind)  # reports: resolved, by a merge
        await session.flush()  # closed before anything moves: the open-thread rule holds
        await session.execute(
            update(Message)
            .where(Message.thread_id == loser.id)
            .values(thread_id=survivor_thread.id)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(OutboxItem)
            .where(OutboxItem.thread_id == loser.id)
            .values(thread_id=survivor_thread.id)
            .execution_options(synchronize_session=False)
        )
        session.add(
            AuditEvent(
                actor_kind=actor_kind,
                actor_id=actor_id,
                action="thread_merged",
                thread_id=survivor_thread.id,
                customer_id=keep_id,
                details={"merged_thread_id": loser.id},
            )
        )
        events.append(ThreadChanged(loser.id, keep_id, loser.status, loser.tier, None))
        if loser.tier > survivor_thread.tier:
            raised = (survivor_thread.tier, survivor_thread.assignee_id, loser.id)
            await _to_higher_tier(session, survivor_thread, loser, now)
        survivor_thread.updated_at = now
        if survivor_thread.subject is None:
            survivor_thread.subject = loser.subject

    await _drop_what_the_survivor_has(session, keep_id, gone_id)
    for model in (Thread, Message, Identity, *CUSTOMER_ROWS):
        await session.execute(
            update(model)
            .where(model.customer_id == gone_id)
            .values(customer_id=keep_id)
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        update(Customer)
        .where(Customer.merged_into_id == gone_id)
        .values(merged_into_id=keep_id)
        .execution_options(synchronize_session=False)
    )
    gone.merged_into_id = keep_id
    if keep.name is None:
        keep.name = gone.name
    if keep.language is None:
        keep.language = gone.language
    await session.flush()
    # Bulk updates bypassed the identity map: reload what callers may hold.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, (Thread, Message, Identity, OutboxItem)):
            await session.refresh(obj)

    if survivor_thread is not None:
        await _reply_to_last_channel(session, survivor_thread)
        if raised is not None:
            # After the moves: the clocks are measured over the thread's messages now.
            from_tier, from_agent_id, merged_thread_id = raised
            await tier_changed(
                app,
                session,
                survivor_thread,
                from_tier=from_tier,
                from_agent_id=from_agent_id,
                reason=f"merged with thread {merged_thread_id} of tier {survivor_thread.tier}",
                actor_id=None,
            )
        events.append(
            ThreadChanged(
                survivor_thread.id,
                keep_id,
                survivor_thread.status,
                survivor_thread.tier,
                survivor_thread.assignee_id,
            )
        )
    session.add(
        AuditEvent(
            actor_kind=actor_kind,
            actor_id=actor_id,
            action="customers_merged",
            thread_id=survivor_thread.id if survivor_thread is not None else None,
            customer_id=keep_id,
            details={"surviving_id": keep_id, "merged_id": gone_id, "reason": reason},
        )
    )
    events.insert(0, CustomersMerged(surviving_id=keep_id, merged_id=gone_id))
    return MergeResult(
        keep_id,
        gone_id,
        survivor_thread.id if survivor_thread is not None else None,
        tuple(events),
    )


async def _reply_to_last_channel(session: AsyncSession, thread: Thread) -> None:
    """Replies go where the customer wrote last, whichever thread that message was in."""
    latest = await session.scalar(
        select(Message)
        .where(
            Message.thread_id == thread.id,
            Message.direction == Direction.INBOUND,
            Message.identity_id.is_not(None),
        )
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(1)
    )
    if latest is not None:
        thread.last_identity_id = latest.identity_id
        thread.last_channel = latest.channel
        if thread.last_customer_message_at is None or (
            latest.created_at > thread.last_customer_message_at
        ):
            thread.last_customer_message_at = latest.created_at
