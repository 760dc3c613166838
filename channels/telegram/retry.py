"""Waiting after failures: jittered backoff, and Telegram's own "retry after"."""

from __future__ import annotations

import asyncio
import contextlib
import random
import warnings
from datetime import timedelta

from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning


class Backoff:
    """Exponential delay with full jitter, reset after a success (Errbot's reconnect)."""

    def __init__(self, *, base: float = 0.5, cap: float = 30.0) -> None:
        self._base = base
        self._cap = cap
        self._failures = 0

    def next_delay(self) -> float:
        """The next wait: doubling from `base` up to `cap`, jittered in its upper half."""
        self._failures += 1
        ceiling = min(self._cap, self._base * 2 ** min(self._failures - 1, 32))
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self._failures = 0


def retry_after_seconds(exc: RetryAfter) -> float:
    """Seconds Telegram asked us to wait, whatever PTB's int/timedelta migration state."""
    with warnings.catch_warnings():
        # PTB 22 warns on every read while `retry_after` moves from int to timedelta.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


async def sleep_unless(stopping: asyncio.Event, seconds: float) -> None:
    """Sleep, waking early when `stopping` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)
