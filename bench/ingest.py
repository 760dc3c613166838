"""Ingest throughput and latency through the API channel, on SQLite and PostgreSQL.

One command: `python bench/ingest.py` (add `--postgres-url URL`, or run as root to
get a throwaway PostgreSQL from the Debian binaries). For each database it starts a
real `pasokh serve` process, posts N messages from C concurrent clients, and prints
throughput and p50/p99 latency beside a baseline measured in the same run: the same
rows (customer, identity, thread, message) written with plain SQLAlchemy inserts,
one transaction per message, no HTTP, no dedupe, no routing. Beside each path it prints
CPU seconds per 1,000 messages: the serve process's (API path), and, on a PostgreSQL
server running on this machine, the server's own (the postmaster and every backend:
a statement or round trip less shows there).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from sqlalchemy import text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from router.core.messages import utcnow
from router.core.security import new_token, token_hash
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.migrate import upgrade_to_head
from router.storage.models import ApiToken, Customer, Identity, Message, Thread
from tests.processes import (
    ServeProcess,
    cpu_seconds,
    start_throwaway_postgres,
    stop_throwaway_postgres,
)
from tests.support import create_postgres_database, free_port


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def fresh_database(kind: str, workdir: Path, pg_admin: str | None) -> str:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{workdir / kind / 'pasokh.db'}"
        (workdir / kind).mkdir(parents=True, exist_ok=True)
    else:
        assert pg_admin is not None
        url = await create_postgres_database(pg_admin)
    engine = new_engine(url)
    await upgrade_to_head(engine)
    await engine.dispose()
    return url


async def postgres_server_pid(url: str) -> int | None:
    """The postmaster's pid when the PostgreSQL server at `url` runs on this machine (a
    backend is its child), else None."""
    engine = new_engine(url)
    try:
        async with engine.connect() as connection:
            backend = (await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            # Read while the backend is there: once disconnected, it exits.
            return postgres_parent(backend)
    finally:
        await engine.dispose()


def postgres_parent(pid: int) -> int | None:
    """The parent of process `pid` if it is a PostgreSQL process on this machine."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, after = stat.split("(", 1)[1].rsplit(")", 1)
    if name != "postgres":  # the same pid on this machine, but not the server's backend
        return None
    return int(after.split()[1])


def database_cpu(server_pid: int | None) -> float:
    """CPU seconds the database server has used so far (0 without one to read)."""
    return 0.0 if server_pid is None else cpu_seconds(server_pid, reaped=True)


async def baseline(
    url: str, count: int, concurrency: int, database_cpu_used: list[float], server_pid: int | None
) -> tuple[float, list[float]]:
    """Plain inserts of the same rows, one transaction per message; the database server's
    CPU seconds for the run are appended to `database_cpu_used`."""
    engine = new_engine(url, pool_size=concurrency)
    sessions = new_sessionmaker(engine)
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def worker() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            started = time.perf_counter()
            async with sessions() as session, session.begin():
                customer = Customer(name=f"c{n}")
                session.add(customer)
                await session.flush()
                identity = Identity(customer_id=customer.id, channel="base", address=f"a{n}")
                thread = Thread(customer_id=customer.id, status="queued")
                session.add_all([identity, thread])
                await session.flush()
                session.add(
                    Message(
                        thread_id=thread.id,
                        customer_id=customer.id,
                        direction="in",
                        author_kind="customer",
                        channel="base",
                        external_id=f"b{n}",
                        identity_id=identity.id,
                        text=f"message {n}",
                        created_at=utcnow(),
                    )
                )
            latencies.append(time.perf_counter() - started)

    database_before = database_cpu(server_pid)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    database_cpu_used.append(database_cpu(server_pid) - database_before)
    await engine.dispose()
    return count / elapsed, latencies


