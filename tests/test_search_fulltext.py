"""Search reads an index where the database has one (SQLite: FTS5 trigram tables kept
in step by triggers; PostgreSQL: pg_trgm), answers exactly as the substring scan did,
follows edits and deletes, and still finds queries too short for trigrams."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, event, select, text

from config.settings import Settings
from router.core.responder import QueueEveryThread
from router.storage import fulltext
from router.storage.migrate import upgrade_to_head
from router.storage.models import Identity, Message
from tests.agent_support import api, make_agent
from tests.support import FakeAdapter


async def _found(client: Any, agent: Any, q: str, key: str = "messages") -> list[int]:
    status, body = await api(client, "GET", "/api/v1/search", agent, params={"q": q})
    assert status == 200, body
    return [row["id"] for row in body[key]]


async def test_search_uses_the_index_and_follows_edits_deletes_and_short_queries(
    settings: Settings, start_app: Any, db_kind: str
) -> None:
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=QueueEveryThread())
    boss = await make_agent(context, "Boss", is_admin=True)
    first = await web.push("کتاب «جنگ و صلح» رسید؟", sender="v1", sender_name="علی")
    second = await web.push('a "quoted" order AB7', sender="v2", sender_name="Bob")

    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(context.engine.sync_engine, "before_cursor_execute", record)
    try:
        assert await _found(client, boss, "صلح") == [first.message_id]
        searched = [s for s in statements if "search_text" in s]
        if db_kind == "sqlite":  # read from the FTS5 index, not a LIKE scan
            assert searched and all("MATCH" in s and "LIKE" not in s for s in searched)
    finally:
        event.remove(context.engine.sync_engine, "before_cursor_execute", record)

    assert await _found(client, boss, "كتاب") == [first.message_id]  # Arabic kaf
    assert await _found(client, boss, "علي", "customers") == [first.customer_id]
    assert await _found(client, boss, '"quoted"') == [second.message_id]  # quotes are text
    assert await _found(client, boss, "b7") == [second.message_id]  # too short: a scan
    assert await _found(client, boss, "بو", "customers") == []

    async with context.sessions() as session, session.begin():
        message = await session.get(Message, first.message_id)
        assert message is not None
        message.text = "پیام ویرایش شد"  # the listener rewrites search_text
        identity = await session.scalar(select(Identity).where(Identity.address == "v2"))
        assert identity is not None
        identity.username = "bookworm"
    assert await _found(client, boss, "صلح") == []
    assert await _found(client, boss, "ویرایش") == [first.message_id]
    assert await _found(client, boss, "bookworm", "customers") == [second.customer_id]

    async with context.sessions() as session, session.begin():
        await session.execute(delete(Message).where(Message.id == second.message_id))
    assert await _found(client, boss, "quoted") == []


async def test_an_index_whose_triggers_a_table_rebuild_dropped_is_repaired_on_migrate(
    settings: Settings, start_app: Any, db_kind: str
) -> None:
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=QueueEveryThread())
    boss = await make_agent(context, "Boss", is_admin=True)
    if db_kind == "sqlite":
        async with context.engine.begin() as connection:
            # What a batch migration's copy-and-rename of the table leaves behind.
            await connection.execute(text("DROP TRIGGER messages_fts_insert"))
    missed = await web.push("parcel from Tabriz", sender="v1")
    await upgrade_to_head(context.engine)
    assert await _found(client, boss, "tabriz") == [missed.message_id]
    later = await web.push("another parcel from Tabriz", sender="v2")
    assert await _found(client, boss, "tabriz") == [later.message_id, missed.message_id]


async def test_without_the_fts5_tables_search_scans_and_finds_the_same(
    settings: Settings, start_app: Any
) -> None:
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=QueueEveryThread())
    boss = await make_agent(context, "Boss", is_admin=True)
    found = await web.push("کتاب «جنگ و صلح» رسید؟", sender="v1", sender_name="علی")
    async with context.engine.begin() as connection:
        await connection.run_sync(fulltext.uninstall)  # an SQLite built without FTS5
    assert await _found(client, boss, "صلح") == [found.message_id]
    assert await _found(client, boss, "علي", "customers") == [found.customer_id]
    later = await web.push("صلح بعدی", sender="v2")  # writes work with no triggers left
    assert await _found(client, boss, "صلح") == [later.message_id, found.message_id]
