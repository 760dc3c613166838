"""Identities and joining them: the identity of (channel, address), created with a
customer of its own; `join` makes two customers one once a proof says one person holds
both identities (see `router.identity.proofs` for the proofs, `router.identity.merge`
for the merge).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, true
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.core.email_addresses import canonical_address
from router.core.events import Event, IdentityRetired
from router.core.messages import utcnow
from router.identity.merge import MergeRefused, current_customer_id, merge_customers
from router.identity.tokens import ProofTokens
from router.storage.core_rows import (
    columns_of,
    inserted,
    loaded,
    new_row,
    transaction_connection,
)
from router.storage.models import AuditEvent, Customer, Identity

# The namespace of an installation's own signed-in users (a `user_id` the site vouches
# for with its `user_hash`): identities like a channel's, but no channel carries them.
SITE_USERS = "site"

_EMAIL = re.compile(
    r"[^@\s<>\"',;]{1,64}@[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)+"
)


class ProofRefused(ValueError):
    """A proof was not accepted; `code` names why (safe to show the customer)."""

    def __init__(self, code: str, message: str, *, remaining: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.remaining = remaining


class RateLimited(ProofRefused):
    """Too many codes asked for; try later."""


@dataclass
class LinkOutcome:
    """What a proof changed: the customer the requester belongs to now, events to
    publish after commit, and how many outbox rows were queued."""

    customer_id: int
    events: list[Event] = field(default_factory=list)
    outbound: int = 0
    merged: bool = False


def normalise_email(raw: str) -> str | None:
    """The address as the email channel keys identities (`canonical_address`: lower
    case, the domain in A-labels), or None if invalid."""
    address = canonical_address(raw)
    if address is None or len(address) > 254 or not _EMAIL.fullmatch(address):
        return None
    return address


def tokens_for(app: AppContext) -> ProofTokens:
    """The proof token signer under this server's secret."""
    return ProofTokens(app.settings.server.secret_key)


async def get_identity(
    session: AsyncSession, channel: str, address: str, *, lock: bool = False
) -> Identity | None:
    """The identity (channel, address), if stored; `lock` holds its row as `lock_identity` does."""
    query = select(Identity).where(Identity.channel == channel, Identity.address == address)
    if lock:
        query = query.with_for_update(key_share=True)
    return await session.scalar(query)


async def ensure_identity(
    session: AsyncSession,
    channel: str,
    address: str,
    *,
    name: str | None = None,
    verified: bool = False,
    language: str | None = None,
    lock: bool = False,
) -> Identity:
    """The identity, created with a customer of its own when new.

    With `lock` an existing identity's row is held until commit (as `lock_identity` does): a
    customer merge locks identities too, so this waits for one in flight and then
    reads the identity's new customer.
    """
    identity = await get_identity(session, channel, address, lock=lock)
    if identity is not None:
        return identity
    created = await new_identity(
        session, channel, address, name=name, verified=verified, language=language
    )
    return created or await stored_identity(session, channel, address, lock=lock)


async def stored_identity(
    session: AsyncSession, channel: str, address: str, *, lock: bool = False
) -> Identity:
    """The identity `new_identity` found stored by a concurrent transaction, read with
    `lock` as `get_identity` reads it."""
    identity = await get_identity(session, channel, address, lock=lock)
    if identity is None:
        raise LookupError(f"identity {channel}:{address} neither created nor found")
    return identity


