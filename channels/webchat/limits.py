"""Limits the web chat enforces: rates per visitor and per client address, origins.

Rates are token buckets in memory, so each process counts on its own: behind a load
balancer with N processes a client gets up to N times a limit. That is enough to stop
one client from flooding the queue; it is not an exact quota.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per key: `per_minute` messages a minute, bursts up to that many.

    Keys are visitor addresses (a visitor's tabs share one budget) or client addresses.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 50_000,
    ) -> None:
        self._capacity = float(max(per_minute, 1))
        self._rate = self._capacity / 60.0
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Spend one token for `key`; returns 0.0 when allowed, else seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self._capacity, now)
        bucket.tokens = min(self._capacity, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def refund(self, key: str) -> None:
        """Give back a token `take` spent on something that turned out not to count."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(self._capacity, bucket.tokens + 1.0)

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled carries no information: dropping it changes nothing.
        refill = self._capacity / self._rate
        for key in [k for k, b in self._buckets.items() if now - b.updated >= refill]:
            del self._buckets[key]


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
