"""Helpers for email tests: an aiosmtpd server playing the relay, smtplib in a thread."""

from __future__ import annotations

import asyncio
import smtplib
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from config.settings import Settings

# The address the app receives at in tests; its domain carries the reply tokens.
SUPPORT = "support@support.localhost"


@dataclass(frozen=True)
class RelayedMail:
    """One message the fake relay accepted."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    mail_options: tuple[str, ...] = ()  # MAIL FROM's parameters, e.g. "BODY=8BITMIME"

    @property
    def message(self) -> EmailMessage:
        return parse_message(self.data)


def parse_message(data: bytes, *, utf8: bool = False) -> EmailMessage:
    """A mail's bytes parsed as mail clients read them (`utf8`: raw UTF-8 headers, as
    RFC 6532 lets mail to an internationalised address carry them)."""
    parsed = BytesParser(policy=policy.SMTPUTF8 if utf8 else policy.default).parsebytes(data)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _opened() -> asyncio.Event:
    event = asyncio.Event()
    event.set()
    return event


@dataclass
class FakeRelay:
    """A real SMTP server on loopback that records mail or answers what it is told.

    `mail_replies` / `rcpt_replies` / `data_replies` are consumed in order before the
    relay accepts. `sessions` holds every SMTP session a client opened, in order.
    """

    received: list[RelayedMail] = field(default_factory=list)
    mail_replies: list[str] = field(default_factory=list)
    rcpt_replies: list[str] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    smtputf8: bool = True  # whether EHLO offers SMTPUTF8 (internationalised addresses)
    eight_bit_mime: bool = True  # whether EHLO offers 8BITMIME
    sessions: list[SMTP] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _answering: asyncio.Event = field(default_factory=_opened)

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does itself when there is no hook
        if self.eight_bit_mime:
            return responses
        return [line for line in responses if line[4:].upper() != "8BITMIME"]

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.mail_replies:
            return self.mail_replies.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        self.received.append(
            RelayedMail(
                str(envelope.mail_from),
                tuple(envelope.rcpt_tos),
                envelope.original_content or b"",
                tuple(envelope.mail_options),
            )
        )
        self._arrived.set()
        await self._answering.wait()
        return "250 2.0.0 queued"

    def hold_answers(self) -> None:
        """Keep the mail that arrives from now on without answering its DATA, as a relay
        that passed it on before its answer reached the sender."""
        self._answering.clear()

    def release_answers(self) -> None:
        self._answering.set()

    async def start(self) -> int:
        loop = asyncio.get_running_loop()

        def session() -> SMTP:
            smtp = SMTP(self, hostname="relay.test", enable_SMTPUTF8=self.smtputf8, loop=loop)
            self.sessions.append(smtp)
            return smtp

        self._server = await loop.create_server(session, host="127.0.0.1", port=0)
        return self.port

    def drop_sessions(self) -> None:
        """Close every open session from the relay's side, without a word (as a relay
        that restarts, or times out idle clients, does)."""
        for smtp in self.sessions:
            if smtp.transport is not None:
                smtp.transport.close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        self.release_answers()  # a test that failed while holding them
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def wait_for(self, count: int, seconds: float = 10.0) -> list[RelayedMail]:
        """Wait until at least `count` mails arrived."""
        async with asyncio.timeout(seconds):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.received


class DeferringRelay(FakeRelay):
    """Answers `451` to DATA while `deferring`, and at RCPT to the addresses in
    `defer_only`; otherwise accepts like the plain fake relay."""

    def __init__(self) -> None:
        super().__init__()
        self.deferring = True
        self.defer_only: set[str] = set()
        self.deferred = 0
        self.deferred_event = asyncio.Event()

    def _defer(self) -> str:
        self.deferred += 1
        self.deferred_event.set()
        return "451 4.3.0 Try again later"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address in self.defer_only:
            return self._defer()
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.deferring:
            return self._defer()
        return await super().handle_DATA(server, session, envelope)

    async def wait_deferred(self, count: int, seconds: float = 20.0) -> None:
        async with asyncio.timeout(seconds):
            while self.deferred < count:
                self.deferred_event.clear()
                await self.deferred_event.wait()


def _send_blocking(
    port: int,
    mail_from: str,
    rcpt_tos: list[str],
    data: bytes,
    source: str,
    options: list[str],
    xforward: str | None,
) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30, source_address=(source, 0)) as client:
        if xforward is not None:
            client.ehlo()
            code, reply = client.docmd("XFORWARD", xforward)
            if code != 250:
                raise smtplib.SMTPResponseException(code, reply)
        return client.sendmail(mail_from, rcpt_tos, data, mail_options=options)


async def smtp_send(
    port: int,
    data: bytes,
    *,
    mail_from: str,
    to: list[str],
    source: str = "127.0.0.1",
    smtputf8: bool = False,
    xforward: str | None = None,
) -> None:
    """Send raw bytes with Python's smtplib (in a thread); smtplib errors propagate.

    `source` is the client's own address: any of 127/8 works on Linux loopback, so a
    test can play two different clients. `smtputf8`: with the SMTPUTF8 option (for
    internationalised addresses); `xforward`: the attributes of an XFORWARD command sent
    first, as a relay such as Postfix does.
    """
    options = ["SMTPUTF8", "BODY=8BITMIME"] if smtputf8 else []
    await asyncio.to_thread(_send_blocking, port, mail_from, to, data, source, options, xforward)


def make_mail(
    *,
    sender: str = "Sara <sara@example.ir>",
    to: str = "support@support.localhost",
    subject: str = "وضعیت سفارش",
    body: str = "سفارش من کجاست؟",
    message_id: str | None = "<first-1@example.ir>",
    headers: dict[str, str] | None = None,
    utf8: bool = False,
) -> bytes:
    """A small UTF-8 mail as bytes; `utf8`: headers in raw UTF-8 (RFC 6532), as mail
    from or to an internationalised address is sent."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    if message_id:
        mail["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        mail[name] = value
    mail.set_content(body)
    return mail.as_bytes(policy=policy.SMTPUTF8 if utf8 else policy.SMTP)


def with_email(settings: Settings, relay: FakeRelay, **changes: Any) -> Settings:
    """The email channel on a free loopback port, sending through `relay`."""
    return settings.replace(
        "email",
        **{
            "enabled": True,
            "smtp_port": 0,
            "domains": ["support.localhost"],
            "address": SUPPORT,
            "relay_host": "127.0.0.1",
            "relay_port": relay.port,
        }
        | changes,
    )
