"""The client behind a trusted reverse proxy: `X-Forwarded-For` and `X-Forwarded-Proto`
count only from `[server] trusted_proxies`, read from the right, so per-address limits
count each visitor behind nginx on their own and a client's forged header changes
nothing (router/http/forwarded.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest

from config.settings import SettingsError, load_settings
from router.core.responder import QueueEveryThread
from router.http.forwarded import TrustedProxies, client_key
from tests.conftest import AppFactory
from tests.console_support import add_agent, login_csrf
from tests.nginx_support import Nginx
from tests.support import free_port, make_settings

PROXIES = TrustedProxies.of(["127.0.0.1", "10.0.0.0/8", "::1"])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        # Anyone else's header is their own words.
        ("203.0.113.9", ["198.51.100.1"], "203.0.113.9"),
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
        # What the client wrote sits left of what the proxy appended: never read.
        ("127.0.0.1", ["198.51.100.1, 203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["198.51.100.1", "203.0.113.7"], "203.0.113.7"),
        # A chain of trusted hops: each vouches for the one to its left.
        ("127.0.0.1", ["198.51.100.1, 203.0.113.7, 10.1.2.3"], "203.0.113.7"),
        ("127.0.0.1", ["10.0.0.9, 10.1.2.3"], "10.0.0.9"),
        # Garbage where an address was due: the last trusted hop is all we know.
        ("127.0.0.1", ["203.0.113.7, unknown"], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.7, 10.1.2.3, <script>"], "127.0.0.1"),
        ("127.0.0.1", ["203.0.113.7, 10.1.2.3:8080, nope"], "127.0.0.1"),
        ("127.0.0.1", ["unknown, 10.1.2.3"], "10.1.2.3"),
        ("::1", ["2001:db8::5"], "2001:db8::5"),
        ("::1", ["[2001:db8::5]:4431"], "2001:db8::5"),
        ("::ffff:127.0.0.1", ["203.0.113.7"], "203.0.113.7"),
        ("127.0.0.1", ["203.0.113.7:51000"], "203.0.113.7"),
        (None, ["203.0.113.7"], None),
    ],
)
def test_the_client_is_the_rightmost_address_no_trusted_hop_is(
    peer: str | None, forwarded_for: list[str], client: str | None
) -> None:
    assert PROXIES.client_address(peer, forwarded_for) == client


@pytest.mark.parametrize(
    ("peer", "proto", "scheme"),
    [
        ("127.0.0.1", "https", "https"),
        ("127.0.0.1", "HTTP", "http"),
        ("127.0.0.1", "http, https", "https"),  # the hop that connected to us said https
        ("127.0.0.1", "gopher", None),
        ("127.0.0.1", None, None),
        ("203.0.113.9", "https", None),  # not a proxy we trust
    ],
)
def test_the_scheme_is_believed_only_from_a_trusted_proxy(
    peer: str, proto: str | None, scheme: str | None
) -> None:
    assert PROXIES.client_scheme(peer, proto) == scheme


def test_a_trusted_proxy_that_is_not_an_address_is_refused_at_start() -> None:
    env = {"PASOKH_SERVER__TRUSTED_PROXIES": "10.0.0.0/8, proxy.example.com"}
    with pytest.raises(SettingsError, match=r"proxy\.example\.com"):
        load_settings(env=env)
    env = {"PASOKH_SERVER__TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1, fd00::/8"}
    assert load_settings(env=env).server.trusted_proxies == ["10.0.0.0/8", "127.0.0.1", "fd00::/8"]


NGINX_ADDRESS = "127.0.0.5"  # nginx connects to Pasokh from here
SESSIONS = "/api/v1/webchat/sessions"


def from_address(address: str) -> aiohttp.ClientSession:
    """An HTTP client whose connections leave from `address` (any of 127/8 is loopback)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(address, 0)))


