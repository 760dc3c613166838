"""A request body sent too slowly is cut off with 408, so trickled bodies cannot hold
handlers and connections open for ever.

`[server] idle_timeout` covers a connection until its headers are in; after that
aiohttp waits for the body as long as the client keeps it open. The rule here is
Apache's `mod_reqtimeout` one: `body_timeout` seconds for the body, plus one second
for every `body_min_rate` bytes received, so a large upload on a slow link goes
through while a client trickling a few bytes a second is dropped.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.streams import StreamReader
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import Counter

from router.http.errors import json_error

logger = logging.getLogger(__name__)


class BodyTooSlow(Exception):
    """The client did not send its request body in time."""


class _BodyWatch:
    """Fails the body's pending and future reads once it is overdue."""

    def __init__(self, body: StreamReader, timeout: float, min_rate: float) -> None:
        self._body = body
        self._timeout = timeout
        self._min_rate = min_rate
        self._loop = asyncio.get_running_loop()
        self._started = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None

    def check(self) -> None:
        """Cut the body off if it is overdue, else look again when it would be."""
        if self._body.is_eof():
            return
        due = self._started + self._timeout + self._body.total_bytes / self._min_rate
        if self._loop.time() >= due:
            self._body.set_exception(BodyTooSlow())
            return
        self._timer = self._loop.call_at(due, self.check)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()


def slow_body_middleware(timeout: float, min_rate: float, refused: Counter) -> Middleware:
    """A middleware answering 408 to a request whose body is overdue (see module doc);
    each one counted in `refused` (labels: where, reason)."""

    @web.middleware
    async def cut_off_slow_bodies(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.body_exists:
            return await handler(request)
        watch = _BodyWatch(request.content, timeout, min_rate)
        watch.check()
        try:
            return await handler(request)
        except BodyTooSlow:
            # After the answer aiohttp reads what is left of the body; a timeout there
            # ends the connection quietly, where this exception would be logged as an
            # unhandled one, with its traceback, once per slow client.
            request.content.set_exception(TimeoutError())
            refused.labels("http", "slow_body").inc()
            logger.warning(
                "%s %s: request body not received in time from %s; 408",
                request.method,
                request.path,
                request.remote,
            )
            response = json_error(408, "the request body was not sent in time")
            response.force_close()
            return response
        finally:
            watch.cancel()

    return cut_off_slow_bodies
