"""`upgrade_to_head`: a database at an older revision is brought to the newest one; one
already there is left as it is (the head is read from the migration files once)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select
from sqlalchemy.exc import IntegrityError

from router.core.messages import utcnow
from router.storage.engine import new_engine
from router.storage.migrate import alembic_config, head_revisions, upgrade_to_head
from router.storage.models import (
    ApiToken,
    AuditEvent,
    Customer,
    Identity,
    Message,
    OutboxItem,
    OutreachMessage,
    Purchase,
    Thread,
    ThreadEvent,
)
from tests.support import PostgresAdmin


@pytest.fixture
async def empty_database(tmp_path: Path, postgres_admin: PostgresAdmin | None) -> str:
    """A database with no tables; on PostgreSQL the worker's admin drops it when the
    next test starts, as it does the suite's other test databases."""
    if postgres_admin is None:
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    return await postgres_admin.create_test_database(template=None)


def _revisions_and_tables(connection: Any) -> tuple[frozenset[str], set[str]]:
    heads = MigrationContext.configure(connection).get_current_heads()
    return frozenset(heads), set(inspect(connection).get_table_names())


async def test_an_older_database_is_brought_to_the_newest_revision(empty_database: str) -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert head_revisions() == frozenset(scripts.get_heads())
    engine = new_engine(empty_database)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade_to("0020"))
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


async def test_0025_writes_the_search_columns_again_with_the_clitic_rule(
    empty_database: str,
) -> None:
    """A row stored under the older rule («کتاب ها» kept spaced) is written again on
    upgrade, and on SQLite its FTS index follows, so the joined spelling finds it."""
    engine = new_engine(empty_database)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade_to("0021"))
            await connection.execute(
                sa.text(
                    "INSERT INTO customers (id, name, search_text, created_at)"
                    " VALUES (1, :name, :old, :at)"
                ),
                {"name": "رضا کتاب ها", "old": "رضا کتاب ها", "at": datetime.now(UTC)},
            )
            await connection.commit()
            await connection.run_sync(_upgrade_to("0025"))
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


def _upgrade_to(revision: str) -> Callable[[Any], None]:
    def upgrade(connection: Any) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return upgrade


def _order(row_id: int, **columns: Any) -> Any:
    """A purchase "A-1" of customer 1, as rows of any revision have it."""
    now = utcnow()
    return insert(Purchase.__table__).values(
        id=row_id,
        order_id="A-1",
        customer_id=1,
        product="Phone",
        purchased_on=now.date(),
        warranty_months=12,
        created_at=now,
        updated_at=now,
        **columns,
    )


@pytest.mark.parametrize("integrations", [1, 2])
async def test_outreach_rows_before_ownership_go_to_the_only_integration_or_to_admins(
    empty_database: str, integrations: int
) -> None:
    """Revision 0027: purchases and outreach messages stored before it belong to the
    installation's one integration token; with several, to nobody (admins). Afterwards
    order ids and idempotency keys are unique per owner."""
    engine = new_engine(empty_database)
    now = utcnow()
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade_to("0026"))
            await connection.execute(insert(Customer.__table__).values(id=1, created_at=now))
            for n in range(integrations):
                await connection.execute(
                    insert(ApiToken.__table__).values(
                        id=10 + n, kind="integration", name=f"shop{n}", token_hash=f"h{n}"
                    )
                )
            await connection.execute(
                insert(OutreachMessage.__table__).values(
                    id=5,
                    idempotency_key="purchase:A-1:2027-06-01",
                    customer_id=1,
                    template="warranty_reminder",
                    params={},
                    send_at=now,
                    status="scheduled",
                    created_at=now,
                )
            )
            await connection.execute(_order(7, reminder_id=5))
            await connection.commit()

        await upgrade_to_head(engine)
        owner = 10 if integrations == 1 else None
        async with engine.connect() as connection:
            assert (await connection.execute(select(Purchase.integration_id))).all() == [(owner,)]
            assert (await connection.execute(select(OutreachMessage.integration_id))).all() == [
                (owner,)
            ]
            # The same order id of another owner is another purchase; of the same, refused.
            await connection.execute(_order(20, integration_id=None if owner else 11))
            with pytest.raises(IntegrityError):
                async with connection.begin_nested():
                    await connection.execute(_order(30, integration_id=owner))
    finally:
        await engine.dispose()


