"""Request bodies as networks deliver them: a body in several TCP segments is read
whole (router/http/errors.py::read_body); one trickled after complete headers is cut
off with 408 and counted, while a slow but steady one (a large upload on a poor link)
still goes through (router/http/slow_bodies.py)."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from config.settings import SettingsError, load_settings
from router.core.responder import QueueEveryThread
from tests.agent_support import make_agent
from tests.conftest import AppFactory
from tests.support import make_settings

SESSIONS = "/api/v1/webchat/sessions"


async def start(tmp_path: Path, database_url: str, start_app: AppFactory) -> tuple[Any, Any]:
    settings = make_settings(
        tmp_path / "data", database_url, server={"body_timeout": 0.5, "body_min_rate": 1000.0}
    )
    client, context = await start_app(settings, responder=QueueEveryThread())
    return client, context


def head(port: int, path: str, length: int, content_type: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def answer(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    async with asyncio.timeout(20):
        return await reader.read()


def refused_slow_bodies(context: Any) -> float:
    labels = {"channel": "http", "reason": "slow_body"}
    value = context.metrics.registry.get_sample_value("pasokh_rejected_input_total", labels)
    return value or 0.0


async def test_a_trickled_body_gets_408_and_the_connection_closes(
    tmp_path: Path, database_url: str, start_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client, context = await start(tmp_path, database_url, start_app)
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(head(client.port, SESSIONS, 1000, "application/json") + b"{" + b" " * 9)
    await writer.drain()
    # Nothing more is sent: the server answers and hangs up on its own.
    reply = await answer(reader)
    writer.close()
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"not sent in time" in reply
    assert refused_slow_bodies(context) == 1
    # one warning line for the refusal, no traceback from aiohttp reading the rest
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]


async def test_a_trickled_upload_gets_408(
    tmp_path: Path, database_url: str, start_app: AppFactory
) -> None:
    client, context = await start(tmp_path, database_url, start_app)
    token = (await (await client.post(SESSIONS, json={})).json())["visitor_token"]
    boundary = "b0undary"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode() + b"\x89PNG\r\n\x1a\n"
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    request = head(
        client.port, "/api/v1/webchat/uploads", 50_000, f"multipart/form-data; boundary={boundary}"
    )
    request = request.replace(b"\r\n\r\n", f"\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    writer.write(request + part)
    await writer.drain()
    reply = await answer(reader)
    writer.close()
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert refused_slow_bodies(context) == 1


async def test_a_slow_but_steady_body_goes_through(
    tmp_path: Path, database_url: str, start_app: AppFactory
) -> None:
    client, context = await start(tmp_path, database_url, start_app)
    body = b"{" + b" " * 2998 + b"}"
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(head(client.port, SESSIONS, len(body), "application/json"))
    # 3,000 bytes over about 0.75 s: past body_timeout (0.5 s), but at 4,000 bytes a
    # second, four times body_min_rate (1,000), so that a loaded machine's slower
    # turns of the loop still keep the pace over it.
    for start_at in range(0, len(body), 200):
        writer.write(body[start_at : start_at + 200])
        await writer.drain()
        await asyncio.sleep(0.05)  # the client's pace, not a wait for the server
    async with asyncio.timeout(20):
        status = await reader.readline()
    writer.close()
    assert status.startswith(b"HTTP/1.1 200"), status
    assert refused_slow_bodies(context) == 0


def test_a_minimum_rate_of_zero_is_refused_at_start() -> None:
    with pytest.raises(SettingsError, match="BODY_MIN_RATE"):
        load_settings(env={"PASOKH_SERVER__BODY_MIN_RATE": "0"})


async def test_a_json_body_in_two_segments_is_read_whole(
    tmp_path: Path, database_url: str, start_app: AppFactory
) -> None:
    client, context = await start(tmp_path, database_url, start_app)
    admin = await make_agent(context, "Boss", tier=1, is_admin=True)
    body = json.dumps({"language": "en", "title": "Hi", "text": "x" * 3000}).encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    request = head(client.port, "/api/v1/canned", len(body), "application/json")
    request = request.replace(
        b"\r\n\r\n", f"\r\nAuthorization: Bearer {admin.token}\r\n\r\n".encode()
    )
    writer.write(request + body[:1000])
    await writer.drain()
    await asyncio.sleep(0.2)  # the client's pace: the server has read the first part
    writer.write(body[1000:])
    await writer.drain()
    async with asyncio.timeout(20):
        status = await reader.readline()
    writer.close()
    assert status.startswith(b"HTTP/1.1 201"), status


# (Brotli, "br", never reaches the application: aiohttp's parser answers 400 itself
# when the Brotli package is not installed, as here.)
@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_body_is_refused_unread_and_counted(
    tmp_path: Path, database_url: str, start_app: AppFactory, encoding: str
) -> None:
    client, context = await start(tmp_path, database_url, start_app)
    # A bomb: 300 KB on the wire that would inflate to 300 MB on the event loop.
    bomb = gzip.compress(b" " * 300_000_000, compresslevel=9)
    before = refused(context, "compressed_body")
    response = await client.post(
        SESSIONS,
        data=bomb,
        headers={"Content-Encoding": encoding, "Content-Type": "application/json"},
    )
    assert response.status == 415, await response.text()
    assert "compressed" in (await response.json())["error"]["message"]
    assert refused(context, "compressed_body") == before + 1
    # an uncompressed body is read as before
    plain = await client.post(SESSIONS, json={})
    assert plain.status in (200, 201), await plain.text()


def refused(context: Any, reason: str) -> float:
    labels = {"channel": "http", "reason": reason}
    value = context.metrics.registry.get_sample_value("pasokh_rejected_input_total", labels)
    return value or 0.0


async def test_a_malformed_request_is_one_warning_line_not_a_traceback(
    tmp_path: Path, database_url: str, start_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client, context = await start(tmp_path, database_url, start_app)
    before = refused(context, "malformed_request")
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    writer.write(
        f"POST {SESSIONS} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        "zz\x1b[2J\r\n{}\r\n0\r\n\r\n".encode()
    )
    await writer.drain()
    reply = await answer(reader)
    writer.close()
    assert reply.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request"), reply[:200]
    assert refused(context, "malformed_request") == before + 1
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelno for r in records] == [logging.WARNING], records
    [record] = records
    assert record.exc_info is None and "malformed HTTP request" in record.getMessage()
    assert "\x1b" not in record.getMessage()
