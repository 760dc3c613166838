"""Two `pasokh serve` processes on one PostgreSQL behind Debian's nginx (round robin),
and one of them SIGKILLed mid-stream.

Visitors reach the web chat only through nginx, so their sockets land on either
process; agent replies are posted straight to each process, so every visitor gets
replies written by the process that does not hold its socket. Then process A (which
polls Telegram, having started first) is killed while web chat visitors and an API
client keep sending, retrying the same ids until acknowledged: every acknowledged
message is stored once, every bot answer is stored once and reaches its visitor, and
B takes over Telegram polling, the outbox and the SLA scheduler within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select

from router.core.security import new_token, token_hash
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.models import Agent, ApiToken, Message, OutboxItem
from tests.fake_telegram import FAKE_TOKEN, FakeTelegram
from tests.nginx_support import Nginx
from tests.processes import ServeProcess
from tests.support import free_port

# About 40 s on a quiet 2-core machine; minutes when the machine is loaded.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

QUESTIONS = ("ارسال چند روز طول می‌کشد؟", "چطور کالا را مرجوع کنم؟")
REPLY_VISITORS = 4  # get agent replies from both processes
CHAOS_VISITORS = 6  # keep asking the bot while a process dies
QUESTIONS_EACH = 6
API_MESSAGES = 60
TAKEOVER_SECONDS = 15.0


@dataclass
class Visitor:
    """A web chat visitor through nginx: reconnects, resends until acked, dedupes by id."""

    base: str
    http: aiohttp.ClientSession
    token: str = ""
    acked: dict[str, int] = field(default_factory=dict)  # client id -> message id
    seen: set[int] = field(default_factory=set)  # bot and agent message ids shown
    live_doubles: list[int] = field(default_factory=list)  # an id pushed twice on one socket
    reconnects: int = 0
    ws: aiohttp.ClientWebSocketResponse | None = None
    _acks: dict[str, asyncio.Future[int]] = field(default_factory=dict)
    _reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        async with self.http.post(f"{self.base}/api/v1/webchat/sessions", json={}) as response:
            assert response.status == 200, await response.text()
            self.token = (await response.json())["visitor_token"]
        await self.connect()

    async def connect(self) -> None:
        params = {"token": self.token, "lang": "fa"}
        if self.seen:
            params["after"] = str(max(self.seen))
        ws = await self.http.ws_connect(
            f"{self.base.replace('http', 'ws')}/ws/webchat", params=params
        )
        self.ws = ws
        self._reader = asyncio.create_task(self._read(ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        pushed: set[int] = set()
        async for raw in ws:
            if raw.type != aiohttp.WSMsgType.TEXT:
                break
            frame = json.loads(raw.data)
            if frame["type"] == "ack":
                future = self._acks.get(frame["client_id"])
                if future is not None and not future.done():
                    future.set_result(int(frame["message_id"]))
            elif frame["type"] == "history":
                self._show(frame["messages"])
            elif frame["type"] == "message":
                message_id = int(frame["message"]["id"])
                if message_id in pushed:
                    self.live_doubles.append(message_id)
                pushed.add(message_id)
                self._show([frame["message"]])

    def _show(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            if message["author"] != "customer":
                self.seen.add(int(message["id"]))

    async def say(self, client_id: str, text: str) -> None:
        """Send until acknowledged, reconnecting through nginx when the socket dies."""
        while client_id not in self.acked:
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._acks[client_id] = future
            try:
                assert self.ws is not None
                frame = {"type": "message", "client_id": client_id, "text": text}
                await self.ws.send_str(json.dumps(frame, ensure_ascii=False))
                self.acked[client_id] = await asyncio.wait_for(future, 5)
            except (ConnectionError, TimeoutError, aiohttp.ClientError, RuntimeError):
                await self.reconnect()

    async def reconnect(self) -> None:
        self.reconnects += 1
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
        while True:
            try:
                await self.connect()
                return
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)

    async def wait_for(self, message_ids: set[int], within: float = 20.0) -> None:
        async with asyncio.timeout(within):
            while not message_ids <= self.seen:
                if self.ws is None or self.ws.closed:
                    await self.reconnect()  # its process died: catch up on another
                await asyncio.sleep(0.05)

    async def wait_for_count(self, count: int, within: float = 20.0) -> None:
        async with asyncio.timeout(within):
            while len(self.seen) < count:
                if self.ws is None or self.ws.closed:
                    await self.reconnect()
                await asyncio.sleep(0.05)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


async def visitors_on_both(
    http: aiohttp.ClientSession, proxy: str, a_url: str, b_url: str
) -> list[Visitor]:
    """CHAOS_VISITORS visitors, or a few more until each process holds a socket.

    Round robin gives a visitor's session request and its socket alternate processes,
    so visitors opened one at a time could all land on one process; a request between
    them shifts the turn.
    """
    sockets = "pasokh_webchat_sockets "
    async with asyncio.timeout(10):  # the first part's sockets are closed
        while await metric(http, a_url, sockets) or await metric(http, b_url, sockets):
            await asyncio.sleep(0.05)
    visitors = [Visitor(proxy, http) for _ in range(CHAOS_VISITORS)]
    await asyncio.gather(*(v.open() for v in visitors))
    for _ in range(4):
        if await metric(http, a_url, sockets) and await metric(http, b_url, sockets):
            return visitors
        async with http.get(f"{proxy}/healthz") as response:
            assert response.status == 200
        visitors.append(Visitor(proxy, http))
        await visitors[-1].open()
    raise AssertionError("every visitor's socket is on one process")


async def metric(http: aiohttp.ClientSession, url: str, line_start: str) -> float:
    async with http.get(f"{url}/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(line_start):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.postgresql  # several processes need PostgreSQL (test_workers.py pins the refusal)
async def test_two_processes_behind_nginx_survive_a_sigkill(
    tmp_path: Path, database_url: str
) -> None:
    engine = new_engine(database_url)
    sessions = new_sessionmaker(engine)
    agent_token, integration_token = new_token("pk_agent"), new_token("pk_int")
    async with sessions() as session, session.begin():
        agent = Agent(email="sara@example.com", name="Sara", tier=1, presence="online")
        session.add(agent)
        await session.flush()
        session.add(
            ApiToken(
                kind="agent", name="sara", agent_id=agent.id, token_hash=token_hash(agent_token)
            )
        )
        session.add(
            ApiToken(kind="integration", name="shop", token_hash=token_hash(integration_token))
        )
    agent_headers = {"Authorization": f"Bearer {agent_token}"}

    async with FakeTelegram() as fake:
        env = {
            "PASOKH_DATABASE__URL": database_url,
            "PASOKH_SERVER__SECRET_KEY": "k" * 40,
            "PASOKH_TELEGRAM__TOKEN": FAKE_TOKEN,
            "PASOKH_TELEGRAM__API_URL": fake.api_url,
            "PASOKH_TELEGRAM__POLL_TIMEOUT": "1",
            "PASOKH_TELEGRAM__CHAT_INTERVAL": "0",
            "PASOKH_EMAIL__ENABLED": "false",
            "PASOKH_WEBCHAT__ENABLED": "true",
            # Every visitor comes from nginx's address: no per-address limit in the way.
            "PASOKH_WEBCHAT__SESSIONS_PER_ADDRESS_PER_MINUTE": "10000",
            "PASOKH_WEBCHAT__HANDOFFS_PER_ADDRESS_PER_MINUTE": "10000",
            "PASOKH_WEBCHAT__RATE_LIMIT_PER_MINUTE": "10000",
            "PASOKH_WEBCHAT__MAX_SOCKETS_PER_ADDRESS": "10000",
            "PASOKH_WEBCHAT__SOCKET_OPENS_PER_ADDRESS_PER_MINUTE": "0",
            "PASOKH_SERVICE__SCHEDULER_INTERVAL_SECONDS": "1",
        }
        a = ServeProcess(tmp_path / "a", free_port(), env)
        b = ServeProcess(tmp_path / "b", free_port(), env)
        nginx = Nginx.in_front(tmp_path / "nginx", free_port(), [a.port, b.port])
        try:
            await a.start()
            # A polls Telegram (it is alone); B starts once A holds the lock.
            await fake.wait_acknowledged(fake.add_message(100, "first"), within=30)
            await b.start()
            await nginx.start()
            timeout = aiohttp.ClientTimeout(total=10)
            async with aiohttp.ClientSession(timeout=timeout) as http:
                await replies_from_either_process_reach_every_visitor(
                    http, nginx.url, (a.url, b.url), agent_headers, sessions
                )
                await kill_mid_stream(http, nginx.url, a, b, fake, integration_token, sessions)
        finally:
            nginx.stop()
            a.kill()
            b.terminate()
            log = (nginx.prefix / "access.log").read_text()
            await engine.dispose()
    assert "/ws/webchat" in log and "token=" not in log  # tokens stay out of the log


async def replies_from_either_process_reach_every_visitor(
    http: aiohttp.ClientSession,
    proxy: str,
    processes: tuple[str, str],
    agent_headers: dict[str, str],
    sessions: Any,
) -> None:
    visitors = [Visitor(proxy, http) for _ in range(REPLY_VISITORS)]
    await asyncio.gather(*(v.open() for v in visitors))
    await asyncio.gather(*(v.say("hello", "سلام، با یک نفر کار دارم") for v in visitors))
    for number, visitor in enumerate(visitors):
        async with sessions() as session:
            thread_id = await session.scalar(
                select(Message.thread_id).where(Message.id == visitor.acked["hello"])
            )
        claim = f"{processes[number % 2]}/api/v1/threads/{thread_id}/claim"
        async with http.post(claim, headers=agent_headers) as response:
            assert response.status == 200, await response.text()
        replies = set()
        for process in processes:  # one of the two holds the socket, the other does not
            async with http.post(
                f"{process}/api/v1/threads/{thread_id}/messages",
                headers=agent_headers,
                json={"text": f"پاسخ از {process[-5:]}"},
            ) as response:
                assert response.status == 201, await response.text()
                replies.add(int((await response.json())["message"]["id"]))
        await visitor.wait_for(replies, within=10)
    assert all(v.reconnects == 0 for v in visitors)  # pushed live, not caught up
    await asyncio.gather(*(v.close() for v in visitors))


async def kill_mid_stream(
    http: aiohttp.ClientSession,
    proxy: str,
    a: ServeProcess,
    b: ServeProcess,
    fake: FakeTelegram,
    integration_token: str,
    sessions: Any,
) -> None:
    visitors = await visitors_on_both(http, proxy, a.url, b.url)
    api_acked: dict[str, int] = {}
    killed = asyncio.Event()
    sla_before = await metric(http, b.url, 'pasokh_worker_passes_total{worker="sla"}')

    async def ask(visitor: Visitor, number: int) -> None:
        for n in range(QUESTIONS_EACH):  # closed loop: the next question after the answer
            if n == QUESTIONS_EACH // 2:
                # Half the questions on each side of the kill: a visitor fast enough to
                # finish before it would never see its socket cut.
                await killed.wait()
            await visitor.say(f"q{number}-{n}", QUESTIONS[n % 2])
            await visitor.wait_for_count(n + 1)

    async def post_api(n: int) -> None:
        body = {"id": f"api-{n}", "customer": {"external_id": f"c{n % 5}"}, "text": f"n={n}"}
        headers = {"Authorization": f"Bearer {integration_token}"}
        while f"api-{n}" not in api_acked:
            with contextlib.suppress(TimeoutError, aiohttp.ClientError):
                async with http.post(
                    f"{proxy}/api/v1/inbound/messages", json=body, headers=headers
                ) as response:
                    if response.status in (200, 201, 202):
                        api_acked[f"api-{n}"] = int((await response.json())["message_id"])
                        continue
            await asyncio.sleep(0.1)

    async def api_stream() -> None:
        for start in range(0, API_MESSAGES, 6):
            await asyncio.gather(*(post_api(n) for n in range(start, start + 6)))

    def visitor_acks() -> int:
        return sum(len(v.acked) for v in visitors)

    async def killer() -> tuple[int, int]:
        half = QUESTIONS_EACH // 2
        while len(api_acked) < API_MESSAGES // 4 or visitor_acks() < len(visitors) * half:
            await asyncio.sleep(0.01)
        a.kill()
        killed.set()
        return len(api_acked), visitor_acks()

    _, at_kill, *_ = await asyncio.gather(
        api_stream(), killer(), *(ask(v, i) for i, v in enumerate(visitors))
    )
    killed_at = time.monotonic()
    # The kill landed mid-stream on both channels, and sockets on A were cut.
    assert at_kill[0] < API_MESSAGES and at_kill[1] < len(visitors) * QUESTIONS_EACH
    assert sum(v.reconnects for v in visitors) > 0
    assert a.process is not None and a.process.poll() is not None

    # B polls Telegram now: an update sent after the kill is stored.
    update = fake.add_message(200, "بعد از خاموشی")
    await fake.wait_acknowledged(update, within=TAKEOVER_SECONDS)
    async with sessions() as session:
        telegram = await session.scalar(
            select(func.count()).select_from(Message).where(Message.text == "بعد از خاموشی")
        )
    assert telegram == 1

    # Every acknowledged message is stored exactly once.
    async with sessions() as session:
        counts = Counter(
            await session.scalars(
                select(Message.id).where(Message.direction == "in", Message.channel != "telegram")
            )
        )
    for acked in [*api_acked.values(), *(i for v in visitors for i in v.acked.values())]:
        assert counts[acked] == 1
    async with sessions() as session:
        api_stored = await session.scalar(
            select(func.count())
            .select_from(Message)
            .where(Message.channel == "api", Message.direction == "in")
        )
    assert api_stored == API_MESSAGES

    # Every question got one bot answer, and each answer reached its visitor.
    for visitor in visitors:
        asked = set(visitor.acked.values())
        async with sessions() as session:
            thread_ids = set(
                await session.scalars(select(Message.thread_id).where(Message.id.in_(asked)))
            )
            answers = set(
                await session.scalars(
                    select(Message.id).where(
                        Message.thread_id.in_(thread_ids), Message.author_kind == "bot"
                    )
                )
            )
            outbox = Counter(
                await session.scalars(
                    select(OutboxItem.message_id).where(OutboxItem.message_id.in_(answers))
                )
            )
        assert len(answers) == QUESTIONS_EACH, "one answer per question"
        assert set(outbox.values()) == {1}
        remaining = TAKEOVER_SECONDS - (time.monotonic() - killed_at)
        await visitor.wait_for(answers, within=max(remaining, 1.0))
        assert visitor.live_doubles == []
    # The SLA scheduler runs on B (it runs on every process; SKIP LOCKED keeps each alarm
    # to one of them).
    async with asyncio.timeout(10):
        while await metric(http, b.url, 'pasokh_worker_passes_total{worker="sla"}') <= sla_before:
            await asyncio.sleep(0.2)
    await asyncio.gather(*(v.close() for v in visitors))
