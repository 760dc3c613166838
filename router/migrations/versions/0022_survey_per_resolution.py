"""a survey per resolution

Revision ID: 0022
Revises: 0020
Create Date: 2026-11-29 09:10:00

A reopened thread resolved again is a new service, so it may be asked again (the
customer's minimum gap between surveys still applies): a survey is one per resolution
of a thread (`resolution`, the thread's resolution number it asks about), no longer one
per thread and kind (a CSAT and an NPS answer may share a resolution). Surveys sent before asked about their thread's first resolution.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("resolution", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.drop_index("uq_survey_answers_thread_kind")
        batch_op.create_index(
            "uq_survey_answers_thread_kind_resolution",
            ["thread_id", "kind", "resolution"],
            unique=True,
        )


def downgrade() -> None:
    # Keeps each thread's first survey of a kind, as the older schema allows.
    op.execute(
        "DELETE FROM survey_answers WHERE id NOT IN (SELECT min(id) FROM survey_answers"
        " GROUP BY thread_id, kind)"
    )
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.drop_index("uq_survey_answers_thread_kind_resolution")
        batch_op.create_index("uq_survey_answers_thread_kind", ["thread_id", "kind"], unique=True)
        batch_op.drop_column("resolution")
