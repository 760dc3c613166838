"""The client behind a trusted reverse proxy: its address and scheme, from the proxy's
`X-Forwarded-For` and `X-Forwarded-Proto`.

Limits (web chat sessions, uploads, hand-offs, console sign-in back-off) are keyed by
`client_key(request.remote)`, audit records by `request.remote` itself. Behind nginx
that is nginx, so every visitor would share one budget; but a forwarded header is only
as good as the hop that added it, and any client can send one. So the headers count
only when the TCP peer is in `[server] trusted_proxies`, and `X-Forwarded-For` is read
from the right: each trusted hop vouches for the address to its left, and the first
address no trusted hop is, is the client. Entries further left are the client's own
words and are never read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from config.settings import IpNetwork, parse_networks

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> IpAddress | None:
    """An IP address as a header or a socket gives it ("[2001:db8::1]:443",
    "192.0.2.1:443", a bare address); None when it is not one."""
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "192.0.2.1:443"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # An IPv4 client seen through an IPv6 socket is the IPv4 address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_key(address: str | None) -> str:
    """The key a client's address is counted under by every per-client limit (HTTP and
    SMTP): an IPv4 address as it is, an IPv6 address's /64, an IPv4-mapped IPv6 address
    as the IPv4 one. One host usually has a whole /64 to pick addresses from, so
    counting single IPv6 addresses would give it 2^64 budgets."""
    parsed = parse_address(address or "")
    if parsed is None:
        return address or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def network_key(address: str | None) -> str:
    """The network a client's address is counted under by limits one network must not
    take alone (email codes): an IPv4 /24, an IPv6 /48 (a site's usual allocation; one
    holder picks freely among its /64s)."""
    parsed = parse_address(address or "")
    if parsed is None:
        return address or "unknown"
    prefix = 48 if isinstance(parsed, ipaddress.IPv6Address) else 24
    return str(ipaddress.ip_network((parsed, prefix), strict=False))


@dataclass(frozen=True, slots=True)
class TrustedProxies:
    """The networks whose forwarded headers are believed."""

    networks: tuple[IpNetwork, ...]

    @classmethod
    def of(cls, entries: list[str]) -> TrustedProxies:
        """From the `[server] trusted_proxies` setting (validated at load)."""
        return cls(parse_networks(entries))

    def trusts(self, address: IpAddress | None) -> bool:
        return address is not None and any(address in network for network in self.networks)

    def client_address(self, peer: str | None, forwarded_for: Sequence[str]) -> str | None:
        """The client's address: `peer` itself unless a trusted proxy forwarded it.

        `forwarded_for` is every `X-Forwarded-For` header's value, in order. A malformed
        entry where an address was due ends the walk at the last hop that was trusted.
        """
        hop = parse_address(peer or "")
        if not self.trusts(hop):
            return peer
        entries = [part for value in forwarded_for for part in value.split(",") if part.strip()]
        for entry in reversed(entries):
            address = parse_address(entry)
            if address is None:
                break
            hop = address
            if not self.trusts(hop):
                break
        return str(hop)

    def client_scheme(self, peer: str | None, forwarded_proto: str | None) -> str | None:
        """ "http" or "https" as the trusted proxy saw it; None to keep the connection's."""
        if forwarded_proto is None or not self.trusts(parse_address(peer or "")):
            return None
        # The hop that connected to us set (or appended) it last; nothing to its left
        # is vouched for.
        scheme = forwarded_proto.rsplit(",", 1)[-1].strip().lower()
        return scheme if scheme in ("http", "https") else None


def forwarded_client_middleware(proxies: TrustedProxies) -> Middleware:
    """A middleware giving every handler the client's address as `request.remote` (and
    its scheme as `request.scheme`) when a trusted proxy forwarded the request."""

    @web.middleware
    async def forwarded_client(request: web.Request, handler: Handler) -> web.StreamResponse:
        peer = request.remote
        remote = proxies.client_address(peer, request.headers.getall("X-Forwarded-For", []))
        scheme = proxies.client_scheme(peer, request.headers.get("X-Forwarded-Proto"))
        if remote is not None and (remote != peer or scheme is not None):
            request = request.clone(remote=remote, scheme=scheme or request.scheme)
        return await handler(request)

    return forwarded_client
