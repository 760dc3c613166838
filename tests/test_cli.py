"""The `pasokh` command line, run as a real process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from router.core.messages import utcnow
from router.storage.engine import new_engine
from router.storage.models import Agent, ConsoleSession
from tests.support import postgres_admin_url

pytestmark = pytest.mark.slow  # each test starts `pasokh` processes


def pasokh(
    *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "router.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


# Seven `pasokh` processes in a row, each importing for seconds of CPU: 104 and 121 s in
# whole PostgreSQL runs on a loaded two-core machine, past the default 120 s.
@pytest.mark.timeout(300)
def test_agents_and_integrations_on_one_installation(tmp_path: Path, database_url: str) -> None:
    data = str(tmp_path / "inst")
    env = {"PASOKH_DATABASE__URL": database_url} if postgres_admin_url() else {}
    added = pasokh(
        "agent",
        "add",
        "Sara@Example.com",
        "--name",
        "سارا",
        "--tier",
        "2",
        "--admin",
        "--password-stdin",
        "--data-dir",
        data,
        stdin="correct horse\n",
        env=env,
    )
    assert added.returncode == 0, added.stderr
    listed = pasokh("agent", "list", "--data-dir", data, env=env)
    assert "sara@example.com" in listed.stdout and "tier 2" in listed.stdout
    token = pasokh("agent", "token", "sara@example.com", "--data-dir", data, env=env)
    assert token.returncode == 0 and token.stdout.startswith("pk_agent_")
    integration = pasokh("integration", "add", "crm", "--data-dir", data, env=env)
    assert integration.stdout.strip().startswith("pk_int_")
    assert (
        integration.stdout.strip()
        not in (tmp_path / "inst").joinpath("pasokh.db").read_bytes().decode("latin-1")
        if not env
        else True
    )

    duplicate = pasokh(
        "agent",
        "add",
        "sara@example.com",
        "--name",
        "x",
        "--password-stdin",
        "--data-dir",
        data,
        stdin="another pass\n",
        env=env,
    )
    assert duplicate.returncode == 1 and "already exists" in duplicate.stderr
    short = pasokh(
        "agent",
        "add",
        "b@example.com",
        "--name",
        "b",
        "--password-stdin",
        "--data-dir",
        data,
        stdin="short\n",
        env=env,
    )
    assert short.returncode == 1 and "8 to 1024 characters" in short.stderr
    missing = pasokh("agent", "token", "nobody@example.com", "--data-dir", data, env=env)
    assert missing.returncode == 1 and "no agent" in missing.stderr


def test_a_new_password_ends_the_agents_console_sessions_and_a_deactivated_agent_gets_no_token(
    tmp_path: Path, database_url: str
) -> None:
    data = tmp_path / "inst"
    env = {"PASOKH_DATABASE__URL": database_url} if postgres_admin_url() else {}
    url = database_url if env else f"sqlite+aiosqlite:///{data / 'pasokh.db'}"
    added = pasokh(
        "agent", "add", "sara@example.com", "--name", "Sara", "--password-stdin",
        "--data-dir", str(data), stdin="old password\n", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr

    async def on_database(change: str) -> list[datetime | None]:
        engine = new_engine(url)
        try:
            async with engine.begin() as connection:
                agent_id = (await connection.execute(select(Agent.id))).scalar_one()
                if change == "sign in twice":
                    now = utcnow()
                    for n in range(2):
                        await connection.execute(
                            insert(ConsoleSession).values(
                                token_hash=f"session-{n}",
                                agent_id=agent_id,
                                created_at=now,
                                expires_at=now + timedelta(hours=1),
                            )
                        )
                elif change == "deactivate":
                    await connection.execute(
                        update(Agent).where(Agent.id == agent_id).values(deactivated_at=utcnow())
                    )
                rows = await connection.execute(select(ConsoleSession.revoked_at))
                return [revoked for (revoked,) in rows]
        finally:
            await engine.dispose()

    assert asyncio.run(on_database("sign in twice")) == [None, None]
    changed = pasokh(
        "agent", "passwd", "sara@example.com", "--password-stdin", "--data-dir", str(data),
        stdin="new password\n", env=env,
    )  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert "2 console session(s) ended" in changed.stdout
    assert all(revoked is not None for revoked in asyncio.run(on_database("look")))

    asyncio.run(on_database("deactivate"))
    token = pasokh("agent", "token", "sara@example.com", "--data-dir", str(data), env=env)
    assert token.returncode == 1 and "deactivated" in token.stderr and not token.stdout


def test_configuration_error_exits_nonzero_naming_key(tmp_path: Path) -> None:
    result = pasokh(
        "serve", "--data-dir", str(tmp_path), env={"PASOKH_SERVER__HTTP_PORT": "not-a-port"}
    )
    assert result.returncode == 2
    assert "PASOKH_SERVER__HTTP_PORT" in result.stderr and "not-a-port" in result.stderr


def test_agent_add_without_a_terminal_or_a_password_says_what_to_do(tmp_path: Path) -> None:
    data = str(tmp_path / "inst")
    result = pasokh("agent", "add", "a@example.com", "--name", "A", "--data-dir", data)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "--password-stdin" in result.stderr
    empty = pasokh("integration", "add", " ", "--data-dir", data)
    assert empty.returncode == 1 and "needs a name" in empty.stderr and not empty.stdout


def test_serve_on_a_taken_port_says_so_without_a_traceback(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = pasokh(
            "serve",
            "--data-dir",
            str(tmp_path),
            "--http-port",
            str(port),
            env={"PASOKH_EMAIL__ENABLED": "false"},
        )
    assert result.returncode == 1
    assert "pasokh: cannot start: " in result.stderr and str(port) in result.stderr
    assert "Traceback" not in result.stderr


def test_migrate_command(tmp_path: Path) -> None:
    result = pasokh("migrate", "--data-dir", str(tmp_path / "m"))
    assert result.returncode == 0 and (tmp_path / "m" / "pasokh.db").exists()