async def test_0030_marks_each_threads_first_resolution_by_an_agent(empty_database: str) -> None:
    """Events stored before 0030: a thread's earliest resolution by an agent gets the
    flag the FCR and reopen rates count, not the bot's before it, a later one or a merge."""
    engine = new_engine(empty_database)
    now = utcnow()
    events = sa.table(
        "thread_events",
        *(sa.column(name) for name in ("id", "thread_id", "at", "kind", "actor_kind")),
        *(sa.column(name) for name in ("tier", "first", "reopened", "merged")),
    )
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade_to("0029"))
            await connection.execute(insert(Customer.__table__).values(id=1, created_at=now))
            for thread_id in (1, 2):
                await connection.execute(
                    insert(Thread.__table__).values(
                        id=thread_id,
                        customer_id=1,
                        status="resolved",
                        created_at=now,
                        updated_at=now,
                    )
                )
            rows = [
                (1, 1, 0, "bot", True, True, False),  # the bot's "yes", reopened
                (2, 1, 60, "agent", False, True, False),  # the agents' first
                (3, 1, 120, "agent", False, False, False),
                (4, 2, 0, "agent", True, False, True),  # a merge by an agent
            ]
            for row_id, thread_id, seconds, actor, first, reopened, merged in rows:
                await connection.execute(
                    events.insert().values(
                        id=row_id,
                        thread_id=thread_id,
                        at=now + timedelta(seconds=seconds),
                        kind="resolved",
                        actor_kind=actor,
                        tier=1,
                        first=first,
                        reopened=reopened,
                        merged=merged,
                    )
                )
            await connection.commit()
        await upgrade_to_head(engine)
        async with engine.connect() as connection:
            flagged = await connection.scalars(
                select(ThreadEvent.id).where(ThreadEvent.first_by_agent.is_(True))
            )
            assert list(flagged) == [2]
    finally:
        await engine.dispose()


async def test_0031_old_deliveries_count_as_seen_and_a_message_goes_to_a_channel_once(
    empty_database: str,
) -> None:
    """Rows from before 0031 were never marked seen: they count as seen when delivered
    (the upgrade resends no old reply), and a second row of a message on one channel is
    refused."""
    engine = new_engine(empty_database)
    now = utcnow()
    outbox = OutboxItem.__table__
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade_to("0030"))
            await connection.execute(insert(Customer.__table__).values(id=1, created_at=now))
            await connection.execute(
                insert(Thread.__table__).values(
                    id=1, customer_id=1, status="open", created_at=now, updated_at=now
                )
            )
            for message_id in (1, 2):
                await connection.execute(
                    insert(Message.__table__).values(
                        id=message_id,
                        thread_id=1,
                        customer_id=1,
                        direction="out",
                        author_kind="agent",
                        channel="webchat",
                        text="reply",
                        created_at=now,
                    )
                )
            delivered_at = now + timedelta(seconds=5)
            for row_id, when in ((1, delivered_at), (2, None)):
                await connection.execute(
                    insert(outbox).values(
                        id=row_id,
                        message_id=row_id,
                        thread_id=1,
                        channel="webchat",
                        address="v1",
                        status="delivered" if when else "pending",
                        created_at=now,
                        next_attempt_at=now,
                        delivered_at=when,
                    )
                )
            await connection.commit()
        await upgrade_to_head(engine)
        async with engine.connect() as connection:
            seen = dict((await connection.execute(select(outbox.c.id, outbox.c.seen_at))).all())
            assert seen == {1: delivered_at, 2: now}
            with pytest.raises(IntegrityError):
                await connection.execute(
                    insert(outbox).values(
                        message_id=1, thread_id=1, channel="webchat", address="v2"
                    )
                )
    finally:
        await engine.dispose()


