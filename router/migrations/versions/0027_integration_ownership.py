"""outreach rows belong to the integration that made them

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-30 12:10:00

Purchases and outreach messages get `integration_id` (the api_tokens row of the
integration that stored them; NULL: an admin's). Order ids and idempotency keys are
unique per integration, and among the admins' rows, instead of installation-wide: one
integration can no longer update, delete or read another's.

Rows stored before this revision do not say who stored them. When the installation has
exactly one integration token, they are taken as that integration's (it and admins are
the only ones who could have stored them); otherwise they are left to admins, who see
and manage every row (docs/outreach.md, "Who owns what").
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# (table, the column unique per owner): the unique constraints of revision 0019 had no
# name; on SQLite the batch copy names them with this convention to drop them.
_OWNED = (("purchases", "order_id"), ("outreach_messages", "idempotency_key"))
_UNNAMED = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_indexes(batch_op: object, table: str, column: str) -> None:
    ours, admins = sa.text("integration_id IS NOT NULL"), sa.text("integration_id IS NULL")
    batch_op.create_index(  # type: ignore[attr-defined]
        f"uq_{table}_integration_{column}",
        ["integration_id", column],
        unique=True,
        sqlite_where=ours,
        postgresql_where=ours,
    )
    batch_op.create_index(  # type: ignore[attr-defined]
        f"uq_{table}_admin_{column}",
        [column],
        unique=True,
        sqlite_where=admins,
        postgresql_where=admins,
    )


def _old_unique(table: str, column: str) -> str:
    """The name of 0019's unique constraint: PostgreSQL's own, or the convention's."""
    postgres = op.get_bind().dialect.name == "postgresql"
    return f"{table}_{column}_key" if postgres else f"uq_{table}_{column}"


def upgrade() -> None:
    for table, column in _OWNED:
        with op.batch_alter_table(table, naming_convention=_UNNAMED) as batch_op:
            batch_op.add_column(sa.Column("integration_id", _ID, nullable=True))
            batch_op.create_foreign_key(
                f"{table}_integration_id_fkey", "api_tokens", ["integration_id"], ["id"]
            )
            batch_op.drop_constraint(_old_unique(table, column), type_="unique")
            _unique_indexes(batch_op, table, column)
    only = op.get_bind().execute(
        sa.text("SELECT min(id), count(*) FROM api_tokens WHERE kind = 'integration'")
    ).one()
    if only[1] == 1:
        for table, _ in _OWNED:
            op.execute(sa.text(f"UPDATE {table} SET integration_id = :id").bindparams(id=only[0]))


def downgrade() -> None:
    # The older schema has one namespace: of rows sharing a key, the oldest stays.
    for table, column in _OWNED:
        op.execute(
            f"DELETE FROM {table} WHERE id NOT IN (SELECT min(id) FROM {table} GROUP BY {column})"
        )
        with op.batch_alter_table(table) as batch_op:
            batch_op.drop_index(f"uq_{table}_admin_{column}")
            batch_op.drop_index(f"uq_{table}_integration_{column}")
            batch_op.create_unique_constraint(_old_unique(table, column), [column])
            batch_op.drop_constraint(f"{table}_integration_id_fkey", type_="foreignkey")
            batch_op.drop_column("integration_id")
