"""JSON error responses: every API error names its problem."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from router.core.security import PasswordsBusy
from router.core.storable_text import UNSTORABLE
from router.http.keys import CONTEXT
from router.storage.engine import is_database_unavailable

logger = logging.getLogger(__name__)

# What a client is told to wait when the database cannot serve: long enough for a
# restart or fail-over, short enough that a retrying integration catches up quickly.
RETRY_AFTER_SECONDS = 5


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    """`{"error": {"status": ..., "message": ...}}` with the given HTTP status."""
    return web.json_response(
        {"error": {"status": status, "message": message, **extra}}, status=status
    )


@web.middleware
async def api_errors_as_json(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Under `/api/`, the errors aiohttp answers itself (no such route, wrong method,
    body over `client_max_size`) are JSON with a message too, like the API's own, and
    so is a fault of ours (an unexpected exception: a 500, logged with its traceback).

    On every path, a database that cannot serve (see `is_database_unavailable`) is a
    503 with `Retry-After` (JSON under `/api/`), never a 500; so are password threads
    with no place left (`PasswordsBusy`: a flood of sign-ins), always in JSON.
    """
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or not request.path.startswith("/api/"):
            raise
        if exc.content_type == "application/json":
            raise
        default = f"{exc.status}: {exc.reason}"
        message = exc.text if exc.text and exc.text != default else exc.reason
        response = json_error(exc.status, message)
        for name, value in exc.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
        return response
    except PasswordsBusy:
        logger.warning(
            "%s %s answered 503: every password thread is busy", request.method, request.path
        )
        return retry_later(
            503, "too many sign-ins at once; retry shortly", PasswordsBusy.RETRY_AFTER
        )
    except Exception as exc:
        if is_database_unavailable(exc):
            return _database_unavailable(request, exc)
        if not request.path.startswith("/api/"):
            raise
        logger.exception("%s %s answered 500", request.method, request.path)
        return json_error(500, "internal error; it was logged")


def retry_later(status: int, message: str, seconds: int) -> web.Response:
    """An API error that says when to come back: `Retry-After` and `retry_after`."""
    response = json_error(status, message, retry_after=seconds)
    response.headers["Retry-After"] = str(seconds)
    return response


def _database_unavailable(request: web.Request, exc: Exception) -> web.Response:
    logger.warning(
        "%s %s answered 503: database unavailable: %s: %s",
        request.method,
        request.path,
        type(exc).__name__,
        exc,
    )
    context = request.app.get(CONTEXT)
    if context is not None:
        context.metrics.database_unavailable.labels("http").inc()
    message = "the database is unavailable; retry later"
    if request.path.startswith("/api/"):
        return retry_later(503, message, RETRY_AFTER_SECONDS)
    response = web.Response(status=503, text=message)
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


async def read_body(request: web.Request, max_bytes: int) -> bytes | None:
    """The whole request body, or None once it is over `max_bytes` (read no further).

    One `content.read(n)` returns what has arrived so far, which for a body in more
    than one TCP segment (a slow client, a proxy) is only its start.
    """
    chunks: list[bytes] = []
    size = 0
    while size <= max_bytes:
        chunk = await request.content.read(max_bytes + 1 - size)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    return None


class InvalidJson(ValueError):
    """A text that is not JSON; the message says what is wrong, for the client."""


def parse_json(raw: str | bytes) -> Any:
    """`raw` (UTF-8 if bytes) as JSON.

    Raises:
        InvalidJson: not UTF-8, not JSON, nested too deeply, or a number with more
            digits than Python converts (a ValueError of its own, not a JSON error).
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise InvalidJson(f"body is not valid UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidJson(
            f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidJson("invalid JSON: nested too deeply") from None
    except ValueError:
        raise InvalidJson("invalid JSON: a number is too long") from None


async def read_json_object(
    request: web.Request, max_bytes: int, *, refuse_unstorable: bool = True
) -> dict[str, Any] | web.Response:
    """The request body as a JSON object, or the error response to send instead.

    `refuse_unstorable`: a NUL or lone surrogate in a string is a 400 (the sender can
    fix it). False for a sender that cannot, and would only send the update again:
    ingest makes such text storable, logged and counted."""
    if request.content_length is not None and request.content_length > max_bytes:
        return json_error(413, f"body is larger than {max_bytes} bytes")
    try:
        raw = await read_body(request, max_bytes)
    except ValueError:
        raw = None
    if raw is None:
        return json_error(413, f"body is larger than {max_bytes} bytes")
    try:
        data = parse_json(raw)
    except InvalidJson as exc:
        return json_error(400, str(exc))
    if not isinstance(data, dict):
        return json_error(400, "the body must be a JSON object")
    where = unstorable_text_in(data) if refuse_unstorable else None
    if where is not None:
        return json_error(400, f"{where} holds a NUL character or a lone UTF-16 surrogate")
    return data


def unstorable_text_in(value: Any, path: str = "body") -> str | None:
    """Where `value` holds text no database can store (NUL, lone surrogates), or None.

    JSON escapes (`\\u0000`, `\\ud800`) decode to such characters although the bytes
    were valid UTF-8; PostgreSQL refuses NUL in text and neither database can encode a
    lone surrogate, so they are refused here instead of failing the transaction.
    """
    # A loop, not recursion: JSON nested nearly as deep as the parser allows is valid.
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        item, where = pending.pop()
        if isinstance(item, str):
            if UNSTORABLE.search(item):
                return where
        elif isinstance(item, dict):
            for key, child in item.items():
                if UNSTORABLE.search(key):
                    return where
                pending.append((child, f"{where}.{key}"))
        elif isinstance(item, list):
            pending.extend((child, f"{where}[{index}]") for index, child in enumerate(item))
    return None
