"""an outbox row records when the customer was shown it; a message goes to a channel once

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-30 21:00:00

On a channel whose delivery only stores the message until the customer comes back (the
web chat), `seen_at` is when a page of theirs was shown the message; a reply nobody was
shown after `[outbox] unseen_resend_after_seconds` is queued again, as a second outbox
row of the same message, to the customer on a channel that reaches them
(router/core/seen.py). The unique index over (message_id, channel) makes that second
row exist once whichever process or pass adds it; until now each message was queued
once (`enqueue_outbound`), so no existing rows break it, and it also serves the
console's look-up of a message's deliveries. The pass reads one channel's rows of the
last day: an index over (channel, created_at), neither of which ever changes. Nothing recorded "shown" before this
revision: existing rows count as shown when they were delivered, so the upgrade resends
no old replies.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("seen_at", sa.DateTime(timezone=True), nullable=True))
    outbox = sa.table(
        "outbox",
        sa.column("seen_at", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("delivered_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        outbox.update().values(seen_at=sa.func.coalesce(outbox.c.delivered_at, outbox.c.created_at))
    )
    op.create_index("uq_outbox_message_channel", "outbox", ["message_id", "channel"], unique=True)
    op.create_index("ix_outbox_channel_created", "outbox", ["channel", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_channel_created", table_name="outbox")
    op.drop_index("uq_outbox_message_channel", table_name="outbox")
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("seen_at")
