"""Outbound MIME: threading headers, RTL HTML, loop-safety headers, attachments."""

from __future__ import annotations

import base64
import email
import re
from email import policy
from email.header import Header, decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parseaddr

import pytest
from aiosmtplib.email import flatten_message

import channels.email.render as render_module
from channels.email.parse import parse_mail
from channels.email.render import (
    OurMail,
    our_mail_of,
    outbound_message_id,
    plain_body,
    render_outbound,
    reply_subject,
    thread_references,
    wire_bytes,
)
from channels.email.tokens import ReplyTokens
from router.core.messages import AttachmentRef, AuthorKind, OutboundMessage
from router.core.security import PurposeKey


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


LONG_PERSIAN = "پشتیبانی فروشگاه " * 70  # ~1,200 characters: 2,200 octets of UTF-8
LONG_WORD = "x" * 1200  # no white space to fold at


@pytest.mark.parametrize(
    ("name", "subject"),
    [
        ("پشتیبانی فروشگاه", "وضعیت سفارش"),
        ("الدعم الفني", "حالة طلبك رقم ١٢٣"),
        ('Shop "Support", Team (24/7)', "Order status: <shipped>"),
        ("سارا Support", "Re: سفارش order #12"),
        (LONG_PERSIAN, LONG_PERSIAN),
        ("Long " * 300, "Word " * 300),
        (LONG_WORD, LONG_WORD),
        ("=?utf-8?q?looks_encoded?=", "=?utf-8?b?2LPZhNin2YU=?= is what I typed"),
    ],
    ids=[
        "fa",
        "ar",
        "en-specials",
        "mixed",
        "long-fa",
        "long-en",
        "long-word",
        "encoded-lookalike",
    ],
)
def test_every_header_and_part_decodes_to_what_was_meant_in_short_lines(
    name: str, subject: str
) -> None:
    """What leaves for the relay, parsed as a mail client does: each header and part
    reads back as written, every line is 7-bit and within SMTP's 998 octets, and each
    part is in the transfer encoding it declares."""
    link = "https://support.example.com/outreach/unsubscribe?t=" + "a" * 300
    body = "سلام " * 400 + "\n" + "y" * 3000 + "\n. \n=?= From me\n"
    files = [
        (AttachmentRef("0" * 64, "فاکتور خرید " * 15 + ".pdf", "application/pdf", 4), b"%PDF"),
        (AttachmentRef("1" * 64, 'a "quoted" name.txt', "text/plain", 3), bytes(range(256))),
    ]
    message = outbound(
        text=body,
        author_name=name,
        subject=subject,
        references=("a@example.ir",),
        unsubscribe_url=link,
    )
    mail = render_outbound(
        message,
        from_address="support@support.localhost",
        reply_to="support+t@support.localhost",
        message_id="m.1@support.localhost",
        files=files,
    )
    for cte_type in ("8bit", "7bit"):  # relays with and without 8BITMIME
        assert wire_bytes(mail, cte_type=cte_type) == flatten_message(mail, cte_type=cte_type)
    for raw in (mail.as_bytes(policy=policy.SMTP), flatten_message(mail)):
        assert raw.isascii()
        assert max(len(line) for line in raw.split(b"\n")) <= 998
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(parsed, EmailMessage)
        assert parsed["Subject"] == " ".join(subject.split())
        headers = email.message_from_bytes(raw)  # as sent, folded and encoded
        for header, address in (
            ("From", "support@support.localhost"),
            ("Reply-To", "support+t@support.localhost"),
        ):
            assert parsed[header].addresses[0].addr_spec == address
            assert display_name(headers[header]) == " ".join(name.split())
            if len(name) < 20:  # one encoded word, see `display_name`
                assert parsed[header].addresses[0].display_name == name
        assert parsed["To"].addresses[0].addr_spec == "sara@example.ir"
        assert parsed["Message-ID"] == "<m.1@support.localhost>"
        assert parsed["References"] == "<a@example.ir>"
        assert "".join(parsed["List-Unsubscribe"].split()) == f"<{link}>"
        assert parsed["Content-Language"] == "fa"
        assert not parsed.defects
        for part in parsed.walk():
            assert not part.defects
            if part.is_multipart():
                continue
            declared = part["Content-Transfer-Encoding"]
            assert declared == ("base64" if part.is_attachment() else "quoted-printable")
        text = parsed.get_body(("plain",))
        assert text is not None and text.get_content().replace("\r\n", "\n") == body.strip() + "\n"
        html = parsed.get_body(("html",))
        assert html is not None and "y" * 3000 in html.get_content()
        attachments = parsed.iter_attachments()
        assert [(p.get_filename(), p.get_payload(decode=True)) for p in attachments] == [
            ("فاکتور خرید " * 14 + "فاکتور خرید .pdf", b"%PDF"),
            ('a "quoted" name.txt', bytes(range(256))),
        ]


