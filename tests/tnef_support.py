"""Outlook's `winmail.dat` (TNEF, MS-OXTNEF) built the way Outlook lays it out, for tests.

The attributes and their order are those of real Outlook files: the version, the OEM
code page, the message class and the message's MAPI properties, then for each file
`attAttachRendData`, `attAttachTitle` (the name in the OEM code page), `attAttachData`
and `attAttachment` (MAPI properties with the long name in UTF-16 and the MIME type).
"""

from __future__ import annotations

import struct

SIGNATURE = 0x223E9F78
MESSAGE, ATTACHMENT = 1, 2
_BYTE, _STRING, _DWORD = 0x0006, 0x0007, 0x0008


def attribute(level: int, name: int, kind: int, data: bytes) -> bytes:
    """One TNEF attribute: level, id, type, length, data and its checksum."""
    header = struct.pack("<BHHI", level, name, kind, len(data))
    return header + data + struct.pack("<H", sum(data) & 0xFFFF)


def _padded(value: bytes) -> bytes:
    return struct.pack("<I", len(value)) + value + b"\x00" * (-len(value) % 4)


def mapi(*properties: bytes) -> bytes:
    return struct.pack("<I", len(properties)) + b"".join(properties)


def mapi_long(tag: int, value: int) -> bytes:
    return struct.pack("<HHI", 0x0003, tag, value)


def mapi_unicode(tag: int, text: str) -> bytes:
    return struct.pack("<HHI", 0x001F, tag, 1) + _padded((text + "\x00").encode("utf-16-le"))


def mapi_string8(tag: int, text: str, codepage: str = "cp1256") -> bytes:
    return struct.pack("<HHI", 0x001E, tag, 1) + _padded(text.encode(codepage) + b"\x00")


def winmail_dat(files: list[tuple[str, str, bytes]], *, codepage: int = 1256) -> bytes:
    """TNEF holding `files` (long name, MIME type, bytes), as Persian Outlook sends it."""
    out = struct.pack("<IH", SIGNATURE, 0x1A2B)
    out += attribute(MESSAGE, 0x9006, _DWORD, struct.pack("<I", 0x00010000))
    out += attribute(MESSAGE, 0x9007, _BYTE, struct.pack("<II", codepage, 0))
    out += attribute(MESSAGE, 0x8008, _STRING, b"IPM.Microsoft Mail.Note\x00")
    out += attribute(MESSAGE, 0x9003, _BYTE, mapi(mapi_long(0x3FDE, 65001)))
    for name, mime, data in files:
        render = struct.pack("<HIHHI", 1, 0xFFFFFFFF, 0, 0, 1)  # a file, not shown inline
        out += attribute(ATTACHMENT, 0x9002, _BYTE, render)
        title = name.encode(f"cp{codepage}", "replace") + b"\x00"
        out += attribute(ATTACHMENT, 0x8010, _STRING, title)
        out += attribute(ATTACHMENT, 0x800F, _BYTE, data)
        properties = mapi(
            mapi_long(0x3705, 1),  # PR_ATTACH_METHOD: by value
            mapi_unicode(0x3707, name),  # PR_ATTACH_LONG_FILENAME
            mapi_string8(0x370E, mime),  # PR_ATTACH_MIME_TAG
            mapi_long(0x370B, 0xFFFFFFFF),  # PR_RENDERING_POSITION
        )
        out += attribute(ATTACHMENT, 0x9005, _BYTE, properties)
    return out
