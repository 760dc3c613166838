"""`upgrade_to_head`: a database at an older revision is brought to the newest one; one
already there is left as it is (the head is read from the migration files once)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from router.storage.engine import new_engine
from router.storage.migrate import alembic_config, head_revisions, upgrade_to_head
from tests.support import create_postgres_database, postgres_admin_url


async def _empty_database(tmp_path: Path) -> str:
    admin = postgres_admin_url()
    if admin is None:
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    return await create_postgres_database(admin)


def _revisions_and_tables(connection: Any) -> tuple[frozenset[str], set[str]]:
    heads = MigrationContext.configure(connection).get_current_heads()
    return frozenset(heads), set(inspect(connection).get_table_names())


async def test_an_older_database_is_brought_to_the_newest_revision(tmp_path: Path) -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert head_revisions() == frozenset(scripts.get_heads())
    engine = new_engine(await _empty_database(tmp_path))
    try:

        def to_0020(connection: Any) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0020")

        async with engine.connect() as connection:
            await connection.run_sync(to_0020)
            await connection.commit()
            older, older_tables = await connection.run_sync(_revisions_and_tables)
        assert older == {"0020"}
        # a table a later revision adds is not there yet
        assert "kb_state" not in older_tables

        await upgrade_to_head(engine)
        async with engine.connect() as connection:
            newest, tables = await connection.run_sync(_revisions_and_tables)
        assert newest == head_revisions()
        assert "kb_state" in tables

        await upgrade_to_head(engine)  # at the head already: nothing to do, nothing breaks
        async with engine.connect() as connection:
            assert (await connection.run_sync(_revisions_and_tables)) == (newest, tables)
    finally:
        await engine.dispose()
