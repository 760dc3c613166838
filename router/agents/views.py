"""What agents read: the queue, a thread with the customer's whole history, customers,
agents and queue figures, as JSON-ready dicts (the shapes `router/http/openapi.py`
documents). Visibility follows `router.agents.queue.can_view` (`visible_to` in queries) on
every path here: a thread, its earlier threads, a customer's threads and previews.
Email verification codes are masked in every message an agent is shown.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.agents.queue import (
    MAX_TIER,
    Actor,
    Forbidden,
    Invalid,
    NotFound,
    can_view,
    open_counts,
    visible_to,
)
from router.core.email_addresses import shown_address
from router.core.ids import parse_id
from router.core.messages import AuthorKind, utcnow
from router.core.security import b64_bytes, b64_text
from router.core.threads import VERIFICATION_RESOLUTION
from router.identity.display import customer_display_name
from router.identity.links import KIND_CODE, mask_codes
from router.service.reports.summary import team_figures
from router.service.sla import priority_name
from router.service.sla_threads import is_pending
from router.storage.models import (
    OPEN_STATUSES,
    Agent,
    AuditEvent,
    Customer,
    Identity,
    IdentityProof,
    Message,
    OutboxItem,
    OutboxStatus,
    SlaAlarm,
    Thread,
    ThreadStatus,
)

JSON = dict[str, Any]
STATUS_FILTERS = ("bot", "queued", "assigned", "resolved", "open")
SORTS = ("due",)
THREAD_MESSAGES = 2000  # newest messages of the thread itself
EARLIER_THREADS = 10  # earlier threads shown with a thread, newest first
EARLIER_MESSAGES = 100  # newest messages of each earlier thread
PREVIEW_CHARS = 200


@dataclass(frozen=True, slots=True)
class ThreadFilter:
    """`GET /api/v1/threads` query: status (or "open"), tier, assignee ("me", "none", id)."""

    status: str | None = None
    tier: int | None = None
    assignee: str | None = None
    limit: int = 100
    # "due": soonest deadline first (threads without one last); None: the default order.
    sort: str | None = None
    # True: only threads with a fired breach; False: only without.
    breached: bool | None = None
    # Only threads with a deadline at or before this instant.
    due_before: datetime | None = None
    # True: only threads a low survey answer flagged; False: only unflagged ones.
    low_rating: bool | None = None
    # The `next` of the previous page (keyset: see `thread_order`).
    cursor: str | None = None


def iso(value: datetime | None) -> str | None:
    """RFC 3339 UTC, or None."""
    return value.isoformat() if value is not None else None


def agent_brief(agent: Agent | None) -> JSON | None:
    """The few fields of an agent a thread shows."""
    if agent is None:
        return None
    return {"id": agent.id, "name": agent.name, "email": agent.email, "tier": agent.tier}


def thread_json(
    thread: Thread,
    *,
    customer_name: str | None,
    assignee: Agent | None,
    last_message: Message | None = None,
    last_message_masked: bool = False,
    last_customer_message: Message | None = None,
    last_customer_message_masked: bool = False,
    breaches: Sequence[SlaAlarm] = (),
) -> JSON:
    """A thread's summary (as listed, and at the top of its detail)."""
    waiting = (
        round((utcnow() - thread.queued_at).total_seconds(), 1)
        if thread.status == ThreadStatus.QUEUED and thread.queued_at is not None
        else None
    )
    return {
        "id": thread.id,
        "customer_id": thread.customer_id,
        "customer_name": customer_name,
        "status": thread.status,
        "tier": thread.tier,
        "priority": priority_name(thread.priority),
        "pending": is_pending(thread),
        "sla": {
            "first_response_due": iso(thread.first_response_due),
            "next_response_due": iso(thread.next_response_due),
            "resolution_due": iso(thread.resolution_due),
            "breaches": [
                {
                    "target": b.target,
                    "kind": b.kind,
                    "due_at": iso(b.due_at),
                    "fired_at": iso(b.fired_at),
                }
                for b in breaches
            ],
        },
        "assignee": agent_brief(assignee),
        "subject": thread.subject,
        "language": thread.language,
        "last_channel": thread.last_channel,
        "last_identity_id": thread.last_identity_id,
        "previous_thread_id": thread.previous_thread_id,
        "resolution": thread.resolution,
        "created_at": iso(thread.created_at),
        "updated_at": iso(thread.updated_at),
        "queued_at": iso(thread.queued_at),
        "assigned_at": iso(thread.assigned_at),
        "first_response_at": iso(thread.first_response_at),
        "last_customer_message_at": iso(thread.last_customer_message_at),
        "resolved_at": iso(thread.resolved_at),
        # A survey answer at or below the low threshold flagged it for the team lead.
        "low_rating_at": iso(thread.low_rating_at),
        "waiting_seconds": waiting,
        "last_message": _preview(last_message, last_message_masked),
        # What the queue shows: after a hand-off the newest message is the bot's or the
        # router's boilerplate, alike on every row; the customer's own words tell threads
        # apart.
        "last_customer_message": _preview(last_customer_message, last_customer_message_masked),
    }


