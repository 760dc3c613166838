"""Prometheus metrics, on a registry of the app's own (no process-global state)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds a customer waits for a person: half a minute to a week.
HUMAN_WAIT_BUCKETS = (30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800)


@dataclass
class Metrics:
    """Every metric Pasokh exports; one instance per app."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.messages_ingested = Counter(
            "pasokh_messages_ingested", "Inbound messages stored", ["channel"], registry=r
        )
        self.messages_duplicate = Counter(
            "pasokh_messages_duplicate", "Redelivered inbound messages", ["channel"], registry=r
        )
        self.ingest_latency = Histogram(
            "pasokh_ingest_seconds",
            "Time from ingest call to commit",
            ["channel"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.ingest_errors = Counter(
            "pasokh_ingest_errors", "Ingests that failed", ["channel"], registry=r
        )
        self.inbound_altered = Counter(
            "pasokh_inbound_altered",
            "Inbound messages changed to be storable, by reason (unstorable, too_long,"
            " bidi_control, file_name, data_error)",
            ["channel", "reason"],
            registry=r,
        )
        self.outbox_depth = Gauge(
            "pasokh_outbox_depth", "Outbox rows waiting for delivery", registry=r
        )
        self.deliveries = Counter(
            "pasokh_deliveries", "Delivery attempts by outcome", ["channel", "outcome"], registry=r
        )
        self.delivery_failures = Counter(
            "pasokh_delivery_failures", "Messages dead-lettered", ["channel"], registry=r
        )
        self.rejected_input = Counter(
            "pasokh_rejected_input", "Inbound input refused", ["channel", "reason"], registry=r
        )
        self.delivery_reports = Counter(
            "pasokh_delivery_reports",
            "Reports of failed delivery (bounces): verified when they name a message we sent "
            "to the failed address, unverified (ignored) otherwise",
            ["channel", "verdict"],
            registry=r,
        )
        self.database_unavailable = Counter(
            "pasokh_database_unavailable",
            "Work refused because the database could not serve (down, frozen, locked, full)",
            ["where"],
            registry=r,
        )
        self.identity_codes_refused = Counter(
            "pasokh_identity_codes_refused",
            "Email verification codes refused by the router's limits, by reason (requester,"
            " recipient, installation: the hour's codes are spent; strangers: only the part"
            " kept for known addresses is left)",
            ["reason"],
            registry=r,
        )
        self.console_refused = Counter(
            "pasokh_console_refused",
            "Console sockets refused, by error code (too_many_session_sockets: the session"
            " holds its sockets already; server_busy: the process holds every socket it may)",
            ["code"],
            registry=r,
        )
        self.console_sockets = Gauge(
            "pasokh_console_sockets", "Agent console sockets open in this process", registry=r
        )
        self.bot_decisions = Counter(
            "pasokh_bot_decisions", "Responder decisions", ["decision"], registry=r
        )
        # Observed when the event commits; wall-clock seconds (docs/reports.md).
        self.first_response_seconds = Histogram(
            "pasokh_first_response_seconds",
            "From a thread's hand-off to its first agent reply to the customer",
            ["channel", "tier"],
            buckets=HUMAN_WAIT_BUCKETS,
            registry=r,
        )
        self.resolution_seconds = Histogram(
            "pasokh_resolution_seconds",
            "From a thread's creation to its resolution, by who resolved it (agent, bot)",
            ["by"],
            buckets=HUMAN_WAIT_BUCKETS,
            registry=r,
        )
        # A survey's first answer, once; a changed answer is not counted again.
        self.survey_answers = Counter(
            "pasokh_survey_answers",
            "Survey answers by kind (csat, nps) and score",
            ["kind", "score"],
            registry=r,
        )
        self.sla_breaches = Counter(
            "pasokh_sla_breaches",
            "Service-level targets breached, by target and the thread's priority",
            ["target", "priority"],
            registry=r,
        )
        self.sla_warnings = Counter(
            "pasokh_sla_warnings",
            "Service-level targets nearly breached (warning_percent elapsed)",
            ["target", "priority"],
            registry=r,
        )
        # A pass counted whether or not it found work: a flat line means a stuck worker.
        self.outreach_messages = Counter(
            "pasokh_outreach_messages",
            "Outreach messages scheduled, sent and skipped, by template, channel and "
            "outcome (scheduled, sent, skipped:<reason>, opted_out)",
            ["template", "channel", "outcome"],
            registry=r,
        )
        self.worker_passes = Counter(
            "pasokh_worker_passes",
            "Passes finished by the background workers (outbox, assignment)",
            ["worker"],
            registry=r,
        )
        self.event_loop_lag = Histogram(
            "pasokh_event_loop_lag_seconds",
            "How much later than asked the event loop woke a timer (router/loop_lag.py)",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        # The PostgreSQL event bus between processes (docs/deploy.md).
        self.shared_events = Counter(
            "pasokh_shared_events",
            "Events on the bus between processes: sent, received, too_large, undecodable,"
            " dropped (the outgoing queue was full), reconnects",
            ["outcome"],
            registry=r,
        )
