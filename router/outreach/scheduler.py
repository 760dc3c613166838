"""The outreach scheduler: sends each due message once, or skips it with the reason.

A pass claims due rows with `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has one
writer), so any number of processes may run it and two never take the same row. The
rows live in the database, so a message that came due while no process ran goes out
at the next pass after a start, unless it is older than `[outreach] stale_after_hours`
(then `skipped: stale`).

Sending a message writes it into the customer's thread (opening one if none is open)
as an outbound message with its outbox row, in the same transaction that marks it
sent: the outbox delivers it, on the channel chosen here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from router.context import AppContext
from router.core.messages import AuthorKind, utcnow
from router.core.outbound_messages import enqueue_outbound
from router.core.tasks import BackgroundTasks, run_passes
from router.core.threads import open_thread_of
from router.core.transaction import Effects, is_race, write
from router.http.keys import CONTEXT
from router.identity.merge import current_customer_id
from router.outreach.consent import opted_out
from router.outreach.scheduling import load_template
from router.outreach.templates import TemplateError, choose_language, render
from router.service.calendars import (
    BusinessCalendar,
    CalendarError,
    NoOpeningFound,
    calendar_from_json,
    is_open,
    next_opening,
)
from router.service.reports.events import record_created_by_us
from router.service.sla_threads import service_levels
from router.storage.engine import is_database_unavailable, is_sqlite
from router.storage.models import (
    Customer,
    Identity,
    OutreachMessage,
    OutreachStatus,
    Thread,
    ThreadStatus,
)

logger = logging.getLogger(__name__)

BATCH = 50
_QUIET = re.compile(r"([0-2][0-9]:[0-5][0-9])-([0-2][0-9]:[0-5][0-9])")
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a pass did with one due message."""

    id: int
    template: str
    status: str  # sent | skipped | deferred
    channel: str | None = None
    reason: str | None = None


def quiet_hours_calendar(settings: Settings) -> BusinessCalendar | None:
    """The hours outreach may go out when no calendar is named: every day outside
    `[outreach] quiet_hours` in `[outreach] timezone`; None when no quiet hours are set.

    Raises:
        CalendarError: the quiet hours or the zone cannot be read.
    """
    quiet = settings.outreach.quiet_hours.strip()
    if not quiet:
        return None
    match = _QUIET.fullmatch(quiet)
    if match is None:
        raise CalendarError([f"[outreach] quiet_hours: {quiet!r} is not HH:MM-HH:MM"])
    start, end = match.groups()
    # Quiet over midnight (21:00-09:00) leaves one open interval; inside a day, two.
    hours = [[end, start]] if start > end else [["00:00", start], [end, "24:00"]]
    week = {day: hours for day in ("sat", "sun", "mon", "tue", "wed", "thu", "fri")}
    return calendar_from_json(
        "outreach-quiet-hours", {"timezone": settings.outreach.timezone, "week": week}
    )


async def _sending_hours(app: AppContext, session: AsyncSession) -> BusinessCalendar | None:
    name = app.settings.outreach.calendar
    if name:
        calendar = (await service_levels(app, session)).calendars.get(name)
        if calendar is not None:
            return calendar
        logger.warning("[outreach] calendar %s is unknown; using the quiet hours", name)
    return quiet_hours_calendar(app.settings)