async def test_behind_nginx_each_visitor_has_their_own_budget_and_forging_changes_nothing(
    tmp_path: Path, database_url: str, start_app: AppFactory
) -> None:
    settings = make_settings(
        tmp_path / "data",
        database_url,
        server={"trusted_proxies": [NGINX_ADDRESS]},
        webchat={"sessions_per_address_per_minute": 3},
    )
    client, _ = await start_app(settings, responder=QueueEveryThread())
    assert client.port is not None
    nginx = Nginx.in_front(tmp_path / "nginx", free_port(), [client.port], bind=NGINX_ADDRESS)
    await nginx.start()
    try:
        url = nginx.url + SESSIONS
        async with from_address("127.0.0.7") as first, from_address("127.0.0.8") as second:
            statuses = []
            for _ in range(4):
                async with first.post(url, json={}) as answer:
                    statuses.append(answer.status)
            assert statuses == [200, 200, 200, 429]
            # A forged header is left of what nginx appends: still this client's budget.
            forged = {"X-Forwarded-For": "198.51.100.1"}
            async with first.post(url, json={}, headers=forged) as answer:
                assert answer.status == 429
            # Another visitor behind the same nginx is not held by the first one's spending.
            async with second.post(url, json={}) as answer:
                assert answer.status == 200
                token = (await answer.json())["visitor_token"]
            # The socket works through the proxy with the forwarded address.
            ws_url = nginx.url.replace("http", "ws", 1) + "/ws/webchat"
            async with second.ws_connect(ws_url, params={"token": token}) as ws:
                await ws.send_json({"type": "message", "client_id": "c1", "text": "hello"})
                frame: dict[str, Any] = {}
                while frame.get("type") != "ack":
                    frame = await ws.receive_json(timeout=20)
                assert frame["client_id"] == "c1"
    finally:
        nginx.stop()


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("203.0.113.5", "203.0.113.5"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("2001:db8:1:2::5", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:9", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::5", "2001:db8:1:3::/64"),
        ("[2001:db8:1:2::5]:25", "2001:db8:1:2::/64"),
        (None, "unknown"),
        ("not an address", "not an address"),
    ],
)
def test_limits_count_an_ipv4_address_or_an_ipv6_64(address: str | None, key: str) -> None:
    # One host usually has a whole /64: SMTP sessions and every HTTP limit count it once.
    assert client_key(address) == key


def one_64(number: int) -> dict[str, str]:
    """Headers a trusted proxy sends for the `number`th address of one client's /64."""
    return {"X-Forwarded-For": f"2001:db8:77:1:{number:x}::{number:x}"}


ANOTHER_64 = {"X-Forwarded-For": "2001:db8:77:2::1"}


async def behind_a_proxy(
    tmp_path: Path, database_url: str, start_app: AppFactory, **sections: dict[str, Any]
) -> Any:
    """The app trusting the test client's own address (127.0.0.1) as its proxy, so the
    `X-Forwarded-For` a test sends is the client; with an agent to guess at."""
    trusting = {"trusted_proxies": ["127.0.0.1"]}
    settings = make_settings(tmp_path / "data", database_url, server=trusting, **sections)
    client, context = await start_app(settings, responder=QueueEveryThread())
    await add_agent(context, "sara@example.com")
    return client


async def sign_ins(client: Any, clients: list[dict[str, str]]) -> list[int]:
    """The statuses of one wrong password for the agent from each client in turn."""
    csrf = {"X-CSRF-Token": await login_csrf(client)}
    guess = {"email": "sara@example.com", "password": "a guess"}
    statuses = []
    for headers in clients:
        async with client.post("/console/login", json=guess, headers=csrf | headers) as answer:
            statuses.append(answer.status)
    return statuses


async def test_addresses_of_one_ipv6_64_spend_one_sign_in_budget(
    tmp_path: Path, database_url: str, start_app: AppFactory
) -> None:
    limits = {"sign_in_attempts_per_minute": 3, "max_failed_logins": 50}
    client = await behind_a_proxy(tmp_path, database_url, start_app, console=limits)
    clients = [one_64(n) for n in range(1, 5)] + [ANOTHER_64]
    assert await sign_ins(client, clients) == [401, 401, 401, 429, 401]


async def test_the_sign_in_back_off_counts_an_ipv6_64_as_one_client(
    tmp_path: Path, database_url: str, start_app: AppFactory
) -> None:
    limits = {"sign_in_attempts_per_minute": 100, "max_failed_logins": 2}
    limits["first_backoff_seconds"] = 60
    client = await behind_a_proxy(tmp_path, database_url, start_app, console=limits)
    assert await sign_ins(client, [one_64(n) for n in range(1, 5)]) == [401, 401, 429, 429]


async def test_addresses_of_one_ipv6_64_spend_one_web_chat_session_budget(
    tmp_path: Path, database_url: str, start_app: AppFactory
) -> None:
    limits = {"sessions_per_address_per_minute": 3}
    client = await behind_a_proxy(tmp_path, database_url, start_app, webchat=limits)
    statuses = []
    for headers in [one_64(n) for n in range(1, 5)] + [ANOTHER_64]:
        async with client.post(SESSIONS, json={}, headers=headers) as answer:
            statuses.append(answer.status)
    assert statuses == [200, 200, 200, 429, 200]
