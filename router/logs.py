"""Logging set-up: one line per event, text or JSON; bodies never at INFO.

Log messages quote what clients sent (request paths, SMTP commands, file names, a
webhook's body). Raw, a newline there forges a log line of its own, a terminal escape
sequence rewrites the screen of whoever reads the log, a NUL cuts the line for some
tools, and a bidi control makes the line read differently from what it says. So both
formats write every control character of a message as a visible escape (`\\x0a`,
`\\x1b`, `\\u202e`): the one rule, for every logger.
"""

from __future__ import annotations

import json
import logging
import re
import sys

# C0 and DEL, C1, the line and paragraph separators, and the bidi controls
# (embeddings, overrides, isolates, the marks LRM RLM ALM).
_CONTROLS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]"
)
# The same, but a traceback keeps its own line breaks.
_CONTROLS_BUT_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]"
)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` with each control character written as its escape."""
    return _CONTROLS.sub(_escaped, text)


class TextFormatter(logging.Formatter):
    """`<time> <level> <logger>: <message>`, the message on one line whatever it quotes;
    a traceback follows on lines of its own, escaped but for its line breaks."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        # Called by `format` with `record.message` just set; what `format` appends
        # after it (the exception, the stack) goes through the two methods below.
        # `record` itself is left alone: other handlers may format it too.
        message = escape_controls(record.message)
        if message != record.message:
            record = logging.makeLogRecord({**record.__dict__, "message": message})
        return super().formatMessage(record)

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        return _CONTROLS_BUT_NEWLINE.sub(_escaped, super().formatException(ei))

    def formatStack(self, stack_info: str) -> str:
        return _CONTROLS_BUT_NEWLINE.sub(_escaped, super().formatStack(stack_info))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        # JSON escapes C0 itself; the rest of the controls become `\uXXXX` escapes
        # too, which a JSON reader decodes back to what was logged.
        line = json.dumps(entry, ensure_ascii=False)
        return _CONTROLS.sub(lambda match: f"\\u{ord(match.group()):04x}", line)


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    """Root logging to stderr in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # aiohttp's access log and the SQL echo are noisy at INFO; they stay at WARNING.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # aiosmtpd logs every SMTP command, envelope addresses included, at INFO: personal
    # data. Its warnings (bad commands, limits) still show.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
