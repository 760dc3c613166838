"""a survey per resolution; daily rollup of thread events

Revision ID: 0022
Revises: 0020
Create Date: 2026-11-29 09:10:00

A reopened thread resolved again is a new service, so it may be asked again (the
customer's minimum gap between surveys still applies): a survey of a kind is one per
resolution of a thread (`resolution`, the thread's resolution number it asks about),
no longer one per thread and kind. Surveys sent before asked about their thread's first resolution.

`thread_event_days`: the report's additive counts per UTC day, attribution and event
shape (router/service/reports/rollup.py), filled here from the events recorded so far.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


_KEY = (
    "day",
    "agent_id",
    "tier",
    "channel",
    "language",
    "kind",
    "first",
    "by_bot",
    "replies",
    "reopened",
    "sla_met",
)
_COUNTED = "('created', 'handoff', 'response', 'resolved', 'breached', 'helped', 'not_helped')"


def upgrade() -> None:
    op.create_table(
        "thread_event_days",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("first", sa.Boolean(), nullable=False),
        sa.Column("by_bot", sa.Boolean(), nullable=False),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("reopened", sa.Boolean(), nullable=False),
        sa.Column("sla_met", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*_KEY),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    day = "(at AT TIME ZONE 'UTC')::date" if postgres else "date(at)"
    shape = (
        f"{day}, coalesce(agent_id, 0), tier, coalesce(channel, ''), coalesce(language, ''),"
        " kind, first, actor_kind = 'bot',"
        " CASE WHEN replies IS NULL THEN -1 WHEN replies >= 2 THEN 2 ELSE replies END,"
        " reopened, CASE WHEN sla_met IS NULL THEN -1 WHEN sla_met THEN 1 ELSE 0 END"
    )
    op.execute(
        f"INSERT INTO thread_event_days ({', '.join(_KEY)}, n) SELECT {shape}, count(*)"
        f" FROM thread_events WHERE kind IN {_COUNTED} GROUP BY {shape}"
    )
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
    op.drop_table("thread_event_days")
    # Keeps each thread's first survey of a kind, as the older schema allows.
    op.execute(
        "DELETE FROM survey_answers WHERE id NOT IN (SELECT min(id) FROM survey_answers"
        " GROUP BY thread_id, kind)"
    )
    with op.batch_alter_table("survey_answers", schema=None) as batch_op:
        batch_op.drop_index("uq_survey_answers_thread_kind_resolution")
        batch_op.create_index("uq_survey_answers_thread_kind", ["thread_id", "kind"], unique=True)
        batch_op.drop_column("resolution")