def _preview(message: Message | None, masked: bool) -> JSON | None:
    if message is None:
        return None
    return {
        "id": message.id,
        "author_kind": message.author_kind,
        "channel": message.channel,
        "text": _shown_text(message.text, masked)[:PREVIEW_CHARS],
        "created_at": iso(message.created_at),
    }


def _shown_text(text: str, masked: bool) -> str:
    return mask_codes(text) if masked else text


def message_json(
    message: Message,
    deliveries: Sequence[OutboxItem] = (),
    *,
    masked: bool = False,
    seen_channels: frozenset[str] = frozenset(),
) -> JSON:
    """A stored message, with its delivery state when it was queued to a channel
    (`deliveries`: its outbox rows in order, see `deliveries_by_message`); `masked` (a
    mail that carried a verification code) blanks the code. `seen_channels`: the
    channels that keep seen marks (router/core/seen.py); elsewhere `seen` is null."""
    delivery = deliveries[0] if deliveries else None
    resent = deliveries[1] if len(deliveries) > 1 else None
    return {
        "id": message.id,
        "thread_id": message.thread_id,
        "direction": message.direction,
        "author_kind": message.author_kind,
        "author_name": message.author_name,
        "agent_id": message.agent_id,
        "channel": message.channel,
        "identity_id": message.identity_id,
        "text": _shown_text(message.text, masked),
        "full_text": (
            _shown_text(message.full_text, masked) if message.full_text is not None else None
        ),
        "subject": message.subject,
        "internal": message.internal,
        "automated": message.automated,
        # False: an email whose From could not be authenticated (SPF/DKIM/DMARC).
        "sender_authenticated": message.sender_authenticated,
        "language": message.language,
        "attachments": [
            {
                "sha256": str(a.get("sha256")),
                "filename": str(a.get("filename")),
                "content_type": str(a.get("content_type")),
                "size": int(str(a.get("size", 0))),
            }
            for a in message.attachments or []
        ],
        "suggestions": list(message.suggestions or []),
        # The survey the message asked; never its token (that is the customer's to use).
        "survey": (
            {"kind": message.survey.get("kind"), "scale": message.survey.get("scale")}
            if message.survey
            else None
        ),
        "created_at": iso(message.created_at),
        "delivery": (
            {
                **_delivery_state(delivery),
                "seen": (
                    delivery.seen_at is not None if delivery.channel in seen_channels else None
                ),
                "seen_at": iso(delivery.seen_at) if delivery.channel in seen_channels else None,
                "resent": (
                    {"channel": resent.channel, **_delivery_state(resent)}
                    if resent is not None
                    else None
                ),
            }
            if delivery is not None
            else None
        ),
    }


def _delivery_state(row: OutboxItem) -> JSON:
    return {
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "delivered_at": iso(row.delivered_at),
        # A reply the channel deferred is still on its way: the agent sees
        # "retrying, next try at …" rather than a failure.
        "next_attempt_at": (
            iso(row.next_attempt_at)
            if row.status == OutboxStatus.PENDING and row.last_error
            else None
        ),
    }


