"""Scale-out on one PostgreSQL: API ingest with 1, 2 and 4 processes, and the
cross-process push (an agent's reply through process B reaching a web chat visitor
connected to process A).

One command: `python bench/scale.py` (add `--postgres-url URL`, or run as root to get
a throwaway PostgreSQL from the Debian binaries). Throughput: a fresh database per
run, `pasokh serve --workers N` on one port, N messages from C concurrent clients
through `POST /api/v1/inbound/messages`; printed with the ratio to 1 process. Push:
two separate `pasokh serve` (A and B), one visitor on A, replies posted through B's
agent API; the time from the POST to the frame on the visitor's socket, p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import fresh_database, percentile, through_api
from router.core.security import hash_password, new_token, token_hash
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.models import Agent, ApiToken, Message
from tests.processes import ServeProcess, start_throwaway_postgres, stop_throwaway_postgres
from tests.support import free_port

ENV = {
    "PASOKH_SERVER__SECRET_KEY": "s" * 40,
    "PASOKH_SERVER__LOG_LEVEL": "WARNING",
    "PASOKH_EMAIL__ENABLED": "false",
}


async def agent_with_token(url: str) -> str:
    """An agent and its API token, written straight to the database."""
    engine = new_engine(url)
    token = new_token("pk_agent")
    async with new_sessionmaker(engine)() as session, session.begin():
        agent = Agent(
            email="bench@example.com",
            name="Bench",
            tier=1,  # tier 1 may take a thread over from the bot
            is_admin=False,
            password_hash=await asyncio.to_thread(hash_password, "bench password"),
            language="en",
        )
        session.add(agent)
        await session.flush()
        session.add(
            ApiToken(kind="agent", name="bench", agent_id=agent.id, token_hash=token_hash(token))
        )
    await engine.dispose()
    return token


async def thread_of(url: str, message_id: int) -> int:
    engine = new_engine(url)
    async with new_sessionmaker(engine)() as session:
        message = await session.get(Message, message_id)
        assert message is not None
        thread_id = message.thread_id
    await engine.dispose()
    return thread_id


async def push_latency(url: str, workdir: Path, replies: int) -> list[float]:
    """Seconds from each reply's POST on B to its frame on A's visitor socket."""
    token = await agent_with_token(url)
    servers = [
        ServeProcess(workdir / f"push-{name}", free_port(), {**ENV, "PASOKH_DATABASE__URL": url})
        for name in ("a", "b")
    ]
    for server in servers:
        await server.start()
    a, b = servers
    latencies: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{a.url}/api/v1/webchat/sessions", json={}) as response:
                visitor = (await response.json())["visitor_token"]
            ws = await http.ws_connect(f"{a.url}/ws/webchat", params={"token": visitor})
            client_id = uuid.uuid4().hex
            await ws.send_str(
                json.dumps({"type": "message", "client_id": client_id, "text": "سلام"})
            )
            while True:
                frame = json.loads((await ws.receive(timeout=60)).data)
                if frame["type"] == "ack":
                    thread_id = await thread_of(url, int(frame["message_id"]))
                    break
            headers = {"Authorization": f"Bearer {token}"}
            claim = f"{b.url}/api/v1/threads/{thread_id}/claim"
            async with http.post(claim, headers=headers) as response:
                assert response.status == 200, await response.text()
            for n in range(replies):
                text = f"reply {n} {uuid.uuid4().hex}"
                sent = time.perf_counter()
                async with http.post(
                    f"{b.url}/api/v1/threads/{thread_id}/messages",
                    json={"text": text},
                    headers=headers,
                ) as response:
                    assert response.status == 201, await response.text()
                while True:
                    frame = json.loads((await ws.receive(timeout=30)).data)
                    if frame["type"] == "message" and frame["message"].get("text") == text:
                        latencies.append(time.perf_counter() - sent)
                        break
            await ws.close()
    finally:
        for server in servers:
            server.terminate()
    return latencies


async def throughput(
    pg_admin: str, workdir: Path, workers: int, count: int, concurrency: int
) -> tuple[float, list[float], int]:
    """Messages a second, latencies, and how many posts were refused 503 (retried)."""
    url = await fresh_database("postgresql", workdir, pg_admin)
    unavailable: list[int] = []
    rate, latencies = await through_api(
        url,
        workdir,
        count,
        concurrency,
        customers=200,
        args=("--workers", str(workers)),
        unavailable=unavailable,
    )
    return rate, latencies, len(unavailable)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", default="1,2,4", help="process counts to compare")
    parser.add_argument("--replies", type=int, default=100, help="cross-process pushes")
    parser.add_argument("--postgres-url", help="admin URL of a PostgreSQL server to use")
    args = parser.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load {os.getloadavg()[0]:.2f}"
    )
    print(f"{args.messages} messages, {args.concurrency} concurrent clients, PostgreSQL\n")
    with tempfile.TemporaryDirectory(prefix="pasokh-scale-") as tmp:
        workdir = Path(tmp)
        pg_admin, pg_dir = args.postgres_url, None
        if pg_admin is None:
            pg_admin, pg_dir = start_throwaway_postgres()
        if pg_admin is None:
            sys.exit("needs PostgreSQL: pass --postgres-url or run as root")
        try:
            print(
                f"{'processes':<11}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'x 1 proc':>10}"
                f"{'503s':>7}"
            )
            first = 0.0
            for workers in (int(n) for n in args.workers.split(",")):
                rate, lat, refused = await throughput(
                    pg_admin, workdir, workers, args.messages, args.concurrency
                )
                first = first or rate
                print(
                    f"{workers:<11}{rate:>9.0f}{percentile(lat, 0.5) * 1e3:>9.2f}"
                    f"{percentile(lat, 0.99) * 1e3:>9.2f}{rate / first:>10.2f}{refused:>7}"
                )
            pushes = await push_latency(
                await fresh_database("postgresql", workdir, pg_admin), workdir, args.replies
            )
            print(
                f"\ncross-process push (reply on B -> visitor on A), {len(pushes)} replies: "
                f"p50 {percentile(pushes, 0.5) * 1e3:.1f} ms, "
                f"p99 {percentile(pushes, 0.99) * 1e3:.1f} ms"
            )
        finally:
            if pg_dir is not None:
                stop_throwaway_postgres(pg_dir)


if __name__ == "__main__":
    asyncio.run(main())
