"""Serving a stored file to a browser: one rule for what may be shown inline.

A file a customer or a mail sent is hostile until proven otherwise. Only pictures are
shown in the page; everything else (PDF, HTML, SVG, anything unknown) is a download
under a neutral type, so nothing sent to us can run as a page of our origin.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from aiohttp import web

INLINE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def file_response(
    data: bytes,
    *,
    content_type: str,
    filename: str,
    cache_control: str = "private, no-store",
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The response carrying `data`: inline when a safe picture, else an attachment."""
    inline = content_type in INLINE_TYPES
    disposition = "inline" if inline else "attachment"
    return web.Response(
        body=data,
        content_type=content_type if inline else "application/octet-stream",
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; img-src 'self'; sandbox",
            "Cache-Control": cache_control,
            **(headers or {}),
        },
    )
