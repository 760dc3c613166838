"""an index for the installation's hourly email-code ceiling

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-30 12:00:00

`[email] codes_per_hour` counts the email codes of the last hour across the whole
installation on every code request: an index on (kind, created_at) keeps that a range
read however many proofs were ever recorded.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("identity_proofs", schema=None) as batch_op:
        batch_op.create_index("ix_identity_proofs_kind_created", ["kind", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("identity_proofs", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_proofs_kind_created")
