"""Each process's copy of the database's KB lives in its own `faq-live/<random>` folder
in the data directory. A process killed outright cannot remove its folder: the next
process to start removes the folders whose owner is gone, and never the folder of a
process still running (several processes may share the data directory)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from config.settings import Settings
from router.service.knowledge_sync import LIVE_FOLDER, UNCLAIMED_GRACE_SECONDS
from tests.conftest import AppFactory

REPO = Path(__file__).resolve().parents[1]
# A process that keeps a live KB folder the way the server does, says where, and waits.
OWNER = """
import sys, time
from pathlib import Path
from router.service.knowledge_sync import LiveKbFile
live = LiveKbFile(Path(sys.argv[1]))
live.claim_folder()
print(live.folder, flush=True)
time.sleep(600)
"""


class FolderOwner:
    def __init__(self, process: asyncio.subprocess.Process, folder: Path) -> None:
        self.process = process
        self.folder = folder

    async def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)  # no clean stop: the folder stays
        await self.process.wait()


@pytest.fixture
async def owners(tmp_path: Path) -> AsyncIterator[list[FolderOwner]]:
    started: list[FolderOwner] = []
    yield started
    for owner in started:
        if owner.process.returncode is None:
            await owner.kill()


async def start_owner(data_dir: Path, owners: list[FolderOwner]) -> FolderOwner:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        OWNER,
        str(data_dir),
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert process.stdout is not None
    async with asyncio.timeout(60):
        line = await process.stdout.readline()
    owner = FolderOwner(process, Path(line.decode().strip()))
    owners.append(owner)
    assert owner.folder.is_dir(), line
    return owner


async def test_a_killed_process_folder_is_removed_on_start_and_a_live_ones_kept(
    settings: Settings, start_app: AppFactory, owners: list[FolderOwner]
) -> None:
    data_dir = settings.data_dir
    killed = await start_owner(data_dir, owners)
    (killed.folder / "kb.json").write_text("{}", encoding="utf-8")
    running = await start_owner(data_dir, owners)
    await killed.kill()
    # Left by a version that kept no lock file: removed once old, kept while young (a
    # folder being created has no lock file yet either).
    old_unclaimed = data_dir / LIVE_FOLDER / "0123456789ab"
    young_unclaimed = data_dir / LIVE_FOLDER / "ba9876543210"
    for folder in (old_unclaimed, young_unclaimed):
        folder.mkdir()
        (folder / "kb.json").write_text("{}", encoding="utf-8")
    long_ago = time.time() - UNCLAIMED_GRACE_SECONDS - 60
    os.utime(old_unclaimed, (long_ago, long_ago))

    _client, _context = await start_app(settings)  # the default bot keeps a live KB file

    folders = set((data_dir / LIVE_FOLDER).iterdir())
    assert killed.folder not in folders and old_unclaimed not in folders
    assert running.folder in folders and young_unclaimed in folders
    assert len(folders) == 3, folders  # and this process's own
