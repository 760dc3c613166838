"""Typed SQLAlchemy 2.0 models. The database enforces the invariants the design names:
unique (channel, external id) for inbound messages, unique (channel, address) for
identities, and at most one open thread per customer (a partial unique index).
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from router.core.messages import utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases (SQLite would hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError(
                "naive datetime given to the database; use router.core.messages.utcnow()"
            )
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class ThreadStatus(enum.StrEnum):
    BOT = "bot"  # tier 0: the bot is handling it
    QUEUED = "queued"  # waiting for an agent at `tier`
    ASSIGNED = "assigned"  # an agent has it
    RESOLVED = "resolved"  # closed; not open


OPEN_STATUSES = (ThreadStatus.BOT, ThreadStatus.QUEUED, ThreadStatus.ASSIGNED)


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class Base(AsyncAttrs, DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON}


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    merged_into_id: Mapped[int | None] = mapped_column(
        ForeignKey("customers.id", ondelete="SET NULL")
    )
    erased_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    search_text: Mapped[str | None] = mapped_column(Text)  # see `searchable` below


class Identity(Base):
    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_identity_channel_address"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str | None] = mapped_column(String(200))
    username: Mapped[str | None] = mapped_column(String(200))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    unreachable_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    search_text: Mapped[str | None] = mapped_column(Text)  # see `searchable` below


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[int] = mapped_column(Integer, default=1)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    max_concurrent: Mapped[int] = mapped_column(Integer, default=5)
    presence: Mapped[str] = mapped_column(String(16), default="offline")
    presence_changed_at: Mapped[datetime | None]
    language: Mapped[str] = mapped_column(String(8), default="fa")
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set when an admin deactivates the agent: no sign-in, no sessions, no threads.
    deactivated_at: Mapped[datetime | None]


class Thread(Base):
    __tablename__ = "threads"
    __table_args__ = (
        Index(
            "uq_thread_open_per_customer",
            "customer_id",
            unique=True,
            sqlite_where=text("status <> 'resolved'"),
            postgresql_where=text("status <> 'resolved'"),
        ),
        Index("ix_threads_queue", "status", "tier", "priority", "queued_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=ThreadStatus.BOT)
    tier: Mapped[int] = mapped_column(Integer, default=0)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher first
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("agents.id", ondelete="SET NULL"), index=True
    )
    subject: Mapped[str | None] = mapped_column(String(500))
    language: Mapped[str | None] = mapped_column(String(8))
    last_channel: Mapped[str | None] = mapped_column(String(32))
    last_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="SET NULL")
    )
    previous_thread_id: Mapped[int | None] = mapped_column(
        ForeignKey("threads.id", ondelete="SET NULL")
    )
    resolution: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    assigned_at: Mapped[datetime | None]
    first_response_at: Mapped[datetime | None]
    last_customer_message_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    # Service-level clocks (router/service/sla.py): when the first-response and
    # resolution clocks started, the minutes they were paused, the pause under way
    # (pending or resolved), the unanswered customer message's time, and the deadlines.
    sla_started_at: Mapped[datetime | None]
    sla_paused_minutes: Mapped[float] = mapped_column(default=0.0, server_default="0")
    paused_since: Mapped[datetime | None]
    next_response_started_at: Mapped[datetime | None]
    first_response_due: Mapped[datetime | None] = mapped_column(index=True)
    next_response_due: Mapped[datetime | None] = mapped_column(index=True)
    resolution_due: Mapped[datetime | None] = mapped_column(index=True)
    # A calendar or policy changed: the SLA scheduler recomputes the deadlines.
    sla_stale: Mapped[bool] = mapped_column(default=False, server_default=false(), index=True)
    # When a survey answer at or below the low threshold flagged it for the team lead.
    low_rating_at: Mapped[datetime | None] = mapped_column(index=True)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        Index(
            "uq_message_inbound_external",
            "channel",
            "external_id",
            "identity_id",  # a channel id is the sender's choice: unique per sender
            unique=True,
            sqlite_where=text("direction = 'in'"),
            postgresql_where=text("direction = 'in'"),
        ),
        Index("ix_messages_thread", "thread_id", "id"),
        # An agent's idempotency key names one of their messages (router.core.idempotency);
        # only keyed rows are indexed.
        Index(
            "uq_messages_agent_idempotency_key",
            "agent_id",
            "idempotency_key",
            unique=True,
            sqlite_where=text("idempotency_key IS NOT NULL"),
            postgresql_where=text("idempotency_key IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    direction: Mapped[str] = mapped_column(String(4))
    author_kind: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    author_name: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(32))
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="SET NULL")
    )
    external_id: Mapped[str | None] = mapped_column(String(512))
    text: Mapped[str] = mapped_column(Text, default="")
    full_text: Mapped[str | None] = mapped_column(Text)
    subject: Mapped[str | None] = mapped_column(String(500))
    internal: Mapped[bool] = mapped_column(Boolean, default=False)
    automated: Mapped[bool] = mapped_column(Boolean, default=False)
    # Inbound: did the channel authenticate the sender (see InboundMessage)? NULL: no check.
    sender_authenticated: Mapped[bool | None] = mapped_column(Boolean)
    edit_of_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    language: Mapped[str | None] = mapped_column(String(8))
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    suggestions: Mapped[list[str]] = mapped_column(JSON, default=list)
    # A survey this message asks: {"token", "kind", "scale", "url"} (router.service.surveys).
    survey: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # The "link this chat?" question (an `identity_proofs` row) this message asks, named
    # by its buttons. No foreign key: an erased or pruned question leaves an id that
    # matches no open question, which is what a tap under it should find.
    link_question_id: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    search_text: Mapped[str | None] = mapped_column(Text)  # see `searchable` below
    # The key an agent's request carried, and the fingerprint of what it asked
    # (`router.core.idempotency`): a repeat of the request answers with this row.
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_digest: Mapped[str | None] = mapped_column(String(64))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "agent" | "integration"
    name: Mapped[str] = mapped_column(String(200))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ConsoleSession(Base):
    """A signed-in agent console (browser) session; the cookie holds the token, we its hash."""

    __tablename__ = "console_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    user_agent: Mapped[str | None] = mapped_column(String(300))
    remote: Mapped[str | None] = mapped_column(String(64))


class SignInBackoff(Base):
    """Console sign-in attempts in a row per (address, client), right or wrong until one
    succeeds. The key is an HMAC of the pair, so the table names neither."""

    __tablename__ = "sign_in_backoff"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    blocked_until: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class RateBucket(Base):
    """A token bucket of a limit every process spends from (router.core.rate_limits).
    The key is the limit's name and a hash of what it counts (an address)."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(96), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated: Mapped[float] = mapped_column(Float, index=True)  # epoch seconds
    granted: Mapped[bool] = mapped_column(Boolean)  # whether the last take was allowed


