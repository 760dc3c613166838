"""Keep the bot token out of logs: it is part of every Bot API URL.

httpx logs each request's URL at INFO, and PTB logs its base URL at DEBUG; both
contain `bot<token>`. The filter rewrites such records on the loggers that emit them.
"""

from __future__ import annotations

import logging

# Loggers whose records may carry a Bot API URL.
_LOGGERS = ("httpx", "telegram.Bot", "telegram.ext.ExtBot", "telegram.request.HTTPXRequest")
_MASK = "<telegram-token>"


class TokenRedaction(logging.Filter):
    """A filter that replaces the token in a record's message; installed while running."""

    def __init__(self, token: str) -> None:
        super().__init__("telegram-token-redaction")
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._token:
            return True
        message = record.getMessage()
        if self._token in message:
            record.msg = message.replace(self._token, _MASK)
            record.args = None
        return True

    def install(self) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).addFilter(self)

    def remove(self) -> None:
        for name in _LOGGERS:
            logging.getLogger(name).removeFilter(self)
