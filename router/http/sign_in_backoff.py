"""Console sign-in back-off per (address, client), the same for unknown addresses.

A lock per account let anybody lock an agent out, and answering "locked" only for real
accounts told which addresses exist. Here each (address, client address) pair has its
own count of attempts in a row: the first `free_attempts` go through, then each one
makes the next wait twice as long (up to a longest wait), answered 429 with Retry-After.
The agent signing in from another client is not slowed, and an unknown address is
counted and answered exactly like a known one.

The count is taken before the password is checked, in one transaction holding the
row's lock (`FOR UPDATE` on PostgreSQL; SQLite has one writer), so concurrent guesses
cannot check more passwords than allowed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.core.security import sign
from router.core.transaction import Effects, write
from router.storage.models import SignInBackoff

# A pair quiet this long starts again from zero.
FORGET_AFTER = timedelta(days=1)


def backoff_key(secret: str, email: str, client: str) -> str:
    """The row key of one (address, client) pair: neither is stored readable. `client`
    is `router.http.forwarded.client_key` of the request's address (an IPv6 client's
    /64), so a client cannot start afresh by picking another address of its own."""
    return sign(secret, "sign-in-backoff", f"{email}\x00{client}")


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """`free_attempts` in a row go through; then waits of `first`, doubling, to `longest`."""

    free_attempts: int
    first: timedelta
    longest: timedelta

    def wait_after(self, attempts: int) -> timedelta | None:
        """How long the next attempt must wait after `attempts` in a row (None: no wait)."""
        if attempts < self.free_attempts:
            return None
        doublings = min(attempts - self.free_attempts, 32)  # beyond any sensible cap
        return min(self.first * (1 << doublings), self.longest)


async def _insert_if_absent(session: AsyncSession, key: str, now: datetime) -> None:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(SignInBackoff)
        .values(key=key, attempts=0, blocked_until=None, updated_at=now)
        .on_conflict_do_nothing(index_elements=["key"])
    )


async def claim_attempt(
    app: AppContext,
    key: str,
    now: datetime,
    policy: BackoffPolicy,
) -> int | None:
    """Count one attempt for `key`; None when it may go ahead, else seconds to wait."""

    async def work(session: AsyncSession, _: Effects) -> int | None:
        await session.execute(
            delete(SignInBackoff).where(SignInBackoff.updated_at < now - FORGET_AFTER)
        )
        await _insert_if_absent(session, key, now)
        row = await session.get(SignInBackoff, key, with_for_update=True, populate_existing=True)
        assert row is not None  # inserted above, and only a success deletes it
        if row.blocked_until is not None and row.blocked_until > now:
            return max(1, math.ceil((row.blocked_until - now).total_seconds()))
        row.attempts += 1
        row.updated_at = now
        wait = policy.wait_after(row.attempts)
        row.blocked_until = now + wait if wait is not None else None
        return None

    return await write(app, work)


async def forget(app: AppContext, key: str) -> None:
    """A successful sign-in: the pair starts again from zero."""

    async def work(session: AsyncSession, _: Effects) -> None:
        await session.execute(delete(SignInBackoff).where(SignInBackoff.key == key))

    await write(app, work)
