"""agents' replies and notes carry an idempotency key

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-30 14:40:00

`POST /api/v1/threads/{id}/messages` takes an `idempotency_key`: the message row keeps
it with the fingerprint of the request (`request_digest`), and a unique index over
(agent_id, idempotency_key), on keyed rows only, makes a repeated or concurrent request
find the first message instead of writing a second one (router/core/idempotency.py).
Outreach messages get `request_digest` too: their key sent again with another request
is refused (409) instead of answered with the first message. Every column is nullable
and added in place (no table copy on SQLite: the full-text triggers on messages stay);
existing rows have no key, and outreach rows without a fingerprint answer any repeat of
their key, as before.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYED = sa.text("idempotency_key IS NOT NULL")


def upgrade() -> None:
    op.add_column("messages", sa.Column("idempotency_key", sa.String(length=200), nullable=True))
    op.add_column("messages", sa.Column("request_digest", sa.String(length=64), nullable=True))
    op.add_column(
        "outreach_messages", sa.Column("request_digest", sa.String(length=64), nullable=True)
    )
    op.create_index(
        "uq_messages_agent_idempotency_key",
        "messages",
        ["agent_id", "idempotency_key"],
        unique=True,
        sqlite_where=_KEYED,
        postgresql_where=_KEYED,
    )


def downgrade() -> None:
    op.drop_index("uq_messages_agent_idempotency_key", table_name="messages")
    with op.batch_alter_table("outreach_messages") as batch_op:
        batch_op.drop_column("request_digest")
    with op.batch_alter_table("messages") as batch_op:
        batch_op.drop_column("request_digest")
        batch_op.drop_column("idempotency_key")
