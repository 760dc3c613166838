"""SMTP ingest throughput and time to `250`: Pasokh's email channel beside bare aiosmtpd.

One command: `python bench/email_ingest.py` (options: `--messages`, `--clients`,
`--customers`, `--database-url`). In one run it starts

* a bare aiosmtpd server (its own process) whose handler only counts messages, and
* a real `pasokh serve` process with the email channel on (SQLite in a temporary
  data dir unless `--database-url` is given), whose bot answers go to a counting
  relay in this process,

then sends the same messages to each from C parallel `smtplib` clients (threads, one
connection each, reused) and prints throughput and p50/p99 of the per-message SMTP
transaction (MAIL FROM to the final `250`, which Pasokh only sends after the commit).
It also prints the Pasokh server's CPU-seconds per 1,000 mails (utime + stime from
/proc, so what the clients cost is not counted), while the clients send and until the
bot's answers are all out (the outbox sends them behind the ingest, so the first
figure leaves out a varying share of them); `--server-cpu N` pins the server to CPU N
(run the bench itself with `taskset -c M` on another one).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import queue
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.smtp import SMTP, Envelope, Session

from router.storage.engine import new_engine
from router.storage.migrate import upgrade_to_head
from tests.processes import ServeProcess, cpu_seconds
from tests.support import free_port

SUPPORT = "support@support.localhost"
QUESTIONS = (
    "سلام، سفارش من کی می‌رسد؟",
    "هزینه ارسال به شیراز چقدر است؟",
    "متى يصل طلبي؟",
    "How can I return a product?",
    "کد تخفیف من کار نمی‌کند، لطفاً کمک کنید.",
)


class CountingHandler:
    """Accepts everything and counts: the baseline and the relay sink."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        return "250 OK"


async def serve_counting(port: int) -> None:
    """The bare aiosmtpd baseline (`--bare-server PORT`, run as its own process)."""
    loop = asyncio.get_running_loop()
    handler = CountingHandler()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="bare.localhost", loop=loop), "127.0.0.1", port
    )
    async with server:
        await server.serve_forever()


def build_messages(count: int, customers: int) -> list[tuple[str, bytes]]:
    """(sender, raw) pairs: Persian/Arabic/English, some replies with a quote, some HTML."""
    messages = []
    for n in range(count):
        sender = f"customer{n % customers}@example.ir"
        mail = EmailMessage()
        mail["From"] = f"مشتری {n % customers} <{sender}>"
        mail["To"] = SUPPORT
        mail["Subject"] = "پرسش درباره سفارش" if n % 2 else "Order question"
        mail["Message-ID"] = make_msgid(idstring=f"bench{n}", domain="example.ir")
        question = QUESTIONS[n % len(QUESTIONS)]
        if n % 3 == 1:
            body = (
                f"{question}\n\nOn Mon, Nov 23, 2026 at 10:00 AM Shop <{SUPPORT}> wrote:\n"
                "> پاسخ قبلی پشتیبانی\n> با احترام\n"
            )
            mail.set_content(body)
        elif n % 3 == 2:
            mail.set_content(question)
            mail.add_alternative(f'<div dir="rtl"><p>{question}</p></div>', subtype="html")
        else:
            mail.set_content(question + "\n\n-- \nSent from my phone\n")
        messages.append((sender, bytes(mail)))
    return messages


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_clients(
    port: int, messages: list[tuple[str, bytes]], clients: int
) -> tuple[float, list[float]]:
    """Send all messages with `clients` threads; return (msg/s, latencies)."""
    work: queue.SimpleQueue[tuple[str, bytes]] = queue.SimpleQueue()
    for item in messages:
        work.put(item)
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def client() -> None:
        mine: list[float] = []
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
                while True:
                    try:
                        sender, raw = work.get_nowait()
                    except queue.Empty:
                        break
                    started = time.perf_counter()
                    smtp.sendmail(sender, [SUPPORT], raw)
                    mine.append(time.perf_counter() - started)
        except BaseException as exc:
            errors.append(exc)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} clients failed, first: {errors[0]!r}")
    return len(latencies) / elapsed, latencies


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


