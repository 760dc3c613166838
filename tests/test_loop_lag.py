"""`pasokh_event_loop_lag_seconds`: a held event loop shows on /metrics."""

from __future__ import annotations

import asyncio
import re
import time

from prometheus_client import CollectorRegistry, Histogram

from config.settings import Settings
from router.loop_lag import measure_loop_lag
from tests.conftest import AppFactory
from tests.support import FakeAdapter


def late_wakes(registry: CollectorRegistry, at_least: str) -> float:
    """Wake-ups at least `at_least` seconds late (the histogram's buckets, cumulative)."""
    total = registry.get_sample_value("pasokh_event_loop_lag_seconds_count") or 0.0
    below = registry.get_sample_value("pasokh_event_loop_lag_seconds_bucket", {"le": at_least})
    return total - (below or 0.0)


async def test_a_loop_held_for_a_moment_is_counted_as_a_late_wake_up() -> None:
    registry = CollectorRegistry()
    lag = Histogram(
        "pasokh_event_loop_lag_seconds", "lag", buckets=(0.01, 0.1, 1.0), registry=registry
    )
    measuring = asyncio.create_task(measure_loop_lag(lag, interval=0.01))
    try:
        async with asyncio.timeout(10):
            while (registry.get_sample_value("pasokh_event_loop_lag_seconds_count") or 0) < 3:
                await asyncio.sleep(0.005)
        assert late_wakes(registry, "0.1") == 0  # nothing held the loop yet

        time.sleep(0.3)  # hold the loop, as a slow statement on it would

        async with asyncio.timeout(10):
            while late_wakes(registry, "0.1") < 1:
                await asyncio.sleep(0.005)
        assert late_wakes(registry, "1.0") == 0
    finally:
        measuring.cancel()


async def test_the_running_app_exports_its_loop_lag(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context = await start_app(settings, adapters=[FakeAdapter(name="web")])
    registry = context.metrics.registry
    async with asyncio.timeout(10):
        while not registry.get_sample_value("pasokh_event_loop_lag_seconds_count"):
            await asyncio.sleep(0.05)
    response = await client.get("/metrics")
    page = await response.text()
    assert re.search(r"^pasokh_event_loop_lag_seconds_count [1-9]", page, re.MULTILINE), page[:500]
