"""Keyed reply tokens."""

from __future__ import annotations

import pytest

import channels.email.tokens as tokens_module
from channels.email.tokens import ReplyTokens, token_candidates


def test_round_trip_and_case_insensitive() -> None:
    tokens = ReplyTokens("secret-one")
    for thread_id in (0, 1, 42, 10**12):
        token = tokens.make(thread_id)
        assert tokens.verify(token) == thread_id
        assert tokens.verify(token.upper()) == thread_id  # MTAs may change case


def test_forgeries_fail() -> None:
    tokens = ReplyTokens("secret-one")
    token = tokens.make(42)
    encoded, mac = token.split("-")
    assert ReplyTokens("secret-two").verify(token) is None
    assert tokens.verify(f"{int(encoded, 36) + 1:x}-{mac}") is None
    assert (
        tokens.verify(f"{encoded}-{mac[:-1]}a" if mac[-1] != "a" else f"{encoded}-{mac[:-1]}b")
        is None
    )
    assert tokens.verify("16") is None
    assert tokens.verify("") is None
    assert tokens.verify("1-" + "a" * 24) is None


def test_address_and_find() -> None:
    tokens = ReplyTokens("k")
    address = tokens.address(7, "support@support.localhost")
    assert address.startswith("support+") and address.endswith("@support.localhost")
    found = tokens.find(["someone@else.example", address.upper()], domains=["support.localhost"])
    assert found is not None and found[1] == 7
    # A valid token on a domain we do not serve is ignored.
    foreign = address.replace("support.localhost", "evil.example")
    assert tokens.find([foreign], domains=["support.localhost"]) is None
    assert token_candidates(["support+zzz@support.localhost"], domains=["support.localhost"]) == [
        "zzz"
    ]


def test_empty_secret_refused() -> None:
    with pytest.raises(ValueError):
        ReplyTokens("")


def test_a_threads_token_is_made_once_for_all_its_mails(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every mail of a thread carries the same Reply-To token: one HMAC, not one a mail."""
    macs: list[str] = []
    compact_mac = tokens_module.compact_mac

    def counted(key: object, message: str) -> str:
        macs.append(message)
        return compact_mac(key, message)  # type: ignore[arg-type]

    monkeypatch.setattr(tokens_module, "compact_mac", counted)
    tokens = ReplyTokens("k")
    made = {tokens.address(7, "support@support.localhost") for _ in range(3)}
    assert len(made) == 1 and macs == ["7"]
    assert tokens.verify(tokens.make(7)) == 7  # checking a token still computes its MAC
    assert macs == ["7", "7"]
    assert tokens.make(8) != tokens.make(7)
