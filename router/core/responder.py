"""The responder seam: plain data in, a decision out. The tier-0 bot implements it.

A responder never sees a session or a channel. Rules (business hours, "already with
an agent") are responders that wrap another responder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from router.core.messages import AuthorKind


@dataclass(frozen=True, slots=True)
class MessageView:
    """One message of a thread as the responder sees it."""

    id: int
    author: AuthorKind
    text: str
    channel: str
    created_at: datetime
    language: str | None = None
    author_name: str | None = None


@dataclass(frozen=True, slots=True)
class Staffing:
    """Who could answer the thread if it goes (or went) to people, at its tier.

    `agents` may work the tier (its agents and admins), `online` of them are online
    now; `queue_position` is the thread's place among the tier's waiting threads
    (1: next), set only while it is queued.
    """

    agents: int
    online: int
    queue_position: int | None = None


@dataclass(frozen=True, slots=True)
class ThreadContext:
    """The thread the new message landed in, with its recent messages (oldest first)."""

    thread_id: int
    customer_id: int
    status: str
    tier: int
    channel: str
    recent: tuple[MessageView, ...]
    language: str | None = None
    customer_name: str | None = None
    is_new_thread: bool = False
    automated: bool = False  # the new message is an auto-reply/bounce/list mail
    staffing: Staffing | None = None  # None: not known (then promise nothing new)


@dataclass(frozen=True, slots=True)
class KnowledgeGap:
    """A question the bot could not answer, kept so a team can see what its KB lacks."""

    text: str
    language: str | None
    best_candidate: str | None
    score: float


@dataclass(frozen=True, slots=True)
class Answer:
    """Reply to the customer; `handoff_tier` set means answer, then queue for a person."""

    text: str
    suggestions: tuple[str, ...] = ()
    language: str | None = None
    handoff_tier: int | None = None
    handoff_reason: str | None = None
    gap: KnowledgeGap | None = None


@dataclass(frozen=True, slots=True)
class HandOff:
    """Queue the thread for a person at `tier`; `text` (if any) tells the customer so."""

    reason: str
    tier: int = 1
    text: str | None = None
    language: str | None = None
    gap: KnowledgeGap | None = None


@dataclass(frozen=True, slots=True)
class Resolve:
    """Close the thread (e.g. the customer said the bot's answer helped)."""

    resolution: str
    text: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Silent:
    """Store the message, say nothing, change nothing."""

    reason: str = ""


Decision = Answer | HandOff | Resolve | Silent


class Responder(Protocol):
    """Decides what happens after a customer's message lands in a bot-handled thread.

    A responder with a true `answers_queued_threads` attribute is also asked about
    threads already queued for a person (`ctx.status` "queued"); there only a plain
    `Answer` (no hand-off) is carried out, anything else counts as `Silent`.
    """

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        """Return the decision for `new`, given the thread `ctx` (plain data only)."""
        ...


class QueueEveryThread:
    """The responder used when no bot is configured: every thread goes to tier 1."""

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        if ctx.automated:
            return Silent("automated message")
        return HandOff(reason="no bot configured", tier=1)
