"""The responder seam: plain data in, a decision out. The tier-0 bot implements it.

A responder never sees a session or a channel. Rules (business hours, "already with
an agent") are responders that wrap another responder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, cast

from router.core.messages import AuthorKind
from router.service.calendars import BusinessCalendar


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
class ProofStep:
    """What the identity step did with a proof in the new message, for the identity
    dialogue to answer in place of the bot.

    `outcome` is one of: address_saved, link_confirm, link_refused, linked,
    link_declined, verified, wrong_code (with `remaining` tries), locked, code_sent
    (with `email`).
    """

    outcome: str
    email: str | None = None
    remaining: int | None = None
    question_id: int | None = None  # link_confirm: the question asked


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
    # Set by the identity step, answered by the identity dialogue around the bot: the
    # message was a proof step (a bot never sees a context with one), and whether the
    # router may ask for an email address should the thread go to people now.
    proof_step: ProofStep | None = None
    may_ask_email: bool = False
    # The hours of the team that answers the thread (its SLA policy's calendar, else the
    # default one); None: no hours kept, so "when will a person answer" follows staffing.
    calendar: BusinessCalendar | None = None


class GapKind(StrEnum):
    """Why a question counts as a gap in the KB."""

    LOW_CONFIDENCE = "low_confidence"  # handed off: no entry was close enough
    SUGGESTION_NOT_TAKEN = "suggestion_not_taken"  # offered choices, none was picked
    DIDNT_HELP = "didnt_help"  # answered, and the customer said it did not help


@dataclass(frozen=True, slots=True)
class KnowledgeGap:
    """A question the bot could not answer, kept so a team can see what its KB lacks.

    `entry_given` is the entry the customer was shown (the answer that did not help,
    the first choice offered); `best_candidate` the matcher's best guess.
    """

    text: str
    language: str | None
    best_candidate: str | None
    score: float
    kind: GapKind = GapKind.LOW_CONFIDENCE
    entry_given: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """Reply to the customer; `handoff_tier` set means answer, then queue for a person."""

    text: str
    suggestions: tuple[str, ...] = ()
    language: str | None = None
    handoff_tier: int | None = None
    handoff_reason: str | None = None
    gap: KnowledgeGap | None = None
    # what this message showed about the bot's previous turn (a suggestion not taken)
    previous_gap: KnowledgeGap | None = None
    # The same answer naming when a person will answer, "{when}" left for a rule that
    # knows the team's hours to fill (the bot's queued reminder); None: no such form.
    text_at_opening: str | None = None


@dataclass(frozen=True, slots=True)
class HandOff:
    """Queue the thread for a person at `tier`; `text` (if any) tells the customer so."""

    reason: str
    tier: int = 1
    text: str | None = None
    language: str | None = None
    gap: KnowledgeGap | None = None
    # what this message showed about the bot's previous turn ("it didn't help")
    previous_gap: KnowledgeGap | None = None


# The resolution of a thread the bot closes because the customer said its answer helped.
HELPED_RESOLUTION = "bot_deflected"


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


@dataclass(frozen=True, slots=True)
class SystemReply:
    """The router's own words (author "system", not the bot): the answer to a proof
    step, or a question after `after`, the decision carried out first."""

    text: str
    suggestions: tuple[str, ...] = ()
    language: str | None = None
    after: Answer | HandOff | Resolve | Silent | None = None
    link_question_id: int | None = None  # the text asks this "link this chat?" question


Decision = Answer | HandOff | Resolve | Silent | SystemReply


def helped_answer(decision: Decision | None) -> bool | None:
    """The customer's answer to the bot's "did this help?" that `decision` acts on: yes
    (the bot resolves with `HELPED_RESOLUTION`), no (a hand-off because it did not
    help), or None (the message answered no such question)."""
    if isinstance(decision, SystemReply):
        return helped_answer(decision.after)
    if isinstance(decision, Resolve):
        return True if decision.resolution == HELPED_RESOLUTION else None
    if isinstance(decision, HandOff) and decision.previous_gap is not None:
        return False if decision.previous_gap.kind == GapKind.DIDNT_HELP else None
    return None


@dataclass(frozen=True, slots=True)
class KbSuggestion:
    """A knowledge-base answer offered to an agent for a customer's message (agent
    assist): the entry, its closest phrasing, its answer in `language`, the score."""

    entry_id: str
    question: str
    answer: str
    language: str
    score: float


class Responder(Protocol):
    """Decides what happens after a customer's message lands in a bot-handled thread.

    A responder with a true `answers_queued_threads` attribute is also asked about
    threads already queued for a person (`ctx.status` "queued"); there only a plain
    `Answer` (no hand-off) is carried out, anything else counts as `Silent`. One with a
    `queued_silence(text)` method says there, from a message's text alone, when its
    decision would be a `Silent` whatever the thread holds (returning it; None
    otherwise): the router then neither reads the thread's context nor asks `respond`.
    """

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        """Return the decision for `new`, given the thread `ctx` (plain data only)."""
        ...


class RuleAround:
    """A rule wrapped around another responder (the design's "rules wrap the bot"):
    passes the inner responder's start, stop, `answers_queued_threads` and
    `queued_silence` through, so a subclass only writes `respond` (one that changes a
    `Silent` on a queued thread would override `queued_silence` too)."""

    inner: Responder

    @property
    def answers_queued_threads(self) -> bool:
        return bool(getattr(self.inner, "answers_queued_threads", False))

    def queued_silence(self, text: str) -> Decision | None:
        settle = getattr(self.inner, "queued_silence", None)
        return None if settle is None else cast(Decision | None, settle(text))

    async def start(self) -> None:
        start = getattr(self.inner, "start", None)
        if start is not None:
            await start()

    async def stop(self) -> None:
        stop = getattr(self.inner, "stop", None)
        if stop is not None:
            await stop()

    async def suggest(
        self, text: str, language: str | None, limit: int
    ) -> tuple[KbSuggestion, ...]:
        return await suggestions_of(self.inner, text, language, limit)


async def suggestions_of(
    responder: object, text: str, language: str | None, limit: int
) -> tuple[KbSuggestion, ...]:
    """The knowledge-base answers `responder` (a bot, or a rule around one) offers for
    `text`, best first; none when no responder in the chain knows a KB."""
    suggest = getattr(responder, "suggest", None)
    if suggest is None:
        return ()
    found: tuple[KbSuggestion, ...] = await suggest(text, language, limit)
    return found


class QueueEveryThread:
    """The responder used when no bot is configured: every thread goes to tier 1."""

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        if ctx.automated:
            return Silent("automated message")
        return HandOff(reason="no bot configured", tier=1)
