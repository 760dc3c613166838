"""The quota on uploads stored but not yet sent: per client address and in all.

A web chat upload is written to the store at once and becomes part of a conversation
only when its message is sent; until then anybody with a fresh visitor token could
fill the disk with files nobody sends. Each accepted upload leaves a marker in
`<data dir>/pending-uploads/`, named `<time>.<size>.<client>.<visitor>.<sha256>` (the
client and visitor as short hashes), which says who it is counted against and how
large it is. A marker goes when its message is sent (`sent`) or when the collector of
unsent files removes the file (`forget_unsent_before`), so the sums are of what is stored and
unsent, read from the data directory: every `--workers` process sees the same ones.
Admitting an upload (count, compare, write the marker) holds an exclusive `flock`, so
concurrent uploads from several processes cannot pass the same quota together.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from router.core.attachments import AttachmentStore
from router.core.uploads import UploadRefused

_LOCK = ".lock"


@dataclass(frozen=True, slots=True)
class UploadQuota:
    """Bytes of unsent uploads one client may have stored and the installation in all,
    and the free space the disk keeps whatever the quotas say."""

    per_client: int
    total: int
    min_free_bytes: int


@dataclass(frozen=True, slots=True)
class _Marker:
    name: str
    created: int
    size: int
    client: str
    visitor: str
    sha256: str

    @classmethod
    def parse(cls, name: str) -> _Marker | None:
        parts = name.split(".")
        if len(parts) != 5 or not parts[0].isdigit() or not parts[1].isdigit():
            return None  # the lock, or a stray file
        return cls(name, int(parts[0]), int(parts[1]), parts[2], parts[3], parts[4])


def _short(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class PendingUploads:
    """The ledger of unsent uploads in `<data dir>/pending-uploads` and its quota."""

    def __init__(
        self, store: AttachmentStore, quota: UploadQuota, clock: Callable[[], float] = time.time
    ) -> None:
        self.directory = _directory(store)
        self._quota = quota
        self._clock = clock
        # One admission at a time per process, so waiting for the file lock takes one
        # thread of the default executor, not one per concurrent upload.
        self._admitting = asyncio.Lock()

    async def admit(self, client: str, visitor: str, sha256: str, size: int) -> str:
        """Count an upload of `size` bytes in for `client` and return its marker's name
        (give it to `cancel` if the file is not stored after all).

        Raises:
            UploadRefused: 429 `upload_quota` when the client's unsent uploads would
                go over its quota; 507 `insufficient_storage` over the installation's,
                or when the disk would keep less than `min_free_bytes` free.
        """
        async with self._admitting:
            return await asyncio.to_thread(
                self._admit, _short(client), _short(visitor), sha256, size
            )

    def _admit(self, client: str, visitor: str, sha256: str, size: int) -> str:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.directory / _LOCK, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            quota = self._quota
            if shutil.disk_usage(self.directory).free - size < quota.min_free_bytes:
                raise UploadRefused(
                    507, "insufficient_storage", "the server is short of disk space; try later"
                )
            markers = _markers(self.directory)
            if sum(m.size for m in markers) + size > quota.total:
                raise UploadRefused(
                    507, "insufficient_storage", "the server holds too many unsent files; try later"
                )
            own = [m for m in markers if m.client == client]
            if sum(m.size for m in own) + size > quota.per_client:
                raise UploadRefused(
                    429,
                    "upload_quota",
                    "too many files uploaded and not sent from this address; send them or wait",
                )
            name = f"{int(self._clock())}.{size}.{client}.{visitor}.{sha256}"
            # A marker is new by its name (a second of the same upload gets the next one).
            while (self.directory / name).exists():
                name = f"{int(name.split('.', 1)[0]) + 1}.{name.split('.', 1)[1]}"
            (self.directory / name).touch(mode=0o600)
            return name
        finally:
            os.close(fd)  # releases the lock

    async def cancel(self, name: str) -> None:
        """Forget an admitted upload whose file was not stored."""
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread((self.directory / name).unlink)

    async def sent(self, visitor: str, shas: Iterable[str]) -> None:
        """Forget `visitor`'s uploads of these files: they are in a message now."""
        wanted, who = set(shas), _short(visitor)
        if wanted:
            await asyncio.to_thread(self._remove, lambda m: m.visitor == who and m.sha256 in wanted)

    def _remove(self, which: Callable[[_Marker], bool]) -> int:
        return _remove(self.directory, which)


def _directory(store: AttachmentStore) -> Path:
    return store.root.parent / "pending-uploads"


def _markers(directory: Path) -> list[_Marker]:
    with os.scandir(directory) as entries:
        return [m for e in entries if (m := _Marker.parse(e.name)) is not None]


def _remove(directory: Path, which: Callable[[_Marker], bool]) -> int:
    try:
        markers = _markers(directory)
    except FileNotFoundError:
        return 0
    removed = 0
    for marker in markers:
        if which(marker):
            with contextlib.suppress(FileNotFoundError):
                (directory / marker.name).unlink()
                removed += 1
    return removed


async def forget_unsent_before(store: AttachmentStore, cutoff: float) -> int:
    """Forget uploads admitted before `cutoff` (Unix seconds): the collector of unsent
    files removes those files now, or a message holds them."""
    return await asyncio.to_thread(_remove, _directory(store), lambda m: m.created < cutoff)
