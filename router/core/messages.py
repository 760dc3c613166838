"""The channel-neutral message model: what adapters hand to the router and get back.

Adapters import only this module (and `router.core.events` for pushes); they never see
threads, agents or the database.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol


class Direction(enum.StrEnum):
    INBOUND = "in"
    OUTBOUND = "out"


class AuthorKind(enum.StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


def utcnow() -> datetime:
    """Aware UTC now; every timestamp Pasokh stores is aware UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    """A file in the content-addressed attachment store (see `router.core.attachments`)."""

    sha256: str
    filename: str
    content_type: str
    size: int


# The copy of a whole received mail the email channel stores as the first file of each
# mail's message, so agents can read it as it came (the console's "Show the original
# mail"); the customer sent no such file, and the web chat does not show it back to them.
RAW_MAIL_FILENAME = "message.eml"
RAW_MAIL_CONTENT_TYPE = "message/rfc822"


def is_raw_mail_copy(ref: AttachmentRef) -> bool:
    """Whether `ref` is the email channel's copy of a received mail as a whole."""
    return ref.content_type == RAW_MAIL_CONTENT_TYPE and ref.filename == RAW_MAIL_FILENAME


@dataclass(frozen=True, slots=True)
class SurveyOffer:
    """A satisfaction survey a message asks; the channel renders its scale.

    Args:
        token: the answer's credential, for `POST /api/v1/surveys/{token}`.
        kind: "csat" (scores 1 to `scale`) or "nps" (0 to `scale`).
        scale: the highest score.
        url: the rating page of this survey (`?score=N` answers with N), for channels
            that can only link (email).
    """

    token: str
    kind: str
    scale: int
    url: str

    def scores(self) -> range:
        """The scores a customer may give, lowest first."""
        return survey_scores(self.kind, self.scale)


def survey_scores(kind: str, scale: int) -> range:
    """The scores of a survey, lowest first: NPS from 0, CSAT from 1, up to `scale`."""
    return range(0 if kind == "nps" else 1, scale + 1)


@dataclass(frozen=True, slots=True)
class ThreadHint:
    """What a channel found that may name an existing thread; the router decides.

    Args:
        reply_token: a keyed token the channel extracted (email `support+<token>@`).
        thread_id: the thread the token verifies to, if the adapter could verify it.
        references: channel message ids this message replies to (`In-Reply-To`, `References`).
    """

    reply_token: str | None = None
    thread_id: int | None = None
    references: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliveryFailure:
    """A channel's report that something we sent did not arrive (an email bounce).

    Args:
        addresses: the recipients that failed, on the reporting channel.
        external_id: the channel id of our message that failed (its Message-ID).
        reason: the remote server's answer, shown to agents.
        permanent: False for a delay report ("will keep trying").
        outbox_id: the outbox row the report names by a key only we can make (email:
            the signed bounce address of that one mail, or its signed Message-ID),
            verified by the channel; known before the send is recorded.

    A report counts only for a recipient we really sent the named message to: anyone can
    mail us a report naming anybody.
    """

    addresses: tuple[str, ...]
    external_id: str | None = None
    reason: str | None = None
    permanent: bool = True
    outbox_id: int | None = None


class ProofKind(enum.StrEnum):
    # A token from a link the router made (the widget's Telegram deep link, `/start
    # <token>`): whoever sends it may be the identity the token names; asked, not joined.
    LINK_TOKEN = "link_token"
    # A reply through the keyed reply token of a thread whose mail went to the sender's
    # address: proves the address once the router finds it really mailed it there.
    MAIL_REPLY = "mail_reply"
    # A tap on a button under the router's "link this chat?" question, naming the
    # question it was sent with: it answers that question only, never a newer one.
    LINK_ANSWER = "link_answer"