async def answers_settled(sink: CountingHandler, quiet: float = 1.0, limit: float = 60.0) -> int:
    """Wait until the relay has had no new answer for `quiet` seconds (at most `limit`);
    return how many it has."""
    deadline = time.monotonic() + limit
    seen, since = sink.count, time.monotonic()
    while time.monotonic() - since < quiet and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        if sink.count != seen:
            seen, since = sink.count, time.monotonic()
    return seen


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument(
        "--database-url", help="an empty database to migrate and use; default: temporary SQLite"
    )
    parser.add_argument("--server-cpu", type=int, metavar="N", help="pin the server to CPU N")
    parser.add_argument("--bare-server", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        await serve_counting(args.bare_server)
        return

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    messages = build_messages(args.messages, args.customers)
    size = sum(len(raw) for _, raw in messages) // len(messages)
    print(
        f"{args.messages} messages (~{size} bytes each), {args.clients} parallel smtplib "
        f"clients, {args.customers} customers, database: "
        f"{'given URL' if args.database_url else 'SQLite'}\n"
    )

    loop = asyncio.get_running_loop()
    sink = CountingHandler()
    relay = await loop.create_server(
        lambda: SMTP(sink, hostname="relay.localhost", loop=loop), "127.0.0.1", 0
    )
    relay_port = relay.sockets[0].getsockname()[1]

    bare_port = free_port()
    bare = subprocess.Popen([sys.executable, __file__, "--bare-server", str(bare_port)])
    results = []
    server_cpu = server_cpu_answered = 0.0
    answers_while_measuring = answers_done = 0
    with tempfile.TemporaryDirectory(prefix="pasokh-bench-email-") as tmp:
        smtp_port = free_port()
        env = {
            "PASOKH_SERVER__SECRET_KEY": "b" * 40,
            "PASOKH_SERVER__LOG_LEVEL": "WARNING",
            "PASOKH_EMAIL__ENABLED": "true",
            "PASOKH_EMAIL__SMTP_PORT": str(smtp_port),
            "PASOKH_EMAIL__DOMAINS": "support.localhost",
            "PASOKH_EMAIL__ADDRESS": SUPPORT,
            "PASOKH_EMAIL__RELAY_HOST": "127.0.0.1",
            "PASOKH_EMAIL__RELAY_PORT": str(relay_port),
            "PASOKH_EMAIL__AUTO_REPLY_CAP_PER_HOUR": "0",
            # One client address sends every mail: the abuse budgets per client and
            # the cap on answers to unauthenticated senders (the bench's domain has
            # no SPF) would refuse or skip most of the run.
            "PASOKH_EMAIL__NEW_THREADS_PER_CLIENT_PER_MINUTE": "0",
            "PASOKH_EMAIL__HANDOFFS_PER_CLIENT_PER_MINUTE": "0",
            "PASOKH_EMAIL__UNAUTHENTICATED_REPLIES_PER_HOUR": "0",
        }
        if args.database_url:
            env["PASOKH_DATABASE__URL"] = args.database_url
            engine = new_engine(args.database_url)  # serve migrates only SQLite by itself
            await upgrade_to_head(engine)
            await engine.dispose()
        server = ServeProcess(Path(tmp) / "data", free_port(), env)
        try:
            await asyncio.to_thread(wait_for_port, bare_port)
            results.append(
                (
                    "bare aiosmtpd (count only)",
                    *await asyncio.to_thread(run_clients, bare_port, messages, args.clients),
                )
            )
            await server.start()
            assert server.process is not None
            pid = server.process.pid
            if args.server_cpu is not None:
                os.sched_setaffinity(pid, {args.server_cpu})
            await asyncio.to_thread(wait_for_port, smtp_port)
            cpu_before = cpu_seconds(pid)
            results.append(
                (
                    "pasokh email channel",
                    *await asyncio.to_thread(run_clients, smtp_port, messages, args.clients),
                )
            )
            server_cpu = cpu_seconds(pid) - cpu_before
            answers_while_measuring = sink.count
            # The outbox sends the answers behind the ingest: the CPU until they are all
            # out (no new one for a second) is the whole cost of an answered mail.
            answers_done = await answers_settled(sink)
            server_cpu_answered = cpu_seconds(pid) - cpu_before
        finally:
            server.terminate()
            bare.terminate()
            bare.wait(10)
            relay.close()

    print(f"{'server':<28}{'msg/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for label, rate, latencies in results:
        print(
            f"{label:<28}{rate:>9.0f}{percentile(latencies, 0.5) * 1e3:>9.2f}"
            f"{percentile(latencies, 0.99) * 1e3:>9.2f}{max(latencies) * 1e3:>9.2f}"
        )
    if len(results) == 2:
        (_, bare_rate, bare_lat), (_, app_rate, app_lat) = results
        print(
            f"{'ratio pasokh/bare':<28}{app_rate / bare_rate:>9.2f}"
            f"{percentile(app_lat, 0.5) / percentile(bare_lat, 0.5):>8.1f}x"
            f"{percentile(app_lat, 0.99) / percentile(bare_lat, 0.99):>8.1f}x"
        )
    if len(results) == 2:
        print(
            f"pasokh server CPU: {server_cpu:.1f} s, "
            f"{server_cpu * 1000 / args.messages:.1f} CPU-s per 1,000 mails"
        )
        print(
            f"pasokh server CPU until the answers were sent: {server_cpu_answered:.1f} s, "
            f"{server_cpu_answered * 1000 / args.messages:.1f} CPU-s per 1,000 mails"
        )
    print(f"\nbot answers delivered to the relay while measuring: {answers_while_measuring}")
    print(f"bot answers delivered in all: {answers_done}")


if __name__ == "__main__":
    asyncio.run(main())
