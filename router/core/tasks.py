"""Background tasks an owner starts and must not lose: referenced, logged, stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any


class BackgroundTasks:
    """The running tasks of one owner (an adapter, a worker).

    The event loop keeps only weak references to tasks, so an unreferenced task can be
    collected mid-run; this set holds them until they end. A task that fails is logged
    on the owner's logger (nobody awaits it to see the exception).
    """

    __slots__ = ("_logger", "_tasks")

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Run `coro` as a task named `name` (names say whose it is, e.g. `webchat:events`)."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    async def wait(self) -> None:
        """Wait for every running task to end by itself (the owner told them to stop)."""
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        """Cancel every running task and wait until each has ended."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._logger.error("task %s failed", task.get_name(), exc_info=task.exception())
