"""How late the event loop runs what is due: `pasokh_event_loop_lag_seconds`.

Every request, socket and worker of a process shares its one event loop, so anything
that holds it (a slow statement of a write transaction on SQLite, which runs on the
loop; a large KB built in place; CPU saturation) delays them all. A task asks to wake
every `INTERVAL` seconds and records how much later than asked it woke.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web
from prometheus_client import Histogram

from router.core.tasks import BackgroundTasks
from router.http.keys import CONTEXT

logger = logging.getLogger("pasokh.loop_lag")

INTERVAL = 0.25


async def measure_loop_lag(lag: Histogram, interval: float = INTERVAL) -> None:
    """Record the loop's lateness into `lag` until cancelled."""
    while True:
        asked = time.perf_counter()
        await asyncio.sleep(interval)
        lag.observe(max(0.0, time.perf_counter() - asked - interval))


async def loop_lag_ctx(app: web.Application) -> AsyncIterator[None]:
    """`cleanup_ctx` entry: measures the loop's lag while the app runs."""
    tasks = BackgroundTasks(logger)
    tasks.spawn(measure_loop_lag(app[CONTEXT].metrics.event_loop_lag), "pasokh:loop-lag")
    yield
    await tasks.cancel()
