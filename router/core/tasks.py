"""Background tasks an owner starts and must not lose: referenced, logged, stopped."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol


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


class _PassCounter(Protocol):
    def labels(self, name: str) -> Any: ...


async def run_passes(
    one_pass: Callable[[], Awaitable[None]],
    interval: float,
    *,
    name: str,
    logger: logging.Logger,
    passes: _PassCounter,
) -> None:
    """Run `one_pass` every `interval` seconds until cancelled (a periodic job's loop).

    A pass that fails is logged and the next one comes on time: one bad row must not
    stop the job for the life of the process. Each pass is counted under `name`
    (`pasokh_worker_passes`), which is also what tests wait on.
    """
    interval = max(interval, 0.01)
    while True:
        try:
            await one_pass()
        except Exception:
            logger.exception("%s pass failed; trying again later", name)
        passes.labels(name).inc()
        await asyncio.sleep(interval)