class OutboxItem(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_recipient", "channel", "address", "status", "id"),
        # A message goes to a channel once: its resend to a customer who was not shown
        # it (router/core/seen.py) is added once whichever process adds it.
        Index("uq_outbox_message_channel", "message_id", "channel", unique=True),
        # The resend pass reads one channel's rows of the last day (neither column changes).
        Index("ix_outbox_channel_created", "channel", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("identities.id", ondelete="SET NULL")
    )
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(320))
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    parts_done: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    leased_until: Mapped[datetime | None]
    leased_by: Mapped[int | None] = mapped_column(BigInteger)  # the claiming worker's id
    last_error: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
    # On a channel that keeps seen marks (the adapter's `deliveries_need_seen_mark`):
    # when a page of the customer's was shown the message; None while nobody was.
    seen_at: Mapped[datetime | None]


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    outcome: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(16))  # agent | system | customer
    actor_id: Mapped[int | None] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(64))
    thread_id: Mapped[int | None] = mapped_column(
        ForeignKey("threads.id", ondelete="SET NULL"), index=True
    )
    customer_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SlaCalendar(Base):
    """A business-hour calendar edited through the API (its JSON body, as PUT)."""

    __tablename__ = "sla_calendars"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaPolicy(Base):
    """An SLA policy edited through the API (its JSON body, as PUT)."""

    __tablename__ = "sla_policies"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaAlarm(Base):
    """A warning or breach due for one run of one clock of a thread. Unfired rows are
    replaced whenever the deadlines change; a fired row stays as the thread's record,
    and the unique key keeps a clock run from firing the same alarm twice."""

    __tablename__ = "sla_alarms"
    __table_args__ = (
        UniqueConstraint("thread_id", "target", "kind", "clock_started_at", name="uq_sla_alarm"),
        Index("ix_sla_alarms_due", "fired_at", "fire_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(16))  # first_response | next_response | resolution
    kind: Mapped[str] = mapped_column(String(8))  # warning | breach
    priority: Mapped[str] = mapped_column(String(8))
    clock_started_at: Mapped[datetime]
    due_at: Mapped[datetime]
    fire_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]


class KnowledgeGapRecord(Base):
    __tablename__ = "knowledge_gaps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))
    best_candidate: Mapped[str | None] = mapped_column(String(200))
    score: Mapped[float] = mapped_column(default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # low_confidence | suggestion_not_taken | didnt_help (router.core.responder.GapKind)
    kind: Mapped[str] = mapped_column(
        String(24), default="low_confidence", server_default="low_confidence"
    )
    entry_given: Mapped[str | None] = mapped_column(String(200))


SPENT_NONCE_KINDS = "kind IN ('continue', 'telegram_link')"


class IdentityProof(Base):
    """A pending or spent proof of an identity: a mailed code, a continue-in-chat link,
    a Telegram deep link. Only an HMAC of the secret is kept; `used_at` makes it
    one-time, `attempts` caps guessing, `expires_at` bounds its life.
    """

    __tablename__ = "identity_proofs"
    __table_args__ = (
        Index("ix_identity_proofs_requester", "requester_channel", "requester_address"),
        Index("ix_identity_proofs_target", "target_channel", "target_address"),
        # The installation's codes of the last hour (`[email] codes_per_hour`).
        Index("ix_identity_proofs_kind_created", "kind", "created_at"),
        # A link's nonce is recorded once: two requests spending it at the same time
        # cannot both succeed, on any database. (Code hashes may repeat: not included.)
        Index(
            "uq_identity_proofs_spent_nonce",
            "kind",
            "secret_hash",
            unique=True,
            sqlite_where=text(SPENT_NONCE_KINDS),
            postgresql_where=text(SPENT_NONCE_KINDS),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # email_code | continue | telegram_link
    secret_hash: Mapped[str] = mapped_column(String(64), index=True)
    requester_channel: Mapped[str | None] = mapped_column(String(32))
    requester_address: Mapped[str | None] = mapped_column(String(320))
    target_channel: Mapped[str | None] = mapped_column(String(32))
    target_address: Mapped[str | None] = mapped_column(String(320))
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ThreadEvent(Base):
    """One state change of a thread, with its time: the source of the KPI reports.

    `kind`: created, handoff, assigned, released, escalated, response (an agent's reply
    to the customer), resolved, reopened, breached (an SLA deadline passed), helped and
    not_helped (the customer's answer to the bot's "did this help?"). The attribution
    columns (agent, tier, channel, language) are the thread's at that moment, so a
    report groups by them without joins. `first` marks a thread's first hand-off,
    response and resolution; `seconds` is what the event measures (response: the
    customer's wait; resolved: since creation), `business_seconds` the same in the
    thread's business hours; `sla_met` whether the deadline in force was met; `replies`
    is the number of agent replies at a resolution; `reopened` is set on a resolution
    when its thread reopens, so a report reads it from the row instead of searching
    the thread's later events; `merged` marks a resolution that was a merge (the thread
    closed because its customer was merged into another: it measures nothing);
    `first_by_agent` marks a thread's first resolution by an agent (after the bot's, if
    the bot resolved it first: what the FCR and reopen rates are about).
    """

    __tablename__ = "thread_events"
    __table_args__ = (
        Index("ix_thread_events_kind_at", "kind", "at"),
        Index("ix_thread_events_thread_kind", "thread_id", "kind", "at"),
        Index("ix_thread_events_agent_at", "agent_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))
    actor_kind: Mapped[str] = mapped_column(String(16))  # customer | bot | agent | system
    agent_id: Mapped[int | None] = mapped_column(BigInteger)
    tier: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8))
    first: Mapped[bool] = mapped_column(Boolean, default=False)
    seconds: Mapped[float | None]
    replies: Mapped[int | None] = mapped_column(Integer)
    reopened: Mapped[bool] = mapped_column(Boolean, default=False)
    merged: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    first_by_agent: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The wait in business seconds of the thread's calendar (none kept: NULL), and
    # whether the deadline in force then was met (no deadline: NULL).
    business_seconds: Mapped[float | None]
    sla_met: Mapped[bool | None] = mapped_column(Boolean)


class SurveyAnswer(Base):
    """A satisfaction survey sent to a customer (CSAT 1-5, NPS 0-10) and its answer.

    The token is the customer's credential (only its hash is kept); `score` is NULL
    until answered. Attribution columns as in `ThreadEvent`, taken when it is sent.
    """

    __tablename__ = "survey_answers"
    __table_args__ = (
        Index("ix_survey_answers_kind_answered", "kind", "answered_at"),
        Index("ix_survey_answers_kind_created", "kind", "created_at"),  # surveys sent
        Index("ix_survey_answers_customer", "customer_id", "kind"),
        # One survey per resolution of a thread: counted once, however often answered.
        Index(
            "uq_survey_answers_thread_kind_resolution",
            "thread_id",
            "kind",
            "resolution",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    thread_id: Mapped[int] = mapped_column(ForeignKey("threads.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # csat | nps
    # Which of the thread's resolutions it asks about (1: the first).
    resolution: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    score: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    agent_id: Mapped[int | None] = mapped_column(BigInteger)
    tier: Mapped[int] = mapped_column(Integer, default=0)
    channel: Mapped[str | None] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]


class OutreachTemplate(Base):
    """A proactive message's texts per language (`router.outreach.templates`)."""

    __tablename__ = "outreach_templates"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    texts: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


def owned_unique(table: str, column: str) -> tuple[Index, Index]:
    """`column` unique per owner: per integration (`integration_id`), and among the rows
    admins made (no integration; NULLs never collide in a unique index, hence two)."""
    ours, admins = text("integration_id IS NOT NULL"), text("integration_id IS NULL")
    return (
        Index(
            f"uq_{table}_integration_{column}",
            "integration_id",
            column,
            unique=True,
            sqlite_where=ours,
            postgresql_where=ours,
        ),
        Index(
            f"uq_{table}_admin_{column}",
            column,
            unique=True,
            sqlite_where=admins,
            postgresql_where=admins,
        ),
    )


class OutreachStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    SENT = "sent"  # written to the thread and queued in the outbox
    SKIPPED = "skipped"  # not sent: `reason` says why
    CANCELLED = "cancelled"  # its purchase was deleted


class OutreachMessage(Base):
    """One proactive message to a customer: scheduled, then sent once or skipped.

    The unique idempotency key makes a repeated request find the first one, on any
    database and under concurrency. Keys, like the rows, are the integration's that
    made them (`integration_id`; None: an admin's): another integration's key is not
    theirs to find."""

    __tablename__ = "outreach_messages"
    __table_args__ = (
        Index("ix_outreach_messages_due", "status", "send_at"),
        *owned_unique("outreach_messages", "idempotency_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    # The fingerprint of the request that stored it (router.core.idempotency); NULL for
    # rows stored before it was kept, and for purchase reminders.
    request_digest: Mapped[str | None] = mapped_column(String(64))
    integration_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str | None] = mapped_column(String(32))  # as asked; None: the best one
    template: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    language: Mapped[str | None] = mapped_column(String(8))
    send_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=OutreachStatus.SCHEDULED)
    reason: Mapped[str | None] = mapped_column(String(200))
    sent_channel: Mapped[str | None] = mapped_column(String(32))
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    thread_id: Mapped[int | None] = mapped_column(ForeignKey("threads.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(index=True)


class OutreachOptOut(Base):
    """A customer who asked for no more proactive messages (support replies still go)."""

    __tablename__ = "outreach_opt_outs"

    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    via: Mapped[str] = mapped_column(String(32))  # a channel name, or "unsubscribe_link"
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Purchase(Base):
    """A product a customer bought; its warranty reminder is an `OutreachMessage`."""

    __tablename__ = "purchases"
    # Order ids are the storing integration's own (two shops may both have an "A-100").
    __table_args__ = owned_unique("purchases", "order_id")

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(200))
    integration_id: Mapped[int | None] = mapped_column(ForeignKey("api_tokens.id"))
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    product: Mapped[str] = mapped_column(String(200))
    purchased_on: Mapped[date] = mapped_column(Date)
    warranty_months: Mapped[int] = mapped_column(Integer)
    reminder_id: Mapped[int | None] = mapped_column(
        ForeignKey("outreach_messages.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerNote(Base):
    """What an agent wrote down about a customer (not about one thread)."""

    __tablename__ = "customer_notes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerTag(Base):
    """A label on a customer ("vip", "wholesale"); one row per customer and tag."""

    __tablename__ = "customer_tags"
    __table_args__ = (UniqueConstraint("customer_id", "tag", name="uq_customer_tag"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    customer_id: Mapped[int] = mapped_column(
        ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    tag: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Rows about a customer beside their identities, threads and messages, on the customer
# row itself: a merge moves them to the surviving customer, an erasure deletes them (the
# customer row stays as a tombstone, so no cascade does), an export lists them.
CUSTOMER_ROWS: tuple[Any, ...] = (  # each has `customer_id`
    CustomerNote,
    CustomerTag,
    Purchase,
    OutreachMessage,
    OutreachOptOut,
    SurveyAnswer,
)


def searchable(*parts: str | None) -> str:
    """The search column's value, and the query's: the parts normalised and tokenised as
    the FAQ does questions (one copy: `faq.normalise`), so «علي» finds «علی», «۱۲۳» finds
    «123», and «می خواهم» typed with a space is «میخواهم» as «می‌خواهم» is (the clitics
    the tokeniser glues back). Emails and usernames keep their letters (only case and
    punctuation fold). A change here needs the stored columns recomputed
    (`router.storage.fulltext.recompute_search_text`, from a migration)."""
    from faq.normalise import normalise, tokenise  # the FAQ package stays out of model imports

    return " ".join(" ".join(tokenise(normalise(p))) for p in parts if p)


@event.listens_for(Message, "before_insert")
@event.listens_for(Message, "before_update")
def _message_search_text(mapper: Any, connection: Any, message: Message) -> None:
    message.search_text = searchable(message.subject, message.text)


@event.listens_for(Customer, "before_insert")
@event.listens_for(Customer, "before_update")
def _customer_search_text(mapper: Any, connection: Any, customer: Customer) -> None:
    customer.search_text = searchable(customer.name)


def identity_searchable(address: str, display_name: str | None, username: str | None) -> str:
    """An identity's search column: its address, names, and a phone number's digits
    however it was spaced."""
    digits = "".join(c for c in searchable(address) if c.isdigit())
    return searchable(address, display_name, username, digits if len(digits) >= 5 else None)


@event.listens_for(Identity, "before_insert")
@event.listens_for(Identity, "before_update")
def _identity_search_text(mapper: Any, connection: Any, identity: Identity) -> None:
    identity.search_text = identity_searchable(
        identity.address, identity.display_name, identity.username
    )


class KbState(Base):
    """The knowledge base held in the database: one row once it has been seeded (from
    the configured file, or an import). `revision` grows with every change, so a
    process knows whether the KB it serves is current."""

    __tablename__ = "kb_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    revision: Mapped[int] = mapped_column(Integer, default=0)
    language: Mapped[str | None] = mapped_column(String(16))  # the file's `language:`
    seeded_from: Mapped[str] = mapped_column(String(1000), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KbEntry(Base):
    """One FAQ entry as the KB file would hold it (`body`: its mapping without the id)."""

    __tablename__ = "kb_entries"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)  # the order of the exported file
    version: Mapped[int] = mapped_column(Integer)  # optimistic concurrency: +1 per save
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))


class KbEntryVersion(Base):
    """Every saved version of an entry (`body` None: it was deleted), for its history."""

    __tablename__ = "kb_entry_versions"
    __table_args__ = (UniqueConstraint("entry_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    change: Mapped[str] = mapped_column(String(500))  # created | deleted | what changed
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
