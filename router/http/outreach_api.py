"""The outreach API: templates, scheduled messages, purchases, and the unsubscribe link.

Sending, purchases and reading templates are for admins (an admin agent's token or
console session) and integrations (an integration token); writing templates, which
every sender's messages use, for admins only. An integration sees and changes only the
messages and purchases it made (`router.outreach.ownership`); admins see every one. The
unsubscribe page is public: its signed token is the credential. docs/outreach.md
describes every endpoint.
"""

from __future__ import annotations

import html
import json
import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.core.idempotency import PROBLEM as KEY_PROBLEM
from router.core.idempotency import parse_key
from router.core.ids import parse_id
from router.core.languages import LANGUAGES, text_direction
from router.core.messages import utcnow
from router.core.transaction import Effects, write
from router.http.auth import agent_principal, bearer_token, principal_for_token
from router.http.errors import json_error, read_json_object
from router.http.keys import CONTEXT
from router.outreach import purchases as purchase_rules
from router.outreach.consent import UNSUBSCRIBE_PATH, opt_out, unsubscribe_customer
from router.outreach.ownership import visible_to
from router.outreach.scheduling import (
    OutreachError,
    OutreachRequest,
    message_json,
    parse_language,
    schedule,
    status_of,
)
from router.outreach.templates import (
    NAME,
    TemplateError,
    template_from_json,
    template_to_json,
)
from router.storage.models import (
    Message,
    OutreachMessage,
    OutreachOptOut,
    OutreachStatus,
    OutreachTemplate,
)

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()

MAX_LIST = 500
_REQUEST_KEYS = frozenset(
    {
        "customer_id",
        "identity",
        "template",
        "params",
        "language",
        "channel",
        "send_at",
        "idempotency_key",
    }
)


async def _admin_or_integration(request: web.Request) -> int | None:
    """Let an admin agent or an integration through; 401/403 otherwise. The
    integration's token id, None for an admin."""
    token = bearer_token(request)
    if token is not None:
        integration = await principal_for_token(request.app[CONTEXT], token, "integration")
        if integration is not None:
            return integration.token_id
    await _admin(request, "only admins and integrations manage outreach")
    return None


async def _admin(request: web.Request, refusal: str) -> None:
    """Let an admin agent through: 401 for anything but an agent's credential (an
    integration's token included), 403 `refusal` for an agent who is no admin."""
    principal = await agent_principal(request)
    if not principal.is_admin:
        raise web.HTTPForbidden(
            text=json.dumps({"error": {"status": 403, "message": refusal}}),
            content_type="application/json",
        )


async def _body(request: web.Request) -> dict[str, Any] | web.Response:
    return await read_json_object(request, request.app[CONTEXT].settings.server.max_request_bytes)


def _refused(
    request: web.Request, status: int, message: str, code: str | None = None
) -> web.Response:
    request.app[CONTEXT].metrics.rejected_input.labels("outreach", str(status)).inc()
    logger.info("%s %s refused (%d): %s", request.method, request.path, status, message)
    return json_error(status, message, **({"code": code} if code else {}))


# --- templates ---------------------------------------------------------------------


@routes.put("/api/v1/templates/{name}")
async def put_template(request: web.Request) -> web.StreamResponse:
    """Store a template (replacing one of the same name): admins only, since every
    sender's messages, the warranty reminders included, are written with it."""
    await _admin(request, "only admins write templates")
    name = request.match_info["name"]
    raw = await _body(request)
    if isinstance(raw, web.Response):
        return raw
    try:
        template = template_from_json(name, raw)
    except TemplateError as exc:
        return _refused(request, 422, str(exc))
    body = template_to_json(template)

    async def work(session: AsyncSession, _: Effects) -> None:
        row = await session.get(OutreachTemplate, name)
        if row is None:
            session.add(OutreachTemplate(name=name, texts=body["texts"], updated_at=utcnow()))
        else:
            row.texts, row.updated_at = body["texts"], utcnow()

    await write(request.app[CONTEXT], work, retry_duplicates=True)
    return web.json_response({"name": name, **body})


@routes.get("/api/v1/templates/{name}")
async def get_template(request: web.Request) -> web.StreamResponse:
    await _admin_or_integration(request)
    name = request.match_info["name"]
    async with request.app[CONTEXT].read_sessions() as session:
        row = await session.get(OutreachTemplate, name) if NAME.fullmatch(name) else None
    if row is None:
        return json_error(404, f"no template named {name[:64]!r}")
    return web.json_response({"name": name, "texts": row.texts})


@routes.get("/api/v1/templates")
async def list_templates(request: web.Request) -> web.StreamResponse:
    await _admin_or_integration(request)
    async with request.app[CONTEXT].read_sessions() as session:
        rows = list(await session.scalars(select(OutreachTemplate).order_by(OutreachTemplate.name)))
    return web.json_response({"templates": [{"name": r.name, "texts": r.texts} for r in rows]})


# --- outbound messages -------------------------------------------------------------


