"""sign-in back-off

Revision ID: 0010
Revises: 0005
Create Date: 2026-11-28 23:40:00

Console sign-in attempts counted per (address, client) instead of per account: a
lock-out anybody could aim at an agent becomes a back-off only the guessing client
feels, and an unknown address is answered like a known one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sign_in_backoff",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("blocked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("sign_in_backoff", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sign_in_backoff_updated_at"), ["updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sign_in_backoff", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sign_in_backoff_updated_at"))
    op.drop_table("sign_in_backoff")
