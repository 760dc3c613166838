"""Web chat sockets are capped per client address and per process, and their opens
are rate-limited per address: one client cannot take the file descriptors everybody
else (agents, SMTP, /healthz) needs. Real app on loopback, real WebSocket clients
from several loopback addresses; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import resource
import smtplib
from pathlib import Path

import aiohttp
import pytest
from aiohttp import WSMsgType

from config.settings import Settings
from tests.agent_support import eventually
from tests.conftest import AppFactory
from tests.loopback_clients import LoopbackClient, webchat_clients
from tests.processes import ServeProcess
from tests.support import free_port

UNLIMITED_SESSIONS = {"sessions_per_address_per_minute": 100}


async def outcome(ws: aiohttp.ClientWebSocketResponse) -> tuple[str, int | None]:
    """("ready", None) for a socket let in; (error code, close code) for one refused."""
    message = await ws.receive(timeout=10)
    if message.type == WSMsgType.TEXT:
        frame = message.json()
        if frame["type"] == "ready":
            return "ready", None
        closing = await ws.receive(timeout=10)
        assert closing.type == WSMsgType.CLOSE, closing
        return frame["code"], closing.data
    raise AssertionError(message)


async def metric(base: str, name: str, **labels: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(base + "/metrics") as response:
        page = await response.text()
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if wanted else "") + r" (\S+)"
    found = re.search("^" + pattern + "$", page, re.M)
    return float(found.group(1)) if found else 0.0


async def until_open_sockets(base: str, count: int, gauge: str = "pasokh_webchat_sockets") -> None:
    """Wait until the server counts `count` open visitor sockets (or those `gauge`
    counts: the console's); it learns of a close a moment after the client sends it."""

    async def counted() -> bool:
        return await metric(base, gauge) == count

    await eventually(counted)


async def test_a_client_address_holds_at_most_its_sockets_and_gets_one_back_when_one_closes(
    start_app: AppFactory, settings: Settings
) -> None:
    limits = {"max_sockets_per_address": 3, **UNLIMITED_SESSIONS}
    async with webchat_clients(start_app, settings, 11, **limits) as (base, _, (one, other, _)):
        # Three tokens of one address: the cap is the address's, whatever the tokens.
        tokens = [await one.token() for _ in range(3)]
        held = [await one.open(tokens[n % 3]) for n in range(3)]
        assert [await outcome(ws) for ws in held] == [("ready", None)] * 3
        fourth = await one.open(await one.token())
        assert await outcome(fourth) == ("too_many_address_sockets", 4429)
        # Another address is not held back by the first one's sockets.
        elsewhere = await other.open(await other.token())
        assert await outcome(elsewhere) == ("ready", None)
        code = "too_many_address_sockets"
        refused = await metric(base, "pasokh_webchat_refused_total", code=code)
        assert refused == 1

        await held.pop().close()
        await until_open_sockets(base, 3)
        again = await one.open(tokens[0])
        assert await outcome(again) == ("ready", None)
        for ws in (*held, elsewhere, again):
            await ws.close()


async def test_the_process_holds_at_most_its_sockets_and_answers_1013_beyond(
    start_app: AppFactory, settings: Settings
) -> None:
    # Four sockets in all, three per address: two addresses fill the process.
    limits = {"max_sockets": 4, "max_sockets_per_address": 3, **UNLIMITED_SESSIONS}
    async with webchat_clients(start_app, settings, 11, **limits) as (base, _, clients):
        one, other, third = clients
        opened = [await one.open(await one.token()) for _ in range(3)]
        opened.append(await other.open(await other.token()))
        assert [await outcome(ws) for ws in opened] == [("ready", None)] * 4
        # Concurrent opens from a third address: none passes the full cap.
        token = await third.token()
        late = await asyncio.gather(*(third.open(token) for _ in range(3)))
        assert [await outcome(ws) for ws in late] == [("server_busy", 1013)] * 3
        assert await metric(base, "pasokh_webchat_refused_total", code="server_busy") == 3

        await opened.pop(0).close()
        await until_open_sockets(base, 3)
        let_in = await third.open(token)
        assert await outcome(let_in) == ("ready", None)
        for ws in (*opened, let_in):
            await ws.close()


async def test_socket_opens_are_rate_limited_per_client_address(
    start_app: AppFactory, settings: Settings
) -> None:
    limits = {"socket_opens_per_address_per_minute": 3, **UNLIMITED_SESSIONS}
    async with webchat_clients(start_app, settings, 11, **limits) as (base, _, clients):
        one, other, _ = clients
        token = await one.token()
        for _ in range(3):
            ws = await one.open(token)
            assert await outcome(ws) == ("ready", None)
            await ws.close()
        # Refused before the upgrade: no handshake, no history read.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await one.open(token)
        assert refused.value.status == 429
        assert 0 < int(refused.value.headers["Retry-After"]) <= 21
        ws = await other.open(await other.token())
        assert await outcome(ws) == ("ready", None)
        await ws.close()
        assert await metric(base, "pasokh_webchat_refused_total", code="too_many_socket_opens") == 1


def _few_open_files() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (300, 300))


@pytest.mark.slow
async def test_with_every_socket_slot_taken_healthz_and_smtp_still_answer(tmp_path: Path) -> None:
    """The review's exhaustion: five addresses, each with ten tokens of eight sockets,
    against a process allowed 300 open files. The sockets stop at the cap (four
    fifths of 300) and the rest of the server keeps its descriptors."""
    smtp_port = free_port()
    server = ServeProcess(
        tmp_path / "data",
        free_port(),
        {
            "PASOKH_EMAIL__SMTP_PORT": str(smtp_port),
            # Only the process's cap is under test here: each address may hold its 80.
            "PASOKH_WEBCHAT__MAX_SOCKETS_PER_ADDRESS": "80",
            "PASOKH_WEBCHAT__SOCKET_OPENS_PER_ADDRESS_PER_MINUTE": "0",
        },
    )
    server.preexec_fn = _few_open_files
    await server.start()
    addresses = [LoopbackClient(server.url, f"127.0.0.{n}") for n in range(41, 46)]
    try:

        async def flood(address: LoopbackClient) -> list[aiohttp.ClientWebSocketResponse]:
            held = []
            for _ in range(10):
                token = await address.token()
                for _ in range(8):
                    ws = await address.open(token)
                    result = await outcome(ws)
                    if result != ("ready", None):
                        assert result == ("server_busy", 1013), result
                        return held
                    held.append(ws)
            return held

        held = [ws for group in await asyncio.gather(*map(flood, addresses)) for ws in group]
        assert len(held) == 240  # int(300 * 0.8)
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.url + "/healthz") as response,
        ):
            assert response.status == 200
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.url + "/console") as response,
        ):
            assert response.status == 200

        def greet() -> int:
            with smtplib.SMTP("127.0.0.1", smtp_port, timeout=10) as smtp:
                code, _ = smtp.noop()
                return code

        assert await asyncio.to_thread(greet) == 250
        for ws in held:
            await ws.close()
    finally:
        for address in addresses:
            await address.http.close()
        server.terminate()
    log = server.log_path.read_text()
    assert "at most 240 visitor sockets in this process" in log
    assert "Too many open files" not in log and "Traceback" not in log
