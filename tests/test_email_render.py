"""Outbound MIME: threading headers, RTL HTML, loop-safety headers, attachments."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

from channels.email.parse import parse_mail
from channels.email.render import (
    outbound_message_id,
    render_outbound,
    reply_subject,
    thread_references,
)
from channels.email.tokens import ReplyTokens
from router.core.messages import AttachmentRef, AuthorKind, OutboundMessage


def outbound(**changes: object) -> OutboundMessage:
    values: dict[str, object] = {
        "outbox_id": 3,
        "message_id": 7,
        "thread_id": 5,
        "channel": "email",
        "address": "sara@example.ir",
        "text": "سلام\nسفارش شما ارسال شد.\n\n<b>ممنون</b>",
        "author": AuthorKind.BOT,
        "author_name": "پشتیبانی",
        "language": "fa",
        "subject": "وضعیت سفارش",
        "references": ("first@mail.gmail.com", "sha256:" + "0" * 64, "7.2.aa@support.localhost"),
    }
    values.update(changes)
    return OutboundMessage(**values)  # type: ignore[arg-type]


def render(message: OutboundMessage, **kwargs: object) -> EmailMessage:
    tokens = ReplyTokens("k")
    mail = render_outbound(
        message,
        from_address="support@support.localhost",
        reply_to=tokens.address(message.thread_id, "support@support.localhost"),
        message_id=outbound_message_id(message, secret="k", domain="support.localhost"),
        **kwargs,  # type: ignore[arg-type]
    )
    # Round-trip through bytes, as the relay will see it.
    parsed = email.message_from_bytes(mail.as_bytes(policy=policy.SMTP), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_threading_headers_and_reply_to_token() -> None:
    mail = render(outbound())
    assert mail["In-Reply-To"] == "<7.2.aa@support.localhost>"
    assert mail["References"] == "<first@mail.gmail.com> <7.2.aa@support.localhost>"
    assert mail["Message-ID"].startswith("<7.3.") and mail["Message-ID"].endswith(
        "@support.localhost>"
    )
    reply_to = mail["Reply-To"].addresses[0].addr_spec
    assert ReplyTokens("k").find([reply_to], domains=["support.localhost"]) is not None
    assert ReplyTokens("k").find([reply_to], domains=["support.localhost"])[1] == 5  # type: ignore[index]
    assert mail["Subject"] == "Re: وضعیت سفارش"
    assert mail["To"] == "sara@example.ir"
    assert mail["From"].addresses[0].display_name == "پشتیبانی"


def test_message_id_stable_per_outbox_row_and_keyed() -> None:
    a = outbound_message_id(outbound(), secret="k", domain="support.localhost")
    assert a == outbound_message_id(outbound(), secret="k", domain="support.localhost")
    assert a != outbound_message_id(outbound(outbox_id=4), secret="k", domain="support.localhost")
    assert a != outbound_message_id(outbound(), secret="other", domain="support.localhost")


def test_rtl_html_alternative_and_escaping() -> None:
    mail = render(outbound())
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().replace("\r\n", "\n") == "سلام\nسفارش شما ارسال شد.\n\n<b>ممنون</b>\n"
    content = html.get_content()
    assert '<html lang="fa" dir="rtl">' in content
    assert "&lt;b&gt;ممنون&lt;/b&gt;" in content and "<b>" not in content
    assert mail["Content-Language"] == "fa"


def test_english_is_ltr() -> None:
    html = render(outbound(language="en", text="Hi")).get_body(("html",))
    assert html is not None
    assert '<html lang="en" dir="ltr">' in html.get_content()


def test_automated_headers_only_for_automated_mail() -> None:
    bot = render(outbound())
    assert bot["Auto-Submitted"] == "auto-replied"
    assert bot["X-Auto-Response-Suppress"] == "All"
    agent = render(outbound(author=AuthorKind.AGENT, automated=False))
    assert agent["Auto-Submitted"] is None
    assert agent["X-Auto-Response-Suppress"] is None


def test_no_references_no_threading_headers_and_default_subject() -> None:
    mail = render(outbound(references=(), subject=None))
    assert mail["In-Reply-To"] is None and mail["References"] is None
    assert mail["Subject"] == "پاسخ به درخواست پشتیبانی شما"


def test_subject_prefix_and_header_injection() -> None:
    assert reply_subject("Re: order", "en", replying=True) == "Re: order"
    assert reply_subject("RE: order", "en", replying=True) == "RE: order"
    assert reply_subject("order", "en", replying=True) == "Re: order"
    mail = render(outbound(subject="hi\r\nBcc: victim@example.com", author_name="x\nBcc: y@z"))
    assert mail["Bcc"] is None
    assert mail["Subject"] == "Re: hi Bcc: victim@example.com"


def test_references_are_capped_keeping_the_first() -> None:
    refs = [f"{i}@x.example" for i in range(50)]
    kept = thread_references(refs)
    assert len(kept) == 20
    assert kept[0] == "0@x.example" and kept[-1] == "49@x.example"


def test_suggestions_and_attachments() -> None:
    ref = AttachmentRef("0" * 64, "فاکتور.pdf", "application/pdf", 3)
    mail = render(outbound(suggestions=("بله", "خیر")), files=[(ref, b"pdf")])
    assert mail.get_content_type() == "multipart/mixed"
    text = mail.get_body(("plain",))
    assert text is not None and text.get_content().replace("\r\n", "\n").endswith("- بله\n- خیر\n")
    parts = list(mail.iter_attachments())
    assert [(p.get_filename(), p.get_content()) for p in parts] == [("فاکتور.pdf", b"pdf")]


def test_our_parser_reads_what_we_render() -> None:
    message = outbound()
    mail = render_outbound(
        message,
        from_address="support@support.localhost",
        reply_to="support+t@support.localhost",
        message_id="m@support.localhost",
    )
    parsed = parse_mail(mail.as_bytes(policy=policy.SMTP))
    assert parsed.message_id == "m@support.localhost"
    assert parsed.in_reply_to == ("7.2.aa@support.localhost",)
    assert parsed.body == message.text


def test_a_mail_that_answers_nothing_has_no_re_prefix() -> None:
    # A verification code mail starts its own thread: "Re:" would claim a reply.
    code_mail = render(outbound(references=(), subject="کد تأیید نشانی ایمیل"))
    assert code_mail["Subject"] == "کد تأیید نشانی ایمیل"
    # A mail only our own ids point at (no message of the customer's) is no reply either.
    unusable = render(outbound(references=("sha256:" + "0" * 64,), subject="order"))
    assert unusable["Subject"] == "order"
    assert reply_subject("order", "en", replying=False) == "order"
    assert reply_subject("order", "en", replying=True) == "Re: order"


def test_a_proactive_message_offers_one_click_unsubscribe_under_its_own_subject() -> None:
    link = "https://support.example.com/outreach/unsubscribe?t=1.abc&lang=fa"
    mail = render(
        outbound(unsubscribe_url=link, subject="پایان گارانتی", references=("a@example.ir",))
    )
    assert mail["List-Unsubscribe"].strip() == f"<{link}>"  # long: folded onto its own line
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Subject"] == "پایان گارانتی"
    assert mail["Auto-Submitted"] == "auto-generated"
    plain = render(outbound(references=("a@example.ir",)))
    assert plain["List-Unsubscribe"] is None and plain["List-Unsubscribe-Post"] is None
