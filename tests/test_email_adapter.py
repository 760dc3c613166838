"""The email adapter over real SMTP on loopback, with a fake ingest function."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import re
import smtplib
import ssl
import subprocess
import threading
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from email import policy
from email._header_value_parser import get_angle_addr
from email.message import EmailMessage, Message
from pathlib import Path
from typing import Any

import aiosmtpd.smtp as aiosmtpd_smtp
import aiosmtplib
import pytest
from aiosmtpd.smtp import SMTP
from aiosmtplib.email import flatten_message
from aiosmtplib.protocol import normalize_message_line_endings
from prometheus_client import CollectorRegistry

import channels.email.adapter as adapter_module
from channels.base import ChannelServices
from channels.email.adapter import EmailAdapter
from channels.email.parse import ParsedMail
from channels.email.relay import RELAY_SESSIONS, RelayPool, transmitted_size
from channels.email.render import render_outbound
from channels.email.tokens import ReplyTokens
from config.settings import EmailSettings
from router.core.attachments import AttachmentStore
from router.core.events import InProcessEventBus
from router.core.messages import (
    AttachmentRef,
    AuthorKind,
    ConversationLocation,
    ConversationMessage,
    DeliveryStatus,
    InboundMessage,
    IngestResult,
    OutboundMessage,
)
from router.logs import configure_logging
from tests.email_support import SUPPORT, FakeRelay, make_mail, smtp_send
from tests.support import server_log

SECRET = "adapter-test-secret"
FIXTURES = Path(__file__).parent / "fixtures" / "email"


class NoConversation:
    """The email adapter never reads history; any call is a test failure."""

    async def locate(self, channel: str, address: str) -> ConversationLocation | None:
        raise AssertionError("email does not read conversations")

    async def history(
        self, channel: str, address: str, *, after_id: int | None = None, limit: int = 50
    ) -> list[ConversationMessage]:
        raise AssertionError("email does not read conversations")

    async def message(self, message_id: int) -> ConversationMessage | None:
        raise AssertionError("email does not read conversations")

    async def messages_by_id(self, message_ids: Sequence[int]) -> list[ConversationMessage]:
        raise AssertionError("email does not read conversations")


@dataclass
class FakeIngest:
    """Stores to a list like a committed ingest; dedupes by external id; can fail."""

    stored: list[InboundMessage] = field(default_factory=list)
    failures: int = 0

    async def __call__(self, msg: InboundMessage) -> IngestResult:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("database is down")
        for index, earlier in enumerate(self.stored):
            if earlier.external_id == msg.external_id:
                return IngestResult(index + 1, 1, 1, duplicate=True)
        self.stored.append(msg)
        return IngestResult(len(self.stored), 1, 1)


@dataclass
class Rig:
    adapter: EmailAdapter
    ingest: FakeIngest
    store: AttachmentStore
    relay: FakeRelay

    @property
    def port(self) -> int:
        return self.adapter.port


def email_settings(relay_port: int, **changes: object) -> EmailSettings:
    values: dict[str, object] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": 0,
        "domains": ["support.localhost"],
        "address": "support@support.localhost",
        "max_message_bytes": 200_000,
        "relay_host": "127.0.0.1",
        "relay_port": relay_port,
        "relay_timeout": 5.0,
        "auto_reply_cap_per_hour": 3,
    }
    values.update(changes)
    return EmailSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    relay = FakeRelay()
    await relay.start()
    ingest = FakeIngest()
    store = AttachmentStore(tmp_path / "attachments")
    adapter = EmailAdapter(email_settings(relay.port), secret_key=SECRET)
    await adapter.start(
        ChannelServices(
            ingest=ingest,
            events=InProcessEventBus(),
            attachments=store,
            conversation=NoConversation(),
        )
    )
    yield Rig(adapter, ingest, store, relay)
    await adapter.stop()
    await relay.stop()


async def test_customer_mail_is_stored_before_250(rig: Rig) -> None:
    raw = (FIXTURES / "pasokh" / "fa_gmail_reply.eml").read_bytes()
    token = ReplyTokens(SECRET).make(40)
    raw = raw.replace(b"tokenplaceholder", token.encode())
    await smtp_send(
        rig.port, raw, mail_from="sara.rezaei@gmail.com", to=[f"support+{token}@support.localhost"]
    )
    assert len(rig.ingest.stored) == 1  # smtplib returned: the 250 came after ingest
    msg = rig.ingest.stored[0]
    assert msg.channel == "email"
    assert msg.external_id == "CAFa+reply=persian0001@mail.gmail.com"
    assert msg.sender_address == "sara.rezaei@gmail.com"
    assert msg.sender_name == "سارا رضایی"
    assert msg.text == "ممنون، ولی هنوز کد رهگیری برایم پیامک نشده است."
    assert msg.full_text is not None and "نوشت:" in msg.full_text
    assert msg.subject == "Re: وضعیت سفارش"
    assert not msg.automated
    assert not msg.sender_verified
    assert msg.hint is not None
    assert msg.hint.thread_id == 40
    assert msg.hint.reply_token == token
    assert msg.hint.references == (
        "40.6.0123456789abcdef@support.localhost",
        "fa-gmail-first@mail.gmail.com",
    )
    raw_ref = msg.attachments[0]
    assert raw_ref.content_type == "message/rfc822"
    assert await rig.store.read(raw_ref.sha256) == raw


async def test_forged_token_is_passed_on_unverified(rig: Rig) -> None:
    forged = "support+16-aaaaaaaaaaaaaaaaaaaaaaaa@support.localhost"
    await smtp_send(rig.port, make_mail(to=forged), mail_from="x@example.com", to=[forged])
    hint = rig.ingest.stored[0].hint
    assert hint is not None
    assert hint.reply_token == "16-aaaaaaaaaaaaaaaaaaaaaaaa"
    assert hint.thread_id is None


async def test_recipient_outside_support_domains_gets_550(rig: Rig) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await smtp_send(
            rig.port, make_mail(to="victim@gmail.com"), mail_from="a@b.c", to=["victim@gmail.com"]
        )
    code, _ = refused.value.recipients["victim@gmail.com"]
    assert code == 550
    assert rig.ingest.stored == []


async def test_oversized_mail_gets_552(rig: Rig) -> None:
    huge = make_mail(body="x" * 100 + "\n" + ("y" * 900 + "\n") * 300)
    with pytest.raises(smtplib.SMTPException) as error:
        await smtp_send(rig.port, huge, mail_from="a@b.c", to=["support@support.localhost"])
    assert getattr(error.value, "smtp_code", None) == 552
    assert rig.ingest.stored == []


async def test_ingest_failure_answers_451_and_the_retry_is_stored_once(rig: Rig) -> None:
    rig.ingest.failures = 1
    mail = make_mail(message_id="<retry-me@example.ir>")
    with pytest.raises(smtplib.SMTPDataError) as error:
        await smtp_send(
            rig.port, mail, mail_from="sara@example.ir", to=["support@support.localhost"]
        )
    assert error.value.smtp_code == 451
    for _ in range(2):  # the sender retries, and retries again after a lost 250
        await smtp_send(
            rig.port, mail, mail_from="sara@example.ir", to=["support@support.localhost"]
        )
    assert [m.external_id for m in rig.ingest.stored] == ["retry-me@example.ir"]


async def test_attachment_store_failure_answers_451(rig: Rig, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store wants a directory")
    rig.store.root = blocker
    with pytest.raises(smtplib.SMTPDataError) as error:
        await smtp_send(rig.port, make_mail(), mail_from="a@b.c", to=["support@support.localhost"])
    assert error.value.smtp_code == 451
    assert rig.ingest.stored == []


async def test_mail_without_message_id_dedupes_by_content(rig: Rig) -> None:
    mail = make_mail(message_id=None, headers={"Date": "Mon, 23 Nov 2026 10:00:00 +0000"})
    for _ in range(2):
        await smtp_send(rig.port, mail, mail_from="a@b.c", to=["support@support.localhost"])
    assert len(rig.ingest.stored) == 1
    assert rig.ingest.stored[0].external_id.startswith("sha256:")


async def test_automated_mail_is_flagged(rig: Rig) -> None:
    bounce = (FIXTURES / "chatwoot" / "bounced_with_no_from.eml").read_bytes()
    await smtp_send(rig.port, bounce, mail_from="", to=["support@support.localhost"])
    ooo = (FIXTURES / "pasokh" / "fa_out_of_office.eml").read_bytes()
    await smtp_send(rig.port, ooo, mail_from="ali@example.ir", to=["support@support.localhost"])
    plain = make_mail(message_id="<null-sender@x>")
    await smtp_send(rig.port, plain, mail_from="", to=["support@support.localhost"])
    assert [m.automated for m in rig.ingest.stored] == [True, True, True]
    assert rig.ingest.stored[0].sender_address == "mailer-daemon@invalid"


async def test_subject_only_mail_uses_the_subject_as_text(rig: Rig) -> None:
    mail = make_mail(subject="Where is my order 1234?", body="\n")
    await smtp_send(rig.port, mail, mail_from="a@b.c", to=["support@support.localhost"])
    assert rig.ingest.stored[0].text == "Where is my order 1234?"


async def test_start_twice_raises_and_stop_is_idempotent(rig: Rig) -> None:
    port = rig.port
    with pytest.raises(RuntimeError):
        await rig.adapter.start(rig.adapter._services)  # type: ignore[arg-type]
    await rig.adapter.stop()
    await rig.adapter.stop()
    with pytest.raises(ConnectionRefusedError):
        await smtp_send(port, make_mail(), mail_from="a@b.c", to=["support@support.localhost"])


def outbound(**changes: object) -> OutboundMessage:
    values: dict[str, object] = {
        "outbox_id": 1,
        "message_id": 2,
        "thread_id": 3,
        "channel": "email",
        "address": "sara@example.ir",
        "text": "سفارش شما ارسال شد.",
        "author": AuthorKind.BOT,
        "language": "fa",
        "subject": "وضعیت سفارش",
        "references": ("first-1@example.ir",),
    }
    values.update(changes)
    return OutboundMessage(**values)  # type: ignore[arg-type]


async def test_send_through_relay(rig: Rig) -> None:
    result = await rig.adapter.send(outbound())
    assert result.status == DeliveryStatus.DELIVERED
    (mail,) = await rig.relay.wait_for(1)
    # The envelope sender is the mail's own signed bounce address on the support mailbox.
    assert mail.mail_from.startswith("support+b-1-") and mail.mail_from.endswith(
        "@support.localhost"
    )
    assert mail.rcpt_tos == ("sara@example.ir",)
    message = mail.message
    assert message["Message-ID"] == f"<{result.external_id}>"
    assert message["In-Reply-To"] == "<first-1@example.ir>"
    assert message["Subject"] == "Re: وضعیت سفارش"
    assert message["Auto-Submitted"] == "auto-replied"
    reply_to = message["Reply-To"].addresses[0].addr_spec
    assert ReplyTokens(SECRET).find([reply_to], domains=["support.localhost"]) == (
        reply_to.split("+")[1].split("@")[0],
        3,
    )


async def test_send_temporary_and_permanent_failures(rig: Rig) -> None:
    rig.relay.rcpt_replies = ["450 4.2.0 Mailbox busy"]
    result = await rig.adapter.send(outbound(automated=False))
    assert result.status == DeliveryStatus.RETRY
    assert result.error is not None and "450 4.2.0 Mailbox busy" in result.error

    rig.relay.rcpt_replies = ["550 5.1.1 No such user here"]
    result = await rig.adapter.send(outbound(automated=False))
    assert result.status == DeliveryStatus.FAILED
    assert result.identity_unreachable
    assert result.error is not None and "550 5.1.1 No such user here" in result.error

    rig.relay.data_replies = ["554 5.6.0 Message rejected as spam"]
    result = await rig.adapter.send(outbound(automated=False))
    assert result.status == DeliveryStatus.FAILED
    assert not result.identity_unreachable
    assert result.error is not None and "554 5.6.0 Message rejected as spam" in result.error

    rig.relay.data_replies = ["451 4.3.0 Try later"]
    result = await rig.adapter.send(outbound(automated=False))
    assert result.status == DeliveryStatus.RETRY
    assert rig.relay.received == []

    # Each refusal reset the envelope (RSET): the one session takes the next mail.
    result = await rig.adapter.send(outbound(automated=False))
    assert result.status == DeliveryStatus.DELIVERED
    assert len(await rig.relay.wait_for(1)) == 1
    assert len(rig.relay.sessions) == 1


async def test_relay_down_is_a_retry(rig: Rig) -> None:
    await rig.relay.stop()
    result = await rig.adapter.send(outbound())
    assert result.status == DeliveryStatus.RETRY
    assert result.error is not None and "relay unreachable" in result.error


async def test_an_internationalised_address_through_a_relay_without_smtputf8_fails_at_once(
    tmp_path: Path,
) -> None:
    """No retry can make a relay offer SMTPUTF8: retrying would hold this customer's
    later mails behind it for every outbox attempt, under a misleading "unreachable"."""
    relay = FakeRelay(smtputf8=False)
    await relay.start()
    adapter = EmailAdapter(email_settings(relay.port), secret_key=SECRET)
    await adapter.start(
        ChannelServices(
            ingest=FakeIngest(),
            events=InProcessEventBus(),
            attachments=AttachmentStore(tmp_path / "a"),
            conversation=NoConversation(),
        )
    )
    try:
        result = await adapter.send(outbound(address="مشتری@example.ir"))
        ascii_customer = await adapter.send(outbound(outbox_id=2))
    finally:
        await adapter.stop()
        await relay.stop()
    assert result.status == DeliveryStatus.FAILED
    assert not result.identity_unreachable  # the address may be fine; the relay is not
    assert result.error is not None
    assert "SMTPUTF8" in result.error and "مشتری@example.ir" in result.error
    assert ascii_customer.status == DeliveryStatus.DELIVERED
    assert [mail.rcpt_tos for mail in relay.received] == [("sara@example.ir",)]


@pytest.mark.parametrize("eight_bit_mime", [True, False], ids=["8bitmime", "7bit-relay"])
async def test_a_mail_reaches_the_relay_as_aiosmtplibs_send_message_would_send_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, eight_bit_mime: bool
) -> None:
    """The mail is written for SMTP by the channel (`wire_bytes`), not by aiosmtplib's
    `send_message`; what a real relay receives is what `send_message` would have sent:
    SMTPUTF8 asked for only when an envelope address needs it, `BODY=8BITMIME` only when
    offered, the raw UTF-8 header of an internationalised address kept for an 8-bit
    relay and encoded for a 7-bit one, the bytes of aiosmtplib's flattening."""
    rendered: list[Message] = []

    def render(*args: Any, **kwargs: Any) -> Message:
        rendered.append(render_outbound(*args, **kwargs))
        return rendered[-1]

    monkeypatch.setattr("channels.email.adapter.render_outbound", render)
    relay = FakeRelay(eight_bit_mime=eight_bit_mime)
    await relay.start()
    try:
        async with running(tmp_path, email_settings(relay.port)) as (adapter, _, _):
            for n, address in enumerate(("sara@example.ir", "مشتری@example.ir"), start=1):
                result = await adapter.send(outbound(outbox_id=n, address=address))
                assert result.status == DeliveryStatus.DELIVERED
            mails = await relay.wait_for(2)
    finally:
        await relay.stop()
    body = ["BODY=8BITMIME"] if eight_bit_mime else []
    # SIZE first, as aiosmtplib puts it: the octets of the mail as DATA carried it.
    sizes = [f"SIZE={len(mail.data)}" for mail in mails]
    options = [list(mail.mail_options) for mail in mails]
    assert options == [[sizes[0], *body], [sizes[1], "SMTPUTF8", *body]]
    cte_type = "8bit" if eight_bit_mime else "7bit"
    for mail, sent in zip(mails, rendered, strict=True):
        expected = re.sub(rb"\r?\n", b"\r\n", flatten_message(sent, cte_type=cte_type))
        assert mail.data == expected
    assert ("\r\nTo: مشتری@example.ir\r\n".encode() in mails[1].data) is eight_bit_mime


