"""The widget's identity endpoints: prove an email, continue from a mail, go to Telegram.

Every call is authorised by the visitor token (`Authorization: Bearer <token>`) the
web chat issued; it names the browser's web chat identity, which is what a proof is
linked to. No answer ever says whether an address belongs to somebody: the visitor
learns their own history only after the proof, through their own chat.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from channels.webchat.limits import normalise_origin, origin_allowed
from channels.webchat.tokens import (
    InvalidToken,
    TokenSigner,
    Visitor,
    user_hash_matches,
    valid_user_id,
)
from router.context import AppContext
from router.core.languages import supported_language, text_direction
from router.core.texts import text
from router.core.transaction import Effects, write
from router.http.errors import json_error, read_json_object
from router.http.keys import CONTEXT
from router.identity import links as identity_links
from router.identity.links import LinkOutcome, ProofRefused
from router.storage.models import Identity

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()

_REFUSAL_STATUS = {
    "invalid_email": 422,
    "no_code": 409,
    "expired": 410,
    "locked": 429,
    "wrong_code": 422,
    "invalid_token": 403,
    "token_used": 409,
    "cannot_link": 409,
    "rate_limited": 429,
    "email_unavailable": 404,
}

Action = Callable[[AppContext, AsyncSession, Identity, dict[str, Any]], Awaitable[web.Response]]


def _cors(request: web.Request) -> dict[str, str]:
    settings = request.app[CONTEXT].settings
    origin = request.headers.get("Origin")
    if origin is None:
        return {}
    own = settings.server.public_url
    if (own and normalise_origin(own) == normalise_origin(origin)) or origin_allowed(
        origin, settings.webchat.allowed_origins, request.host
    ):
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
    return {}


def _visitor(request: web.Request) -> Visitor | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return TokenSigner(request.app[CONTEXT].settings.server.secret_key).open_visitor(
            token.strip()
        )
    except InvalidToken:
        return None


def _refused(request: web.Request, refused: ProofRefused) -> web.Response:
    extra: dict[str, Any] = {"code": refused.code}
    if refused.remaining is not None:
        extra["remaining_attempts"] = refused.remaining
    response = json_error(_REFUSAL_STATUS.get(refused.code, 400), str(refused), **extra)
    response.headers.update(_cors(request))
    return response


async def _run(request: web.Request, action: Action) -> web.Response:
    """Authorise the visitor, read the body, run `action` in one write transaction."""
    context = request.app[CONTEXT]
    if request.headers.get("Origin") is not None and not _cors(request):
        return json_error(403, "origin not allowed")
    visitor = _visitor(request)
    if visitor is None:
        response = json_error(401, "a valid visitor token is required")
        response.headers.update(_cors(request))
        return response
    body: dict[str, Any] = {}
    if request.body_exists:
        read = await read_json_object(request, 16_384)
        if isinstance(read, web.Response):
            return read
        body = read
    refused: ProofRefused | None = None

    async def work(session: AsyncSession, effects: Effects) -> web.Response:
        nonlocal refused
        refused = None
        identity = await identity_links.ensure_identity(
            session,
            identity_links.WEBCHAT_CHANNEL,
            visitor.address,
            name=visitor.name,
            verified=visitor.verified,
        )
        try:
            response = await action(context, session, identity, body)
        except ProofRefused as exc:
            # Commit anyway: a wrong code must count even though it was refused.
            refused = exc
            response = _refused(request, exc)
        outcome = session.info.pop("link_outcome", None)
        if isinstance(outcome, LinkOutcome):
            effects.events.extend(outcome.events)
            effects.outbound = outcome.outbound > 0
        return response

    response = await write(context, work)
    if refused is not None:
        logger.info("identity proof refused for %s: %s", visitor.address[:16], refused.code)
    response.headers.update(_cors(request))
    return response


def _string(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise ProofRefused(
            "invalid_email" if name == "email" else "invalid_token", f"{name}: a string is required"
        )
    return value


@routes.post("/api/v1/webchat/identity/email")
async def request_code(request: web.Request) -> web.Response:
    """Mail a code to the address; 202 whether or not anybody owns it."""

    async def action(
        app: AppContext, session: AsyncSession, identity: Identity, body: dict[str, Any]
    ) -> web.Response:
        language = supported_language(body.get("lang"))
        _, outcome = await identity_links.request_email_code(
            app, session, identity, _string(body, "email", 320), language=language
        )
        session.info["link_outcome"] = outcome
        return web.json_response(
            {
                "status": "code_sent",
                "expires_in": int(identity_links.CODE_TTL.total_seconds()),
                "attempts": identity_links.CODE_ATTEMPTS,
            },
            status=202,
        )

    return await _run(request, action)


@routes.post("/api/v1/webchat/identity/email/verify")
async def verify_code(request: web.Request) -> web.Response:
    """Check the typed code; on success the address joins this visitor's customer."""

    async def action(
        app: AppContext, session: AsyncSession, identity: Identity, body: dict[str, Any]
    ) -> web.Response:
        code = body.get("code")
        if not isinstance(code, str) or len(code) > 32:
            raise ProofRefused("wrong_code", "code: a string of six digits is required")
        outcome = await identity_links.verify_email_code(app, session, identity, code)
        session.info["link_outcome"] = outcome
        return web.json_response({"status": "verified"})

    return await _run(request, action)


@routes.post("/api/v1/webchat/identity/continue")
async def continue_from_mail(request: web.Request) -> web.Response:
    """The visitor clicked "continue here" on a mail's continue page: the token proves
    the address. Only this POST spends it (never the page load)."""

    async def action(
        app: AppContext, session: AsyncSession, identity: Identity, body: dict[str, Any]
    ) -> web.Response:
        token = _string(body, "token", 1024)
        outcome = await identity_links.consume_continue_token(app, session, identity, token)
        session.info["link_outcome"] = outcome
        return web.json_response({"status": "verified"})

    return await _run(request, action)


