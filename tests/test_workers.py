"""`pasokh serve --workers N`: N processes on one port and one PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from router.storage.engine import new_engine
from tests.processes import ServeProcess
from tests.support import free_port
from tests.test_cli import pasokh

LISTENERS = (
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE application_name = 'pasokh events' AND datname = current_database()"
)


def test_workers_on_sqlite_are_refused_with_what_to_do(tmp_path: Path) -> None:
    result = pasokh(
        "serve",
        "--data-dir",
        str(tmp_path),
        "--workers",
        "2",
        "--http-port",
        str(free_port()),
        env={"PASOKH_EMAIL__ENABLED": "false", "PASOKH_DATABASE__URL": ""},
    )
    assert result.returncode == 1, result.stderr
    assert "--workers 2 needs PostgreSQL" in result.stderr
    assert "PASOKH_DATABASE__URL" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.postgresql  # refused on SQLite: test_workers_on_sqlite_are_refused_with_what_to_do
async def test_two_workers_share_the_port_and_stop_together(
    tmp_path: Path, database_url: str
) -> None:
    server = ServeProcess(
        tmp_path / "data",
        free_port(),
        {"PASOKH_DATABASE__URL": database_url, "PASOKH_EMAIL__ENABLED": "false"},
        args=("--workers", "2"),
    )
    engine = new_engine(database_url)
    try:
        await server.start()
        # Each worker keeps one bus connection: two processes serve.
        async with asyncio.timeout(60):
            while True:
                async with engine.connect() as connection:
                    if await connection.scalar(text(LISTENERS)) == 2:
                        break
                await asyncio.sleep(0.1)
        async with aiohttp.ClientSession() as session:
            for _ in range(10):  # connections land on either worker; all answer
                async with session.get(f"{server.url}/healthz") as response:
                    assert response.status == 200
        assert server.process is not None
        server.process.terminate()  # SIGTERM to the supervisor stops every worker
        assert await asyncio.to_thread(server.process.wait, 40) == 0
        async with engine.connect() as connection:
            assert await connection.scalar(text(LISTENERS)) == 0
    finally:
        server.kill()
        await engine.dispose()
