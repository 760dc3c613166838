"""Everything stored about one customer: export it, or erase it leaving a tombstone.

A customer here includes every customer merged into it (they are the same person).
Erasure deletes their identities, threads, messages (with outbox rows and delivery
attempts, by cascade), knowledge-gap records quoting them, proofs naming their
addresses, what agents wrote about them (notes, tags), their purchases, proactive
messages (with their parameters), opt-out and surveys, and blanks their addresses in
audit details; the customer row stays,
emptied and marked `erased_at`, and an audit event records what was erased and by
whom. Attachment files are removed from the store after commit unless a message of
somebody else still references the same bytes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import sqlite3
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import String, cast, delete, func, or_, select, text, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from router.agents.views import (
    code_mail_ids,
    deliveries_by_message,
    identity_json,
    iso,
    message_json,
)
from router.core.attachments import AttachmentStore
from router.core.messages import utcnow
from router.identity.merge import current_customer_id
from router.storage.models import (
    CUSTOMER_ROWS,
    AuditEvent,
    Customer,
    Identity,
    IdentityProof,
    KnowledgeGapRecord,
    Message,
    Thread,
)

logger = logging.getLogger(__name__)

JSON = dict[str, Any]


class CustomerGone(LookupError):
    """No such customer, or it was merged (`into` names the survivor) or erased."""

    def __init__(self, message: str, *, into: int | None = None) -> None:
        super().__init__(message)
        self.into = into


async def _people(session: AsyncSession, customer_id: int) -> tuple[Customer, list[int]]:
    customer = await session.get(Customer, customer_id)
    if customer is None:
        raise CustomerGone(f"customer {customer_id} does not exist")
    if customer.merged_into_id is not None:
        survivor = await current_customer_id(session, customer_id)
        raise CustomerGone(f"customer {customer_id} was merged into {survivor}", into=survivor)
    merged = list(
        await session.scalars(select(Customer.id).where(Customer.merged_into_id == customer_id))
    )
    return customer, [customer_id, *merged]


async def _proofs_of(session: AsyncSession, identities: list[Identity]) -> list[IdentityProof]:
    pairs = [(i.channel, i.address) for i in identities]
    if not pairs:
        return []
    return list(
        await session.scalars(
            select(IdentityProof)
            .where(
                or_(
                    tuple_(IdentityProof.requester_channel, IdentityProof.requester_address).in_(
                        pairs
                    ),
                    tuple_(IdentityProof.target_channel, IdentityProof.target_address).in_(pairs),
                )
            )
            .order_by(IdentityProof.id)
        )
    )


async def export_customer(session: AsyncSession, store: AttachmentStore, customer_id: int) -> JSON:
    """Every row about the customer (and customers merged into it), attachments inlined.

    Raises:
        CustomerGone: unknown, or merged into another (export that one).
    """
    customer, ids = await _people(session, customer_id)
    customers = list(await session.scalars(select(Customer).where(Customer.id.in_(ids))))
    identities = list(
        await session.scalars(
            select(Identity).where(Identity.customer_id.in_(ids)).order_by(Identity.id)
        )
    )
    threads = list(
        await session.scalars(select(Thread).where(Thread.customer_id.in_(ids)).order_by(Thread.id))
    )
    messages = list(
        await session.scalars(
            select(Message).where(Message.customer_id.in_(ids)).order_by(Message.id)
        )
    )
    # A live verification code is the mailbox owner's, not for whoever reads the export.
    masked = await code_mail_ids(session, [m.id for m in messages])
    deliveries = await deliveries_by_message(session, [m.id for m in messages])
    audit = list(
        await session.scalars(
            select(AuditEvent).where(AuditEvent.customer_id.in_(ids)).order_by(AuditEvent.id)
        )
    )
    gaps = list(
        await session.scalars(
            select(KnowledgeGapRecord).where(
                KnowledgeGapRecord.thread_id.in_([t.id for t in threads])
            )
        )
    )
    files: dict[str, JSON] = {}
    for message in messages:
        for ref in message.attachments or []:
            sha = str(ref.get("sha256"))
            if sha in files:
                continue
            entry: JSON = {
                key: ref.get(key) for key in ("sha256", "filename", "content_type", "size")
            }
            try:
                entry["content_base64"] = base64.b64encode(await store.read(sha)).decode("ascii")
            except (FileNotFoundError, ValueError):
                entry["content_base64"] = None
            files[sha] = entry
    return {
        "customer": {
            "id": customer.id,
            "name": customer.name,
            "language": customer.language,
            "created_at": iso(customer.created_at),
            "erased_at": iso(customer.erased_at),
        },
        "merged_customers": [
            {"id": c.id, "name": c.name, "created_at": iso(c.created_at)}
            for c in customers
            if c.id != customer.id
        ],
        "identities": [identity_json(i) for i in identities],
        "threads": [
            {
                "id": t.id,
                "status": t.status,
                "tier": t.tier,
                "subject": t.subject,
                "language": t.language,
                "resolution": t.resolution,
                "created_at": iso(t.created_at),
                "resolved_at": iso(t.resolved_at),
                "messages": [
                    message_json(m, deliveries.get(m.id, ()), masked=m.id in masked)
                    for m in messages
                    if m.thread_id == t.id
                ],
            }
            for t in threads
        ],
        "attachments": list(files.values()),
        "identity_proofs": [
            {
                "kind": p.kind,
                "requester": {"channel": p.requester_channel, "address": p.requester_address},
                "target": {"channel": p.target_channel, "address": p.target_address},
                "attempts": p.attempts,
                "created_at": iso(p.created_at),
                "expires_at": iso(p.expires_at),
                "used_at": iso(p.used_at),
            }
            for p in await _proofs_of(session, identities)
        ],
        "knowledge_gaps": [
            {"thread_id": g.thread_id, "text": g.text, "created_at": iso(g.created_at)}
            for g in gaps
        ],
        **await _customer_rows_json(session, ids),
        "audit": [
            {
                "at": iso(e.at),
                "actor_kind": e.actor_kind,
                "actor_id": e.actor_id,
                "action": e.action,
                "thread_id": e.thread_id,
                "details": dict(e.details or {}),
            }
            for e in audit
        ],
        "exported_at": iso(utcnow()),
    }


async def _customer_rows_json(session: AsyncSession, ids: list[int]) -> JSON:
    """The rows of `CUSTOMER_ROWS` about the customers `ids`, by table, every column."""
    out: JSON = {}
    for model in CUSTOMER_ROWS:
        rows = await session.scalars(
            select(model).where(model.customer_id.in_(ids)).order_by(*model.__mapper__.primary_key)
        )
        columns = [c.key for c in model.__mapper__.column_attrs]
        out[model.__tablename__] = [
            {name: _plain(getattr(row, name)) for name in columns if name != "token_hash"}
            for row in rows
        ]
    return out


def _plain(value: Any) -> Any:
    """A column's value as JSON: dates as ISO text."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


