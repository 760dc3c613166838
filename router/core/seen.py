"""Replies the customer was not shown: seen marks, and the resend to where they are.

Some channels only store a reply until the customer comes back: their adapter declares
`deliveries_need_seen_mark`, and its delivery is `delivered` as soon as the message is
in the conversation. Whether the customer saw it is a separate fact, `OutboxItem.seen_at`,
written when the adapter hands the message to a page of theirs: at once when the
outbox's send reaches an open page of its process (`DeliveryResult.seen`), or through
`ChannelServices.seen` when a page in any process is shown it later (live from the event
bus, or in the history on return). It is stored, so it holds with several processes.

A reply an agent wrote, or a survey, still not shown after
`[outbox] unseen_resend_after_seconds` (and newer than
`unseen_resend_max_age_seconds`) is queued again, as a second outbox row of the same
message, to the customer's verified identity on a channel whose adapter declares
`reaches_customer_away`: the outbox renders it there like any reply (text, files,
survey link, the thread's reply address). One process looks (a named lock); the unique
index over (message_id, channel) keeps the second row single all the same.

One mail per reply rather than a digest per thread: each row renders one stored
message, so its Message-ID, files and survey link are the message's own and the
console's delivery state stays per message; a digest would be a message that is not in
the thread. The core names no channel: it asks the running adapters what they declare.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import ColumnElement, String, and_, cast, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from router.context import AppContext
from router.core.leadership import DatabaseLeadership
from router.core.messages import AuthorKind, utcnow
from router.core.outbox_worker import by_row_id
from router.core.tasks import BackgroundTasks, run_passes
from router.core.transaction import Effects, write
from router.http.keys import CONTEXT
from router.storage.models import Identity, Message, OutboxItem, OutboxStatus, Thread

logger = logging.getLogger(__name__)

BATCH = 100
LOCK = "unseen-replies"


def _wanted_in_sql() -> ColumnElement[bool]:
    """`router.core.messages.wants_seen_mark` over the messages table. A message
    without a survey stores JSON null or SQL NULL, depending on how it was written."""
    has_survey = and_(Message.survey.is_not(None), cast(Message.survey, String) != "null")
    return and_(
        Message.internal.is_(False), or_(Message.author_kind == AuthorKind.AGENT, has_survey)
    )


def _declaring(adapters: Mapping[str, object], attribute: str) -> frozenset[str]:
    return frozenset(name for name, a in adapters.items() if getattr(a, attribute, False))


def channels_keeping_marks(adapters: Mapping[str, object]) -> frozenset[str]:
    """The running channels whose deliveries need a seen mark."""
    return _declaring(adapters, "deliveries_need_seen_mark")


def channels_reaching(adapters: Mapping[str, object]) -> frozenset[str]:
    """The running channels that reach a customer wherever they are."""
    return _declaring(adapters, "reaches_customer_away")


# Row by row in id order: the order the outbox worker records its rows in, so a mark
# written beside a recorded wave waits for it instead of deadlocking with it.
_SET_SEEN = by_row_id(OutboxItem, OutboxItem.__table__.c.seen_at.is_(None))


class DatabaseSeenMarks:
    """`channels.base.SeenMarks` for the router's database."""

    def __init__(self, app: AppContext) -> None:
        self._app = app

    async def shown(self, channel: str, message_ids: Sequence[int]) -> None:
        if not message_ids:
            return
        unseen = (
            select(OutboxItem.id)
            .where(
                OutboxItem.message_id.in_(sorted(set(message_ids))),
                OutboxItem.channel == channel,
                OutboxItem.seen_at.is_(None),
            )
            .order_by(OutboxItem.id)
        )
        async with self._app.read_sessions() as session:
            ids = list(await session.scalars(unseen))
        if not ids:  # the usual case on a reconnect: nothing is written
            return
        now = utcnow()

        async def work(session: AsyncSession, _: Effects) -> None:
            await (await session.connection()).execute(
                _SET_SEEN, [{"row_id": i, "seen_at": now} for i in ids]
            )

        await write(self._app, work)