async def deliveries_by_message(
    session: AsyncSession, message_ids: Sequence[int]
) -> dict[int, list[OutboxItem]]:
    """Each message's outbox rows, oldest first: the one to the message's own channel,
    then a resend of a reply the customer was not shown (router/core/seen.py)."""
    found: dict[int, list[OutboxItem]] = {}
    if message_ids:
        for item in await session.scalars(
            select(OutboxItem).where(OutboxItem.message_id.in_(message_ids)).order_by(OutboxItem.id)
        ):
            found.setdefault(item.message_id, []).append(item)
    return found


def identity_json(identity: Identity) -> JSON:
    """One of a customer's addresses, as people write it (`shown_address`: an email
    domain in Unicode); `unreachable_reason` tells agents not to use it."""
    return {
        "id": identity.id,
        "channel": identity.channel,
        "address": shown_address(identity.address),
        "display_name": identity.display_name,
        "username": identity.username,
        "verified": identity.verified,
        "unreachable_reason": identity.unreachable_reason,
        "created_at": iso(identity.created_at),
        "last_seen_at": iso(identity.last_seen_at),
    }


def canned_json(view: Any) -> JSON:
    """A `router.agents.canned.CannedView`."""
    return {
        "id": view.id,
        "language": view.language,
        "title": view.title,
        "text": view.text,
        "rendered": view.rendered,
    }


async def _agents_by_id(session: AsyncSession, ids: Iterable[int | None]) -> dict[int, Agent]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return {a.id: a for a in await session.scalars(select(Agent).where(Agent.id.in_(wanted)))}


async def customer_names(session: AsyncSession, ids: Iterable[int]) -> dict[int, str | None]:
    """Each customer's display name (`router.identity.display`), by customer id."""
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await session.execute(select(Customer.id, Customer.name).where(Customer.id.in_(wanted)))
    names = {int(i): n for i, n in rows}
    identities: dict[int, list[Identity]] = {}
    for identity in await session.scalars(select(Identity).where(Identity.customer_id.in_(wanted))):
        identities.setdefault(identity.customer_id, []).append(identity)
    return {i: customer_display_name(n, identities.get(i, ())) for i, n in names.items()}


async def code_mail_ids(session: AsyncSession, message_ids: Sequence[int]) -> set[int]:
    """Which of these messages carried an email verification code: while the code is
    live its text holds it, and nobody but the mailbox's owner may read it."""
    if not message_ids:
        return set()
    rows = await session.scalars(
        select(IdentityProof.message_id).where(
            IdentityProof.kind == KIND_CODE, IdentityProof.message_id.in_(message_ids)
        )
    )
    return {int(i) for i in rows if i is not None}


async def _last_messages(
    session: AsyncSession, thread_ids: Sequence[int], author: AuthorKind | None = None
) -> dict[int, Message]:
    """The newest non-internal message of each thread (of `author` only, when given)."""
    if not thread_ids:
        return {}
    where: list[ColumnElement[bool]] = [
        Message.thread_id.in_(thread_ids),
        Message.internal.is_(False),
    ]
    if author is not None:
        where.append(Message.author_kind == author)
    newest = select(func.max(Message.id)).where(*where).group_by(Message.thread_id)
    return {
        m.thread_id: m for m in await session.scalars(select(Message).where(Message.id.in_(newest)))
    }


async def fired_alarms(
    session: AsyncSession, thread_ids: Sequence[int]
) -> dict[int, list[SlaAlarm]]:
    """The warnings and breaches fired on each thread, oldest first."""
    found: dict[int, list[SlaAlarm]] = {}
    if thread_ids:
        for alarm in await session.scalars(
            select(SlaAlarm)
            .where(SlaAlarm.thread_id.in_(thread_ids), SlaAlarm.fired_at.is_not(None))
            .order_by(SlaAlarm.fired_at, SlaAlarm.id)
        ):
            found.setdefault(alarm.thread_id, []).append(alarm)
    return found


