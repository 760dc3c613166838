"""The one rule for what a customer is called in the console and the API: the best
identity we know, so agents see «maryam@example.org» or «@maryam» rather than
«Customer #1».

In order: the customer's name; a name a channel gave (an email's From name, a Telegram
first name); an email address; a Telegram-style @username; a phone number. Proven
(verified) identities first within each kind. By the shape of the address, never by a
channel's name: the core names no channel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from router.core.email_addresses import shown_address
from router.storage.models import Identity

# An address with a local part, an @ and a dotted domain (the agent API checks new
# agents' addresses with the same pattern).
EMAIL_PATTERN = r"^[^@\s\u0000]+@[^@\s\u0000]+\.[^@\s\u0000]+$"  # no NUL: refused as 400 first
_EMAIL = re.compile(EMAIL_PATTERN)
_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{5,20}")


def _clean(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def customer_display_name(name: str | None, identities: Iterable[Identity]) -> str | None:
    """What to call the customer; None when nothing at all is known."""
    if _clean(name):
        return _clean(name)
    ordered = sorted(identities, key=lambda i: (not i.verified, i.id or 0))
    for pick in (
        lambda i: _clean(i.display_name),
        lambda i: shown_address(i.address) if _EMAIL.fullmatch(i.address or "") else None,
        lambda i: f"@{_clean(i.username)}" if _clean(i.username) else None,
        lambda i: i.address if _PHONE.fullmatch(i.address or "") else None,
    ):
        for identity in ordered:
            found = pick(identity)
            if found:
                return found
    return None