def _outreach_request(body: dict[str, Any], integration_id: int | None) -> OutreachRequest:
    unknown = sorted(set(body) - _REQUEST_KEYS)
    if unknown:
        raise OutreachError(f"unknown field: {unknown[0][:40]}")
    template, key = body.get("template"), body.get("idempotency_key")
    if not isinstance(template, str) or not NAME.fullmatch(template):
        raise OutreachError("template: a template name is required")
    key = parse_key(key)
    if key is None:
        raise OutreachError(f"{KEY_PROBLEM}; required")
    params = body.get("params", {})
    if not isinstance(params, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in params.values()
    ):
        raise OutreachError("params: an object of texts and numbers")
    customer_id, identity = body.get("customer_id"), body.get("identity")
    if (customer_id is None) == (identity is None):
        raise OutreachError("give exactly one of customer_id and identity")
    # A JSON number only: "42" is not one (the document says integer).
    parsed_id = parse_id(customer_id) if not isinstance(customer_id, str | None) else None
    if customer_id is not None and parsed_id is None:
        raise OutreachError("customer_id: a customer id is required")
    pair: tuple[str, str] | None = None
    if identity is not None:
        if (
            not isinstance(identity, dict)
            or set(identity) != {"channel", "address"}
            or not all(isinstance(v, str) and 0 < len(v) <= 320 for v in identity.values())
        ):
            raise OutreachError('identity: {"channel": ..., "address": ...} is required')
        pair = (identity["channel"], identity["address"])
    channel = body.get("channel")
    if channel is not None and (not isinstance(channel, str) or not 0 < len(channel) <= 32):
        raise OutreachError("channel: a channel name")
    return OutreachRequest(
        template=template,
        idempotency_key=key,
        params=params,
        customer_id=parsed_id,
        identity=pair,
        language=parse_language(body.get("language")),
        channel=channel,
        send_at=_instant(body.get("send_at")),
        integration_id=integration_id,
    )


def _instant(raw: object) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise OutreachError("send_at: an ISO 8601 instant with an offset")
    try:
        return value.astimezone(UTC)  # as it is stored
    except OverflowError:
        raise OutreachError("send_at: an instant within the years 1-9999 in UTC") from None


@routes.post("/api/v1/outbound/messages")
async def post_message(request: web.Request) -> web.StreamResponse:
    """Schedule one message (202); the same idempotency key again answers the first one."""
    integration_id = await _admin_or_integration(request)
    app = request.app[CONTEXT]
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    try:
        row, created = await schedule(app, _outreach_request(body, integration_id))
    except OutreachError as exc:
        return _refused(request, exc.status, str(exc), exc.code)
    if created:
        app.metrics.outreach_messages.labels(row.template, row.channel or "any", "scheduled").inc()
    async with app.read_sessions() as session:
        answer = await message_json(session, row)
    return web.json_response(answer, status=202)


@routes.get("/api/v1/outbound/messages/{id}")
async def get_message(request: web.Request) -> web.StreamResponse:
    integration_id = await _admin_or_integration(request)
    message_id = parse_id(request.match_info["id"])
    async with request.app[CONTEXT].read_sessions() as session:
        row = (
            await session.scalar(
                select(OutreachMessage).where(
                    OutreachMessage.id == message_id,
                    visible_to(OutreachMessage.integration_id, integration_id),
                )
            )
            if message_id
            else None
        )
        if row is None:
            return json_error(404, "no such outbound message")
        return web.json_response(await message_json(session, row))


@routes.get("/api/v1/outbound/messages")
async def list_messages(request: web.Request) -> web.StreamResponse:
    """Messages filtered by status and template, newest first, with the campaign counts:
    an integration's own, every one for an admin."""
    integration_id = await _admin_or_integration(request)
    status, template = request.query.get("status"), request.query.get("template")
    query = (
        select(OutreachMessage)
        .where(visible_to(OutreachMessage.integration_id, integration_id))
        .order_by(OutreachMessage.id.desc())
        .limit(MAX_LIST)
    )
    if template:
        query = query.where(OutreachMessage.template == template)
    async with request.app[CONTEXT].read_sessions() as session:
        shown = [await message_json(session, row) for row in await session.scalars(query)]
        counts = await campaign_counts(session, template, integration_id)
    if status:
        shown = [m for m in shown if m["status"] == status or m["reason"] == status]
    return web.json_response({"messages": shown, "counts": counts})


