"""Signed tokens of the web chat: visitor identities, uploads and file links.

Every token is `v1.payload.signature`, both base64url, signed by `itsdangerous` under
a key derived from the server secret for that one purpose (`router.core.security`), so a
token of one kind can never be replayed as another. Payloads are small JSON objects;
nothing in them is secret, they are only unforgeable.

Upload tokens and file links carry their expiry (Unix seconds) under the signature; a
file link is also signed for one visitor's address, and a download must present that
visitor's token, so a leaked link opens nothing.

A visitor token carries its issue time and lives `visitor_token_ttl_seconds` (30 days)
from it; resuming it (`POST /api/v1/webchat/sessions`) issues a fresh one, so a
returning visitor keeps their conversation and a token left behind ends. Every token
also carries when its chain began (the visitor's first token; for a site user, the
site's last `user_hash`), which resuming copies: no chain outlives
`visitor_token_max_age_seconds` (90 days), so a stolen token cannot be kept alive for
ever by resuming it. Tokens of one chain stay valid side by side (two tabs). A site user's
token (`user:<id>`) also carries a digest of `user_hash_secret`: rotating the secret
ends every such token at once (the site's next `user_hash` gets a new one for the same
conversation).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from router.core.messages import AttachmentRef
from router.core.security import PayloadSigner, PurposeKey, b64_bytes, b64_text, digests_match

_VERSION = "v1"
# A site's user ids: printable, no spaces, short enough to sit in an address column.
_USER_ID = re.compile(r"[\x21-\x7e]{1,128}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


# Tokens issued before visitor tokens carried an issue time are resumed (and so
# re-issued with one) until this instant, 2027-03-01 UTC, then refused like expired
# ones: a returning visitor keeps their conversation across the upgrade, and a token
# that leaked before it does not work for ever.
LEGACY_TOKENS_RESUMED_UNTIL = 1_803_859_200


class InvalidToken(ValueError):
    """The token is malformed, forged, expired, or of another kind."""


@dataclass(frozen=True, slots=True)
class Visitor:
    """A web chat identity as its token names it.

    Args:
        address: the identity's address on the `webchat` channel (`visitor:<random>` or
            `user:<site user id>`); the router keys the identity on it.
        name: a display name the site vouched for (only with a verified user id).
        verified: the site proved `user_id` with its HMAC (`user_hash`).
        since: when the token chain began (Unix seconds); None: it begins now.
    """

    address: str
    name: str | None = None
    verified: bool = False
    since: int | None = None


def user_hash(secret: str, user_id: str) -> str:
    """The `user_hash` a site computes for its logged-in user: hex HMAC-SHA256(secret, id)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def user_hash_matches(secret: str, user_id: str, given: str) -> bool:
    """Constant-time check of a site's `user_hash` (hex, any case)."""
    return digests_match(user_hash(secret, user_id), given.strip().lower())


def valid_user_id(user_id: str) -> bool:
    """Whether `user_id` is acceptable as part of an address (printable, ≤128 chars)."""
    return bool(_USER_ID.fullmatch(user_id))