async def send_due(app: AppContext, *, limit: int = BATCH) -> list[Outcome]:
    """Send or skip the messages due at `app.clock()`; return what this pass did."""
    now = app.clock()
    due = (OutreachMessage.status == OutreachStatus.SCHEDULED, OutreachMessage.send_at <= now)
    # Look before locking: an idle pass must not take SQLite's write lock.
    async with app.read_sessions() as session:
        if await session.scalar(select(OutreachMessage.id).where(*due).limit(1)) is None:
            return []

    async def work(session: AsyncSession, effects: Effects) -> list[Outcome]:
        query = (
            select(OutreachMessage)
            .where(*due)
            .order_by(OutreachMessage.send_at, OutreachMessage.id)
            .limit(limit)
        )
        if not is_sqlite(app.settings.database_url):
            query = query.with_for_update(skip_locked=True, of=OutreachMessage)
        rows = list(await session.scalars(query))
        hours = await _sending_hours(app, session) if rows else None
        outcomes = [
            await _isolated(session, row, now, _send_one(app, session, row, now, hours))
            for row in rows
        ]
        effects.outbound = any(outcome.status == OutreachStatus.SENT for outcome in outcomes)
        return outcomes

    # A thread opened here may race a customer's message opening one: run again.
    outcomes = await write(app, work, retry_duplicates=True)
    for outcome in outcomes:
        if outcome.status == "deferred":
            continue
        label = outcome.status if outcome.reason is None else f"skipped:{outcome.reason}"
        app.metrics.outreach_messages.labels(
            outcome.template, outcome.channel or "none", label
        ).inc()
        logger.info(
            "outreach message=%d template=%s channel=%s outcome=%s",
            outcome.id,
            outcome.template,
            outcome.channel,
            label,
        )
    return outcomes


async def _isolated(
    session: AsyncSession, row: OutreachMessage, now: datetime, sending: Awaitable[Outcome]
) -> Outcome:
    """`sending` (`row`'s `_send_one`, not yet begun) in a savepoint: a message that
    fails for a reason of its own (a bug, data edited by hand) is skipped as `error`,
    with nothing it wrote kept, and the batch goes on; failing the pass would fail it
    again at every pass, the other messages with it. What the transaction handles (a
    race, a lost connection, a database that is down) still ends the pass."""
    row_id = row.id  # read now: the savepoint's rollback expires what it changed
    try:
        async with session.begin_nested():
            return await sending
    except Exception as exc:
        if _ends_the_pass(exc):
            raise
        logger.exception("outreach message %d failed; skipped as an error", row_id)
    await session.refresh(row)  # as it was before the savepoint, which rolled back
    return _skip(row, now, "error")


def _ends_the_pass(exc: Exception) -> bool:
    return isinstance(exc, DBAPIError) and (
        exc.connection_invalidated or is_database_unavailable(exc) or is_race(exc, duplicates=True)
    )


async def _send_one(
    app: AppContext,
    session: AsyncSession,
    row: OutreachMessage,
    now: datetime,
    hours: BusinessCalendar | None,
) -> Outcome:
    settings = app.settings.outreach
    if now - row.send_at > timedelta(hours=settings.stale_after_hours):
        return _skip(row, now, "stale")
    customer_id = await current_customer_id(session, row.customer_id)
    if await opted_out(session, customer_id):
        return _skip(row, now, "opted_out")
    if hours is not None and not is_open(hours, now):
        try:
            row.send_at = next_opening(hours, now)
        except NoOpeningFound:
            return _skip(row, now, "no_sending_hours")
        return Outcome(row.id, row.template, "deferred")
    customer = await _locked_customer(app, session, customer_id)
    if customer is None or customer.erased_at is not None:
        return _skip(row, now, "no_customer")
    later = await _over_daily_cap(app, session, customer_id, now)
    if later is not None:
        row.send_at = later
        return Outcome(row.id, row.template, "deferred")
    identity = await _reachable_identity(app, session, customer_id, row.channel)
    if identity is None:
        return _skip(row, now, "unreachable", row.channel)
    template = await load_template(session, row.template)
    if template is None:
        return _skip(row, now, "template_missing", identity.channel)
    language = choose_language(
        template, row.language, customer.language, app.settings.faq.default_language
    )
    params = {
        "customer_name": customer.name or app.texts.template("unnamed_customer", language),
        **row.params,
    }
    try:
        text = render(
            template, language, params, arabic_calendar=app.settings.service.arabic_calendar
        )
    except TemplateError as exc:
        logger.warning("outreach message %d cannot be filled: %s", row.id, exc)
        return _skip(row, now, "template_params", identity.channel)
    thread = await _thread_for(session, customer_id, text.subject, language, identity)
    message = await enqueue_outbound(
        session,
        thread=thread,
        identity=identity,
        text=text.body,
        author=AuthorKind.SYSTEM,
        suggestions=text.suggestions,
        language=language,
    )
    message.subject = text.subject
    row.status = OutreachStatus.SENT
    row.customer_id = customer_id
    row.language = language
    row.sent_channel = identity.channel
    row.message_id = message.id
    row.thread_id = thread.id
    row.finished_at = now
    return Outcome(row.id, row.template, OutreachStatus.SENT, identity.channel)


