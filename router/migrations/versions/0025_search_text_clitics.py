"""search text: Persian clitics written apart

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-30 12:00:00

The search columns now glue the Persian clitics a writer may space off («می خواهم»,
«کتاب ها») onto their word, as the FAQ's tokeniser does, so the spaced, the joined and
the ZWNJ spellings find each other. Existing rows are written again with that rule
(`router.storage.fulltext.recompute_search_text`); on SQLite the FTS triggers follow.
Downgrade keeps the new values: the older code then finds a spaced word only by its
joined or ZWNJ spelling.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from router.storage.fulltext import recompute_search_text

    recompute_search_text(op.get_bind())


def downgrade() -> None:
    """Nothing to undo: the columns keep their values."""
