"""Signed, expiring tokens that carry an identity proof from one channel to another.

Two kinds, each under its own key derived from the server secret (`router.core.security`;
a token of one kind never verifies as the other):

- a *continue* token, written into every mail we send: "whoever opens this link can
  read the mail sent to `address` on thread `thread_id`", so the browser that opens it
  proves that email address;
- a *Telegram start* token, offered by the widget as `t.me/<bot>?start=<token>`:
  "the web chat identity `identity_id` asked to continue on Telegram". Telegram allows
  64 characters of `[A-Za-z0-9_-]` there, so this one is packed binary.

Both carry a random nonce; the router records the nonce's HMAC when a token is used,
so a token works once. Nothing in a token is secret; it is only unforgeable.
"""

from __future__ import annotations

import json
import secrets
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from router.core.messages import utcnow
from router.core.security import PayloadSigner, PurposeKey, b64_bytes, b64_text, digests_match

_TELEGRAM_LAYOUT = struct.Struct(">QI9s")  # identity id, expiry (unix s), nonce
_MAC_BYTES = 15
# Base64url length of a Telegram start token: 36 bytes, no padding.
TELEGRAM_TOKEN_LENGTH = 4 * -(-(_TELEGRAM_LAYOUT.size + _MAC_BYTES) // 3)


class InvalidProofToken(ValueError):
    """Malformed, forged, of another kind, or expired."""


@dataclass(frozen=True, slots=True)
class ContinueClaim:
    """What a valid continue token says."""

    thread_id: int
    address: str
    nonce: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TelegramClaim:
    """What a valid Telegram start token says."""

    identity_id: int
    nonce: str
    expires_at: datetime


class ProofTokens:
    """Makes and checks continue and Telegram start tokens, and hashes codes."""

    __slots__ = ("_code", "_continue", "_nonce", "_telegram")

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("proof tokens need server.secret_key")
        self._continue = PayloadSigner(secret, "continue-token")
        self._telegram = PurposeKey(secret, "telegram-start")
        self._code = PurposeKey(secret, "email-code")
        self._nonce = PurposeKey(secret, "token-nonce")

    # -- continue in chat ------------------------------------------------------------

    def continue_token(
        self, thread_id: int, address: str, *, ttl: timedelta, now: datetime | None = None
    ) -> str:
        """A token proving whoever holds it read the mail sent to `address`."""
        expires = int(((now or utcnow()) + ttl).timestamp())
        payload = {
            "t": thread_id,
            "a": address.lower(),
            "e": expires,
            "n": b64_text(secrets.token_bytes(12)),
        }
        return self._continue.sign(b64_text(json.dumps(payload, separators=(",", ":")).encode()))

    def open_continue(self, token: str, *, now: datetime | None = None) -> ContinueClaim:
        """The claim of a valid, unexpired continue token."""
        if len(token) > 1024 or token.count(".") != 1:
            raise InvalidProofToken("not a continue token")
        body = self._continue.unsign(token)
        if body is None:
            raise InvalidProofToken("bad signature")
        try:
            payload = json.loads(b64_bytes(body))
            claim = ContinueClaim(
                thread_id=int(payload["t"]),
                address=str(payload["a"]),
                nonce=str(payload["n"]),
                expires_at=datetime.fromtimestamp(int(payload["e"]), UTC),
            )
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise InvalidProofToken("bad payload") from None
        if claim.expires_at <= (now or utcnow()):
            raise InvalidProofToken("expired")
        return claim

    # -- Telegram deep link ----------------------------------------------------------

    def telegram_token(
        self, identity_id: int, *, ttl: timedelta, now: datetime | None = None
    ) -> str:
        """A `/start` payload (≤ 64 chars of `[A-Za-z0-9_-]`) naming a web chat identity."""
        expires = int(((now or utcnow()) + ttl).timestamp())
        body = _TELEGRAM_LAYOUT.pack(identity_id, expires, secrets.token_bytes(9))
        return b64_text(body + self._telegram.digest(body)[:_MAC_BYTES])

    def open_telegram(self, token: str, *, now: datetime | None = None) -> TelegramClaim:
        """The claim of a valid, unexpired Telegram start token."""
        if len(token) > 64:
            raise InvalidProofToken("too long")
        try:
            raw = b64_bytes(token)
        except ValueError:
            raise InvalidProofToken("bad base64") from None
        if len(raw) != _TELEGRAM_LAYOUT.size + _MAC_BYTES:
            raise InvalidProofToken("wrong length")
        body, mac = raw[: _TELEGRAM_LAYOUT.size], raw[_TELEGRAM_LAYOUT.size :]
        if not digests_match(self._telegram.digest(body)[:_MAC_BYTES], mac):
            raise InvalidProofToken("bad signature")
        identity_id, expires, nonce = _TELEGRAM_LAYOUT.unpack(body)
        claim = TelegramClaim(identity_id, b64_text(nonce), datetime.fromtimestamp(expires, UTC))
        if claim.expires_at <= (now or utcnow()):
            raise InvalidProofToken("expired")
        return claim

    # -- hashes ----------------------------------------------------------------------

    def code_hash(self, proof_salt: str, code: str) -> str:
        """What is stored for a mailed code: HMAC under the server secret (a copy of the
        database alone cannot try the million codes)."""
        return self._code.hexdigest(f"{proof_salt}:{code}")

    def nonce_hash(self, kind: str, nonce: str) -> str:
        """What is stored for a used token, to refuse it the second time."""
        return self._nonce.hexdigest(f"{kind}:{nonce}")


def new_code() -> str:
    """Six random decimal digits."""
    return f"{secrets.randbelow(1_000_000):06d}"
