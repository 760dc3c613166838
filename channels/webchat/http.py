"""The widget's identity endpoints and the `/continue` page a mail links to.

Every identity call is authorised by the visitor token (`Authorization: Bearer
<token>`) the web chat issued; it names the browser's web chat identity, which is
what a proof is linked to. No answer ever says whether an address belongs to
somebody: the visitor learns their own history only after the proof, through their
own chat. The proofs themselves are the router's (`ChannelServices.identity`); this
module reads requests, checks origins and tokens the way every web chat endpoint does
(`limits.OriginPolicy`, `tokens.bearer_visitor`) and writes the answers.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from channels.base import ChannelServices
from channels.webchat.limits import OriginPolicy
from channels.webchat.tokens import (
    TokenSigner,
    Visitor,
    bearer_visitor,
    user_hash_matches,
    valid_user_id,
)
from config.settings import WebchatSettings
from router.core.languages import supported_language, text_direction
from router.core.proofs import Claimant, ProofRefusal
from router.http.errors import json_error, read_json_object
from router.http.forwarded import network_key

logger = logging.getLogger(__name__)

CHANNEL = "webchat"
IDENTITY = "/api/v1/webchat/identity"
TEAM_STATUS = "/api/v1/webchat/team-status"
_BODY_LIMIT = 16_384
# The rate bucket of the email codes one client address asks for (each is a mail).
CODES_BUCKET = "webchat:codes"
_HOUR = 3600.0

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

Action = Callable[[ChannelServices, Visitor, dict[str, Any]], Awaitable[web.Response]]


class _BadField(ValueError):
    """A body field the endpoint cannot use; answered like the router's refusal."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _claimant(visitor: Visitor) -> Claimant:
    return Claimant(CHANNEL, visitor.address, name=visitor.name, verified=visitor.verified)


def _refused(refusal: ProofRefusal) -> web.Response:
    extra: dict[str, Any] = {"code": refusal.code}
    if refusal.remaining_attempts is not None:
        extra["remaining_attempts"] = refusal.remaining_attempts
    return json_error(_REFUSAL_STATUS.get(refusal.code, 400), refusal.message, **extra)


def _string(body: dict[str, Any], name: str, limit: int) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise _BadField(
            "invalid_email" if name == "email" else "invalid_token", f"{name}: a string is required"
        )
    return value


async def _refund(services: ChannelServices, taken: list[tuple[str, str, int]]) -> None:
    for bucket, key, per_hour in taken:
        await services.limits.refund(bucket, key, per_hour, _HOUR)


