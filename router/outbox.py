"""The outbox worker: delivers committed outbound messages through channel adapters.

Rows are claimed with a lease (on PostgreSQL under `FOR UPDATE SKIP LOCKED`, so two
workers never take one row), sent outside any transaction, and the outcome is
recorded in a new transaction: delivered, retried later with exponential backoff and
jitter, or dead-lettered. A crash between claim and record leaves the lease to expire,
after which the row is sent again (at least once; channels dedupe where they can).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.model import AuthorKind, DeliveryResult, DeliveryStatus, OutboundMessage, utcnow
from router.outbound import ref_from_json
from router.storage.engine import is_sqlite
from router.storage.models import (
    DeliveryAttempt,
    Identity,
    Message,
    OutboxItem,
    OutboxStatus,
    Thread,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Claimed:
    outbox_id: int
    attempts: int
    message: OutboundMessage


def backoff_delay(attempts: int, *, base: float, cap: float) -> float:
    """Seconds to wait before try `attempts + 1`: exponential, capped, with full jitter
    in the upper half so a burst of failures does not retry in lock-step."""
    ceiling = min(cap, base * (2 ** max(attempts - 1, 0)))
    return random.uniform(ceiling / 2, ceiling)


async def claim_due(app: AppContext, limit: int) -> list[_Claimed]:
    """Lease up to `limit` due rows and build their outbound messages."""
    settings = app.settings.outbox
    now = utcnow()
    due = (
        OutboxItem.status == OutboxStatus.PENDING,
        OutboxItem.next_attempt_at <= now,
        or_(OutboxItem.leased_until.is_(None), OutboxItem.leased_until < now),
    )
    # Look before locking: an idle poll must not take SQLite's write lock (or row locks).
    async with app.read_sessions() as session:
        if await session.scalar(select(OutboxItem.id).where(*due).limit(1)) is None:
            return []
    async with app.writing(), app.sessions() as session, session.begin():
        query = (
            select(OutboxItem)
            .where(*due)
            .order_by(OutboxItem.next_attempt_at, OutboxItem.id)
            .limit(limit)
        )
        if not is_sqlite(app.settings.database_url):
            query = query.with_for_update(skip_locked=True)
        rows = list(await session.scalars(query))
        claimed = []
        for row in rows:
            identity = await session.get(Identity, row.identity_id) if row.identity_id else None
            if identity is not None and identity.unreachable_reason:
                # Known not to arrive (blocked the bot, mailbox gone): do not try again.
                row.status = OutboxStatus.DEAD
                row.last_error = f"not sent: recipient unreachable ({identity.unreachable_reason})"
                app.metrics.delivery_failures.labels(row.channel).inc()
                continue
            row.leased_until = now + timedelta(seconds=settings.lease_seconds)
            claimed.append(_Claimed(row.id, row.attempts, await _render(session, row)))
        return claimed


async def _render(session: AsyncSession, row: OutboxItem) -> OutboundMessage:
    message = await session.get_one(Message, row.message_id)
    thread = await session.get_one(Thread, row.thread_id)
    references = await session.scalars(
        select(Message.external_id)
        .where(
            Message.thread_id == row.thread_id,
            Message.channel == row.channel,
            Message.external_id.is_not(None),
            Message.id < message.id,
        )
        .order_by(Message.id)
    )
    return OutboundMessage(
        outbox_id=row.id,
        message_id=message.id,
        thread_id=row.thread_id,
        channel=row.channel,
        address=row.address,
        text=message.text,
        author=AuthorKind(message.author_kind),
        author_name=message.author_name,
        suggestions=tuple(message.suggestions or ()),
        attachments=tuple(ref_from_json(a) for a in message.attachments or ()),
        language=message.language or thread.language,
        subject=thread.subject,
        references=tuple(r for r in references if r),
        automated=bool(message.automated),
        parts_done=row.parts_done,
    )


async def deliver_one(app: AppContext, claimed: _Claimed) -> DeliveryResult:
    """Send through the channel's adapter; an adapter exception counts as a retry."""
    message = claimed.message
    adapter = app.adapters.get(message.channel)
    if adapter is None:
        return DeliveryResult.retry(f"channel {message.channel!r} is not running")
    try:
        return await adapter.send(message)
    except Exception as exc:
        logger.exception(
            "adapter %s raised while sending outbox %d", message.channel, claimed.outbox_id
        )
        return DeliveryResult.retry(f"{type(exc).__name__}: {exc}")