async def test_0033_keys_email_identities_by_one_form_and_names_pairs_for_a_merge(
    empty_database: str,
) -> None:
    """An identity stored with its domain in U-labels is re-keyed to A-labels, so the
    next mail from either form finds it. Where both forms were already customers, the
    other keeps its address and an audit event names the pair for an admin's merge."""
    engine = new_engine(empty_database)
    now = utcnow()
    identities = sa.table(
        "identities",
        *(sa.column(name) for name in ("id", "customer_id", "channel", "address")),
        *(sa.column(name) for name in ("verified", "created_at", "search_text")),
    )
    stored = [
        (1, "user@xn--mgbh0fb.xn--mgba3a4f16a"),  # the canonical form, first
        (2, "user@مثال.ایران"),  # the same mailbox: a pair
        (3, "sara@پشتیبانی.ir"),  # alone: re-keyed
        (4, "reza@example.com"),
    ]
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade_to("0030"))
            for row_id, address in stored:
                await connection.execute(
                    insert(Customer.__table__).values(id=row_id, created_at=now)
                )
                await connection.execute(
                    identities.insert().values(
                        id=row_id,
                        customer_id=row_id,
                        channel="email",
                        address=address,
                        verified=False,
                        created_at=now,
                        search_text=address,
                    )
                )
            # A reply to the U-label form still to be sent, and one sent before.
            await connection.execute(
                insert(Thread.__table__).values(
                    id=1, customer_id=3, status="assigned", created_at=now, updated_at=now
                )
            )
            # Each message is queued to a channel once (0031's unique index): two replies.
            for row_id, status in ((1, "delivered"), (2, "pending")):
                await connection.execute(
                    sa.text(
                        "INSERT INTO messages (id, thread_id, customer_id, direction,"
                        " author_kind, channel, text, internal, automated, attachments,"
                        " suggestions, created_at) VALUES (:id, 1, 3, 'out', 'agent', 'email',"
                        " 'hi', :no, :no, '[]', '[]', :at)"
                    ),
                    {"id": row_id, "no": False, "at": now},
                )
                await connection.execute(
                    sa.text(
                        "INSERT INTO outbox (id, message_id, thread_id, channel, address, status,"
                        " attempts, parts_done, next_attempt_at, created_at)"
                        " VALUES (:id, :id, 1, 'email', :address, :status, 0, 0, :at, :at)"
                    ),
                    {"id": row_id, "address": "sara@پشتیبانی.ir", "status": status, "at": now},
                )
            await connection.commit()
        await upgrade_to_head(engine)
        async with engine.connect() as connection:
            outbox = (
                await connection.execute(sa.text("SELECT address FROM outbox ORDER BY id"))
            ).all()
            assert [row.address for row in outbox] == [
                "sara@پشتیبانی.ir",  # history as it was
                "sara@xn--mgbbf3b2fqpisd.ir",
            ]
            rows = (
                await connection.execute(
                    select(Identity.id, Identity.address, Identity.search_text).order_by(
                        Identity.id
                    )
                )
            ).all()
            events = (
                await connection.execute(
                    select(AuditEvent.action, AuditEvent.customer_id, AuditEvent.details)
                )
            ).all()
        assert [(row.id, row.address) for row in rows] == [
            (1, "user@xn--mgbh0fb.xn--mgba3a4f16a"),
            (2, "user@مثال.ایران"),
            (3, "sara@xn--mgbbf3b2fqpisd.ir"),
            (4, "reza@example.com"),
        ]
        assert "mgbbf3b2fqpisd" in (rows[2].search_text or "")
        assert [(e.action, e.customer_id, e.details) for e in events] == [
            (
                "same_mailbox",
                1,
                {"identity_id": 1, "other_identity_id": 2, "other_customer_id": 2},
            )
        ]
    finally:
        await engine.dispose()
