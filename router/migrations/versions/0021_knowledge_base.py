"""the knowledge base in the database

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-29 09:00:00

FAQ entries edited in the console: the entries, each saved version of them, and one
state row (revision, the file's language) once the KB has been seeded.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "kb_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("seeded_from", sa.String(length=1000), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_entries",
        sa.Column("id", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", _ID, nullable=True),
        sa.ForeignKeyConstraint(["updated_by"], ["agents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "kb_entry_versions",
        sa.Column("id", _ID, nullable=False),
        sa.Column("entry_id", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column("change", sa.String(length=500), nullable=False),
        sa.Column("agent_id", _ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("entry_id", "version"),
    )
    with op.batch_alter_table("kb_entry_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kb_entry_versions_entry_id"), ["entry_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("kb_entry_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kb_entry_versions_entry_id"))
    op.drop_table("kb_entry_versions")
    op.drop_table("kb_entries")
    op.drop_table("kb_state")
