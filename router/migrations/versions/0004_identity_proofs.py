"""identity proofs

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 15:10:00

One-time proofs of an identity (mailed codes, continue-in-chat and Telegram links):
only an HMAC of each secret is stored, with its attempts, expiry and use.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "identity_proofs",
        sa.Column("id", BigId, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("requester_channel", sa.String(length=32), nullable=True),
        sa.Column("requester_address", sa.String(length=320), nullable=True),
        sa.Column("target_channel", sa.String(length=32), nullable=True),
        sa.Column("target_address", sa.String(length=320), nullable=True),
        sa.Column("message_id", BigId, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("identity_proofs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_identity_proofs_secret_hash"), ["secret_hash"], unique=False
        )
        batch_op.create_index(
            "ix_identity_proofs_requester",
            ["requester_channel", "requester_address"],
            unique=False,
        )
        batch_op.create_index(
            "ix_identity_proofs_target", ["target_channel", "target_address"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("identity_proofs", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_proofs_target")
        batch_op.drop_index("ix_identity_proofs_requester")
        batch_op.drop_index(batch_op.f("ix_identity_proofs_secret_hash"))
    op.drop_table("identity_proofs")
