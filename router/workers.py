"""`pasokh serve --workers N`: N server processes on one port, under one supervisor.

The supervisor binds nothing and touches no database: it starts N children (`pasokh
serve` with the same arguments), each listening on the shared port with
`SO_REUSEPORT`, so the kernel spreads connections over them. A child that dies is
started again (after a pause that grows while children keep dying young); SIGTERM or
SIGINT is passed on to every child, which finish their requests and stop.

The processes share nothing but the database, so this needs PostgreSQL: the event bus,
leadership and limits between processes live there. The embedded SQLite is for one
process, and `--workers` is refused on it.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from types import FrameType

from router.storage.engine import is_sqlite

logger = logging.getLogger("pasokh.workers")

# The child's flag: "you are one of the workers, serve" (hidden from --help).
CHILD_FLAG = "--as-worker"
_YOUNG = 10.0  # seconds: a child that dies sooner did not start properly
_GIVE_UP_AFTER = 3  # young deaths in a row before the supervisor stops trying
_STOP_GRACE = 30.0  # seconds the children get to stop before SIGKILL


class WorkersRefused(Exception):
    """`--workers` cannot run with these settings; the message says why and what to do."""


def check_workers(workers: int, database_url: str) -> None:
    """Raises WorkersRefused for a worker count this installation cannot run."""
    if workers < 1:
        raise WorkersRefused(f"--workers must be 1 or more, not {workers}")
    if workers > 1 and is_sqlite(database_url):
        raise WorkersRefused(
            f"--workers {workers} needs PostgreSQL: the embedded SQLite database serves one "
            "process (set [database] url / PASOKH_DATABASE__URL to a PostgreSQL server, "
            "run `pasokh migrate`, then start again; see docs/deploy.md)"
        )


class Supervisor:
    """Keeps `workers` children of `command` running until told to stop."""

    def __init__(self, command: Sequence[str], workers: int, env: dict[str, str]) -> None:
        self._command = list(command)
        self._workers = workers
        self._env = env
        self._children: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
        self._stopping = False
        self._young_deaths = 0

    def run(self) -> int:
        """Start the children and watch them; the exit code of the whole server."""
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            for number in range(self._workers):
                self._start(number)
            return self._watch()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._stop_children()

    def _start(self, number: int) -> None:
        env = {**self._env, "PASOKH_WORKER_NUMBER": str(number)}
        child = subprocess.Popen(self._command, env=env)
        self._children[number] = (child, time.monotonic())
        logger.info("worker %d started (pid %d)", number, child.pid)

    def _watch(self) -> int:
        while not self._stopping:
            time.sleep(0.2)
            for number, (child, started) in list(self._children.items()):
                code = child.poll()
                if code is None or self._stopping:
                    continue
                young = time.monotonic() - started < _YOUNG
                self._young_deaths = self._young_deaths + 1 if young else 0
                logger.error("worker %d (pid %d) exited with %d", number, child.pid, code)
                if self._young_deaths >= _GIVE_UP_AFTER:
                    logger.error("workers keep dying at start; stopping (see the log above)")
                    return code or 1
                time.sleep(min(2.0**self._young_deaths - 1, 30.0))
                self._start(number)
        return 0

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping = True
        logger.info("stopping %d workers (%s)", len(self._children), signal.Signals(signum).name)

    def _stop_children(self) -> None:
        children = [child for child, _ in self._children.values() if child.poll() is None]
        for child in children:
            child.terminate()
        deadline = time.monotonic() + _STOP_GRACE
        for child in children:
            try:
                child.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                logger.warning("worker pid %d did not stop in time; killed", child.pid)
                child.kill()
                child.wait()


def child_command(argv: Sequence[str]) -> list[str]:
    """The command line of one worker: this serve command, marked as a child."""
    return [sys.executable, "-m", "router.cli", *argv, CHILD_FLAG]


def supervise(argv: Sequence[str], workers: int) -> int:
    """Run `workers` children of `pasokh serve argv`; returns the exit code."""
    env = {**os.environ, "PASOKH_SERVER__WORKERS": str(workers)}
    return Supervisor(child_command(argv), workers, env).run()
