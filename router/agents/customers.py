"""Search, the customers list, and what agents write about a customer (notes, tags).

Search matches the normalised `search_text` columns (written on insert by the models'
listeners, with the FAQ's normalisation) by substring, through SQLite's FTS5 trigram
indexes where they exist (`router.storage.fulltext`) or PostgreSQL's pg_trgm ones, so
a query spelled with Arabic letters, Persian digits or a ZWNJ finds the Persian text,
and a thread by its id.
Every result passes the one visibility rule (`visible_to`): a customer is shown to an
agent who may see one of their threads, a message when its thread is visible.

Lists page by keyset on the id, newest first: a cursor names the last id shown, so rows
inserted meanwhile never shift a page (they are newer than every cursor).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import normalised_tag
from router.agents.queue import (
    Actor,
    Forbidden,
    Invalid,
    NotFound,
    apply_priority_rules,
    visible_to,
)
from router.agents.views import (
    code_mail_ids,
    identity_json,
    iso,
    message_json,
    thread_summaries,
)
from router.context import AppContext
from router.core.email_addresses import stored_form
from router.core.ids import parse_id
from router.core.security import b64_bytes, b64_text
from router.core.transaction import Effects, write
from router.identity.display import customer_display_name
from router.storage.fulltext import contains
from router.storage.fulltext import indexed as fulltext_indexed
from router.storage.models import (
    Agent,
    Customer,
    CustomerNote,
    CustomerTag,
    Identity,
    Message,
    SurveyAnswer,
    Thread,
    searchable,
)

JSON = dict[str, Any]
MAX_LIMIT = 100
MAX_TAG = 64
MAX_NOTE = 10_000


def encode_cursor(position: dict[str, int | None]) -> str | None:
    """An opaque cursor for `position` (None when every section is done)."""
    if all(v is None for v in position.values()):
        return None
    return b64_text(json.dumps(position, separators=(",", ":")).encode("ascii"))


def decode_cursor(cursor: str | None, sections: tuple[str, ...]) -> dict[str, int | None]:
    """The position a cursor names; a fresh one without; Invalid for a forged one."""
    if cursor is None:
        return dict.fromkeys(sections, 0)
    try:
        data = json.loads(b64_bytes(cursor).decode("ascii"))
        if not isinstance(data, dict) or set(data) != set(sections):
            raise ValueError(cursor)
        position: dict[str, int | None] = {}
        for name in sections:
            value = data[name]
            position[name] = None if value is None else parse_id(value, minimum=0)
            if value is not None and position[name] is None:
                raise ValueError(cursor)
    except (ValueError, UnicodeError):
        raise Invalid("cursor is not one this server gave out") from None
    return position


def _below(column: Any, last: int) -> list[ColumnElement[bool]]:
    """Keyset condition: ids below the last one shown (0: from the newest)."""
    return [column < last] if last else []


def _customer_visible(actor: Actor) -> ColumnElement[bool]:
    return exists().where(Thread.customer_id == Customer.id, visible_to(actor))


async def _customer_rows(session: AsyncSession, customers: list[Customer]) -> list[JSON]:
    ids = [c.id for c in customers]
    identities: dict[int, list[JSON]] = {}
    rows: dict[int, list[Identity]] = {}
    tags: dict[int, list[str]] = {}
    if ids:
        for identity in await session.scalars(
            select(Identity).where(Identity.customer_id.in_(ids)).order_by(Identity.id)
        ):
            identities.setdefault(identity.customer_id, []).append(identity_json(identity))
            rows.setdefault(identity.customer_id, []).append(identity)
        for tag in await session.scalars(
            select(CustomerTag).where(CustomerTag.customer_id.in_(ids)).order_by(CustomerTag.tag)
        ):
            tags.setdefault(tag.customer_id, []).append(tag.tag)
    return [
        {
            "id": c.id,
            "name": c.name,
            "display_name": customer_display_name(c.name, rows.get(c.id, ())),
            "language": c.language,
            "created_at": iso(c.created_at),
            "identities": identities.get(c.id, []),
            "tags": tags.get(c.id, []),
        }
        for c in customers
    ]


def _live_customers() -> list[ColumnElement[bool]]:
    return [Customer.merged_into_id.is_(None), Customer.erased_at.is_(None)]


async def list_customers(
    session: AsyncSession, actor: Actor, *, cursor: str | None, limit: int, tag: str | None
) -> JSON:
    """Customers the actor may see, newest first, one keyset page."""
    position = decode_cursor(cursor, ("c",))
    last = position["c"]
    where = [*_live_customers(), _customer_visible(actor)]
    if tag is not None:
        # The tag as add_tag stores it: "VIP" and " Gold  member " find "vip", "gold member".
        stored = normalised_tag(tag)
        where.append(
            exists().where(CustomerTag.customer_id == Customer.id, CustomerTag.tag == stored)
        )
    customers: list[Customer] = []
    if last is not None:
        customers = list(
            await session.scalars(
                select(Customer)
                .where(*where, *_below(Customer.id, last))
                .order_by(Customer.id.desc())
                .limit(limit)
            )
        )
    more = len(customers) == limit
    return {
        "customers": await _customer_rows(session, customers),
        "next": encode_cursor({"c": customers[-1].id if more else None}),
    }


def _identity_holds(needle: str, fts: bool) -> ColumnElement[bool]:
    return contains("identities", Identity.id, Identity.search_text, needle, fts)


async def search(
    session: AsyncSession, actor: Actor, query: str, *, cursor: str | None, limit: int
) -> JSON:
    """Customers (name, email, phone, Telegram username), messages (text, subject) and
    threads (by id) matching `query`, each newest first, paged together."""
    needle = searchable(query)
    if not needle:
        raise Invalid("q must hold a letter or a digit")
    position = decode_cursor(cursor, ("c", "m"))
    fts = await fulltext_indexed(session)
    customers: list[Customer] = []
    if position["c"] is not None:
        # A phone number typed with its trunk 0 (0912…) finds it stored with the
        # country code (+98 912…).
        phone = needle.lstrip("0") if needle.isdigit() and len(needle) >= 5 else needle
        # An email address (or its domain) typed as agents are shown it, in Unicode,
        # finds it stored in A-labels; typed in A-labels, it is found as it is.
        stored = stored_form(query)
        held = _identity_holds(needle, fts) | _identity_holds(phone, fts)
        if stored is not None and (stored_needle := searchable(stored)):
            held = held | _identity_holds(stored_needle, fts)
        # An IN list, not a correlated EXISTS: the customers are then looked up by id
        # from what the indexes found instead of each one being tested.
        matches_identity = Customer.id.in_(select(Identity.customer_id).where(held))
        customers = list(
            await session.scalars(
                select(Customer)
                .where(
                    *_live_customers(),
                    _customer_visible(actor),
                    contains("customers", Customer.id, Customer.search_text, needle, fts)
                    | matches_identity,
                    *_below(Customer.id, position["c"]),
                )
                .order_by(Customer.id.desc())
                .limit(limit)
            )
        )
    messages: list[Message] = []
    if position["m"] is not None:
        messages = list(
            await session.scalars(
                select(Message)
                .join(Thread, Thread.id == Message.thread_id)
                .where(
                    visible_to(actor),
                    contains("messages", Message.id, Message.search_text, needle, fts),
                    *_below(Message.id, position["m"]),
                )
                .order_by(Message.id.desc())
                .limit(limit)
            )
        )
    threads: list[JSON] = []
    if cursor is None and needle.isdigit() and (thread_id := parse_id(needle)) is not None:
        found = await session.scalar(
            select(Thread).where(Thread.id == thread_id, visible_to(actor))
        )
        threads = await thread_summaries(session, [found] if found is not None else [])
    masked = await code_mail_ids(session, [m.id for m in messages])
    return {
        "customers": await _customer_rows(session, customers),
        "threads": threads,
        "messages": [message_json(m, masked=m.id in masked) for m in messages],
        "next": encode_cursor(
            {
                "c": customers[-1].id if len(customers) == limit else None,
                "m": messages[-1].id if len(messages) == limit else None,
            }
        ),
    }


async def profile_extras(session: AsyncSession, customer_id: int) -> JSON:
    """What the profile adds to a customer's detail: tags, notes, ratings."""
    tags = await session.scalars(
        select(CustomerTag.tag)
        .where(CustomerTag.customer_id == customer_id)
        .order_by(CustomerTag.tag)
    )
    notes = await session.execute(
        select(CustomerNote, Agent.name)
        .outerjoin(Agent, Agent.id == CustomerNote.agent_id)
        .where(CustomerNote.customer_id == customer_id)
        .order_by(CustomerNote.id.desc())
    )
    ratings = await session.scalars(
        select(SurveyAnswer)
        .where(SurveyAnswer.customer_id == customer_id, SurveyAnswer.score.is_not(None))
        .order_by(SurveyAnswer.id.desc())
    )
    return {
        "tags": list(tags),
        "notes": [note_json(note, name) for note, name in notes],
        "ratings": [
            {
                "thread_id": r.thread_id,
                "kind": r.kind,
                "score": r.score,
                "comment": r.comment,
                "answered_at": iso(r.answered_at),
            }
            for r in ratings
        ],
    }