async def thread_summaries(session: AsyncSession, threads: Sequence[Thread]) -> list[JSON]:
    names = await customer_names(session, (t.customer_id for t in threads))
    agents = await _agents_by_id(session, (t.assignee_id for t in threads))
    last = await _last_messages(session, [t.id for t in threads])
    said = await _last_messages(session, [t.id for t in threads], AuthorKind.CUSTOMER)
    masked = await code_mail_ids(session, [m.id for m in (*last.values(), *said.values())])
    fired = await fired_alarms(session, [t.id for t in threads])
    return [
        thread_json(
            t,
            customer_name=names.get(t.customer_id),
            assignee=agents.get(t.assignee_id) if t.assignee_id is not None else None,
            last_message=last.get(t.id),
            last_message_masked=t.id in last and last[t.id].id in masked,
            last_customer_message=said.get(t.id),
            last_customer_message_masked=t.id in said and said[t.id].id in masked,
            breaches=fired.get(t.id, ()),
        )
        for t in threads
    ]


# The threads agents' lists show: not those that only carried a verification code mail
# (still reachable by id, and listed once a reply reopens one as a conversation).
_CONVERSATIONS = Thread.resolution.is_distinct_from(VERIFICATION_RESOLUTION)


async def list_threads(
    session: AsyncSession, actor: Actor, query: ThreadFilter
) -> tuple[list[JSON], str | None]:
    """One page of the threads the actor may see (queued ones by priority, then longest
    waiting first) and the cursor of the next page (None: no more).

    Raises:
        Forbidden: a non-admin asked for another tier. Invalid: a bad filter value.
    """
    where: list[ColumnElement[bool]] = [visible_to(actor), _CONVERSATIONS]
    if query.status is not None:
        if query.status not in STATUS_FILTERS:
            raise Invalid(f"status must be one of {', '.join(STATUS_FILTERS)}")
        if query.status == "open":
            where.append(Thread.status.in_(OPEN_STATUSES))
        else:
            where.append(Thread.status == query.status)
    if query.tier is not None:
        if not 0 <= query.tier <= MAX_TIER:
            raise Invalid(f"tier must be 0 to {MAX_TIER}")
        if not actor.is_admin and query.tier != actor.tier:
            raise Forbidden(f"you work tier {actor.tier}; only admins see tier {query.tier}")
        where.append(Thread.tier == query.tier)
    if query.assignee is not None:
        if query.assignee == "me":
            where.append(Thread.assignee_id == actor.agent_id)
        elif query.assignee == "none":
            where.append(Thread.assignee_id.is_(None))
        elif (agent_id := parse_id(query.assignee)) is not None:
            where.append(Thread.assignee_id == agent_id)
        else:
            raise Invalid("assignee must be 'me', 'none' or an agent id")
    soonest = _soonest_due()
    if query.due_before is not None:
        where.append(soonest <= query.due_before)
    if query.breached is not None:
        fired_breach = (
            select(SlaAlarm.id)
            .where(
                SlaAlarm.thread_id == Thread.id,
                SlaAlarm.kind == "breach",
                SlaAlarm.fired_at.is_not(None),
            )
            .exists()
        )
        where.append(fired_breach if query.breached else ~fired_breach)
    if query.low_rating is not None:
        flagged = Thread.low_rating_at.is_not(None)
        where.append(flagged if query.low_rating else Thread.low_rating_at.is_(None))
    if query.sort is not None and query.sort not in SORTS:
        raise Invalid(f"sort must be one of {', '.join(SORTS)}")
    kind, keys = thread_order(query)
    threads, next_cursor = await keyset_page(
        session,
        select(Thread).where(*where),
        kind=kind,
        keys=keys,
        key_values=lambda thread: _key_values(kind, thread),
        limit=query.limit,
        cursor=query.cursor,
    )
    return await thread_summaries(session, threads), next_cursor


T = TypeVar("T")
SortKeys = tuple[tuple[Any, bool], ...]  # (column or SQL expression, descending)
_FAR = datetime(9999, 1, 1, tzinfo=UTC)


