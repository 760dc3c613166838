"""MIME parsing on real-world and hand-made mails: nothing raises, key fields exact."""

from __future__ import annotations

import base64
import email.feedparser
import email.utils
import random
import re
import time
from collections.abc import Callable
from email import policy
from email.message import Message
from pathlib import Path
from typing import TypeVar

import pytest

from channels.email.loops import classify
from channels.email.parse import (
    _BOUNDARY_CLOSE,
    _PLAIN_MAILBOX,
    MailLimits,
    MailOverLimits,
    ParsedMail,
    _address_pairs,
    _BoundaryLine,
    _BoundaryPatterns,
    _MailParser,
    html_to_text,
    mail_address,
    parse_mail,
)
from channels.email.quotes import split_reply

FIXTURES = Path(__file__).parent / "fixtures" / "email"
ALL_MAILS = sorted(FIXTURES.glob("*/*.eml"))

_T = TypeVar("_T")


def load(name: str) -> ParsedMail:
    return parse_mail((FIXTURES / name).read_bytes())


def test_the_fixture_corpus_is_there() -> None:
    assert len(ALL_MAILS) >= 37
    for folder in ("chatwoot", "django-helpdesk"):
        assert (FIXTURES / folder / "LICENSE").is_file()


@pytest.mark.parametrize("path", ALL_MAILS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_fixture_parses_without_exception(path: Path) -> None:
    raw = path.read_bytes()
    mail = parse_mail(raw)
    assert isinstance(mail.body, str)
    assert "\ufffd" not in mail.subject
    # Truncated bytes must not crash either (a half-received message, a parser edge).
    for cut in (len(raw) // 3, len(raw) // 2, len(raw) - 7):
        parse_mail(raw[: max(cut, 0)])
    split_reply(mail.body)
    classify(mail)


def test_garbage_never_raises() -> None:
    for raw in (
        b"",
        b"\x00\xff\xfe" * 100,
        b"Subject: =?utf-8?B?not-base64!!?=\r\nFrom: <<<@>>>\r\n\r\nbody",
        b"Subject: =?x-unknown-charset?Q?abc?=\r\nContent-Type: text/plain; charset=bogus\r\n"
        b"\r\n\xd3\xe1\xc7\xe3",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822"
        b"\r\n\r\n--x--",
        b"Message-ID: <a@b> <c@d>\r\nIn-Reply-To: ,,,<>\r\nReferences: <" + b"x" * 5000 + b">\r\n",
    ):
        mail = parse_mail(raw)
        assert isinstance(mail, ParsedMail)


def test_gmail_reply_with_quote_exact() -> None:
    mail = load("chatwoot/mail_with_quote.eml")
    assert mail.sender == "sony@chatwoot.com"
    assert mail.sender_name == "Sony Mathew"
    assert mail.subject == "Re: Checking mail forwarding to cw inbox"
    assert mail.message_id == "CAFkiBVwJjO_k_e-LpiKi7MAQAKbHX5nkEPcf0y1R=bjcEHogMg@mail.gmail.com"
    assert mail.in_reply_to == (
        "0100017b5d8efc70-c7f18809-aa55-48f6-91fd-b626092ed8b3-000000@email.amazonses.com",
    )
    assert mail.references == (
        "CAFkiBVxGoURoqdkY-O_25F-8b41kb-GWBc6hh4Djd5ynwOikXA@mail.gmail.com",
        "0100017b5d8efc70-c7f18809-aa55-48f6-91fd-b626092ed8b3-000000@email.amazonses.com",
    )
    split = split_reply(mail.body)
    assert split.new_text == "Yes, I am providing you step how to reproduce this issue"
    assert "Any update on this?" in split.quoted
    assert "Any update on this?" in mail.body  # the full text stays for agents


def test_folded_multiple_in_reply_to() -> None:
    mail = load("chatwoot/multiple_in_reply_to.eml")
    assert mail.in_reply_to == (
        "4e6e35f5a38b4_479f13bb90078171@small-app-01.mail",
        "4e6e35f5a38b4_479f13bb90078131@small-app-01.mail",
    )
    assert mail.sender == "sony@chatwoot.com"  # lower-cased
    assert mail.body == "Let's talk about these images"


def test_arabic_auto_reply_with_rfc2047_and_base64() -> None:
    mail = load("chatwoot/non_utf_encoded_mail.eml")
    assert mail.sender_name == "متجر سوق نت"
    assert mail.subject == "أهلين عميلنا الكريم"
    assert mail.body == "أنظروا، أنا أحتاجها فقط لتقوم بالتدقيق في مقالتي الشخصية"
    # The same id twice, separated by a comma, is one reference.
    assert mail.in_reply_to == ("4e6e35f5a38b4_479f13bb90078178@small-app-01.mail",)
    assert classify(mail).automated


def test_gmail_bounce_exposes_failed_recipient_and_original_message() -> None:
    mail = load("chatwoot/bounced_gmail.eml")
    assert mail.bounce is not None
    assert mail.bounce.failed_recipients == ("alex.jones@fictionalcorp.com",)
    assert mail.bounce.original_message_id == (
        "conversation/93775311-9416-4428-964b-862001f8a8b2/messages/27855337@gmail.com"
    )
    assert mail.bounce.permanent


def test_postfix_bounce_without_from() -> None:
    mail = load("chatwoot/bounced_with_no_from.eml")
    assert mail.sender is None
    assert mail.bounce is not None
    assert mail.bounce.failed_recipients == ("noreply@example-service.com",)
    assert mail.bounce.diagnostic is not None
    assert mail.bounce.diagnostic.startswith("554 5.7.1")
    assert classify(mail).kind == "bounce"


def test_broken_from_falls_back_and_is_flagged() -> None:
    mail = load("chatwoot/mail_with_invalid_to.eml")
    assert mail.sender is None
    assert mail.sender_name == "Mark Whatney"
    assert mail.body == "hey v, can i get some help over here?"
    assert "unusable address header" in mail.defects


@pytest.mark.parametrize(
    ("from_header", "sender", "name"),
    [
        # a display name that spells another address, as a provider lets a user write it
        (
            "=?utf-8?q?=C3=A9_=3Cvictim=40gmail=2Etest=3E?= <attacker@gmail.test>",
            "attacker@gmail.test",
            "é <victim@gmail.test>",
        ),
        # a display name that spells a new header line
        (
            "=?utf-8?q?Eve=0D=0ABcc=3A_bcc1=40evil=2Etest?= <eve1@cust.test>",
            "eve1@cust.test",
            "Eve Bcc: bcc1@evil.test",
        ),
        ("=?utf-8?b?2LPYp9ix2Kc=?= <sara@example.ir>", "sara@example.ir", "سارا"),
    ],
)
def test_the_sender_is_the_address_not_what_the_encoded_display_name_says(
    from_header: str, sender: str, name: str
) -> None:
    raw = (
        f"From: {from_header}\r\nTo: support@shop.test\r\nSubject: hi\r\n"
        "Message-ID: <m1@gmail.test>\r\n\r\nhello\r\n"
    ).encode()
    mail = parse_mail(raw)
    assert (mail.sender, mail.sender_name) == (sender, name)
    assert mail.recipients == ("support@shop.test",)


def test_html_only_mail_becomes_text() -> None:
    assert load("chatwoot/only_html.eml").body == "This is html only mail"
    notification = load("chatwoot/notification.eml")
    assert notification.body_from_html
    assert "<" not in notification.body.split("\n")[0]
    assert "Time to save the world." in notification.body


def test_attachments_and_inline_images() -> None:
    mail = load("chatwoot/attachments_without_text.eml")
    assert mail.body == ""
    assert [(a.filename, a.content_type) for a in mail.attachments] == [
        ("1kb.png", "image/png"),
        ("1kb.png", "image/png"),
    ]
    assert mail.attachments[0].data.startswith(b"\x89PNG")
    inline = load("chatwoot/cid_inline_images_without_disposition.eml")
    assert inline.body == "This is a plain text version of the message."
    assert inline.attachments[0].content_id == "image001.jpg@test"
    assert inline.attachments[0].inline
    blank = load("django-helpdesk/blank-body-with-attachment.eml")
    assert blank.body == ""
    assert [(a.filename, a.data) for a in blank.attachments] == [
        ("baf", b"You shouldn't see this.\n")
    ]


def test_pgp_signed_body_and_signature_part() -> None:
    mail = load("django-helpdesk/pgp.eml")
    assert mail.body.startswith("hi, thanks for looking into this :)")
    assert [a.content_type for a in mail.attachments] == ["application/pgp-signature"]


def test_czech_rfc2047_split_mid_word_and_8bit_body() -> None:
    mail = load("django-helpdesk/utf-nondecodable.eml")
    assert mail.subject == "Fwd: Cyklozaměstnavatel - změna vyhodnocení"
    assert "podle domluvy bych Tě poprosila" in mail.body
    assert load("django-helpdesk/quoted_printable.eml").body == (
        "Tohle je test českých písmen odeslaných z gmailu."
    )


def test_windows_1256_persian() -> None:
    mail = load("pasokh/fa_windows1256.eml")
    # windows-1256 has Arabic yeh and kaf; the text keeps them (normalisation is faq's job).
    assert mail.sender_name == "مريم كريمي"
    assert mail.subject == "پيگيري سفارش 1234"
    assert mail.body == ("سلام،\nسفارش شماره 1234 من هنوز نرسيده است. لطفاً پيگيري كنيد.\nبا تشكر")


def test_iso_8859_6_arabic() -> None:
    mail = load("pasokh/ar_iso8859_6.eml")
    assert mail.sender == "ahmad@example.sa"
    assert mail.sender_name == "أحمد علي"
    assert mail.subject == "طلب رقم 5678"
    assert mail.body == "مرحبا،\nلم يصل طلبي رقم 5678 حتى الآن. هل يمكنكم المساعدة؟\nشكرا"


def test_persian_gmail_reply() -> None:
    mail = load("pasokh/fa_gmail_reply.eml")
    assert mail.sender == "sara.rezaei@gmail.com"
    assert mail.sender_name == "سارا رضایی"
    assert mail.subject == "Re: وضعیت سفارش"
    assert mail.in_reply_to == ("40.6.0123456789abcdef@support.localhost",)
    assert mail.references == (
        "40.6.0123456789abcdef@support.localhost",
        "fa-gmail-first@mail.gmail.com",
    )
    assert not mail.body_from_html  # the text/plain alternative is preferred
    assert split_reply(mail.body).new_text == "ممنون، ولی هنوز کد رهگیری برایم پیامک نشده است."


def test_persian_outlook_html_only() -> None:
    mail = load("pasokh/fa_outlook_html_only.eml")
    assert mail.body_from_html
    assert mail.subject == "RE: کد تخفیف"
    split = split_reply(mail.body)
    assert split.new_text == (
        "سلام، کد تخفیف NOWRUZ در سبد خرید پذیرفته نمی\u200cشود.\n\n"
        "لطفاً راهنمایی کنید.\n\nرضا احمدی"
    )
    assert split.quoted.startswith("* * *\n\nاز: پشتیبانی فروشگاه")
    assert "p.MsoNormal" not in mail.body  # styles are not text


def test_header_injection_and_8bit_headers_are_tamed() -> None:
    raw = (
        "From: =?utf-8?B?2LPYp9ix2Kc=?= <Sara@Example.IR>\r\n"
        "Subject: سلام\r\n"  # raw 8-bit UTF-8 in a header (RFC 6532)
        "Message-ID: <x@y>\r\n\r\nhi\r\n"
    ).encode()
    mail = parse_mail(raw)
    assert mail.subject == "سلام"
    assert mail.sender == "sara@example.ir"
    assert mail.sender_name == "سارا"


def test_html_to_text_keeps_links_and_drops_markup() -> None:
    text = html_to_text(
        '<style>p{color:red}</style><p>See <a href="https://x.example/a">the page</a>'
        " &amp; reply.</p><p>- 1. not a list</p>"
    )
    assert text == "See [the page](https://x.example/a) & reply.\n\n- 1. not a list"


def test_content_hash_ignores_trace_headers() -> None:
    body = b"From: a@b.example\r\nSubject: hi\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nx\r\n"
    relayed = b"Received: from relay by mx; Mon, 1 Jan 2024 00:00:01 +0000\r\n" + body
    assert parse_mail(body).content_hash() == parse_mail(relayed).content_hash()
    assert (
        parse_mail(body).content_hash()
        != parse_mail(body.replace(b"x\r\n", b"y\r\n")).content_hash()
    )


@pytest.mark.parametrize("path", ALL_MAILS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_mutated_fixtures_never_raise(path: Path) -> None:
    """Random byte damage (seeded, so reproducible) must not make the parser raise."""
    raw = bytearray(path.read_bytes())
    rng = random.Random(path.name)
    for _ in range(15):
        damaged = bytearray(raw)
        for _ in range(rng.randint(1, 12)):
            position = rng.randrange(len(damaged))
            damaged[position] = rng.choice(b'\x00\xff=?<>:;\r\n\t"\\-.')
        mail = parse_mail(bytes(damaged))
        split_reply(mail.body)
        classify(mail)


def test_hostile_headers_parse_in_linear_time() -> None:
    started = time.perf_counter()
    for header in (
        b"References: " + b"a" * 30_000,
        b"From: <" + b"a." * 100_000 + b"@b>",
        b"To: " + b"x@" * 50_000,
        b"Subject: " + b"=?utf-8?q?a?= " * 20_000,
    ):
        parse_mail(header + b"\r\n\r\nhi\r\n")
    assert time.perf_counter() - started < 10


def _multipart(parts: list[bytes]) -> bytes:
    head = (
        b"From: a@b.example\r\nTo: support@support.localhost\r\nSubject: parts\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
    )
    return head + b"".join(b"--b\r\n" + part + b"\r\n" for part in parts) + b"--b--\r\n"


def _tiny_attachment(index: int) -> bytes:
    return (
        b"Content-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="f%d.bin"\r\n\r\nx%d' % (index, index)
    )


def test_a_mail_with_more_parts_than_the_limit_is_refused_before_it_is_all_parsed() -> None:
    raw = _multipart([_tiny_attachment(i) for i in range(20_000)])
    with pytest.raises(MailOverLimits) as refused:
        parse_mail(raw, MailLimits(max_parts=100))
    assert refused.value.kind == "parts"
    assert "100" in str(refused.value)
    # At the limit it parses: the container and 99 attachments are 100 parts.
    within = parse_mail(_multipart([_tiny_attachment(i) for i in range(99)]), MailLimits(100))
    assert len(within.attachments) == 99


def test_a_mail_whose_parts_decode_to_more_than_the_limit_is_refused() -> None:
    blob = base64.encodebytes(bytes(range(256)) * 40)  # 10,240 bytes decoded
    part = (
        b"Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        b'Content-Disposition: attachment; filename="a.pdf"\r\n\r\n' + blob
    )
    raw = _multipart([b"Content-Type: text/plain\r\n\r\nsee attached", part])
    with pytest.raises(MailOverLimits) as refused:
        parse_mail(raw, MailLimits(max_decoded_bytes=10_000))
    assert refused.value.kind == "decoded_bytes"
    assert len(parse_mail(raw, MailLimits(max_decoded_bytes=20_000)).attachments) == 1


def test_html_is_converted_within_one_budget_for_the_whole_mail() -> None:
    html = b"<p>hello <b>world</b> <a href='https://x.example/'>link</a></p>\r\n" * 16_000
    raw = _multipart([b"Content-Type: text/html; charset=utf-8\r\n\r\n" + html] * 5)
    started = time.process_time()
    mail = parse_mail(raw, MailLimits(max_html_chars=100_000))
    cpu = time.process_time() - started
    assert mail.body_from_html and mail.body.startswith("hello world [link](https://x.example/)")
    # Five parts of 1 MB each, but only 100,000 characters of HTML were converted.
    assert len(mail.body) < 100_000
    assert "HTML body too long: only its start is shown as text" in mail.defects
    assert cpu < 5  # was 10 s of CPU before the budget covered the whole mail


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("User@مثال.ایران", "user@xn--mgbh0fb.xn--mgba3a4f16a"),
        ("user@XN--MGBH0FB.xn--mgba3a4f16a.", "user@xn--mgbh0fb.xn--mgba3a4f16a"),
        # IDNA 2008 keeps the zero-width non-joiner of Persian names; the stdlib's IDNA
        # 2003 deletes it and would name another domain (xn--mgbn2ecje63g.ir).
        ("a@می\u200cخواهم.ir", "a@xn--mgbn2ecje63gr19l.ir"),
        ("a@straße.de", "a@xn--strae-oqa.de"),  # not strasse.de
        # a local part in NFD comes out in NFC
        ("\u0627\u0653b@example.com", "\u0622b@example.com"),
    ],
)
def test_an_address_has_one_form_for_the_channel_and_for_typed_addresses(
    written: str, canonical: str
) -> None:
    from router.identity.identities import normalise_email

    assert mail_address(written) == canonical
    assert normalise_email(written) == canonical


# --- what common clients leave in the text (format=flowed, [cid:], winmail.dat) --------


def test_thunderbird_format_flowed_is_unwrapped_before_the_quote_is_split() -> None:
    mail = load("pasokh/en_thunderbird_flowed.eml")
    assert mail.body.startswith(
        "I still have not received the refund for order 5555, it has been two weeks since"
        " you told me it was processed. Please look into it.\n"
    )
    split = split_reply(mail.body)
    assert split.new_text == (
        "I still have not received the refund for order 5555, it has been two weeks since"
        " you told me it was processed. Please look into it."
    )
    assert "5 business days. Thank you." in split.quoted  # a flowed quoted line, joined


def test_apple_delsp_flowed_text_loses_its_soft_break_spaces_and_the_cid_placeholder() -> None:
    """Apple Mail: `format=flowed; delsp=yes` (the space before each soft break is the
    client's, not the writer's), and `[cid:img1]` where the image sat, which the mail
    carries as an attachment."""
    mail = load("pasokh/en_apple_flowed_inline_image.eml")
    assert mail.body == (
        "Hello, when I try to pay the page shows this error and I cannot continue with my"
        " order number 98765. Could you please check what is wrong?\n\nSent from my iPhone"
    )
    assert [a.filename for a in mail.attachments] == ["image0.png"]


@pytest.mark.parametrize(
    ("flowed", "delsp", "text"),
    [
        ("one \ntwo\n", False, "one two\n"),
        ("wor\u200c \nld\n", True, "wor\u200cld\n"),
        ("> quoted \n> on\n>> deeper \n>> too\n", False, "> quoted on\n>> deeper too\n"),
        (" From the start (stuffed)\n", False, "From the start (stuffed)\n"),
        ("soft \n-- \nsignature\n", False, "soft \n-- \nsignature\n"),
        ("para one \nends here.\n\nnext\n", False, "para one ends here.\n\nnext\n"),
        ("flowed into a quote \n> quoted\n", False, "flowed into a quote \n> quoted\n"),
    ],
)
def test_unflow_follows_rfc_3676(flowed: str, delsp: bool, text: str) -> None:
    from channels.email.parse import unflow

    assert unflow(flowed, delsp=delsp) == text


def test_a_cid_placeholder_without_its_image_is_kept() -> None:
    raw = (
        b"From: a@example.com\r\nTo: support@support.test\r\nSubject: x\r\n"
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\n"
        b"See the screenshot:\r\n[cid:image001.png@01DA1234.56789AB0]\r\nThanks\r\n"
    )
    assert "[cid:image001.png@01DA1234.56789AB0]" in parse_mail(raw).body


def test_outlooks_winmail_dat_is_unpacked_into_the_customers_files() -> None:
    mail = load("pasokh/fa_outlook_winmail.eml")
    assert [(a.filename, a.content_type) for a in mail.attachments] == [
        ("فاکتور خرید ۱۲۳۴.pdf", "application/pdf"),
        ("screenshot.png", "image/png"),
    ]
    assert mail.attachments[0].data.startswith(b"%PDF-1.4")
    assert mail.attachments[1].data.startswith(b"\x89PNG")
    assert mail.body.startswith("سلام،")


def _with_winmail(tnef: bytes) -> bytes:
    return (
        b"From: reza@customer.test\r\nTo: support@support.test\r\nSubject: x\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n"
        b'--b\r\nContent-Type: application/ms-tnef; name="winmail.dat"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(tnef).replace(b"\n", b"\r\n")
        + b"--b--\r\n"
    )


def test_a_winmail_dat_that_cannot_be_read_stays_attached_as_it_came() -> None:
    from tests.tnef_support import ATTACHMENT, attribute, winmail_dat

    garbage = b"\x78\x9f\x3e\x22" + b"\x00" * 200  # the signature, then nothing usable
    # An attachment's MAPI properties claiming 2^32 - 16 entries in 4 bytes: a reader
    # that trusted the count would loop for hours in the parser thread.
    endless = winmail_dat([]) + attribute(ATTACHMENT, 0x9002, 6, b"\x01" + b"\x00" * 13)
    endless += attribute(ATTACHMENT, 0x800F, 6, b"data") + attribute(
        ATTACHMENT, 0x9005, 6, b"\xf0\xff\xff\xff"
    )
    for tnef in (garbage, endless, b"not tnef at all"):
        started = time.process_time()
        mail = parse_mail(_with_winmail(tnef))
        assert time.process_time() - started < 1.0
        assert [(a.filename, a.content_type, a.data) for a in mail.attachments] == [
            ("winmail.dat", "application/ms-tnef", tnef)
        ]


def test_a_winmail_dat_with_more_files_than_a_mail_may_have_stays_as_it_came() -> None:
    from tests.tnef_support import winmail_dat

    many = winmail_dat([(f"f{i}.txt", "text/plain", b"x") for i in range(101)])
    mail = parse_mail(_with_winmail(many))
    assert [a.filename for a in mail.attachments] == ["winmail.dat"]


def test_report_parts_are_named_for_what_they_hold() -> None:
    """Postfix's RFC 6533 report: not `part-1.u8dsn` and `part-2.u8msg`."""
    mail = load("pasokh/postfix_global_dsn.eml")
    assert [a.filename for a in mail.attachments] == [
        "delivery-status.txt",
        "returned-message.eml",
    ]


# --- boundary lines ----------------------------------------------------------------------


def _structure(msg: Message) -> list[object]:
    """What a parse made of a mail, part by part: headers, payloads, preamble, epilogue,
    defects."""
    return [
        (
            part.items(),
            part.get_payload() if not part.is_multipart() else None,
            part.preamble,
            part.epilogue,
            [type(defect).__name__ for defect in part.defects],
        )
        for part in msg.walk()
    ]


def _stdlib_parse(raw: bytes) -> Message:
    parser = email.feedparser.BytesFeedParser(policy=policy.compat32)
    parser.feed(raw)
    return parser.close()


def _mail_parser_parse(raw: bytes) -> Message:
    parser = _MailParser(Message, policy=policy.compat32)
    parser.feed(raw)
    return parser.close()


NESTED = (
    b"From: a@example.ir\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="(a.b)*+?[x]{1}|^$\\\\ z"\r\n\r\n'
    b"preamble line\r\n--(a.b)*+?[x]{1}|^$\\ z\r\n"
    b'Content-Type: multipart/alternative; boundary="=_alt"\r\n\r\n'
    b"--=_alt\r\nContent-Type: text/plain\r\n\r\nsalam\r\n--=_alt  \r\n"
    b"Content-Type: text/html\r\n\r\n<p>salam</p>\r\n--=_alt--\r\n"
    b"--(a.b)*+?[x]{1}|^$\\ z\n--(a.b)*+?[x]{1}|^$\\ z\r\n"
    b"Content-Type: text/plain\r\n\r\n--(a.b)*+?[x]{1}|^$\\ zz not a boundary\r\n"
    b"--(a.b)*+?[x]{1}|^$\\ z--\t\r\nepilogue\r\n"
)
UNCLOSED = (
    b"Content-Type: multipart/mixed; boundary=b1\n\n--b1\nContent-Type: text/plain\n\n"
    b"one\r--b1\rtwo\n--b1-- \n--b1--x\n"
)


@pytest.mark.parametrize("raw", [NESTED, UNCLOSED], ids=["nested", "unclosed"])
def test_the_mail_parser_reads_multiparts_as_the_standard_parser_does(raw: bytes) -> None:
    assert _structure(_mail_parser_parse(raw)) == _structure(_stdlib_parse(raw))


@pytest.mark.parametrize("path", ALL_MAILS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_mail_parser_reads_every_fixture_as_the_standard_parser_does(path: Path) -> None:
    raw = path.read_bytes()
    assert _structure(_mail_parser_parse(raw)) == _structure(_stdlib_parse(raw))


def _patterns_compiled_by(
    monkeypatch: pytest.MonkeyPatch, parse: Callable[[], _T]
) -> tuple[list[str], _T]:
    """The regular expressions `re.compile` was asked for while `parse` ran, and what
    it returned."""
    compiled: list[str] = []
    compile_pattern = re.compile

    def recording(pattern: str, flags: int = 0) -> re.Pattern[str]:
        compiled.append(pattern)
        return compile_pattern(pattern, flags)

    monkeypatch.setattr(re, "compile", recording)
    parsed = parse()
    monkeypatch.undo()
    return compiled, parsed


def test_the_standard_parser_compiles_the_boundary_pattern_the_mail_parser_knows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled, _ = _patterns_compiled_by(monkeypatch, lambda: _stdlib_parse(NESTED))
    boundary = "--(a.b)*+?[x]{1}|^$\\ z"
    assert "(?P<sep>" + re.escape(boundary) + _BOUNDARY_CLOSE in compiled
    assert isinstance(_BoundaryPatterns.compile(compiled[-1]), _BoundaryLine)


def test_a_multipart_mail_is_parsed_without_compiling_a_pattern_for_its_boundary(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled, mail = _patterns_compiled_by(monkeypatch, lambda: parse_mail(NESTED))
    assert mail.body.startswith("salam")
    assert not [pattern for pattern in compiled if "=_alt" in pattern or "a\\.b" in pattern]


SUFFIXES = (
    "",
    "--",
    " ",
    "\t ",
    "\r\n",
    "\n",
    "\r",
    "--\r\n",
    "-- \n",
    "--\t\r",
    "x",
    "\n\n",
    "\r\r",
    "\r\n\n",
    "--x",
    " x",
    "---",
    "--\n\n",
    " \r\n",
    "\n ",
)


@pytest.mark.parametrize("separator", ["--b", "--=_Part_1.2", "--(a)*?[^]$\\ ü", "----"])
def test_a_boundary_line_matches_as_its_compiled_pattern_would(separator: str) -> None:
    pattern = "(?P<sep>" + re.escape(separator) + _BOUNDARY_CLOSE
    expected, line_match = re.compile(pattern), _BoundaryPatterns.compile(pattern)
    assert isinstance(line_match, _BoundaryLine)
    for line in [separator + suffix for suffix in SUFFIXES] + [
        "",
        "-",
        separator[:-1],
        " " + separator,
    ]:
        want, got = expected.match(line), line_match.match(line)
        assert (want is None) == (got is None), repr(line)
        if want is not None and got is not None:
            for group in (0, "sep", "end", "ws", "linesep"):
                assert got.group(group) == want.group(group), (repr(line), group)


# --- address headers ---------------------------------------------------------------------

ADDRESS_PIECES = [*"aZ0.@<> \t\"(),;:\\[]=?'-_ش\u200c\u00a0\r\n!#~", "=?utf-8?b?2YXYtA==?="]
NAME_WORDS = [
    "Sara",
    "=?utf-8?b?2YXYtA==?=",
    "مشتری",
    "5",
    "O'Neil",
    "a.b",
    '"q"',
    "(c)",
    "a\u00a0b",
]
ADDRESSES = [
    "customer5@example.ir",
    "a.b+c@x.y.z",
    "x@y",
    "a..b@c",
    ".a@b",
    "A@B.IR",
    "a@b@c",
    "ü@x",
]


def _address_header(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return "".join(rng.choice(ADDRESS_PIECES) for _ in range(rng.randint(0, 14)))

    def space() -> str:
        return rng.choice(["", " ", "  ", "\t", " \t "])

    name = " ".join(rng.choice(NAME_WORDS) for _ in range(rng.randint(0, 3)))
    address = rng.choice(ADDRESSES)
    if name or rng.random() < 0.5:
        return f"{space()}{name}{space()}<{address}>{space()}"
    return f"{space()}{address}{space()}"


def test_an_address_header_is_read_as_getaddresses_reads_it() -> None:
    rng = random.Random(20261202)
    plain = 0
    for _ in range(20_000):
        value = _address_header(rng)
        try:
            expected = email.utils.getaddresses([value])
        except Exception:
            continue
        assert _address_pairs(value) == expected, repr(value)
        plain += _PLAIN_MAILBOX.fullmatch(value) is not None
    assert plain > 3_000  # the plain forms were tried, not only the fallback


def test_plain_address_headers_are_read_without_getaddresses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refused(values: list[str]) -> list[tuple[str, str]]:
        raise AssertionError(f"getaddresses({values!r})")

    monkeypatch.setattr(email.utils, "getaddresses", refused)
    mail = parse_mail(
        b"From: =?utf-8?b?2YXYtNiq2LHbjA==?= 2 <Customer2@Example.ir>\r\n"
        b"To: support@support.localhost\r\nSubject: hi\r\n\r\nsalam\r\n"
    )
    assert (mail.sender, mail.sender_name) == ("customer2@example.ir", "مشتری 2")
    assert mail.recipients == ("support@support.localhost",)
