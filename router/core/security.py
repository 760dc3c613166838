"""Tokens, passwords and signatures: the one place keys are derived from a secret.

Random bearer tokens are stored as hashes, passwords as argon2. Everything Pasokh signs
(web chat tokens and file links, email reply tokens and bounce addresses, continue and
Telegram start tokens, code hashes, console CSRF values) is keyed by `purpose_key`:
HMAC-SHA256(secret, "pasokh/<purpose>"), one key per purpose, so a signature made for
one use never verifies for another. Tokens that are a signed payload use `itsdangerous`
under that key; channels that need a compact format (an email local part, Telegram's
64-character `start` parameter) truncate a `PurposeKey` digest instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, Signer


def new_token(prefix: str) -> str:
    """A fresh bearer token, e.g. `pk_agent_<43 url-safe chars>`."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def token_hash(token: str) -> str:
    """What we store for a token: its SHA-256 (the token itself has 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    """An argon2id hash of `password`."""
    return PasswordHasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when `password` matches; never raises for a bad password or hash."""
    try:
        return PasswordHasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def b64_text(data: bytes) -> str:
    """URL-safe base64 without padding, as every token of ours spells bytes."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_bytes(text: str) -> bytes:
    """The bytes of a `b64_text`; raises ValueError when it is not base64."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def purpose_key(secret: str | bytes, purpose: str) -> bytes:
    """The key for one use of `secret`: HMAC-SHA256(secret, "pasokh/<purpose>")."""
    if not secret:
        raise ValueError(f"signing {purpose} needs server.secret_key")
    root = secret.encode("utf-8") if isinstance(secret, str) else secret
    return hmac.new(root, f"pasokh/{purpose}".encode(), hashlib.sha256).digest()


def digests_match(expected: str | bytes, given: str | bytes) -> bool:
    """Constant-time equality; False (never TypeError) for non-ASCII text."""
    if isinstance(expected, str) and isinstance(given, str):
        return given.isascii() and hmac.compare_digest(expected, given)
    if isinstance(expected, bytes) and isinstance(given, bytes):
        return hmac.compare_digest(expected, given)
    return False


class PurposeKey:
    """HMAC-SHA256 under the key of one purpose, for compact signatures and keyed hashes."""

    __slots__ = ("_key",)

    def __init__(self, secret: str | bytes, purpose: str) -> None:
        self._key = purpose_key(secret, purpose)

    def digest(self, message: str | bytes) -> bytes:
        raw = message.encode("utf-8") if isinstance(message, str) else message
        return hmac.new(self._key, raw, hashlib.sha256).digest()

    def hexdigest(self, message: str | bytes) -> str:
        return self.digest(message).hex()


class PayloadSigner:
    """`<payload>.<signature>` tokens (`itsdangerous`) under the key of one purpose."""

    __slots__ = ("_signer",)

    def __init__(self, secret: str | bytes, purpose: str) -> None:
        self._signer = Signer(
            purpose_key(secret, purpose), key_derivation="none", digest_method=hashlib.sha256
        )

    def sign(self, payload: str) -> str:
        return self._signer.sign(payload).decode("ascii")

    def unsign(self, token: str) -> str | None:
        """The payload of a token this signer made, or None (forged, altered, not ASCII)."""
        if not token.isascii():  # ours are ASCII; a lone surrogate cannot even be encoded
            return None
        try:
            return self._signer.unsign(token).decode("ascii")
        except BadSignature:
            return None


def sign(secret: str, purpose: str, payload: str) -> str:
    """Hex HMAC-SHA256 of `payload` under the key of `purpose`."""
    return PurposeKey(secret, purpose).hexdigest(payload)


def verify_signature(secret: str, purpose: str, payload: str, signature: str) -> bool:
    """Constant-time check of a `sign` result."""
    return digests_match(sign(secret, purpose, payload), signature)
