"""Content-addressed file store under the data directory: `<root>/ab/<sha256>`.

Files stored by earlier versions live one level deeper, `<root>/ab/cd/<sha256>`; they
are read, refreshed, listed and deleted where they are. That second level gave nearly
every new file, until most of its 65,536 directories existed (a few hundred thousand
files), a directory of its own to create: 0.8-1.1 ms of CPU on the 2-core VM, more
than the file's own write and fsync. The 256 directories of one level are made once.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from router.core.messages import AttachmentRef


class AttachmentTooLarge(ValueError):
    """The file is over the size limit the caller gave."""


class AttachmentStore:
    """Stores bytes once per content hash; safe to call concurrently."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path_for(self, sha256: str) -> Path:
        """Where the file with this hash lives: where it was stored, else where it
        would be stored now (it may not exist)."""
        new, old = self._paths(sha256)
        return old if not new.exists() and old.exists() else new

    def _paths(self, sha256: str) -> tuple[Path, Path]:
        """(where a file is stored now, where earlier versions stored it)."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256 hex digest: {sha256!r}")
        top = self.root / sha256[:2]
        return top / sha256, top / sha256[2:4] / sha256

    async def put(
        self, data: bytes, *, filename: str, content_type: str, max_bytes: int | None = None
    ) -> AttachmentRef:
        """Store `data` (idempotent) and return its reference."""
        if max_bytes is not None and len(data) > max_bytes:
            raise AttachmentTooLarge(f"{filename}: {len(data)} bytes > {max_bytes}")
        digest = hashlib.sha256(data).hexdigest()
        await asyncio.to_thread(self._write, digest, data)
        return AttachmentRef(
            sha256=digest, filename=filename, content_type=content_type, size=len(data)
        )

    def _write(self, digest: str, data: bytes) -> None:
        target, old = self._paths(digest)
        for stored in (target, old):
            try:
                # Stored already: its time becomes now, so the collector of unsent
                # uploads (which goes by age) leaves it to this new upload's life.
                os.utime(stored)
                return
            except FileNotFoundError:
                pass
        # Owner-only whatever the umask: customers' files are nobody else's business.
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = target.with_name(f".{digest}.{os.getpid()}.{id(data)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)

    async def read(self, sha256: str) -> bytes:
        """The stored bytes; FileNotFoundError if absent."""
        new, old = self._paths(sha256)

        def _read() -> bytes:
            try:
                return new.read_bytes()
            except FileNotFoundError:
                return old.read_bytes()

        return await asyncio.to_thread(_read)

    async def delete(self, sha256: str, *, stored_before: float | None = None) -> bool:
        """Remove a file (erasure); returns whether it existed.

        With `stored_before` (Unix seconds) a file stored or uploaded again since then
        is kept.
        """
        paths = self._paths(sha256)

        def _unlink() -> bool:
            for path in paths:
                try:
                    if stored_before is not None and path.stat().st_mtime >= stored_before:
                        return False
                    path.unlink()
                except FileNotFoundError:
                    continue
                return True
            return False

        return await asyncio.to_thread(_unlink)

    async def stored_before(self, cutoff: float) -> list[str]:
        """The hashes of files last stored before `cutoff` (Unix seconds), sorted."""

        def _scan() -> list[str]:
            found = []
            for path in (*self.root.glob("??/*"), *self.root.glob("??/??/*")):
                name = path.name
                if len(name) != 64 or name.startswith("."):
                    continue  # a temporary file of a write in progress, an old directory
                try:
                    if path.stat().st_mtime < cutoff:
                        found.append(name)
                except FileNotFoundError:
                    continue
            return sorted(found)

        return await asyncio.to_thread(_scan)
