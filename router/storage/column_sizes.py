"""How long a text may be where it is stored: read from the column definitions, so
ingest's shortening, the APIs' validation and the OpenAPI document follow a resize.

PostgreSQL refuses a `varchar(n)` value longer than n (SQLite would keep it), so every
limit on a stored text comes from here rather than from a copied number.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import InstrumentedAttribute

from router.storage.models import Customer, Identity, Message, Thread


def column_limit(*columns: InstrumentedAttribute[Any]) -> int:
    """The most characters every one of `columns` holds (the smallest `String(n)`).

    Raises:
        ValueError: none of `columns` is a bounded `String` (nothing to derive from).
    """
    lengths = [c.type.length for c in columns if isinstance(c.type, String) and c.type.length]
    if not lengths:
        raise ValueError(f"no bounded String column among {columns!r}")
    return min(lengths)


# Where a sender's display name is written (customer, identity, message author).
SENDER_NAME_COLUMNS: tuple[InstrumentedAttribute[Any], ...] = (
    Customer.name,
    Identity.display_name,
    Message.author_name,
)
# Where a message's language is written.
LANGUAGE_COLUMNS: tuple[InstrumentedAttribute[Any], ...] = (
    Message.language,
    Customer.language,
    Thread.language,
)
# An integration's message and customer ids: stored behind its token id ("17:<id>") in
# Message.external_id and Identity.address, so the API allows fewer characters than
# those columns hold; `tests/test_column_sizes.py` checks the room is there.
INTEGRATION_ID_MAX_LENGTH = 200
