"""What an uploaded file really is, judged from its first bytes, not from its name.

The browser's declared type is only a claim; a file is accepted when its magic
number agrees with an allowed type. Files are served back by `router.http.files`:
`nosniff`, and anything but a picture as a download, so an upload never runs as a page.
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote

_MAGIC: tuple[tuple[str, bytes, int], ...] = (
    ("image/png", b"\x89PNG\r\n\x1a\n", 0),
    ("image/jpeg", b"\xff\xd8\xff", 0),
    ("image/gif", b"GIF87a", 0),
    ("image/gif", b"GIF89a", 0),
    ("application/pdf", b"%PDF-", 0),
)

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
    return name[:100] or fallback
