"""Inbound text every database stores and agents read as written, on every channel.

Long names and subjects are cut to their columns (PostgreSQL enforces VARCHAR sizes,
SQLite does not); a value the database still refuses stores a reduced message instead
of failing on every redelivery; bidi controls never reach a name an agent reads.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.policy import SMTP
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import Settings
from router.context import AppContext
from router.core import ingest as ingest_module
from router.core.messages import DeliveryFailure
from router.core.responder import QueueEveryThread
from router.core.storable_text import ELLIPSIS, fit, fit_key, plain_name, storable
from router.storage.models import Customer, Identity, Message, Thread
from tests.fake_telegram import FakeTelegram
from tests.support import FakeAdapter
from tests.test_email_end_to_end import EmailApp, email_app
from tests.test_telegram_app import CHAT, start

__all__ = ["email_app"]  # fixtures used here

RLO, PDF, LRI, PDI, RLM, ZWNJ = "\u202e", "\u202c", "\u2066", "\u2069", "\u200f", "\u200c"


# --- the text rules ---------------------------------------------------------------------


def test_plain_name_drops_every_bidi_control_and_keeps_zwnj() -> None:
    controls = "".join(chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A)))
    name = f"invoice_{RLO}fdp.exe{controls}{RLM}\u200e\u061c می{ZWNJ}خواهم"
    assert plain_name(name) == f"invoice_fdp.exe می{ZWNJ}خواهم"
    assert plain_name("Sa\ud800ra\x00") == "Sa\ufffdra"


def test_storable_text_keeps_bidi_controls_in_message_text() -> None:
    text = f"{RLM}سلام{PDF} a\x00b \udc80"
    assert storable(text) == f"{RLM}سلام{PDF} ab \ufffd"


def test_fit_cuts_with_an_ellipsis_and_fit_key_stays_distinct_and_stable() -> None:
    assert fit("a" * 10, 10) == "a" * 10
    assert fit("a" * 11, 10) == "a" * 9 + ELLIPSIS
    one, two = "x" * 600 + "1", "x" * 600 + "2"
    assert len(fit_key(one, 512)) == 512
    assert fit_key(one, 512) != fit_key(two, 512)
    assert fit_key(one, 512) == fit_key(one, 512)
    assert fit_key("short", 512) == "short"


# --- through ingest -------------------------------------------------------------------------


async def test_every_bounded_field_is_cut_to_its_column_and_names_lose_bidi_controls(
    settings: Settings, start_app: Any
) -> None:
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    assert adapter.services is not None
    ref = await adapter.services.attachments.put(
        b"MZ", filename=f"invoice_{RLO}fdp.exe", content_type="application/octet-stream"
    )
    long_id = "id-" + "7" * 600
    result = await adapter.push(
        "my invoice",
        external_id=long_id,
        sender="s" * 400 + "@example.com",
        sender_name=f"{RLO}" + "ن" * 299,
        sender_username="u" * 250,
        subject="س" * 700,
        language="fa-IR-x-very-long",
        attachments=(ref,),
        delivery_failure=DeliveryFailure(
            addresses=("nobody@example.com",), reason=f"550 {LRI}user{PDI} unknown"
        ),
    )
    again = await adapter.push("my invoice", external_id=long_id, sender="s" * 400 + "@example.com")
    assert again.duplicate and again.message_id == result.message_id
    async with context.sessions() as session:
        message = await session.get(Message, result.message_id)
        thread = await session.get(Thread, result.thread_id)
        customer = await session.get(Customer, result.customer_id)
        identity = await session.scalar(select(Identity).where(Identity.channel == "fake"))
    assert message is not None and thread is not None and customer is not None
    assert identity is not None
    assert message.author_name == "ن" * 199 + ELLIPSIS
    assert customer.name == identity.display_name == message.author_name
    assert identity.username == "u" * 199 + ELLIPSIS
    assert message.subject == thread.subject == "س" * 499 + ELLIPSIS
    assert message.external_id is not None and len(message.external_id) == 512
    assert len(identity.address) == 320
    assert message.language is None  # not a language code any column holds
    assert [a["filename"] for a in message.attachments] == ["invoice_fdp.exe"]
    metric = context.metrics.registry.get_sample_value
    altered = {
        reason: metric("pasokh_inbound_altered_total", {"channel": "fake", "reason": reason})
        for reason in ("too_long", "bidi_control", "file_name")
    }
    # The redelivery's id and address were too long again (cut the same way: a duplicate).
    assert altered == {"too_long": 2, "bidi_control": 1, "file_name": 1}


async def test_a_value_the_database_refuses_is_stored_reduced_not_refused_for_ever(
    settings: Settings, start_app: Any, db_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A data error no rule foresaw (here: cutting switched off) stores the message
    without its descriptive fields; it is not an error the channel retries for ever."""
    monkeypatch.setattr(ingest_module, "fit", lambda value, limit: value)
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    result = await adapter.push("where is my order?", sender_name="N" * 300, subject="S" * 700)
    async with context.sessions() as session:
        message = await session.get(Message, result.message_id)
    assert message is not None and message.text == "where is my order?"
    refused = context.metrics.registry.get_sample_value(
        "pasokh_inbound_altered_total", {"channel": "fake", "reason": "data_error"}
    )
    if db_kind == "postgresql":  # VARCHAR(n) is enforced: the reduced form was stored
        assert message.subject is None and message.author_name is None
        assert refused == 1
    else:  # SQLite stores any length: nothing was refused
        assert message.subject == "S" * 700
        assert refused is None


