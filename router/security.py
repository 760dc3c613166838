"""Tokens and passwords: random bearer tokens stored as hashes, argon2 for passwords."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


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


def sign(secret: str, purpose: str, payload: str) -> str:
    """Hex HMAC-SHA256 of `payload`, bound to `purpose` so signatures don't cross uses."""
    return hmac.new(secret.encode(), f"{purpose}\x00{payload}".encode(), hashlib.sha256).hexdigest()


def verify_signature(secret: str, purpose: str, payload: str, signature: str) -> bool:
    """Constant-time check of a `sign` result."""
    if not signature.isascii():  # compare_digest raises TypeError on non-ASCII str
        return False
    return hmac.compare_digest(sign(secret, purpose, payload), signature)