def note_json(note: CustomerNote, agent_name: str | None) -> JSON:
    return {
        "id": note.id,
        "text": note.text,
        "agent_id": note.agent_id,
        "agent_name": agent_name,
        "created_at": iso(note.created_at),
    }


async def _visible_customer(session: AsyncSession, actor: Actor, customer_id: int) -> Customer:
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.erased_at is not None:
        raise NotFound(f"customer {customer_id} does not exist")
    if not actor.is_admin:
        seen = await session.scalar(
            select(func.count()).where(Thread.customer_id == customer_id, visible_to(actor))
        )
        if not seen:
            raise Forbidden(f"customer {customer_id} has no thread at your tier")
    return customer


async def add_note(app: AppContext, actor: Actor, customer_id: int, text: str) -> JSON:
    text = text.strip()
    if not text:
        raise Invalid("text must not be empty")
    if len(text) > MAX_NOTE:
        raise Invalid(f"text is longer than {MAX_NOTE} characters")

    async def work(session: AsyncSession, effects: Effects) -> JSON:
        await _visible_customer(session, actor, customer_id)
        note = CustomerNote(customer_id=customer_id, agent_id=actor.agent_id, text=text)
        session.add(note)
        await session.flush()
        return note_json(note, actor.name)

    return await write(app, work)


