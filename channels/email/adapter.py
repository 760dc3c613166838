"""The email channel: an aiosmtpd server in the app's event loop, and SMTP out.

Inbound, `250` is answered only after `ingest` returned (the message is committed);
any failure on the way answers `451` so the sending server retries. A mail is parsed
in a small thread pool (hostile MIME costs seconds of CPU; the event loop keeps serving
everyone else); over the part limits it gets `552`, and whatever the parser makes of
it, the raw message is stored, so a parser bug loses nothing. Each client address
holds at most `max_sessions_per_client` sessions, and a session that sends no command
for `smtp_command_timeout` seconds gets `421` and is closed; so does one that sends more
than `smtp_junk_command_limit` commands that move no mail on (NOOPs would otherwise keep
it open for ever). When 3/4 of the sessions are open the server is busy, as Postfix
under stress: a session with no mail transaction waits at most
`smtp_busy_command_timeout` for its next command and may send one such command.
A client address (or the client a trusted relay names with XFORWARD) may start
`new_threads_per_client_per_minute` threads and hand `handoffs_per_client_per_minute`
to people a minute; beyond either its mail gets `451` and its server retries later.
Outbound goes through a relay with aiosmtplib: 4xx answers and network errors are
retried by the outbox, 5xx answers dead-letter with the server's own words.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from email.message import Message
from typing import TYPE_CHECKING, Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session, syntax

from channels.base import ChannelServices, ChannelSummary
from channels.email.bounces import BounceAddresses, delivery_failure
from channels.email.loops import Classification, classify
from channels.email.parse import (
    MailLimits,
    MailOverLimits,
    ParsedMail,
    holds_encoded_word,
    mail_address,
    parse_mail,
)
from channels.email.quotes import QuoteSplit, split_reply
from channels.email.relay import RelayPool
from channels.email.render import (
    EMAIL_TEXTS,
    our_mail_of,
    outbound_message_id,
    render_outbound,
)
from channels.email.sender_auth import SenderAuth, SenderAuthResult, SmtpPeer
from channels.email.tokens import ReplyTokens, token_candidates
from config.settings import EmailSettings
from router.core.connection_slots import ClientSlots
from router.core.email_addresses import a_labels
from router.core.messages import (
    RAW_MAIL_CONTENT_TYPE,
    RAW_MAIL_FILENAME,
    AttachmentRef,
    DeliveryResult,
    DeliveryStatus,
    InboundMessage,
    IngestResult,
    OutboundMessage,
    ProofClaim,
    ProofKind,
    RetryPolicy,
    ThreadHint,
)
from router.core.texts import TextCatalogue
from router.http.forwarded import IpAddress, TrustedProxies, client_key, parse_address

if TYPE_CHECKING:
    from aiohttp import web
    from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)

_AUTO_REPLIES = "email:auto-replies"  # the rate bucket of the auto-reply cap
# The installation's one bucket of automatic replies to unauthenticated senders.
_UNAUTHENTICATED_REPLIES = "email:unauthenticated-replies"
_INSTALLATION = "installation"

CHANNEL = "email"
UNKNOWN_SENDER = "mailer-daemon@invalid"  # RFC 6761: a name that can never be reached
MAX_RECIPIENTS = 100
# Open SMTP sessions at once; more get `421` (a sender retries later) instead of
# letting a connection flood use up the process's file descriptors.
MAX_CONNECTIONS = 256
# From this share of MAX_CONNECTIONS open the server is busy: sessions without a mail
# transaction get `smtp_busy_command_timeout` and this many junk commands, so clients
# that only hold sessions give their slots back to senders (Postfix's stress mode: 1).
BUSY_SHARE = 0.75
BUSY_JUNK_COMMAND_LIMIT = 1
# Commands that move no mail on; a repeated HELO/EHLO and any refused command count too.
_JUNK_COMMANDS = frozenset({"NOOP", "RSET", "HELP", "VRFY", "EXPN"})
_GREETINGS = frozenset({"HELO", "EHLO"})
# Threads parsing mail: CPU-bound Python shares one core anyway; more would only let
# many hostile mails slow each other (and everyone's) down at once.
PARSE_THREADS = 2
UNPARSEABLE_TEXT = "[This email could not be read. The original message is attached.]"
MAX_TEXT_CHARS = 20_000  # the new text the bot and agents read first; the raw mail has all
MAX_FULL_TEXT_CHARS = 1_000_000
# The XFORWARD attributes offered to a trusted relay (Postfix's XFORWARD_README); ADDR
# and HELO are what SPF checks, the others are accepted and not used.
XFORWARD_ATTRIBUTES = ("NAME", "ADDR", "PORT", "PROTO", "HELO", "IDENT", "SOURCE")
_XFORWARD_UNAVAILABLE = frozenset({"[UNAVAILABLE]", "[TEMPUNAVAIL]"})
_XTEXT = re.compile(r"\+([0-9A-Fa-f]{2})")


class _Counters:
    """The channel's Prometheus counters, on the app's registry when one is given."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        from prometheus_client import CollectorRegistry, Counter

        registry = registry or CollectorRegistry()
        self.received = Counter(
            "pasokh_email_received",
            "Inbound mail stored, by kind (human, auto-reply, bounce, list, ...)",
            ["kind"],
            registry=registry,
        )
        self.unparseable = Counter(
            "pasokh_email_unparseable",
            "Inbound mail stored raw because it could not be parsed",
            registry=registry,
        )
        self.refused = Counter(
            "pasokh_email_refused",
            "SMTP transactions refused, by reason",
            ["reason"],
            registry=registry,
        )
        self.sent = Counter(
            "pasokh_email_sent", "Outbound mail by outcome", ["outcome"], registry=registry
        )
        self.sender_auth = Counter(
            "pasokh_email_sender_auth",
            "Inbound mail by sender authentication (SPF/DKIM/DMARC) result",
            ["result"],
            registry=registry,
        )


# RFC 5322 atext (a dot-atom's characters); a host name's labels: letters, digits, "-".
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_PLAIN_PATH = re.compile(
    rf"<(?P<address>(?P<local>{_ATOM}(?:\.{_ATOM})*)@{_LABEL}(?:\.{_LABEL})*)>"
    r"(?:[ \t]+(?P<parameters>[A-Za-z0-9][!-~]*(?:[ \t]+[A-Za-z0-9][!-~]*)*[ \t]*)|[ \t]*)"
)


