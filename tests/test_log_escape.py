"""One escaping rule for the server log (router/logs.py): whatever a client sends (a
request path, an SMTP command, a file name) cannot forge a log line, move the cursor
or reverse what the line says, in the text format and in JSON."""

from __future__ import annotations

import json
import logging
import re
import sys
from pathlib import Path

from router.core.responder import QueueEveryThread
from router.logs import JsonFormatter, TextFormatter
from tests.conftest import AppFactory
from tests.support import make_settings, server_log

# Where every real record of the text format begins.
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ [\w.]+: ")
FORGED = "2026-11-30 11:30:00,000 INFO router.console: console sign-in agent=5"


def record(message: str, *args: object, exc_info: bool = False) -> logging.LogRecord:
    return logging.LogRecord(
        "test", logging.WARNING, __file__, 1, message, args, sys.exc_info() if exc_info else None
    )


def test_the_text_format_escapes_every_control_of_the_message() -> None:
    line = TextFormatter().format(
        record("%r unrecognised: %s", ("192.0.2.1", 25), "a\x9bb\u202ec\u2066d\u2028e\nf\x1b[31m")
    )
    assert line.endswith(
        "('192.0.2.1', 25) unrecognised: a\\x9bb\\u202ec\\u2066d\\u2028e\\x0af\\x1b[31m"
    )


def test_a_traceback_keeps_its_lines_and_loses_its_escapes() -> None:
    try:
        raise ValueError("bad name \x1b[2J\u202e")
    except ValueError:
        line = TextFormatter().format(record("failed for %s", "x\ny", exc_info=True))
    first, *rest = line.splitlines()
    assert first.endswith("failed for x\\x0ay")
    assert rest[0] == "Traceback (most recent call last):"
    assert rest[-1] == "ValueError: bad name \\x1b[2J\\u202e"


def test_the_json_format_has_no_raw_control_and_reads_back_as_logged() -> None:
    message = "a\x9bb\u202ec\u2028d\ne\x1b"
    line = JsonFormatter().format(record("%s", message))
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u202e]", line)
    assert json.loads(line)["message"] == message


async def test_a_newline_in_a_url_path_cannot_forge_a_log_line(
    tmp_path: Path, database_url: str, start_app: AppFactory
) -> None:
    settings = make_settings(tmp_path / "data", database_url)
    client, _ = await start_app(settings, responder=QueueEveryThread())
    path = "/api/v1/webchat/files/abc%0a" + FORGED.replace(" ", "%20") + "%0d%1b%5b31mRED"
    with server_log() as log:
        async with client.get(path) as answer:
            assert answer.status == 401
    lines = log.getvalue().splitlines()
    refused = [line for line in lines if "web chat refused" in line]
    assert len(refused) == 1
    assert "abc\\x0a" + FORGED + "\\x0d\\x1b[31mRED" in refused[0]
    assert all(RECORD_START.match(line) for line in lines), lines
    assert not any("\x1b" in line or "\r" in line for line in lines)
