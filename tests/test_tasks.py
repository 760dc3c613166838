"""The one background-task helper: tasks are kept, failures logged, cancel stops all."""

from __future__ import annotations

import asyncio
import logging

import pytest

from router.core.tasks import BackgroundTasks

logger = logging.getLogger("tests.tasks")


async def test_a_failing_task_is_logged_with_its_name(caplog: pytest.LogCaptureFixture) -> None:
    tasks = BackgroundTasks(logger)

    async def fail() -> None:
        raise RuntimeError("boom")

    task = tasks.spawn(fail(), "owner:failing")
    with caplog.at_level(logging.ERROR, logger="tests.tasks"):
        await tasks.wait()  # its done callback (which logs) runs before gather's
    assert task.done()
    [record] = [r for r in caplog.records if r.name == "tests.tasks"]
    assert record.getMessage() == "task owner:failing failed"
    assert record.exc_info is not None and str(record.exc_info[1]) == "boom"


async def test_cancel_stops_every_running_task_and_wait_lets_them_finish() -> None:
    tasks = BackgroundTasks(logger)
    started = asyncio.Event()
    finished: list[str] = []

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    async def short() -> None:
        await started.wait()
        finished.append("short")

    endless = tasks.spawn(forever(), "owner:forever")
    await started.wait()
    await asyncio.wait_for(tasks.cancel(), 5)
    assert endless.cancelled()

    tasks.spawn(short(), "owner:short")
    await asyncio.wait_for(tasks.wait(), 5)
    assert finished == ["short"]
