"""agents.invitation_generation: an invitation link can be withdrawn and re-issued

Revision ID: 0032
Revises: 0031
Create Date: 2026-11-30 21:00:00

An invitation link is signed with the agent id, an expiry and this number; only a link
carrying the row's current number sets the first password. Re-issuing, withdrawing,
deactivating and accepting add one (router/agents/admin.py). Existing rows start at 0,
which is what links signed before this revision (no number) are read as: they keep
working until one of those happens.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "invitation_generation", sa.Integer(), nullable=False, server_default=sa.text("0")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("invitation_generation")
