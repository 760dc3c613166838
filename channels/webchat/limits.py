"""Limits the web chat enforces: rates per visitor and per client address, origins.

Rates are token buckets (`router.core.rate_limits`, through `ChannelServices.limits`):
in memory on the embedded SQLite, in the database on PostgreSQL so that every process
spends from one budget.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from router.core.rate_limits import RateLimiter

__all__ = ["OriginPolicy", "RateLimiter", "normalise_origin"]


class OriginPolicy:
    """The one origin rule of every web chat endpoint: the server's own public origin,
    or what `origin_allowed` lets in; and the CORS headers that go with it."""

    def __init__(self, allowed: list[str], public_url: str = "") -> None:
        self._allowed = allowed
        self._own_origin = normalise_origin(public_url) if public_url else None

    def allows(self, request: web.Request) -> bool:
        """Whether the request's browser origin may use the web chat (no Origin: yes)."""
        origin = request.headers.get("Origin")
        if self._own_origin is not None and origin and normalise_origin(origin) == self._own_origin:
            return True
        return origin_allowed(origin, self._allowed, request.host)

    def cors(self, request: web.Request) -> dict[str, str]:
        """CORS headers for an allowed browser origin; none otherwise."""
        origin = request.headers.get("Origin")
        if origin is None or not self.allows(request):
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    def preflight(self, request: web.Request, methods: str) -> web.Response:
        """The answer to an OPTIONS preflight: 204 with the CORS headers, or 403."""
        if not self.allows(request):
            return web.Response(status=403)
        headers = self.cors(request) | {
            "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": "Content-Type, Authorization",
            "Access-Control-Max-Age": "600",
        }
        return web.Response(status=204, headers=headers)


def normalise_origin(origin: str) -> str:
    """`scheme://host[:port]` in lower case, default ports dropped.

    An origin that is not a URL (`http://a:99999`, `http://[::1`) comes back as written,
    lower case: it then matches nothing but the same text, and never raises.
    """
    written = origin.strip().lower()
    try:
        parts = urlsplit(written)
        port_number = parts.port  # raises for a port out of range or not a number
    except ValueError:
        return written.rstrip("/")
    if not parts.scheme or not parts.hostname:
        return written.rstrip("/")
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{port_number}" if port_number and port_number != default else ""
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}{port}"


def origin_allowed(origin: str | None, allowed: list[str], own_host: str | None) -> bool:
    """Whether a browser on `origin` may use the web chat.

    An empty `allowed` list lets any site embed the widget. Otherwise the origin must be
    listed (or be `*`), or be this server's own host (the demo page). A missing Origin
    header means a non-browser client, which could forge the header anyway.
    """
    if origin is None or not allowed or "*" in allowed:
        return True
    wanted = normalise_origin(origin)
    if wanted in {normalise_origin(item) for item in allowed}:
        return True
    if own_host:
        try:
            return urlsplit(wanted).netloc == own_host.lower()
        except ValueError:
            return False
    return False