class _SmtpServer(SMTP):
    """aiosmtpd's protocol, reporting its connections so `stop()` can close them."""

    def __init__(
        self, adapter: EmailAdapter, handler: Any, *, line_limit: int, **kwargs: Any
    ) -> None:
        # RFC 5321 says 1000 octets, but senders that end lines with a bare LF send the
        # whole message as one "line"; refusing it with a 5xx would lose their mail.
        # aiosmtpd documents raising this before the SMTP class is instantiated.
        self.line_length_limit = line_limit
        self._adapter = adapter
        super().__init__(handler, **kwargs)
        self._turned_away = False
        self.client = ""  # the client address this session is counted under
        # What a trusted relay said of its own client (XFORWARD), for the next mail
        # transaction only: {attribute: value}, None when nothing was forwarded.
        self.forwarded: dict[str, str] | None = None
        self._junk_commands = 0  # since the session began or last delivered a message
        # The idle timer (see `_reset_timeout`): when the session times out, and when
        # the pending timer fires (None when none is pending).
        self._deadline = 0.0
        self._timer_at: float | None = None
        self._smtp_methods = {
            name: self._watched(name, method) for name, method in self._smtp_methods.items()
        }

    def _watched(
        self, name: str, method: Callable[[str], Awaitable[None]]
    ) -> Callable[[str], Awaitable[None]]:
        """`method` (aiosmtpd's `smtp_<name>`) counted when it moves no mail on, and
        followed by the idle timer for the state it leaves the session in."""

        @functools.wraps(method)  # keeps aiosmtpd's HELP syntax attributes
        async def command(arg: str) -> None:
            if self._moves_no_mail(name) and self._over_junk_limit():
                await self._close_for_junk()
                return
            await method(arg)
            # aiosmtpd set the timer before the command: MAIL starts a transaction (the
            # long timeout), a finished DATA ends one.
            if self.transport is not None and not self.transport.is_closing():
                self._reset_timeout()

        return command

    def _moves_no_mail(self, name: str) -> bool:
        if name in _JUNK_COMMANDS:
            return True
        # A second greeting in one session only restarts it (STARTTLS begins a new one).
        return name in _GREETINGS and self.session is not None and bool(self.session.host_name)

    def _over_junk_limit(self) -> bool:
        self._junk_commands += 1
        return self._junk_commands > self._adapter.junk_command_limit()

    async def _close_for_junk(self) -> None:
        self._adapter.junk_limit_reached(
            self.session.peer if self.session else None, self._junk_commands
        )
        await super().push("421 4.7.0 Too many commands without mail, closing connection")
        if self.transport is not None:
            self.transport.close()

    def mail_delivered(self) -> None:
        """A message got `250`: a session delivering mail is not idling."""
        self._junk_commands = 0

    def _in_transaction(self) -> bool:
        return self.envelope is not None and self.envelope.mail_from is not None

    def _reset_timeout(self, duration: float | None = None) -> None:
        # aiosmtpd calls this with no duration at the greeting and before each command,
        # `_watched` after it: two or three times a command, each cancelling a timer and
        # scheduling another. Only the deadline moves now; a timer is scheduled again
        # only when the deadline comes before the pending one fires, and a timer that
        # fires before the deadline waits for the rest (`_timeout_cb`).
        idle = duration or self._adapter.idle_timeout(in_transaction=self._in_transaction())
        self._deadline = self.loop.time() + idle
        if self._timer_at is None or self._timer_at > self._deadline:
            self._arm_timer()

    def _arm_timer(self) -> None:
        if self._timeout_handle is not None:
            self._timeout_handle.cancel()
        self._timer_at = self._deadline
        self._timeout_handle = self.loop.call_at(self._deadline, self._timeout_cb)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (A STARTTLS upgrade calls this again with `self.transport` set: not a new client.)
        if self.transport is None:
            refusal = self._adapter.admit(self, transport.get_extra_info("peername"))
            if refusal is not None:
                self._turned_away = True
                assert isinstance(transport, asyncio.WriteTransport)
                transport.write(refusal.encode() + b"\r\n")
                transport.close()
                return
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        if self._turned_away:
            return
        self._adapter.release(self)
        super().connection_lost(error)

    def _set_post_data_state(self) -> None:
        # aiosmtpd calls this when a mail transaction ends (DOT, RSET, HELO/EHLO):
        # forwarded attributes are reset then (Postfix's XFORWARD_README), so they never
        # describe a later mail of the same connection.
        super()._set_post_data_state()  # type: ignore[no-untyped-call]
        self.forwarded = None

    async def smtp_XFORWARD(self, arg: str) -> None:
        """Postfix's XFORWARD: a trusted relay names the client it received the mail
        from, so SPF judges that client and not the relay. Refused from anyone else:
        it would let a client pick the address SPF checks."""
        session = self.session
        if session is None or not self._adapter.trusted_relay(session.peer):
            await self.push("550 5.7.0 Error: insufficient XFORWARD authorization")
            return
        if self._in_transaction():
            await self.push("503 5.5.1 Error: MAIL transaction in progress")
            return
        attributes = parse_xforward(arg)
        if attributes is None:
            await self.push("501 5.5.4 Syntax: XFORWARD attribute=value...")
            return
        if self.forwarded is None:
            self.forwarded = {}
        self.forwarded.update(attributes)
        await self.push("250 2.0.0 Ok")

    @syntax("MAIL FROM: <address>", extended=" [SP <mail-parameters>]")  # aiosmtpd's HELP
    async def smtp_MAIL(self, arg: str) -> None:
        # aiosmtpd reads the address with the email package's header parser, which
        # decodes encoded words: `<ceo@=?utf-8?q?bank.ir?=>` would arrive as
        # `ceo@bank.ir`, an address the client never wrote. SMTP has no encoded words.
        if holds_encoded_word(arg):
            await self.push(self._adapter.encoded_word_refused("sender"))
            return
        await super().smtp_MAIL(arg)

    @syntax("RCPT TO: <address>", extended=" [SP <mail-parameters>]")
    async def smtp_RCPT(self, arg: str) -> None:
        if holds_encoded_word(arg):  # as in smtp_MAIL
            await self.push(self._adapter.encoded_word_refused("recipient"))
            return
        await super().smtp_RCPT(arg)

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd reads every MAIL FROM and RCPT TO path with the email package's
        # header parser (~130 us each, two per mail, on the event loop). The path nearly
        # every client sends, `<dot-atom@host.name>` and ESMTP parameters, is read here
        # to the same result; anything else (quoted local parts, comments, address
        # literals, UTF-8, no angle brackets) still goes to aiosmtpd.
        plain = _PLAIN_PATH.fullmatch(arg)
        if plain is None:
            return super()._getaddr(arg)
        address, local = plain["address"], plain["local"]
        if self.local_part_limit and len(local) > self.local_part_limit:
            return None, None
        return address, plain["parameters"] or ""

    async def smtp_DATA(self, arg: str) -> None:
        # The message body may take minutes to arrive; the short command timeout (set
        # again by aiosmtpd at the next command) would cut off a slow sender.
        self._reset_timeout(self._adapter.settings.smtp_timeout)
        await super().smtp_DATA(arg)

    def _timeout_cb(self) -> None:
        # Replaces aiosmtpd's, which closes without a word: RFC 5321 (3.8) has the
        # server say 421 first. Closing runs connection_lost, which cleans up.
        self._timer_at = None
        if self.loop.time() < self._deadline:  # a command came since the timer was set
            self._arm_timer()
            return
        transport = self.transport
        if transport is None:
            return
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            self._adapter.timed_out(self.session.peer if self.session else None)
            transport.write(b"421 4.4.2 Timed out waiting for the client, closing connection\r\n")
        transport.close()

    def eof_received(self) -> bool | None:
        if self._turned_away:
            return False
        return super().eof_received()

    async def push(self, status: Any) -> None:
        # aiosmtpd answers an oversized message itself (at MAIL FROM ... SIZE= or
        # during DATA); seeing its reply here is the one place to log and count it.
        text = status.decode("utf-8", "replace") if isinstance(status, bytes) else str(status)
        if text.startswith("552 Error:"):  # aiosmtpd's own wording; ours is "552 5.3.4"
            self._adapter.refused_oversized(self.session.peer if self.session else None)
        if _is_refusal(text) and self._over_junk_limit():
            await self._close_for_junk()  # instead of the refusal: it was one too many
            return
        await super().push(status)


