"""spent nonce unique

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 10:00:00

A continue-in-chat or Telegram link's nonce is recorded at most once (a partial unique
index), so two requests spending the same link at the same time cannot both succeed.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHERE = "kind IN ('continue', 'telegram_link')"


def upgrade() -> None:
    with op.batch_alter_table("identity_proofs") as batch_op:
        batch_op.create_index(
            "uq_identity_proofs_spent_nonce",
            ["kind", "secret_hash"],
            unique=True,
            sqlite_where=sa.text(_WHERE),
            postgresql_where=sa.text(_WHERE),
        )


def downgrade() -> None:
    with op.batch_alter_table("identity_proofs") as batch_op:
        batch_op.drop_index(
            "uq_identity_proofs_spent_nonce",
            sqlite_where=sa.text(_WHERE),
            postgresql_where=sa.text(_WHERE),
        )