# --- real channels ------------------------------------------------------------------------


def long_mail(*, name: str, subject: str, message_id: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = f'"{name}" <long@example.ir>'
    mail["To"] = "support@support.localhost"
    mail["Subject"] = subject
    mail["Message-ID"] = message_id
    mail.set_content("سفارش من کجاست؟")
    return mail.as_bytes(policy=SMTP)


async def test_smtp_mail_with_a_300_char_name_and_700_char_subject_is_stored_with_250(
    email_app: EmailApp,
) -> None:
    name = "سارا " * 60  # 300 characters
    subject = "وضعیت سفارش " * 59  # 708 characters
    # smtplib raises SMTPDataError unless the server answered 250.
    await email_app.send(
        long_mail(name=name.strip(), subject=subject.strip(), message_id="<long-1@example.ir>"),
        mail_from="long@example.ir",
    )
    stored = await email_app.inbound("long-1@example.ir")
    assert stored.author_name is not None and len(stored.author_name) == 200
    assert stored.author_name.startswith("سارا سارا") and stored.author_name.endswith(ELLIPSIS)
    assert stored.subject is not None and len(stored.subject) == 500
    assert stored.text == "سفارش من کجاست؟"


async def test_smtp_display_name_with_an_override_is_stored_plain(email_app: EmailApp) -> None:
    await email_app.send(
        long_mail(name=f"Sara {RLO}nimda", subject=f"re: {RLO}fdp.exe", message_id="<rlo@x.ir>"),
        mail_from="sara@example.ir",
    )
    stored = await email_app.inbound("rlo@x.ir")
    assert stored.author_name == "Sara nimda"
    assert stored.subject == "re: fdp.exe"


async def test_telegram_long_name_and_reversing_file_name_are_stored_plain(
    settings: Settings, fake: FakeTelegram, start_app: Any
) -> None:
    context: AppContext = await start(settings, fake, start_app)
    user = fake.user(CHAT, first_name="ن" * 150, last_name=f"{RLO}" + "م" * 150)
    document = {
        **fake.add_file(b"%PDF-1.4", path="documents/file_1.pdf"),
        "file_name": f"invoice_{RLO}fdp.exe",
        "mime_type": "application/pdf",
    }
    update = fake.add_message(CHAT, user=user, document=document, caption="فاکتور")
    await fake.wait_acknowledged(update)
    async with context.sessions() as session:
        message = await session.scalar(select(Message).where(Message.direction == "in"))
    assert message is not None
    assert message.author_name == "ن" * 150 + " " + "م" * 48 + ELLIPSIS
    assert [a["filename"] for a in message.attachments] == ["invoice_fdp.exe"]
