"""Keep the bot token out of logs: it is part of every Bot API URL.

httpx logs each request's URL at INFO, and PTB logs its base URL at DEBUG; both
contain `bot<token>`. The filter rewrites such records on the loggers that emit them,
this channel's own included (it logs PTB's exception texts); `scrub` does the same
for error texts that go into the database.
"""

from __future__ import annotations

import logging
import re

# Loggers whose records may carry a Bot API URL.
_LOGGERS = (
    "httpx",
    "telegram.Bot",
    "telegram.ext.ExtBot",
    "telegram.request.HTTPXRequest",
    "channels.telegram.adapter",
    "channels.telegram.polling",
    "channels.telegram.inbound",
)
_MASK = "<telegram-token>"


class TokenRedaction(logging.Filter):
    """A filter that replaces the token in a record's message; installed while running."""

    def __init__(self, token: str) -> None:
        super().__init__("telegram-token-redaction")
        # Case-insensitive: PTB capitalises error texts (lowering the rest of them).
        self._pattern = re.compile(re.escape(token), re.IGNORECASE) if token else None

    def scrub(self, text: str) -> str:
        """`text` with the token masked."""
        return self._pattern.sub(_MASK, text) if self._pattern else text

    def _carries_token(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if self._carries_token(message):
            record.msg = self.scrub(message)
            record.args = None
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and self._carries_token(str(error)):
            # A traceback would print the exception's text again: keep only the masked line.
            record.msg = f"{self.scrub(message)} ({self.scrub(str(error))})"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        return True

    def install(self) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).removeFilter(self)
