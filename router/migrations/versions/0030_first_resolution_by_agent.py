"""a thread's first resolution by an agent is marked on its event row

Revision ID: 0030
Revises: 0029
Create Date: 2026-11-30 18:00:00

The FCR and reopen rates are about each thread's first resolution by an agent
(docs/reports.md): a bot's "yes" followed by another question reopens the bot's
resolution, which counts against bot containment only. The flag is written when the
resolution happens; existing rows get it here: each thread's earliest resolution by an
agent that was not a merge.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("thread_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_by_agent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    events = sa.table(
        "thread_events",
        sa.column("id", sa.BigInteger()),
        sa.column("thread_id", sa.BigInteger()),
        sa.column("at", sa.DateTime()),
        sa.column("kind", sa.String()),
        sa.column("actor_kind", sa.String()),
        sa.column("merged", sa.Boolean()),
        sa.column("first_by_agent", sa.Boolean()),
    )
    earlier = events.alias("earlier")

    def by_agent(e: sa.FromClause) -> sa.ColumnElement[bool]:
        return sa.and_(
            e.c.kind == "resolved", e.c.actor_kind == "agent", e.c.merged.is_(sa.false())
        )

    before = (
        sa.select(earlier.c.id)
        .where(
            earlier.c.thread_id == events.c.thread_id,
            by_agent(earlier),
            sa.or_(
                earlier.c.at < events.c.at,
                sa.and_(earlier.c.at == events.c.at, earlier.c.id < events.c.id),
            ),
        )
        .exists()
    )
    op.execute(events.update().where(by_agent(events), ~before).values(first_by_agent=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("thread_events", schema=None) as batch_op:
        batch_op.drop_column("first_by_agent")
