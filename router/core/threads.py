"""Which thread a customer's new message belongs to, and thread state changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.core.messages import InboundMessage, utcnow
from router.storage.core_rows import columns_of, inserted, loaded, selected
from router.storage.models import OPEN_STATUSES, Message, Thread, ThreadStatus


@dataclass(frozen=True, slots=True)
class ThreadChoice:
    """The thread to use; `referred_thread_id` names a thread the hint pointed at but
    that belongs to somebody else (a stranger replying with a stolen token)."""

    thread: Thread
    created: bool
    reopened: bool = False
    referred_thread_id: int | None = None


@dataclass(frozen=True, slots=True)
class OpenThreadRead:
    """The customer's open thread as the caller's statement read it (and locked), or
    None when it has none: `choose_thread` need not look for it again."""

    thread: Thread | None


# Built once: they run for every message, and building one cost more than running it.
def open_thread_of_customer(customer_id: Any) -> ColumnElement[bool]:
    """Which thread is the open one of `customer_id` (a value, a column or a parameter)."""
    return and_(Thread.customer_id == customer_id, Thread.status.in_(OPEN_STATUSES))


_OPEN_THREAD = select(Thread).where(open_thread_of_customer(bindparam("customer_id")))
# The open thread a message is about to join, locked as the ingest's first statement
# locks it (PostgreSQL), and read at its newest version even when the session holds it
# already (a proof loaded it): another identity's message being stored in it meanwhile
# is waited for, so the bot's context holds it and the thread's state is current.
# Its columns, not the ORM entity: it runs for nearly every message, and the ORM's
# execution of a read cost more CPU than the read (`loaded` makes the object, refreshed
# when the session holds it already).
_OPEN_THREAD_TO_JOIN = (
    select(*columns_of(Thread))
    .where(open_thread_of_customer(bindparam("customer_id")))
    .with_for_update(key_share=True)
)
# A thread closed by a merge is empty (its messages moved to the surviving thread) and
# is never the customer's conversation again: new messages go to the survivor.
MERGED_RESOLUTION = "merged"
# A thread made only to carry a verification code mail (`router.identity.proofs`): no
# conversation, so agents' lists leave it out (as help desks make no ticket of such a
# mail) until the customer answers the mail and it reopens as a conversation.
VERIFICATION_RESOLUTION = "verification"
# A resolved thread about to be reopened, locked and read at its newest version: a
# message from another of the customer's identities may have reopened it (and the bot
# handed it off) since it was read, and reopening it again from the older state would
# write back a status that does not fit its tier.
_THREAD_TO_REOPEN = (
    select(Thread)
    .where(Thread.id == bindparam("thread_id"))
    .with_for_update()
    .execution_options(populate_existing=True)
)
_LATEST_THREAD = (
    select(Thread)
    .where(
        Thread.customer_id == bindparam("customer_id"),
        Thread.resolution.is_distinct_from(MERGED_RESOLUTION),
    )
    .order_by(Thread.id.desc())
    .limit(1)
)


async def open_thread_of(session: AsyncSession, customer_id: int) -> Thread | None:
    """The customer's open thread, if any (the database allows at most one)."""
    return await session.scalar(_OPEN_THREAD, {"customer_id": customer_id})


async def latest_thread_of(session: AsyncSession, customer_id: int) -> Thread | None:
    """The customer's newest thread, open or not, if any; never one merged away."""
    return await session.scalar(_LATEST_THREAD, {"customer_id": customer_id})


async def _hinted_thread(session: AsyncSession, msg: InboundMessage) -> Thread | None:
    hint = msg.hint
    if hint is None:
        return None
    if hint.thread_id is not None:
        thread = await session.get(Thread, hint.thread_id)
        if thread is not None:
            return thread
    if hint.references:
        thread_id = await session.scalar(
            select(Message.thread_id)
            .where(Message.channel == msg.channel, Message.external_id.in_(hint.references))
            .order_by(Message.id.desc())
            .limit(1)
        )
        if thread_id is not None:
            return await session.get(Thread, thread_id)
    return None