class IdentityEndpoints:
    """The identity routes of the web chat, sharing its origin rule and token signer."""

    def __init__(
        self,
        *,
        settings: WebchatSettings,
        signer: TokenSigner,
        origins: OriginPolicy,
        services: Callable[[], ChannelServices | None],
        address: Callable[[web.Request], str],
        refused: Callable[[str], None] = lambda code: None,
    ) -> None:
        self._settings = settings
        self._count_refused = refused
        self._signer = signer
        self._origins = origins
        self._services = services
        self._address = address

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.post(f"{IDENTITY}/email", self.request_code),
            web.post(f"{IDENTITY}/email/verify", self.verify_code),
            web.post(f"{IDENTITY}/continue", self.continue_from_mail),
            web.post(f"{IDENTITY}/telegram", self.telegram_link),
            web.post(f"{IDENTITY}/site", self.sign_in),
            web.get(f"{IDENTITY}/options", self.linking_options),
            web.options(IDENTITY + "/{tail:.*}", self.preflight),
            web.get("/continue", self.continue_page),
        ]

    async def _run(self, request: web.Request, action: Action) -> web.Response:
        """Check the origin and the visitor token, read the body, run `action`."""
        cors = self._origins.cors(request)
        if not self._origins.allows(request):
            return json_error(403, "origin not allowed")
        services = self._services()
        if services is None:
            response = json_error(503, "the web chat is starting")
        elif (
            visitor := bearer_visitor(self._signer, request.headers.get("Authorization", ""))
        ) is None:
            response = json_error(401, "a valid visitor token is required")
        else:
            body: dict[str, Any] = {}
            if request.body_exists:
                read = await read_json_object(request, _BODY_LIMIT)
                if isinstance(read, web.Response):
                    return read
                body = read
            try:
                response = await action(services, visitor, body)
            except _BadField as bad:
                response = _refused(ProofRefusal(bad.code, str(bad)))
        response.headers.update(cors)
        return response

    async def request_code(self, request: web.Request) -> web.Response:
        """Mail a code to the address; 202 whether or not anybody owns it.

        Besides the router's limits (per requester, per address mailed, per hour for the
        installation), one client address may ask for `codes_per_address_per_hour` and
        its network (`router.http.forwarded.network_key`) for `codes_per_network_per_hour`:
        fresh visitor tokens cost nothing, so without them one client mails anybody, and
        a few clients spend the installation's hour for everybody."""

        async def action(
            services: ChannelServices, visitor: Visitor, body: dict[str, Any]
        ) -> web.Response:
            email = _string(body, "email", 320)
            budgets = (
                (
                    "client_address",
                    self._address(request),
                    self._settings.codes_per_address_per_hour,
                ),
                ("network", network_key(request.remote), self._settings.codes_per_network_per_hour),
            )
            taken: list[tuple[str, str, int]] = []
            for reason, key, per_hour in budgets:
                bucket = f"{CODES_BUCKET}:{reason}"
                wait = await services.limits.take(bucket, key, per_hour, _HOUR)
                if wait:
                    await _refund(services, taken)
                    self._count_refused(f"codes_{reason}")
                    refused = _refused(
                        ProofRefusal(
                            "rate_limited",
                            f"too many codes asked for from this {reason.replace('_', ' ')}",
                        )
                    )
                    refused.headers["Retry-After"] = str(int(wait) + 1)
                    return refused
                taken.append((bucket, key, per_hour))
            answer = await services.identity.request_email_code(
                _claimant(visitor), email, language=supported_language(body.get("lang"))
            )
            if isinstance(answer, ProofRefusal):
                # No mail went out: the client's budgets are for mails.
                await _refund(services, taken)
                return _refused(answer)
            return web.json_response(
                {
                    "status": "code_sent",
                    "expires_in": answer.expires_in,
                    "attempts": answer.attempts,
                },
                status=202,
            )

        return await self._run(request, action)

    async def verify_code(self, request: web.Request) -> web.Response:
        """Check the typed code; on success the address joins this visitor's customer."""

        async def action(
            services: ChannelServices, visitor: Visitor, body: dict[str, Any]
        ) -> web.Response:
            code = body.get("code")
            if not isinstance(code, str) or len(code) > 32:
                raise _BadField("wrong_code", "code: a string of six digits is required")
            refusal = await services.identity.verify_email_code(_claimant(visitor), code)
            return _refused(refusal) if refusal else web.json_response({"status": "verified"})

        return await self._run(request, action)

    async def continue_from_mail(self, request: web.Request) -> web.Response:
        """The visitor clicked "continue here" on a mail's continue page: the token proves
        the address. Only this POST spends it (never the page load)."""

        async def action(
            services: ChannelServices, visitor: Visitor, body: dict[str, Any]
        ) -> web.Response:
            token = _string(body, "token", 1024)
            refusal = await services.identity.continue_from_mail(_claimant(visitor), token)
            return _refused(refusal) if refusal else web.json_response({"status": "verified"})

        return await self._run(request, action)

    async def telegram_link(self, request: web.Request) -> web.Response:
        """A `t.me/<bot>?start=<token>` link that links the Telegram user on `/start`."""

        async def action(
            services: ChannelServices, visitor: Visitor, body: dict[str, Any]
        ) -> web.Response:
            link = await services.identity.chat_link(_claimant(visitor))
            if link is None:
                return json_error(404, "Telegram is not configured on this server")
            return web.json_response(
                {"url": link.url, "start": link.start, "expires_in": link.expires_in}
            )

        return await self._run(request, action)

    async def sign_in(self, request: web.Request) -> web.Response:
        """An anonymous visitor signed in on the site: link their chat to the site user.

        Body `{"user_id", "user_hash"}`; a wrong hash links nothing (403). Answers the
        signed-in visitor token the widget should use from now on.
        """

        async def action(
            services: ChannelServices, visitor: Visitor, body: dict[str, Any]
        ) -> web.Response:
            secret = self._settings.user_hash_secret
            user_id, given = body.get("user_id"), body.get("user_hash")
            if not secret:
                return json_error(404, "this site does not sign its users in")
            if not isinstance(user_id, str) or not valid_user_id(user_id):
                return json_error(422, "user_id: 1-128 printable ASCII characters")
            if not isinstance(given, str) or not user_hash_matches(secret, user_id, given):
                logger.warning("site sign-in link refused: wrong user_hash")
                return json_error(403, "user_hash does not match user_id")
            address = f"user:{user_id}"
            name = await services.identity.link_site_user(
                _claimant(visitor), Claimant(CHANNEL, address, verified=True), user_id
            )
            token = self._signer.visitor_token(Visitor(address=address, name=name, verified=True))
            return web.json_response({"visitor_token": token, "user_verified": True})

        return await self._run(request, action)

    async def linking_options(self, request: web.Request) -> web.Response:
        """Which ways of proving who one is this server offers, so the widget shows only those."""
        if not self._origins.allows(request):
            return json_error(403, "origin not allowed")
        services = self._services()
        options = services.identity.options() if services is not None else None
        return web.json_response(
            {
                "email": options is not None and options.email,
                "telegram": options is not None and options.chat_link,
            },
            headers=self._origins.cors(request) | {"Cache-Control": "no-store"},
        )

    async def preflight(self, request: web.Request) -> web.Response:
        return self._origins.preflight(request, "POST, OPTIONS")

    async def continue_page(self, request: web.Request) -> web.Response:
        """The page a mail's "continue in chat" link opens: it says which address would be
        joined, and the widget offers a button whose POST spends the token.

        Opening it spends nothing and joins nothing: mail scanners follow links and run
        their scripts, and a link can come from somebody else (it proves only what the
        person who opens it confirms). An invalid link answers 400, a spent one 409, each
        with the plain chat.
        """
        token = request.query.get("token", "")
        lang = supported_language(request.query.get("lang", "fa")) or "en"
        services = self._services()
        if not token or len(token) > 1024:
            raise web.HTTPNotFound()
        if services is None:
            raise web.HTTPServiceUnavailable()
        status, link = 200, ""
        preview = await services.identity.preview_continue(token)
        if preview.address is None or preview.spent:
            status, note = (
                (409 if preview.spent else 400),
                services.texts.text("link_refused", lang),
            )
        else:
            note = services.texts.text("continue_ask", lang, address=preview.address)
            link = (
                f' data-continue-token="{html.escape(token, quote=True)}"'
                f' data-continue-address="{html.escape(preview.address, quote=True)}"'
            )
        page = _CONTINUE_PAGE.format(
            lang=lang,
            dir=text_direction(lang),
            title=services.texts.text("continue_title", lang),
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


class TeamStatusEndpoint:
    """`GET /api/v1/webchat/team-status?lang=fa`: whether the team answers now, for the
    widget's header. Public (the widget shows it before any chat exists), but only to
    allowed origins and at most `rate_limit_per_minute` times a minute per client
    address; the router decides it (`ChannelServices.team`). A visitor token
    (`Authorization: Bearer`), when sent and valid, asks for that visitor's thread: the
    agent who has it may be of another tier; an invalid one is answered as no token."""

    def __init__(
        self,
        *,
        signer: TokenSigner,
        origins: OriginPolicy,
        limit: Callable[[str], Awaitable[float]],
        address: Callable[[web.Request], str],
        refuse: Callable[[web.Request, int, str, str], web.Response],
        services: Callable[[], ChannelServices | None],
    ) -> None:
        self._signer = signer
        self._origins = origins
        self._limit = limit
        self._address = address
        self._refuse = refuse
        self._services = services

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get(TEAM_STATUS, self.team_status),
            web.options(TEAM_STATUS, self.preflight),
        ]

    async def team_status(self, request: web.Request) -> web.Response:
        if not self._origins.allows(request):
            return self._refuse(request, 403, "origin_not_allowed", "origin not allowed")
        wait = await self._limit(self._address(request))
        if wait:
            response = self._refuse(request, 429, "rate_limited", "too many status requests")
            response.headers["Retry-After"] = str(int(wait) + 1)
            return response
        services = self._services()
        if services is None:
            return self._refuse(request, 503, "unavailable", "the web chat is starting")
        language = supported_language(request.query.get("lang")) or "en"
        visitor = bearer_visitor(self._signer, request.headers.get("Authorization", ""))
        status = await services.team.team_status(
            CHANNEL, language, visitor.address if visitor is not None else None
        )
        body: dict[str, Any] = {"online": None, "next_opening": None, "text": None}
        if status is not None:
            opening = status.next_opening
            body = {
                "online": status.online,
                "next_opening": opening.isoformat() if opening is not None else None,
                "text": status.text,
            }
        return web.json_response(
            body, headers=self._origins.cors(request) | {"Cache-Control": "no-store"}
        )

    async def preflight(self, request: web.Request) -> web.Response:
        return self._origins.preflight(request, "GET, OPTIONS")


_CONTINUE_PAGE = """<!DOCTYPE html>
<html lang="{lang}" dir="{dir}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title}</title></head>
<body><h1>{title}</h1><p class="continue-note">{note}</p>
<script src="/widget.js" data-lang="{lang}" data-open="true"{link}></script>
</body></html>
"""
