"""Email through the real running app: smtplib in, a second aiosmtpd server as the relay.

The app is built by `build_app` with the adapters `build_adapters` makes from settings
(so the email channel is wired the way `pasokh serve` wires it), on a real database.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from channels.email.adapter import EmailAdapter
from channels.email.parse import parse_mail
from channels.email.tokens import ReplyTokens
from config.settings import Settings
from router.agents.replies import post_message
from router.context import AppContext
from router.core.messages import utcnow
from router.core.responder import Answer, Decision, MessageView, ThreadContext
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.models import AuditEvent, Message, Thread, ThreadStatus
from tests.agent_support import make_agent
from tests.email_support import SUPPORT, FakeRelay, RelayedMail, make_mail, smtp_send, with_email

FIXTURES = Path(__file__).parent / "fixtures" / "email"


class EchoBot:
    """Answers every human message, quoting the text it was given."""

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        return Answer(text=f"پاسخ ربات به: {new.text}", language="fa")


@dataclass
class EmailApp:
    context: AppContext
    relay: FakeRelay
    port: int
    secret: str

    async def send(self, raw: bytes, *, mail_from: str, to: str = SUPPORT) -> None:
        await smtp_send(self.port, raw, mail_from=mail_from, to=[to])

    async def answer(self, number: int) -> EmailMessage:
        """The `number`-th mail (1-based) the relay received."""
        mails: list[RelayedMail] = await self.relay.wait_for(number)
        return mails[number - 1].message

    async def inbound(self, external_id: str) -> Message:
        async with self.context.sessions() as session:
            message = await session.scalar(
                select(Message).where(
                    Message.channel == "email", Message.external_id == external_id
                )
            )
        assert message is not None, external_id
        return message

    def token_thread(self, mail: EmailMessage) -> int:
        reply_to = mail["Reply-To"].addresses[0].addr_spec
        found = ReplyTokens(self.secret).find([reply_to], domains=["support.localhost"])
        assert found is not None
        return found[1]


@pytest.fixture
async def email_app(settings: Settings, start_app: Any, relay: FakeRelay) -> EmailApp:
    return await start_email_app(settings, start_app, relay, EchoBot())


async def start_email_app(
    settings: Settings, start_app: Any, relay: FakeRelay, responder: Any
) -> EmailApp:
    """The app with its email channel on a free port, sending through `relay`."""
    settings = with_email(settings, relay, max_message_bytes=100_000)
    _, context = await start_app(settings, responder=responder)
    adapter = context.adapters["email"]
    assert isinstance(adapter, EmailAdapter)
    return EmailApp(context, relay, adapter.port, settings.server.secret_key)


def reply(
    answer: EmailMessage,
    body: str,
    *,
    message_id: str,
    sender: str = "Sara <sara@example.ir>",
    to_token: bool = True,
    in_reply_to: bool = True,
) -> bytes:
    """A customer's reply to one of our mails, the way mail clients build it."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = answer["Reply-To"] if to_token else SUPPORT
    mail["Subject"] = "Re: " + str(answer["Subject"]).removeprefix("Re: ")
    mail["Message-ID"] = message_id
    ours = answer["Message-ID"]
    if in_reply_to:
        mail["In-Reply-To"] = ours
    mail["References"] = f"{answer['References'] or ''} {ours}".strip()
    mail.set_content(body)
    return bytes(mail)