class _Handler:
    """aiosmtpd hooks; all decisions live in the adapter."""

    def __init__(self, adapter: EmailAdapter) -> None:
        self._adapter = adapter

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        return self._adapter.ehlo_lines(responses, peer=session.peer)

    async def handle_MAIL(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        return self._adapter.accept_sender(envelope, address, mail_options)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        return self._adapter.accept_recipient(envelope, address, peer=session.peer)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        reply = await self._adapter.receive(
            raw,
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            peer=self._adapter.smtp_peer(
                session, server.forwarded if isinstance(server, _SmtpServer) else None
            ),
            client=server.client if isinstance(server, _SmtpServer) else "",
        )
        if reply.startswith("250") and isinstance(server, _SmtpServer):
            server.mail_delivered()
        return reply


@dataclass(frozen=True, slots=True)
class _ClientBudget:
    """One per-client budget of inbound mail: a token bucket per client address, spent
    before the mail is stored and given back when the mail turned out not to use it."""

    bucket: str  # the rate bucket's name
    per_minute: int  # its setting; 0: no limit
    reason: str  # the `pasokh_email_refused_total` label when it is spent
    refusal: str  # the SMTP reply then: temporary, so the sender's server retries
    used: Callable[[IngestResult], bool]  # whether a stored mail used its token


@dataclass(frozen=True, slots=True)
class _ReadMail:
    """One mail as the parser threads hand it back."""

    parsed: ParsedMail
    split: QuoteSplit
    kind: Classification


def _read_mail(raw: bytes, limits: MailLimits, mail_from: str, own: frozenset[str]) -> _ReadMail:
    """Parse, split off quotes and classify: all the CPU one mail costs, in one call."""
    parsed = parse_mail(raw, limits)
    kind = classify(parsed, envelope_sender=mail_from, own_addresses=own)
    return _ReadMail(parsed, split_reply(parsed.body), kind)


def _is_refusal(reply: str) -> bool:
    """Whether a reply refuses the client's command: any 5xx, and `452` (too many
    recipients, which a client could ask for again and again). `421` closes anyway and
    `451` is the server's own trouble."""
    return reply[:1] == "5" or reply[:3] == "452"


def budget_client(peer: SmtpPeer, session_client: str) -> str:
    """The key a mail's per-client budgets are counted under: the client SPF judges
    (the one a trusted relay forwarded with XFORWARD, else the connecting client), as
    every per-client limit groups addresses (`client_key`); the session's own client
    when a relay forwarded none."""
    if peer.ip:
        return client_key(peer.ip)
    return session_client or client_key(None)


def _peer_host(peer: object) -> str | None:
    """The address part of aiosmtpd's peer (a `(host, port, ...)` tuple)."""
    host = peer[0] if isinstance(peer, tuple) and peer else peer
    return None if host is None else str(host)


def _peer_address(peer: object) -> IpAddress | None:
    """The client's IP address from a socket peer name or an address; None when it is not
    an IP address."""
    return parse_address(_peer_host(peer) or "")


def parse_xforward(arg: str) -> dict[str, str] | None:
    """XFORWARD's `NAME=value ...` (xtext-decoded, names upper-cased; an unavailable
    value is ""); None when the syntax or a name is wrong."""
    attributes: dict[str, str] = {}
    for item in arg.split():
        name, equals, value = item.partition("=")
        name = name.upper()
        if not equals or name not in XFORWARD_ATTRIBUTES or len(value) > 255:
            return None
        value = _XTEXT.sub(lambda hexed: chr(int(hexed.group(1), 16)), value)
        attributes[name] = "" if value.upper() in _XFORWARD_UNAVAILABLE else value
    return attributes or None


class EmailAdapter:
    """Receives mail for the support domains over SMTP; sends replies through a relay."""

    name = CHANNEL
    # Replies carry In-Reply-To/References: the outbox reads the thread's earlier ids.
    threads_by_reference = True
    # A mail reaches the customer wherever they are: a reply they were not shown on a
    # channel that waits for them to come back may be sent here (router/core/seen.py).
    reaches_customer_away = True

    def __init__(
        self,
        settings: EmailSettings,
        *,
        secret_key: str,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
        continue_link: Callable[[OutboundMessage], str | None] | None = None,
        max_connections: int = MAX_CONNECTIONS,
        texts: TextCatalogue = EMAIL_TEXTS,
        reuse_port: bool = False,
    ) -> None:
        self.settings = settings
        # A relay's `4xx` or an outage is retried for days, as mail servers do, not
        # for the outbox's few minutes of `max_attempts`.
        self.retry_policy = RetryPolicy(
            give_up_after=settings.relay_retry_hours * 3600.0,
            backoff_max=settings.relay_retry_max_wait,
        )
        self._texts = texts  # the installation's copy of the channel's own texts
        self._reuse_port = reuse_port  # `serve --workers N`: each process listens too
        self.max_connections = max_connections
        # The router's "continue in chat" link for a mail (a signed token for the thread
        # and recipient); the channel only prints it.
        self._continue_link = continue_link
        self._secret = secret_key
        self._tokens = ReplyTokens(secret_key)
        self._bounces = BounceAddresses(secret_key)
        self._trusted_relays = TrustedProxies.of(settings.trusted_relays)
        self._sender_auth = SenderAuth(
            mode=settings.sender_auth,
            upstream_authserv_id=settings.upstream_authserv_id,
            trusted_clients=bool(settings.trusted_relays or settings.auth_user),
            resolver=settings.dns_resolver,
            timeout=settings.dns_timeout,
        )
        # In the form recipients are read in (`mail_address`): a support domain set in
        # U-labels still matches mail sent to it in A-labels, and the other way round.
        self._domains = tuple(_domain_form(d) for d in settings.domains if d.strip())
        support = settings.address.strip().lower()
        self._address = support
        self._hostname = support.rpartition("@")[2] or "localhost"
        self._own = frozenset({support, *(f"{support.split('@')[0]}@{d}" for d in self._domains)})
        self._counters = _Counters(registry)
        self._clock = clock
        self._services: ChannelServices | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[_SmtpServer] = set()
        # Sessions per client and in all: the one rule of held connections.
        self._slots = ClientSlots(
            total=max_connections, per_client=settings.max_sessions_per_client
        )
        self._limits = MailLimits(
            max_parts=settings.max_parts,
            max_decoded_bytes=settings.max_decoded_bytes,
            max_html_chars=settings.max_html_chars,
        )
        self._parsers: ThreadPoolExecutor | None = None
        self._relay = RelayPool(
            lambda: self._relay_client(timeout=settings.relay_timeout, login=True)
        )
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the SMTP server listens on (useful with `smtp_port = 0`)."""
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the email adapter is not started")
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, services: ChannelServices) -> None:
        """Listen for SMTP on `smtp_host:smtp_port` in the running event loop."""
        if self._server is not None:
            raise RuntimeError("the email adapter is already started")
        self._services = services
        self._parsers = ThreadPoolExecutor(PARSE_THREADS, thread_name_prefix="pasokh-email-parse")
        await self._sender_auth.prepare()
        loop = asyncio.get_running_loop()
        tls_context = self._tls_context()
        handler = _Handler(self)
        auth_required = bool(self.settings.auth_user)
        if auth_required and tls_context is None:
            logger.warning("SMTP AUTH without TLS: credentials travel in clear text")

        def protocol() -> _SmtpServer:
            return _SmtpServer(
                self,
                handler,
                line_limit=max(self.settings.max_message_bytes, 1001),
                data_size_limit=self.settings.max_message_bytes,
                enable_SMTPUTF8=True,
                hostname=self._hostname,
                ident="Pasokh ESMTP",
                tls_context=tls_context,
                require_starttls=False,
                auth_required=auth_required,
                auth_require_tls=tls_context is not None,
                authenticator=self._authenticate if auth_required else None,
                timeout=self.settings.smtp_command_timeout,
                loop=loop,
            )

        self._server = await loop.create_server(
            protocol,
            host=self.settings.smtp_host,
            port=self.settings.smtp_port,
            reuse_port=self._reuse_port or None,
        )
        logger.info("SMTP listening on %s:%d", self.settings.smtp_host, self.port)

    async def stop(self) -> None:
        """Stop accepting, let messages being stored finish, close idle connections."""
        await self._relay.close()
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout=30)
        except TimeoutError:
            logger.warning("SMTP stop: %d messages still being stored", self._in_flight)
        for connection in list(self._connections):
            transport = connection.transport
            if transport is not None:
                transport.close()
        await server.wait_closed()
        self._services = None
        if self._parsers is not None:
            self._parsers.shutdown(wait=False, cancel_futures=True)
            self._parsers = None

    async def close_connections(self) -> None:
        """QUIT the idle sessions to the relay."""
        await self._relay.close()

    def describe(self) -> ChannelSummary:
        settings = self.settings
        line = (
            f"email (SMTP in on {settings.smtp_host}:{settings.smtp_port} for {settings.address})"
        )
        facts: tuple[tuple[str, str | int | bool | tuple[str, ...]], ...] = (
            ("address", settings.address),
            ("domains", tuple(settings.domains)),
            (
                "relay",
                f"{settings.relay_host}:{settings.relay_port}" if settings.relay_host else "",
            ),
        )
        if settings.relay_host:
            return ChannelSummary(line, facts=facts)
        return ChannelSummary(
            line,
            facts=facts,
            missing=(
                "no outbound mail relay: replies to email customers and emailed codes "
                "cannot be sent; set [email] relay_host (PASOKH_EMAIL__RELAY_HOST), "
                "relay_port, relay_tls and relay_user / PASOKH_EMAIL__RELAY_PASSWORD",
            ),
        )

    async def probe(self) -> tuple[tuple[str, str | int | bool | tuple[str, ...]], ...]:
        """Whether the relay answers now: connect, EHLO (STARTTLS/TLS as configured), QUIT.
        Nothing is sent and no password is used; the relay's refusal is reported as is."""
        relay = self.settings
        if not relay.relay_host:
            return (("relay_answers", False), ("relay_error", "no relay configured"))
        client = self._relay_client(timeout=min(relay.relay_timeout, 5.0), login=False)
        try:
            await client.connect()
            await client.ehlo()
            await client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return (("relay_answers", False), ("relay_error", f"{type(exc).__name__}: {exc}"))
        return (("relay_answers", True),)

    def _relay_client(self, *, timeout: float, login: bool) -> aiosmtplib.SMTP:
        relay = self.settings
        return aiosmtplib.SMTP(
            hostname=relay.relay_host,
            port=relay.relay_port,
            username=(relay.relay_user or None) if login else None,
            password=(relay.relay_password or None) if login else None,
            use_tls=relay.relay_tls == "tls",
            start_tls=relay.relay_tls == "starttls",
            timeout=timeout,
            local_hostname=self._hostname,
        )

    def routes(self) -> list[web.AbstractRouteDef]:
        """Email has no HTTP routes."""
        return []

    def _tls_context(self) -> ssl.SSLContext | None:
        if not (self.settings.tls_cert and self.settings.tls_key):
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.settings.tls_cert, self.settings.tls_key)
        return context

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        # handled=False: aiosmtpd then answers 535 itself (its default, True, answers
        # nothing and leaves the client waiting).
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user_ok = hmac.compare_digest(data.login, self.settings.auth_user.encode())
        password_ok = hmac.compare_digest(data.password, self.settings.auth_password.encode())
        return AuthResult(success=user_ok and password_ok, handled=False)

    # --- inbound ------------------------------------------------------------------------

    def accept_sender(self, envelope: Envelope, address: str, options: list[str]) -> str:
        """`250`, or `553` for an envelope sender that is not UTF-8 (aiosmtpd hands such
        bytes on as lone surrogates, which no database stores: the mail would get `451`
        on every retry, for ever)."""
        if not _is_utf8(address):
            return self._malformed("sender", "553 5.1.7 Sender address is not valid UTF-8")
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    def _malformed(self, what: str, reply: str, why: str = "not valid UTF-8") -> str:
        logger.warning("SMTP %s address refused: %s", what, why)
        self._counters.refused.labels("malformed").inc()
        return reply

    def encoded_word_refused(self, what: str) -> str:
        """The `553` for an envelope address holding an encoded word (logged, counted)."""
        code = "5.1.7" if what == "sender" else "5.1.3"
        return self._malformed(
            what,
            f"553 {code} Encoded words (RFC 2047) are not allowed in an address",
            "an encoded word in it",
        )

    def accept_recipient(self, envelope: Envelope, address: str, peer: object = None) -> str:
        """`250` for an address on a support domain, `550` for anything else."""
        if not _is_utf8(address):
            return self._malformed("recipient", "553 5.1.3 Recipient address is not valid UTF-8")
        domain = _domain_form(address.strip().strip("<>").rpartition("@")[2])
        if domain not in self._domains:
            # The domain says what was tried; the mailbox is somebody's personal data.
            logger.warning(
                "SMTP recipient @%s from %s refused with 550: not a support domain",
                "".join(ch if ch.isprintable() else "?" for ch in domain[:100]),
                peer,
            )
            self._counters.refused.labels("relay").inc()
            return "550 5.7.1 Relaying denied: not a support address of this server"
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 Too many recipients"
        # In the one form addresses are compared in, as the To header's are read.
        envelope.rcpt_tos.append(mail_address(address) or address)
        return "250 OK"

    def admit(self, connection: _SmtpServer, peer: object) -> str | None:
        """Count a new session in; or the `421` reply when the server, or this client,
        has as many sessions open as it may."""
        client = client_key(_peer_host(peer))
        refusal = self._slots.admit(client)
        if refusal == "total":
            logger.warning(
                "SMTP connection from %s refused with 421: %d sessions open",
                peer,
                self.max_connections,
            )
            self._counters.refused.labels("connections").inc()
            return "421 4.7.0 Too many connections, try again later"
        if refusal == "client":
            logger.warning(
                "SMTP connection from %s refused with 421: %d sessions open from %s",
                peer,
                self.settings.max_sessions_per_client,
                client,
            )
            self._counters.refused.labels("client_sessions").inc()
            return "421 4.7.0 Too many connections from your address, try again later"
        connection.client = client
        self._connections.add(connection)
        return None

    def release(self, connection: _SmtpServer) -> None:
        """A session admitted by `admit` has ended."""
        if connection not in self._connections:
            return
        self._connections.discard(connection)
        self._slots.release(connection.client)

    def busy(self) -> bool:
        """Whether `BUSY_SHARE` of the sessions the server allows are open."""
        return len(self._connections) >= self.max_connections * BUSY_SHARE

    def idle_timeout(self, *, in_transaction: bool) -> float:
        """Seconds a session may wait for its next command: shorter when the server
        is busy and the session has no mail on the way."""
        settings = self.settings
        if self.busy() and not in_transaction:
            return min(settings.smtp_busy_command_timeout, settings.smtp_command_timeout)
        return settings.smtp_command_timeout

    def junk_command_limit(self) -> int:
        """Commands moving no mail on that a session may send (`BUSY_JUNK_COMMAND_LIMIT`
        while busy)."""
        limit = self.settings.smtp_junk_command_limit
        return min(limit, BUSY_JUNK_COMMAND_LIMIT) if self.busy() else limit

    def junk_limit_reached(self, peer: object, commands: int) -> None:
        """Log and count a session closed with `421` for commands that moved no mail."""
        logger.info(
            "SMTP session from %s closed with 421: %d commands without mail", peer, commands
        )
        self._counters.refused.labels("junk_commands").inc()

    def timed_out(self, peer: object) -> None:
        """Log and count a session closed with `421` for sending no command in time."""
        logger.info("SMTP session from %s closed with 421: no command in time", peer)
        self._counters.refused.labels("timeout").inc()

    def ehlo_lines(self, lines: list[str], *, peer: object = None) -> list[str]:
        """aiosmtpd's EHLO reply, without `AUTH` when no AUTH is configured (offering a
        login nobody can pass only invites password guessing), and with `XFORWARD` to
        a trusted relay only."""
        if not self.settings.auth_user:
            lines = [line for line in lines if not line[4:].upper().startswith("AUTH")]
        if self.trusted_relay(peer):
            lines = [*lines[:-1], f"250-XFORWARD {' '.join(XFORWARD_ATTRIBUTES)}", lines[-1]]
        return lines

    def trusted_relay(self, peer: object) -> bool:
        """Whether a session's peer is a mail server named in `trusted_relays`."""
        return self._trusted_relays.trusts(_peer_address(peer))

    def smtp_peer(self, session: Session, forwarded: dict[str, str] | None) -> SmtpPeer:
        """Who sent a mail, for the sender checks: the connecting client, or the client
        a trusted relay named with XFORWARD (its own attributes only, never mixed with
        the relay's: XFORWARD_README, note 4)."""
        relay = self.trusted_relay(session.peer)
        trusted = relay or bool(session.authenticated)
        if forwarded is not None and relay:
            address = forwarded.get("ADDR", "")
            if address[:5].upper() == "IPV6:":
                address = address[5:]
            client = _peer_address(address)
            if client is None:
                # No client address: mail submitted on the relay itself; SPF has no
                # client to judge (DKIM still can).
                return SmtpPeer(trusted=trusted)
            return SmtpPeer(ip=str(client), helo=forwarded.get("HELO") or None, trusted=trusted)
        client = _peer_address(session.peer)
        return SmtpPeer(
            ip=str(client) if client else None, helo=session.host_name or None, trusted=trusted
        )

    def refused_oversized(self, peer: object) -> None:
        """Log and count a message aiosmtpd refused with `552` (over `max_message_bytes`)."""
        logger.warning(
            "SMTP from %s refused with 552: message over %d bytes",
            peer,
            self.settings.max_message_bytes,
        )
        self._counters.refused.labels("size").inc()

    async def receive(
        self,
        raw: bytes,
        *,
        mail_from: str | None,
        rcpt_tos: tuple[str, ...],
        peer: SmtpPeer | None = None,
        client: str = "",
    ) -> str:
        """Store one received message; return the SMTP reply for its DATA command.

        `client`: the key the session's client is counted under (`client_key`), for a
        mail whose `peer` names no client address."""
        services = self._services
        if services is None:
            return "421 4.3.2 Service shutting down"
        self._in_flight += 1
        self._idle.clear()
        peer = peer or SmtpPeer()
        key = budget_client(peer, client)
        try:
            # Before the mail is parsed: a client over its budget costs no parsing.
            budgets, refusal = await self._take_client_budgets(services, key, peer)
            if refusal is not None:
                return refusal
            try:
                stored = await self._store(services, raw, mail_from or "", rcpt_tos, peer)
            except Exception:
                await self._refund_client_budgets(services, key, budgets)
                raise
            # Whether the mail started a thread or handed one to people is known only
            # now (a refused mail or a redelivery did neither): the rest goes back.
            used = [] if isinstance(stored, str) else [b for b in budgets if b.used(stored)]
            await self._refund_client_budgets(services, key, [b for b in budgets if b not in used])
            if isinstance(stored, str):
                return stored
            if stored.duplicate:
                return "250 2.0.0 OK: already stored"
            return f"250 2.0.0 OK: stored as message {stored.message_id}"
        except Exception:
            # Never 5xx for our own trouble: the sending server must keep the message.
            logger.exception("could not store an inbound email; answered 451")
            self._counters.refused.labels("storage").inc()
            return "451 4.3.0 Temporary failure storing the message, try again later"
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    async def _store(
        self,
        services: ChannelServices,
        raw: bytes,
        mail_from: str,
        rcpt_tos: tuple[str, ...],
        peer: SmtpPeer,
    ) -> str | IngestResult:
        """What ingest committed for the mail, or the SMTP reply refusing it."""
        read: _ReadMail | None = None
        failure: Exception | None = None
        try:
            read = await self._read(raw, mail_from)
        except MailOverLimits as over:
            logger.warning("SMTP from %s refused with 552: %s", peer, over)
            self._counters.refused.labels(over.kind).inc()
            return f"552 5.3.4 Message refused: {over}"
        except Exception as exc:
            failure = exc
        if read is not None and read.parsed.sender_unanswerable:
            # No reply could ever reach the From address: refuse the mail, so the sender's
            # server returns it with the reason, rather than open a thread nobody can answer.
            logger.warning("SMTP from %s refused with 550: the From address is not a mailbox", peer)
            self._counters.refused.labels("from_address").inc()
            return (
                "550 5.1.7 Message refused: the From address is not a mailbox a reply could"
                " reach (an encoded word or characters no mail domain has)"
            )
        if read is not None and await self._survey_answered(services, read):
            return "250 2.0.0 OK: survey answer recorded"
        raw_ref = await services.attachments.put(
            raw, filename=RAW_MAIL_FILENAME, content_type=RAW_MAIL_CONTENT_TYPE
        )
        if read is None:
            logger.error("unparseable email stored raw as %s", raw_ref.sha256, exc_info=failure)
            self._counters.unparseable.inc()
            message = self.unparseable_inbound(raw_ref, mail_from)
        else:
            parsed, kind = read.parsed, read.kind
            files = []
            for part in parsed.attachments:
                if part.data:
                    files.append(
                        await services.attachments.put(
                            part.data,
                            filename=part.filename,
                            content_type=part.content_type,
                            max_bytes=self.settings.max_message_bytes,
                        )
                    )
            auth = await self._sender_auth.check(raw, parsed, peer=peer, mail_from=mail_from)
            self._counters.sender_auth.labels(auth.value).inc()
            message = self.to_inbound(
                parsed,
                raw_ref=raw_ref,
                files=tuple(files),
                kind=kind,
                rcpt_tos=rcpt_tos,
                mail_from=mail_from,
                auth=auth,
                split=read.split,
            )
            self._counters.received.labels(kind.kind.value).inc()
        return await services.ingest(message)

    def _client_budgets(self) -> tuple[_ClientBudget, ...]:
        settings = self.settings
        budgets = (
            _ClientBudget(
                "email:new-threads",
                settings.new_threads_per_client_per_minute,
                "client_new_threads",
                "451 4.7.1 Too many new conversations from your address, try again later",
                lambda result: result.new_thread,
            ),
            _ClientBudget(
                "email:handoffs",
                settings.handoffs_per_client_per_minute,
                "client_handoffs",
                "451 4.7.1 Too many conversations handed to people from your address,"
                " try again later",
                lambda result: result.queued,
            ),
        )
        return tuple(budget for budget in budgets if budget.per_minute > 0)

    async def _take_client_budgets(
        self, services: ChannelServices, client: str, peer: SmtpPeer
    ) -> tuple[list[_ClientBudget], str | None]:
        """Set aside one token of each of `client`'s budgets, before the mail is stored
        (as the web chat does for hand-offs), so concurrent mails cannot all pass;
        or the `451` for the first budget that is spent (nothing is kept then).

        A temporary refusal rather than storing the mail unanswered: the sender's
        server keeps the mail and retries, so a real sender loses nothing, while a
        flood neither fills the queue nor makes customers, threads and files."""
        taken: list[_ClientBudget] = []
        for budget in self._client_budgets():
            wait = await services.limits.take(budget.bucket, client, budget.per_minute, 60.0)
            if wait:
                await self._refund_client_budgets(services, client, taken)
                logger.warning(
                    "SMTP from %s (client %s) refused with 451: more than %d mails a minute (%s)",
                    peer,
                    client,
                    budget.per_minute,
                    budget.reason,
                )
                self._counters.refused.labels(budget.reason).inc()
                return [], budget.refusal
            taken.append(budget)
        return taken, None

    @staticmethod
    async def _refund_client_budgets(
        services: ChannelServices, client: str, budgets: list[_ClientBudget]
    ) -> None:
        for budget in budgets:
            await services.limits.refund(budget.bucket, client, budget.per_minute, 60.0)

    async def _survey_answered(self, services: ChannelServices, read: _ReadMail) -> bool:
        """A reply to our survey mail that is a score alone ("5", "۵"): the survey's
        answer, handed to the router's surveys and not ingested, so it neither reopens
        the resolved thread nor waits for an agent (as a tapped score on Telegram).
        Anything else replying to it (words, a file, an auto-reply) is a message."""
        parsed = read.parsed
        if read.kind.automated or parsed.bounce is not None or parsed.attachments:
            return False
        replied = next(
            (
                found.message_id
                for ref in parsed.in_reply_to
                if (found := our_mail_of(ref, secret=self._secret)) is not None
            ),
            None,
        )
        if replied is None:
            return False
        asked = await services.conversation.message(replied)
        if asked is None or asked.survey is None:
            return False
        refusal = await services.surveys.answer_reply(asked.survey.token, read.split.new_text)
        if refusal is not None:
            logger.info("email: a reply to survey mail %s is a message (%s)", replied, refusal)
            return False
        self._counters.received.labels("survey_answer").inc()
        return True

    async def _read(self, raw: bytes, mail_from: str) -> _ReadMail:
        """`_read_mail` in the parser threads, so the event loop keeps serving."""
        if self._parsers is None:
            raise RuntimeError("the email adapter is not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._parsers, _read_mail, raw, self._limits, mail_from, self._own
        )

    def to_inbound(
        self,
        parsed: ParsedMail,
        *,
        raw_ref: AttachmentRef,
        files: tuple[AttachmentRef, ...],
        kind: Classification,
        rcpt_tos: tuple[str, ...] = (),
        mail_from: str = "",
        auth: SenderAuthResult = SenderAuthResult.OFF,
        split: QuoteSplit | None = None,
    ) -> InboundMessage:
        """The channel-neutral message for one parsed mail (`split`: its body's
        `split_reply`, when already made)."""
        split = split or split_reply(parsed.body)
        text = (split.new_text or parsed.subject)[:MAX_TEXT_CHARS]
        sender = parsed.sender or mail_address(mail_from) or UNKNOWN_SENDER
        hint = self.thread_hint(parsed, rcpt_tos)
        # A reply through a thread's verified token may prove the sender's address: the
        # router checks that it mailed that thread to this very address.
        proof = (
            ProofClaim(ProofKind.MAIL_REPLY, thread_id=hint.thread_id)
            if hint is not None and hint.thread_id is not None
            else None
        )
        return InboundMessage(
            channel=CHANNEL,
            external_id=parsed.message_id or f"sha256:{parsed.content_hash()}",
            sender_address=sender,
            sender_name=parsed.sender_name,
            text=text,
            full_text=parsed.body[:MAX_FULL_TEXT_CHARS] or None,
            subject=parsed.subject or None,
            attachments=(raw_ref, *files),
            hint=hint,
            proof=proof,
            automated=kind.automated,
            delivery_failure=delivery_failure(
                parsed,
                rcpt_tos=rcpt_tos,
                addresses=self._bounces,
                domains=self._domains,
                secret=self._secret,
            ),
            sender_authenticated=auth.authenticated,
        )

    def thread_hint(self, parsed: ParsedMail, rcpt_tos: tuple[str, ...] = ()) -> ThreadHint | None:
        """Token (verified here) and replied-to message ids; None when there is neither."""
        addresses = (*rcpt_tos, *parsed.recipients)
        found = self._tokens.find(addresses, domains=self._domains)
        token: str | None
        thread_id: int | None
        if found is not None:
            token, thread_id = found
        else:
            candidates = token_candidates(addresses, domains=self._domains)
            token, thread_id = (candidates[0] if candidates else None), None
        references: list[str] = []
        # In-Reply-To names the message answered; References newest first after it.
        for ref in (*parsed.in_reply_to, *reversed(parsed.references)):
            if ref not in references:
                references.append(ref)
        if parsed.bounce is not None and parsed.bounce.original_message_id:
            references.append(parsed.bounce.original_message_id)
        if token is None and not references:
            return None
        return ThreadHint(reply_token=token, thread_id=thread_id, references=tuple(references))

    def unparseable_inbound(self, raw_ref: AttachmentRef, mail_from: str) -> InboundMessage:
        """What agents see for mail the parser gave up on: the raw message, unanswered."""
        return InboundMessage(
            channel=CHANNEL,
            external_id=f"sha256:{raw_ref.sha256}",
            sender_address=mail_address(mail_from) or UNKNOWN_SENDER,
            text=UNPARSEABLE_TEXT,
            attachments=(raw_ref,),
            automated=True,
            # Nothing could be checked: not the customer's words for their other channels.
            sender_authenticated=None if self._sender_auth.mode == "off" else False,
        )

    # --- outbound -----------------------------------------------------------------------

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        """Render and hand one message to the relay; never raises for SMTP trouble."""
        domain = message.address.rpartition("@")[2].lower().rstrip(".")
        if domain.endswith(".invalid") or domain == "invalid" or "@" not in message.address:
            return DeliveryResult.failed(
                f"{message.address} is not a mail address (the sender had none)",
                identity_unreachable=True,
            )
        address = mail_address(message.address)
        if address is None:
            # Stored before the channel refused such addresses, or given by another
            # channel: no relay takes it, and rendering it would raise on every attempt.
            return DeliveryResult.failed(
                f"{message.address} is not a mail address a relay accepts "
                "(an encoded word or characters no mail domain has)",
                identity_unreachable=True,
            )
        if address != message.address:
            # Queued before addresses had one form (a domain in U-labels): sent, and its
            # bounce address signed, in the form a bounce report is read back in. An ASCII
            # local part then needs no SMTPUTF8 from the relay.
            message = replace(message, address=address)
        if domain in self._domains:
            # Mailing our own support domain would come straight back in: a loop.
            return DeliveryResult.failed(f"not sent to our own support domain ({domain})")
        if not self.settings.relay_host:
            return DeliveryResult.retry("no SMTP relay configured (PASOKH_EMAIL__RELAY_HOST)")
        message_id = outbound_message_id(message, secret=self._secret, domain=self._hostname)
        try:
            files = await self._attachment_bytes(message)
        except FileNotFoundError as exc:
            return DeliveryResult.failed(f"attachment missing from the store: {exc}")
        mail = render_outbound(
            message,
            from_address=self._address,
            reply_to=self._tokens.address(message.thread_id, self._address),
            message_id=message_id,
            files=files,
            continue_url=self._continue_link(message) if self._continue_link else None,
            texts=self._texts,
        )
        # A signed envelope sender per mail: only a report sent there names it verifiably.
        bounce_to = self._bounces.address(message.outbox_id, message.address, self._address)
        if message.automated and not await self._take_auto_reply(message.address):
            self._counters.sent.labels("capped").inc()
            return DeliveryResult.failed(
                f"not sent: more than {self.settings.auto_reply_cap_per_hour} automatic "
                f"replies to {message.address} within an hour (mail loop protection)"
            )
        unauthenticated = message.automated and message.answers_unauthenticated
        if unauthenticated and not await self._take_unauthenticated_reply():
            await self._refund_auto_reply(message.address)
            cap = self.settings.unauthenticated_replies_per_hour
            # The customer's mail is stored and shown to agents; only this answer stays
            # unsent (dead, with this reason), so an agent can still write to them.
            logger.warning(
                "outbox %d: automatic reply not sent: more than %d an hour to senders"
                " whose authentication did not pass",
                message.outbox_id,
                cap,
            )
            self._counters.sent.labels("capped_unauthenticated").inc()
            return DeliveryResult.failed(
                f"not sent: more than {cap} automatic replies within an hour to senders whose"
                " authentication did not pass (a forged From would make us mail anyone)"
            )
        result = await self._submit(mail, message.address, sender=bounce_to)
        if result.status == DeliveryStatus.DELIVERED:
            self._counters.sent.labels("delivered").inc()
            return DeliveryResult.delivered(message_id)
        if message.automated:
            await self._refund_auto_reply(message.address)  # not sent: it does not count
        if unauthenticated:
            await self._refund_unauthenticated_reply()
        self._counters.sent.labels(result.status).inc()
        return result

    async def _attachment_bytes(
        self, message: OutboundMessage
    ) -> list[tuple[AttachmentRef, bytes]]:
        if not message.attachments:
            return []
        if self._services is None:
            raise FileNotFoundError("attachment store unavailable: adapter not started")
        store = self._services.attachments
        return [(ref, await store.read(ref.sha256)) for ref in message.attachments]

    async def _submit(self, mail: Message, recipient: str, *, sender: str) -> DeliveryResult:
        try:
            await self._relay.send(mail, sender=sender, recipients=[recipient])
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusals = exc.recipients or []
            code = refusals[0].code if refusals else 550
            answer = "; ".join(f"{r.code} {r.message}" for r in refusals) or str(exc)
            if 400 <= code < 500:
                return DeliveryResult.retry(f"relay deferred the recipient: {answer}")
            return DeliveryResult.failed(
                f"relay refused the recipient: {answer}", identity_unreachable=True
            )
        except aiosmtplib.SMTPNotSupported as exc:
            # aiosmtplib raises it when an address needs SMTPUTF8 (non-ASCII) and the
            # relay does not offer it: no retry can change that, and retrying would
            # hold this customer's later mails behind it.
            return DeliveryResult.failed(
                f"not sent: the relay does not offer SMTPUTF8, which the address "
                f"{recipient} needs (it has non-ASCII characters) ({exc})"
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            # Our credentials, not this message: keep it until the relay is fixed.
            return DeliveryResult.retry(f"relay authentication failed: {exc.code} {exc.message}")
        except aiosmtplib.SMTPResponseException as exc:
            answer = f"{exc.code} {exc.message}"
            if 400 <= exc.code < 500:
                return DeliveryResult.retry(f"relay answered {answer}")
            return DeliveryResult.failed(f"relay answered {answer}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return DeliveryResult.retry(f"relay unreachable: {type(exc).__name__}: {exc}")
        return DeliveryResult.delivered()

    async def _take_auto_reply(self, address: str) -> bool:
        """Whether one more automatic mail to `address` fits `auto_reply_cap_per_hour`
        (counted for every process sharing the database: ChannelServices.limits)."""
        cap = self.settings.auto_reply_cap_per_hour
        if cap <= 0 or self._services is None:
            return True
        wait = await self._services.limits.take(_AUTO_REPLIES, address.lower(), cap, 3600.0)
        return wait == 0.0

    async def _refund_auto_reply(self, address: str) -> None:
        cap = self.settings.auto_reply_cap_per_hour
        if cap > 0 and self._services is not None:
            await self._services.limits.refund(_AUTO_REPLIES, address.lower(), cap, 3600.0)

    async def _take_unauthenticated_reply(self) -> bool:
        """Whether one more automatic mail to a sender whose authentication did not pass
        fits `unauthenticated_replies_per_hour`, one bucket for the whole installation
        (in the database on PostgreSQL: one row, so concurrent takes from any process
        never spend a token twice)."""
        cap = self.settings.unauthenticated_replies_per_hour
        if cap <= 0 or self._services is None:
            return True
        wait = await self._services.limits.take(
            _UNAUTHENTICATED_REPLIES, _INSTALLATION, cap, 3600.0
        )
        return wait == 0.0

    async def _refund_unauthenticated_reply(self) -> None:
        cap = self.settings.unauthenticated_replies_per_hour
        if cap > 0 and self._services is not None:
            await self._services.limits.refund(_UNAUTHENTICATED_REPLIES, _INSTALLATION, cap, 3600.0)


def _is_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _domain_form(domain: str) -> str:
    """A domain as `mail_address` writes it (A-labels), or as given when it is no host name."""
    bare = domain.strip().lower().rstrip(".")
    return a_labels(bare) or bare
