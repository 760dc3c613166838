"""message sender trust

Revision ID: 0007
Revises: 0005
Create Date: 2026-11-24 10:00:00

`messages.sender_authenticated`: whether the channel authenticated the sender of an
inbound message (email SPF/DKIM/DMARC; NULL where a channel makes no such check). And
inbound dedupe is keyed by the sender's identity: a channel id (an email Message-ID) is
chosen by the sender, so another sender reusing it must not have their message dropped.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INBOUND = sa.text("direction = 'in'")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.add_column(sa.Column("sender_authenticated", sa.Boolean(), nullable=True))
        batch_op.drop_index(
            "uq_message_inbound_external", sqlite_where=_INBOUND, postgresql_where=_INBOUND
        )
        batch_op.create_index(
            "uq_message_inbound_external",
            ["channel", "external_id", "identity_id"],
            unique=True,
            sqlite_where=_INBOUND,
            postgresql_where=_INBOUND,
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_index(
            "uq_message_inbound_external", sqlite_where=_INBOUND, postgresql_where=_INBOUND
        )
        # Fails while two senders' messages share a channel id: delete one of them first.
        batch_op.create_index(
            "uq_message_inbound_external",
            ["channel", "external_id"],
            unique=True,
            sqlite_where=_INBOUND,
            postgresql_where=_INBOUND,
        )
        batch_op.drop_column("sender_authenticated")