async def test_thread_answer_and_replies_from_three_clients(email_app: EmailApp) -> None:
    app = email_app
    await app.send(make_mail(body="سفارش ۱۲۳۴ من کجاست؟"), mail_from="sara@example.ir")
    first = await app.inbound("first-1@example.ir")
    assert first.text == "سفارش ۱۲۳۴ من کجاست؟"

    answer = await app.answer(1)
    assert answer["To"] == "sara@example.ir"
    assert answer["Subject"] == "Re: وضعیت سفارش"
    assert answer["In-Reply-To"] == "<first-1@example.ir>"
    assert answer["References"] == "<first-1@example.ir>"
    assert answer["Auto-Submitted"] == "auto-replied"
    assert app.token_thread(answer) == first.thread_id
    html = answer.get_body(("html",))
    assert html is not None and 'dir="rtl"' in html.get_content()
    plain = answer.get_body(("plain",))
    assert plain is not None and "پاسخ ربات به: سفارش ۱۲۳۴ من کجاست؟" in plain.get_content()

    gmail = reply(
        answer,
        "هنوز نرسیده.\n\nOn Mon, Nov 23, 2026 at 10:00 AM Shop <support@support.localhost>"
        " wrote:\n\n> پاسخ ربات به: سفارش ۱۲۳۴ من کجاست؟\n",
        message_id="<gmail-2@mail.gmail.com>",
    )
    await app.send(gmail, mail_from="sara@example.ir")
    second = await app.inbound("gmail-2@mail.gmail.com")
    assert second.thread_id == first.thread_id
    assert second.text == "هنوز نرسیده."
    assert second.full_text is not None and "> پاسخ ربات به" in second.full_text

    answer2 = await app.answer(2)
    assert answer2["In-Reply-To"] == "<gmail-2@mail.gmail.com>"
    references = str(answer2["References"]).split()
    assert references[0] == "<first-1@example.ir>"
    assert answer["Message-ID"] in references and "<gmail-2@mail.gmail.com>" in references

    outlook = reply(
        answer2,
        "The parcel is still missing.\n\n________________________________\n"
        "From: Shop <support@support.localhost>\nSent: Monday, November 23, 2026 10:05 AM\n"
        "To: Sara\nSubject: Re: order\n\nپاسخ ربات به: هنوز نرسیده.\n",
        message_id="<outlook-3@eurprd01.prod.outlook.com>",
        in_reply_to=False,  # Outlook-style: token and References only
    )
    await app.send(outlook, mail_from="sara@example.ir")
    third = await app.inbound("outlook-3@eurprd01.prod.outlook.com")
    assert (third.thread_id, third.text) == (first.thread_id, "The parcel is still missing.")

    answer3 = await app.answer(3)
    thunderbird = reply(
        answer3,
        "Any news?\n\nOn 11/23/26 10:10 AM, Shop wrote:\n> پاسخ ربات به: The parcel\n",
        message_id="<tb-4@example.ir>",
        to_token=False,  # to the plain support address: no token
    )
    await app.send(thunderbird, mail_from="sara@example.ir")
    fourth = await app.inbound("tb-4@example.ir")
    assert (fourth.thread_id, fourth.text) == (first.thread_id, "Any news?")
    await app.answer(4)

    async with app.context.sessions() as session:
        threads = await session.scalar(select(func.count()).select_from(Thread))
    assert threads == 1


async def test_reply_reaches_the_thread_it_answers_not_the_latest(
    email_app: EmailApp,
) -> None:
    """With two past threads, the token/References choose the older one."""
    app = email_app
    app.context.settings = app.context.settings.replace("threads", reopen_window_minutes=0)

    async def resolve_all() -> None:
        async with app.context.sessions() as session, session.begin():
            await session.execute(
                update(Thread).values(
                    status=ThreadStatus.RESOLVED, resolved_at=utcnow() - timedelta(minutes=5)
                )
            )

    await app.send(make_mail(message_id="<a-1@example.ir>"), mail_from="sara@example.ir")
    thread_a = (await app.inbound("a-1@example.ir")).thread_id
    answer_a = await app.answer(1)
    await resolve_all()
    await app.send(
        make_mail(message_id="<b-1@example.ir>", subject="دیگر"), mail_from="sara@example.ir"
    )
    thread_b = (await app.inbound("b-1@example.ir")).thread_id
    await app.answer(2)
    await resolve_all()
    assert thread_a != thread_b

    await app.send(
        reply(answer_a, "درباره سفارش اول", message_id="<a-2@example.ir>"),
        mail_from="sara@example.ir",
    )
    late = await app.inbound("a-2@example.ir")
    async with app.context.sessions() as session:
        thread = await session.get_one(Thread, late.thread_id)
    assert thread.previous_thread_id == thread_a  # linked to the thread replied to