@routes.post("/api/v1/webchat/identity/telegram")
async def telegram_link(request: web.Request) -> web.Response:
    """A `t.me/<bot>?start=<token>` link that links the Telegram user on `/start`."""

    async def action(
        app: AppContext, session: AsyncSession, identity: Identity, body: dict[str, Any]
    ) -> web.Response:
        bot = _telegram_bot(app)
        if not bot:
            return json_error(404, "Telegram is not configured on this server")
        token = identity_links.telegram_start_token(app, identity)
        return web.json_response(
            {
                "url": f"https://t.me/{bot}?start={token}",
                "start": token,
                "expires_in": int(identity_links.TELEGRAM_LINK_TTL.total_seconds()),
            }
        )

    return await _run(request, action)


@routes.post("/api/v1/webchat/identity/site")
async def sign_in(request: web.Request) -> web.Response:
    """An anonymous visitor signed in on the site: link their chat to the site user.

    Body `{"user_id", "user_hash"}`; a wrong hash links nothing (403). Answers the
    signed-in visitor token the widget should use from now on.
    """

    async def action(
        app: AppContext, session: AsyncSession, identity: Identity, body: dict[str, Any]
    ) -> web.Response:
        secret = app.settings.webchat.user_hash_secret
        user_id, given = body.get("user_id"), body.get("user_hash")
        if not secret:
            return json_error(404, "this site does not sign its users in")
        if not isinstance(user_id, str) or not valid_user_id(user_id):
            return json_error(422, "user_id: 1-128 printable ASCII characters")
        if not isinstance(given, str) or not user_hash_matches(secret, user_id, given):
            logger.warning("site sign-in link refused: wrong user_hash")
            return json_error(403, "user_hash does not match user_id")
        user = Visitor(address=f"user:{user_id}", name=identity.display_name, verified=True)
        user_identity = await identity_links.ensure_identity(
            session, identity_links.WEBCHAT_CHANNEL, user.address, name=user.name, verified=True
        )
        if identity.id != user_identity.id:
            outcome = await identity_links.link_site_user(session, identity, user_identity, user_id)
            session.info["link_outcome"] = outcome
        token = TokenSigner(app.settings.server.secret_key).visitor_token(user)
        return web.json_response({"visitor_token": token, "user_verified": True})

    return await _run(request, action)


def _telegram_bot(app: AppContext) -> str | None:
    """The bot's @username when Telegram runs here (it is learnt when the bot starts)."""
    bot = getattr(app.adapters.get(identity_links.TELEGRAM_CHANNEL), "bot_username", None)
    return bot if isinstance(bot, str) and bot else None


@routes.get("/api/v1/webchat/identity/options")
async def linking_options(request: web.Request) -> web.Response:
    """Which ways of proving who one is this server offers, so the widget shows only those."""
    app = request.app[CONTEXT]
    if request.headers.get("Origin") is not None and not _cors(request):
        return json_error(403, "origin not allowed")
    return web.json_response(
        {"email": identity_links.mail_can_be_sent(app), "telegram": _telegram_bot(app) is not None},
        headers=_cors(request) | {"Cache-Control": "no-store"},
    )


@routes.options("/api/v1/webchat/identity/{tail:.*}")
async def preflight(request: web.Request) -> web.Response:
    headers = _cors(request)
    if not headers:
        return web.Response(status=403)
    headers |= {
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type, Authorization",
        "Access-Control-Max-Age": "600",
    }
    return web.Response(status=204, headers=headers)


_CONTINUE_PAGE = """<!DOCTYPE html>
<html lang="{lang}" dir="{dir}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title></head>
<body><h1>{title}</h1><p class="continue-note">{note}</p>
<script src="/widget.js" data-lang="{lang}" data-open="true"{link}></script>
</body></html>
"""


@routes.get("/continue")
async def continue_page(request: web.Request) -> web.Response:
    """The page a mail's "continue in chat" link opens: it says which address would be
    joined, and the widget offers a button whose POST spends the token.

    Opening it spends nothing and joins nothing: mail scanners follow links and run
    their scripts, and a link can come from somebody else (it proves only what the
    person who opens it confirms). An invalid link answers 400, a spent one 409, each
    with the plain chat.
    """
    context = request.app[CONTEXT]
    token = request.query.get("token", "")
    lang = request.query.get("lang", "fa")
    lang = supported_language(lang) or "en"
    if not token or len(token) > 1024:
        raise web.HTTPNotFound()
    status, link = 200, ""
    try:
        async with context.read_sessions() as session:
            peek = await identity_links.peek_continue_token(context, session, token)
    except ProofRefused as refused:
        logger.info("continue page: %s", refused)
        status, note = 400, text("link_refused", lang)
    else:
        if peek.spent:
            status, note = 409, text("link_refused", lang)
        else:
            note = text("continue_ask", lang, address=peek.address)
            link = (
                f' data-continue-token="{html.escape(token, quote=True)}"'
                f' data-continue-address="{html.escape(peek.address, quote=True)}"'
            )
    page = _CONTINUE_PAGE.format(
        lang=lang,
        dir=text_direction(lang),
        title=text("continue_title", lang),
        note=html.escape(note),
        link=link,
    )
    return web.Response(
        status=status,
        text=page,
        content_type="text/html",
        charset="utf-8",
        headers={
            "Content-Security-Policy": (
                "default-src 'self'; img-src 'self' data: blob:; style-src 'self' "
                "'unsafe-inline'; connect-src 'self' ws: wss:; frame-ancestors 'none'"
            ),
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )
