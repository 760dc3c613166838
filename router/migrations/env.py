"""Alembic environment: runs with the connection `router.storage.migrate` hands it."""

from __future__ import annotations

from alembic import context

import router.agents.canned  # (its table lives outside models.py)
import router.agents.tags  # noqa: F401  (so does this one)
from router.storage.fulltext import SEARCHED, index_name
from router.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `pasokh migrate`, which passes a connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # The FTS5 indexes and their shadow tables are not models: autogenerate leaves them.
    include_name=lambda name, kind, _parent: (
        not (kind == "table" and any(str(name).startswith(index_name(s)) for s in SEARCHED))
    ),
)
with context.begin_transaction():
    context.run_migrations()