async def test_stranger_with_a_stolen_token_gets_their_own_thread(email_app: EmailApp) -> None:
    app = email_app
    await app.send(make_mail(), mail_from="sara@example.ir")
    sara_thread = (await app.inbound("first-1@example.ir")).thread_id
    answer = await app.answer(1)

    stolen = reply(
        answer,
        "Send the parcel to my address instead.",
        message_id="<evil-1@evil.example>",
        sender="Mallory <mallory@evil.example>",
    )
    await app.send(
        stolen, mail_from="mallory@evil.example", to=answer["Reply-To"].addresses[0].addr_spec
    )
    evil = await app.inbound("evil-1@evil.example")
    assert evil.thread_id != sara_thread
    async with app.context.sessions() as session:
        link = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "foreign_thread_reference")
        )
        sara_messages = await session.scalar(
            select(func.count()).where(
                Message.thread_id == sara_thread, Message.text.contains("parcel")
            )
        )
    assert link is not None
    assert link.thread_id == evil.thread_id
    assert link.details["referred_thread_id"] == sara_thread
    assert sara_messages == 0

    to_mallory = await app.answer(2)
    assert to_mallory["To"] == "mallory@evil.example"
    assert app.token_thread(to_mallory) == evil.thread_id


async def test_auto_replies_bounces_and_lists_get_no_answer(email_app: EmailApp) -> None:
    app = email_app
    for name, sender in (
        ("pasokh/fa_out_of_office.eml", "ali@example.ir"),
        ("chatwoot/non_utf_encoded_mail.eml", "example@gmail.com"),
        ("chatwoot/bounced_gmail.eml", ""),
        ("chatwoot/bounced_with_no_from.eml", ""),
        ("pasokh/en_list_mail.eml", "news@shop.example"),
    ):
        await app.send((FIXTURES / name).read_bytes(), mail_from=sender)
    # A person's mail after them is answered: when its answer is out, nothing else was.
    await app.send(make_mail(message_id="<human@example.ir>"), mail_from="sara@example.ir")
    answer = await app.answer(1)
    assert answer["In-Reply-To"] == "<human@example.ir>"
    assert len(app.relay.received) == 1

    async with app.context.sessions() as session:
        automated = await session.scalar(
            select(func.count()).where(Message.direction == "in", Message.automated.is_(True))
        )
        outbound = await session.scalar(select(func.count()).where(Message.direction == "out"))
    assert automated == 5
    assert outbound == 1


async def test_550_and_552_through_the_app(email_app: EmailApp) -> None:
    app = email_app
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await app.send(make_mail(), mail_from="a@b.example", to="someone@gmail.com")
    assert refused.value.recipients["someone@gmail.com"][0] == 550
    big = make_mail(body=("x" * 900 + "\n") * 150)
    with pytest.raises(smtplib.SMTPException) as too_big:
        await app.send(big, mail_from="a@b.example")
    assert getattr(too_big.value, "smtp_code", None) == 552
    async with app.context.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 0
    # both refusals are counted on the app's /metrics
    registry = app.context.metrics.registry
    refused = "pasokh_email_refused_total"
    assert registry.get_sample_value(refused, {"reason": "relay"}) == 1.0
    assert registry.get_sample_value(refused, {"reason": "size"}) == 1.0


