"""The serving process's heap: what start-up built is kept out of the garbage
collector's full passes.

CPython's full (oldest-generation) collection walks every object the collector
tracks, and it runs every few seconds under load, in the middle of whatever request
allocated last. Once `pasokh serve` has started, nearly all of those objects are
start-up's — modules, the ORM's mappers, the knowledge base's index, the channels'
SDKs: about 190,000, which one full pass took 90-110 ms of CPU to walk on the 2-vCPU
bench machine, a pause every request of the process waited out (it set the p99 of
the cross-process push, `docs/benchmarks.md`). They live as long as the server, so
they are collected once and frozen (`gc.freeze()`); later full passes walk only what
came after them (3-10 ms there). Stopping unfreezes them, so a process that goes on
after the app stops collects them as usual.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator

from aiohttp import web

logger = logging.getLogger(__name__)


async def frozen_startup_heap(_app: web.Application) -> AsyncIterator[None]:
    """Cleanup context, registered after every other one: freeze what start-up left.

    Collected first, so start-up's garbage is freed rather than frozen for good.
    """
    gc.collect()
    gc.freeze()
    logger.info(
        "start-up heap frozen: %d objects left out of full collections", gc.get_freeze_count()
    )
    yield
    gc.unfreeze()
