"""Text a database can store and an agent can read: one rule for every channel.

Pure functions on `str`; no database or channel knowledge. The router applies them to
every inbound message in `router.core.ingest`; channels and the HTTP layer use the same
pattern when they refuse such text instead.
"""

from __future__ import annotations

import hashlib
import re

# NUL is refused in PostgreSQL text and a lone surrogate cannot be encoded by either
# database: a message holding one would fail on every redelivery, for ever.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")

# Explicit bidi controls: embeddings and overrides (LRE RLE PDF LRO RLO), isolates
# (LRI RLI FSI PDI) and, in names only, the marks (LRM RLM ALM). In a name they only
# serve to make «invoice_\u202efdp.exe» read as "invoice_exe.pdf". ZWNJ (U+200C) and
# ZWJ (U+200D) are not bidi controls: Persian spelling needs ZWNJ, so both are kept.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")

ELLIPSIS = "\u2026"


def storable(value: str) -> str:
    """`value` without NUL characters, each lone surrogate shown as U+FFFD."""
    if not UNSTORABLE.search(value):
        return value
    return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))


def plain_name(value: str) -> str:
    """A name (display name, file name, subject) storable and without bidi controls."""
    return BIDI_CONTROLS.sub("", storable(value))


def fit(value: str, limit: int) -> str:
    """`value` cut to at most `limit` characters, ending in "…" when it was cut."""
    if len(value) <= limit:
        return value
    return value[: limit - 1] + ELLIPSIS


def fit_key(value: str, limit: int) -> str:
    """A lookup key (an external id, an address) within `limit` characters.

    A longer one keeps its start and ends in a hash of the whole value, so two long
    keys that differ only at the end stay different and a redelivery maps to the same
    key (dedupe keeps working).
    """
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"{value[: limit - len(digest) - 1]}~{digest}"
