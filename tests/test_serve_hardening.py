"""`pasokh serve` as a user meets it: slow clients are dropped, files are owner-only,
a read-only data dir is one clear line, start-up says which channels are on and what
is missing, /metrics can be closed off, and browsers get their icon."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from config.settings import Settings, SettingsError, load_settings
from router.core.attachments import AttachmentStore
from tests.conftest import AppFactory
from tests.processes import ServeProcess
from tests.support import free_port

SECRET = "k" * 40


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.slow
async def test_serve_drops_slow_clients_and_keeps_its_files_private(tmp_path: Path) -> None:
    env = {"PASOKH_SERVER__IDLE_TIMEOUT": "1.0", "PASOKH_SERVER__SECRET_KEY": ""}
    server = ServeProcess(tmp_path / "data", free_port(), env)
    await server.start()
    try:
        # Slowloris: a request line and one header, then a header every 0.3 s, never the end.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()

        async def trickle() -> None:
            while not writer.is_closing():
                await asyncio.sleep(0.3)
                writer.write(b"X-Slow: 1\r\n")

        trickling = asyncio.create_task(trickle())
        async with asyncio.timeout(10):
            assert await reader.read() == b""  # closed by the server, nothing answered
        held = time.monotonic() - started
        trickling.cancel()
        writer.close()
        assert held < 3.0, held

        # A compressed body is refused unread: not inflated (a gzip bomb costs nothing),
        # and one that would not even inflate is no 500.
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"{server.url}/api/v1/webchat/sessions",
                data=b"\x1f\x8b\x08\x00 not gzip at all",
                headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
            ) as response,
        ):
            assert response.status == 415, await response.text()
            assert "compressed" in (await response.json())["error"]["message"]

        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{server.url}/favicon.ico") as response,
        ):
            assert response.status == 200
            assert response.content_type in ("image/x-icon", "image/vnd.microsoft.icon")
            assert (await response.read())[:4] == b"\x00\x00\x01\x00"

        data = tmp_path / "data"
        assert _mode(data) == 0o700
        for name in ("pasokh.db", "secret.key"):
            assert _mode(data / name) == 0o600, name
    finally:
        server.terminate()
    log = server.log_path.read_text()
    assert "channels on: api" in log and "webchat" in log
    assert "start-up heap frozen" in log
    assert "channels off:" in log and "PASOKH_TELEGRAM__TOKEN" in log
    assert "no agent yet" in log and "pasokh agent add" in log
    assert "no outbound mail relay" in log and "PASOKH_EMAIL__RELAY_HOST" in log
    assert "Unhandled exception" not in log and "Traceback" not in log


def test_serve_on_a_read_only_data_dir_says_which_and_what_to_do(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    root = os.geteuid() == 0
    # root writes through file modes; the immutable flag stops even root.
    lock = ["chattr", "+i", str(data)] if root else ["chmod", "0555", str(data)]
    unlock = ["chattr", "-i", str(data)] if root else ["chmod", "0755", str(data)]
    subprocess.run(lock, check=True)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "router.cli",
                "serve",
                "--data-dir",
                str(data),
                "--http-port",
                str(free_port()),
            ],
            env={**os.environ, "PASOKH_EMAIL__SMTP_PORT": "0"},
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        subprocess.run(unlock, check=True)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(data.resolve()) in lines[0] and "--data-dir" in lines[0]
    assert "Traceback" not in done.stderr


def test_short_signing_keys_are_refused() -> None:
    for name in ("PASOKH_SERVER__SECRET_KEY", "PASOKH_WEBCHAT__USER_HASH_SECRET"):
        with pytest.raises(SettingsError, match=name):
            load_settings(env={name: "short-secret"})
        load_settings(env={name: "x" * 32})


async def test_attachments_are_owner_only(tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path / "attachments")
    ref = await store.put(b"invoice", filename="a.pdf", content_type="application/pdf")
    path = store.path_for(ref.sha256)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700


async def test_metrics_behind_a_token(settings: Settings, start_app: AppFactory) -> None:
    token = "m" * 40
    client, _ = await start_app(settings.replace("server", metrics_token=token))
    assert (await client.get("/metrics")).status == 401
    wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status == 401
    right = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
    assert right.status == 200 and "pasokh_outbox_depth" in await right.text()


async def test_metrics_on_a_port_of_its_own(settings: Settings, start_app: AppFactory) -> None:
    port = free_port()
    client, _ = await start_app(settings.replace("server", metrics_port=port))
    assert (await client.get("/metrics")).status == 404
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        assert response.status == 200
        assert "pasokh_outbox_depth" in await response.text()


async def test_start_up_names_channels_and_what_is_missing(
    settings: Settings, start_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="router.startup")
    await start_app(settings.replace("email", relay_host="smtp.example.ir"))
    text = caplog.text
    assert "channels on: api" in text and "email (SMTP in on" in text
    assert "telegram (set PASOKH_TELEGRAM__TOKEN" in text
    assert "no agent yet" in text
    assert "no outbound mail relay" not in text  # a relay is configured


@pytest.mark.parametrize(
    ("server", "warned"),
    [
        ({"host": "0.0.0.0"}, True),
        ({"host": ""}, True),
        ({"host": "10.0.0.11"}, True),
        ({"host": "127.0.0.1"}, False),
        ({"host": "::1"}, False),
        ({"host": "0.0.0.0", "metrics_token": "m" * 40}, False),
        ({"host": "0.0.0.0", "metrics_port": 9108}, False),
    ],
)
async def test_start_up_warns_of_a_metrics_page_anyone_can_reach(
    settings: Settings,
    start_app: AppFactory,
    caplog: pytest.LogCaptureFixture,
    server: dict[str, Any],
    warned: bool,
) -> None:
    caplog.set_level(logging.INFO, logger="router.startup")
    if "metrics_port" in server:
        server = {**server, "metrics_port": free_port()}
    await start_app(settings.replace("server", **server))
    assert ("/metrics on port" in caplog.text) is warned


async def test_responses_do_not_name_the_python_and_aiohttp_versions(
    settings: Settings, start_app: AppFactory
) -> None:
    client, _ = await start_app(settings)
    for path in ("/healthz", "/console", "/api/v1/threads", "/no-such-page"):
        response = await client.get(path)
        assert response.headers["Server"] == "Pasokh", path
