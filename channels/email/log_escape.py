"""Escape control characters a client sent before they reach the server log.

aiosmtpd's logger (`mail.log`) writes what a client typed into its warnings, e.g.
"unrecognised: <command>". Raw, a terminal escape sequence there rewrites the screen
of whoever reads the log, a NUL cuts the line for some tools, and a bidi control
makes the line read differently from what it says. The filter rewrites such records
with each of those characters as a visible escape (`\\x1b`, `\\u202e`).
"""

from __future__ import annotations

import logging
import re

# aiosmtpd's own logger: every record of it may carry a client's bytes.
SMTP_LOGGER = "mail.log"

# C0 and DEL, C1, the line and paragraph separators, and the bidi controls
# (embeddings, overrides, isolates, the marks LRM RLM ALM).
_CONTROLS = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]"
)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """`text` with each control character written as its escape."""
    return _CONTROLS.sub(_escaped, text)


class ControlEscape(logging.Filter):
    """Rewrites a record whose message holds control characters; drops nothing."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape_controls(message)
        if escaped != message:
            record.msg = escaped
            record.args = None
        return True


_FILTER = ControlEscape("email-control-escape")


def install() -> None:
    """Put the filter on aiosmtpd's logger (once, however many adapters start).

    It stays there when an adapter stops: another one in the process may still be
    serving, and escaping costs nothing when there is nothing to escape.
    """
    logger = logging.getLogger(SMTP_LOGGER)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