async def test_addresses_that_are_not_utf8_get_553_not_451_for_ever(email_app: EmailApp) -> None:
    app = email_app
    reader, writer = await asyncio.open_connection("127.0.0.1", app.port)

    async def say(line: bytes) -> bytes:
        writer.write(line + b"\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 10)

    try:
        assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"220")
        assert (await say(b"HELO client.example")).startswith(b"250")
        assert (await say(b"MAIL FROM:<\xff\xfe@x.example>")).startswith(b"553")
        assert (await say(b"MAIL FROM:<sara@example.ir>")).startswith(b"250")
        assert (await say(b"RCPT TO:<\xff@support.localhost>")).startswith(b"553")
        assert (await say(f"RCPT TO:<{SUPPORT}>".encode())).startswith(b"250")
        assert (await say(b"DATA")).startswith(b"354")
        writer.write(make_mail(message_id="<utf8-check@example.ir>") + b"\r\n.\r\n")
        await writer.drain()
        assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"250")
        await say(b"QUIT")
    finally:
        writer.close()
    assert (await app.inbound("utf8-check@example.ir")).text
    refused = app.context.metrics.registry.get_sample_value(
        "pasokh_email_refused_total", {"reason": "malformed"}
    )
    assert refused == 2.0


async def test_database_failure_451_then_stored_once(email_app: EmailApp, tmp_path: Path) -> None:
    app = email_app
    working = app.context.sessions
    broken = new_engine(f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'gone.db'}")
    app.context.sessions = new_sessionmaker(broken)
    mail = make_mail(message_id="<during-outage@example.ir>")
    try:
        with pytest.raises(smtplib.SMTPDataError) as error:
            await app.send(mail, mail_from="sara@example.ir")
        assert error.value.smtp_code == 451
    finally:
        app.context.sessions = working
        await broken.dispose()
    await app.send(mail, mail_from="sara@example.ir")  # the sender's retry
    await app.send(mail, mail_from="sara@example.ir")  # and a duplicate delivery
    async with app.context.sessions() as session:
        stored = await session.scalar(
            select(func.count()).where(Message.external_id == "during-outage@example.ir")
        )
    assert stored == 1
    await app.answer(1)
    assert len(app.relay.received) == 1


async def test_every_fixture_mail_is_accepted_and_stored(email_app: EmailApp) -> None:
    app = email_app
    paths = sorted(FIXTURES.glob("*/*.eml"))
    expected: set[str] = set()
    senders: set[tuple[str, str | None]] = set()
    for path in paths:
        raw = path.read_bytes()
        parsed = parse_mail(raw)
        expected.add(parsed.message_id or f"sha256:{parsed.content_hash()}")
        senders.add((parsed.message_id or f"sha256:{parsed.content_hash()}", parsed.sender))
        await app.send(raw, mail_from=parsed.sender or "")  # raises unless 250
    async with app.context.sessions() as session:
        rows = (
            await session.execute(
                select(Message.external_id, Message.attachments).where(
                    Message.channel == "email", Message.direction == "in"
                )
            )
        ).all()
    stored = {external_id for external_id, _ in rows}
    raw_kept = sum(1 for _, files in rows if files[0]["content_type"] == "message/rfc822")
    # Mails sharing a Message-ID (several upstream fixtures do) are stored once per sender.
    assert stored == expected
    assert raw_kept == len(rows) == len(senders)


