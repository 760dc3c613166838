"""The channel adapter seam (Rasa's InputChannel/OutputChannel split, one class)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from router.core.connection_slots import SlotBudget, connection_budget
from router.core.messages import (
    ChannelSender,
    ConversationLocation,
    ConversationMessage,
    IngestFn,
)
from router.core.proofs import (
    Claimant,
    CodeSent,
    ContinuePreview,
    LinkTap,
    ProofOptions,
    ProofRefusal,
    StartLink,
)
from router.core.rate_limits import MemoryRateLimits
from router.core.team_status import TeamStatus
from router.core.texts import ROUTER_TEXTS, TextCatalogue

if TYPE_CHECKING:
    from aiohttp import web

    from router.core.attachments import AttachmentStore
    from router.core.events import EventBus


class ChannelUnavailable(Exception):
    """The channel cannot take work right now (network down, relay refusing)."""


class ConversationReader(Protocol):
    """Read-only view of a customer's conversation, for channels that show history."""

    async def locate(self, channel: str, address: str) -> ConversationLocation | None:
        """The identity's customer and current thread; None for an unknown identity."""
        ...

    async def history(
        self, channel: str, address: str, *, after_id: int | None = None, limit: int = 50
    ) -> list[ConversationMessage]:
        """Messages (oldest first, no internal notes) of the identity's customer's threads."""
        ...

    async def message(self, message_id: int) -> ConversationMessage | None:
        """One stored message (never an internal note)."""
        ...

    async def messages_by_id(self, message_ids: Sequence[int]) -> list[ConversationMessage]:
        """The stored messages of `message_ids` in id order, internal notes left out."""
        ...


class IdentityProofs(Protocol):
    """Proofs that join a channel identity to an email address, a Telegram chat or a
    site user. Each call is one transaction; a refusal is committed too (a wrong code
    counts)."""

    def options(self) -> ProofOptions:
        """The proofs this server can take now."""
        ...

    async def request_email_code(
        self, claimant: Claimant, email: str, *, language: str | None
    ) -> CodeSent | ProofRefusal:
        """Mail a code to `email`; the answer never says whether anybody owns it."""
        ...

    async def verify_email_code(self, claimant: Claimant, code: str) -> ProofRefusal | None:
        """Check a typed code; None when the address joined the claimant's customer."""
        ...

    async def continue_from_mail(self, claimant: Claimant, token: str) -> ProofRefusal | None:
        """Spend a mail's continue token; None when its address joined the claimant."""
        ...

    async def chat_link(self, claimant: Claimant) -> StartLink | None:
        """A chat app's deep link for the claimant; None when no chat app runs here."""
        ...

    async def link_site_user(self, claimant: Claimant, user: Claimant, user_id: str) -> str | None:
        """Join the claimant to the signed-in site user `user_id` (its hash checked) and
        to that user's identity `user` (its name is ignored) on the claimant's channel;
        returns the claimant's display name, which the signed-in identity takes."""
        ...

    async def preview_continue(self, token: str) -> ContinuePreview:
        """What a continue token would join; spends nothing."""
        ...

    async def link_tap(
        self, claimant: Claimant, asked: str, question_id: int | None = None
    ) -> LinkTap:
        """What the claimant's tap on a button under the message `asked` (its text) comes
        to. `question_id`: the question the button was sent with
        (`OutboundMessage.link_question_id`); None for a button that names none, which
        is `OTHER` unless `asked` is the router's "link this chat?" question (a button
        sent before buttons named their question: refused as expired). `OPEN` only for
        the open question the button names, in time; an expired question is closed by
        the call."""
        ...


class PollLeadership(Protocol):
    """Whether this process is the one that does a job only one process may do."""

    async def acquire(self) -> bool:
        """True while this process holds (or has just taken) the right."""
        ...

    async def release(self) -> None:
        """Give the right up (a no-op when not held)."""
        ...


class Leadership(Protocol):
    """Named process-wide locks, so several processes sharing a database elect one."""

    def lock(self, name: str) -> PollLeadership:
        """The lock called `name` (the same name means the same lock in every process)."""
        ...


