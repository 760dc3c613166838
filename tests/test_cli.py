"""The `pasokh` command line, run as a real process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
