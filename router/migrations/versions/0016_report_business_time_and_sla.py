"""report business time and SLA attainment

Revision ID: 0016
Revises: 0013
Create Date: 2026-11-29 05:30:00

A response or resolution event carries its wait in business seconds (the thread's
calendar) beside the wall-clock seconds, and whether it met the deadline in force when
it happened, so a report aggregates columns instead of walking calendars.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("thread_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("business_seconds", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("sla_met", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("thread_events", schema=None) as batch_op:
        batch_op.drop_column("sla_met")
        batch_op.drop_column("business_seconds")