class SoleLeader:
    """One process, nothing to coordinate: always the leader."""

    async def acquire(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class SoleProcess:
    """Leadership for a process that runs alone (and for an adapter under test)."""

    def lock(self, name: str) -> PollLeadership:
        return SoleLeader()


class IntegrationTokens(Protocol):
    """The router's integration API tokens (they live beside the agents' tokens)."""

    async def token_id(self, token: str) -> int | None:
        """The id of a live integration token; None when unknown, revoked or another kind."""
        ...


class NoIntegrations:
    """For an adapter run without the router: no token is valid."""

    async def token_id(self, token: str) -> int | None:
        return None


class SurveyAnswers(Protocol):
    """Where a channel hands a customer's survey answer (a tapped score, a comment)."""

    async def answer(self, token: str, score: int | None, comment: str | None = None) -> str | None:
        """Record it (score None: keep the score, add the comment); None when taken,
        else why not: "invalid", "expired", "score", "comment", "no_score" (the router
        logs and counts each refusal)."""
        ...

    async def answer_reply(self, token: str, text: str) -> str | None:
        """A customer's written reply to the survey question: recorded as its score when
        the text is a score alone ("5", "۵", "٥/٥"); None when taken, else why not
        ("not_a_score", or a refusal of `answer`)."""
        ...


class NoSurveys:
    """For an adapter run without the router: no survey exists."""

    async def answer(self, token: str, score: int | None, comment: str | None = None) -> str | None:
        return "invalid"

    async def answer_reply(self, token: str, text: str) -> str | None:
        return "invalid"


class NoProofs:
    """Identity proofs for an adapter run without the router: none offered."""

    def options(self) -> ProofOptions:
        return ProofOptions(email=False, chat_link=False)

    async def request_email_code(
        self, claimant: Claimant, email: str, *, language: str | None
    ) -> CodeSent | ProofRefusal:
        return ProofRefusal("email_unavailable", "email is not available")

    async def verify_email_code(self, claimant: Claimant, code: str) -> ProofRefusal | None:
        return ProofRefusal("no_code", "no code was sent")

    async def continue_from_mail(self, claimant: Claimant, token: str) -> ProofRefusal | None:
        return ProofRefusal("invalid_token", "this link is not valid")

    async def chat_link(self, claimant: Claimant) -> StartLink | None:
        return None

    async def link_site_user(self, claimant: Claimant, user: Claimant, user_id: str) -> str | None:
        return claimant.name

    async def preview_continue(self, token: str) -> ContinuePreview:
        return ContinuePreview(address=None)

    async def link_tap(
        self, claimant: Claimant, asked: str, question_id: int | None = None
    ) -> LinkTap:
        return LinkTap.OTHER


class TeamStatusSource(Protocol):
    """Whether the team answers a channel's customers now, for a channel to show."""

    async def team_status(
        self, channel: str, language: str, address: str | None = None
    ) -> TeamStatus | None:
        """The status in `language` (a served one); None when it is not known. With the
        visitor's `address` on the channel, the status of the people their open thread
        is with (an agent chatting with them is online whatever tier 1 does)."""
        ...


class NoTeamStatus:
    """For an adapter run without the router: the status is not known."""

    async def team_status(
        self, channel: str, language: str, address: str | None = None
    ) -> TeamStatus | None:
        return None


class RateLimits(Protocol):
    """Token buckets: `capacity` tokens per `per_seconds`, bursts up to `capacity`."""

    async def take(self, name: str, key: str, capacity: int, per_seconds: float) -> float:
        """Spend one token of bucket (`name`, `key`): 0.0 when allowed, else seconds to wait."""
        ...

    async def refund(self, name: str, key: str, capacity: int, per_seconds: float) -> None:
        """Give back a token spent on something that turned out not to count."""
        ...


class SeenMarks(Protocol):
    """Where a channel whose delivery only stores a message until the customer comes
    back (`deliveries_need_seen_mark`) says that a page of theirs was shown messages."""

    async def shown(self, channel: str, message_ids: Sequence[int]) -> None:
        """Record that the customer was shown `message_ids` on `channel` (ids already
        marked are skipped; nothing is read back)."""
        ...


class NoSeenMarks:
    """For an adapter run without the router: nothing is recorded."""

    async def shown(self, channel: str, message_ids: Sequence[int]) -> None:
        return None


@dataclass(frozen=True, slots=True)
class ChannelServices:
    """What the router lends an adapter at start: the only doors into the core.

    `identity`, `leadership`, `integrations` and `team` default to "no proofs", "the
    only process", "no valid token" and "status not known", which
    is what an adapter run alone (in a test) needs; the app always passes its own.
    """

    ingest: IngestFn
    events: EventBus
    attachments: AttachmentStore
    conversation: ConversationReader
    identity: IdentityProofs = field(default_factory=NoProofs)
    leadership: Leadership = field(default_factory=SoleProcess)
    integrations: IntegrationTokens = field(default_factory=NoIntegrations)
    surveys: SurveyAnswers = field(default_factory=NoSurveys)
    team: TeamStatusSource = field(default_factory=NoTeamStatus)
    # The installation's router texts, for what a channel shows in the router's words
    # (the web chat's /continue page); the shipped ones by default.
    texts: TextCatalogue = ROUTER_TEXTS
    # Rate buckets per visitor or recipient: this process's memory by default; the app
    # passes the database's on PostgreSQL, so every process spends from one budget.
    limits: RateLimits = field(default_factory=MemoryRateLimits)
    # Seen marks (router/core/seen.py): none kept by default.
    seen: SeenMarks = field(default_factory=NoSeenMarks)
    # The long-lived sockets the process may hold in all, shared with the console's: a
    # budget of the adapter's own by default; the app passes the process's.
    sockets: SlotBudget = field(default_factory=lambda: SlotBudget(connection_budget(0)))


@dataclass(frozen=True, slots=True)
class ChannelSummary:
    """What `pasokh serve` says about a running channel when it starts."""

    line: str  # the channel and where it is reached, e.g. "webchat (widget /widget.js, ...)"
    missing: tuple[str, ...] = ()  # setup an operator still has to do for it to work fully
    # Plain facts for the console's channel status page, e.g. ("mode", "webhook"),
    # ("connected", True), ("origins", ("https://shop.example",)); values are JSON-able.
    facts: tuple[tuple[str, str | int | bool | tuple[str, ...]], ...] = ()


class ChannelAdapter(ChannelSender, Protocol):
    """One channel: receives into `ingest`, sends what the outbox hands it.

    An adapter with a true `threads_by_reference` attribute gets each outbound
    message's `references` (the thread's earlier channel ids); the others get none,
    and the outbox spares the query for them.

    Two more attributes say what the router may rely on (router/core/seen.py): a true
    `deliveries_need_seen_mark` means a delivery only stores the message until the
    customer comes back, so an agent's reply counts as read only once the adapter says
    it was shown (`ChannelServices.seen`); a true `reaches_customer_away` means a
    message sent reaches the customer wherever they are, so a reply nobody was shown
    may be sent again there. An adapter with a `retry_policy`
    attribute (a `RetryPolicy`) has its temporary failures retried for that long (a
    mail relay's deferrals, for days); the others give up after `[outbox] max_attempts`.
    """

    async def start(self, services: ChannelServices) -> None:
        """Start receiving; raise RuntimeError if already started."""
        ...

    async def stop(self) -> None:
        """Stop receiving and drain in-flight work; a no-op when stopped."""
        ...

    def routes(self) -> list[web.AbstractRouteDef]:
        """HTTP routes this channel serves (webhooks, sockets); may be empty."""
        ...

    def describe(self) -> ChannelSummary:
        """The channel's line in the start-up summary, and what its setup still lacks."""
        ...

    async def close_connections(self) -> None:
        """Close long-lived client connections (sockets) so shutdown need not wait for
        them; called when the server begins to shut down, before `stop`."""
        ...
