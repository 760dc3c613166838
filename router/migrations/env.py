"""Alembic environment: runs with the connection `router.storage.migrate` hands it."""

from __future__ import annotations

from alembic import context

import router.agents.canned  # (its table lives outside models.py)
import router.agents.tags  # noqa: F401  (so does this one)
from router.storage.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `pasokh migrate`, which passes a connection")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