@dataclass(frozen=True, slots=True)
class ProofClaim:
    """A proof the channel found in a message, in its own syntax, made channel-neutral.

    The channel parses; the router judges (`router.identity.proofs`): a claim is never
    trusted as it stands.

    Args:
        kind: what is claimed.
        token: `LINK_TOKEN`: the token as sent.
        thread_id: `MAIL_REPLY`: the thread the (verified) reply token names.
        question_id: `LINK_ANSWER`: the question the tapped button was sent with.
    """

    kind: ProofKind
    token: str | None = None
    thread_id: int | None = None
    question_id: int | None = None


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One message as a channel adapter normalised it.

    `external_id` is the channel's own id and the dedupe key: a redelivery carries the
    same one (Message-ID, Telegram update id, web chat client id, API sender id).
    """

    channel: str
    external_id: str
    sender_address: str
    text: str
    sender_name: str | None = None
    attachments: tuple[AttachmentRef, ...] = ()
    hint: ThreadHint | None = None
    language: str | None = None
    # utcnow looked up when a message arrives, not bound here: a clock injected into this
    # module (the report tests' scripted days) then stamps mail as it does everything else
    received_at: datetime = field(default_factory=lambda: utcnow())
    subject: str | None = None
    full_text: str | None = None  # e.g. an email with its quoted history, for agents
    automated: bool = False  # auto-replies, bounces, lists: store, never answer
    edit_of: str | None = None  # external id of the message this one edits
    sender_verified: bool = False  # the channel vouches for the sender (Telegram user id)
    delivery_failure: DeliveryFailure | None = None  # this message reports a failed delivery
    sender_username: str | None = None  # the sender's handle on the channel (Telegram @name)
    # Other addresses the channel vouches belong to the sender, as (channel, address):
    # ("phone", "+98912...") for a Telegram contact the user shared of themselves.
    proven_addresses: tuple[tuple[str, str], ...] = ()
    # Whether the channel authenticated the sender's address for this message (email:
    # SPF/DKIM/DMARC). None: the channel makes no such check. False: anyone may have
    # written it, so it is never shown as the customer's own words in another channel.
    sender_authenticated: bool | None = None
    proof: ProofClaim | None = None  # a proof the channel found in the message
    # The sender reads and answers in this conversation as it happens (a chat, not a
    # mail): the router may put a question to them here and take a typed code back.
    conversational: bool = False
    # The channel found no identity of the sender's when it last looked (a web chat
    # visitor whose socket has no customer yet): the ingest writes the sender's identity
    # first and looks them up only when it finds it stored meanwhile. A hint: wrong, it
    # costs two statements more, never a message lost or stored twice.
    sender_unknown: bool = False


@dataclass(frozen=True, slots=True)
class IngestResult:
    """What `ingest` committed. `duplicate` is true when this was a redelivery."""

    message_id: int
    thread_id: int
    customer_id: int
    duplicate: bool = False
    queued: bool = False  # this message put its thread in the agents' queue (a hand-off)
    new_thread: bool = False  # this message started a thread (a first, or a new conversation)
    # Its transaction created the customer: nothing was stored for them before it.
    new_customer: bool = False


class IngestFailed(RuntimeError):
    """The message could not be stored; the channel must not acknowledge it."""


# Raises IngestFailed when the database kept refusing (nothing was committed).
IngestFn = Callable[[InboundMessage], Awaitable[IngestResult]]


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """A message to deliver on one channel, rendered by that channel's adapter.

    `references` lists the channel message ids of the thread's earlier messages on this
    channel (oldest first) so that email can build `In-Reply-To`/`References`; it is
    filled only for a channel whose adapter has `threads_by_reference` set, as is
    `answers_unauthenticated`.
    """

    outbox_id: int
    message_id: int
    thread_id: int
    channel: str
    address: str
    text: str
    author: AuthorKind
    author_name: str | None = None
    suggestions: tuple[str, ...] = ()
    attachments: tuple[AttachmentRef, ...] = ()
    language: str | None = None
    subject: str | None = None
    references: tuple[str, ...] = ()
    automated: bool = True  # written by the bot/system rather than a person
    parts_done: int = 0  # parts of a split message delivered by an earlier attempt
    # A proactive message: the one-click link that opts its reader out (RFC 8058).
    unsubscribe_url: str | None = None
    survey: SurveyOffer | None = None  # the message asks the customer to rate the service
    # The message asks the router's "link this chat?" question (its id): a channel with
    # buttons names it in theirs, so a tap answers this question and no later one.
    link_question_id: int | None = None
    # The customer's mail it follows did not pass sender authentication (its From may
    # be forged): an automatic answer is capped and does not echo that mail's subject.
    answers_unauthenticated: bool = False


class DeliveryStatus(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # temporary failure: try again later
    FAILED = "failed"  # permanent failure: dead-letter, do not retry


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """What an adapter's `send` reports back to the outbox worker."""

    status: DeliveryStatus
    external_id: str | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds the channel asked us to wait
    identity_unreachable: bool = False  # the recipient cannot be reached on this identity
    parts_done: int | None = None  # a split message: how many parts are out (for a retry)
    # A channel that keeps seen marks (router/core/seen.py): a page of the customer's
    # was shown the message as it was sent.
    seen: bool = False

    @classmethod
    def delivered(cls, external_id: str | None = None, *, seen: bool = False) -> DeliveryResult:
        return cls(DeliveryStatus.DELIVERED, external_id=external_id, seen=seen)

    @classmethod
    def retry(
        cls, error: str, retry_after: float | None = None, *, parts_done: int | None = None
    ) -> DeliveryResult:
        return cls(
            DeliveryStatus.RETRY, error=error, retry_after=retry_after, parts_done=parts_done
        )

    @classmethod
    def failed(cls, error: str, *, identity_unreachable: bool = False) -> DeliveryResult:
        return cls(DeliveryStatus.FAILED, error=error, identity_unreachable=identity_unreachable)


@dataclass(frozen=True, slots=True)
class ConversationMessage:
    """A message of a customer's conversation as a channel may show it back to them."""

    id: int
    thread_id: int
    author: AuthorKind
    text: str
    channel: str
    created_at: datetime
    author_name: str | None = None
    suggestions: tuple[str, ...] = ()
    attachments: tuple[AttachmentRef, ...] = ()
    survey: SurveyOffer | None = None


@dataclass(frozen=True, slots=True)
class ConversationLocation:
    """Which customer and open (or latest) thread an identity belongs to."""

    customer_id: int
    thread_id: int | None
    identity_id: int


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How long a channel's temporary failures (`DeliveryStatus.RETRY`) are retried.

    A channel whose peer queues mail for days (an SMTP relay deferring with `4xx`, as
    Postfix keeps deferred mail for `maximal_queue_lifetime`, 5 days) declares one as
    its `retry_policy` attribute; a channel without one gives up after the outbox's
    `max_attempts`. A row is given up on only when both its time (`give_up_after`
    seconds since it was queued) and `max_attempts` are spent, so a dead letter an
    admin puts back still gets its `max_attempts` tries.
    """

    give_up_after: float  # seconds since the row was queued
    backoff_max: float  # the longest wait between two tries, in seconds


class ChannelSender(Protocol):
    """The outbound half of a channel: all the outbox worker needs."""

    name: str

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Deliver one outbound message; never raise for channel errors."""
        ...


def wants_seen_mark(author: AuthorKind, survey: SurveyOffer | None) -> bool:
    """Whether a message may be resent when not shown: an agent's reply or a survey.
    (Bot answers are not: the customer was there when the bot answered.)"""
    return author == AuthorKind.AGENT or survey is not None