def display_name(value: str) -> str:
    """A mailbox's display name decoded as RFC 2047 says: white space between encoded
    words dropped (Python's modern parser keeps a space there in a display name)."""
    name, _ = parseaddr(re.sub(r"\r?\n", "", value))
    return str(make_header(decode_header(name)))


def test_an_internationalised_address_goes_out_as_raw_utf8() -> None:
    mail = render_outbound(
        outbound(address="مشتری@example.ir"),
        from_address="support@support.localhost",
        reply_to="support+t@support.localhost",
        message_id="m.1@support.localhost",
    )
    raw = flatten_message(mail, utf8=True)
    assert "\nTo: مشتری@example.ir".encode() in raw
    assert wire_bytes(mail, cte_type="8bit") == raw
    # A relay without 8BITMIME: the stdlib's unknown-8bit encoded words, as aiosmtplib sends.
    assert wire_bytes(mail, cte_type="7bit") == flatten_message(mail, cte_type="7bit")
    parsed = BytesParser(policy=policy.SMTPUTF8).parsebytes(raw)
    assert str(parsed["To"]) == "مشتری@example.ir"
    assert parsed["Subject"] == "Re: وضعیت سفارش"


def test_writing_the_mail_for_smtp_folds_none_of_its_headers_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The headers are folded when the mail is built; the stdlib's `compat32` flattening
    (aiosmtplib's) would fold each again through `Header`, most of its CPU, to the same
    bytes."""
    mail = render_outbound(
        outbound(subject="وضعیت سفارش شماره ۱۲۳ " * 4, references=("a@example.ir",) * 3),
        from_address="support@support.localhost",
        reply_to="support+t@support.localhost",
        message_id="m.1@support.localhost",
        files=[(AttachmentRef("0" * 64, "فاکتور.pdf", "application/pdf", 4), b"%PDF")],
        continue_url="https://support.example.com/continue?token=" + "a" * 120,
    )
    expected = flatten_message(mail)
    folded: list[str] = []
    encode = Header.encode

    def counted(self: Header, *args: object, **kwargs: object) -> str:
        folded.append(str(self))
        return encode(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Header, "encode", counted)
    assert wire_bytes(mail, cte_type="8bit") == expected
    assert folded == []


def test_the_mail_is_written_for_smtp_without_the_generator_or_header_objects(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tree `render_outbound` builds (an ASCII address) is written straight to the
    bytes the stdlib's generator writes, lines starting "From " and lone line breaks
    included, and its encoded words are made without `email.header.Header`: neither is
    used for a mail with an attachment, a continue link and a survey-free Persian
    subject longer than one line."""
    message = outbound(
        text="From the shop:\rFrom here\n.\n\nسلام " * 30,
        subject="وضعیت سفارش شماره ۱۲۳ " * 5,
        author_name="پشتیبانی فروشگاه " * 6,
    )
    used: list[str] = []
    encode = Header.encode

    def header_encode(self: Header, *args: object, **kwargs: object) -> str:
        used.append("Header")
        return encode(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Header, "encode", header_encode)
    mail = render_outbound(
        message,
        from_address="support@support.localhost",
        reply_to="support+t@support.localhost",
        message_id="m.1@support.localhost",
        files=[(AttachmentRef("0" * 64, "فاکتور.pdf", "application/pdf", 4), b"%PDF" * 50)],
        continue_url="https://support.example.com/continue?token=" + "a" * 120,
    )
    assert used == []
    expected = {cte: flatten_message(mail, cte_type=cte) for cte in ("8bit", "7bit")}
    used.clear()  # aiosmtplib's flattening folds each header through `Header` again
    flatten = render_module.BytesGenerator.flatten

    def generator_flatten(self: object, *args: object, **kwargs: object) -> None:
        used.append("generator")
        flatten(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(render_module.BytesGenerator, "flatten", generator_flatten)
    for cte_type, raw in expected.items():
        assert wire_bytes(mail, cte_type=cte_type) == raw
    assert used == []
    parsed = BytesParser(policy=policy.default).parsebytes(expected["8bit"])
    assert parsed["Subject"] == "Re: " + " ".join(("وضعیت سفارش شماره ۱۲۳ " * 5).split())
    assert max(len(line) for line in expected["8bit"].split(b"\n")) <= 78


def test_a_follow_ups_references_are_folded_so_the_mail_is_written_without_the_generator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An answer in a thread of several mails carries References longer than a line:
    they are folded as the generator folds them (the same bytes as aiosmtplib's
    flattening), so the mail is written straight to bytes; every Message-ID is kept,
    in order, and a Message-ID too long for any line is still sent (the generator
    writes that one)."""
    gmail = [f"CAH{n}x7Qp+Vb8wz_{n}Kt9mZ=rW3{'q' * (n % 9)}@mail.gmail.com" for n in range(1, 24)]
    ids = (*gmail, "9.4.aa3558e756bb47d7@support.localhost")
    flattened: list[str] = []
    flatten = render_module.BytesGenerator.flatten

    def generator_flatten(self: object, *args: object, **kwargs: object) -> None:
        flattened.append("generator")
        flatten(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(render_module.BytesGenerator, "flatten", generator_flatten)
    for count in (2, 3, 5, 24):
        mail = render_outbound(
            outbound(references=ids[-count:]),
            from_address="support@support.localhost",
            reply_to="support+t@support.localhost",
            message_id="m.1@support.localhost",
        )
        for cte_type in ("8bit", "7bit"):
            raw = wire_bytes(mail, cte_type=cte_type)
            flattened.clear()
            assert raw == flatten_message(mail, cte_type=cte_type)
            assert flattened  # flatten_message walks the tree with the generator
            flattened.clear()
            wire_bytes(mail, cte_type=cte_type)
            assert flattened == []
        headers = raw.split(b"\n\n", 1)[0]
        assert max(len(line) for line in headers.split(b"\n")) <= 78
        parsed = BytesParser(policy=policy.default).parsebytes(raw)
        kept = thread_references(ids[-count:])
        assert str(parsed["References"]).split() == [f"<{ref}>" for ref in kept]
        assert str(parsed["In-Reply-To"]) == f"<{ids[-1]}>"

    too_long = "x" * 90 + "@mail.example"
    mail = render_outbound(
        outbound(references=(ids[0], too_long)),
        from_address="support@support.localhost",
        reply_to="support+t@support.localhost",
        message_id="m.1@support.localhost",
    )
    raw = wire_bytes(mail, cte_type="8bit")
    assert raw == flatten_message(mail)
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert str(parsed["References"]).split() == [f"<{ids[0]}>", f"<{too_long}>"]


def test_no_line_of_a_text_part_starts_from_so_no_writer_quotes_it() -> None:
    """Lines of the answer starting "From " (after a line break or a lone CR) reach the
    customer as written: the stdlib's generator, aiosmtplib's, and any mbox on the way
    would make them ">From ". Quoted-printable lines stay within 76 characters."""
    text = "From the shop:\rFrom here\n" + "From your account page " * 6 + "\n.\nx From y\n"
    mail = render_outbound(
        outbound(text=text, language="en", suggestions=("From now on",)),
        from_address="support@support.localhost",
        reply_to="support+t@support.localhost",
        message_id="m.1@support.localhost",
    )
    raw = wire_bytes(mail, cte_type="8bit")
    assert raw == flatten_message(mail)
    body = raw.split(b"\n\n", 1)[1]
    assert not [line for line in body.split(b"\n") if line.startswith((b"From ", b">From "))]
    assert max(len(line) for line in body.split(b"\n")) <= 76
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    plain = parsed.get_body(("plain",))
    assert plain is not None
    written = plain_body(outbound(text=text, suggestions=("From now on",)))
    assert plain.get_content().replace("\r\n", "\n") == written.replace("\r", "\n")
    html = parsed.get_body(("html",))
    assert html is not None and "\n>From" not in html.get_content()


def test_the_direct_writer_keeps_the_generators_from_rule() -> None:
    """A text part the direct writer takes with "From " lines of its own (not one
    `render_outbound` makes) is written as the generator writes it: quoted after a line
    feed, not after a lone CR."""
    mail = render_outbound(
        outbound(),
        from_address="support@support.localhost",
        reply_to="support+t@support.localhost",
        message_id="m.1@support.localhost",
    )
    plain = mail.get_payload(0)
    assert isinstance(plain, Message)
    plain.set_payload("From the shop:\rFrom here\nFrom there\r\nok\n")
    raw = wire_bytes(mail, cte_type="8bit")
    assert raw == flatten_message(mail)
    assert b"\n>From the shop:\nFrom here\n>From there\nok\n" in raw


_ENCODED_WORD = re.compile(rb"=\?([^?\s]*)\?([bBqQ])\?([^?\s]*)\?=")


@pytest.mark.parametrize(
    "text",
    [
        "پشتیبانی فروشگاه",
        "وضعیت سفارش شماره ۱۲۳ می\u200cخواهم " * 6,
        "الدعم الفني حالة طلبك رقم ١٢٣ " * 5,
        "😀👨\u200d👩\u200d👧🇮🇷" * 12,
        "x" * 40 + "é",
        "ab" + "😀" * 30,
    ],
    ids=["fa-short", "fa-long", "ar-long", "emoji", "one-latin-accent", "emoji-after-ascii"],
)
def test_encoded_words_are_whole_characters_of_75_at_most_on_lines_of_76(text: str) -> None:
    """RFC 2047 2: an encoded word is at most 75 characters and a header line holding
    one at most 76 (the `Subject: ` or `From: ` before the first word included); 5: no
    character is split between two words. The display names and the subject, each as
    the relay receives it."""
    mail = render_outbound(
        outbound(subject=text, author_name=text, references=()),
        from_address="support@support.localhost",
        reply_to="support+t@support.localhost",
        message_id="m.1@support.localhost",
    )
    raw = wire_bytes(mail, cte_type="8bit")
    headers = raw.split(b"\n\n", 1)[0]
    for line in headers.split(b"\n"):
        words = _ENCODED_WORD.findall(line)
        if not words:
            continue
        assert len(line) <= 76, line
        for charset, encoding, encoded in words:
            assert (charset.lower(), encoding.lower()) == (b"utf-8", b"b")
            assert len(b"=?%s?%s?%s?=" % (charset, encoding, encoded)) <= 75
            base64.b64decode(encoded).decode("utf-8")  # whole characters, or this raises
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Subject"] == " ".join(text.split())
    assert display_name(email.message_from_bytes(raw)["From"]) == " ".join(text.split())


@pytest.mark.parametrize(
    "name",
    ['"' * 900, "\\" * 600, 'Sara "the" \\ ' * 70],
    ids=["quotes", "backslashes", "words-with-quotes"],
)
def test_a_display_name_that_quoting_makes_long_is_encoded_within_smtp_lines(name: str) -> None:
    """A display name of ASCII is sent as a quoted string, where every `"` and `\\`
    gains a backslash: one that quoting takes past what a line can hold unfolded goes
    out as encoded words instead, not on a header line over SMTP's 998 octets."""
    mail = render_outbound(
        outbound(author_name=name),
        from_address="support@support.localhost",
        reply_to="support+t@support.localhost",
        message_id="m.1@support.localhost",
    )
    raw = wire_bytes(mail, cte_type="8bit")
    assert raw == flatten_message(mail)
    assert max(len(line) for line in raw.split(b"\n")) <= 998
    headers = email.message_from_bytes(raw)
    assert display_name(headers["From"]) == " ".join(name.split())
    assert parseaddr(headers["From"].replace("\n", ""))[1] == "support@support.localhost"


def test_a_multipart_without_a_usable_boundary_is_left_to_the_generator() -> None:
    """The direct writer takes only the shapes it writes as the generator does: a
    multipart whose boundary is empty gets one from the generator (set on the mail, so
    aiosmtplib's flattening of the same mail then agrees), not a `--` line."""
    mail = render_outbound(
        outbound(),
        from_address="support@support.localhost",
        reply_to="support+t@support.localhost",
        message_id="m.1@support.localhost",
    )
    mail.set_boundary("")
    raw = wire_bytes(mail, cte_type="8bit")
    assert raw == flatten_message(mail)
    boundary = mail.get_boundary()
    assert boundary and f"\n--{boundary}--\n".encode() in raw
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert not parsed.defects and parsed.get_body(("plain",)) is not None


def test_header_text_keeps_format_characters_and_loses_what_a_line_cannot_carry() -> None:
    """The zero-width non-joiner of a Persian word and the joiner of an emoji sequence
    reach the customer (they were turned into spaces); line and paragraph separators,
    controls and a lone surrogate still become spaces."""
    subject = "سفارش\u200cها 👨\u200d👩\u200d👧 a\u2028b\x00c\x85d\udcffe\r\nBcc: x@y.z"
    raw = wire_bytes(
        render_outbound(
            outbound(subject=subject, references=()),
            from_address="support@support.localhost",
            reply_to="support+t@support.localhost",
            message_id="m.1@support.localhost",
        ),
        cte_type="8bit",
    )
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed["Subject"] == "سفارش\u200cها 👨\u200d👩\u200d👧 a b c d e Bcc: x@y.z"
    assert parsed["Bcc"] is None


def test_the_message_id_key_is_derived_once_not_per_mail(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deriving a purpose's key is an HMAC of its own: once per secret, not per mail."""
    derived: list[str] = []

    def counted(secret: str, purpose: str) -> PurposeKey:
        derived.append(purpose)
        return PurposeKey(secret, purpose)

    monkeypatch.setattr(render_module, "PurposeKey", counted)
    render_module._message_id_key.cache_clear()
    ids = [
        outbound_message_id(outbound(outbox_id=n), secret="k2", domain="support.localhost")
        for n in (1, 2, 3)
    ]
    assert [our_mail_of(id_, secret="k2") for id_ in ids] == [OurMail(7, n) for n in (1, 2, 3)]
    assert our_mail_of(ids[0], secret="k3") is None
    assert derived == ["email-message-id", "email-message-id"]  # one per secret
