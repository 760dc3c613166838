"""outbox parts done

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 15:35:00

How many parts of a split message (a long Telegram reply) a channel has already
delivered, so a retry in any process resumes after them instead of repeating them.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(
            sa.Column("parts_done", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("parts_done")