async def new_identity(
    session: AsyncSession,
    channel: str,
    address: str,
    *,
    name: str | None = None,
    verified: bool = False,
    language: str | None = None,
    seen_at: datetime | None = None,
) -> Identity | None:
    """The identity (channel, address) created with a customer of its own, or None when
    it is stored already (by a concurrent transaction: this one waited for its commit).

    `INSERT ... ON CONFLICT DO NOTHING`: no savepoint, and the transaction goes on, so
    a burst of first messages from one new sender does not run again from the start.
    Both rows are written by prebuilt statements (`router.storage.core_rows`): the ORM's
    flush of two new objects cost more CPU than the statements (every new customer's
    first message). On PostgreSQL they are one statement, which writes the customer only
    when the identity was written (`_customer_for_new_identity`); elsewhere the loser
    drops the customer it made.
    """
    now = utcnow()
    connection = await transaction_connection(session)
    identity_values = {
        "channel": channel,
        "address": address,
        "display_name": name,
        "verified": verified,
        "created_at": now,
        "last_seen_at": seen_at,
    }
    customer_values = {"name": name, "language": language, "created_at": now}
    if connection.dialect.name == "postgresql":
        return await _customer_for_new_identity(
            session, connection, customer_values, identity_values
        )
    customer = await inserted(session, Customer, **customer_values)
    _, identity_row, _ = new_row(
        connection, Identity, {"customer_id": customer.id, **identity_values}
    )
    row = (await connection.execute(_NEW_IDENTITY, identity_row)).mappings().first()
    if row is not None:
        return loaded(session, Identity, row)
    await session.delete(customer)
    await session.flush()
    return None


# The identity's INSERT (SQLite), built once (see `new_identity`).
_NEW_IDENTITY = (
    sqlite.insert(Identity)
    .on_conflict_do_nothing(index_elements=[Identity.channel, Identity.address])
    .returning(*columns_of(Identity))
)


def _customer_and_identity_statement() -> tuple[Any, Any, Any]:
    """A new identity and its new customer, in one statement (PostgreSQL): the
    identity's INSERT, its customer's key taken from the customers' sequence, as a
    CTE that does nothing on a conflict, and the customer's INSERT from what it
    returned, so a loser of the race writes no customer at all (the foreign key is
    checked at the statement's end, when both rows are there). With the two CTEs, for
    their columns."""
    customer_key = func.nextval(
        func.pg_get_serial_sequence(Customer.__tablename__, Customer.id.key)
    )
    identity_columns = [c for c in columns_of(Identity) if not c.primary_key]
    identity_values = {
        column.key: customer_key
        if column.key == Identity.customer_id.key
        else bindparam(f"identity_{column.key}", type_=column.type)
        for column in identity_columns
    }
    new_identity = (
        postgresql.insert(Identity)
        .values(identity_values)
        .on_conflict_do_nothing(index_elements=[Identity.channel, Identity.address])
        .returning(*columns_of(Identity))
        .cte("new_identity")
    )
    customer_columns = [c for c in columns_of(Customer) if not c.primary_key]
    new_customer = (
        insert(Customer)
        .from_select(
            [Customer.id.key, *(column.key for column in customer_columns)],
            select(
                new_identity.c[Identity.customer_id.key],
                *(
                    bindparam(f"customer_{column.key}", type_=column.type)
                    for column in customer_columns
                ),
            ),
        )
        .returning(*columns_of(Customer))
        .cte("new_customer")
    )
    statement = select(new_identity, new_customer).select_from(
        new_identity.join(new_customer, true())
    )
    return statement, new_identity, new_customer


_CUSTOMER_AND_IDENTITY, _NEW_IDENTITY_CTE, _NEW_CUSTOMER_CTE = _customer_and_identity_statement()


async def _customer_for_new_identity(
    session: AsyncSession,
    connection: Any,
    customer_values: dict[str, Any],
    identity_values: dict[str, Any],
) -> Identity | None:
    """The identity `identity_values` describe and a customer of its own, written by
    one statement (PostgreSQL), both part of `session` as loaded; None when another
    transaction wrote the identity first (and no customer was written)."""
    _, customer_row, _ = new_row(connection, Customer, customer_values)
    _, identity_row, _ = new_row(connection, Identity, {"customer_id": None, **identity_values})
    del identity_row[Identity.customer_id.key]
    params = {f"customer_{name}": value for name, value in customer_row.items()}
    params.update((f"identity_{name}", value) for name, value in identity_row.items())
    found = (await connection.execute(_CUSTOMER_AND_IDENTITY, params)).first()
    if found is None:
        return None
    both = found._mapping
    loaded(session, Customer, {c: both[_NEW_CUSTOMER_CTE.c[c.key]] for c in columns_of(Customer)})
    return loaded(
        session, Identity, {c: both[_NEW_IDENTITY_CTE.c[c.key]] for c in columns_of(Identity)}
    )


