"""The API channel: integrations post customer messages over HTTP.

`POST /api/v1/inbound/messages` answers 202 after commit (200 for a redelivery), so
an integration that retries everything it did not get an answer for loses nothing
and doubles nothing. Replies to API customers stay in the thread; the integration
reads them with `GET /api/v1/inbound/customers/{external_id}/messages`.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from router.context import AppContext
from router.core.conversation import DatabaseConversationReader
from router.core.ids import parse_id
from router.core.ingest import IngestFailed, ingest
from router.core.messages import DeliveryResult, InboundMessage, OutboundMessage
from router.http.auth import Principal, bearer_token, principal_for_token, unauthorized
from router.http.errors import json_error, read_json_object
from router.http.keys import CONTEXT
from router.http.validation import body_problem

logger = logging.getLogger(__name__)

CHANNEL = "api"
routes = web.RouteTableDef()


class IntegrationChannel:
    """The outbound half of the API channel: replies are kept for the integration to read."""

    name = CHANNEL

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        return DeliveryResult.delivered()


async def _integration(request: web.Request) -> Principal:
    app = request.app[CONTEXT]
    token = bearer_token(request)
    principal = None
    if token is not None:
        principal = await principal_for_token(app, token, "integration")
    if principal is None:
        # Counted and logged (never the token) so a probe or a misconfigured
        # integration shows on /metrics and in the log.
        app.metrics.rejected_input.labels(CHANNEL, "unauthorized").inc()
        logger.warning(
            "API request refused: %s %s from %s: %s",
            request.method,
            request.path,
            request.remote,
            "no bearer token" if token is None else "unknown or revoked integration token",
        )
        if token is None:
            raise unauthorized()
        raise unauthorized("unknown or revoked integration token")
    return principal


def _address(principal: Principal, external_id: str) -> str:
    # Two integrations may both have a customer "42": the token names the namespace.
    return f"{principal.token_id}:{external_id}"


# Column sizes (PostgreSQL enforces them): the integration's message and customer ids
# are prefixed with the token id, a display name is 200, a language code 8.
_MAX_LENGTHS = {"id": 200, "customer.external_id": 200, "customer.name": 200, "language": 8}


def _field(data: dict[str, Any], path: str, *, required: bool = True) -> str | None:
    value: Any = data
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        if required:
            raise ValueError(f"missing field: {path}")
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValueError(f"field {path} must be a string")
    if required and not value.strip():
        raise ValueError(f"field {path} must not be empty")
    limit = _MAX_LENGTHS.get(path)
    if limit is not None and len(value) > limit:
        raise ValueError(f"field {path} is longer than {limit} characters")
    return value


def _refused(
    app: AppContext, principal: Principal, reason: str, error: web.Response
) -> web.Response:
    """Count and log a refused request (never its body), then answer with `error`."""
    app.metrics.rejected_input.labels(CHANNEL, reason).inc()
    logger.warning(
        "API message refused: integration=%s reason=%s status=%d",
        principal.token_id,
        reason,
        error.status,
    )
    return error


@routes.post("/api/v1/inbound/messages")
async def post_inbound_message(request: web.Request) -> web.Response:
    """Store one customer message from an integration."""
    app = request.app[CONTEXT]
    principal = await _integration(request)
    body = await read_json_object(request, app.settings.server.max_request_bytes)
    if isinstance(body, web.Response):
        return _refused(app, principal, "bad_body", body)
    problem = body_problem(body, "InboundMessageRequest")
    if problem is not None:
        return _refused(app, principal, "bad_field", json_error(400, problem))
    try:
        sender_id = _field(body, "id")
        external_id = _field(body, "customer.external_id")
        text = _field(body, "text")
        name = _field(body, "customer.name", required=False)
        language = _field(body, "language", required=False)
    except ValueError as exc:
        return _refused(app, principal, "bad_field", json_error(400, str(exc)))
    assert sender_id is not None and external_id is not None and text is not None
    limit = app.settings.api.max_text_length
    if len(text) > limit:
        error = json_error(413, f"text is longer than {limit} characters", limit=limit)
        return _refused(app, principal, "too_long", error)
    msg = InboundMessage(
        channel=CHANNEL,
        external_id=f"{principal.token_id}:{sender_id}",
        sender_address=_address(principal, external_id),
        sender_name=name,
        text=text,
        language=language,
    )
    try:
        result = await ingest(app, msg)
    except IngestFailed:
        logger.exception("API ingest failed")
        return json_error(503, "could not store the message; retry later")
    payload = {
        "message_id": result.message_id,
        "thread_id": result.thread_id,
        "customer_id": result.customer_id,
        "duplicate": result.duplicate,
    }
    return web.json_response(payload, status=200 if result.duplicate else 202)


@routes.get("/api/v1/inbound/customers/{external_id}/messages")
async def get_customer_messages(request: web.Request) -> web.Response:
    """The conversation of one of this integration's customers (no internal notes)."""
    app = request.app[CONTEXT]
    principal = await _integration(request)
    after = request.query.get("after")
    after_id = parse_id(after, minimum=0) if after is not None else None
    if after is not None and after_id is None:
        return json_error(400, "after must be a message id")
    reader = DatabaseConversationReader(app.read_sessions)
    messages = await reader.history(
        CHANNEL,
        _address(principal, request.match_info["external_id"]),
        after_id=after_id,
        limit=200,
    )
    return web.json_response(
        {
            "messages": [
                {
                    "id": m.id,
                    "thread_id": m.thread_id,
                    "author": m.author,
                    "author_name": m.author_name,
                    "channel": m.channel,
                    "text": m.text,
                    "suggestions": list(m.suggestions),
                    "created_at": m.created_at.isoformat(),
                }
                for m in messages
            ]
        }
    )
