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

import asyncio
import base64
import contextlib
import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

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


_T = TypeVar("_T")


class PasswordsBusy(Exception):
    """Every password thread is busy and the line before them is full: the caller is
    told to retry after `RETRY_AFTER` seconds instead of queueing."""

    RETRY_AFTER = 2


class PasswordSlot:
    """One request's place in `PasswordWork`'s line; its hashes run on the password
    threads, and the place is given back once the request and its hashes are done."""

    def __init__(self, pool: ThreadPoolExecutor, give_back: Callable[[], None]) -> None:
        self._pool = pool
        self._give_back = give_back
        self._lock = threading.Lock()  # done callbacks run on the password threads
        self._pending = 1  # the request itself, until it leaves the `with`

    def release(self, _: object = None) -> None:
        """Give back one hold on the place (the request, or one of its hashes)."""
        with self._lock:
            self._pending -= 1
            last = self._pending == 0
        if last:
            self._give_back()

    async def _run(self, function: Callable[..., _T], *args: str) -> _T:
        with self._lock:
            self._pending += 1
        future: Future[_T] = self._pool.submit(function, *args)
        # Given back when the hash ends, not when the caller stops waiting: a client that
        # hangs up does not free a place whose thread is still working for it.
        future.add_done_callback(self.release)
        return await asyncio.wrap_future(future)

    async def hash(self, password: str) -> str:
        return await self._run(hash_password, password)

    async def verify(self, stored_hash: str, password: str) -> bool:
        return await self._run(verify_password, stored_hash, password)


class PasswordWork:
    """Argon2 (64 MiB, three passes each) on a few threads of its own.

    On the loop's default executor, which also reads and writes attachments and checks
    the disk for /healthz, 50 sign-ins at once stalled those for seconds. Here `threads`
    hash at a time, `waiting` more requests may wait for them, and any further request
    is refused at once (`PasswordsBusy`, answered 503 with Retry-After) before it costs
    anything.
    """

    def __init__(self, threads: int, waiting: int) -> None:
        self._threads = threads
        self._capacity = threads + waiting
        self._lock = threading.Lock()
        self._held = 0
        self._executor: ThreadPoolExecutor | None = None

    @property
    def held(self) -> int:
        """Requests holding a place now."""
        return self._held

    def _give_back(self) -> None:
        with self._lock:
            self._held -= 1

    @contextlib.contextmanager
    def slot(self) -> Iterator[PasswordSlot]:
        """A place in line for one request's password work, taken before any other
        work for it (a sign-in counts its attempt only once it has a place).

        Raises:
            PasswordsBusy: every place is taken.
        """
        with self._lock:
            if self._held >= self._capacity:
                raise PasswordsBusy
            self._held += 1
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self._threads, "pasokh-password")
            pool = self._executor
        slot = PasswordSlot(pool, self._give_back)
        try:
            yield slot
        finally:
            slot.release()

    async def hash(self, password: str) -> str:
        """`hash_password` on the password threads (one place, for this one hash)."""
        with self.slot() as slot:
            return await slot.hash(password)


# Two threads for two cores, and enough places for a team signing in at once.
PASSWORDS = PasswordWork(threads=2, waiting=8)


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
