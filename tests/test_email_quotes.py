"""Quote and signature stripping in English, Persian and Arabic."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from channels.email.parse import parse_mail
from channels.email.quotes import split_reply, strip_quotes

FIXTURES = Path(__file__).parent / "fixtures" / "email"


@pytest.mark.parametrize(
    ("name", "new_text"),
    [
        (
            "chatwoot/mail_with_quote.eml",
            "Yes, I am providing you step how to reproduce this issue",
        ),
        ("chatwoot/reply_cc.eml", "Hello,\n\nFind the related inbox."),
        ("django-helpdesk/forwarded-message.eml", "This is email body"),
        ("pasokh/fa_gmail_reply.eml", "ممنون، ولی هنوز کد رهگیری برایم پیامک نشده است."),
        ("pasokh/ar_thunderbird_reply.eml", "شكرا لكم، المشكلة ما زالت قائمة بعد إعادة التشغيل."),
        (
            "pasokh/en_outlook_reply.eml",
            "The refund has not arrived yet, it has been ten days.\n\nRegards,\nJohn",
        ),
    ],
)
def test_fixture_replies(name: str, new_text: str) -> None:
    mail = parse_mail((FIXTURES / name).read_bytes())
    assert strip_quotes(mail.body) == new_text


def test_thunderbird_english() -> None:
    text = (
        "It works now, thanks!\n\n"
        "On 11/23/26 10:00 AM, Shop Support wrote:\n"
        "> Please restart the app.\n"
        ">\n> Regards\n"
    )
    split = split_reply(text)
    assert split.new_text == "It works now, thanks!"
    assert split.quoted.startswith("On 11/23/26 10:00 AM, Shop Support wrote:")


def test_gmail_header_wrapped_over_lines() -> None:
    text = (
        "Still broken.\n\nOn Mon, Nov 23, 2026 at 10:00 AM Shop Support from a very long name <\n"
        "support+abc@support.localhost> wrote:\n\n> old\n"
    )
    assert strip_quotes(text) == "Still broken."


def test_persian_gmail_header_with_bidi_marks() -> None:
    text = (
        "سلام، هنوز مشکل دارم.\n\n"
        "\u200fدر تاریخ دوشنبه ۲ آذر ۱۴۰۵ ساعت ۱۰:۰۰ پشتیبانی <support@x.example> نوشت:\u200f\n"
        "> لطفاً دوباره امتحان کنید.\n"
    )
    assert strip_quotes(text) == "سلام، هنوز مشکل دارم."


def test_arabic_gmail_header() -> None:
    text = (
        "ما زالت المشكلة موجودة.\n\n"
        "\u200fفي الاثنين، ٢٣ نوفمبر ٢٠٢٦ في ١٠:٠٠ ص تمت كتابة ما يلي بواسطة \u200f"
        "الدعم <support@x.example>:\n\n> جرب مرة أخرى\n"
    )
    assert strip_quotes(text) == "ما زالت المشكلة موجودة."


def test_arabic_outlook_block() -> None:
    text = (
        "أريد استرجاع المبلغ.\n\n"
        "________________________________\n"
        "من: الدعم <support@x.example>\n"
        "تاريخ الإرسال: الاثنين، ٢٣ نوفمبر ٢٠٢٦ ١٠:٠٠ ص\n"
        "إلى: أحمد\n"
        "الموضوع: طلبك\n\nنص قديم\n"
    )
    assert strip_quotes(text) == "أريد استرجاع المبلغ."


def test_persian_outlook_block_without_rule() -> None:
    text = (
        "کد تخفیف کار نمی‌کند.\n\n"
        "از: پشتیبانی <support@x.example>\n"
        "ارسال شده: دوشنبه، ۲ آذر ۱۴۰۵\n"
        "موضوع: کد تخفیف\n\nمتن قبلی\n"
    )
    assert strip_quotes(text) == "کد تخفیف کار نمی‌کند."


def test_own_sentences_that_end_like_headers_are_kept() -> None:
    # No colon, no date: a customer telling a story, not a quote header.
    assert strip_quotes("دوستم برایم نامه نوشت") == "دوستم برایم نامه نوشت"
    assert strip_quotes("On Monday my friend wrote to you") == "On Monday my friend wrote to you"
    text = "From: my account page\nthe total was wrong"
    assert strip_quotes(text) == text


def test_mobile_footers_and_signature() -> None:
    assert strip_quotes("Where is my parcel?\n\nSent from my iPhone") == "Where is my parcel?"
    assert strip_quotes("بسته کجاست؟\n\nارسال شده از iPhone من") == "بسته کجاست؟"
    assert strip_quotes("أين طلبي؟\n\nأُرسلت من الـ iPhone") == "أين طلبي؟"
    split = split_reply("Hi\nmy order?\n-- \nJohn Doe\nACME Corp")
    assert split.new_text == "Hi\nmy order?"
    assert split.signature == "-- \nJohn Doe\nACME Corp"


def test_interleaved_quotes_are_kept_and_trailing_quotes_cut() -> None:
    inline = "> Did it work?\nNo.\n> Which version?\n3.1"
    assert strip_quotes(inline) == inline
    assert strip_quotes("Thanks\n> quoted\n>\n> more\n") == "Thanks"


def test_forward_keeps_forwarded_content() -> None:
    text = "\n\n-------- Forwarded Message --------\nSubject: x\nFrom: a <a@b.c>\n\nThe problem."
    assert strip_quotes(text) == text.strip()


def test_only_a_quote_keeps_everything() -> None:
    text = "On Mon, Nov 23, 2026, Support wrote:\n> hello"
    assert strip_quotes(text) == text


def test_long_quoted_history_is_linear() -> None:
    # Quadratic scanning took minutes on this; linear takes well under a second.
    text = ("> quoted line\n" * 20_000 + "reply in between\n") * 3
    started = time.perf_counter()
    assert strip_quotes(text).startswith("> quoted line")
    assert time.perf_counter() - started < 10


def test_shipping_route_is_not_an_outlook_header() -> None:
    text = "از: تهران\nبه: شیراز\nبسته هنوز نرسیده، لطفاً پیگیری کنید."
    assert strip_quotes(text) == text
    text = "From: Tehran\nTo: Shiraz\nThe parcel is late."
    assert strip_quotes(text) == text


def test_outlook_block_without_addresses_needs_all_fields() -> None:
    text = (
        "Please cancel it.\n\nFrom: Shop Support\nSent: Monday, November 23, 2026 10:00\n"
        "To: John Doe\nSubject: Your order\n\nold text\n"
    )
    assert strip_quotes(text) == "Please cancel it."