async def test_auto_reply_cap_breaks_loops(rig: Rig) -> None:
    for outbox_id in range(1, 4):
        result = await rig.adapter.send(outbound(outbox_id=outbox_id))
        assert result.status == DeliveryStatus.DELIVERED
    capped = await rig.adapter.send(outbound(outbox_id=4))
    assert capped.status == DeliveryStatus.FAILED
    assert capped.error is not None and "mail loop" in capped.error
    # A person's reply is never capped, and other addresses are not affected.
    agent = await rig.adapter.send(outbound(outbox_id=5, automated=False))
    assert agent.status == DeliveryStatus.DELIVERED
    other = await rig.adapter.send(outbound(outbox_id=6, address="other@example.com"))
    assert other.status == DeliveryStatus.DELIVERED
    assert len(rig.relay.received) == 5


def test_unparseable_mail_is_kept_raw_and_never_answered(tmp_path: Path) -> None:
    adapter = EmailAdapter(email_settings(25), secret_key=SECRET)
    raw_ref = AttachmentRef("ab" * 32, "message.eml", "message/rfc822", 10)
    msg = adapter.unparseable_inbound(raw_ref, "<Sender@Example.com>")
    assert msg.text.startswith("[This email could not be read.")
    assert msg.attachments == (raw_ref,)
    assert msg.automated
    assert msg.sender_address == "sender@example.com"
    assert msg.external_id == f"sha256:{'ab' * 32}"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[str, str]:
    """A throwaway self-signed certificate from the system's openssl."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=support.localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return str(cert), str(key)


async def test_starttls_and_auth_for_a_forwarding_server(
    tmp_path: Path, certificate: tuple[str, str]
) -> None:
    cert, key = certificate
    ingest = FakeIngest()
    adapter = EmailAdapter(
        email_settings(
            25, tls_cert=cert, tls_key=key, auth_user="mx", auth_password="forward-secret"
        ),
        secret_key=SECRET,
    )
    await adapter.start(
        ChannelServices(
            ingest=ingest,
            events=InProcessEventBus(),
            attachments=AttachmentStore(tmp_path / "a"),
            conversation=NoConversation(),
        )
    )
    port = adapter.port

    def deliver(password: str | None) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.starttls(context=context)
            if password is not None:
                client.login("mx", password)  # PLAIN, then LOGIN if PLAIN is refused
            client.sendmail("a@b.example", ["support@support.localhost"], make_mail())

    try:
        with pytest.raises(smtplib.SMTPSenderRefused) as no_auth:
            await asyncio.to_thread(deliver, None)
        assert no_auth.value.smtp_code == 530
        with pytest.raises(smtplib.SMTPAuthenticationError):
            await asyncio.to_thread(deliver, "wrong")
        await asyncio.to_thread(deliver, "forward-secret")
    finally:
        await adapter.stop()
    assert len(ingest.stored) == 1


async def test_unreachable_and_own_addresses_are_never_mailed(rig: Rig) -> None:
    nobody = await rig.adapter.send(outbound(address="mailer-daemon@invalid"))
    assert nobody.status == DeliveryStatus.FAILED and nobody.identity_unreachable
    loop = await rig.adapter.send(outbound(address="sales@support.localhost"))
    assert loop.status == DeliveryStatus.FAILED
    assert rig.relay.received == []


async def test_a_connection_flood_is_turned_away_with_421_and_counted(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    ingest = FakeIngest()
    adapter = EmailAdapter(
        email_settings(1), secret_key=SECRET, registry=registry, max_connections=2
    )
    await adapter.start(
        ChannelServices(
            ingest=ingest,
            events=InProcessEventBus(),
            attachments=AttachmentStore(tmp_path / "attachments"),
            conversation=NoConversation(),
        )
    )

    async def greeting() -> tuple[bytes, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", adapter.port)
        return await asyncio.wait_for(reader.readline(), 5), writer

    try:
        held = [await greeting(), await greeting()]
        assert all(line.startswith(b"220") for line, _ in held)
        refused, writer = await greeting()
        assert refused.startswith(b"421")
        writer.close()
        sample = registry.get_sample_value("pasokh_email_refused_total", {"reason": "connections"})
        assert sample == 1.0
        # a slot freed is a slot for the next sender, whose mail is stored
        held[0][1].close()
        await held[0][1].wait_closed()
        for _ in range(100):
            if len(adapter._connections) < 2:
                break
            await asyncio.sleep(0.02)
        await smtp_send(
            adapter.port, make_mail(), mail_from="a@b.example", to=["support@support.localhost"]
        )
        assert len(ingest.stored) == 1
        held[1][1].close()
    finally:
        await adapter.stop()


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, settings: EmailSettings, **kwargs: Any
) -> AsyncIterator[tuple[EmailAdapter, FakeIngest, AttachmentStore]]:
    """An adapter with its own settings on a real port, stopped afterwards."""
    ingest = FakeIngest()
    store = AttachmentStore(tmp_path / "attachments")
    adapter = EmailAdapter(settings, secret_key=SECRET, **kwargs)
    await adapter.start(
        ChannelServices(
            ingest=ingest,
            events=InProcessEventBus(),
            attachments=store,
            conversation=NoConversation(),
        )
    )
    try:
        yield adapter, ingest, store
    finally:
        await adapter.stop()


async def open_session(
    port: int, source: str = "127.0.0.1"
) -> tuple[bytes, asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw SMTP connection from `source`, and the server's first line."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    return await asyncio.wait_for(reader.readline(), 5), reader, writer


async def command(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes) -> bytes:
    """Send one SMTP command; the last line of its (possibly multi-line) reply."""
    writer.write(line + b"\r\n")
    reply = await asyncio.wait_for(reader.readline(), 5)
    while reply[3:4] == b"-":
        reply = await asyncio.wait_for(reader.readline(), 5)
    return reply


async def greeted(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A raw SMTP session from loopback that has said EHLO and been answered 250."""
    _, reader, writer = await open_session(port)
    assert (await command(reader, writer, b"EHLO client.example")).startswith(b"250")
    return reader, writer