async def test_flowed_text_inline_image_placeholders_and_winmail_dat_reach_agents_clean(
    email_app: EmailApp,
) -> None:
    """What Apple Mail, Thunderbird and Outlook send, through the SMTP server: the agent
    reads the text as written (no hard breaks in mid-sentence, no `[cid:img1]`) and the
    files Outlook packed in `winmail.dat`."""
    for name in ("en_apple_flowed_inline_image", "en_thunderbird_flowed", "fa_outlook_winmail"):
        raw = (FIXTURES / "pasokh" / f"{name}.eml").read_bytes()
        sender = parse_mail(raw).sender
        assert sender is not None
        await email_app.send(raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"), mail_from=sender)
    apple = await email_app.inbound("apple2@customer.test")
    assert apple.text == (
        "Hello, when I try to pay the page shows this error and I cannot continue with my"
        " order number 98765. Could you please check what is wrong?"
    )  # "Sent from my iPhone" is the signature, left out as always
    assert [f["filename"] for f in apple.attachments[1:]] == ["image0.png"]
    thunderbird = await email_app.inbound("tb8@customer.test")
    assert thunderbird.text.startswith(
        "I still have not received the refund for order 5555, it has been two weeks since"
        " you told me it was processed."
    )
    outlook = await email_app.inbound("0A1B2C3D4E5F@EXCH01.customer.test")
    assert [(f["filename"], f["content_type"]) for f in outlook.attachments[1:]] == [
        ("فاکتور خرید ۱۲۳۴.pdf", "application/pdf"),
        ("screenshot.png", "image/png"),
    ]


def bounce_for(answer: EmailMessage, recipient: str) -> bytes:
    """A mailer-daemon's delivery-status notification (RFC 3464) for `answer`."""
    ours = answer["Message-ID"]
    return (
        "From: Mail Delivery Subsystem <mailer-daemon@mx.example.ir>\r\n"
        "To: support@support.localhost\r\n"
        "Subject: Delivery Status Notification (Failure)\r\n"
        "Message-ID: <dsn-1@mx.example.ir>\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
        f"Your message to {recipient} could not be delivered.\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.ir\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 mailbox does not exist\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {ours}\r\nTo: {recipient}\r\n"
        "\r\n--B--\r\n"
    ).encode()


async def test_bounce_marks_identity_and_delivery_failing(email_app: EmailApp) -> None:
    from router.storage.models import Identity, OutboxItem, OutboxStatus

    app = email_app
    await app.send(make_mail(message_id="<b-1@example.ir>"), mail_from="sara@example.ir")
    answer = await app.answer(1)
    await app.send(bounce_for(answer, "sara@example.ir"), mail_from="")
    async with app.context.sessions() as session:
        identity = await session.scalar(
            select(Identity).where(
                Identity.channel == "email", Identity.address == "sara@example.ir"
            )
        )
        rows = list(await session.scalars(select(OutboxItem)))
        audit = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "delivery_failed")
        )
    assert identity is not None and identity.unreachable_reason is not None
    assert "mailbox does not exist" in identity.unreachable_reason
    assert [r.status for r in rows] == [OutboxStatus.DEAD]  # the bot's answer, bounced
    assert audit is not None and audit.details["address"] == "sara@example.ir"
    assert len(app.relay.received) == 1  # and nobody answered the bounce


async def test_email_counters_on_the_apps_metrics(email_app: EmailApp, start_app: Any) -> None:
    await email_app.send(make_mail(message_id="<m-1@example.ir>"), mail_from="sara@example.ir")
    await email_app.answer(1)
    from prometheus_client import generate_latest

    text = generate_latest(email_app.context.metrics.registry).decode()
    assert 'pasokh_email_received_total{kind="human"}' in text


async def test_a_nul_in_body_and_subject_is_dropped_logged_and_counted_by_ingest(
    email_app: EmailApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="router.core.ingest")
    registry = email_app.context.metrics.registry
    altered = {"channel": "email", "reason": "unstorable"}
    before = registry.get_sample_value("pasokh_inbound_altered_total", altered) or 0.0
    raw = (
        b"From: Sara <sara@example.ir>\r\nTo: support@support.localhost\r\n"
        b"Subject: a\x00b\r\nMessage-ID: <nul-1@example.ir>\r\n\r\nhello\x00world\r\n"
    )
    await email_app.send(raw, mail_from="sara@example.ir")
    stored = await email_app.inbound("nul-1@example.ir")
    assert (stored.text, stored.subject) == ("helloworld", "ab")
    assert registry.get_sample_value("pasokh_inbound_altered_total", altered) == before + 1
    logged = [r.getMessage() for r in caplog.records if r.name == "router.core.ingest"]
    changed = "made storable: full_text (unstorable), subject (unstorable), text (unstorable)"
    assert any("nul-1@example.ir" in line and changed in line for line in logged), logged


