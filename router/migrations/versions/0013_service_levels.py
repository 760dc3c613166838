"""service levels

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 10:00:00

SLA clocks and deadlines on threads; calendars and policies edited through the API;
the alarms (warnings and breaches) the scheduler fires.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DUES = ("first_response_due", "next_response_due", "resolution_due")


def upgrade() -> None:
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sla_started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("sla_paused_minutes", sa.Float(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("paused_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("next_response_started_at", sa.DateTime(timezone=True), nullable=True)
        )
        for due in _DUES:
            batch_op.add_column(sa.Column(due, sa.DateTime(timezone=True), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_threads_{due}"), [due], unique=False)
        batch_op.add_column(
            sa.Column("sla_stale", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_threads_sla_stale"), ["sla_stale"], unique=False)
    for table in ("sla_calendars", "sla_policies"):
        op.create_table(
            table,
            sa.Column("name", sa.String(length=64), nullable=False),
            sa.Column("body", sa.JSON(), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )
    op.create_table(
        "sla_alarms",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "thread_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("target", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("clock_started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["thread_id"], ["threads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("thread_id", "target", "kind", "clock_started_at", name="uq_sla_alarm"),
    )
    with op.batch_alter_table("sla_alarms", schema=None) as batch_op:
        batch_op.create_index("ix_sla_alarms_due", ["fired_at", "fire_at"], unique=False)


def downgrade() -> None:
    op.drop_table("sla_alarms")
    op.drop_table("sla_policies")
    op.drop_table("sla_calendars")
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_threads_sla_stale"))
        batch_op.drop_column("sla_stale")
        for due in _DUES:
            batch_op.drop_index(batch_op.f(f"ix_threads_{due}"))
            batch_op.drop_column(due)
        batch_op.drop_column("next_response_started_at")
        batch_op.drop_column("paused_since")
        batch_op.drop_column("sla_paused_minutes")
        batch_op.drop_column("sla_started_at")
