"""Scheduling one outreach message: checked, stored once per idempotency key.

`schedule` inserts the row; the idempotency key, unique among the caller's messages
(`router.outreach.ownership`), decides, on any database and under concurrency, which
request made it: a repeat (or the loser of a race) finds the first row and answers
with it, sending nothing more; the key with another request is refused (409). The
rule is `router.core.idempotency`'s, the one agents' replies follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.core.idempotency import REUSED, REUSED_MESSAGE, digest, once, reused
from router.core.languages import supported_language
from router.core.messages import utcnow
from router.core.transaction import Effects
from router.identity.identities import get_identity, normalise_email
from router.identity.merge import current_customer_id
from router.outreach.ownership import may_reach, owned_by
from router.outreach.templates import Template, TemplateError, missing_parameters
from router.outreach.templates import template_from_json as _template_from_json
from router.storage.models import (
    Customer,
    Identity,
    OutboxItem,
    OutboxStatus,
    OutreachMessage,
    OutreachStatus,
    OutreachTemplate,
)


class OutreachError(ValueError):
    """A request that cannot be scheduled; `status` is the HTTP status to answer,
    `code` the reason as a stable word, when it has one."""

    def __init__(self, message: str, status: int = 422, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class OutreachRequest:
    """What `POST /api/v1/outbound/messages` asks for, checked for form."""

    template: str
    idempotency_key: str
    params: Mapping[str, Any]
    customer_id: int | None = None
    identity: tuple[str, str] | None = None  # (channel, address)
    language: str | None = None
    channel: str | None = None
    send_at: datetime | None = None
    # Who asks: the integration's token id, None for an admin (`router.outreach.ownership`).
    integration_id: int | None = None


async def load_template(session: AsyncSession, name: str) -> Template | None:
    row = await session.get(OutreachTemplate, name)
    if row is None:
        return None
    try:
        return _template_from_json(name, {"texts": row.texts})
    except TemplateError:
        return None  # stored through the same check; only a hand edit gets here


async def resolve_customer(
    session: AsyncSession, *, customer_id: int | None, identity: tuple[str, str] | None
) -> int | None:
    """The customer (after merges) a request names by id or by a channel address."""
    if customer_id is not None:
        if await session.get(Customer, customer_id) is None:
            return None
        return await current_customer_id(session, customer_id)
    if identity is None:
        return None
    channel, address = identity
    found = await get_identity(session, channel, address)
    if found is None and "@" in address:
        email = normalise_email(address)
        found = await get_identity(session, channel, email) if email else None
    return await current_customer_id(session, found.customer_id) if found is not None else None


async def schedule(app: AppContext, request: OutreachRequest) -> tuple[OutreachMessage, bool]:
    """Store the message to send at `send_at` (now if not given); (row, created).

    Raises:
        OutreachError: an unknown template, customer, language or missing parameter.
    """

    # What the request asks to send, and to whom, as it asks it (a customer by id or by
    # address). Not `send_at`: a client retrying "in two hours" computes it anew each
    # time, and the message is the same one.
    asked = digest(
        request.template,
        dict(request.params),
        request.customer_id,
        request.identity,
        request.language,
        request.channel,
    )

    async def first(session: AsyncSession) -> OutreachMessage | None:
        found = await _by_key(session, request.idempotency_key, request.integration_id)
        if found is not None and reused(found.request_digest, asked):
            raise OutreachError(REUSED_MESSAGE, 409, REUSED)
        return found

    async def work(session: AsyncSession, _: Effects) -> tuple[OutreachMessage, bool]:
        existing = await first(session)
        if existing is not None:
            return existing, False
        template = await load_template(session, request.template)
        if template is None:
            raise OutreachError(f"no template named {request.template[:64]!r}", 404)
        customer_id = await resolve_customer(
            session, customer_id=request.customer_id, identity=request.identity
        )
        if customer_id is None or not await may_reach(
            app, session, request.integration_id, customer_id
        ):
            raise OutreachError("no customer with that id or identity", 404)
        if request.language is not None and request.language not in template.texts:
            raise OutreachError(f"template {template.name} has no {request.language} text")
        try:
            missing = missing_parameters(template, request.params)
        except TemplateError as exc:
            raise OutreachError("; ".join(exc.problems)) from None
        if missing:
            raise OutreachError(f"params: missing {', '.join(missing)}")
        row = OutreachMessage(
            idempotency_key=request.idempotency_key,
            request_digest=asked,
            integration_id=request.integration_id,
            customer_id=customer_id,
            channel=request.channel,
            template=template.name,
            params=dict(request.params),
            language=request.language,
            send_at=request.send_at or utcnow(),
            status=OutreachStatus.SCHEDULED,
            created_at=utcnow(),
        )
        session.add(row)
        await session.flush()
        return row, True

    return await once(app, work, first)


async def _by_key(
    session: AsyncSession, key: str, integration_id: int | None
) -> OutreachMessage | None:
    """The caller's message of that key (keys are per integration, and the admins')."""
    return await session.scalar(
        select(OutreachMessage).where(
            OutreachMessage.idempotency_key == key,
            owned_by(OutreachMessage.integration_id, integration_id),
        )
    )


async def status_of(session: AsyncSession, row: OutreachMessage) -> tuple[str, str | None]:
    """The status and reason shown: a sent message is `delivered` or `failed` once the
    outbox knows, and `skipped: unreachable` when the channel said the customer cannot
    be reached there (blocked the bot, a mailbox gone)."""
    if row.status != OutreachStatus.SENT or row.message_id is None:
        return row.status, row.reason
    found = (
        await session.execute(
            select(OutboxItem.status, Identity.unreachable_reason)
            .outerjoin(Identity, Identity.id == OutboxItem.identity_id)
            .where(OutboxItem.message_id == row.message_id)
            .limit(1)
        )
    ).first()
    if found is None:
        return row.status, row.reason
    outbox, unreachable = found
    if outbox == OutboxStatus.DELIVERED:
        return "delivered", None
    if outbox == OutboxStatus.DEAD:
        return ("skipped", "unreachable") if unreachable else ("failed", None)
    return row.status, row.reason


async def message_json(session: AsyncSession, row: OutreachMessage) -> dict[str, Any]:
    status, reason = await status_of(session, row)
    return {
        "id": row.id,
        "status": status,
        "reason": reason,
        "customer_id": row.customer_id,
        "template": row.template,
        "language": row.language,
        "channel": row.sent_channel or row.channel,
        "send_at": row.send_at.isoformat(),
        "idempotency_key": row.idempotency_key,
        "thread_id": row.thread_id,
        "message_id": row.message_id,
        "created_at": row.created_at.isoformat(),
        "finished_at": row.finished_at.isoformat() if row.finished_at else None,
    }


def parse_language(value: object) -> str | None:
    if value is None:
        return None
    language = supported_language(value)
    if language is None:
        raise OutreachError(f"language: one of fa, ar, en (got {str(value)[:16]!r})")
    return language
