"""An injected clock for report tests: every module of the app that took
`router.core.messages.utcnow` reads the test's clock instead."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import pytest

from router.core import messages


class Clock:
    """A clock that moves only when told: `advance(seconds=...)`, `at(offset)`."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> datetime:
        """Move to `seconds` after the start (never back) and return the time."""
        moved = self.start + timedelta(seconds=seconds)
        assert moved >= self.now, "the clock only moves forward"
        self.now = moved
        return moved


def install_clock(monkeypatch: pytest.MonkeyPatch, start: datetime) -> Clock:
    clock = Clock(start)
    original = messages.utcnow
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] in ("router", "channels", "bot") and (
            getattr(module, "utcnow", None) is original
        ):
            monkeypatch.setattr(module, "utcnow", clock)
    return clock


MONDAY_9AM = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
