"""Files of the web chat: links that expire and work only for their visitor, safe
serving, and the collector that removes uploads nobody ever sent."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from prometheus_client import CollectorRegistry
from sqlalchemy import select

from channels.webchat import WebchatAdapter
from config.settings import Settings, WebchatSettings
from router.core.events import InProcessEventBus
from router.core.file_collector import collect_unsent_files
from router.storage.models import Message
from tests.conftest import AppFactory
from tests.webchat_fakes import (
    SECRET,
    Clock,
    FakeRouter,
    build_test_app,
    make_services,
    next_frame,
)

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
SESSIONS = "/api/v1/webchat/sessions"
UPLOADS = "/api/v1/webchat/uploads"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.4\n<< /JavaScript (app.alert(1)) >>\n"


class Chat:
    def __init__(self, client: TestClient[Any, Any], router: FakeRouter, clock: Clock) -> None:
        self.client, self.router, self.clock = client, router, clock

    async def token(self) -> str:
        token: str = (await (await self.client.post(SESSIONS, json={})).json())["visitor_token"]
        return token

    async def upload(self, token: str, data: bytes, name: str, kind: str) -> dict[str, Any]:
        form = FormData()
        form.add_field("file", data, filename=name, content_type=kind)
        response = await self.client.post(
            UPLOADS, data=form, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 200, await response.text()
        body: dict[str, Any] = await response.json()
        return body

    async def send_with(self, token: str, upload: dict[str, Any], client_id: str) -> Any:
        ws = await self.client.ws_connect("/ws/webchat", params={"token": token})
        await next_frame(ws, "history")
        await ws.send_json(
            {
                "type": "message",
                "client_id": client_id,
                "text": "",
                "attachments": [upload["upload"]],
            }
        )
        return ws


@pytest.fixture
async def chat(aiohttp_client: ClientFactory, tmp_path: Path) -> Chat:
    clock = Clock()
    router = FakeRouter(InProcessEventBus())
    adapter = WebchatAdapter(
        settings=WebchatSettings(file_link_ttl_seconds=3600, upload_ttl_seconds=600),
        secret_key=SECRET,
        clock=clock,
    )
    client = await aiohttp_client(build_test_app(adapter, make_services(router, tmp_path)))
    return Chat(client, router, clock)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_file_link_works_only_for_its_visitor_and_only_until_it_expires(
    chat: Chat,
) -> None:
    mine, other = await chat.token(), await chat.token()
    upload = await chat.upload(mine, PNG, "رسید.png", "image/png")
    ws = await chat.send_with(mine, upload, "pay")
    await next_frame(ws, "ack")
    tab = await chat.client.ws_connect("/ws/webchat", params={"token": mine})
    (shown,) = (await next_frame(tab, "history"))["messages"]
    url = shown["attachments"][0]["url"]
    assert "e=" in url
    anonymous = await chat.client.get(url)  # a leaked link alone opens nothing
    assert anonymous.status == 401
    assert (await chat.client.get(url, headers=bearer(other))).status == 404
    ok = await chat.client.get(url, headers=bearer(mine))
    assert ok.status == 200 and await ok.read() == PNG
    assert ok.headers["Content-Disposition"].startswith("inline;")
    assert ok.headers["Cache-Control"] == "private, no-store"  # never kept on disk
    # The expiry is signed: moving it later breaks the signature.
    expiry = int(url.split("e=")[1].split("&")[0])
    stretched = url.replace(f"e={expiry}", f"e={expiry + 10**6}")
    assert (await chat.client.get(stretched, headers=bearer(mine))).status == 404
    chat.clock.now += 3601
    expired = await chat.client.get(url, headers=bearer(mine))
    assert expired.status == 410 and (await expired.json())["error"] == "link_expired"
    # A reconnect hands out fresh links.
    again = await chat.client.ws_connect("/ws/webchat", params={"token": mine})
    (message,) = (await next_frame(again, "history"))["messages"]
    fresh = message["attachments"][0]["url"]
    assert (await chat.client.get(fresh, headers=bearer(mine))).status == 200


async def test_cross_origin_widgets_may_fetch_files_with_their_token(chat: Chat) -> None:
    token = await chat.token()
    upload = await chat.upload(token, PNG, "a.png", "image/png")
    origin = {"Origin": "https://shop.example"}
    preflight = await chat.client.options(
        upload["url"],
        headers=origin
        | {
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status == 204
    assert "GET" in preflight.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    got = await chat.client.get(upload["url"], headers=origin | bearer(token))
    assert got.status == 200
    assert got.headers["Access-Control-Allow-Origin"] == "https://shop.example"


async def test_a_pdf_is_a_download_never_shown_from_the_support_origin(chat: Chat) -> None:
    token = await chat.token()
    upload = await chat.upload(token, PDF, "فاکتور.pdf", "application/pdf")
    got = await chat.client.get(upload["url"], headers=bearer(token))
    assert got.status == 200
    assert got.headers["Content-Disposition"].startswith("attachment;")
    assert got.headers["Content-Type"] == "application/octet-stream"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in got.headers["Content-Security-Policy"]
    assert "default-src 'none'" in got.headers["Content-Security-Policy"]


async def test_an_upload_not_sent_in_time_is_refused(chat: Chat) -> None:
    token = await chat.token()
    upload = await chat.upload(token, PNG, "late.png", "image/png")
    chat.clock.now += 601
    ws = await chat.send_with(token, upload, "late")
    error = await next_frame(ws, "error")
    assert (error["code"], error["client_id"]) == ("invalid_attachment", "late")
    assert chat.router.inbound == []


def age(path: Path, seconds: float) -> None:
    stamp = path.stat().st_mtime - seconds
    os.utime(path, (stamp, stamp))


async def test_the_collector_removes_old_uploads_nobody_sent(
    start_app: AppFactory, settings: Settings
) -> None:
    settings = settings.replace("webchat", enabled=True, upload_ttl_seconds=600).replace(
        "email", enabled=False
    )
    client, context = await start_app(settings)
    store = context.attachment_store
    token = (await (await client.post(SESSIONS, json={})).json())["visitor_token"]
    uploads = []
    for n, data in enumerate([PNG, PNG + b"sent", PNG + b"fresh"]):
        form = FormData()
        form.add_field("file", data, filename=f"{n}.png", content_type="image/png")
        response = await client.post(UPLOADS, data=form, headers=bearer(token))
        uploads.append(await response.json())
    sent = uploads[1]
    ws = await client.ws_connect("/ws/webchat", params={"token": token})
    await next_frame(ws, "history")
    await ws.send_json(
        {"type": "message", "client_id": "s", "text": "", "attachments": [sent["upload"]]}
    )
    await next_frame(ws, "ack")
    async with context.sessions() as session:
        (row,) = await session.scalars(select(Message).where(Message.author_kind == "customer"))
    sent_sha = row.attachments[0]["sha256"]
    paths = {p.name: p for p in store.root.rglob("*") if p.is_file()}
    assert len(paths) == 3
    unsent_sha = next(s for s in paths if s not in (sent_sha,) and paths[s].read_bytes() == PNG)
    fresh_sha = next(s for s in paths if s not in (sent_sha, unsent_sha))
    # Older than the upload's life (600 s) and the collector's hour of grace.
    for sha in (unsent_sha, sent_sha):
        age(paths[sha], 600 + 3600 + 5)

    removed = await collect_unsent_files(context)
    assert removed == [unsent_sha]
    assert not paths[unsent_sha].exists()
    assert paths[sent_sha].exists() and paths[fresh_sha].exists()
    # The same bytes uploaded again are young again: their new upload token must work.
    age(paths[fresh_sha], 600 + 3600 + 5)
    form = FormData()
    form.add_field("file", PNG + b"fresh", filename="again.png", content_type="image/png")
    assert (await client.post(UPLOADS, data=form, headers=bearer(token))).status == 200
    assert await collect_unsent_files(context) == []
    assert paths[fresh_sha].exists()


# Multipart bodies a broken or hostile client sends, each of which ended in a 500: a
# header line without a colon, a second part behind a boundary that is not the body's,
# a nested part whose own boundary is empty.
BROKEN_MULTIPART = (
    b"--b\r\nnot a header line\r\n\r\nx\r\n--b--\r\n",
    b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx\r\n--c\r\n\r\n',
    b'--b\r\nContent-Type: multipart/mixed; boundary=""\r\n\r\n--\r\n--b--\r\n',
)


@pytest.mark.parametrize("body", BROKEN_MULTIPART)
async def test_a_broken_multipart_upload_is_a_counted_400_not_a_500(
    aiohttp_client: ClientFactory, tmp_path: Path, body: bytes
) -> None:
    registry = CollectorRegistry()
    adapter = WebchatAdapter(settings=WebchatSettings(), secret_key=SECRET, registry=registry)
    router = FakeRouter(InProcessEventBus())
    client = await aiohttp_client(build_test_app(adapter, make_services(router, tmp_path)))
    token = (await (await client.post(SESSIONS, json={})).json())["visitor_token"]
    headers = {**bearer(token), "Content-Type": "multipart/form-data; boundary=b"}

    response = await client.post(UPLOADS, data=body, headers=headers)

    assert response.status == 400, await response.text()
    assert (await response.json())["error"] == "invalid_request"
    refused = registry.get_sample_value("pasokh_webchat_refused_total", {"code": "invalid_request"})
    assert refused == 1
    # The chat still works for this visitor afterwards.
    assert (await client.post(SESSIONS, json={})).status == 200


@pytest.mark.parametrize(
    ("name", "data", "kind", "stored"),
    [
        ("invoice.bat", PDF, "application/pdf", "invoice.bat.pdf"),
        ("invoice\u202egnp.exe", PDF, "application/pdf", "invoicegnp.exe.pdf"),
        ("page.html", PNG, "image/png", "page.html.png"),
        ("scan", PDF, "application/pdf", "scan.pdf"),
        ("Photo.PNG", PNG, "image/png", "Photo.PNG"),
        ("x" * 150 + ".pdf", PDF, "application/pdf", "x" * 96 + ".pdf"),
    ],
    ids=["bat", "bidi", "html", "none", "right", "long"],
)
async def test_an_uploads_name_ends_in_the_extension_of_the_type_its_bytes_are(
    chat: Chat, name: str, data: bytes, kind: str, stored: str
) -> None:
    # The type is judged from the bytes; a name that says otherwise (a .bat holding a
    # PDF's first bytes, which cmd would still run) would open as the name says.
    token = await chat.token()
    upload = await chat.upload(token, data, name, "application/octet-stream")
    assert (upload["filename"], upload["content_type"]) == (stored, kind)
    got = await chat.client.get(upload["url"], headers=bearer(token))
    assert got.status == 200
    assert got.headers["Content-Disposition"].endswith(quote(stored))
