"""Telegram throughput: updates/s ingested and answered through the fake Bot API server.

One command: `python bench/telegram.py` (add `--postgres-url URL`, or run as root to
get a throwaway PostgreSQL from the Debian binaries). For each database and for both
polling and webhook modes it starts a real `pasokh serve` process pointed at the
fake server, injects N updates (one Persian FAQ question from each of N users, so
every one gets a bot answer), and times

- ingested: until the fake server saw every update acknowledged (getUpdates offset
  past it, or webhook answered 200), which Pasokh only does after commit;
- answered: until the bot's answer to every update reached sendMessage.

Beside it, measured in the same run: the ceiling of the fake server itself (a bare
echo bot: raw HTTP, no PTB, no database, doing the same round trips), and the
Telegram adapter alone in the bench process (PTB, rate limiters, the polling loop or
webhook route) with an in-memory ingest that answers each update at once.

Pasokh's bot-wide send limit is raised for the run (`--send-rate`); against the real
Telegram it stays at 30 messages/s, which then bounds "answered".
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder comes first on sys.path and this very module
# would shadow python-telegram-bot's `telegram` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from channels.telegram import TelegramAdapter
from config.settings import TelegramSettings
from router.core.messages import AuthorKind, InboundMessage, IngestResult, OutboundMessage
from router.storage.engine import new_engine
from router.storage.migrate import upgrade_to_head
from tests.fake_telegram import FAKE_TOKEN, FakeTelegram
from tests.processes import ServeProcess, start_throwaway_postgres, stop_throwaway_postgres
from tests.support import create_postgres_database, free_port
from tests.telegram_support import (
    RecordingIngest,
    make_services,
    telegram_settings,
    webhook_host,
)

KB = ROOT / "tests" / "fixtures" / "faq" / "kb.json"
QUESTION = "چطور سفارشم را پیگیری کنم؟"
FIRST_CHAT = 50_000_000


@dataclass(frozen=True)
class Figures:
    ingested_per_s: float
    answered_per_s: float


async def fresh_database(kind: str, workdir: Path, pg_admin: str | None) -> str:
    if kind == "sqlite":
        folder = workdir / f"sqlite-{free_port()}"
        folder.mkdir(parents=True)
        url = f"sqlite+aiosqlite:///{folder / 'pasokh.db'}"
    else:
        assert pg_admin is not None
        url = await create_postgres_database(pg_admin)
    engine = new_engine(url)
    await upgrade_to_head(engine)
    await engine.dispose()
    return url


def inject(fake: FakeTelegram, count: int) -> tuple[int, set[int]]:
    """N updates from N users; returns the last update id and the chats."""
    chats = {FIRST_CHAT + n for n in range(count)}
    last = 0
    for chat in sorted(chats):
        last = fake.add_message(chat, QUESTION, user=fake.user(chat, language_code="fa"))
    return last, chats


async def timed(fake: FakeTelegram, count: int, within: float) -> Figures:
    """Inject, then time acknowledgement of all and an answer to each."""
    sent_before = len(fake.sent())
    started = time.perf_counter()
    last, chats = inject(fake, count)
    await fake.wait_acknowledged(last, within=within)
    ingested = time.perf_counter() - started

    def all_answered() -> bool:
        answered = {call.chat_id for call in fake.sent()[sent_before:]}
        return chats <= answered

    await fake.wait_for(all_answered, within=within)
    answered = time.perf_counter() - started
    return Figures(count / ingested, count / answered)


async def through_pasokh(
    mode: str, database_url: str, workdir: Path, count: int, send_rate: float
) -> Figures:
    async with FakeTelegram() as fake:
        port = free_port()
        env = {
            "PASOKH_DATABASE__URL": database_url,
            "PASOKH_SERVER__SECRET_KEY": "b" * 40,
            "PASOKH_SERVER__LOG_LEVEL": "WARNING",
            "PASOKH_FAQ__PATH": str(KB),
            "PASOKH_TELEGRAM__TOKEN": FAKE_TOKEN,
            "PASOKH_TELEGRAM__API_URL": fake.api_url,
            "PASOKH_TELEGRAM__POLL_TIMEOUT": "5",
            "PASOKH_TELEGRAM__MESSAGES_PER_SECOND": str(send_rate),
            "PASOKH_TELEGRAM__MODE": mode,
            "PASOKH_EMAIL__ENABLED": "false",
            "PASOKH_WEBCHAT__ENABLED": "false",
        }
        if mode == "webhook":
            env["PASOKH_SERVER__PUBLIC_URL"] = f"http://127.0.0.1:{port}"
        server = ServeProcess(workdir / f"serve-{port}", port, env)
        await server.start()
        try:
            if mode == "webhook":
                await fake.wait_for(lambda: fake.webhook_url is not None, within=30)
            else:
                await fake.wait_for(lambda: fake.polls_started > 0, within=30)
            return await timed(fake, count, within=600)
        finally:
            server.terminate()


async def bare_echo_bot(mode: str, count: int) -> Figures:
    """The fake server's ceiling: the same round trips with nothing behind them."""
    async with FakeTelegram() as fake, aiohttp.ClientSession() as http:
        api = f"{fake.api_url}{fake.token}"

        async def answer(update: dict[str, Any]) -> None:
            chat = update["message"]["chat"]["id"]
            async with http.post(f"{api}/sendMessage", data={"chat_id": chat, "text": "ok"}) as r:
                await r.read()

        if mode == "polling":
            return await _poll_echo(fake, http, api, answer, count)
        return await _webhook_echo(fake, http, api, answer, count)