async def _targets(
    session: AsyncSession, customer_ids: Iterable[int], reaching: frozenset[str]
) -> dict[int, list[tuple[int, str, str]]]:
    """Each customer's reachable identities (id, channel, address), the one they used
    last first (then the oldest)."""
    last_used = (
        select(Message.identity_id, func.max(Message.id).label("last"))
        .group_by(Message.identity_id)
        .subquery()
    )
    found = await session.execute(
        select(Identity.customer_id, Identity.id, Identity.channel, Identity.address)
        .outerjoin(last_used, last_used.c.identity_id == Identity.id)
        .where(
            Identity.customer_id.in_(set(customer_ids)),
            Identity.verified.is_(True),
            Identity.unreachable_reason.is_(None),
            Identity.channel.in_(reaching),
        )
        .order_by(func.coalesce(last_used.c.last, 0).desc(), Identity.id)
    )
    targets: dict[int, list[tuple[int, str, str]]] = {}
    for customer_id, identity_id, channel, address in found:
        targets.setdefault(customer_id, []).append((identity_id, channel, address))
    return targets


async def resend_unseen(app: AppContext, *, now: datetime | None = None) -> list[int]:
    """Queue the replies due for a resend; return the outbox ids added (at most BATCH)."""
    settings = app.settings.outbox
    keeping = channels_keeping_marks(app.adapters)
    reaching = channels_reaching(app.adapters)
    if settings.unseen_resend_after_seconds <= 0 or not keeping or not reaching:
        return []
    now = now or utcnow()
    due_before = now - timedelta(seconds=settings.unseen_resend_after_seconds)
    not_before = now - timedelta(seconds=settings.unseen_resend_max_age_seconds)
    other = aliased(OutboxItem)
    target = aliased(Identity)
    due = (
        select(OutboxItem.message_id, OutboxItem.thread_id, OutboxItem.channel, Thread.customer_id)
        .join(Message, Message.id == OutboxItem.message_id)
        .join(Thread, Thread.id == OutboxItem.thread_id)
        .where(
            OutboxItem.channel.in_(keeping),
            OutboxItem.status == OutboxStatus.DELIVERED,
            OutboxItem.seen_at.is_(None),
            OutboxItem.created_at <= due_before,
            OutboxItem.created_at >= not_before,
            _wanted_in_sql(),
            ~exists().where(other.message_id == OutboxItem.message_id, other.id != OutboxItem.id),
            # Only rows that can go somewhere, so rows that cannot never hold a batch up.
            exists().where(
                target.customer_id == Thread.customer_id,
                target.verified.is_(True),
                target.unreachable_reason.is_(None),
                target.channel.in_(reaching),
                target.channel != OutboxItem.channel,
            ),
        )
        .order_by(OutboxItem.id)
        .limit(BATCH)
    )

    async def work(session: AsyncSession, effects: Effects) -> list[int]:
        rows = (await session.execute(due)).all()
        if not rows:
            return []
        targets = await _targets(session, (row.customer_id for row in rows), reaching)
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        queued_at = utcnow()  # `now` decides what is due; the row is due at once
        added: list[int] = []
        for message_id, thread_id, channel, customer_id in rows:
            choice = next((t for t in targets.get(customer_id, ()) if t[1] != channel), None)
            if choice is None:
                continue
            identity_id, to_channel, address = choice
            new_id = await session.scalar(
                insert(OutboxItem)
                .values(
                    message_id=message_id,
                    thread_id=thread_id,
                    identity_id=identity_id,
                    channel=to_channel,
                    address=address,
                    status=OutboxStatus.PENDING,
                    next_attempt_at=queued_at,
                    created_at=queued_at,
                )
                .on_conflict_do_nothing(index_elements=["message_id", "channel"])
                .returning(OutboxItem.id)
            )
            if new_id is not None:
                added.append(new_id)
                logger.info(
                    "message %d was not shown on %s: queued again on %s (outbox %d)",
                    message_id,
                    channel,
                    to_channel,
                    new_id,
                )
        effects.outbound = bool(added)
        return added

    return await write(app, work)


async def _run(app: AppContext) -> None:
    """Resend every `unseen_check_interval` while this process holds the lock."""
    lock = DatabaseLeadership(app.engine).lock(LOCK)

    async def one_pass() -> None:
        if await lock.acquire():
            while len(await resend_unseen(app)) == BATCH:
                pass  # a backlog: keep going before sleeping

    try:
        await run_passes(
            one_pass,
            app.settings.outbox.unseen_check_interval,
            name="unseen",
            logger=logger,
            passes=app.metrics.worker_passes,
        )
    finally:
        await lock.release()


async def unseen_resend_ctx(app: web.Application) -> AsyncIterator[None]:
    """`cleanup_ctx` entry: runs the resend pass while the app runs (unless turned off)."""
    context = app[CONTEXT]
    tasks = BackgroundTasks(logger)
    if context.settings.outbox.unseen_resend_after_seconds > 0:
        tasks.spawn(_run(context), "pasokh:unseen")
    yield
    await tasks.cancel()