class ArabicBot:
    """Answers every human message in Arabic, as the tier-0 bot does for Arabic text."""

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        return Answer(text="شكرا لتواصلك معنا", language="ar")


@pytest.mark.parametrize(
    ("responder", "language", "label"),
    [(EchoBot(), "fa", "ادامهٔ گفتگو در چت"), (ArabicBot(), "ar", "تابع المحادثة في الدردشة")],
)
async def test_an_agents_reply_mail_speaks_the_threads_language(
    settings: Settings, start_app: Any, responder: Any, language: str, label: str
) -> None:
    relay = FakeRelay()
    await relay.start()
    try:
        app = await start_email_app(settings, start_app, relay, responder)
        await app.send(make_mail(body="سلام، طلبي لم يصل"), mail_from="sara@example.ir")
        first = await app.inbound("first-1@example.ir")
        bot_mail = await app.answer(1)
        boss = await make_agent(app.context, "Boss", is_admin=True)
        await post_message(app.context, boss.actor, first.thread_id, text="سلام، بررسی می‌کنم.")
        agent_mail = await app.answer(2)
    finally:
        await relay.stop()
    for mail in (bot_mail, agent_mail):
        html = mail.get_body(("html",))
        assert html is not None
        content = html.get_content()
        assert f'<html lang="{language}" dir="rtl">' in content
        assert f">{label}</a>" in content
        assert mail["Content-Language"] == language
    assert agent_mail["Auto-Submitted"] is None  # a person wrote it


# An encoded word inside the From domain (RFC 2047 section 5 forbids it there), as
# broken clients and attackers send it: "user@<encoded دانش>.test".
ENCODED_DOMAIN = "user@=?utf-8?b?2K/Yp9mG2LQ=?=.test"


@pytest.mark.parametrize(
    "sender", [ENCODED_DOMAIN, "=?utf-8?b?2K/Yp9mG2LQ=?=@example.ir", "sara@exa=mple.ir"]
)
async def test_a_from_address_no_reply_could_reach_is_refused_with_550(
    email_app: EmailApp, sender: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Stored, it made a thread whose every reply raised UnicodeEncodeError in the
    outbox; refused, the sender's server returns the mail with the reason."""
    caplog.set_level(logging.WARNING, logger="channels.email.adapter")
    raw = (
        f"From: Sara <{sender}>\r\nTo: {SUPPORT}\r\nSubject: hi\r\n"
        "Message-ID: <ew-1@example.ir>\r\n\r\nwhere is my order?\r\n"
    ).encode()
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await email_app.send(raw, mail_from="sara@example.ir")
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.1.7 Message refused: the From address")
    async with email_app.context.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Message)) == 0
        assert await session.scalar(select(func.count()).select_from(Thread)) == 0
    registry = email_app.context.metrics.registry
    counted = {"reason": "from_address"}
    assert registry.get_sample_value("pasokh_email_refused_total", counted) == 1.0
    logged = [r.getMessage() for r in caplog.records if "refused with 550" in r.getMessage()]
    assert logged and all("sara" not in line for line in logged)  # no address in the log


async def test_an_unanswerable_envelope_sender_is_not_taken_for_the_customer(
    email_app: EmailApp,
) -> None:
    """A From with no address falls back to the envelope sender; one no reply could
    reach is not taken: the mail is stored under the unreachable pseudo-sender."""
    from channels.email.adapter import UNKNOWN_SENDER
    from router.storage.models import Identity

    raw = (
        f"From: undisclosed-sender:;\r\nTo: {SUPPORT}\r\nSubject: hi\r\n"
        "Message-ID: <ew-env@example.ir>\r\n\r\nwhere is my order?\r\n"
    ).encode()
    await email_app.send(raw, mail_from="sara@exa=mple.ir")
    await email_app.inbound("ew-env@example.ir")
    async with email_app.context.sessions() as session:
        addresses = list(await session.scalars(select(Identity.address)))
    assert addresses == [UNKNOWN_SENDER]


