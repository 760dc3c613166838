"""Auto-reply, bounce, list and null-sender detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.email.loops import MailKind, classify
from channels.email.parse import parse_mail

FIXTURES = Path(__file__).parent / "fixtures" / "email"


def mail(headers: str, body: str = "hello") -> bytes:
    base = "From: Customer <c@example.com>\r\nTo: support@support.localhost\r\nSubject: hi\r\n"
    return (base + headers + "\r\n" + body + "\r\n").encode()


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        ("", MailKind.HUMAN),
        ("Auto-Submitted: no\r\n", MailKind.HUMAN),
        ("Auto-Submitted: auto-replied\r\n", MailKind.AUTO_REPLY),
        ("Auto-Submitted: auto-generated\r\n", MailKind.AUTO_REPLY),
        ("X-Autoreply: yes\r\n", MailKind.AUTO_REPLY),
        ("X-Autorespond: whatever\r\n", MailKind.AUTO_REPLY),
        ("X-Auto-Response-Suppress: All\r\n", MailKind.AUTO_REPLY),
        ("Precedence: bulk\r\n", MailKind.AUTO_REPLY),
        ("Precedence: junk\r\n", MailKind.AUTO_REPLY),
        ("Precedence: auto_reply\r\n", MailKind.AUTO_REPLY),
        ("Precedence: list\r\n", MailKind.LIST),
        ("List-Id: <x.lists.example>\r\n", MailKind.LIST),
        ("List-Unsubscribe: <mailto:u@x>\r\n", MailKind.LIST),
        ("Return-Path: <>\r\n", MailKind.NULL_SENDER),
        ("X-Failed-Recipients: gone@example.com\r\n", MailKind.BOUNCE),
    ],
)
def test_headers(headers: str, kind: MailKind) -> None:
    result = classify(parse_mail(mail(headers)))
    assert result.kind == kind
    assert result.automated == (kind != MailKind.HUMAN)


def test_null_envelope_sender() -> None:
    parsed = parse_mail(mail(""))
    assert classify(parsed, envelope_sender="").kind == MailKind.NULL_SENDER
    assert classify(parsed, envelope_sender="c@example.com").kind == MailKind.HUMAN


def test_mailer_daemon_sender_is_a_bounce() -> None:
    raw = b"From: MAILER-DAEMON@mx.example\r\nSubject: failure\r\n\r\nundeliverable\r\n"
    assert classify(parse_mail(raw)).kind == MailKind.BOUNCE


def test_our_own_mail_coming_back() -> None:
    raw = b"From: support+abc@support.localhost\r\nSubject: Re: x\r\n\r\nlooped\r\n"
    own = frozenset({"support@support.localhost"})
    assert classify(parse_mail(raw), own_addresses=own).kind == MailKind.OWN_MAIL


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("chatwoot/bounced_gmail.eml", MailKind.BOUNCE),
        ("chatwoot/bounced_with_no_from.eml", MailKind.BOUNCE),
        ("chatwoot/non_utf_encoded_mail.eml", MailKind.AUTO_REPLY),
        ("pasokh/fa_out_of_office.eml", MailKind.AUTO_REPLY),
        ("pasokh/en_list_mail.eml", MailKind.LIST),
        ("chatwoot/mail_with_quote.eml", MailKind.HUMAN),
        ("pasokh/fa_gmail_reply.eml", MailKind.HUMAN),
        ("pasokh/fa_outlook_html_only.eml", MailKind.HUMAN),
    ],
)
def test_fixtures(name: str, kind: MailKind) -> None:
    assert classify(parse_mail((FIXTURES / name).read_bytes())).kind == kind


def _report(report_type: str, part_type: str, fields: str) -> bytes:
    """A machine's report as Outlook and Gmail send read receipts: `multipart/report`,
    no `Auto-Submitted`, a human-readable part and the report part."""
    return (
        "From: Nima <nima@customer.test>\r\n"
        "To: support+r1@support.localhost\r\n"
        "Subject: Read: Re: order 98765\r\n"
        "MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="b1"\r\n'
        "\r\n--b1\r\nContent-Type: text/plain\r\n\r\n"
        "Your message was read on Monday.\r\n"
        f"--b1\r\nContent-Type: {part_type}\r\n\r\n{fields}\r\n--b1--\r\n"
    ).encode()


@pytest.mark.parametrize(
    "raw",
    [
        _report(
            "disposition-notification",
            "message/disposition-notification",
            "Final-Recipient: rfc822; nima@customer.test\r\n"
            "Disposition: manual-action/MDN-sent-manually; displayed",
        ),
        _report(
            "feedback-report",
            "message/feedback-report",
            "Feedback-Type: abuse\r\nUser-Agent: SomeISP/1.0\r\nVersion: 1",
        ),
    ],
    ids=["read-receipt", "abuse-report"],
)
def test_read_receipts_and_feedback_reports_are_automated(raw: bytes) -> None:
    result = classify(parse_mail(raw))
    assert result.kind == MailKind.REPORT and result.automated
    assert "multipart/report" in result.reason


def test_a_read_receipt_inside_another_container_is_automated() -> None:
    raw = (
        b"From: Nima <nima@customer.test>\r\n"
        b"To: support@support.localhost\r\n"
        b"Subject: Read: order\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n'
        b"\r\n--b1\r\nContent-Type: text/plain\r\n\r\nread\r\n"
        b"--b1\r\nContent-Type: message/disposition-notification\r\n\r\n"
        b"Disposition: automatic-action/MDN-sent-automatically; displayed\r\n--b1--\r\n"
    )
    assert classify(parse_mail(raw)).kind == MailKind.REPORT


def test_a_mail_asking_for_a_read_receipt_is_a_persons() -> None:
    """`Disposition-Notification-To` asks for a receipt: the mail itself is the
    customer's own (Pasokh sends no receipts)."""
    raw = mail("Disposition-Notification-To: c@example.com\r\n")
    assert classify(parse_mail(raw)).kind == MailKind.HUMAN
