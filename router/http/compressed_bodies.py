"""Compressed request bodies are refused with 415 and never decompressed.

No Pasokh client compresses what it sends. aiohttp, left to itself, inflates a body
with a `Content-Encoding` as it arrives, on the event loop, whatever the handler does
with it: 300 KB of gzip that inflate to 300 MB cost half a second of the loop, and a
few such requests stall every channel. So the server is built with `SERVER_OPTIONS`
(no decompression: the bytes stay as sent), and a request whose body has an encoding
is answered 415 before anything reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import Counter

from router.http.errors import json_error

logger = logging.getLogger(__name__)

# Keyword arguments for aiohttp's request handler: `web.run_app`, `web.AppRunner` and
# the tests' `TestServer` all pass them on.
SERVER_OPTIONS: Mapping[str, Any] = {"auto_decompress": False}

_PLAIN = frozenset({"", "identity"})


def compressed_body_middleware(refused: Counter) -> Middleware:
    """A middleware answering 415 to a request with an encoded body; each one counted
    in `refused` (labels: where, reason)."""

    @web.middleware
    async def refuse_compressed_bodies(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
        if encoding in _PLAIN or not request.body_exists:
            return await handler(request)
        refused.labels("http", "compressed_body").inc()
        logger.warning(
            "%s %s: request body with Content-Encoding %r from %s; 415",
            request.method,
            request.path,
            encoding[:40],
            request.remote,
        )
        response = json_error(
            415, "compressed request bodies are not accepted; send it without Content-Encoding"
        )
        response.force_close()  # what is left of the body is not read
        return response

    return refuse_compressed_bodies