@dataclass(frozen=True, slots=True)
class Erasure:
    """What an erasure removed; `candidate_files` are checked against the store after
    commit (see `delete_unreferenced_files`)."""

    customer_id: int
    identities: int
    threads: int
    messages: int
    candidate_files: tuple[str, ...]


async def erase_customer(
    session: AsyncSession, customer_id: int, *, agent_id: int | None
) -> Erasure:
    """Erase the customer's data in the caller's transaction; keep a tombstone.

    Raises:
        CustomerGone: unknown, already erased, or merged into another.
    """
    customer, ids = await _people(session, customer_id)
    if customer.erased_at is not None:
        raise CustomerGone(f"customer {customer_id} was erased already")
    identities = list(await session.scalars(select(Identity).where(Identity.customer_id.in_(ids))))
    thread_ids = list(await session.scalars(select(Thread.id).where(Thread.customer_id.in_(ids))))
    messages = list(
        await session.scalars(
            select(Message).where(
                or_(Message.customer_id.in_(ids), Message.thread_id.in_(thread_ids))
            )
        )
    )
    shas = sorted({str(a.get("sha256")) for m in messages for a in m.attachments or []})
    message_ids = [m.id for m in messages]

    if session.get_bind().dialect.name == "sqlite":
        # Freed pages are zeroed, not left readable in the file until they are reused.
        await session.execute(text("PRAGMA secure_delete=ON"))
    # Before the threads go: deleting them unlinks their audit events.
    await _scrub_audit_trail(session, ids, thread_ids, [i.address for i in identities])
    for proof in await _proofs_of(session, identities):
        await session.delete(proof)
    await session.execute(delete(IdentityProof).where(IdentityProof.message_id.in_(message_ids)))
    await session.execute(
        delete(KnowledgeGapRecord).where(KnowledgeGapRecord.thread_id.in_(thread_ids))
    )
    for model in CUSTOMER_ROWS:
        await session.execute(delete(model).where(model.customer_id.in_(ids)))
    # Messages first (their outbox rows and delivery attempts go by cascade), then the
    # threads and identities they pointed at.
    await session.execute(delete(Message).where(Message.id.in_(message_ids)))
    await session.execute(delete(Thread).where(Thread.id.in_(thread_ids)))
    await session.execute(delete(Identity).where(Identity.id.in_([i.id for i in identities])))
    now = utcnow()
    for other in await session.scalars(select(Customer).where(Customer.id.in_(ids))):
        other.name = None
        other.language = None
        other.erased_at = now
    session.add(
        AuditEvent(
            actor_kind="agent",
            actor_id=agent_id,
            action="customer_erased",
            customer_id=customer_id,
            details={
                "customers": ids,
                "identities": len(identities),
                "threads": len(thread_ids),
                "messages": len(message_ids),
                "attachments": len(shas),
            },
        )
    )
    await session.flush()
    return Erasure(customer_id, len(identities), len(thread_ids), len(message_ids), tuple(shas))


