"""The console's own sockets are capped per signed-in session and share the process's
budget of sockets with the web chat: one session (or a stolen session cookie) cannot
take the file descriptors everybody else needs. Real app on loopback, real WebSocket
clients, each session with its own cookie jar; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import WSMsgType

from config.settings import Settings
from tests.conftest import AppFactory
from tests.console_support import add_agent, sign_in
from tests.loopback_clients import webchat_clients
from tests.test_webchat_socket_caps import metric, outcome, until_open_sockets


@contextlib.asynccontextmanager
async def console_session(base: str, email: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A browser of its own, signed in as `email`: one console session."""
    jar = aiohttp.CookieJar(unsafe=True)  # the server is an IP address
    # Every request from the console's own page, as a browser's would be.
    headers = {"Origin": base}
    async with aiohttp.ClientSession(base_url=base, cookie_jar=jar, headers=headers) as http:
        await sign_in(http, email)  # type: ignore[arg-type]  # relative URLs, as a TestClient
        yield http


async def open_console(http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
    return await http.ws_connect("/ws/console")


async def console_outcome(ws: aiohttp.ClientWebSocketResponse) -> tuple[str, int | None]:
    """("hello", None) for a socket let in; (reason, close code) for one refused."""
    message = await ws.receive(timeout=10)
    if message.type == WSMsgType.TEXT and message.json()["type"] == "hello":
        return "hello", None
    assert message.type == WSMsgType.CLOSE, message
    return message.extra, message.data


async def until_console_sockets(base: str, count: int) -> None:
    await until_open_sockets(base, count, gauge="pasokh_console_sockets")


async def test_a_session_holds_at_most_its_sockets_and_gets_one_back_when_one_closes(
    start_app: AppFactory, settings: Settings
) -> None:
    settings = settings.replace("console", max_sockets_per_session=3)
    client, context = await start_app(settings.replace("email", enabled=False))
    base = str(client.make_url("")).rstrip("/")
    await add_agent(context, "sara@example.com")
    await add_agent(context, "omid@example.com")
    async with (
        console_session(base, "sara@example.com") as sara,
        console_session(base, "sara@example.com") as sara_elsewhere,
        console_session(base, "omid@example.com") as omid,
    ):
        held = [await open_console(sara) for _ in range(3)]
        assert [await console_outcome(ws) for ws in held] == [("hello", None)] * 3
        # Opened at once, none passes the session's cap.
        late = await asyncio.gather(*(open_console(sara) for _ in range(3)))
        refused = [await console_outcome(ws) for ws in late]
        assert refused == [("too_many_session_sockets", 4429)] * 3
        code = "too_many_session_sockets"
        assert await metric(base, "pasokh_console_refused_total", code=code) == 3

        # Another session of the same agent, and another agent, are not held back.
        others = [await open_console(sara_elsewhere), await open_console(omid)]
        assert [await console_outcome(ws) for ws in others] == [("hello", None)] * 2

        await held.pop().close()
        await until_console_sockets(base, 4)
        again = await open_console(sara)
        assert await console_outcome(again) == ("hello", None)
        for ws in (*held, *others, again):
            await ws.close()
        await until_console_sockets(base, 0)


async def test_console_and_web_chat_sockets_share_the_process_budget(
    start_app: AppFactory, settings: Settings
) -> None:
    # Three sockets in all for the process, whichever kind.
    settings = settings.replace("console", max_sockets_per_session=8)
    limits = {"max_sockets": 3, "sessions_per_address_per_minute": 100}
    async with webchat_clients(start_app, settings, 41, **limits) as (base, context, clients):
        visitor = clients[0]
        await add_agent(context, "sara@example.com")
        async with console_session(base, "sara@example.com") as sara:
            chats = [await visitor.open(await visitor.token()) for _ in range(2)]
            assert [await outcome(ws) for ws in chats] == [("ready", None)] * 2
            console = await open_console(sara)
            assert await console_outcome(console) == ("hello", None)

            # The budget is spent: the next of either kind is told to come back later.
            busy_console = await open_console(sara)
            assert await console_outcome(busy_console) == ("server_busy", 1013)
            busy_chat = await visitor.open(await visitor.token())
            assert await outcome(busy_chat) == ("server_busy", 1013)
            assert await metric(base, "pasokh_console_refused_total", code="server_busy") == 1
            assert await metric(base, "pasokh_webchat_refused_total", code="server_busy") == 1

            # A visitor leaving frees a slot an agent's console may take, and back.
            await chats.pop().close()
            await until_open_sockets(base, 1)
            second_console = await open_console(sara)
            assert await console_outcome(second_console) == ("hello", None)
            await console.close()
            await until_console_sockets(base, 1)
            chat = await visitor.open(await visitor.token())
            assert await outcome(chat) == ("ready", None)
            for ws in (*chats, second_console, chat):
                await ws.close()