async def record_result(app: AppContext, claimed: _Claimed, result: DeliveryResult) -> None:
    """Write the attempt and the row's new state in one transaction."""
    settings = app.settings.outbox
    now = utcnow()
    channel = claimed.message.channel
    async with app.writing(), app.sessions() as session, session.begin():
        row = await session.get_one(OutboxItem, claimed.outbox_id)
        row.attempts += 1
        row.leased_until = None
        if result.parts_done is not None:
            row.parts_done = result.parts_done
        session.add(
            DeliveryAttempt(
                outbox_id=row.id, attempted_at=now, outcome=result.status, error=result.error
            )
        )
        if result.status == DeliveryStatus.DELIVERED:
            row.status = OutboxStatus.DELIVERED
            row.delivered_at = now
            row.external_id = result.external_id
            row.last_error = None
            message = await session.get_one(Message, row.message_id)
            if result.external_id and message.external_id is None:
                message.external_id = result.external_id
            thread = await session.get_one(Thread, row.thread_id)
            if message.author_kind == AuthorKind.AGENT and thread.first_response_at is None:
                thread.first_response_at = now
        elif result.status == DeliveryStatus.RETRY and row.attempts < settings.max_attempts:
            row.last_error = result.error
            delay = result.retry_after or backoff_delay(
                row.attempts, base=settings.backoff_base, cap=settings.backoff_max
            )
            row.next_attempt_at = now + timedelta(seconds=delay)
        else:
            row.status = OutboxStatus.DEAD
            row.last_error = result.error
            app.metrics.delivery_failures.labels(channel).inc()
        if result.identity_unreachable and row.identity_id is not None:
            identity = await session.get(Identity, row.identity_id)
            if identity is not None:
                identity.unreachable_reason = result.error or "unreachable"
    app.metrics.deliveries.labels(channel, result.status).inc()
    logger.info(
        "delivery outbox=%d message=%d channel=%s outcome=%s attempt=%d error=%s",
        claimed.outbox_id,
        claimed.message.message_id,
        channel,
        result.status,
        claimed.attempts + 1,
        result.error,
    )


async def run_once(app: AppContext) -> int:
    """Deliver what is due now; return how many rows were attempted."""
    claimed = await claim_due(app, app.settings.outbox.batch_size)
    if not claimed:
        return 0
    # One recipient's messages go in order; different recipients go concurrently.
    by_recipient: dict[tuple[str, str], list[_Claimed]] = {}
    for item in claimed:
        by_recipient.setdefault((item.message.channel, item.message.address), []).append(item)

    async def deliver_in_order(items: list[_Claimed]) -> None:
        for item in items:
            await record_result(app, item, await deliver_one(app, item))

    await asyncio.gather(*(deliver_in_order(items) for items in by_recipient.values()))
    return len(claimed)


async def outbox_depth(app: AppContext) -> int:
    """Rows still waiting for delivery."""
    async with app.sessions() as session:
        count = await session.scalar(
            select(func.count()).where(OutboxItem.status == OutboxStatus.PENDING)
        )
    return int(count or 0)


class OutboxWorker:
    """Runs `run_once` in a loop until stopped; wakes early when ingest queues mail."""

    def __init__(self, app: AppContext) -> None:
        self._app = app
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("outbox worker already started")
        self._stopping.clear()
        self._task = asyncio.create_task(self._loop(), name="outbox:worker")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._stopping.set()
        self._app.outbox_wakeup.set()
        await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _loop(self) -> None:
        app = self._app
        while not self._stopping.is_set():
            try:
                attempted = await run_once(app)
            except Exception:
                logger.exception("outbox iteration failed; retrying after the poll interval")
                attempted = 0
            if attempted:
                continue
            app.outbox_wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(app.outbox_wakeup.wait(), app.settings.outbox.poll_interval)
