"""email identities: one form per mailbox (the domain in A-labels)

Revision ID: 0033
Revises: 0032
Create Date: 2026-11-30 21:30:00

Email addresses are keyed in one canonical form now
(`router.core.email_addresses`): the domain in A-labels, by IDNA 2008. Before, the
address was kept as written, so `user@مثال.ایران` and `user@xn--mgbh0fb.xn--mgba3a4f16a`
were two identities and two customers. Each email identity stored in another form is
re-keyed to the canonical one, with its search text, and so are the addresses of
identity proofs still under way and of mail still to be sent. The running code's rule
(`router.core.email_addresses.canonical_address`, which the channel's `mail_address`
applies) is imported, so the stored form is exactly what the running code looks up.

When the canonical form is already an identity (both forms wrote in before the
upgrade), the other one keeps its address. Its history stays where it is, and replies
to it are sent in the canonical form. But it is not merged: a merge closes or moves
open threads, moves tiers and assignees and writes report events, and that is the
`merge_customers` work an admin does through `POST /api/v1/customers/{id}/merge`. An
audit event `same_mailbox` on the canonical identity's customer names the other customer,
and the upgrade logs one warning line for each pair.
Downgrade keeps the re-keyed addresses: the older code looks them up as written.
"""

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")


def upgrade() -> None:
    from router.core.email_addresses import canonical_address
    from router.storage.models import identity_searchable

    connection = op.get_bind()
    identities = sa.table(
        "identities",
        sa.column("id", sa.BigInteger()),
        sa.column("customer_id", sa.BigInteger()),
        sa.column("channel", sa.String()),
        sa.column("address", sa.String()),
        sa.column("display_name", sa.String()),
        sa.column("username", sa.String()),
        sa.column("search_text", sa.Text()),
    )
    rows = connection.execute(
        sa.select(
            identities.c.id,
            identities.c.customer_id,
            identities.c.address,
            identities.c.display_name,
            identities.c.username,
        )
        .where(identities.c.channel == "email")
        .order_by(identities.c.id)
    ).all()
    owner = {row.address: row for row in rows}
    pairs: list[tuple[Any, int, int]] = []  # (the canonical form's row, the other's ids)
    for row in rows:  # oldest first: of several other forms, the oldest takes the key
        canonical = canonical_address(row.address)
        if canonical is None or canonical == row.address:
            continue
        holder = owner.get(canonical)
        if holder is not None:
            pairs.append((holder, row.id, row.customer_id))
            continue
        connection.execute(
            identities.update()
            .where(identities.c.id == row.id)
            .values(
                address=canonical,
                search_text=identity_searchable(canonical, row.display_name, row.username),
            )
        )
        owner[canonical] = row
    audit = sa.table(
        "audit_events",
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor_kind", sa.String()),
        sa.column("action", sa.String()),
        sa.column("customer_id", sa.BigInteger()),
        sa.column("details", sa.JSON()),
    )
    now = datetime.now(UTC)
    for kept, other_id, other_customer in pairs:
        logger.warning(
            "email identities %d and %d are one mailbox written two ways; customers %d and"
            " %d stay apart until an admin merges them",
            kept.id,
            other_id,
            kept.customer_id,
            other_customer,
        )
        if kept.customer_id == other_customer:
            continue
        connection.execute(
            audit.insert().values(
                at=now,
                actor_kind="system",
                action="same_mailbox",
                customer_id=kept.customer_id,
                details={
                    "identity_id": kept.id,
                    "other_identity_id": other_id,
                    "other_customer_id": other_customer,
                },
            )
        )
    # Codes under way name their addresses as typed, and mail still to be sent is
    # ordered per (channel, address): re-keyed the same way, so a code entered after the
    # upgrade proves the canonical identity and a new reply waits behind an older one.
    for table, channel, address, only in (
        ("identity_proofs", "requester_channel", "requester_address", None),
        ("identity_proofs", "target_channel", "target_address", None),
        ("outbox", "channel", "address", "pending"),
    ):
        _rekey(connection, canonical_address, table, channel, address, only)


def _rekey(
    connection: sa.Connection,
    rule: Callable[[str], str | None],
    name: str,
    channel: str,
    address: str,
    status: str | None,
) -> None:
    """`name`'s email addresses (in column `address`) in the canonical form; with
    `status`, only rows in that status."""
    columns = [sa.column("id", sa.BigInteger()), sa.column(channel), sa.column(address)]
    table = sa.table(name, *columns, *([sa.column("status")] if status else []))
    query = sa.select(table.c.id, table.c[address]).where(
        table.c[channel] == "email", table.c[address].is_not(None)
    )
    if status is not None:
        query = query.where(table.c.status == status)
    for row_id, written in connection.execute(query).all():
        canonical = rule(written)
        if canonical is not None and canonical != written:
            connection.execute(
                table.update().where(table.c.id == row_id).values({address: canonical})
            )


def downgrade() -> None:
    """Nothing to undo: the older code finds the re-keyed addresses as they are written."""