async def lock_identity(session: AsyncSession, identity: Identity) -> None:
    """Hold `identity`'s row until commit (PostgreSQL; SQLite writers are serialised).

    The same lock strength as ingest and merge take, so the three queue behind each other.
    """
    await session.execute(
        select(Identity.id).where(Identity.id == identity.id).with_for_update(key_share=True)
    )


async def join(
    app: AppContext,
    session: AsyncSession,
    outcome: LinkOutcome,
    identity: Identity,
    proven: Identity,
    *,
    how: str,
) -> None:
    """`proven` was proven by whoever holds `identity`: make their customers one."""
    proven.verified = True
    first = await current_customer_id(session, identity.customer_id)
    second = await current_customer_id(session, proven.customer_id)
    session.add(
        AuditEvent(
            actor_kind="customer",
            actor_id=first,
            action="identity_proven",
            customer_id=first,
            details={
                "how": how,
                "by": {"channel": identity.channel, "identity_id": identity.id},
                "proven": {"channel": proven.channel, "identity_id": proven.id},
            },
        )
    )
    if first != second:
        try:
            result = await merge_customers(
                app, session, first, second, actor_kind="system", actor_id=None, reason=how
            )
        except MergeRefused as exc:
            raise ProofRefused("cannot_link", str(exc)) from None
        outcome.events.extend(result.events)
        outcome.merged = True
        outcome.customer_id = result.surviving_id
    else:
        outcome.customer_id = first
    await session.flush()
    await session.refresh(identity)
    await session.refresh(proven)


async def link_site_user(
    app: AppContext,
    session: AsyncSession,
    visitor: Identity,
    user_identity: Identity,
    user_id: str,
) -> LinkOutcome:
    """An anonymous visitor signed in (a valid `user_hash`): the same browser is both.

    The visitor's chat is carried into the user's customer, and the visitor identity is
    retired: its credential (left in a shared browser after the site's sign-out) would
    otherwise open the user's whole conversation to the next person at that computer.
    Presented again, it names a fresh identity with an empty conversation.
    """
    site = await ensure_identity(session, SITE_USERS, user_id, verified=True)
    outcome = LinkOutcome(visitor.customer_id)
    await join(app, session, outcome, user_identity, site, how="site_user_hash")
    await join(app, session, outcome, user_identity, visitor, how="site_user_hash")
    outcome.events.append(IdentityRetired(visitor.channel, visitor.address))
    # No credential is ever issued for this address; the id keeps it unique when a
    # fresh identity under the old address is retired in its turn.
    visitor.address = f"retired:{visitor.id}:{visitor.address}"
    await session.flush()
    return outcome


def mail_can_be_sent(app: AppContext) -> bool:
    """Whether a mailed code can reach anybody: the mail channel runs and can send (an
    outbound relay). Without that, email linking is not offered at all."""
    mail = app.roles.mail
    return mail is not None and mail in app.adapters and app.roles.mail_can_send


async def has_verified_email(app: AppContext, session: AsyncSession, identity: Identity) -> bool:
    """Whether the identity's customer has an email address proven theirs."""
    if app.roles.mail is None:
        return False
    found = await session.scalar(
        select(Identity.id).where(
            Identity.customer_id == identity.customer_id,
            Identity.channel == app.roles.mail,
            Identity.verified.is_(True),
        )
    )
    return found is not None
