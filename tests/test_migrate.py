"""`upgrade_to_head`: a database at an older revision is brought to the newest one; one
already there is left as it is (the head is read from the migration files once)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
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


async def test_0025_writes_the_search_columns_again_with_the_clitic_rule(tmp_path: Path) -> None:
    """A row stored under the older rule («کتاب ها» kept spaced) is written again on
    upgrade, and on SQLite its FTS index follows, so the joined spelling finds it."""
    engine = new_engine(await _empty_database(tmp_path))
    try:

        def upgrade(revision: str) -> Callable[[Any], None]:
            def run(connection: Any) -> None:
                config = alembic_config()
                config.attributes["connection"] = connection
                command.upgrade(config, revision)

            return run

        async with engine.connect() as connection:
            await connection.run_sync(upgrade("0021"))
            await connection.execute(
                sa.text(
                    "INSERT INTO customers (id, name, search_text, created_at)"
                    " VALUES (1, :name, :old, :at)"
                ),
                {"name": "رضا کتاب ها", "old": "رضا کتاب ها", "at": datetime.now(UTC)},
            )
            await connection.commit()
            await connection.run_sync(upgrade("0025"))
            await connection.commit()
            stored = await connection.scalar(sa.text("SELECT search_text FROM customers"))
            assert stored == "رضا کتابها"
            if engine.dialect.name == "sqlite":
                found = await connection.scalar(
                    sa.text("SELECT rowid FROM customers_fts WHERE customers_fts MATCH :q"),
                    {"q": '"کتابها"'},
                )
                assert found == 1
    finally:
        await engine.dispose()
