"""Keyed reply tokens: `support+<token>@domain` names a thread and cannot be forged.

A token is the thread id in base 36 and a truncated HMAC-SHA256 over it, under the
key of its own purpose derived from the server secret (`router.core.security`), so the
same secret signing other things never yields a valid token. Everything is lower-case
letters and digits because mail systems are free to change the case of a local part.
A valid token proves only that *we* wrote that address into some mail; whether its
sender may join the thread is the router's decision (the sender must be a known
identity of the thread's customer).
"""

from __future__ import annotations

import base64
import re

from router.core.security import PurposeKey, digests_match

_MAC_BYTES = 15  # 120 bits: 24 base32 characters
_TOKEN = re.compile(r"([0-9a-z]{1,13})-([a-z2-7]{24})")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_TOKENS_KEPT = 10_000  # threads whose token is kept made (~1 MB)


class ReplyTokens:
    """Makes and checks reply tokens with one server secret."""

    __slots__ = ("_key", "_made")

    def __init__(self, secret: str | bytes) -> None:
        self._key = PurposeKey(secret, "email-reply-token")
        # Every mail of a thread carries its token: made once, not an HMAC per mail.
        self._made: dict[int, str] = {}

    def make(self, thread_id: int) -> str:
        """The token for `thread_id`."""
        if thread_id < 0:
            raise ValueError("thread ids are not negative")
        token = self._made.get(thread_id)
        if token is None:
            if len(self._made) >= _TOKENS_KEPT:
                self._made.clear()
            encoded = base36(thread_id)
            token = self._made[thread_id] = f"{encoded}-{self._mac(encoded)}"
        return token

    def verify(self, token: str) -> int | None:
        """The thread id `token` was made for, or None if it is not one of ours."""
        match = _TOKEN.fullmatch(token.strip().lower())
        if match is None:
            return None
        encoded, mac = match.groups()
        if not digests_match(self._mac(encoded), mac):
            return None
        return int(encoded, 36)

    def address(self, thread_id: int, support_address: str) -> str:
        """`local+<token>@domain` for the support address `local@domain`."""
        local, _, domain = support_address.partition("@")
        return f"{local.split('+', 1)[0]}+{self.make(thread_id)}@{domain}"

    def find(
        self, addresses: list[str] | tuple[str, ...], *, domains: list[str] | tuple[str, ...]
    ) -> tuple[str, int] | None:
        """The first verifiable (token, thread id) among `addresses` on our domains."""
        allowed = {d.lower().strip() for d in domains}
        for address in addresses:
            local, _, domain = address.strip().strip("<>").lower().rpartition("@")
            if domain not in allowed or "+" not in local:
                continue
            candidate = local.split("+", 1)[1]
            thread_id = self.verify(candidate)
            if thread_id is not None:
                return candidate, thread_id
        return None

    def _mac(self, encoded: str) -> str:
        return compact_mac(self._key, encoded)


def token_candidates(
    addresses: list[str] | tuple[str, ...], *, domains: list[str] | tuple[str, ...]
) -> list[str]:
    """Sub-addresses (the part after `+`) on our domains, verified or not."""
    allowed = {d.lower().strip() for d in domains}
    found = []
    for address in addresses:
        local, _, domain = address.strip().strip("<>").lower().rpartition("@")
        if domain in allowed and "+" in local:
            found.append(local.split("+", 1)[1])
    return found


def compact_mac(key: PurposeKey, message: str) -> str:
    """A truncated MAC a local part can carry: 120 bits as 24 lower-case base32 letters."""
    digest = key.digest(message)[:_MAC_BYTES]
    return base64.b32encode(digest).decode("ascii").lower()


def base36(number: int) -> str:
    if number == 0:
        return "0"
    digits = []
    while number:
        number, remainder = divmod(number, 36)
        digits.append(_DIGITS[remainder])
    return "".join(reversed(digits))