async def choose_thread(
    session: AsyncSession,
    *,
    customer_id: int,
    identity_id: int,
    msg: InboundMessage,
    reopen_window: timedelta,
    customer_is_new: bool = False,
    open_thread: OpenThreadRead | None = None,
    new_priority: int | None = None,
) -> ThreadChoice:
    """Pick (or create) the thread for `msg` from `customer_id`, sent from its identity
    `identity_id`.

    A hinted thread is used only if it is this customer's and was not merged away; a
    resolved thread is reopened within `reopen_window`, otherwise a new thread links
    back to it. Automated mail (`msg.automated`: an auto-reply, a list post, a read
    receipt) reopens nothing: it joins the latest thread as it is.
    `customer_is_new`: the caller's transaction created the customer, which therefore
    has no thread to look for. `open_thread`: the caller read the customer's open
    thread already. `new_priority`: the priority a thread it creates starts with (None:
    the column's default).
    """
    referred: int | None = None
    hinted = await _hinted_thread(session, msg)
    if hinted is not None and hinted.customer_id != customer_id:
        referred, hinted = hinted.id, None
    if hinted is not None and hinted.resolution == MERGED_RESOLUTION:
        hinted = None  # a reply to the merged thread: its history is in the survivor now
    previous: Thread | None = None
    if not customer_is_new:
        if open_thread is not None:
            current = open_thread.thread
        else:
            found = await selected(session, _OPEN_THREAD_TO_JOIN, {"customer_id": customer_id})
            row = found.mappings().first()
            current = loaded(session, Thread, row) if row is not None else None
        if current is not None:
            return ThreadChoice(current, created=False, referred_thread_id=referred)
        previous = hinted or await latest_thread_of(session, customer_id)
    if previous is not None and msg.automated:
        # An out-of-office answer to the survey mail is not the customer coming back:
        # stored where agents look, without reopening or starting anything (Zammad
        # keeps a closed ticket closed for out-of-office follow-ups too).
        return ThreadChoice(previous, created=False, referred_thread_id=referred)
    now = utcnow()
    if (
        previous is not None
        and previous.resolved_at is not None
        and now - previous.resolved_at <= reopen_window
    ):
        previous = await session.scalar(_THREAD_TO_REOPEN, {"thread_id": previous.id})
        assert previous is not None  # threads are never deleted
        if previous.status in OPEN_STATUSES:
            return ThreadChoice(previous, created=False, referred_thread_id=referred)
        reopen(previous)
        return ThreadChoice(previous, created=False, reopened=True, referred_thread_id=referred)
    # Written now by one prebuilt statement, with what its customer's message makes of
    # it (the ORM's flush of a new object cost more CPU than the statement). A second
    # open thread of the customer, from a concurrent transaction, fails here on the
    # database's unique index, and the caller's transaction runs again.
    thread = await inserted(
        session,
        Thread,
        customer_id=customer_id,
        status=ThreadStatus.BOT,
        tier=0,
        **({} if new_priority is None else {"priority": new_priority}),
        previous_thread_id=previous.id if previous is not None else None,
        created_at=now,
        **_written_by_customer(msg, identity_id, now, subject=None, language=None),
    )
    return ThreadChoice(thread, created=True, referred_thread_id=referred)


def customer_wrote(thread: Thread, msg: InboundMessage, identity_id: int) -> None:
    """The thread's bookkeeping for a message from its customer."""
    values = _written_by_customer(
        msg, identity_id, utcnow(), subject=thread.subject, language=thread.language
    )
    for name, value in values.items():
        setattr(thread, name, value)


def _written_by_customer(
    msg: InboundMessage,
    identity_id: int,
    now: datetime,
    *,
    subject: str | None,
    language: str | None,
) -> dict[str, Any]:
    """What a message from its customer changes of a thread with `subject` and
    `language`: the thread's columns and their new values."""
    values: dict[str, Any] = {
        "last_channel": msg.channel,
        "last_identity_id": identity_id,
        "last_customer_message_at": now,
        "updated_at": now,
    }
    if subject is None and msg.subject:
        values["subject"] = msg.subject[:500]
    if msg.language and language is None:
        values["language"] = msg.language
    return values


def reopen(thread: Thread) -> None:
    """Back to whoever had it: its agent, else the queue at its tier, else the bot."""
    now = utcnow()
    if thread.assignee_id is not None:
        thread.status = ThreadStatus.ASSIGNED
    elif thread.tier > 0:
        thread.status = ThreadStatus.QUEUED
        thread.queued_at = now
    else:
        thread.status = ThreadStatus.BOT
    thread.resolved_at = None
    thread.resolution = None
    thread.updated_at = now


def hand_off(thread: Thread, tier: int) -> None:
    """Move a thread to the agent queue at `tier` (never lower than it already is)."""
    now = utcnow()
    thread.status = ThreadStatus.QUEUED
    thread.tier = max(thread.tier, tier, 1)
    thread.queued_at = now
    thread.updated_at = now


def resolve(thread: Thread, resolution: str) -> None:
    """Close the thread."""
    now = utcnow()
    thread.status = ThreadStatus.RESOLVED
    thread.resolution = resolution
    thread.resolved_at = now
    thread.updated_at = now
