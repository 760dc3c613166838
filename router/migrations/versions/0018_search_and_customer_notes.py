"""search columns, customer notes and tags

Revision ID: 0018
Revises: 0013
Create Date: 2026-11-29 06:00:00

A normalised `search_text` on messages, customers and identities (written on insert
and update by the models' listeners; filled here for existing rows), with trigram
indexes on PostgreSQL when pg_trgm can be had; notes and tags on customers.
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger(__name__)

_SEARCHED = ("messages", "customers", "identities")


def upgrade() -> None:
    for table in _SEARCHED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("search_text", sa.Text(), nullable=True))
    op.create_table(
        "customer_notes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_customer_notes_customer_id", "customer_notes", ["customer_id"])
    op.create_table(
        "customer_tags",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("tag", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "tag", name="uq_customer_tag"),
    )
    op.create_index("ix_customer_tags_customer_id", "customer_tags", ["customer_id"])
    op.create_index("ix_customer_tags_tag", "customer_tags", ["tag"])
    _backfill()
    if op.get_bind().dialect.name == "postgresql":
        _trigram_indexes()


def _backfill() -> None:
    from router.storage.fulltext import recompute_search_text

    recompute_search_text(op.get_bind())


def _trigram_indexes() -> None:
    """GIN trigram indexes make `LIKE '%…%'` fast; pg_trgm needs a role allowed to
    create it (it ships with PostgreSQL). Without it search still works, by scanning."""
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
    except sa.exc.DBAPIError:
        logger.warning("pg_trgm is not available: search runs without trigram indexes")
        return
    for table in _SEARCHED:
        op.execute(
            f"CREATE INDEX ix_{table}_search_trgm ON {table} USING gin (search_text gin_trgm_ops)"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _SEARCHED:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_search_trgm")
    op.drop_table("customer_tags")
    op.drop_table("customer_notes")
    for table in _SEARCHED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("search_text")