async def _poll_echo(
    fake: FakeTelegram,
    http: aiohttp.ClientSession,
    api: str,
    answer: Callable[[dict[str, Any]], Awaitable[None]],
    count: int,
) -> Figures:
    stopping = asyncio.Event()

    async def poll() -> None:
        offset = 0
        while not stopping.is_set():
            form = {"offset": offset, "timeout": 1, "limit": 100}
            async with http.post(f"{api}/getUpdates", data=form) as response:
                updates = (await response.json())["result"]
            await asyncio.gather(*(answer(update) for update in updates))
            if updates:
                offset = updates[-1]["update_id"] + 1

    poller = asyncio.create_task(poll())
    try:
        return await timed(fake, count, within=300)
    finally:
        stopping.set()
        await poller


async def _webhook_echo(
    fake: FakeTelegram,
    http: aiohttp.ClientSession,
    api: str,
    answer: Callable[[dict[str, Any]], Awaitable[None]],
    count: int,
) -> Figures:
    async def hook(request: web.Request) -> web.Response:
        await answer(await request.json())
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/telegram/webhook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        form = {"url": f"http://127.0.0.1:{port}/telegram/webhook"}
        async with http.post(f"{api}/setWebhook", data=form) as response:
            await response.read()
        return await timed(fake, count, within=300)
    finally:
        await runner.cleanup()


async def adapter_only(mode: str, workdir: Path, count: int, send_rate: float) -> Figures:
    """The channel without the router: an in-memory ingest that answers at once."""
    async with FakeTelegram() as fake:
        tasks: set[asyncio.Task[Any]] = set()
        holder: list[TelegramAdapter] = []

        async def ingest(message: InboundMessage) -> IngestResult:
            answer = OutboundMessage(
                outbox_id=len(tasks) + 1,
                message_id=1,
                thread_id=1,
                channel="telegram",
                address=message.sender_address,
                text="وضعیت سفارش در بخش «سفارش‌های من» است.",
                author=AuthorKind.BOT,
            )
            task = asyncio.create_task(holder[0].send(answer))
            tasks.add(task)
            return IngestResult(1, 1, 1)

        ingest_recorder = RecordingIngest()
        services = make_services(ingest_recorder, workdir / f"attachments-{free_port()}")
        services = dataclasses.replace(services, ingest=ingest)
        settings = telegram_settings(
            fake, poll_timeout=5, messages_per_second=send_rate, chat_interval=1.0
        )
        if mode == "webhook":
            make = functools.partial(_webhook_adapter, settings)
            async with webhook_host(make, services) as (adapter, _):
                holder.append(adapter)
                await fake.wait_for(lambda: fake.webhook_url is not None, within=30)
                figures = await timed(fake, count, within=300)
        else:
            adapter = TelegramAdapter(settings=settings)
            holder.append(adapter)
            await adapter.start(services)
            try:
                await fake.wait_for(lambda: fake.polls_started > 0, within=30)
                figures = await timed(fake, count, within=300)
            finally:
                await adapter.stop()
        await asyncio.gather(*tasks)
        return figures


def _webhook_adapter(settings: TelegramSettings, public_url: str) -> TelegramAdapter:
    return TelegramAdapter(settings=settings, public_url=public_url)


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--updates", type=int, default=1000)
    parser.add_argument("--send-rate", type=float, default=1000.0)
    parser.add_argument("--postgres-url", help="admin URL of a PostgreSQL server to use")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.platform()}"
    )
    print(f"{args.updates} updates from {args.updates} users, send rate {args.send_rate}/s\n")
    print(f"{'database':<11}{'mode':<9}{'path':<18}{'ingested/s':>12}{'answered/s':>12}")
    with tempfile.TemporaryDirectory(prefix="pasokh-bench-tg-") as tmp:
        workdir = Path(tmp)
        for mode in ("polling", "webhook"):
            _row("-", mode, "fake server", await bare_echo_bot(mode, args.updates))
            figures = await adapter_only(mode, workdir, args.updates, args.send_rate)
            _row("-", mode, "adapter, no DB", figures)
        pg_admin, pg_dir = args.postgres_url, None
        if pg_admin is None and not args.skip_postgres:
            pg_admin, pg_dir = start_throwaway_postgres()
        try:
            for kind in ["sqlite"] + (["postgresql"] if pg_admin else []):
                for mode in ("polling", "webhook"):
                    url = await fresh_database(kind, workdir, pg_admin)
                    figures = await through_pasokh(mode, url, workdir, args.updates, args.send_rate)
                    _row(kind, mode, "pasokh serve", figures)
        finally:
            if pg_dir is not None:
                stop_throwaway_postgres(pg_dir)


def _row(kind: str, mode: str, path: str, figures: Figures) -> None:
    print(
        f"{kind:<11}{mode:<9}{path:<18}{figures.ingested_per_s:>12.0f}"
        f"{figures.answered_per_s:>12.0f}",
        flush=True,
    )


if __name__ == "__main__":
    asyncio.run(main())
