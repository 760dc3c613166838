"""One key per purpose: every signature Pasokh makes is keyed by `purpose_key`."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import timedelta

import pytest

from channels.email.bounces import BounceAddresses
from channels.email.tokens import ReplyTokens
from channels.webchat.tokens import TokenSigner, Visitor
from router.core.security import PayloadSigner, PurposeKey, purpose_key
from router.http.console_sessions import csrf_token_for, login_csrf_for
from router.http.sign_in_backoff import backoff_key
from router.identity.tokens import ProofTokens

SECRET = "signing-test-secret-" + "z" * 32


def _compact(purpose: str, message: str) -> str:
    digest = PurposeKey(SECRET, purpose).digest(message)[:15]
    return base64.b32encode(digest).decode("ascii").lower()


def test_a_purpose_key_is_hmac_of_the_secret_and_the_purpose() -> None:
    expected = hmac.new(SECRET.encode(), b"pasokh/continue-token", hashlib.sha256).digest()
    assert purpose_key(SECRET, "continue-token") == expected
    assert purpose_key(SECRET, "console-csrf") != purpose_key(SECRET, "console-login")
    with pytest.raises(ValueError, match="secret"):
        purpose_key("", "continue-token")


def test_payload_tokens_open_only_under_their_own_purpose() -> None:
    signed = PayloadSigner(SECRET, "webchat-visitor-token").sign("v1.e30")
    assert PayloadSigner(SECRET, "webchat-visitor-token").unsign(signed) == "v1.e30"
    assert PayloadSigner(SECRET, "webchat-upload-token").unsign(signed) is None
    assert PayloadSigner("another-" + SECRET, "webchat-visitor-token").unsign(signed) is None
    assert PayloadSigner(SECRET, "webchat-visitor-token").unsign(signed + "\ud800") is None


def test_every_signer_derives_its_key_from_the_one_place() -> None:
    visitor = TokenSigner(SECRET).visitor_token(Visitor(address="visitor:abc"))
    assert PayloadSigner(SECRET, "webchat-visitor-token").unsign(visitor) is not None

    proofs = ProofTokens(SECRET)
    continue_token = proofs.continue_token(7, "sara@example.com", ttl=timedelta(days=1))
    assert PayloadSigner(SECRET, "continue-token").unsign(continue_token) is not None
    start = base64.urlsafe_b64decode(proofs.telegram_token(9, ttl=timedelta(hours=1)) + "=" * 4)
    assert start[-15:] == PurposeKey(SECRET, "telegram-start").digest(start[:-15])[:15]
    assert proofs.code_hash("salt", "123456") == PurposeKey(SECRET, "email-code").hexdigest(
        "salt:123456"
    )

    assert ReplyTokens(SECRET).make(42) == f"16-{_compact('email-reply-token', '16')}"
    bounce = BounceAddresses(SECRET).make(42, "Sara@Example.com")
    assert bounce == f"b-16-{_compact('email-bounce-address', '16:sara@example.com')}"

    assert csrf_token_for(SECRET, "s") == PurposeKey(SECRET, "console-csrf").hexdigest("s")
    assert login_csrf_for(SECRET, "c") == PurposeKey(SECRET, "console-login").hexdigest("c")
    assert backoff_key(SECRET, "a@b.c", "ip") == PurposeKey(SECRET, "sign-in-backoff").hexdigest(
        "a@b.c\x00ip"
    )
