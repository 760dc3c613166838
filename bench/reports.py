"""How fast the KPI summary answers over a large history:
`python bench/reports.py --postgres-url URL [--threads 100000]`.

Seeds a fresh database (a new PostgreSQL database on the given server, migrated) with
bulk INSERT ... SELECT over generate_series and a fixed seed: N threads, 10 messages
each, their thread events (creation, hand-off for 60%, first and next responses,
resolution for 90%, reopening for 5%, "did this help?" answers, SLA breaches; business
seconds and deadline met on each response and resolution) and a survey answer for 30%.
Then times the summary over the whole window, in total and per group_by, against a baseline measured
in the same run: a plain count(*) over thread_events and messages. Besides the wall
clock it reports the CPU time the PostgreSQL backend spent (read from /proc, so only
for a server on this machine): on a machine other processes load, that is the figure
an idle machine would answer in. `--reuse URL` times an already seeded database.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from router.agents.queue import Actor
from router.service.reports.summary import GROUP_BY, summary
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.migrate import upgrade_to_head
from tests.processes import cpu_seconds
from tests.support import create_postgres_database

START = "2030-01-01 00:00:00+00"
SEED = [
    "SELECT setseed(0.42)",
    "INSERT INTO agents (id, email, name, tier, is_admin, max_concurrent, presence, language,"
    " failed_logins, created_at) SELECT g, 'a' || g || '@x.ir', 'Agent ' || g, 1 + g % 3, false,"
    " 5, 'offline', 'fa', 0, now() FROM generate_series(1, 20) g",
    "INSERT INTO customers (id, created_at) SELECT g, now() FROM generate_series(1, :n) g",
    # a thread every 25 s over the window; status resolved for 90%
    "INSERT INTO threads (id, customer_id, status, tier, priority, assignee_id, language,"
    " last_channel, created_at, updated_at) SELECT g, g,"
    " CASE WHEN g % 10 = 0 THEN 'queued' ELSE 'resolved' END, 1 + g % 3, 0, 1 + g % 20,"
    " (ARRAY['fa','ar','en'])[1 + g % 3], (ARRAY['webchat','email','telegram'])[1 + g % 3],"
    " TIMESTAMPTZ '" + START + "' + g * interval '25 seconds',"
    " TIMESTAMPTZ '" + START + "' + g * interval '25 seconds' FROM generate_series(1, :n) g",
    "INSERT INTO messages (thread_id, customer_id, direction, author_kind, agent_id, channel,"
    " text, internal, automated, attachments, suggestions, created_at)"
    " SELECT t, t, CASE WHEN m % 2 = 0 THEN 'in' ELSE 'out' END,"
    " CASE WHEN m % 2 = 0 THEN 'customer' WHEN m = 1 THEN 'bot' ELSE 'agent' END,"
    " CASE WHEN m % 2 = 1 AND m > 1 THEN 1 + t % 20 END, 'webchat', 'text', false, false,"
    " '[]', '[]', TIMESTAMPTZ '" + START + "' + t * interval '25 seconds' + m * interval '1 minute'"
    " FROM generate_series(1, :n) t, generate_series(0, 9) m",
]
EVENT_COLUMNS = (
    "(thread_id, at, kind, actor_kind, agent_id, tier, channel, language, first, seconds,"
    " replies, reopened, business_seconds, sla_met)"
)
EVENT_ROWS = [
    ("created", "'customer'", "NULL", "0", "true", "NULL", "NULL", "0", "true"),
    ("handoff", "'bot'", "NULL", "60", "true", "NULL", "NULL", "60", "t % 10 < 6"),
    (
        "response",
        "'agent'",
        "1 + t % 20",
        "300",
        "true",
        "60 + random() * 3600",
        "NULL",
        "600",
        "t % 10 < 6",
    ),
    (
        "response",
        "'agent'",
        "1 + t % 20",
        "900",
        "false",
        "random() * 1800",
        "NULL",
        "900",
        "t % 10 < 3",
    ),
    (
        "resolved",
        "CASE WHEN t % 10 < 6 THEN 'agent' ELSE 'bot' END",
        "CASE WHEN t % 10 < 6 THEN 1 + t % 20 END",
        "1200",
        "true",
        "1200 + random() * 7200",
        "CASE WHEN t % 10 < 3 THEN 2 WHEN t % 10 < 6 THEN 1 ELSE 0 END",
        "1200",
        "t % 10 < 9",
    ),
    ("reopened", "'customer'", "NULL", "1800", "false", "NULL", "NULL", "1800", "t % 20 = 0"),
    # the bot's "did this help?": yes for the threads it closes, no for a third of hand-offs
    ("helped", "'customer'", "NULL", "1190", "false", "NULL", "NULL", "1190", "t % 10 >= 6"),
    ("not_helped", "'customer'", "NULL", "50", "false", "NULL", "NULL", "50", "t % 10 < 2"),
    # one deadline in twenty is missed
    ("breached", "'system'", "1 + t % 20", "3600", "false", "NULL", "NULL", "3600", "t % 20 = 1"),
]


def _events(
    kind: str,
    actor: str,
    agent: str,
    offset: str,
    first: str,
    seconds: str,
    replies: str,
    _: str,
    where: str,
) -> str:
    # the resolutions of the threads that reopen carry the flag the reopening writes
    reopened = "t % 20 = 0" if kind == "resolved" else "false"
    # business time: most waits overlap the hours in part; 90% of deadlines are met
    measured = kind in ("response", "resolved")
    business = f"({seconds}) * random()" if measured else "NULL"
    sla_met = "random() < 0.9" if measured else "NULL"
    return (
        f"INSERT INTO thread_events {EVENT_COLUMNS} SELECT t, TIMESTAMPTZ '{START}' + t * "
        f"interval '25 seconds' + {offset} * interval '1 second', '{kind}', {actor}, {agent},"
        f" 1 + t % 3, (ARRAY['webchat','email','telegram'])[1 + t % 3],"
        f" (ARRAY['fa','ar','en'])[1 + t % 3], {first}, {seconds}, {replies}, {reopened},"
        f" {business}, {sla_met}"
        f" FROM generate_series(1, :n) t WHERE {where}"
    )


SURVEYS = (
    "INSERT INTO survey_answers (token_hash, thread_id, customer_id, kind, score, agent_id, tier,"
    " channel, language, created_at, answered_at, expires_at) SELECT md5(t::text), t, t,"
    " CASE WHEN t % 2 = 0 THEN 'csat' ELSE 'nps' END,"
    " CASE WHEN t % 2 = 0 THEN 1 + floor(random() * 5) ELSE floor(random() * 11) END,"
    " 1 + t % 20, 1 + t % 3, 'webchat', 'fa', now(),"
    " TIMESTAMPTZ '" + START + "' + t * interval '25 seconds' + interval '2 hours',"
    " now() + interval '7 days' FROM generate_series(1, :n) t WHERE t % 10 < 3"
)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--postgres-url", required=True, help="a server's admin URL")
    parser.add_argument("--threads", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--reuse", help="the URL of a database this script seeded before")
    args = parser.parse_args()
    url = args.reuse or await create_postgres_database(args.postgres_url)
    engine = new_engine(url)
    sessions = new_sessionmaker(engine)
    seeded = time.perf_counter()
    if not args.reuse:
        await upgrade_to_head(engine)
        async with engine.begin() as connection:
            for statement in [*SEED, *(_events(*row) for row in EVENT_ROWS), SURVEYS]:
                await connection.execute(text(statement), {"n": args.threads})
    async with engine.connect() as connection:
        await connection.execute(text("COMMIT"))
        await connection.execute(text("VACUUM ANALYZE"))
        counts = {
            table: (await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
            for table in ("threads", "messages", "thread_events", "survey_answers")
        }
    done = "reused" if args.reuse else f"seeded in {time.perf_counter() - seeded:.1f} s:"
    print(f"{url.rsplit('/', 1)[-1]} {done} {counts}")

    async def timed(work: object) -> tuple[float, float]:
        """Median wall clock and backend CPU seconds of `work(session)`."""
        times, cpu = [], []
        for _ in range(args.repeat):
            async with sessions() as session:
                # No parallel workers: their CPU is not the backend's, and /proc of the
                # backend is what this counts.
                await session.execute(text("SET max_parallel_workers_per_gather = 0"))
                backend = await session.scalar(text("SELECT pg_backend_pid()"))
                used = cpu_seconds(backend)
                started = time.perf_counter()
                await work(session)  # type: ignore[operator]
                times.append(time.perf_counter() - started)
                cpu.append(cpu_seconds(backend) - used)
        return statistics.median(times), statistics.median(cpu)

    async def baseline(session: AsyncSession) -> None:
        await session.execute(text("SELECT count(*) FROM thread_events"))
        await session.execute(text("SELECT count(*) FROM messages"))

    base, base_cpu = await timed(baseline)
    print(
        f"baseline count(*) over thread_events and messages: {base * 1000:.0f} ms"
        f" (backend CPU {base_cpu * 1000:.0f} ms)"
    )
    admin = Actor(0, "bench", 3, is_admin=True)
    start, end = datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 3, 1, tzinfo=UTC)
    for group_by in (None, *GROUP_BY):

        async def report(session: AsyncSession, group_by: str | None = group_by) -> None:
            await summary(session, admin, start=start, end=end, group_by=group_by)

        took, cpu = await timed(report)
        print(
            f"summary group_by={group_by or '-':8} {took * 1000:6.0f} ms"
            f"  ({took / base:.1f} x baseline), backend CPU {cpu * 1000:5.0f} ms"
        )
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