async def begin_data(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """MAIL FROM, RCPT TO (support) and DATA, each accepted: the body may follow."""
    assert (await command(reader, writer, b"MAIL FROM:<sara@example.ir>")).startswith(b"250")
    assert (await command(reader, writer, b"RCPT TO:<" + SUPPORT.encode() + b">"))[:3] == b"250"
    assert (await command(reader, writer, b"DATA")).startswith(b"354")


def refusals(registry: CollectorRegistry, reason: str) -> float | None:
    return registry.get_sample_value("pasokh_email_refused_total", {"reason": reason})


async def test_one_client_holding_idle_sessions_does_not_shut_out_another(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    settings = email_settings(1, max_sessions_per_client=2)
    async with running(tmp_path, settings, registry=registry, max_connections=4) as (
        adapter,
        ingest,
        _,
    ):
        # One client tries to hold every slot the server has...
        held = [await open_session(adapter.port) for _ in range(4)]
        try:
            assert [greeting[:3] for greeting, _, _ in held] == [b"220", b"220", b"421", b"421"]
            assert refusals(registry, "client_sessions") == 2.0
            # ... and another client (another loopback address) still gets its mail in.
            await smtp_send(
                adapter.port,
                make_mail(),
                mail_from="sara@example.ir",
                to=[SUPPORT],
                source="127.0.0.2",
            )
            assert [m.external_id for m in ingest.stored] == ["first-1@example.ir"]
        finally:
            for _, _, writer in held:
                writer.close()


async def test_an_idle_session_gets_421_and_is_closed_after_the_command_timeout(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    settings = email_settings(1, smtp_command_timeout=0.3)
    async with running(tmp_path, settings, registry=registry) as (adapter, _, _):
        _, reader, writer = await open_session(adapter.port)
        assert (await command(reader, writer, b"EHLO client.example")).startswith(b"250 ")
        # Then nothing: the server gives up on its own and says why.
        rest = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert rest.startswith(b"421 4.4.2")
        assert refusals(registry, "timeout") == 1.0


async def test_the_idle_timeout_counts_from_the_last_command(tmp_path: Path) -> None:
    """A session's timer is not scheduled anew for every command; the `421` still comes
    a full command timeout after the last command, not after the first timer."""
    timeout = 1.0
    settings = email_settings(1, smtp_command_timeout=timeout, smtp_junk_command_limit=100_000)
    loop = asyncio.get_running_loop()
    async with running(tmp_path, settings) as (adapter, _, _):
        _, reader, writer = await open_session(adapter.port)
        assert (await command(reader, writer, b"EHLO client.example")).startswith(b"250 ")
        first = loop.time()
        while loop.time() - first < timeout / 2:  # commands for half the timeout
            assert (await command(reader, writer, b"NOOP")).startswith(b"250")
        # The first timer is due before the deadline the last command set: it waits on.
        last = loop.time()
        rest = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        assert rest.startswith(b"421 4.4.2")
        assert loop.time() - last >= timeout * 0.75


async def test_a_mail_transaction_schedules_no_timer_per_command(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiosmtpd reset the idle timer before every command and the channel after it, each
    a timer cancelled and another scheduled: CPU on the event loop for every mail."""
    loop = asyncio.get_running_loop()
    scheduled: list[float] = []
    call_at = loop.call_at

    def counted(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        if getattr(callback, "__name__", "") == "_timeout_cb":
            scheduled.append(when)
        return call_at(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counted)
    reader, writer = await greeted(rig.port)
    for n in range(5):
        await begin_data(reader, writer)
        writer.write(make_mail(message_id=f"<timer-{n}@example.ir>") + b".\r\n")
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"250")
    writer.close()
    assert len(rig.ingest.stored) == 5
    # The greeting's timer, and one more for each mail's body (the longer DATA timeout
    # then the command timeout again come before the timer pending then).
    assert len(scheduled) <= 1 + 5 * 2


async def test_a_slow_message_body_is_not_cut_by_the_command_timeout(tmp_path: Path) -> None:
    settings = email_settings(1, smtp_command_timeout=0.3)
    async with running(tmp_path, settings) as (adapter, ingest, _):
        reader, writer = await greeted(adapter.port)
        await begin_data(reader, writer)
        raw = make_mail()
        writer.write(raw[: len(raw) // 2])
        # A session opened now idles out: the command timeout has passed for it, and
        # for the half-sent body too.
        _, idle_reader, idle_writer = await open_session(adapter.port)
        assert (await asyncio.wait_for(idle_reader.read(), 10)).startswith(b"421")
        idle_writer.close()
        writer.write(raw[len(raw) // 2 :] + b".\r\n")
        assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"250")
        writer.close()
        assert len(ingest.stored) == 1


def mail_with_files(count: int, size: int = 2) -> bytes:
    mail = EmailMessage()
    mail["From"] = "Sara <sara@example.ir>"
    mail["To"] = SUPPORT
    mail["Subject"] = "مدارک"
    mail["Message-ID"] = f"<files-{count}-{size}@example.ir>"
    mail.set_content("مدارک پیوست است.")
    for index in range(count):
        mail.add_attachment(
            b"x" * size, maintype="application", subtype="pdf", filename=f"doc-{index}.pdf"
        )
    return mail.as_bytes(policy=policy.SMTP)


async def test_a_mail_over_the_part_limits_gets_552_with_the_reason_and_nothing_is_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="channels.email.adapter")
    registry = CollectorRegistry()
    settings = email_settings(1, max_parts=10, max_decoded_bytes=5_000)
    async with running(tmp_path, settings, registry=registry) as (adapter, ingest, store):
        with pytest.raises(smtplib.SMTPDataError) as parts:
            await smtp_send(
                adapter.port, mail_with_files(20), mail_from="a@b.example", to=[SUPPORT]
            )
        assert parts.value.smtp_code == 552
        assert b"too many MIME parts (at most 10 per message)" in parts.value.smtp_error
        with pytest.raises(smtplib.SMTPDataError) as size:
            await smtp_send(
                adapter.port, mail_with_files(1, 8_000), mail_from="a@b.example", to=[SUPPORT]
            )
        assert size.value.smtp_code == 552
        assert b"at most 5000 bytes decoded" in size.value.smtp_error
        # Within the limits the same kind of mail is stored, attachments and all.
        await smtp_send(adapter.port, mail_with_files(3), mail_from="a@b.example", to=[SUPPORT])
    assert [len(m.attachments) for m in ingest.stored] == [4]  # the raw mail and 3 files
    stored_files = [path for path in store.root.rglob("*") if path.is_file()]
    assert len(stored_files) == 2  # the raw mail, and the 3 identical files stored once
    assert refusals(registry, "parts") == 1.0
    assert refusals(registry, "decoded_bytes") == 1.0
    logged = [r.getMessage() for r in caplog.records if r.name == "channels.email.adapter"]
    assert sum("refused with 552" in line for line in logged) == 2


async def test_a_heavy_mail_is_parsed_off_the_event_loop(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_parse = adapter_module.parse_mail
    parsing, release = threading.Event(), threading.Event()
    released: list[bool] = []

    def slow_parse(raw: bytes, *args: Any, **kwargs: Any) -> ParsedMail:
        if b"heavy-mail" in raw:
            parsing.set()
            # On the event loop this would stall every other session until it gave up.
            released.append(release.wait(10))
        return real_parse(raw, *args, **kwargs)

    monkeypatch.setattr(adapter_module, "parse_mail", slow_parse)
    heavy = asyncio.create_task(
        smtp_send(
            rig.port,
            make_mail(subject="heavy-mail", message_id="<heavy@example.ir>"),
            mail_from="a@b.example",
            to=[SUPPORT],
        )
    )
    assert await asyncio.to_thread(parsing.wait, 10)
    # While the heavy mail is being parsed, another client's mail is received and stored.
    await smtp_send(
        rig.port,
        make_mail(message_id="<light@example.ir>"),
        mail_from="c@d.example",
        to=[SUPPORT],
        source="127.0.0.2",
    )
    assert [m.external_id for m in rig.ingest.stored] == ["light@example.ir"]
    release.set()
    await heavy
    assert released == [True]
    assert [m.external_id for m in rig.ingest.stored] == ["light@example.ir", "heavy@example.ir"]


async def test_auth_is_advertised_only_when_configured(rig: Rig) -> None:
    def features() -> dict[str, str]:
        with smtplib.SMTP("127.0.0.1", rig.port, timeout=30) as client:
            client.ehlo("client.example")
            return dict(client.esmtp_features)

    offered = await asyncio.to_thread(features)
    assert "auth" not in offered
    assert "size" in offered and "smtputf8" in offered


async def test_a_relay_refusal_is_logged_with_the_domain_only(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="channels.email.adapter")
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await smtp_send(
            rig.port, make_mail(), mail_from="a@b.example", to=["victim.person@gmail.com"]
        )
    logged = [r.getMessage() for r in caplog.records if r.name == "channels.email.adapter"]
    assert any("550" in line and "@gmail.com" in line for line in logged), logged
    assert not any("victim.person" in line for line in logged)


async def test_smtp_commands_and_addresses_are_not_logged_at_info(rig: Rig) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    try:
        configure_logging("text", "INFO")
        root.addHandler(Keep())
        await smtp_send(rig.port, make_mail(), mail_from="sara.private@example.ir", to=[SUPPORT])
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
    assert len(rig.ingest.stored) == 1
    assert [r.getMessage() for r in seen if "sara.private" in r.getMessage()] == []
    assert not [r for r in seen if r.name == "mail.log" and r.levelno < logging.WARNING]


async def noop_until_closed(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> list[bytes]:
    """NOOP after NOOP, as a client keeping a session alive does, until the server
    answers something else; then the server must close the connection."""
    replies: list[bytes] = []
    for _ in range(200):
        writer.write(b"NOOP\r\n")
        replies.append(await asyncio.wait_for(reader.readline(), 5))
        if not replies[-1].startswith(b"250"):
            break
    assert await asyncio.wait_for(reader.read(), 5) == b""  # closed by the server
    return replies


async def test_commands_that_move_no_mail_past_the_junk_limit_get_421_and_close_the_session(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    settings = email_settings(1, smtp_junk_command_limit=4)
    async with running(tmp_path, settings, registry=registry) as (adapter, _, _):
        reader, writer = await greeted(adapter.port)
        # A second greeting and a refused command count as much as a NOOP does.
        junk = (b"NOOP", b"RSET", b"EHLO again.example", b"XYZZY")
        assert [(await command(reader, writer, line))[:3] for line in junk] == [
            b"250",
            b"250",
            b"250",
            b"500",
        ]
        assert await noop_until_closed(reader, writer) == [
            b"421 4.7.0 Too many commands without mail, closing connection\r\n"
        ]
        writer.close()
        assert refusals(registry, "junk_commands") == 1.0


async def test_a_delivered_message_starts_the_junk_count_again(tmp_path: Path) -> None:
    settings = email_settings(1, smtp_junk_command_limit=2)
    async with running(tmp_path, settings) as (adapter, ingest, _):
        reader, writer = await greeted(adapter.port)
        assert (await command(reader, writer, b"NOOP")).startswith(b"250")
        assert (await command(reader, writer, b"NOOP")).startswith(b"250")
        await begin_data(reader, writer)
        assert (await command(reader, writer, make_mail() + b".")).startswith(b"250")
        assert len(ingest.stored) == 1
        replies = await noop_until_closed(reader, writer)
        writer.close()
        assert [reply[:3] for reply in replies] == [b"250", b"250", b"421"]


async def test_sessions_held_with_noops_are_closed_and_a_sender_gets_in(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    settings = email_settings(1, max_sessions_per_client=2, smtp_junk_command_limit=3)
    async with running(tmp_path, settings, registry=registry, max_connections=4) as (
        adapter,
        ingest,
        _,
    ):
        # One client, from two addresses, holds every session the server has.
        sources = ("127.0.0.2", "127.0.0.2", "127.0.0.3", "127.0.0.3")
        held = [await open_session(adapter.port, source) for source in sources]
        try:
            assert [greeting[:3] for greeting, _, _ in held] == [b"220"] * 4
            with pytest.raises(smtplib.SMTPConnectError):
                await smtp_send(
                    adapter.port,
                    make_mail(),
                    mail_from="sara@example.ir",
                    to=[SUPPORT],
                    source="127.0.0.4",
                )
            # The server is busy: a session may send one command that moves no mail...
            first = await noop_until_closed(*held[0][1:])
            assert [reply[:3] for reply in first] == [b"250", b"421"]
            # ... and the slot it gave back is the sender's.
            await smtp_send(
                adapter.port,
                make_mail(),
                mail_from="sara@example.ir",
                to=[SUPPORT],
                source="127.0.0.4",
            )
            assert [m.external_id for m in ingest.stored] == ["first-1@example.ir"]
            # Not busy any more, the other sessions still lose out at the junk limit.
            for _, reader, writer in held[1:]:
                replies = await noop_until_closed(reader, writer)
                assert len(replies) <= 4 and replies[-1].startswith(b"421 4.7.0")
            assert refusals(registry, "junk_commands") == 4.0
        finally:
            for _, _, writer in held:
                writer.close()


async def test_when_busy_a_session_without_mail_on_the_way_gets_the_short_idle_timeout(
    tmp_path: Path,
) -> None:
    registry = CollectorRegistry()
    settings = email_settings(1, smtp_busy_command_timeout=1.0)  # the command timeout is 30 s
    async with running(tmp_path, settings, registry=registry, max_connections=4) as (
        adapter,
        _,
        _,
    ):
        # 3 of 4 sessions open: busy.
        (_, mail_reader, mail_writer), idle, silent = [
            await open_session(adapter.port) for _ in range(3)
        ]
        assert (await command(mail_reader, mail_writer, b"EHLO a.example")).startswith(b"250")
        assert (await command(mail_reader, mail_writer, b"MAIL FROM:<a@a.example>"))[:3] == b"250"
        assert (await command(idle[1], idle[2], b"EHLO b.example")).startswith(b"250")
        # The sessions with no mail on the way are told long before the command timeout...
        for _, reader, writer in (idle, silent):
            assert (await asyncio.wait_for(reader.read(), 10)).startswith(b"421 4.4.2")
            writer.close()
        assert refusals(registry, "timeout") == 2.0
        # ... while the one with a mail on the way, idle as long, is still served.
        rcpt = b"RCPT TO:<" + SUPPORT.encode() + b">"
        assert (await command(mail_reader, mail_writer, rcpt)).startswith(b"250")
        mail_writer.close()


async def test_control_characters_a_client_sends_are_escaped_in_the_log(rig: Rig) -> None:
    with server_log() as log:
        _, reader, writer = await open_session(rig.port)
        reply = await command(reader, writer, b"\x1b[2J\x1b]0;PWNED\x07FOO\x00\x7f")
        writer.close()
    assert reply.startswith(b"500")  # logged before it answered
    lines = [line for line in log.getvalue().splitlines() if " mail.log: " in line]
    assert any("\\x1b[2J\\x1b]0;PWNED\\x07FOO\\x00\\x7f" in line for line in lines), lines
    assert not [line for line in lines if any(ch in line for ch in "\x1b\x07\x00\x7f")]


@pytest.mark.parametrize(
    "path",
    [
        "<sara@example.ir>",
        "<customer12@example.ir> SIZE=1234 BODY=8BITMIME",
        "<a.b+c@x-y.example.ir>  SIZE=1  BODY=8BITMIME ",
        "<a@b> ",
        "<a@b> =x",
        "<>",
        "sara@example.ir",
        '<"q u"@example.ir>',
        "<a@[192.0.2.1]>",
        "<a@example.ir> (comment)",
        "<مشتری@example.ir> SMTPUTF8",
        "<a..b@example.ir>",
        "<a@example.ir.>",
        "<a@example.ir>SIZE=1",
        "<@relay.example:a@example.ir>",
        "< a@example.ir>",
        "<" + "l" * 65 + "@example.ir>",
    ],
)
async def test_smtp_paths_read_as_aiosmtpd_reads_them(rig: Rig, path: str) -> None:
    ours = adapter_module._SmtpServer(rig.adapter, object(), line_limit=1001)
    theirs = SMTP(object())
    assert ours._getaddr(path) == theirs._getaddr(path)


async def test_a_plain_mail_transaction_does_not_parse_its_paths_as_headers(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`<local@domain>` paths, as nearly every client sends them, are read without the
    email package's header parser (two per mail, ~130 us each on the event loop)."""
    parsed: list[str] = []

    def counted(value: str) -> Any:
        parsed.append(value)
        return real(value)

    real = get_angle_addr  # what aiosmtpd's SMTP._getaddr calls
    monkeypatch.setattr(aiosmtpd_smtp, "get_angle_addr", counted)
    await smtp_send(
        rig.port, make_mail(), mail_from="sara@example.ir", to=["support@support.localhost"]
    )
    assert [msg.sender_address for msg in rig.ingest.stored] == ["sara@example.ir"]
    assert parsed == []


# --- outbound sessions to the relay ---------------------------------------------------


def test_the_size_declared_is_what_data_carries() -> None:
    """SIZE counts the mail as aiosmtplib sends it, every line ending as CRLF (a lone CR
    or LF too) and a CRLF after the last line: for every short mix of text, CR and LF."""
    for length in range(7):
        for letters in itertools.product(b"a\r\n.", repeat=length):
            data = bytes(letters)
            assert transmitted_size(data) == len(normalize_message_line_endings(data)), data


async def test_mails_to_the_relay_share_one_session(rig: Rig) -> None:
    for n in range(1, 4):
        result = await rig.adapter.send(outbound(outbox_id=n, address=f"c{n}@example.ir"))
        assert result.status == DeliveryStatus.DELIVERED
    mails = await rig.relay.wait_for(3)
    assert [mail.rcpt_tos for mail in mails] == [(f"c{n}@example.ir",) for n in range(1, 4)]
    assert len(rig.relay.sessions) == 1


async def test_a_wave_of_mails_opens_at_most_the_pools_sessions(rig: Rig) -> None:
    results = await asyncio.gather(
        *(rig.adapter.send(outbound(outbox_id=n, address=f"c{n}@example.ir")) for n in range(12))
    )
    assert {result.status for result in results} == {DeliveryStatus.DELIVERED}
    assert len(await rig.relay.wait_for(12)) == 12
    assert 1 <= len(rig.relay.sessions) <= RELAY_SESSIONS


async def test_a_mail_to_recipients_some_refused_goes_to_the_rest_and_all_refused_raises(
    rig: Rig,
) -> None:
    """As aiosmtplib's `sendmail`: one recipient refused, the mail goes to the others;
    every one refused, `SMTPRecipientsRefused` (their replies), the envelope reset, and
    the session takes the next mail."""
    pool = RelayPool(
        lambda: aiosmtplib.SMTP(hostname="127.0.0.1", port=rig.relay.port, start_tls=False)
    )
    mail = Message()
    mail["Subject"] = "x"
    mail.set_payload("y\n")
    sender = "support@support.localhost"
    rig.relay.rcpt_replies = ["550 5.1.1 No such user here"]
    await pool.send(mail, sender=sender, recipients=["gone@example.ir", "sara@example.ir"])
    (first,) = await rig.relay.wait_for(1)
    assert first.rcpt_tos == ("sara@example.ir",)
    rig.relay.rcpt_replies = ["550 5.1.1 No such user here", "450 4.2.0 Mailbox busy"]
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await pool.send(mail, sender=sender, recipients=["gone@example.ir", "busy@example.ir"])
    assert [r.code for r in refused.value.recipients] == [550, 450]
    await pool.send(mail, sender=sender, recipients=["sara@example.ir"])
    assert len(await rig.relay.wait_for(2)) == 2
    assert len(rig.relay.sessions) == 1
    await pool.close()


async def test_a_session_the_relay_dropped_is_replaced(rig: Rig) -> None:
    assert (await rig.adapter.send(outbound(outbox_id=1))).status == DeliveryStatus.DELIVERED
    rig.relay.drop_sessions()
    # Sent at once: the client may not have seen the close yet.
    assert (await rig.adapter.send(outbound(outbox_id=2))).status == DeliveryStatus.DELIVERED
    assert len(await rig.relay.wait_for(2)) == 2
    assert len(rig.relay.sessions) == 2


async def test_a_relay_closing_an_idle_session_with_421_gets_the_mail_on_a_new_one(
    rig: Rig,
) -> None:
    assert (await rig.adapter.send(outbound(outbox_id=1))).status == DeliveryStatus.DELIVERED
    rig.relay.mail_replies = ["421 4.4.2 relay.test Error: timeout exceeded"]
    result = await rig.adapter.send(outbound(outbox_id=2))
    assert result.status == DeliveryStatus.DELIVERED, result.error
    assert len(await rig.relay.wait_for(2)) == 2
    assert len(rig.relay.sessions) == 2


async def test_a_421_on_a_new_session_is_a_retry_not_a_loop(rig: Rig) -> None:
    rig.relay.mail_replies = ["421 4.3.2 relay.test shutting down"] * 3
    result = await rig.adapter.send(outbound(outbox_id=1))
    assert result.status == DeliveryStatus.RETRY
    assert result.error is not None and "421 4.3.2" in result.error
    assert len(rig.relay.sessions) == 1  # one attempt on one new session, no second
    assert len(rig.relay.mail_replies) == 2


def plain_mail(to: str) -> Message:
    mail = Message()
    mail["To"] = to
    mail["Subject"] = "hi"
    mail.set_payload("hi\n")
    return mail


async def test_sessions_idle_too_long_or_used_for_many_mails_are_not_reused() -> None:
    relay = FakeRelay()
    await relay.start()
    now = [0.0]
    pool = RelayPool(
        lambda: aiosmtplib.SMTP(hostname="127.0.0.1", port=relay.port, timeout=5),
        max_mails=2,
        max_idle=30.0,
        clock=lambda: now[0],
    )
    try:
        for _ in range(3):  # the third mail is past max_mails
            await pool.send(plain_mail("a@example.ir"), sender="s@x.test", recipients=["a@x.test"])
        assert len(relay.sessions) == 2
        now[0] += 31.0
        await pool.send(plain_mail("a@example.ir"), sender="s@x.test", recipients=["a@x.test"])
        assert len(relay.sessions) == 3
        assert len(await relay.wait_for(4)) == 4
    finally:
        await pool.close()
        await relay.stop()
