"""outbox: who holds a lease, and a recipient's queue in order

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-28 23:30:00

`leased_by` names the worker (one per process life) that claimed a row, so a process
starting up resumes at once the sends a crashed worker left half-done instead of
waiting for their lease to expire. The recipient index serves the claim's "is an
earlier row of this recipient still pending?" check.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("leased_by", sa.BigInteger(), nullable=True))
        batch_op.create_index(
            "ix_outbox_recipient", ["channel", "address", "status", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_recipient")
        batch_op.drop_column("leased_by")