class TokenSigner:
    """Issues and verifies the web chat's tokens under keys derived from one secret.

    Args:
        secret_key: the server's secret; every key is derived from it.
        visitor_ttl_seconds: how long a visitor token lives from its issue time.
        visitor_max_age_seconds: how long resumed tokens go on from the chain's start.
        user_hash_secret: the site's secret for `user_hash` ("" when it signs no users
            in, and then no `user:` token is valid).
        clock: wall-clock seconds (expiries and issue times are absolute times).
    """

    def __init__(
        self,
        secret_key: str,
        *,
        visitor_ttl_seconds: float = 30 * 86_400,
        visitor_max_age_seconds: float = 90 * 86_400,
        user_hash_secret: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret_key:
            raise ValueError("the web chat needs server.secret_key to sign visitor tokens")
        self._clock = clock
        self._visitor_ttl = visitor_ttl_seconds
        self._visitor_max_age = visitor_max_age_seconds
        # Not secret (it sits in tokens) and says nothing of the secret: an HMAC of a
        # fixed text under it, cut short.
        self._user_secret_digest = (
            user_hash(user_hash_secret, "pasokh/visitor-token")[:16] if user_hash_secret else None
        )
        self._visitor = PayloadSigner(secret_key, "webchat-visitor-token")
        self._upload = PayloadSigner(secret_key, "webchat-upload-token")
        self._file_link = PurposeKey(secret_key, "webchat-file-link")

    @staticmethod
    def _sign(signer: PayloadSigner, payload: dict[str, Any]) -> str:
        body = b64_text(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
        return signer.sign(f"{_VERSION}.{body}")

    @staticmethod
    def _open(signer: PayloadSigner, token: str) -> dict[str, Any]:
        if len(token) > 2048:
            raise InvalidToken("token too long")
        if not token.startswith(f"{_VERSION}.") or token.count(".") != 2:
            raise InvalidToken("not a v1 token")
        signed = signer.unsign(token)
        if signed is None:
            raise InvalidToken("bad signature")
        try:
            payload = json.loads(b64_bytes(signed.split(".")[1]))
        except ValueError:  # not base64, not UTF-8 or not JSON
            raise InvalidToken("bad payload") from None
        if not isinstance(payload, dict):
            raise InvalidToken("bad payload")
        return payload

    def new_anonymous(self) -> tuple[str, Visitor]:
        """A fresh, unguessable visitor (128 random bits) and its token."""
        visitor = Visitor(address=f"visitor:{secrets.token_urlsafe(16)}")
        return self.visitor_token(visitor), visitor

    def visitor_token(self, visitor: Visitor) -> str:
        """The signed token naming `visitor`, issued now, in its chain (`visitor.since`)
        or at the start of a new one."""
        now = int(self._clock())
        payload: dict[str, Any] = {
            "a": visitor.address,
            "i": now,
            "o": now if visitor.since is None else visitor.since,
        }
        if visitor.name:
            payload["n"] = visitor.name
        if visitor.verified:
            payload["v"] = 1
        if visitor.address.startswith("user:"):
            if self._user_secret_digest is None:
                raise ValueError("a site user's token needs webchat.user_hash_secret")
            payload["k"] = self._user_secret_digest
        return self._sign(self._visitor, payload)

    def open_visitor(self, token: str, *, resuming: bool = False) -> Visitor:
        """The visitor a live token names.

        `resuming`: the caller issues a fresh token for it at once; then a token from
        before issue times (none) is accepted too, until `LEGACY_TOKENS_RESUMED_UNTIL`.

        Raises:
            InvalidToken: forged, malformed, expired (its own life or its chain's), or
                a site user's token signed under another `user_hash_secret`.
        """
        payload = self._open(self._visitor, token)
        address = payload.get("a")
        name = payload.get("n")
        issued = payload.get("i")
        if not isinstance(address, str) or not address.startswith(("visitor:", "user:")):
            raise InvalidToken("bad address")
        if name is not None and not isinstance(name, str):
            raise InvalidToken("bad name")
        now = self._clock()
        if issued is None and not address.startswith("user:"):
            if not resuming or now > LEGACY_TOKENS_RESUMED_UNTIL:
                raise InvalidToken("token without an issue time: resume it")
        elif type(issued) is not int or issued + self._visitor_ttl < now:
            raise InvalidToken("token expired")
        # A token from before chains began its chain when it was issued (or now, for
        # one from before issue times: resumed once, until the legacy cut-off).
        since = payload.get("o", issued if issued is not None else int(now))
        if type(since) is not int:
            raise InvalidToken("bad chain start")
        if since + self._visitor_max_age < now:
            raise InvalidToken("token chain too old: start a new visitor")
        if address.startswith("user:") and (
            self._user_secret_digest is None or payload.get("k") != self._user_secret_digest
        ):
            raise InvalidToken("signed under another user_hash_secret")
        return Visitor(address=address, name=name, verified=payload.get("v") == 1, since=since)

    def expiry(self, ttl_seconds: float) -> int:
        """The absolute time (Unix seconds) at which something valid for `ttl_seconds` ends."""
        return int(self._clock() + ttl_seconds)

    def upload_token(self, address: str, ref: AttachmentRef, ttl_seconds: float) -> str:
        """A token that lets `address` (only) attach the uploaded file, for a while."""
        return self._sign(
            self._upload,
            {
                "a": address,
                "s": ref.sha256,
                "f": ref.filename,
                "t": ref.content_type,
                "z": ref.size,
                "e": self.expiry(ttl_seconds),
            },
        )

    def open_upload(self, address: str, token: str) -> AttachmentRef:
        """The attachment an upload token stands for; it must belong to `address` and
        be unexpired (after that its file may be gone: unsent uploads are collected)."""
        payload = self._open(self._upload, token)
        if payload.get("a") != address:
            raise InvalidToken("upload of another visitor")
        expires = payload.get("e")
        if not isinstance(expires, int) or expires < self._clock():
            raise InvalidToken("upload expired")
        sha, name, kind, size = (
            payload.get("s"),
            payload.get("f"),
            payload.get("t"),
            payload.get("z"),
        )
        if not (
            isinstance(sha, str)
            and _SHA256.fullmatch(sha)
            and isinstance(name, str)
            and isinstance(kind, str)
            and isinstance(size, int)
        ):
            raise InvalidToken("bad upload payload")
        return AttachmentRef(sha256=sha, filename=name, content_type=kind, size=size)

    def file_signature(
        self, sha256: str, content_type: str, filename: str, address: str, expires: int
    ) -> str:
        """The signature of a file link for one visitor until `expires` (Unix seconds)."""
        message = "\n".join((sha256, content_type, filename, address, str(expires))).encode()
        return b64_text(self._file_link.digest(message)[:18])

    def file_signature_matches(
        self,
        sha256: str,
        content_type: str,
        filename: str,
        address: str,
        expires: int,
        signature: str,
    ) -> bool:
        """Constant-time check of a file link's signature (its expiry is checked apart)."""
        expected = self.file_signature(sha256, content_type, filename, address, expires)
        return digests_match(expected, signature)

    def expired(self, expires: int) -> bool:
        """Whether the absolute time `expires` has passed."""
        return expires < self._clock()


def bearer_visitor(signer: TokenSigner, authorization: str) -> Visitor | None:
    """The visitor an `Authorization: Bearer <visitor token>` header names, else None."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    try:
        return signer.open_visitor(token.strip())
    except InvalidToken:
        return None
