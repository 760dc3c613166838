"""The serving process keeps what start-up built out of the garbage collector's full
passes (`router.heap`), frees start-up's garbage first, and lets go when it stops."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest
from aiohttp import web

from router.heap import frozen_startup_heap


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: only the garbage collector frees it


def _tracked(obj: object) -> bool:
    """Whether one of the collector's generations holds `obj` (frozen ones are in none)."""
    return any(o is obj for o in gc.get_objects())


@pytest.fixture
def collector_by_hand() -> Iterator[None]:
    # No automatic pass in between: only the code under test may collect.
    gc.disable()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.enable()


@pytest.mark.usefixtures("collector_by_hand")
async def test_start_up_objects_are_frozen_its_garbage_freed_and_both_let_go_at_stop() -> None:
    garbage = _Node()
    freed = weakref.ref(garbage)
    del garbage
    kept = _Node()
    app = web.Application()
    app.cleanup_ctx.append(frozen_startup_heap)
    runner = web.AppRunner(app)

    await runner.setup()  # start-up
    assert freed() is None  # collected, not frozen for the process's life
    assert gc.get_freeze_count() > 0
    assert not _tracked(kept)  # out of every generation's passes

    await runner.cleanup()
    assert gc.get_freeze_count() == 0
    assert _tracked(kept)
