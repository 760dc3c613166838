"""Web chat round trips: Pasokh's visitor socket + tier-0 bot beside a bare aiohttp echo.

One command: `python bench/webchat.py` (options: `--visitors` (500), `--messages`
(5 per visitor), `--postgres ADMIN_URL` for a fresh PostgreSQL database instead of
SQLite). In one run it starts

* a bare aiohttp WebSocket server (its own process) that echoes every text frame, and
* a real `pasokh serve` process (its own process; SQLite in a temporary data dir, or
  a new migrated database on the `--postgres` server) with the web chat and the
  sample-KB bot,

then opens N visitor sockets to each from this process, and has every visitor send M
questions one after another, each only after the previous answer arrived. It prints
messages/s (answered messages over the wall time of the messaging phase) and p50/p99
of the round trip: frame sent → bot answer received (for Pasokh: ingest, commit, bot
decision, commit, event fan-out, read back, push) or → echo received (bare server).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aiohttp
from aiohttp import web

from router.storage.engine import new_engine
from router.storage.migrate import upgrade_to_head
from tests.processes import ServeProcess, cpu_seconds
from tests.support import create_postgres_database, free_port

# Questions the sample KB answers with confidence, so the thread stays with the bot.
QUESTIONS = (
    "ارسال چند روز طول می‌کشد؟",
    "چطور کالا را مرجوع کنم؟",
    "How long does delivery take?",
    "چه روش‌های پرداختی دارید؟",
    "كم يستغرق التوصيل؟",
    "سفارشم کجاست؟",
    "What is your return policy?",
    "ساعت کاری پشتیبانی چیست؟",
)


async def serve_echo(port: int) -> None:
    """The baseline: a bare aiohttp WebSocket endpoint that echoes text frames."""

    async def echo(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(message.data)
        return ws

    app = web.Application()
    app.router.add_get("/ws", echo)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    await asyncio.Event().wait()


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    acks: list[float] = field(default_factory=list)  # frame sent -> ack (Pasokh only)
    timeouts: int = 0
    connect_seconds: float = 0.0
    elapsed: float = 0.0
    server_cpu: float | None = None  # CPU seconds the server used while they talked


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run_visitors(
    connect: object,
    visitors: int,
    messages: int,
    reply_timeout: float,
    server_pid: int | None = None,
) -> Result:
    """Connect every visitor, then let them all talk at once; collect round trips (and
    the CPU `server_pid` used meanwhile)."""
    result = Result()
    started = time.perf_counter()
    gate = asyncio.Semaphore(50)  # connection set-up in waves, like real arrivals

    async def open_one(n: int) -> aiohttp.ClientWebSocketResponse:
        async with gate:
            return await connect(n)  # type: ignore[operator,no-any-return]

    sockets = await asyncio.gather(*(open_one(n) for n in range(visitors)))
    result.connect_seconds = time.perf_counter() - started

    async def talk(n: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        for m in range(messages):
            text = QUESTIONS[(n + m) % len(QUESTIONS)]
            client_id = uuid.uuid4().hex
            frame = {"type": "message", "client_id": client_id, "text": text}
            sent = time.perf_counter()
            await ws.send_str(json.dumps(frame, ensure_ascii=False))
            try:
                async with asyncio.timeout(reply_timeout):
                    while True:
                        got = json.loads((await ws.receive()).data)
                        if got["type"] == "ack":
                            result.acks.append(time.perf_counter() - sent)
                        elif got.get("client_id") == client_id:
                            break  # the echo
                        if got["type"] == "message" and got["message"]["author"] != "customer":
                            break  # the bot's answer
            except TimeoutError:
                result.timeouts += 1
                continue
            result.latencies.append(time.perf_counter() - sent)

    begun = time.perf_counter()
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    await asyncio.gather(*(talk(n, ws) for n, ws in enumerate(sockets)))
    result.elapsed = time.perf_counter() - begun
    if server_pid:
        result.server_cpu = cpu_seconds(server_pid) - cpu_before
    await asyncio.gather(*(ws.close() for ws in sockets))
    return result


def report(name: str, result: Result) -> None:
    done = len(result.latencies)
    print(
        f"{name:<34} {done / result.elapsed:>9.0f} {percentile(result.latencies, 0.5) * 1000:>9.1f}"
        f" {percentile(result.latencies, 0.99) * 1000:>9.1f} {result.timeouts:>9d}"
        f" {result.connect_seconds:>10.1f}"
    )
    if result.acks:
        p50, p99 = (percentile(result.acks, q) * 1000 for q in (0.5, 0.99))
        print(f"{'  of which: sent -> ack (commit)':<34} {'':>9} {p50:>9.1f} {p99:>9.1f}")
    if result.server_cpu is not None and done:
        per_message = result.server_cpu / done * 1000
        print(f"  server CPU: {result.server_cpu:.1f} s, {per_message:.1f} ms per answered message")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=500)
    parser.add_argument("--messages", type=int, default=5, help="per visitor")
    parser.add_argument("--reply-timeout", type=float, default=30.0)
    parser.add_argument(
        "--postgres",
        metavar="ADMIN_URL",
        help="e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/postgres; default: SQLite",
    )
    parser.add_argument(
        "--workers",
        default="1",
        help="process counts to compare, e.g. 1,2 (more than 1 needs --postgres)",
    )
    parser.add_argument("--echo-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    worker_counts = [int(n) for n in args.workers.split(",")]
    if max(worker_counts) > 1 and not args.postgres:
        parser.error("--workers above 1 needs --postgres (SQLite is one process)")
    if args.echo_server:
        await serve_echo(args.echo_server)
        return

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, aiohttp {aiohttp.__version__}, {platform.platform()}"
    )
    print(
        f"{args.visitors} visitors x {args.messages} messages, each sent after the previous "
        f"answer; clients in this process; database: "
        f"{'PostgreSQL' if args.postgres else 'SQLite'}\n"
    )
    print(
        f"{'server':<34} {'msgs/s':>9} {'p50 ms':>9} {'p99 ms':>9} {'timeouts':>9}"
        f" {'connect s':>10}"
    )
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as http:
        echo_port = free_port()
        echo = subprocess.Popen([sys.executable, __file__, "--echo-server", str(echo_port)])
        try:
            await wait_for_http(http, f"http://127.0.0.1:{echo_port}/ws", expect=(400, 405, 426))

            async def connect_echo(_: int) -> aiohttp.ClientWebSocketResponse:
                return await http.ws_connect(f"http://127.0.0.1:{echo_port}/ws")

            report(
                "bare aiohttp WebSocket echo",
                await run_visitors(connect_echo, args.visitors, args.messages, args.reply_timeout),
            )
        finally:
            echo.terminate()
            echo.wait()

        first_rate = 0.0
        for workers in worker_counts:
            result = await pasokh_run(http, args, workers)
            label = "pasokh web chat + tier-0 bot"
            report(label if workers == 1 else f"{label}, {workers} proc", result)
            rate = len(result.latencies) / result.elapsed if result.elapsed else 0.0
            first_rate = first_rate or rate
            if len(worker_counts) > 1:
                print(f"  {workers} process(es): x {rate / first_rate:.2f} of the first")


async def pasokh_run(http: aiohttp.ClientSession, args: argparse.Namespace, workers: int) -> Result:
    """One `pasokh serve --workers N` on a fresh database, and the visitors against it."""
    with tempfile.TemporaryDirectory(prefix="pasokh-bench-webchat-") as tmp:
        env = {
            "PASOKH_SERVER__SECRET_KEY": "w" * 40,
            "PASOKH_SERVER__LOG_LEVEL": "WARNING",
            "PASOKH_EMAIL__ENABLED": "false",
            "PASOKH_WEBCHAT__RATE_LIMIT_PER_MINUTE": "100000",
            # Every simulated visitor comes from 127.0.0.1.
            "PASOKH_WEBCHAT__SESSIONS_PER_ADDRESS_PER_MINUTE": "100000",
            "PASOKH_WEBCHAT__HANDOFFS_PER_ADDRESS_PER_MINUTE": "100000",
            "PASOKH_WEBCHAT__MAX_SOCKETS_PER_ADDRESS": "100000",
            "PASOKH_WEBCHAT__SOCKET_OPENS_PER_ADDRESS_PER_MINUTE": "0",
        }
        if args.postgres:
            url = await create_postgres_database(args.postgres)
            engine = new_engine(url)
            await upgrade_to_head(engine)
            await engine.dispose()
            env["PASOKH_DATABASE__URL"] = url
        serve = ServeProcess(Path(tmp) / "data", free_port(), env, args=("--workers", str(workers)))
        await serve.start()
        assert serve.process is not None
        # For a profiler: `py-spy record --pid PID` while the visitors talk.
        print(f"  (pasokh serve pid {serve.process.pid})", flush=True)
        try:

            async def connect_pasokh(_: int) -> aiohttp.ClientWebSocketResponse:
                async with http.post(f"{serve.url}/api/v1/webchat/sessions", json={}) as r:
                    token = (await r.json())["visitor_token"]
                ws = await http.ws_connect(
                    f"{serve.url}/ws/webchat", params={"token": token, "lang": "fa"}
                )
                for _ in range(2):  # ready, history
                    await ws.receive()
                return ws

            return await run_visitors(
                connect_pasokh,
                args.visitors,
                args.messages,
                args.reply_timeout,
                server_pid=serve.process.pid,
            )
        finally:
            serve.terminate()


async def wait_for_http(
    http: aiohttp.ClientSession, url: str, expect: tuple[int, ...], timeout: float = 20.0
) -> None:
    async with asyncio.timeout(timeout):
        while True:
            try:
                async with http.get(url) as response:
                    if response.status in expect or response.status < 500:
                        return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)


if __name__ == "__main__":
    asyncio.run(main())