ERASED = "[erased]"


async def _scrub_audit_trail(
    session: AsyncSession, customer_ids: list[int], thread_ids: list[int], addresses: list[str]
) -> None:
    """Blank the erased addresses wherever audit details quote them: in events about the
    customer or their threads, and in any other event naming one (a sign-in attempt
    under their address). The events stay; who did what, when, is not theirs."""
    if not addresses:
        return
    details_text = func.lower(cast(AuditEvent.details, String))
    # Details are stored as JSON text with non-ASCII escaped; search for that form.
    quoted = {json.dumps(a.lower())[1:-1] for a in addresses}
    events = await session.scalars(
        select(AuditEvent).where(
            or_(
                AuditEvent.customer_id.in_(customer_ids),
                AuditEvent.thread_id.in_(thread_ids),
                *(details_text.contains(q, autoescape=True) for q in quoted),
            )
        )
    )
    # Whole addresses only: a short visitor id must not blank part of another word.
    alternatives = "|".join(re.escape(a) for a in sorted(addresses, key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w.@+-])(?:{alternatives})(?![\w@-])", re.IGNORECASE)
    for event in events:
        scrubbed = _without(event.details or {}, pattern)
        if scrubbed != event.details:
            event.details = scrubbed


def _without(value: Any, pattern: re.Pattern[str]) -> Any:
    """`value` (JSON) with every match of `pattern` in its strings replaced."""
    if isinstance(value, str):
        return pattern.sub(ERASED, value)
    if isinstance(value, dict):
        return {key: _without(item, pattern) for key, item in value.items()}
    if isinstance(value, list):
        return [_without(item, pattern) for item in value]
    return value


async def checkpoint_sqlite(engine: AsyncEngine) -> None:
    """On SQLite, fold the write-ahead log into the database and truncate it, so erased
    rows do not linger in old page images in the WAL file (best effort)."""
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return
    path = engine.url.database

    def checkpoint() -> bool:
        # A plain connection of its own: the pool's connections may be mid-statement.
        connection = sqlite3.connect(path, timeout=5.0)
        try:
            for _ in range(20):  # a reader in the way makes it report busy; try again
                row = connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                if row is None or row[0] == 0:
                    return True
                time.sleep(0.05)
            return False
        finally:
            connection.close()

    try:
        done = await asyncio.to_thread(checkpoint)
    except sqlite3.Error as exc:
        logger.warning("erasure: could not checkpoint the SQLite WAL now: %s", exc)
        return
    if not done:
        logger.warning("erasure: the SQLite WAL stayed busy; it is truncated later")


async def delete_unreferenced_files(
    session: AsyncSession,
    store: AttachmentStore,
    shas: tuple[str, ...],
    *,
    stored_before: float | None = None,
) -> list[str]:
    """Remove from the store each file no remaining message references; return those.

    `stored_before` (Unix seconds) spares files stored again since then.
    """
    removed = []
    for sha in shas:
        still = await session.scalar(
            select(Message.id).where(cast(Message.attachments, String).like(f"%{sha}%")).limit(1)
        )
        if still is None:
            try:
                if await store.delete(sha, stored_before=stored_before):
                    removed.append(sha)
            except ValueError:
                logger.warning("erasure: %r is not an attachment hash", sha)
    return removed
