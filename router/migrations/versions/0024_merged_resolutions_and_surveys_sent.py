"""merged resolutions and surveys sent

Revision ID: 0024
Revises: 0021
Create Date: 2026-11-30 12:00:00

A thread closed by merging its customer into another is recorded as a resolution
marked `merged` (reports count it among the threads resolved, so created − resolved
balances, but measure nothing from it). Reports count the surveys sent in a window by
their creation time: an index finds them, as `(kind, answered_at)` finds the answers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("thread_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("merged", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index(
        "ix_survey_answers_kind_created", "survey_answers", ["kind", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_survey_answers_kind_created", table_name="survey_answers")
    with op.batch_alter_table("thread_events", schema=None) as batch_op:
        batch_op.drop_column("merged")
