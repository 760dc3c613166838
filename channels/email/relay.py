"""Open SMTP sessions to the outbound relay, reused from one mail to the next.

A new session per mail (connect, greeting, EHLO, STARTTLS and AUTH when configured,
QUIT) costs more of the event loop's CPU than the mail itself, and the relay's too. A
pool holds up to `size` sessions, each carrying one mail at a time; mail that finds
them all busy waits for one. A session is closed, not put back, after any failure that
may leave it out of step (a timeout, a lost connection: anything but an SMTP answer),
after `max_mails` mails (some relays refuse more per session) and when it has been idle
longer than `max_idle` seconds (relays drop idle clients, Postfix after 300 s).

A relay may also drop an idle session so close to its reuse that the loss shows only
when the next mail is sent: a reused session that is found closed, or answers `421`
(the relay closing it), is replaced by a new one and the mail sent once more on it.
That can only repeat what an outbox retry would repeat anyway (the same Message-ID).

A mail goes out as aiosmtplib's `send_message` sends it (SMTPUTF8 asked for when an
envelope address needs it, refused when the relay lacks it; `BODY=8BITMIME` and 8-bit
headers when the relay offers it), written by `wire_bytes` rather than its flattening,
which folds every header again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from email.message import Message

import aiosmtplib

from channels.email.render import wire_bytes

# Sessions open to the relay at most: the outbox sends a wave of rows at once.
RELAY_SESSIONS = 4
MAX_MAILS_PER_SESSION = 100
MAX_IDLE_SECONDS = 30.0
# "Service not available, closing transmission channel" (RFC 5321 3.8).
_CLOSING = 421


@dataclass
class _Session:
    client: aiosmtplib.SMTP
    generation: int  # the pool's `close` count when it was opened
    mails: int = 0
    last_used: float = 0.0


class RelayPool:
    """Sends mail through up to `size` reused SMTP sessions, each a `new_client()`."""

    def __init__(
        self,
        new_client: Callable[[], aiosmtplib.SMTP],
        *,
        size: int = RELAY_SESSIONS,
        max_mails: int = MAX_MAILS_PER_SESSION,
        max_idle: float = MAX_IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._new_client = new_client
        self._slots = asyncio.Semaphore(size)
        self._idle: list[_Session] = []  # the most recently used last
        self._max_mails = max_mails
        self._max_idle = max_idle
        self._clock = clock
        self._generation = 0

    async def send(self, mail: Message, *, sender: str, recipients: Sequence[str]) -> None:
        """Hand `mail` to the relay; aiosmtplib's exceptions are raised as they come."""
        async with self._slots:
            session = self._take_idle()
            reused = session is not None
            if session is None:
                session = await self._open()
            try:
                try:
                    await self._send_on(session, mail, sender, recipients)
                except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPResponseException) as exc:
                    stale = isinstance(exc, aiosmtplib.SMTPServerDisconnected) or (
                        exc.code == _CLOSING
                    )
                    if not (reused and stale):
                        raise
                    # The relay closed the session while it sat idle: a new one.
                    _close(session)
                    session = await self._open()
                    await self._send_on(session, mail, sender, recipients)
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
                # An answer keeps the session in step (aiosmtplib sent RSET); on a 421
                # aiosmtplib has closed it, and it is not put back.
                await self._put_back(session)
                raise
            except aiosmtplib.SMTPNotSupported:
                await self._put_back(session)  # refused before MAIL FROM: still in step
                raise
            except BaseException:
                _close(session)
                raise
            await self._put_back(session)

    async def close(self) -> None:
        """Say QUIT on every idle session; one carrying a mail now says it after the mail.
        Mail sent later opens sessions again (the adapter closes the pool once more when
        it stops, after the outbox)."""
        self._generation += 1
        idle, self._idle = self._idle, []
        for session in idle:
            try:
                await session.client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                _close(session)

    def _take_idle(self) -> _Session | None:
        now = self._clock()
        while self._idle:
            session = self._idle.pop()
            if session.client.is_connected and now - session.last_used <= self._max_idle:
                return session
            _close(session)
        return None

    async def _open(self) -> _Session:
        client = self._new_client()
        await client.connect()
        return _Session(client, self._generation)

    async def _send_on(
        self, session: _Session, mail: Message, sender: str, recipients: Sequence[str]
    ) -> None:
        session.mails += 1
        client = session.client
        if client.is_ehlo_or_helo_needed:
            await client._ehlo_or_helo_if_needed()  # as send_message: EHLO, HELO if refused
        options = []
        if not (sender.isascii() and all(address.isascii() for address in recipients)):
            if not client.supports_extension("smtputf8"):
                raise aiosmtplib.SMTPNotSupported(
                    "An address containing non-ASCII characters was provided, but "
                    "SMTPUTF8 is not supported by this server"
                )
            options.append("SMTPUTF8")
        eight_bit = client.supports_extension("8BITMIME")
        if eight_bit:
            options.append("BODY=8BITMIME")
        data = wire_bytes(mail, cte_type="8bit" if eight_bit else "7bit")
        await _sendmail(client, sender, recipients, data, options)

    async def _put_back(self, session: _Session) -> None:
        if not session.client.is_connected:  # aiosmtplib closes it on a 421 itself
            return
        if session.mails < self._max_mails and session.generation == self._generation:
            session.last_used = self._clock()
            self._idle.append(session)
            return
        try:
            await session.client.quit()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            _close(session)


async def _sendmail(
    client: aiosmtplib.SMTP,
    sender: str,
    recipients: Sequence[str],
    data: bytes,
    options: list[str],
) -> None:
    """aiosmtplib's `sendmail` transaction (MAIL with SIZE when offered, a RCPT per
    recipient, DATA; RSET after a refusal) without its work done again per mail: it
    normalises the whole message's line endings once to count SIZE and again to send
    it, and parses each address twice (MAIL and RCPT validate them as they quote them).
    Raises what `sendmail` raises."""
    encoding = "utf-8" if "SMTPUTF8" in options else "ascii"
    if client.supports_extension("size"):
        options = [f"SIZE={transmitted_size(data)}", *options]
    try:
        await client.mail(sender, options=options, encoding=encoding)
        refused: list[aiosmtplib.SMTPRecipientRefused] = []
        for recipient in recipients:
            try:
                await client.rcpt(recipient, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused.append(exc)
        if len(refused) == len(recipients):
            raise aiosmtplib.SMTPRecipientsRefused(refused)
        await client.data(data)
    except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
        # The envelope reset, so the session stays in step for the next mail.
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPResponseException):
            await client.rset()
        raise


def transmitted_size(data: bytes) -> int:
    """The octets DATA carries for `data` (RFC 1870's SIZE): every line ending, a lone
    CR or LF too, as CRLF, and a CRLF after the last line."""
    crlf = data.count(b"\r\n")
    size = len(data) + (data.count(b"\n") - crlf) + (data.count(b"\r") - crlf)
    return size if data.endswith((b"\n", b"\r")) else size + 2


def _close(session: _Session) -> None:
    """Drop the connection without a QUIT (it may be out of step or gone already)."""
    session.client.close()