async def campaign_counts(
    session: AsyncSession, template: str | None, integration_id: int | None = None
) -> list[dict[str, Any]]:
    """Per template and channel: how many are in each status, skipped by reason,
    replied to (the customer wrote in the thread after it), and `opted_out`: the
    customers who opted out of outreach after receiving one. Of the messages the caller
    may see (an integration's own; every one for an admin, None)."""
    query = select(OutreachMessage).where(
        visible_to(OutreachMessage.integration_id, integration_id)
    )
    if template:
        query = query.where(OutreachMessage.template == template)
    groups: dict[tuple[str, str], dict[str, int]] = {}
    opted_out_at = {
        customer_id: at
        for customer_id, at in await session.execute(
            select(OutreachOptOut.customer_id, OutreachOptOut.at)
        )
    }
    # A customer counts once per template and channel however many of its messages
    # came before their opt-out.
    opted_out: dict[tuple[str, str], set[int]] = {}
    for row in await session.scalars(query):
        key = (row.template, row.sent_channel or row.channel or "none")
        counts = groups.setdefault(key, {})
        status, reason = await status_of(session, row)
        counts[status] = counts.get(status, 0) + 1
        if status == OutreachStatus.SKIPPED and reason:
            counts[f"skipped:{reason}"] = counts.get(f"skipped:{reason}", 0) + 1
        if row.message_id is not None and await _replied(session, row):
            counts["replied"] = counts.get("replied", 0) + 1
        since = opted_out_at.get(row.customer_id)
        if row.message_id is not None and row.finished_at and since and since >= row.finished_at:
            opted_out.setdefault(key, set()).add(row.customer_id)
    for key, customers in opted_out.items():
        groups[key]["opted_out"] = len(customers)
    return [
        {"template": name, "channel": channel, "counts": counts}
        for (name, channel), counts in sorted(groups.items())
    ]


async def _replied(session: AsyncSession, row: OutreachMessage) -> bool:
    later = await session.scalar(
        select(func.count()).where(
            Message.thread_id == row.thread_id,
            Message.direction == "in",
            Message.id > row.message_id,
        )
    )
    return bool(later)


# --- purchases ---------------------------------------------------------------------


@routes.post("/api/v1/purchases")
async def post_purchase(request: web.Request) -> web.StreamResponse:
    """Record (or update) a purchase by its order id; its reminder is (re)scheduled."""
    integration_id = await _admin_or_integration(request)
    app = request.app[CONTEXT]
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    try:
        record = purchase_rules.purchase_from_json(body, integration_id)
        result = await purchase_rules.store_purchase(app, record, integration_id)
    except purchase_rules.PurchaseError as exc:
        return _refused(request, exc.status, str(exc))
    return web.json_response(result, status=201 if result["created"] else 200)


@routes.delete("/api/v1/purchases/{order_id}")
async def delete_purchase(request: web.Request) -> web.StreamResponse:
    """Forget one of the caller's purchases; its reminder, not yet sent, is cancelled.
    An admin names another owner's with `?integration=<token id>` (a revoked
    integration's reminders are stopped that way)."""
    owner = await _admin_or_integration(request)
    if owner is None and "integration" in request.query:
        owner = parse_id(request.query["integration"])
        if owner is None:
            return _refused(request, 422, "integration: an integration token's id")
    removed = await purchase_rules.delete_purchase(
        request.app[CONTEXT], request.match_info["order_id"], owner
    )
    if not removed:
        return json_error(404, "no purchase with that order id")
    return web.Response(status=204)


# --- unsubscribe -------------------------------------------------------------------


@routes.get(UNSUBSCRIBE_PATH)
async def unsubscribe_page(request: web.Request) -> web.StreamResponse:
    """A page with one button: a GET changes nothing (mail scanners open links)."""
    token = request.query.get("t", "")
    customer_id = unsubscribe_customer(request.app[CONTEXT].settings.server.secret_key, token)
    if customer_id is None:
        return web.Response(status=404, text="unknown link")
    language = _page_language(request)
    label = request.app[CONTEXT].texts.template("outreach_unsubscribe_button", language)
    action = html.escape(f"{UNSUBSCRIBE_PATH}?t={token}", quote=True)
    return web.Response(
        content_type="text/html",
        text=(
            f'<!DOCTYPE html><html lang="{language}" dir="{text_direction(language)}">'
            '<head><meta charset="utf-8"><title>Pasokh</title></head><body>'
            f'<form method="post" action="{action}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            f"<button>{html.escape(label)}</button></form></body></html>"
        ),
    )


@routes.post(UNSUBSCRIBE_PATH)
async def unsubscribe(request: web.Request) -> web.StreamResponse:
    """The one-click unsubscribe of RFC 8058 (and the page's button): opts the
    customer the signed token names out of outreach."""
    app = request.app[CONTEXT]
    customer_id = unsubscribe_customer(app.settings.server.secret_key, request.query.get("t", ""))
    if customer_id is None:
        app.metrics.rejected_input.labels("outreach", "bad_unsubscribe_token").inc()
        return web.Response(status=404, text="unknown link")

    async def work(session: AsyncSession, _: Effects) -> bool:
        return await opt_out(session, customer_id, via="unsubscribe_link")

    if await write(app, work, retry_duplicates=True):
        app.metrics.outreach_messages.labels("", "unsubscribe_link", "opted_out").inc()
        logger.info("customer %d unsubscribed from outreach by link", customer_id)
    language = _page_language(request)
    return web.Response(
        content_type="text/html",
        text=(
            f'<!DOCTYPE html><html lang="{language}" dir="{text_direction(language)}">'
            '<head><meta charset="utf-8"><title>Pasokh</title></head><body><p>'
            f"{html.escape(app.texts.template('outreach_unsubscribed_page', language))}"
            "</p></body></html>"
        ),
    )


def _page_language(request: web.Request) -> str:
    wanted = request.query.get("lang") or request.headers.get("Accept-Language") or ""
    for part in wanted.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in LANGUAGES:
            return tag
    return "en"
