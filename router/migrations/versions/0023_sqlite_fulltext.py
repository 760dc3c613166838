"""SQLite FTS5 search indexes

Revision ID: 0023
Revises: 0020
Create Date: 2026-11-29 09:00:00

On SQLite, FTS5 trigram indexes over the `search_text` columns of messages, customers
and identities, kept in step by triggers and filled from the existing rows (see
`router.storage.fulltext`). Nothing of that on PostgreSQL, which has pg_trgm indexes.
On both, an index on threads.customer_id: search and the customers list test each
customer for a visible thread, which otherwise reads every thread.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from router.storage.fulltext import install

    install(op.get_bind())
    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.create_index("ix_threads_customer_id", ["customer_id"], unique=False)


def downgrade() -> None:
    from router.storage.fulltext import uninstall

    with op.batch_alter_table("threads", schema=None) as batch_op:
        batch_op.drop_index("ix_threads_customer_id")
    uninstall(op.get_bind())
