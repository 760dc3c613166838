"""Uploads stored and never sent cannot fill the disk: a quota of unsent bytes per
client address and for the installation, a free-space floor, and a short life for
an unsent file. Real app on loopback (SQLite and PostgreSQL), clients from several
loopback addresses."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from config.settings import Settings, load_settings
from router.context import AppContext
from router.core import pending_uploads
from router.core.attachments import AttachmentStore
from router.core.file_collector import collect_unsent_files
from router.core.messages import utcnow
from router.core.pending_uploads import PendingUploads, UploadQuota
from router.core.uploads import UploadRefused
from tests.agent_support import eventually
from tests.conftest import AppFactory
from tests.loopback_clients import LoopbackClient, webchat_clients

UPLOADS = "/api/v1/webchat/uploads"
SIZE = 10_000


def pdf(n: int) -> bytes:
    """A distinct PDF of SIZE bytes."""
    head = b"%PDF-1.4\n%" + str(n).encode() + b"\n"
    return head + b"0" * (SIZE - len(head))


class Visitor:
    """A visitor token used from one loopback address."""

    def __init__(self, client: LoopbackClient, token: str) -> None:
        self.client, self.token = client, token

    async def upload(self, data: bytes) -> tuple[int, dict[str, Any]]:
        form = aiohttp.FormData()
        form.add_field("file", data, filename="a.pdf", content_type="application/pdf")
        async with self.client.http.post(
            self.client.base + UPLOADS,
            data=form,
            headers={"Authorization": f"Bearer {self.token}"},
        ) as response:
            return response.status, await response.json()

    async def send(self, upload: dict[str, Any]) -> None:
        ws = await self.client.open(self.token)
        await ws.send_json(
            {"type": "message", "client_id": "c1", "text": "", "attachments": [upload["upload"]]}
        )
        async with asyncio.timeout(10):
            async for message in ws:
                if message.json()["type"] == "ack":
                    break
        await ws.close()


@contextlib.asynccontextmanager
async def serve(
    start_app: AppFactory, settings: Settings, **webchat: Any
) -> AsyncIterator[tuple[AppContext, list[Visitor]]]:
    async with webchat_clients(start_app, settings, 21, **webchat) as (_, context, clients):
        yield context, [Visitor(client, await client.token()) for client in clients]


def markers(context: AppContext) -> list[str]:
    directory = context.settings.data_dir / "pending-uploads"
    return [name for name in os.listdir(directory) if not name.startswith(".")]


async def test_a_client_address_may_keep_only_its_quota_of_unsent_uploads(
    start_app: AppFactory, settings: Settings
) -> None:
    async with serve(start_app, settings, pending_upload_bytes_per_address=3 * SIZE) as (
        context,
        (one, other, _),
    ):
        # Concurrent uploads from one address: exactly its quota's worth goes through.
        answers = await asyncio.gather(*(one.upload(pdf(n)) for n in range(6)))
        assert sorted(status for status, _ in answers) == [200] * 3 + [429] * 3
        refused = next(body for status, body in answers if status == 429)
        assert refused["error"] == "upload_quota"
        assert len(markers(context)) == 3
        # Another address has its own quota.
        assert (await other.upload(pdf(10)))[0] == 200
        # A file sent in a message is no longer unsent: the address may upload again.
        await one.send(next(body for status, body in answers if status == 200))

        async def sent_file_unmarked() -> bool:
            return len(markers(context)) == 3  # 2 of one's and other's 1

        await eventually(sent_file_unmarked)
        assert (await one.upload(pdf(11)))[0] == 200
        metrics = context.metrics.registry.get_sample_value
        assert metrics("pasokh_webchat_refused_total", {"code": "upload_quota"}) == 3


async def test_the_installation_keeps_only_its_quota_of_unsent_uploads(
    start_app: AppFactory, settings: Settings
) -> None:
    async with serve(start_app, settings, pending_upload_bytes=2 * SIZE) as (
        _,
        (one, other, third),
    ):
        assert (await one.upload(pdf(1)))[0] == 200
        assert (await other.upload(pdf(2)))[0] == 200
        status, body = await third.upload(pdf(3))
        assert (status, body["error"]) == (507, "insufficient_storage")


async def test_uploads_stop_before_the_disk_is_short_of_free_space(
    start_app: AppFactory, settings: Settings
) -> None:
    free_mb = shutil.disk_usage(settings.data_dir.parent).free // 2**20
    settings = settings.replace("server", min_free_disk_mb=free_mb + 1000)
    async with serve(start_app, settings) as (context, (one, _, _)):
        status, body = await one.upload(pdf(1))
        assert (status, body["error"]) == (507, "insufficient_storage")
        assert not [p for p in context.attachment_store.root.rglob("*") if p.is_file()]


async def test_an_unsent_upload_is_removed_within_the_hour_and_its_quota_given_back(
    start_app: AppFactory, settings: Settings
) -> None:
    # The defaults: an upload lives an hour; the collector gives ten minutes of grace.
    assert load_settings(env={}).webchat.upload_ttl_seconds == 3600
    async with serve(start_app, settings, pending_upload_bytes_per_address=SIZE) as (
        context,
        (one, _, _),
    ):
        assert (await one.upload(pdf(1)))[0] == 200
        assert (await one.upload(pdf(2)))[0] == 429
        (stored,) = [p for p in context.attachment_store.root.rglob("*") if p.is_file()]
        later = utcnow() + timedelta(hours=1, minutes=11)
        assert await collect_unsent_files(context, now=later) == [stored.name]
        assert not stored.exists() and markers(context) == []
        assert (await one.upload(pdf(2)))[0] == 200


async def test_two_processes_cannot_pass_one_quota_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ledgers over one data directory (two `--workers`), each admitting an upload
    at once against a quota for one: the file lock makes the second read the markers
    only after the first wrote its own. Each reader waits (briefly) at a barrier for
    the other after reading, which without the lock makes both read an empty ledger."""
    store = AttachmentStore(tmp_path / "attachments")
    quota = UploadQuota(per_client=SIZE, total=10**9, min_free_bytes=0)
    ledgers = [PendingUploads(store, quota), PendingUploads(store, quota)]
    both_read = threading.Barrier(2, timeout=0.5)
    read = pending_uploads._markers

    def read_then_wait(directory: Path) -> Any:
        found = read(directory)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()  # with the lock the other never gets here meanwhile
        return found

    monkeypatch.setattr(pending_uploads, "_markers", read_then_wait)

    async def admit(n: int) -> bool:
        try:
            await ledgers[n].admit("10.0.0.1", f"v{n}", f"{n:064x}", SIZE)
        except UploadRefused as refused:
            assert refused.status == 429
            return False
        return True

    assert sorted(await asyncio.gather(admit(0), admit(1))) == [False, True]
