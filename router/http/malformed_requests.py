"""Requests aiohttp's parser refuses (a bad chunk size, Content-Length beside
Transfer-Encoding, a line too long): aiohttp answers them 400 itself and logs each at
ERROR with a traceback, so any client could fill the log with a few bytes each. While
the app runs, each is one WARNING line instead, counted."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import Counter

_AIOHTTP_SERVER = logging.getLogger("aiohttp.server")
# How much of the parser's message (which quotes what the client sent) is logged.
_SHOWN = 200


class MalformedRequestLog(logging.Filter):
    """Turns aiohttp's record of a request its parser refused into a WARNING without
    traceback, and counts it in `refused` (labels: where, reason)."""

    def __init__(self, refused: Counter) -> None:
        super().__init__()
        self._refused = refused

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            self._refused.labels("http", "malformed_request").inc()
            remote = record.args[0] if isinstance(record.args, tuple) and record.args else None
            record.msg = "malformed HTTP request from %s refused (400): %s"
            # repr: the message quotes the client's bytes, control characters and all
            record.args = (remote, repr(error.message)[:_SHOWN])
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info, record.exc_text = None, None
        return True


def malformed_request_log_ctx(
    refused: Counter,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """A `cleanup_ctx` entry that installs `MalformedRequestLog` while the app runs."""

    async def installed(_: web.Application) -> AsyncIterator[None]:
        log_filter = MalformedRequestLog(refused)
        _AIOHTTP_SERVER.addFilter(log_filter)
        try:
            yield
        finally:
            _AIOHTTP_SERVER.removeFilter(log_filter)

    return installed
