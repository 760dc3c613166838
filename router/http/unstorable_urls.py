"""A URL holding a character no database column takes (NUL, which PostgreSQL refuses in
text) is refused with 400 before any handler reads it.

Path segments and query values reach queries as they are: an entry id, an order id, a
calendar name, a filter. On PostgreSQL a `%00` in any of them failed the query, a 500
with a traceback in the log, on every route that looked the value up. One rule here
rather than one check per route (the rule itself is `storable_text.UNSTORABLE`).
"""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import Counter

from router.core.storable_text import UNSTORABLE
from router.http.errors import json_error

logger = logging.getLogger(__name__)


def unstorable_url_middleware(refused: Counter) -> Middleware:
    """A middleware answering 400 to a request whose decoded path or query holds a NUL
    or a lone surrogate; each one counted in `refused` (labels: where, reason)."""

    @web.middleware
    async def refuse_unstorable_urls(request: web.Request, handler: Handler) -> web.StreamResponse:
        query = request.rel_url.query
        if not any(
            UNSTORABLE.search(text) for text in (request.path, *query.keys(), *query.values())
        ):
            return await handler(request)
        refused.labels("http", "unstorable_url").inc()
        logger.warning(
            "%s %r from %s: a NUL or lone surrogate in the URL; 400",
            request.method,
            request.path[:200],
            request.remote,
        )
        return json_error(400, "the URL holds a character that is not accepted (NUL)")

    return refuse_unstorable_urls
