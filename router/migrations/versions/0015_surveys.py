"""surveys sent in the conversation

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-01 11:00:00

The survey a message asks (its token, kind and scale, for the channels to render), a
thread's low-rating flag, and one survey of a kind per thread (counted once).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("survey", sa.JSON(), nullable=True))
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("low_rating_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f("ix_threads_low_rating_at"), ["low_rating_at"])
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.drop_index("ix_survey_answers_thread_id")
        batch_op.create_index("uq_survey_answers_thread_kind", ["thread_id", "kind"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.drop_index("uq_survey_answers_thread_kind")
        batch_op.create_index("ix_survey_answers_thread_id", ["thread_id"])
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_threads_low_rating_at"))
        batch_op.drop_column("low_rating_at")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("survey")
