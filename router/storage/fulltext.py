"""SQLite FTS5 indexes over the normalised `search_text` columns (the embedded default).

Each searched table gets an external-content FTS5 table with the trigram tokenizer, so
a quoted phrase matches any substring of three characters or more: the same answers as
a `LIKE '%…%'` scan of the column, read from an index. Triggers keep the index in step
with every insert, update and delete, whatever path wrote the row.

An SQLite without FTS5 or its trigram tokenizer (before 3.34) gets no index and search
scans the column as before. PostgreSQL uses its pg_trgm indexes instead (migration 0018).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Integer, Text, column, select, table
from sqlalchemy.exc import OperationalError

logger = logging.getLogger(__name__)

SEARCHED = ("messages", "customers", "identities")
# A trigram index finds substrings of at least this many characters; shorter queries
# scan the column.
SHORTEST_INDEXED = 3


# What each searched table's `search_text` is made of, in the argument order of its
# function in router.storage.models (identities: `identity_searchable`).
_SOURCES = {
    "messages": ("subject", "text"),
    "customers": ("name",),
    "identities": ("address", "display_name", "username"),
}
_BATCH = 1000


def recompute_search_text(connection: sa.Connection) -> int:
    """Write every row's `search_text` again from its columns with today's rule (a
    migration's work: the models' listeners keep new and changed rows current). Rows
    whose value is unchanged are not written; on SQLite the FTS triggers follow the
    rows that are. Returns how many rows changed."""
    from router.storage.models import identity_searchable, searchable

    changed = 0
    for searched, names in _SOURCES.items():
        after = 0
        while True:
            rows = connection.execute(
                sa.text(
                    f"SELECT id, search_text, {', '.join(names)} FROM {searched} "
                    "WHERE id > :after ORDER BY id LIMIT :limit"
                ),
                {"after": after, "limit": _BATCH},
            ).all()
            if not rows:
                break
            for row in rows:
                parts = row[2:]
                value = (
                    identity_searchable(*parts) if searched == "identities" else searchable(*parts)
                )
                if value != row[1]:
                    connection.execute(
                        sa.text(f"UPDATE {searched} SET search_text = :v WHERE id = :id"),
                        {"v": value, "id": row[0]},
                    )
                    changed += 1
            after = rows[-1][0]
    return changed


def index_name(searched: str) -> str:
    return f"{searched}_fts"


def _triggers(searched: str) -> dict[str, str]:
    fts = index_name(searched)
    remove = (
        f"INSERT INTO {fts}({fts}, rowid, search_text) VALUES('delete', old.id, old.search_text);"
    )
    add = f"INSERT INTO {fts}(rowid, search_text) VALUES (new.id, new.search_text);"
    return {
        f"{fts}_insert": f"AFTER INSERT ON {searched} BEGIN {add} END",
        f"{fts}_delete": f"AFTER DELETE ON {searched} BEGIN {remove} END",
        f"{fts}_update": f"AFTER UPDATE OF search_text ON {searched} BEGIN {remove} {add} END",
    }


def trigram_available(connection: sa.Connection) -> bool:
    """Whether this SQLite has FTS5 with the trigram tokenizer."""
    try:
        with connection.begin_nested():
            connection.exec_driver_sql(
                "CREATE VIRTUAL TABLE temp.pasokh_fts_probe USING fts5(x, tokenize='trigram')"
            )
            connection.exec_driver_sql("DROP TABLE temp.pasokh_fts_probe")
    except OperationalError:
        return False
    return True


def install(connection: sa.Connection) -> bool:
    """Create whatever part of the indexes and triggers is missing, and rebuild an index
    whose triggers were missing (a table rebuilt by a batch migration loses its
    triggers). Idempotent; False when this SQLite cannot have them."""
    if connection.dialect.name != "sqlite":
        return False
    if not trigram_available(connection):
        logger.warning("SQLite has no FTS5 trigram tokenizer: search scans the columns")
        return False
    existing = set(
        connection.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')"
        ).scalars()
    )
    for searched in SEARCHED:
        fts = index_name(searched)
        stale = fts not in existing
        if stale:
            connection.exec_driver_sql(
                f"CREATE VIRTUAL TABLE {fts} USING fts5(search_text, "
                f"content='{searched}', content_rowid='id', tokenize='trigram')"
            )
        for name, body in _triggers(searched).items():
            if name not in existing:
                connection.exec_driver_sql(f"CREATE TRIGGER {name} {body}")
                stale = True
        if stale:
            connection.exec_driver_sql(f"INSERT INTO {fts}({fts}) VALUES('rebuild')")
    return True


def uninstall(connection: sa.Connection) -> None:
    """Drop the indexes and their triggers (downgrade; the benchmark's scan baseline)."""
    if connection.dialect.name != "sqlite":
        return
    for searched in SEARCHED:
        for name in _triggers(searched):
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")
        connection.exec_driver_sql(f"DROP TABLE IF EXISTS {index_name(searched)}")


async def indexed(session: Any) -> bool:
    """Whether this database has the FTS5 indexes (SQLite with them installed)."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    names = ", ".join(f"'{index_name(s)}'" for s in SEARCHED)  # constants, not input
    found = await session.scalar(
        sa.text(f"SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ({names})")
    )
    return bool(found == len(SEARCHED))


def _phrase(needle: str) -> str:
    """An FTS5 query matching `needle` as one run of characters (quotes doubled)."""
    return '"' + needle.replace('"', '""') + '"'


def contains(
    searched: str, key: Any, text_column: Any, needle: str, fts: bool
) -> ColumnElement[bool]:
    """Rows whose `text_column` holds `needle`: through the FTS5 index when there is one
    and the needle is long enough for trigrams, else by an escaped substring scan."""
    if not fts or len(needle) < SHORTEST_INDEXED:
        return text_column.contains(needle, autoescape=True)  # type: ignore[no-any-return]
    index = table(index_name(searched), column("rowid", Integer), column("search_text", Text))
    matching = select(index.c.rowid).where(index.c.search_text.op("MATCH")(_phrase(needle)))
    return key.in_(matching)  # type: ignore[no-any-return]