def thread_order(query: ThreadFilter) -> tuple[str, SortKeys]:
    """The list's order as keyset keys, the thread id last so every key is unique:
    by deadline (none: last), queued by priority then wait, else most recently changed."""
    if query.sort == "due":
        return "due", ((_soonest_due(missing=_FAR), False), (Thread.id, False))
    if query.status == ThreadStatus.QUEUED:
        return "queue", (
            (Thread.priority, True),
            (Thread.queued_at, False),
            (Thread.id, False),
        )
    return "recent", ((Thread.updated_at, True), (Thread.id, True))


def _key_values(kind: str, thread: Thread) -> list[Any]:
    if kind == "due":
        dues = [thread.first_response_due, thread.next_response_due, thread.resolution_due]
        return [min((d for d in dues if d is not None), default=_FAR), thread.id]
    if kind == "queue":
        return [thread.priority, thread.queued_at or _FAR, thread.id]
    return [thread.updated_at, thread.id]


def keyset_after(keys: SortKeys, values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows after the one with `values` in the order of `keys` (lexicographic)."""
    clauses = []
    for index, ((expr, descending), value) in enumerate(zip(keys, values, strict=True)):
        same = [k == v for (k, _), v in zip(keys[:index], values[:index], strict=True)]
        clauses.append(and_(*same, expr < value if descending else expr > value))
    return or_(*clauses)


def encode_keyset_cursor(kind: str, values: Sequence[Any]) -> str:
    """The opaque `next` of a keyset page: the list's kind and its last row's keys."""
    raw = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    return b64_text(json.dumps({"k": kind, "v": raw}, separators=(",", ":")).encode("ascii"))


def decode_keyset_cursor(cursor: str, kind: str, keys: SortKeys) -> list[Any]:
    """The key values a cursor of this list and order names; Invalid for any other."""
    try:
        data = json.loads(b64_bytes(cursor).decode("ascii"))
        if not isinstance(data, dict) or data.get("k") != kind:
            raise ValueError(cursor)
        raw = data["v"]
        if not isinstance(raw, list) or len(raw) != len(keys):
            raise ValueError(cursor)
        values: list[Any] = []
        for value in raw:
            if isinstance(value, dict) and isinstance(value.get("t"), str):
                instant = datetime.fromisoformat(value["t"])
                if instant.tzinfo is None:
                    raise ValueError(value)
                values.append(instant)
            elif isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
                values.append(value)
            else:
                raise ValueError(value)
    except (ValueError, UnicodeError, KeyError):
        raise Invalid("cursor is not one this list gave out (with these filters)") from None
    return values


async def keyset_page(
    session: AsyncSession,
    query: Select[T],
    *,
    kind: str,
    keys: SortKeys,
    key_values: Callable[[T], Sequence[Any]],
    limit: int,
    cursor: str | None,
) -> tuple[list[T], str | None]:
    """One page of `query` in the order of `keys` after `cursor`, and the next cursor
    (None: no more). Rows inserted meanwhile never repeat or shift a row shown."""
    if cursor is not None:
        query = query.where(keyset_after(keys, decode_keyset_cursor(cursor, kind, keys)))
    order = [expr.desc() if descending else expr for expr, descending in keys]
    rows = list(await session.scalars(query.order_by(*order).limit(limit)))
    next_cursor = None
    if len(rows) == limit:
        next_cursor = encode_keyset_cursor(kind, key_values(rows[-1]))
    return rows, next_cursor


def _soonest_due(missing: datetime | None = None) -> ColumnElement[datetime | None]:
    """The earliest of a thread's three deadlines (`missing`, NULL by default, when it
    has none), in SQL."""
    dues = (Thread.first_response_due, Thread.next_response_due, Thread.resolution_due)
    far = datetime(9999, 1, 1, tzinfo=UTC)
    filled = [func.coalesce(due, far) for due in dues]
    # LEAST on PostgreSQL is a many-argument MIN on SQLite: write it portably.
    earliest: ColumnElement[datetime] = filled[0]
    for other in filled[1:]:
        earliest = case((earliest <= other, earliest), else_=other)
    return case((and_(*(due.is_(None) for due in dues)), missing), else_=earliest)


async def _messages(
    session: AsyncSession,
    thread_id: int,
    *,
    newest: int | None = None,
    seen_channels: frozenset[str] = frozenset(),
) -> list[JSON]:
    query = select(Message).where(Message.thread_id == thread_id).order_by(Message.id.desc())
    if newest is not None:
        query = query.limit(newest)
    messages = list(reversed(list(await session.scalars(query))))
    masked = await code_mail_ids(session, [m.id for m in messages])
    outbox = await deliveries_by_message(session, [m.id for m in messages])
    return [
        message_json(m, outbox.get(m.id, ()), masked=m.id in masked, seen_channels=seen_channels)
        for m in messages
    ]


async def _audit(session: AsyncSession, thread_id: int) -> list[JSON]:
    events = list(
        await session.scalars(
            select(AuditEvent).where(AuditEvent.thread_id == thread_id).order_by(AuditEvent.id)
        )
    )
    agents = await _agents_by_id(session, (e.actor_id for e in events if e.actor_kind == "agent"))
    return [
        {
            "id": e.id,
            "at": iso(e.at),
            "actor_kind": e.actor_kind,
            "actor_id": e.actor_id,
            "actor_name": agents[e.actor_id].name
            if e.actor_kind == "agent" and e.actor_id in agents
            else None,
            "action": e.action,
            "details": dict(e.details or {}),
        }
        for e in events
    ]


async def _customer(session: AsyncSession, customer_id: int) -> tuple[Customer, JSON]:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(f"customer {customer_id} does not exist")
    identities = await session.scalars(
        select(Identity).where(Identity.customer_id == customer_id).order_by(Identity.id)
    )
    identity_rows = list(identities)
    return customer, {
        "id": customer.id,
        "name": customer.name,
        "display_name": customer_display_name(customer.name, identity_rows),
        "language": customer.language,
        "created_at": iso(customer.created_at),
        "identities": [identity_json(i) for i in identity_rows],
    }


async def thread_detail(
    session: AsyncSession,
    actor: Actor,
    thread_id: int,
    *,
    seen_channels: frozenset[str] = frozenset(),
) -> JSON:
    """The thread, all its messages (notes included), the customer with identities, the
    customer's earlier threads the actor may see with their newest messages, and the
    thread's audit trail. `seen_channels`: as in `message_json`.
    """
    thread = await session.get(Thread, thread_id)
    if thread is None:
        raise NotFound(f"thread {thread_id} does not exist")
    if not can_view(actor, thread):
        raise Forbidden(f"thread {thread_id} is at tier {thread.tier}; you work tier {actor.tier}")
    _, customer_data = await _customer(session, thread.customer_id)
    earlier = list(
        await session.scalars(
            select(Thread)
            .where(
                Thread.customer_id == thread.customer_id,
                Thread.id != thread.id,
                # Earlier by when it began (a merge or an import brings older threads
                # with newer ids); the id breaks a tie.
                or_(
                    Thread.created_at < thread.created_at,
                    and_(Thread.created_at == thread.created_at, Thread.id < thread.id),
                ),
                visible_to(actor),
                _CONVERSATIONS,
            )
            .order_by(Thread.created_at.desc(), Thread.id.desc())
            .limit(EARLIER_THREADS)
        )
    )
    summaries = await thread_summaries(session, [thread, *earlier])
    return {
        "thread": summaries[0],
        "messages": await _messages(
            session, thread.id, newest=THREAD_MESSAGES, seen_channels=seen_channels
        ),
        "customer": customer_data,
        "earlier_threads": [
            {
                **summary,
                "messages": await _messages(
                    session, t.id, newest=EARLIER_MESSAGES, seen_channels=seen_channels
                ),
            }
            for summary, t in zip(summaries[1:], earlier, strict=True)
        ],
        "audit": await _audit(session, thread.id),
    }


async def customer_detail(session: AsyncSession, actor: Actor, customer_id: int) -> JSON:
    """A customer, their identities and the threads the actor may see (for agents who
    may see one of them)."""
    _, data = await _customer(session, customer_id)
    threads = list(
        await session.scalars(
            select(Thread)
            .where(Thread.customer_id == customer_id, visible_to(actor), _CONVERSATIONS)
            .order_by(Thread.id.desc())
        )
    )
    if not actor.is_admin and not threads:
        raise Forbidden(f"customer {customer_id} has no thread at your tier")
    return {**data, "threads": await thread_summaries(session, threads)}


AGENT_ORDER: SortKeys = ((Agent.tier, False), (Agent.name, False), (Agent.id, False))


async def list_agents(
    session: AsyncSession, *, limit: int, cursor: str | None = None
) -> tuple[list[JSON], str | None]:
    """One page of the agents, by tier then name, with presence and load (for transfer
    pickers), and the next page's cursor."""
    agents, next_cursor = await keyset_page(
        session,
        select(Agent),
        kind="agents",
        keys=AGENT_ORDER,
        key_values=lambda agent: (agent.tier, agent.name, agent.id),
        limit=limit,
        cursor=cursor,
    )
    return await agents_json(session, agents), next_cursor


