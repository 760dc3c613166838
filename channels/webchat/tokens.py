"""Signed tokens of the web chat: visitor identities, uploads and file links.

Every token is `v1.payload.signature`, both base64url, signed by `itsdangerous` under
a key derived from the server secret for that one purpose (`router.core.security`), so a
token of one kind can never be replayed as another. Payloads are small JSON objects;
nothing in them is secret, they are only unforgeable.

Upload tokens and file links carry their expiry (Unix seconds) under the signature; a
file link is also signed for one visitor's address, and a download must present that
visitor's token, so a leaked link opens nothing.
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
_USER_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class InvalidToken(ValueError):
    """The token is malformed, forged, or of another kind."""


@dataclass(frozen=True, slots=True)
class Visitor:
    """A web chat identity as its token names it.

    Args:
        address: the identity's address on the `webchat` channel (`visitor:<random>` or
            `user:<site user id>`); the router keys the identity on it.
        name: a display name the site vouched for (only with a verified user id).
        verified: the site proved `user_id` with its HMAC (`user_hash`).
    """

    address: str
    name: str | None = None
    verified: bool = False


def user_hash(secret: str, user_id: str) -> str:
    """The `user_hash` a site computes for its logged-in user: hex HMAC-SHA256(secret, id)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def user_hash_matches(secret: str, user_id: str, given: str) -> bool:
    """Constant-time check of a site's `user_hash` (hex, any case)."""
    return digests_match(user_hash(secret, user_id), given.strip().lower())


def valid_user_id(user_id: str) -> bool:
    """Whether `user_id` is acceptable as part of an address (printable, ≤128 chars)."""
    return bool(_USER_ID.match(user_id))


class TokenSigner:
    """Issues and verifies the web chat's tokens under keys derived from one secret."""

    def __init__(self, secret_key: str, *, clock: Callable[[], float] = time.time) -> None:
        if not secret_key:
            raise ValueError("the web chat needs server.secret_key to sign visitor tokens")
        self._clock = clock  # wall-clock seconds: expiries are absolute times
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
        """The signed token naming `visitor`."""
        payload: dict[str, Any] = {"a": visitor.address}
        if visitor.name:
            payload["n"] = visitor.name
        if visitor.verified:
            payload["v"] = 1
        return self._sign(self._visitor, payload)

    def open_visitor(self, token: str) -> Visitor:
        """The visitor a token names; raises InvalidToken when forged or malformed."""
        payload = self._open(self._visitor, token)
        address = payload.get("a")
        name = payload.get("n")
        if not isinstance(address, str) or not address.startswith(("visitor:", "user:")):
            raise InvalidToken("bad address")
        if name is not None and not isinstance(name, str):
            raise InvalidToken("bad name")
        return Visitor(address=address, name=name, verified=payload.get("v") == 1)

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
            and _SHA256.match(sha)
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
