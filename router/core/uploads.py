"""What an uploaded file really is, judged from its first bytes, not from its name.

The browser's declared type is only a claim; a file is accepted when its magic
number agrees with an allowed type. Files are served back by `router.http.files`:
`nosniff`, and anything but a picture as a download, so an upload never runs as a page.
The one rule for every upload: the web chat visitor's and the agent's (the same
`webchat.max_upload_bytes` and `webchat.upload_types`). The stored name ends in an
extension of the type the bytes were judged to be (`invoice.bat` holding a PDF is kept
as `invoice.bat.pdf`), so whoever opens the download opens what was checked.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from aiohttp import BodyPartReader
from aiohttp.http_exceptions import HttpProcessingError

from router.core.attachments import AttachmentStore, AttachmentTooLarge
from router.core.messages import AttachmentRef

_MAGIC: tuple[tuple[str, bytes, int], ...] = (
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/gif", b"GIF87a", 0),
    ("image/gif", b"GIF89a", 0),
    ("application/pdf", b"%PDF-", 0),
)

# The extensions each sniffed type is known by; the first is the one added to a name
# that has none of them.
_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg", ".jpe", ".jfif"),
    "image/gif": (".gif",),
    "image/webp": (".webp",),
    "application/pdf": (".pdf",),
}
MAX_FILENAME_LENGTH = 100

_DROPPED = frozenset({"Cc", "Cs", "Co", "Cn"})
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def sniff(head: bytes) -> str | None:
    """The content type the first bytes of a file prove, or None if unknown."""
    for kind, magic, offset in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def safe_filename(name: str | None, fallback: str = "file") -> str:
    """A file name fit for a header and a list: no path, no controls, ≤100 characters."""
    if not name:
        return fallback
    if re.search(r"%[0-9A-Fa-f]{2}", name):
        # Some clients (aiohttp among them) percent-encode non-ASCII names; browsers do not.
        name = unquote(name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    # Controls and bidi overrides go (they spoof extensions); ZWNJ stays, Persian needs it.
    name = "".join(
        c for c in name if unicodedata.category(c) not in _DROPPED and c not in _BIDI_CONTROLS
    )
    name = re.sub(r"[\"<>;]", "_", name).strip(" .")
    return name[:MAX_FILENAME_LENGTH] or fallback


def typed_filename(name: str, content_type: str) -> str:
    """`name` ending in an extension of `content_type` (one appended when it has none
    of them: the client's extension says nothing of what the bytes are), at most
    `MAX_FILENAME_LENGTH` characters."""
    known = _EXTENSIONS.get(content_type)
    if known is None:
        return name
    if name.casefold().endswith(known):
        return name
    return name[: MAX_FILENAME_LENGTH - len(known[0])] + known[0]


# What a malformed multipart body raises while it is read (a part without headers,
# a header that is not one, a broken boundary, a body cut short).
MULTIPART_ERRORS = (ValueError, AssertionError, KeyError, HttpProcessingError)


class UploadRefused(Exception):
    """A file that is not accepted: `status` 413 (too large), 415 (a type not allowed),
    429 or 507 (over a quota of unsent uploads, `router.core.pending_uploads`)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class ReadUpload:
    """A file part read whole and checked, not stored yet."""

    data: bytes
    content_type: str
    filename: str


async def read_upload(
    part: BodyPartReader,
    *,
    max_bytes: int,
    allowed_types: Sequence[str],
    fallback_name: str = "upload",
) -> ReadUpload:
    """Read one multipart file part (never more than `max_bytes`) and check its sniffed
    type. Raises UploadRefused."""
    data = bytearray()
    while chunk := await part.read_chunk(65_536):
        data += chunk
        if len(data) > max_bytes:
            raise _too_large(max_bytes)
    kind = sniff(bytes(data[:16]))
    if kind is None or kind not in allowed_types:
        raise UploadRefused(415, "unsupported_type", "allowed: " + ", ".join(allowed_types))
    filename = typed_filename(safe_filename(part.filename, fallback=fallback_name), kind)
    return ReadUpload(bytes(data), kind, filename)


async def store_upload(
    part: BodyPartReader,
    store: AttachmentStore,
    *,
    max_bytes: int,
    allowed_types: Sequence[str],
    fallback_name: str = "upload",
) -> AttachmentRef:
    """Read one multipart file part (`read_upload`) and store it. Raises UploadRefused."""
    upload = await read_upload(
        part, max_bytes=max_bytes, allowed_types=allowed_types, fallback_name=fallback_name
    )
    return await put_upload(upload, store, max_bytes=max_bytes)


async def put_upload(
    upload: ReadUpload, store: AttachmentStore, *, max_bytes: int
) -> AttachmentRef:
    """Store a file `read_upload` accepted. Raises UploadRefused."""
    try:
        return await store.put(
            upload.data,
            filename=upload.filename,
            content_type=upload.content_type,
            max_bytes=max_bytes,
        )
    except AttachmentTooLarge:
        raise _too_large(max_bytes) from None


def _too_large(max_bytes: int) -> UploadRefused:
    return UploadRefused(413, "too_large", f"files are limited to {max_bytes} bytes")
