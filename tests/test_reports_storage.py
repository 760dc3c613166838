"""How the KPI facts are stored: what a report needs is written on the event row when
it happens, so the summary aggregates rows without looking at other rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import event, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from router.agents import queue, replies
from router.agents.queue import Actor
from router.service.reports.summary import GROUP_BY, summary
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.models import Customer, Thread, ThreadEvent
from tests.agent_support import make_agent
from tests.report_support import MONDAY_9AM, install_clock
from tests.support import FakeAdapter
from tests.test_reports import ScriptedBot


async def test_a_reopening_flags_the_resolutions_before_it(
    settings: Settings, start_app: Any, monkeypatch: Any
) -> None:
    clock = install_clock(monkeypatch, MONDAY_9AM)
    web = FakeAdapter(name="web")
    _, context = await start_app(settings, adapters=[web], responder=ScriptedBot())
    sara = await make_agent(context, "Sara", presence="away")
    clock.at(0)
    thread_id = (await web.push("person", sender="b", received_at=clock.now)).thread_id
    clock.at(10)
    await queue.claim(context, sara.actor, thread_id)
    clock.at(20)
    await replies.post_message(context, sara.actor, thread_id, text="on it", internal=False)
    clock.at(30)
    await queue.resolve(context, sara.actor, thread_id)

    async def resolutions() -> list[bool]:
        async with context.sessions() as session:
            rows = await session.scalars(
                select(ThreadEvent.reopened)
                .where(ThreadEvent.thread_id == thread_id, ThreadEvent.kind == "resolved")
                .order_by(ThreadEvent.id)
            )
            return list(rows)

    assert await resolutions() == [False]
    clock.at(40)
    assert (await web.push("again", sender="b", received_at=clock.now)).thread_id == thread_id
    assert await resolutions() == [True]
    clock.at(50)
    await queue.resolve(context, sara.actor, thread_id)
    assert await resolutions() == [True, False]


# A month of history, a day of it reported on: each kind of event a few dozen times in
# the window, thousands outside it.
_THREADS = 3000
_DAYS = 30
_KINDS = ("created", "handoff", "response", "response", "resolved", "helped", "breached")


async def _seed_history(session: AsyncSession) -> None:
    start = MONDAY_9AM - timedelta(days=_DAYS - 1)
    await session.execute(insert(Customer), [{"id": n} for n in range(1, _THREADS + 1)])
    await session.execute(
        insert(Thread),
        [
            {"id": n, "customer_id": n, "status": "resolved", "created_at": start}
            for n in range(1, _THREADS + 1)
        ],
    )
    rows = []
    for n in range(1, _THREADS + 1):
        at = start + timedelta(minutes=n * _DAYS * 24 * 60 // _THREADS)
        for index, kind in enumerate(_KINDS):
            rows.append(
                {
                    "thread_id": n,
                    "at": at + timedelta(seconds=index),
                    "kind": kind,
                    "actor_kind": "agent",
                    "agent_id": 1 + n % 3,
                    "tier": 1,
                    "channel": "web",
                    "language": "fa",
                    "first": index != 3,
                    "seconds": float(n % 600) if kind in ("response", "resolved") else None,
                    "replies": 1 if kind == "resolved" else None,
                    "sla_met": n % 2 == 0 if kind in ("response", "resolved") else None,
                }
            )
    await session.execute(insert(ThreadEvent), rows)


async def _events_read(session: AsyncSession, db_kind: str) -> int:
    """The rows of thread_events this PostgreSQL backend has read (its counters since
    they were last reported, this transaction's included; 0 on SQLite)."""
    if db_kind != "postgresql":
        return 0
    read = await session.scalar(
        text(
            "SELECT seq_tup_read + coalesce(idx_tup_fetch, 0)"
            " FROM pg_stat_xact_user_tables WHERE relname = 'thread_events'"
        )
    )
    return int(read or 0)


async def test_the_summary_reads_each_event_of_the_window_once(
    database_url: str, db_kind: str
) -> None:
    """At 100,000 threads the summary's time goes into reading and aggregating the
    window's events: each is read once (PostgreSQL), never by a scan of the whole
    history (both), and never twice (counted, then read again to be measured)."""
    engine = new_engine(database_url)
    sessions = new_sessionmaker(engine)
    try:
        async with sessions() as session, session.begin():
            await _seed_history(session)
        async with engine.connect() as connection:
            await connection.execute(text("ANALYZE"))
            await connection.commit()
        window_start = MONDAY_9AM.replace(hour=0)
        window = {"start": window_start, "end": window_start + timedelta(days=1)}
        admin = Actor(0, "boss", 3, is_admin=True)
        async with sessions() as session:
            in_window = await session.scalar(
                select(func.count()).where(
                    ThreadEvent.at >= window["start"], ThreadEvent.at < window["end"]
                )
            )
        assert in_window is not None and 100 < in_window < _THREADS * len(_KINDS) / 10
        for group_by in (None, *GROUP_BY):
            statements: list[tuple[str, Any]] = []

            def record(
                conn: Any,
                cursor: Any,
                statement: str,
                parameters: Any,
                *_: Any,
                statements: list[tuple[str, Any]] = statements,
            ) -> None:
                if "FROM thread_events" in statement:
                    statements.append((statement, parameters))

            async with sessions() as session, session.begin():
                read_before = await _events_read(session, db_kind)
                event.listen(engine.sync_engine, "before_cursor_execute", record)
                try:
                    report = await summary(session, admin, group_by=group_by, **window)
                finally:
                    event.remove(engine.sync_engine, "before_cursor_execute", record)
                assert report.total.threads_created > 0
                if db_kind == "postgresql":
                    read = await _events_read(session, db_kind) - read_before
                    assert read == in_window, (group_by, read, in_window)
            if db_kind == "sqlite":
                async with engine.connect() as connection:
                    for statement, parameters in statements:
                        plan = await connection.exec_driver_sql(
                            "EXPLAIN QUERY PLAN " + statement, parameters
                        )
                        details = " ".join(str(row[-1]) for row in plan)
                        assert "SCAN thread_events" not in details, (statement, details)
    finally:
        await engine.dispose()
