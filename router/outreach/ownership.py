"""Whose outreach rows are whose, and whom an integration may write to.

Purchases and outreach messages belong to the integration that stored them
(`integration_id`, its `api_tokens` row) or, with None, to admins. An integration finds,
changes and lists only its own; admins list and read every row and change their own
(an order id or idempotency key names a row within its owner's rows).

Whom an integration may name: any customer with `[outreach] integration_customers =
"any"` (the default: purchases name customers by their mail address or phone), or with
"known" only the customers it knows: those with an identity in its own namespace of
the integrations' channel (they wrote through it, `POST /api/v1/inbound/messages`, or
were joined with such a customer). Any other customer is answered as if unknown.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from router.context import AppContext
from router.core.integrations import integration_address
from router.storage.models import Identity

Owner = InstrumentedAttribute[int | None]


def owned_by(column: Owner, integration_id: int | None) -> ColumnElement[bool]:
    """Rows of integration `integration_id`, or admins' rows for None."""
    return column.is_(None) if integration_id is None else column == integration_id


def visible_to(column: Owner, integration_id: int | None) -> ColumnElement[bool]:
    """Rows the caller may read: an integration its own, an admin (None) every one."""
    return true() if integration_id is None else column == integration_id


async def may_reach(
    app: AppContext, session: AsyncSession, integration_id: int | None, customer_id: int
) -> bool:
    """Whether the caller may name this customer (current, after merges) for outreach."""
    if integration_id is None or app.settings.outreach.integration_customers == "any":
        return True
    channel = app.roles.integrations
    if channel is None:
        return False
    namespace = integration_address(integration_id, "")
    known = await session.scalar(
        select(Identity.id)
        .where(
            Identity.customer_id == customer_id,
            Identity.channel == channel,
            Identity.address.startswith(namespace, autoescape=True),
        )
        .limit(1)
    )
    return known is not None