async def test_an_encoded_word_in_an_envelope_address_gets_553(email_app: EmailApp) -> None:
    """aiosmtpd would decode it (`user@=?utf-8?b?...?=.test` became `user@دانش.test`,
    an address the client never wrote, and the customer's): refused at MAIL and RCPT."""
    reader, writer = await asyncio.open_connection("127.0.0.1", email_app.port)

    async def say(line: str) -> bytes:
        writer.write(line.encode() + b"\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), 10)

    try:
        assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"220")
        assert (await say("EHLO client.example")).startswith(b"250")
        while not (await asyncio.wait_for(reader.readline(), 10)).startswith(b"250 "):
            pass  # the rest of the EHLO lines
        assert (await say(f"MAIL FROM:<{ENCODED_DOMAIN}>")).startswith(b"553 5.1.7")
        assert (await say("MAIL FROM:<sara@example.ir>")).startswith(b"250")
        to_encoded = "RCPT TO:<support@=?utf-8?q?support.localhost?=>"
        assert (await say(to_encoded)).startswith(b"553 5.1.3")
        assert (await say("QUIT")).startswith(b"221")
    finally:
        writer.close()
    refused = email_app.context.metrics.registry.get_sample_value(
        "pasokh_email_refused_total", {"reason": "malformed"}
    )
    assert refused == 2.0


async def test_a_reply_to_such_an_address_stored_earlier_fails_once_never_loops(
    email_app: EmailApp, caplog: pytest.LogCaptureFixture
) -> None:
    """An identity stored before the channel refused such addresses: the bot's answer
    ends dead with a reason at its first attempt, the adapter raises nothing."""
    from router.core.messages import InboundMessage
    from router.storage.models import Identity, OutboxItem, OutboxStatus
    from tests.support import outbox_drained

    adapter = email_app.context.adapters["email"]
    assert isinstance(adapter, EmailAdapter) and adapter._services is not None
    legacy = ENCODED_DOMAIN.lower()  # as the parser stored it then
    await adapter._services.ingest(
        InboundMessage(channel="email", external_id="legacy-1", sender_address=legacy, text="hi")
    )
    await outbox_drained(email_app.context)
    async with email_app.context.sessions() as session:
        rows = list(await session.scalars(select(OutboxItem)))
        identity = await session.scalar(select(Identity).where(Identity.address == legacy))
    assert [(row.status, row.attempts) for row in rows] == [(OutboxStatus.DEAD, 1)]
    assert "not a mail address a relay accepts" in (rows[0].last_error or "")
    assert identity is not None and identity.unreachable_reason is not None
    assert not [r for r in caplog.records if "raised while sending" in r.getMessage()]
    assert email_app.relay.received == []


@pytest.mark.parametrize(
    ("sender", "smtputf8", "answered"),
    [
        # a raw UTF-8 local part, sent without SMTPUTF8
        ("کاربر@example.ir", False, "کاربر@example.ir"),
        # an IDN domain in U-labels: answered at its A-labels, the one form
        ("sara@پشتیبانی.ir", True, "sara@xn--mgbbf3b2fqpisd.ir"),
        # another IDN domain (پاکستان.ir) as sent in A-labels
        ("sara@xn--mgbai9azgqp6j.ir", False, "sara@xn--mgbai9azgqp6j.ir"),
    ],
)
async def test_internationalised_senders_get_their_answer(
    email_app: EmailApp, sender: str, smtputf8: bool, answered: str
) -> None:
    raw = make_mail(sender=f"Sara <{sender}>", message_id="<idn-1@example.ir>", utf8=True)
    mail_from = sender if smtputf8 else "bounces@example.ir"
    await smtp_send(email_app.port, raw, mail_from=mail_from, to=[SUPPORT], smtputf8=smtputf8)
    answer = await email_app.relay.wait_for(1)
    assert answer[0].rcpt_tos == (answered,)
    assert f"\r\nTo: {answered}\r\n".encode() in answer[0].data  # raw UTF-8 (RFC 6532)


