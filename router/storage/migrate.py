"""Alembic migrations run programmatically (no alembic.ini to ship or find)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import AsyncEngine

from router.storage import fulltext

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


@cache
def head_revisions() -> frozenset[str]:
    """The newest revision(s), read from the migration files once per process: reading
    them costs more than the check at each start that a database is already there."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


async def upgrade_to_head(engine: AsyncEngine) -> None:
    """Bring the database schema to the newest revision."""

    def _upgrade(connection: Any) -> None:
        if frozenset(MigrationContext.configure(connection).get_current_heads()) != (
            head_revisions()
        ):
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        # A table a batch migration rebuilt has lost its FTS triggers: put them back.
        fulltext.install(connection)

    async with engine.connect() as connection:
        await connection.run_sync(_upgrade)
        await connection.commit()


async def make_revision(engine: AsyncEngine, message: str) -> None:
    """Autogenerate a new revision against `engine` (developers only)."""

    def _revision(connection: Any) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.revision(config, message=message, autogenerate=True)

    async with engine.connect() as connection:
        await connection.run_sync(_revision)
