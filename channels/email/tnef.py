"""The files inside an Outlook `winmail.dat` (TNEF, MS-OXTNEF), read in linear time.

Outlook and Exchange can send a mail's attachments packed in one
`application/ms-tnef` part. No mail client outside Outlook opens it, so an agent would
see `winmail.dat` and none of the customer's files. This reads the files out, with
their long (Unicode) names.

It is not `tnefparse`, which was tried first. Its MAPI decoder loops over counts the
sender writes, with no bound: a 15-byte attribute that claims 2^32 properties keeps a
parser thread busy for hours. It also copies the rest of the buffer for every
attribute, which is quadratic. Mail is hostile input. Here every count and length is
checked against the bytes left before it is used, each step consumes bytes, and
nothing is copied but the files themselves. Anything that does not fit makes the whole
TNEF unreadable (`None`): the caller then keeps `winmail.dat` as it came.

Only what the files need is read: an attachment starts with `attAttachRendData`, its
bytes are `attAttachData` (or the MAPI property `PidTagAttachDataBinary`), and its
name is the MAPI `PidTagAttachLongFilename`, else `attAttachTitle`, in the sender's
OEM code page (`attOemCodepage`). The message body and its properties are skipped.
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass

_SIGNATURE = 0x223E9F78
_HEADER_SIZE = 9  # level, attribute id, type, length
_ATTACHMENT_LEVEL = 2
_ATT_OEM_CODEPAGE = 0x9007
_ATT_ATTACH_REND_DATA = 0x9002
_ATT_ATTACH_TITLE = 0x8010
_ATT_ATTACH_DATA = 0x800F
_ATT_ATTACHMENT = 0x9005  # the attachment's MAPI properties

_PR_ATTACH_DATA_BIN = 0x3701
_PR_ATTACH_LONG_FILENAME = 0x3707
_PR_ATTACH_MIME_TAG = 0x370E

_MULTI_VALUE = 0x1000
_STRING8, _UNICODE, _BINARY, _OBJECT = 0x001E, 0x001F, 0x0102, 0x000D
# The size of one value of each fixed-size MAPI type (2-byte values are padded to 4).
_FIXED_SIZE = {
    0x0002: 4,  # short
    0x0003: 4,  # long
    0x0004: 4,  # float
    0x0005: 8,  # double
    0x0006: 8,  # currency
    0x0007: 8,  # application time
    0x000A: 4,  # error
    0x000B: 4,  # boolean
    0x0014: 8,  # 64-bit integer
    0x0040: 8,  # system time
    0x0048: 16,  # GUID
}


@dataclass(frozen=True, slots=True)
class TnefFile:
    """One file packed in a TNEF part: its name as the sender gave it (not yet made
    safe) and its MIME type if Outlook named one."""

    filename: str
    content_type: str | None
    data: bytes


class _Unreadable(Exception):
    pass


class _Reader:
    """Bounds-checked little-endian reads from `data[start:end]`."""

    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.offset = start
        self.end = len(data) if end is None else end

    def left(self) -> int:
        return self.end - self.offset

    def take(self, size: int) -> tuple[int, int]:
        """(start, end) of the next `size` bytes, consumed."""
        if size < 0 or size > self.left():
            raise _Unreadable("past the end")
        start = self.offset
        self.offset += size
        return start, self.offset

    def uint(self, size: int) -> int:
        start, end = self.take(size)
        return int.from_bytes(self.data[start:end], "little")

    def padded(self, size: int) -> bytes:
        """`size` bytes, then the padding to a multiple of 4 (MAPI's variable values)."""
        start, end = self.take(size)
        self.take(min(-size % 4, self.left()))
        return self.data[start:end]


def tnef_files(data: bytes, *, max_files: int) -> tuple[TnefFile, ...] | None:
    """The files in a TNEF stream; None when it is unreadable or holds more than
    `max_files` (both leave the part attached as it is)."""
    try:
        return _files(data, max_files)
    except (_Unreadable, struct.error, UnicodeError, LookupError):
        return None


def _files(data: bytes, max_files: int) -> tuple[TnefFile, ...] | None:
    reader = _Reader(data)
    if reader.uint(4) != _SIGNATURE:
        return None
    reader.uint(2)  # the legacy key
    codepage = "cp1252"
    found: list[dict[str, object]] = []
    # Senders leave a few bytes of garbage at the end, or cut the last attribute short
    # (its checksum, or the end of a file): read as far as the attributes go.
    while reader.left() >= _HEADER_SIZE:
        level = reader.uint(1)
        name = reader.uint(2)
        reader.uint(2)  # the attribute's type
        length = reader.uint(4)
        start, end = reader.take(min(length, reader.left()))
        reader.take(min(2, reader.left()))  # checksum: sometimes wrong, never relied on
        if name == _ATT_OEM_CODEPAGE and length >= 4:
            codepage = _codec(int.from_bytes(data[start : start + 4], "little"))
        elif level == _ATTACHMENT_LEVEL and name == _ATT_ATTACH_REND_DATA:
            if len(found) >= max_files:
                return None
            found.append({})
        elif level == _ATTACHMENT_LEVEL and found:
            current = found[-1]
            if name == _ATT_ATTACH_TITLE:
                current["title"] = data[start:end].split(b"\x00", 1)[0].decode(codepage, "replace")
            elif name == _ATT_ATTACH_DATA:
                current["data"] = data[start:end]
            elif name == _ATT_ATTACHMENT:
                current.update(_properties(_Reader(data, start, end), codepage))
    files: list[TnefFile] = []
    for index, attachment in enumerate(found, start=1):
        body = attachment.get("data", attachment.get("data_property"))
        if not isinstance(body, bytes):
            continue  # an embedded message or an OLE object: no file of its own
        filename = attachment.get("long_name") or attachment.get("title") or f"file-{index}"
        mime = attachment.get("mime")
        files.append(
            TnefFile(
                filename=str(filename),
                content_type=str(mime) if mime else None,
                data=body,
            )
        )
    return tuple(files)


def _properties(reader: _Reader, codepage: str) -> dict[str, object]:
    """The few MAPI properties (MS-OXTNEF 2.1.3.4) a file needs, from `attAttachment`."""
    found: dict[str, object] = {}
    count = reader.uint(4)
    if count * 8 > reader.left():  # each property takes at least 8 bytes
        raise _Unreadable("more properties than bytes")
    for _ in range(count):
        kind = reader.uint(2)
        tag = reader.uint(2)
        if tag >= 0x8000:  # a named property: its GUID and name or id, skipped
            reader.take(16)
            if reader.uint(4) == 0:
                reader.take(4)
            else:
                reader.padded(reader.uint(4))
        multiple = bool(kind & _MULTI_VALUE)
        kind &= ~_MULTI_VALUE
        values = reader.uint(4) if multiple or kind in (_STRING8, _UNICODE, _BINARY, _OBJECT) else 1
        if kind in _FIXED_SIZE:
            size = _FIXED_SIZE[kind]
            if multiple and size == 4 and kind in (0x0002, 0x000B):
                size = 2  # several 2-byte values are packed, padded once at the end
            reader.padded(values * size)
            continue
        if kind not in (_STRING8, _UNICODE, _BINARY, _OBJECT):
            raise _Unreadable(f"unknown MAPI type {kind:#06x}")
        if values * 4 > reader.left():  # each value has a 4-byte length at least
            raise _Unreadable("more values than bytes")
        for _ in range(values):
            value = reader.padded(reader.uint(4))
            if tag == _PR_ATTACH_DATA_BIN and kind == _BINARY:
                found["data_property"] = value
            elif tag in (_PR_ATTACH_LONG_FILENAME, _PR_ATTACH_MIME_TAG) and kind in (
                _STRING8,
                _UNICODE,
            ):
                text = value.decode("utf-16-le" if kind == _UNICODE else codepage, "replace")
                key = "long_name" if tag == _PR_ATTACH_LONG_FILENAME else "mime"
                found[key] = text.split("\x00", 1)[0]
    return found


def _codec(number: int) -> str:
    """Python's codec for a Windows code page number, cp1252 when it has none."""
    name = {65001: "utf-8", 20127: "ascii", 28591: "latin-1"}.get(number, f"cp{number}")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "cp1252"