IDN_U = "user@مثال.ایران"
IDN_A = "user@xn--mgbh0fb.xn--mgba3a4f16a"


async def test_an_idn_domain_in_u_labels_and_in_a_labels_is_one_customer(
    email_app: EmailApp,
) -> None:
    """Mail clients and downgrading servers write an internationalised domain either
    way: the same mailbox, one identity, one customer, one thread."""
    from router.storage.models import Identity

    first = make_mail(sender=f"Sara <{IDN_U}>", message_id="<idn-u@example.ir>", utf8=True)
    await smtp_send(email_app.port, first, mail_from=IDN_U, to=[SUPPORT], smtputf8=True)
    second = make_mail(
        sender=f"Sara <{IDN_A}>", message_id="<idn-a@example.ir>", body="و یک سوال دیگر"
    )
    await email_app.send(second, mail_from=IDN_A)
    one, other = (
        await email_app.inbound("idn-u@example.ir"),
        await email_app.inbound("idn-a@example.ir"),
    )
    assert one.customer_id == other.customer_id
    assert one.thread_id == other.thread_id
    async with email_app.context.sessions() as session:
        addresses = list(await session.scalars(select(Identity.address)))
    assert addresses == [IDN_A]


async def test_an_ascii_local_part_at_an_idn_domain_is_sent_without_smtputf8(
    settings: Settings, start_app: Any
) -> None:
    """Many smarthosts offer no SMTPUTF8. Only a non-ASCII local part needs it
    (RFC 6531); an IDN domain goes out in A-labels, in the envelope and the To header.
    A non-ASCII local part through such a relay fails at once, with a reason an agent
    can read, and is not retried."""
    from router.storage.models import OutboxItem, OutboxStatus
    from tests.support import outbox_drained

    relay = FakeRelay(smtputf8=False)
    await relay.start()
    try:
        app = await start_email_app(settings, start_app, relay, EchoBot())
        ascii_local = make_mail(
            sender=f"Sara <{IDN_U}>", message_id="<idn-smarthost@example.ir>", utf8=True
        )
        await smtp_send(app.port, ascii_local, mail_from=IDN_U, to=[SUPPORT], smtputf8=True)
        [sent] = await relay.wait_for(1)
        assert sent.rcpt_tos == (IDN_A,)
        assert sent.data.isascii()  # no SMTPUTF8 needed anywhere
        assert sent.message["To"].addresses[0].addr_spec == IDN_A

        persian = "کاربر@مثال.ایران"
        local_part = make_mail(
            sender=f"Sara <{persian}>", message_id="<idn-local@example.ir>", utf8=True
        )
        await smtp_send(app.port, local_part, mail_from=persian, to=[SUPPORT], smtputf8=True)
        await outbox_drained(app.context)
        async with app.context.sessions() as session:
            rows = list(await session.scalars(select(OutboxItem).order_by(OutboxItem.id)))
        assert [(row.status, row.attempts) for row in rows] == [
            (OutboxStatus.DELIVERED, 1),
            (OutboxStatus.DEAD, 1),
        ]
        assert "does not offer SMTPUTF8" in (rows[1].last_error or "")
        assert "کاربر@xn--mgbh0fb.xn--mgba3a4f16a" in (rows[1].last_error or "")
        assert len(relay.received) == 1
    finally:
        await relay.stop()
