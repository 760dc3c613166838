"""The assignment worker: auto-assigns queued threads and sweeps offline agents' threads.

It wakes on the events that can change who should get what (a thread queued, released
or resolved; an agent's presence) and on a timer, since events published by another
process do not reach this one. Each pass returns unanswered threads of agents offline
past the grace period, then (when `threads.auto_assign` is on) assigns what waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from router.agents.queue import auto_assign, requeue_from_offline_agents
from router.context import AppContext
from router.core.events import AgentPresence, Event, ThreadChanged
from router.http.keys import CONTEXT
from router.storage.models import ThreadStatus

logger = logging.getLogger(__name__)


def _wakes(event: Event) -> bool:
    """Whether `event` may let auto-assignment give out a thread now."""
    if isinstance(event, ThreadChanged):
        # Queued: something to give; assigned/resolved: capacity moved. Bot threads
        # (most of the traffic) change nothing for agents.
        return event.status != ThreadStatus.BOT
    return isinstance(event, AgentPresence) and event.status == "online"


class AssignmentWorker:
    """One background task; `start()` twice raises, `stop()` when stopped does nothing."""

    def __init__(self, app: AppContext) -> None:
        self._app = app
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("assignment worker already started")
        # Subscribe before the task runs so no event published from now on is missed.
        queue = self._app.events.subscribe()
        self._task = asyncio.create_task(self._run(queue), name="pasokh:assignment")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def run_once(self) -> None:
        """One pass: the offline sweep, then auto-assignment if enabled."""
        await requeue_from_offline_agents(self._app)
        if self._app.settings.threads.auto_assign:
            await auto_assign(self._app)

    async def _run(self, queue: asyncio.Queue[Event]) -> None:
        interval = max(self._app.settings.threads.assignment_interval_seconds, 0.01)
        try:
            while True:
                try:
                    await self.run_once()
                except Exception:
                    logger.exception("assignment pass failed; trying again later")
                self._app.metrics.worker_passes.labels("assignment").inc()
                await self._wait(queue, interval, self._app.settings.threads.auto_assign)
        finally:
            self._app.events.unsubscribe(queue)

    @staticmethod
    async def _wait(queue: asyncio.Queue[Event], interval: float, self_assigning: bool) -> None:
        """Until a relevant event arrives or `interval` passes; drains what is queued.

        Without auto-assignment only the timer matters (the offline sweep waits out a
        grace period anyway); events are then just drained.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + interval
        while (remaining := deadline - loop.time()) > 0:
            try:
                async with asyncio.timeout(remaining):
                    event = await queue.get()
            except TimeoutError:
                return
            if self_assigning and _wakes(event):
                while not queue.empty():
                    queue.get_nowait()
                return


async def assignment_ctx(app: web.Application) -> AsyncIterator[None]:
    """`cleanup_ctx` entry: runs the assignment worker while the app runs."""
    worker = AssignmentWorker(app[CONTEXT])
    await worker.start()
    yield
    await worker.stop()
