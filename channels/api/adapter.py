"""The API channel: integrations post customer messages over HTTP.

`POST /api/v1/inbound/messages` answers 202 after commit (200 for a redelivery), so
an integration that retries everything it did not get an answer for loses nothing
and doubles nothing. Replies to API customers stay in the thread (`send` only
confirms them); the integration reads them with
`GET /api/v1/inbound/customers/{external_id}/messages`. Integration tokens are checked
by the router (`ChannelServices.integrations`), which keeps every API token.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from prometheus_client import Counter

from channels.base import ChannelServices, ChannelSummary
from config.settings import ApiSettings
from router.core.ids import parse_id
from router.core.integrations import integration_address
from router.core.messages import DeliveryResult, InboundMessage, IngestFailed, OutboundMessage
from router.http.auth import bearer_token, unauthorized
from router.http.errors import json_error, read_json_object
from router.http.validation import body_problem

logger = logging.getLogger(__name__)

CHANNEL = "api"


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
    return value


class ApiAdapter:
    """The `api` channel (see `channels.base.ChannelAdapter`)."""

    name = CHANNEL

    def __init__(
        self, *, settings: ApiSettings, max_request_bytes: int, rejected_input: Counter
    ) -> None:
        """Args:
        settings: the `[api]` section.
        max_request_bytes: the server's body limit (`server.max_request_bytes`).
        rejected_input: the app's `pasokh_rejected_input` counter (channel, reason).
        """
        self._settings = settings
        self._max_request_bytes = max_request_bytes
        self._rejected = rejected_input
        self._services: ChannelServices | None = None

    async def start(self, services: ChannelServices) -> None:
        if self._services is not None:
            raise RuntimeError("the API adapter is already started")
        self._services = services

    async def stop(self) -> None:
        self._services = None

    async def close_connections(self) -> None:
        """Nothing long-lived to close: every request is answered and done."""

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Replies stay in the thread for the integration to read: nothing to push."""
        return DeliveryResult.delivered()

    def describe(self) -> ChannelSummary:
        return ChannelSummary(
            "api (POST /api/v1/inbound/messages; tokens: pasokh integration add NAME)"
        )

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.post("/api/v1/inbound/messages", self.post_inbound_message),
            web.get("/api/v1/inbound/customers/{external_id}/messages", self.get_customer_messages),
        ]

    def _started(self) -> ChannelServices:
        if self._services is None:
            raise web.HTTPServiceUnavailable(text="the API channel is starting")
        return self._services

    async def _integration(self, request: web.Request, services: ChannelServices) -> int:
        """The id of the integration token the request carries; 401 otherwise."""
        token = bearer_token(request)
        token_id = None
        if token is not None:
            token_id = await services.integrations.token_id(token)
        if token_id is None:
            # Counted and logged (never the token) so a probe or a misconfigured
            # integration shows on /metrics and in the log.
            self._rejected.labels(CHANNEL, "unauthorized").inc()
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
        return token_id

    def _refused(self, token_id: int, reason: str, error: web.Response) -> web.Response:
        """Count and log a refused request (never its body), then answer with `error`."""
        self._rejected.labels(CHANNEL, reason).inc()
        logger.warning(
            "API message refused: integration=%s reason=%s status=%d",
            token_id,
            reason,
            error.status,
        )
        return error

    async def post_inbound_message(self, request: web.Request) -> web.Response:
        """Store one customer message from an integration."""
        services = self._started()
        token_id = await self._integration(request, services)
        body = await read_json_object(request, self._max_request_bytes)
        if isinstance(body, web.Response):
            return self._refused(token_id, "bad_body", body)
        # The document's maxLength values are the column sizes (router.storage.column_sizes).
        problem = body_problem(body, "InboundMessageRequest")
        if problem is not None:
            return self._refused(token_id, "bad_field", json_error(400, problem))
        try:
            sender_id = _field(body, "id")
            external_id = _field(body, "customer.external_id")
            text = _field(body, "text")
            name = _field(body, "customer.name", required=False)
            language = _field(body, "language", required=False)
        except ValueError as exc:
            return self._refused(token_id, "bad_field", json_error(400, str(exc)))
        assert sender_id is not None and external_id is not None and text is not None
        limit = self._settings.max_text_length
        if len(text) > limit:
            error = json_error(413, f"text is longer than {limit} characters", limit=limit)
            return self._refused(token_id, "too_long", error)
        msg = InboundMessage(
            channel=CHANNEL,
            external_id=f"{token_id}:{sender_id}",
            sender_address=integration_address(token_id, external_id),
            sender_name=name,
            text=text,
            language=language,
        )
        try:
            result = await services.ingest(msg)
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

    async def get_customer_messages(self, request: web.Request) -> web.Response:
        """The conversation of one of this integration's customers (no internal notes)."""
        services = self._started()
        token_id = await self._integration(request, services)
        after = request.query.get("after")
        after_id = parse_id(after, minimum=0) if after is not None else None
        if after is not None and after_id is None:
            return json_error(400, "after must be a message id")
        messages = await services.conversation.history(
            CHANNEL,
            integration_address(token_id, request.match_info["external_id"]),
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
                        "survey": (
                            {
                                "token": m.survey.token,
                                "kind": m.survey.kind,
                                "scale": m.survey.scale,
                                "url": m.survey.url,
                            }
                            if m.survey is not None
                            else None
                        ),
                        "created_at": m.created_at.isoformat(),
                    }
                    for m in messages
                ]
            }
        )