def _tag(raw: str) -> str:
    tag = normalised_tag(raw)
    if not tag:
        raise Invalid("tag must not be empty")
    if len(tag) > MAX_TAG:
        raise Invalid(f"tag is longer than {MAX_TAG} characters")
    return tag


async def add_tag(app: AppContext, actor: Actor, customer_id: int, raw: str) -> list[str]:
    tag = _tag(raw)

    async def work(session: AsyncSession, effects: Effects) -> list[str]:
        await _visible_customer(session, actor, customer_id)
        exists_already = await session.scalar(
            select(CustomerTag.id).where(
                CustomerTag.customer_id == customer_id, CustomerTag.tag == tag
            )
        )
        if exists_already is None:
            try:
                async with session.begin_nested():
                    session.add(CustomerTag(customer_id=customer_id, tag=tag))
            except IntegrityError:
                pass  # the same tag added at the same moment: it is there either way
        await apply_priority_rules(app, session, effects, customer_id)
        return list(
            await session.scalars(
                select(CustomerTag.tag)
                .where(CustomerTag.customer_id == customer_id)
                .order_by(CustomerTag.tag)
            )
        )

    return await write(app, work)


async def remove_tag(app: AppContext, actor: Actor, customer_id: int, raw: str) -> None:
    tag = _tag(raw)

    async def work(session: AsyncSession, effects: Effects) -> None:
        await _visible_customer(session, actor, customer_id)
        row = await session.scalar(
            select(CustomerTag).where(
                CustomerTag.customer_id == customer_id, CustomerTag.tag == tag
            )
        )
        if row is None:
            raise NotFound(f"customer {customer_id} has no tag {tag!r}")
        await session.delete(row)

    await write(app, work)
