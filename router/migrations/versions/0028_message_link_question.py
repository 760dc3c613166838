"""the question a message's buttons answer

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-30 15:00:00

A message that asks the "link this chat?" question records the question's id, so the
buttons a chat app shows under it name that question and a tap under an older,
replaced question no longer answers the newer one. Nullable, no default: adding it
rewrites no row on either database.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "link_question_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("link_question_id")