async def agents_json(session: AsyncSession, agents: list[Agent]) -> list[JSON]:
    """Agents as the agent list shows them: tier, presence, load, admin, active."""
    counts = await open_counts(session, (a.id for a in agents))
    return [
        {
            **(agent_brief(a) or {}),
            "is_admin": a.is_admin,
            "presence": a.presence,
            "open_threads": counts.get(a.id, 0),
            "max_concurrent": a.max_concurrent,
            "active": a.deactivated_at is None,
            # No password yet: the agent can only join through an invitation link.
            "invited": a.password_hash is None,
        }
        for a in agents
    ]


def presence_json(agent: Agent) -> JSON:
    """An agent's presence."""
    return {
        "agent_id": agent.id,
        "status": agent.presence,
        "changed_at": iso(agent.presence_changed_at),
    }


async def queue_stats(session: AsyncSession) -> JSON:
    """Counts per tier and status, online agents and free capacity, oldest wait, and the
    median first-response and resolution times of the last 24 hours."""
    now = utcnow()
    rows = await session.execute(
        select(Thread.tier, Thread.status, func.count(), func.min(Thread.queued_at))
        .where(Thread.status.in_(OPEN_STATUSES))
        .group_by(Thread.tier, Thread.status)
    )
    tiers: dict[int, JSON] = {
        tier: {
            "tier": tier,
            "queued": 0,
            "assigned": 0,
            "oldest_waiting_seconds": None,
            "agents_online": 0,
            "free_capacity": 0,
        }
        for tier in range(1, MAX_TIER + 1)
    }
    bot = 0
    for tier, status, count, oldest in rows:
        if status == ThreadStatus.BOT:
            bot += int(count)
            continue
        entry = tiers.get(int(tier))
        if entry is None:
            continue
        entry[str(status)] = int(count)
        if status == ThreadStatus.QUEUED and oldest is not None:
            # SQLite hands MIN() back as text; the column type is lost in an aggregate.
            when = oldest if isinstance(oldest, datetime) else datetime.fromisoformat(str(oldest))
            when = when if when.tzinfo else when.replace(tzinfo=now.tzinfo)
            entry["oldest_waiting_seconds"] = round((now - when).total_seconds(), 1)
    online = list(await session.scalars(select(Agent).where(Agent.presence == "online")))
    counts = await open_counts(session, (a.id for a in online))
    for agent in online:
        entry = tiers.get(agent.tier)
        if entry is not None:
            entry["agents_online"] += 1
            entry["free_capacity"] += max(agent.max_concurrent - counts.get(agent.id, 0), 0)

    # The report's definitions over the last 24 hours (docs/reports.md).
    day = await team_figures(session, now - timedelta(hours=24), now)
    return {
        "generated_at": iso(now),
        "bot": bot,
        "tiers": list(tiers.values()),
        "last_24h": {
            "first_responses": day.first_response_seconds.count,
            "median_first_response_seconds": day.first_response_seconds.median,
            "resolved": day.threads_resolved,
            "median_resolution_seconds": day.resolution_seconds.median,
        },
    }
