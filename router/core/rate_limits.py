"""Token buckets for the limits channels enforce per visitor or recipient.

`ChannelServices.limits` hands a channel one of two stores with the same rule (a
bucket of `capacity` tokens refilled over `per_seconds`): in memory on the embedded
SQLite, where there is one process, and in the database on PostgreSQL, where every
process spends from the same bucket. A database take is one `INSERT ... ON CONFLICT
DO UPDATE ... RETURNING`: the row is locked for the statement, so concurrent takes
from several processes never spend one token twice.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

logger = logging.getLogger(__name__)

_FORGET_AFTER = 2 * 3600.0  # seconds: every bucket has refilled by then
_SWEEP_EVERY = 600.0


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """A token bucket per key: `per_minute` a minute (or `capacity` per `per_seconds`),
    bursts up to that many. In memory: one process's own count."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 50_000,
        per_seconds: float = 60.0,
    ) -> None:
        self._capacity = float(max(per_minute, 1))
        self._rate = self._capacity / per_seconds
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def take(self, key: str) -> float:
        """Spend one token for `key`; returns 0.0 when allowed, else seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._forget_full(now)
            bucket = self._buckets[key] = _Bucket(self._capacity, now)
        bucket.tokens = min(self._capacity, bucket.tokens + (now - bucket.updated) * self._rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def refund(self, key: str) -> None:
        """Give back a token `take` spent on something that turned out not to count."""
        bucket = self._buckets.get(key)
        if bucket is not None:
            bucket.tokens = min(self._capacity, bucket.tokens + 1.0)

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled carries no information: dropping it changes nothing.
        refill = self._capacity / self._rate
        for key in [k for k, b in self._buckets.items() if now - b.updated >= refill]:
            del self._buckets[key]


class MemoryRateLimits:
    """`channels.base.RateLimits` in this process's memory (the embedded SQLite)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._limiters: dict[tuple[str, int, float], RateLimiter] = {}

    def _limiter(self, name: str, capacity: int, per_seconds: float) -> RateLimiter:
        key = (name, capacity, per_seconds)
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = RateLimiter(capacity, clock=self._clock, per_seconds=per_seconds)
            self._limiters[key] = limiter
        return limiter

    async def take(self, name: str, key: str, capacity: int, per_seconds: float) -> float:
        return self._limiter(name, capacity, per_seconds).take(key)

    async def refund(self, name: str, key: str, capacity: int, per_seconds: float) -> None:
        self._limiter(name, capacity, per_seconds).refund(key)


def bucket_key(name: str, key: str) -> str:
    """The row key: the limit's name and a hash of the address (no address is stored)."""
    return f"{name[:30]}:{hashlib.sha256(key.encode()).hexdigest()}"


# The database's clock (one for every process); now() is fixed for the statement.
_NOW = "CAST(extract(epoch FROM now()) AS double precision)"
_TAKE = """
INSERT INTO rate_buckets (key, tokens, updated, granted)
VALUES (:key, :capacity - 1, :now, true)
ON CONFLICT (key) DO UPDATE SET
    tokens = CASE
        WHEN least(:capacity, rate_buckets.tokens + (:now - rate_buckets.updated) * :rate) >= 1
        THEN least(:capacity, rate_buckets.tokens + (:now - rate_buckets.updated) * :rate) - 1
        ELSE least(:capacity, rate_buckets.tokens + (:now - rate_buckets.updated) * :rate)
    END,
    granted =
        least(:capacity, rate_buckets.tokens + (:now - rate_buckets.updated) * :rate) >= 1,
    updated = :now
RETURNING tokens, granted
""".replace(":now", _NOW)
_REFUND = "UPDATE rate_buckets SET tokens = least(:capacity, tokens + 1) WHERE key = :key"
_FORGET = f"DELETE FROM rate_buckets WHERE updated < {_NOW} - :age"


class DatabaseRateLimits:
    """`channels.base.RateLimits` in PostgreSQL: one budget for every process.

    One short transaction per take, outside any ingest transaction; the clock is the
    database's, so processes with drifting clocks still agree.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._swept_at = 0.0

    async def take(self, name: str, key: str, capacity: int, per_seconds: float) -> float:
        """As `MemoryRateLimits.take`. A database that cannot answer allows (logged): the
        work the limit guards needs the database too and is refused there, with the
        error its caller expects, instead of a limit failing in its place."""
        try:
            return await self._take(name, key, capacity, per_seconds)
        except Exception as exc:
            logger.warning("rate limit %s unavailable, allowing: %s", name, exc)
            return 0.0

    async def _take(self, name: str, key: str, capacity: int, per_seconds: float) -> float:
        capacity = max(capacity, 1)
        rate = capacity / per_seconds
        async with self._engine.connect() as connection:
            row = (
                await connection.execute(
                    text(_TAKE),
                    {
                        "key": bucket_key(name, key),
                        "capacity": float(capacity),
                        "rate": rate,
                    },
                )
            ).one()
            if time.monotonic() - self._swept_at > _SWEEP_EVERY:
                self._swept_at = time.monotonic()
                await connection.execute(text(_FORGET), {"age": _FORGET_AFTER})
            await connection.commit()
        tokens, granted = float(row[0]), bool(row[1])
        return 0.0 if granted else (1.0 - tokens) / rate

    async def refund(self, name: str, key: str, capacity: int, per_seconds: float) -> None:
        try:
            async with self._engine.connect() as connection:
                await connection.execute(
                    text(_REFUND),
                    {"key": bucket_key(name, key), "capacity": float(max(capacity, 1))},
                )
                await connection.commit()
        except Exception as exc:
            logger.warning("rate limit %s: could not give a token back: %s", name, exc)


def rate_limits_for(engine: AsyncEngine) -> MemoryRateLimits | DatabaseRateLimits:
    """In the database on PostgreSQL (several processes); in memory on SQLite (one)."""
    if engine.dialect.name == "postgresql":
        return DatabaseRateLimits(engine)
    return MemoryRateLimits()
