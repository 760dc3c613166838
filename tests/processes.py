"""Running a real `pasokh serve` process for crash tests."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import aiohttp

from tests.support import free_port


def cpu_seconds(pid: int, *, reaped: bool = False) -> float:
    """User + system CPU seconds process `pid` and its children (`serve --workers N`)
    have used so far (Linux /proc; 0 for a process gone): on a shared machine a steadier
    figure than a rate, which moves with everyone else's load. `reaped` adds what its
    children that already exited used (a PostgreSQL server's backends come and go)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:  # a kernel without CONFIG_PROC_CHILDREN
        children = []
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    ticks = int(fields[11]) + int(fields[12])
    if reaped:
        ticks += int(fields[13]) + int(fields[14])
    own = ticks / os.sysconf("SC_CLK_TCK")
    return own + sum(cpu_seconds(int(child)) for child in children)


class ServeProcess:
    """`python -m router.cli serve` on a loopback port, killable with SIGKILL."""

    def __init__(
        self, data_dir: Path, port: int, env: dict[str, str], args: tuple[str, ...] = ()
    ) -> None:
        self.data_dir = data_dir
        self.port = port
        self.args = args  # more `serve` options, e.g. ("--workers", "2")
        # Port 0: a crash test's email channel must not collide on the shared 2525.
        self.env = {**os.environ, "PASOKH_EMAIL__SMTP_PORT": "0", **env}
        self.process: subprocess.Popen[bytes] | None = None
        self.preexec_fn: Callable[[], None] | None = None  # e.g. a lower open-file limit
        self.log_path = data_dir.parent / f"serve-{port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 90.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "router.cli",
                "serve",
                "--data-dir",
                str(self.data_dir),
                "--http-port",
                str(self.port),
                "--host",
                "127.0.0.1",
                *self.args,
            ],
            env=self.env,
            preexec_fn=self.preexec_fn,
            stdout=log,
            stderr=log,
        )
        log.close()
        try:
            await self._until_healthy(timeout)
        except BaseException:
            self.kill()  # a server that never came up must not outlive the test
            raise

    async def _until_healthy(self, timeout: float) -> None:
        assert self.process is not None
        async with asyncio.timeout(timeout), aiohttp.ClientSession() as session:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"pasokh serve exited: {self.log_path.read_text()[-2000:]}")
                try:
                    async with session.get(f"{self.url}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL: no clean-up, no flush, like a power cut for the process."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


CI_POSTGRES = Path(__file__).resolve().parent.parent / ".ci" / "start-postgres"


def start_throwaway_postgres() -> tuple[str | None, Path | None]:
    """A throwaway PostgreSQL (needs root for `runuser`): its admin URL and data dir."""
    if os.geteuid() != 0 or not CI_POSTGRES.exists():
        return None, None
    data = Path(tempfile.mkdtemp(prefix="pasokh-bench-pg-"))  # postgres must reach it
    url = subprocess.run([str(CI_POSTGRES), str(data)], check=True, capture_output=True, text=True)
    return url.stdout.strip(), data


def stop_throwaway_postgres(data: Path) -> None:
    """Stop a server from `start_throwaway_postgres` and remove its files."""
    subprocess.run([str(CI_POSTGRES), "stop", str(data)], check=False)


class OwnPostgres:
    """A PostgreSQL server of one test's own, to stop, freeze and restart at will.

    Never the shared server named by PASOKH_TEST_DATABASE_URL: stopping that one
    would break every other test. Needs root (the server runs as `postgres`).
    """

    def __init__(self) -> None:
        self.bin = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin"))[-1])
        self.data = Path(tempfile.mkdtemp(prefix="pasokh-own-pg-"))
        self.port = free_port()
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *args: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *args],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def init(self) -> None:
        """initdb with a fixed port, so a restart comes back at the same URL."""
        shutil.chown(self.data, "postgres", "postgres")
        self._as_postgres(
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust"
        )
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.data}'\nfsync = off\n"
            )
        self.start()

    def start(self) -> None:
        log = str(self.data / "server.log")
        self._as_postgres(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-l", log, "start")

    def stop(self) -> None:
        """A fast shutdown: connections are cut, new ones refused."""
        self._as_postgres(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
        )

    def pids(self) -> list[int]:
        """The postmaster and every backend (to freeze the whole server)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(
            ["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False
        ).stdout.split()
        return [postmaster, *(int(pid) for pid in children)]

    def freeze(self) -> list[int]:
        """SIGSTOP the server: it accepts TCP connections (the kernel does) but answers nothing."""
        frozen = self.pids()
        for pid in frozen:
            os.kill(pid, signal.SIGSTOP)
        return frozen

    @staticmethod
    def thaw(frozen: list[int]) -> None:
        for pid in frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    def remove(self) -> None:
        with contextlib.suppress(Exception):
            self.thaw(self.pids())
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "stop",
            ],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(self.data, ignore_errors=True)