def _skip(row: OutreachMessage, now: datetime, reason: str, channel: str | None = None) -> Outcome:
    row.status = OutreachStatus.SKIPPED
    row.reason = reason
    row.finished_at = now
    return Outcome(row.id, row.template, OutreachStatus.SKIPPED, channel or row.channel, reason)


async def _locked_customer(
    app: AppContext, session: AsyncSession, customer_id: int
) -> Customer | None:
    """The customer, its row locked on PostgreSQL: two processes sending to one
    customer count the daily cap one after the other."""
    query = select(Customer).where(Customer.id == customer_id)
    if not is_sqlite(app.settings.database_url):
        query = query.with_for_update()
    return await session.scalar(query)


async def _over_daily_cap(
    app: AppContext, session: AsyncSession, customer_id: int, now: datetime
) -> datetime | None:
    """None when one more message keeps within the cap; else when the oldest one in
    the last 24 hours leaves the window."""
    cap = app.settings.outreach.daily_cap_per_customer
    if cap <= 0:
        return None
    window = (
        OutreachMessage.customer_id == customer_id,
        OutreachMessage.status == OutreachStatus.SENT,
        OutreachMessage.finished_at > now - _DAY,
    )
    sent = await session.scalar(select(func.count()).where(*window))
    if int(sent or 0) < cap:
        return None
    oldest = await session.scalar(select(func.min(OutreachMessage.finished_at)).where(*window))
    return (oldest or now) + _DAY


async def _reachable_identity(
    app: AppContext, session: AsyncSession, customer_id: int, channel: str | None
) -> Identity | None:
    """The customer's identity to write to: on `channel` if asked, else the one they
    used last, verified ones first; never one known unreachable (blocked the bot, a
    bounced mailbox) nor on a channel not running here."""
    query = select(Identity).where(
        Identity.customer_id == customer_id,
        Identity.unreachable_reason.is_(None),
        Identity.channel.in_(list(app.adapters)),
    )
    if channel is not None:
        query = query.where(Identity.channel == channel)
    query = query.order_by(
        Identity.verified.desc(), Identity.last_seen_at.desc().nulls_last(), Identity.id.desc()
    )
    return await session.scalar(query.limit(1))


async def _thread_for(
    session: AsyncSession,
    customer_id: int,
    subject: str | None,
    language: str,
    identity: Identity,
) -> Thread:
    """The customer's open thread, else a new one the reply will land in."""
    thread = await open_thread_of(session, customer_id)
    if thread is not None:
        return thread
    now = utcnow()
    previous = await session.scalar(
        select(Thread.id)
        .where(Thread.customer_id == customer_id)
        .order_by(Thread.id.desc())
        .limit(1)
    )
    thread = Thread(
        customer_id=customer_id,
        status=ThreadStatus.BOT,
        tier=0,
        subject=subject,
        language=language,
        last_channel=identity.channel,
        last_identity_id=identity.id,
        previous_thread_id=previous,
        created_at=now,
        updated_at=now,
    )
    session.add(thread)
    await session.flush()
    record_created_by_us(session, thread, channel=identity.channel)
    return thread


async def _one_pass(app: AppContext) -> None:
    while len(await send_due(app)) == BATCH:
        pass  # a backlog: keep going before sleeping


async def outreach_scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    """`cleanup_ctx` entry: runs the outreach scheduler while the app runs."""
    context = app[CONTEXT]
    quiet_hours_calendar(context.settings)  # a bad setting stops the start, named
    tasks = BackgroundTasks(logger)
    passes = run_passes(
        lambda: _one_pass(context),
        context.settings.outreach.scheduler_interval_seconds,
        name="outreach",
        logger=logger,
        passes=context.metrics.worker_passes,
    )
    tasks.spawn(passes, "pasokh:outreach")
    yield
    await tasks.cancel()
