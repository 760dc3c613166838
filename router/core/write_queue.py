"""The write transactions waiting to commit together on SQLite.

Only the data: `router.core.transaction.write` fills the queue and its writer task
empties it, a group of waiting works at a time in one transaction.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(eq=False)
class QueuedWrite:
    """One caller's work, and where its outcome is handed back after the COMMIT."""

    work: Callable[..., Awaitable[Any]]
    done: asyncio.Future[Any]


@dataclass(eq=False)
class WriteQueue:
    """The works waiting, in arrival order, and the task committing them (None when
    nothing waits: the next caller starts one)."""

    waiting: deque[QueuedWrite] = field(default_factory=deque)
    writer: asyncio.Task[None] | None = None
