"""knowledge gap kinds

Revision ID: 0012
Revises: 0010
Create Date: 2026-11-29 03:40:00

A gap record says why it is one (a low-confidence hand-off, a suggestion not taken, an
answer that did not help) and which entry the customer was shown; the gap report reads
them by time, so `created_at` is indexed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("knowledge_gaps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=24), nullable=False, server_default="low_confidence")
        )
        batch_op.add_column(sa.Column("entry_given", sa.String(length=200), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_knowledge_gaps_created_at"), ["created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("knowledge_gaps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_knowledge_gaps_created_at"))
        batch_op.drop_column("entry_given")
        batch_op.drop_column("kind")
