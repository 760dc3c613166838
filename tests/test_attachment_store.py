"""The content-addressed file store's layout: new files one directory deep, files of
earlier versions (two deep) still found."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from router.core.attachments import AttachmentStore


async def test_a_new_file_is_stored_one_directory_deep(tmp_path: Path) -> None:
    store = AttachmentStore(tmp_path / "attachments")
    ref = await store.put(b"invoice", filename="a.pdf", content_type="application/pdf")
    top = tmp_path / "attachments" / ref.sha256[:2]
    assert store.path_for(ref.sha256) == top / ref.sha256
    assert (top / ref.sha256).read_bytes() == b"invoice"
    # No directory of its own below the first level: that is what each new file paid for.
    assert [path.name for path in top.iterdir()] == [ref.sha256]
    assert await store.read(ref.sha256) == b"invoice"


async def test_a_file_an_earlier_version_stored_two_directories_deep_is_still_found(
    tmp_path: Path,
) -> None:
    data = b"the customer's first mail"
    digest = hashlib.sha256(data).hexdigest()
    old = tmp_path / "attachments" / digest[:2] / digest[2:4] / digest
    old.parent.mkdir(parents=True)
    old.write_bytes(data)
    long_ago = time.time() - 86_400
    os.utime(old, (long_ago, long_ago))
    store = AttachmentStore(tmp_path / "attachments")

    assert store.path_for(digest) == old
    assert await store.read(digest) == data
    assert await store.stored_before(time.time() - 3_600) == [digest]
    # Stored again: the file it has is refreshed (the collector goes by age), not copied.
    ref = await store.put(data, filename="message.eml", content_type="message/rfc822")
    assert ref.sha256 == digest
    assert old.stat().st_mtime > long_ago
    assert not (tmp_path / "attachments" / digest[:2] / digest).exists()
    assert await store.stored_before(time.time() - 3_600) == []
    assert await store.delete(digest)
    assert not old.exists()
    assert not await store.delete(digest)
