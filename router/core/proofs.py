"""Identity proofs as a channel sees them: who asks, and the plain answers.

The router produces these (`router.identity.service`); channels receive them through
`channels.base.IdentityProofs` and never see a row, a session or a router exception.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Claimant:
    """Who a proof is made for: the asking person's identity on a channel."""

    channel: str
    address: str
    name: str | None = None
    verified: bool = False


class LinkTap(enum.StrEnum):
    """What a tap on a button under a message comes to, for the "link this chat?"
    question (the router asks it when a chat app user opens a visitor's chat link)."""

    OTHER = "other"  # not that question's button: the channel ingests the tap as usual
    OPEN = "open"  # the question is open and in time: ingested, the tap answers it
    # Either of these: the tap is acknowledged and dropped, for it is no message to the
    # bot or the team (a second tap on "yes" would otherwise reach the bot as a question).
    CLOSED = "closed"  # no question open: answered (tapped or typed), or never asked
    REPLACED = "replaced"  # a newer question is open: the tap is under an older one
    EXPIRED = "expired"  # not answered in time: closed now, as a late answer closes it


@dataclass(frozen=True, slots=True)
class ProofRefusal:
    """A proof step was refused; `code` names why (safe to show the customer)."""

    code: str
    message: str
    remaining_attempts: int | None = None


@dataclass(frozen=True, slots=True)
class CodeSent:
    """A code was mailed (or, to say nothing about the address, seemed to be)."""

    expires_in: int  # seconds
    attempts: int


@dataclass(frozen=True, slots=True)
class StartLink:
    """A deep link that opens a chat app and links the chat there when it is opened."""

    url: str
    start: str
    expires_in: int  # seconds


@dataclass(frozen=True, slots=True)
class ContinuePreview:
    """What a mail's continue link would join, before anything is joined.

    `address` is None for a link that is invalid or expired; `spent` for one used already.
    """

    address: str | None
    spent: bool = False


@dataclass(frozen=True, slots=True)
class ProofOptions:
    """Which ways of proving who one is this server offers."""

    email: bool
    chat_link: bool


class ChatLinks(Protocol):
    """A chat app's deep links carrying a payload (Telegram: `t.me/<bot>?start=<payload>`);
    the composition root hands the core the channel that makes them."""

    def deep_link(self, payload: str) -> str | None:
        """The link that opens the chat with `payload`; None while the app is unreachable."""
        ...


class NoChatLinks:
    """No chat app runs here: the widget offers no deep link."""

    def deep_link(self, payload: str) -> str | None:
        return None