async def through_api(
    url: str,
    workdir: Path,
    count: int,
    concurrency: int,
    customers: int,
    args: tuple[str, ...] = (),
    unavailable: list[int] | None = None,
    server_cpu: list[float] | None = None,
    database_cpu_used: list[float] | None = None,
    server_pid: int | None = None,
) -> tuple[float, list[float]]:
    """`count` messages posted to a `pasokh serve` (more options in `args`); a 503 is
    retried with the same id, as a client is told to, and noted in `unavailable`; the
    server process's CPU seconds for the run are appended to `server_cpu`, the
    database server's (`server_pid`, the postmaster) to `database_cpu_used`."""
    unavailable = [] if unavailable is None else unavailable
    engine = new_engine(url)
    token = new_token("pk_int")
    async with new_sessionmaker(engine)() as db, db.begin():
        db.add(ApiToken(kind="integration", name="bench", token_hash=token_hash(token)))
    await engine.dispose()
    server = ServeProcess(
        workdir / f"serve-{free_port()}",
        free_port(),
        {
            "PASOKH_DATABASE__URL": url,
            "PASOKH_SERVER__SECRET_KEY": "b" * 40,
            "PASOKH_SERVER__LOG_LEVEL": "WARNING",
        },
        args=args,
    )
    await server.start()
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=concurrency)
        ) as session:

            async def worker() -> None:
                while not queue.empty():
                    n = queue.get_nowait()
                    body = {
                        "id": f"m{n}",
                        "customer": {"external_id": f"c{n % customers}"},
                        "text": f"message {n}",
                    }
                    started = time.perf_counter()
                    while True:
                        async with session.post(
                            f"{server.url}/api/v1/inbound/messages", json=body, headers=headers
                        ) as response:
                            await response.read()
                        if response.status != 503:
                            break
                        unavailable.append(n)  # "retry later": the same id again
                    assert response.status == 202, await response.text()
                    latencies.append(time.perf_counter() - started)

            assert server.process is not None
            cpu_before = cpu_seconds(server.process.pid)
            database_before = database_cpu(server_pid)
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
            if server_cpu is not None:
                server_cpu.append(cpu_seconds(server.process.pid) - cpu_before)
            if database_cpu_used is not None:
                database_cpu_used.append(database_cpu(server_pid) - database_before)
    finally:
        server.terminate()
    return count / elapsed, latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--postgres-url", help="admin URL of a PostgreSQL server to use")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument(
        "--skip-sqlite", action="store_true", help="PostgreSQL only (pairs on one database)"
    )
    args = parser.parse_args()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    print(
        f"{args.messages} messages, {args.concurrency} concurrent clients, "
        f"{args.customers} customers\n"
    )
    with tempfile.TemporaryDirectory(prefix="pasokh-bench-") as tmp:
        workdir = Path(tmp)
        pg_admin, pg_dir = args.postgres_url, None
        if pg_admin is None and not args.skip_postgres:
            pg_admin, pg_dir = start_throwaway_postgres()
        kinds = ([] if args.skip_sqlite else ["sqlite"]) + (["postgresql"] if pg_admin else [])
        print(f"{'database':<11}{'path':<22}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}")
        try:
            for kind in kinds:
                server_pid = await postgres_server_pid(pg_admin) if kind == "postgresql" else None
                base_database_cpu: list[float] = []
                base_rate, base_lat = await baseline(
                    await fresh_database(kind, workdir, pg_admin),
                    args.messages,
                    args.concurrency,
                    base_database_cpu,
                    server_pid,
                )
                server_cpu: list[float] = []
                api_database_cpu: list[float] = []
                api_rate, api_lat = await through_api(
                    await fresh_database(kind, workdir, pg_admin),
                    workdir,
                    args.messages,
                    args.concurrency,
                    args.customers,
                    server_cpu=server_cpu,
                    database_cpu_used=api_database_cpu,
                    server_pid=server_pid,
                )
                for label, rate, lat in (
                    ("plain inserts", base_rate, base_lat),
                    ("API channel", api_rate, api_lat),
                ):
                    print(
                        f"{kind:<11}{label:<22}{rate:>9.0f}{percentile(lat, 0.5) * 1e3:>9.2f}"
                        f"{percentile(lat, 0.99) * 1e3:>9.2f}"
                    )
                print(
                    f"{kind:<11}{'ratio API/baseline':<22}{api_rate / base_rate:>9.2f}"
                    f"{statistics.median(api_lat) / statistics.median(base_lat):>9.2f}x"
                )
                print(
                    f"{kind:<11}{'server CPU-s/1000 msg':<22}"
                    f"{server_cpu[0] * 1000 / args.messages:>9.2f}"
                )
                if server_pid is not None:
                    print(
                        f"{kind:<11}{'PostgreSQL CPU-s/1000':<22}"
                        f"{base_database_cpu[0] * 1000 / args.messages:>9.2f} plain inserts,"
                        f" {api_database_cpu[0] * 1000 / args.messages:.2f} API channel"
                    )
                print()
        finally:
            if pg_dir is not None:
                stop_throwaway_postgres(pg_dir)


if __name__ == "__main__":
    asyncio.run(main())
