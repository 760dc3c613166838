"""Idempotency keys: the client's name for a request it may have to send again.

A client that cannot tell whether its request was stored (a timeout, an answer lost
with the connection) sends it again with the same key; the server answers with what
the first request made and makes nothing new. Every endpoint that creates something
on a client's behalf and takes a key follows this one rule: agents' replies and notes
(`router.agents.replies`, the key on the message row) and outreach messages
(`router.outreach.scheduling`).

- A key is 1-200 characters, none of them a control character (`SCHEMA`, `parse_key`).
- Keys are the caller's own: a unique index over (caller, key) in the database, so one
  caller's key never finds, or blocks, another's row.
- The index decides, not a look-up before the insert: of concurrent requests with one
  key exactly one inserts; the others' inserts fail on the index and they answer with
  the winner's row (`once`). A look-up first only spares a repeat the work.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.core.transaction import Work, write

T = TypeVar("T")

MAX_LENGTH = 200
# Control characters are refused: a key is logged and compared as it is, and one that
# differs from another only by an invisible character would be a trap.
_CONTROL = "\\u0000-\\u001f\\u007f-\\u009f"
PATTERN = f"^[^{_CONTROL}]{{1,{MAX_LENGTH}}}$"
# The document's schema of a key (`router.http.openapi`): one copy of the limits.
SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_LENGTH,
    "pattern": PATTERN,
}
# fullmatch: unlike a schema's search, a trailing newline does not slip past `$`.
_KEY = re.compile(PATTERN)
# The answer's header when it repeats a stored request's (200, not 201).
REPLAYED = "Idempotent-Replayed"
PROBLEM = f"idempotency_key: 1-{MAX_LENGTH} characters, no control characters"


def parse_key(value: object) -> str | None:
    """The key `value` is, or None when it breaks the rule."""
    return value if isinstance(value, str) and _KEY.fullmatch(value) else None


def digest(*parts: object) -> str:
    """A fingerprint of a request's meaning (JSON-able `parts`): the same key with
    another fingerprint is another request, refused rather than answered as the first."""
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


# A key sent again with another request: refused (409) with this code, never answered
# with the first request's row, which is not what the client asked for now.
REUSED = "idempotency_key_reused"
REUSED_MESSAGE = "this idempotency_key was sent with another request; use a new key for a new one"


def reused(stored: str | None, asked: str) -> bool:
    """Whether a row stored with fingerprint `stored` answers a request of fingerprint
    `asked` under the same key: a row stored without one (before fingerprints were
    kept) answers any."""
    return stored is not None and stored != asked


async def once(
    app: AppContext,
    work: Work[tuple[T, bool]],
    first: Callable[[AsyncSession], Awaitable[T | None]],
) -> tuple[T, bool]:
    """Run `work` (which looks the key up and, if it is new, inserts): (row, created).

    When a concurrent request with the same key committed first, `work`'s insert fails
    on the unique index; then `first` finds that request's row: (row, False).
    """
    try:
        return await write(app, work)
    except IntegrityError:
        async with app.read_sessions() as session:
            found = await first(session)
        if found is None:
            raise
        return found, False
