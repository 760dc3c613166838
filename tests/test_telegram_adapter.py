"""The Telegram adapter in polling mode against the fake Bot API server.

PTB runs unpatched; the router is stood in for by a recording ingest function.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from channels.base import ChannelServices
from channels.telegram import TelegramAdapter
from router.core.attachments import AttachmentStore
from router.core.messages import (
    AttachmentRef,
    AuthorKind,
    DeliveryStatus,
    InboundMessage,
    IngestResult,
    OutboundMessage,
)
from tests.fake_telegram import FAKE_TOKEN, FakeTelegram
from tests.telegram_support import RecordingIngest, make_services, telegram_settings

CHAT = 5550001
PERSIAN_QUESTION = "سلام، سفارشم کی می‌رسد؟"


async def started(
    fake: FakeTelegram, services: ChannelServices, **settings: Any
) -> TelegramAdapter:
    adapter = TelegramAdapter(settings=telegram_settings(fake, **settings))
    polls_before = fake.polls_started
    await adapter.start(services)
    # The first getUpdates comes after getMe/deleteWebhook: the adapter is connected.
    await fake.wait_for(lambda: fake.polls_started > polls_before)
    return adapter


@pytest.fixture
async def adapter(fake: FakeTelegram, services: ChannelServices) -> AsyncIterator[TelegramAdapter]:
    running = await started(fake, services)
    yield running
    await running.stop()


def reply(text: str, *, address: int = CHAT, outbox_id: int = 1, **fields: Any) -> OutboundMessage:
    return OutboundMessage(
        outbox_id=outbox_id,
        message_id=outbox_id,
        thread_id=1,
        channel="telegram",
        address=str(address),
        text=text,
        author=AuthorKind.BOT,
        **fields,
    )


# ---- inbound -------------------------------------------------------------------------


async def test_persian_text_is_ingested_with_language_then_acknowledged(
    fake: FakeTelegram, ingest: RecordingIngest, adapter: TelegramAdapter
) -> None:
    user = fake.user(CHAT, first_name="سارا", last_name="احمدی", username="sara_a")
    update_id = fake.add_message(CHAT, PERSIAN_QUESTION, user=user)

    await fake.wait_acknowledged(update_id)

    [message] = ingest.stored
    assert message.channel == "telegram"
    assert message.text == PERSIAN_QUESTION
    assert message.language == "fa"
    assert message.sender_address == str(CHAT)
    assert message.sender_name == "سارا احمدی"
    assert message.sender_verified is True
    assert message.external_id == f"tg:msg:{CHAT}:1"
    assert message.received_at.tzinfo is not None


@pytest.mark.parametrize(
    ("language_code", "language", "greeting"),
    [
        ("fa", "fa", "سلام"),
        ("ar", "ar", "مرحبا"),
        ("en-US", "en", "Hello"),
        ("de", None, "Hello"),
        (None, None, "Hello"),
    ],
)
async def test_start_is_a_greeting_in_the_users_language(
    fake: FakeTelegram,
    ingest: RecordingIngest,
    adapter: TelegramAdapter,
    language_code: str | None,
    language: str | None,
    greeting: str,
) -> None:
    user = fake.user(CHAT, language_code=language_code)
    update_id = fake.add_message(CHAT, "/start promo-42", user=user)
    await fake.wait_acknowledged(update_id)
    [message] = ingest.stored
    assert (message.text, message.language) == (greeting, language)
    assert message.full_text == "/start promo-42"  # what Telegram sent, for agents


async def test_other_text_is_not_mistaken_for_start(
    fake: FakeTelegram, ingest: RecordingIngest, adapter: TelegramAdapter
) -> None:
    update_id = fake.add_message(CHAT, "/startup question")
    await fake.wait_acknowledged(update_id)
    assert [(m.text, m.full_text) for m in ingest.stored] == [("/startup question", None)]


async def test_group_messages_are_ignored_with_a_log_line_and_acknowledged(
    fake: FakeTelegram,
    ingest: RecordingIngest,
    adapter: TelegramAdapter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="channels.telegram")
    group_update = fake.add_message(-100200, "hello group", chat_type="supergroup")
    private_update = fake.add_message(CHAT, "hello bot")

    await fake.wait_acknowledged(private_update)

    assert ingest.texts == ["hello bot"]
    assert group_update < private_update
    assert "only private chats" in caplog.text


@pytest.mark.parametrize(
    "unreadable",
    [
        {"date": 10**20},  # after any calendar's last year: PTB raises OverflowError
        {"chat": "not a chat"},  # PTB raises TypeError
    ],
    ids=["date", "chat"],
)
async def test_an_update_ptb_cannot_read_is_skipped_and_polling_goes_on(
    fake: FakeTelegram,
    ingest: RecordingIngest,
    services: ChannelServices,
    caplog: pytest.LogCaptureFixture,
    unreadable: dict[str, Any],
) -> None:
    registry = CollectorRegistry()
    running = TelegramAdapter(settings=telegram_settings(fake), registry=registry)
    await running.start(services)
    try:
        bad = fake.add_update({"message": {**fake.message(CHAT, "lost"), **unreadable}})
        after = fake.add_message(CHAT, "still here")
        await fake.wait_acknowledged(after)
        # and the poller is still there for the next one
        later = fake.add_message(CHAT + 1, "and later")
        await fake.wait_acknowledged(later)
    finally:
        await running.stop()
    assert ingest.texts == ["still here", "and later"]
    assert f"update {bad} cannot be read" in caplog.text
    skipped = registry.get_sample_value("pasokh_telegram_refused_total", {"reason": "unreadable"})
    assert skipped == 1.0


async def test_edited_message_is_recorded_as_an_edit_of_the_original(
    fake: FakeTelegram, ingest: RecordingIngest, adapter: TelegramAdapter
) -> None:
    fake.add_message(CHAT, "my order is 1234", message_id=7)
    update_id = fake.add_edit(CHAT, 7, "my order is 12345", edit_date=1_790_000_000)

    await fake.wait_acknowledged(update_id)

    original, edit = ingest.stored
    assert edit.text == "my order is 12345"
    assert edit.edit_of == original.external_id == f"tg:msg:{CHAT}:7"
    assert edit.external_id == f"tg:edit:{CHAT}:7:1790000000"


async def test_largest_photo_is_stored_with_its_caption(
    fake: FakeTelegram, ingest: RecordingIngest, adapter: TelegramAdapter, tmp_path: Path
) -> None:
    small, large = b"\xff\xd8small-jpeg", b"\xff\xd8" + b"large-jpeg" * 500
    thumb = {**fake.add_file(small, path="photos/s.jpg"), "width": 90, "height": 60}
    full = {**fake.add_file(large, path="photos/l.jpg"), "width": 1280, "height": 853}
    update_id = fake.add_message(CHAT, photo=[thumb, full], caption="این رسید پرداخت است")

    await fake.wait_acknowledged(update_id)

    [message] = ingest.stored
    assert message.text == "این رسید پرداخت است"
    [ref] = message.attachments
    assert ref.sha256 == hashlib.sha256(large).hexdigest()
    assert (ref.content_type, ref.size) == ("image/jpeg", len(large))
    assert await AttachmentStore(tmp_path / "attachments").read(ref.sha256) == large
    assert [call.params["file_id"] for call in fake.calls_to("getFile")] == [full["file_id"]]


@pytest.mark.parametrize(
    ("file", "why"),
    [
        ({"path": None}, "unavailable"),  # getFile without a file_path
        ({"path": "../../bot123/getMe"}, "unavailable"),  # a path out of the file area
        ({"path": "documents/slow.pdf", "trickle": True}, "took too long"),
    ],
    ids=["no-path", "outside", "trickle"],
)
async def test_a_file_that_cannot_be_had_leaves_the_message_and_the_other_chats_alone(
    fake: FakeTelegram,
    ingest: RecordingIngest,
    services: ChannelServices,
    file: dict[str, Any],
    why: str,
) -> None:
    running = await started(fake, services, file_download_timeout=0.5)
    try:
        document = fake.add_file(b"%PDF-1.4 receipt", **file)
        sent = fake.add_message(
            CHAT,
            caption="my invoice, please help",
            document={**document, "file_name": "invoice.pdf", "mime_type": "application/pdf"},
        )
        other = fake.add_message(CHAT + 1, "a question from someone else")
        await fake.wait_acknowledged(max(sent, other), within=15.0)
    finally:
        await running.stop()
    stored = {m.sender_address: m for m in ingest.stored}
    kept = stored[str(CHAT)]
    assert kept.text.startswith("my invoice, please help"), kept.text
    assert f"[file not kept: invoice.pdf, {why}]" in kept.text
    assert kept.attachments == ()
    assert stored[str(CHAT + 1)].text == "a question from someone else"


@pytest.mark.parametrize(
    ("field", "extra", "content_type", "suffix"),
    [
        (
            "document",
            {"file_name": "فاکتور.pdf", "mime_type": "application/pdf"},
            "application/pdf",
            "فاکتور.pdf",
        ),
        ("voice", {"duration": 3, "mime_type": "audio/ogg"}, "audio/ogg", ".ogg"),
        (
            "sticker",
            {
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
            },
            "image/webp",
            ".webp",
        ),
    ],
)
async def test_documents_voice_and_stickers_are_stored(
    fake: FakeTelegram,
    ingest: RecordingIngest,
    adapter: TelegramAdapter,
    field: str,
    extra: dict[str, Any],
    content_type: str,
    suffix: str,
) -> None:
    data = f"{field} bytes".encode() * 10
    media = {**fake.add_file(data, path=f"{field}s/file_1"), **extra}
    update_id = fake.add_message(CHAT, **{field: media})

    await fake.wait_acknowledged(update_id)

    [message] = ingest.stored
    [ref] = message.attachments
    assert ref.content_type == content_type
    assert ref.filename.endswith(suffix)
    assert ref.size == len(data)


async def test_oversized_file_is_named_but_not_downloaded(
    fake: FakeTelegram, ingest: RecordingIngest, services: ChannelServices
) -> None:
    adapter = await started(fake, services, max_file_bytes=100)
    try:
        doc = {**fake.add_file(b"x" * 101, path="documents/big.zip"), "file_name": "big.zip"}
        update_id = fake.add_message(CHAT, "see attached", document=doc)
        await fake.wait_acknowledged(update_id)
    finally:
        await adapter.stop()

    [message] = ingest.stored
    assert message.attachments == ()
    assert "big.zip" in message.text and "too large" in message.text
    assert fake.calls_to("getFile") == []


async def test_button_tap_is_ingested_as_the_suggestion_and_answered(
    fake: FakeTelegram, ingest: RecordingIngest, adapter: TelegramAdapter
) -> None:
    long_suggestion = "می‌خواهم با یک همکار پشتیبانی درباره‌ی بازگرداندن سفارش صحبت کنم"
    result = await adapter.send(
        reply("چه کمکی از من ساخته است؟", suggestions=("بله", long_suggestion))
    )
    assert result.status is DeliveryStatus.DELIVERED
    sent_message = fake.sent()[-1].result
    buttons = [row[0] for row in sent_message["reply_markup"]["inline_keyboard"]]
    assert [button["text"] for button in buttons] == ["بله", long_suggestion]
    assert all(len(button["callback_data"].encode()) <= 64 for button in buttons)

    first, first_query = fake.add_callback(
        CHAT, buttons[0]["callback_data"], on_message=sent_message
    )
    second, second_query = fake.add_callback(
        CHAT, buttons[1]["callback_data"], on_message=sent_message
    )
    await fake.wait_acknowledged(second)
    await fake.wait_for(lambda: len(fake.calls_to("answerCallbackQuery")) == 2)

    assert ingest.texts == ["بله", long_suggestion]
    assert [m.external_id for m in ingest.stored] == [
        f"tg:cb:{first_query}",
        f"tg:cb:{second_query}",
    ]
    answered = [call.params["callback_query_id"] for call in fake.calls_to("answerCallbackQuery")]
    assert answered == [first_query, second_query]
    assert first < second


async def test_update_is_fetched_again_until_ingest_commits(
    fake: FakeTelegram, ingest: RecordingIngest, adapter: TelegramAdapter
) -> None:
    ingest.fail_next = 2
    ingest.observe = lambda: fake.confirmed_below
    update_id = fake.add_message(CHAT, "please do not lose me")

    await fake.wait_acknowledged(update_id, within=15)

    # Fetched three times: twice the ingest raised, the third time it committed.
    assert [m.text for m in ingest.calls] == ["please do not lose me"] * 3
    assert ingest.texts == ["please do not lose me"]
    # Telegram had not been told to forget the update before it was stored.
    assert all(below <= update_id for below in ingest.observed)


async def test_a_restarted_poller_gets_back_what_was_not_stored(
    fake: FakeTelegram, ingest: RecordingIngest, services: ChannelServices
) -> None:
    ingest.fail_next = 1_000  # the database is down
    adapter = await started(fake, services)
    update_id = fake.add_message(CHAT, "sent while the database was down")
    await fake.wait_for(lambda: ingest.calls)
    await adapter.stop()
    assert fake.confirmed_below <= update_id

    ingest.fail_next = 0
    adapter = await started(fake, services)
    try:
        await fake.wait_acknowledged(update_id)
    finally:
        await adapter.stop()
    assert ingest.texts == ["sent while the database was down"]


# ---- outbound ------------------------------------------------------------------------


async def test_long_reply_is_split_with_buttons_on_the_last_part(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    sentence = "این یک جمله‌ی آزمایشی برای پاسخ طولانی است. "
    text = (sentence * 120).strip()
    assert len(text) > 5000

    result = await adapter.send(reply(text, suggestions=("بله", "خیر")))

    assert result.status is DeliveryStatus.DELIVERED
    sent = fake.sent()
    assert len(sent) == 2
    assert all(len(call.params["text"]) <= 4096 for call in sent)
    assert all(call.params["text"].endswith(".") for call in sent)  # cut at sentence ends
    assert " ".join(call.params["text"] for call in sent) == text
    assert "reply_markup" not in sent[0].params
    assert "inline_keyboard" in sent[1].params["reply_markup"]
    assert result.external_id == f"tg:msg:{CHAT}:{sent[0].result['message_id']}"


async def test_flood_wait_is_waited_out_and_nothing_is_sent_twice(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    text = ("جمله‌ای برای آزمون. " * 300).strip()  # two parts
    fake.fail("sendMessage", status=429, retry_after=1)  # hits the first part
    started_at = time.monotonic()

    result = await adapter.send(reply(text))

    assert result.status is DeliveryStatus.DELIVERED
    assert time.monotonic() - started_at >= 1.0
    attempts = fake.calls_to("sendMessage")
    assert [call.status for call in attempts] == [429, 200, 200]
    assert attempts[1].at - attempts[0].at >= 1.0
    delivered = [call.params["text"] for call in fake.sent()]
    assert len(delivered) == len(set(delivered)) == 2


async def test_long_flood_wait_goes_back_to_the_outbox_and_resumes_where_it_stopped(
    fake: FakeTelegram, services: ChannelServices
) -> None:
    adapter = await started(fake, services, max_retry_wait=0.5)
    text = ("جمله‌ای برای آزمون. " * 300).strip()  # two parts
    try:
        # The first part goes out; the second meets a flood wait longer than we hold on to.
        fake.fail("sendMessage", status=429, retry_after=1, after=1)
        first = await adapter.send(reply(text, outbox_id=9))
        assert first.status is DeliveryStatus.RETRY
        assert first.retry_after == 1.0
        assert len(fake.sent()) == 1

        second = await adapter.send(reply(text, outbox_id=9))  # the outbox tries again
    finally:
        await adapter.stop()
    assert second.status is DeliveryStatus.DELIVERED
    texts = [call.params["text"] for call in fake.sent()]
    assert len(texts) == len(set(texts)) == 2
    assert " ".join(texts) == text


async def test_another_process_resumes_a_split_reply_from_the_outbox_progress(
    fake: FakeTelegram, services: ChannelServices
) -> None:
    first_process = await started(fake, services, max_retry_wait=0.5)
    text = ("جمله‌ای برای آزمون. " * 300).strip()  # two parts
    try:
        fake.fail("sendMessage", status=429, retry_after=1, after=1)
        first = await first_process.send(reply(text, outbox_id=11))
    finally:
        await first_process.stop()
    assert first.status is DeliveryStatus.RETRY and first.parts_done == 1

    # A second process has none of the first one's memory, only the outbox row's count.
    second_process = await started(fake, services, max_retry_wait=0.5)
    try:
        second = await second_process.send(
            reply(text, outbox_id=11, parts_done=first.parts_done or 0)
        )
    finally:
        await second_process.stop()
    assert second.status is DeliveryStatus.DELIVERED
    texts = [call.params["text"] for call in fake.sent()]
    assert len(texts) == len(set(texts)) == 2
    assert " ".join(texts) == text


async def test_blocked_user_marks_the_identity_unreachable_without_retrying(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    fake.block(CHAT)

    result = await adapter.send(reply("are you there?"))

    assert result.status is DeliveryStatus.FAILED
    assert result.identity_unreachable is True
    assert "blocked" in (result.error or "")
    assert len(fake.calls_to("sendMessage")) == 1


@pytest.mark.parametrize(
    ("description", "unreachable"),
    [
        ("Bad Request: chat not found", True),  # the account is gone, or never wrote
        ("Forbidden: user is deactivated", True),
        ("Bad Request: message text is empty", False),  # our fault: dead-letter only
    ],
)
async def test_permanent_errors_fail_and_say_whether_the_user_is_gone(
    fake: FakeTelegram, adapter: TelegramAdapter, description: str, unreachable: bool
) -> None:
    status = 403 if description.startswith("Forbidden") else 400
    fake.fail("sendMessage", status=status, description=description)

    result = await adapter.send(reply("hello"))

    assert result.status is DeliveryStatus.FAILED
    assert result.identity_unreachable is unreachable
    assert len(fake.calls_to("sendMessage")) == 1


async def test_server_errors_are_handed_back_for_a_later_retry(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    fake.fail("sendMessage", status=502)

    result = await adapter.send(reply("hello"))

    assert result.status is DeliveryStatus.RETRY
    assert result.identity_unreachable is False
    assert fake.sent() == []
    assert (await adapter.send(reply("hello"))).status is DeliveryStatus.DELIVERED


async def test_one_chat_gets_at_most_one_message_per_interval(
    fake: FakeTelegram, services: ChannelServices
) -> None:
    adapter = await started(fake, services, chat_interval=0.5)
    # The first message reaches Telegram 0.3 s late (a connection's set-up, a slow
    # network): the interval Telegram counts is between arrivals, not between sends.
    fake.arrive_late("sendMessage", 0.3)
    try:
        sends = [adapter.send(reply(f"to A {n}", outbox_id=n)) for n in range(3)]
        sends.append(adapter.send(reply("to B", address=CHAT + 1, outbox_id=9)))
        results = await asyncio.gather(*sends)
    finally:
        await adapter.stop()
    assert {result.status for result in results} == {DeliveryStatus.DELIVERED}
    to_a = [call.at for call in fake.sent() if call.chat_id == CHAT]
    gaps = [later - earlier for earlier, later in itertools.pairwise(to_a)]
    assert all(gap >= 0.4 for gap in gaps), gaps  # 0.5 s slots, less network jitter
    to_b = next(call.at for call in fake.sent() if call.chat_id == CHAT + 1)
    assert to_b < to_a[1]  # another chat does not queue behind A


async def test_attachments_go_out_as_photo_and_document(
    fake: FakeTelegram, adapter: TelegramAdapter, tmp_path: Path
) -> None:
    store = AttachmentStore(tmp_path / "attachments")
    photo = await store.put(b"\x89PNG fake", filename="chart.png", content_type="image/png")
    pdf = await store.put(b"%PDF fake", filename="invoice.pdf", content_type="application/pdf")

    result = await adapter.send(
        reply("your invoice", attachments=(photo, pdf), suggestions=("ok",))
    )

    assert result.status is DeliveryStatus.DELIVERED
    assert fake.sent("sendPhoto")[0].files["photo"] == b"\x89PNG fake"
    document = fake.sent("sendDocument")[0]
    assert document.files["document"] == b"%PDF fake"
    assert "inline_keyboard" in document.params["reply_markup"]  # buttons on the last part
    assert "reply_markup" not in fake.sent()[0].params


async def test_missing_attachment_reference_is_not_fatal_to_the_adapter(
    fake: FakeTelegram, adapter: TelegramAdapter
) -> None:
    ghost = AttachmentRef(
        sha256="0" * 64, filename="gone.pdf", content_type="application/pdf", size=3
    )
    result = await adapter.send(reply("", attachments=(ghost,)))
    assert result.status is DeliveryStatus.FAILED
    assert "gone.pdf" in (result.error or "")
    assert (await adapter.send(reply("still working"))).status is DeliveryStatus.DELIVERED


# ---- lifecycle and secrets -----------------------------------------------------------


async def test_start_twice_raises_and_stop_twice_is_harmless(
    fake: FakeTelegram, services: ChannelServices
) -> None:
    adapter = await started(fake, services)
    with pytest.raises(RuntimeError):
        await adapter.start(services)
    await adapter.stop()
    await adapter.stop()


async def test_the_token_never_reaches_the_logs(
    fake: FakeTelegram, services: ChannelServices, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # `pasokh serve`'s logging quiets httpx; another test may have set that up already.
    caplog.set_level(logging.DEBUG, logger="httpx")
    adapter = await started(fake, services)
    fake.add_message(CHAT, "hi")
    await adapter.send(reply("hello"))
    await adapter.stop()

    wrong = TelegramAdapter(settings=telegram_settings(fake, token="999:WRONG-secret-token"))
    await wrong.start(services)
    await fake.wait_for(lambda: any(c.status == 401 for c in fake.calls))
    await wrong.stop()

    assert "HTTP Request" in caplog.text  # httpx did log the calls
    assert FAKE_TOKEN.lower() not in caplog.text.lower()
    assert "wrong-secret-token" not in caplog.text.lower()
    assert "token was rejected" in caplog.text


async def test_one_chats_failure_holds_back_only_what_must_be_fetched_again(
    fake: FakeTelegram, ingest: RecordingIngest, tmp_path: Path
) -> None:
    failures = {"from A 2": 1}  # the second message of chat A fails once

    async def flaky_ingest(message: InboundMessage) -> IngestResult:
        if failures.get(message.text, 0) > 0:
            failures[message.text] -= 1
            raise RuntimeError("deadlock detected (test)")
        return await ingest(message)

    services = make_services(ingest, tmp_path / "attachments")
    services = dataclasses.replace(services, ingest=flaky_ingest)
    fake.add_message(CHAT, "from A 1")
    fake.add_message(CHAT + 1, "from B 1")
    fake.add_message(CHAT, "from A 2")
    fake.add_message(CHAT, "from A 3")
    last = fake.add_message(CHAT + 1, "from B 2")
    adapter = await started(fake, services)
    try:
        await fake.wait_acknowledged(last)
    finally:
        await adapter.stop()

    by_chat = {
        chat: [m.text for m in ingest.stored if m.sender_address == str(chat)]
        for chat in (CHAT, CHAT + 1)
    }
    assert by_chat == {
        CHAT: ["from A 1", "from A 2", "from A 3"],  # in order, despite the failure
        CHAT + 1: ["from B 1", "from B 2"],  # B's refetched update deduplicated
    }
    assert len(ingest.stored) == 5
    assert [m.text for m in ingest.calls].count("from B 2") == 2  # it did come back


async def test_an_unreadable_update_is_logged_and_skipped_not_retried_forever(
    fake: FakeTelegram,
    ingest: RecordingIngest,
    adapter: TelegramAdapter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A shape the reader does not expect (file_size should be a number).
    weird = {**fake.add_file(b"x", path="documents/w"), "file_size": "big", "file_name": "w"}
    broken = fake.add_message(CHAT, document=weird)
    after = fake.add_message(CHAT, "the next message still arrives")

    await fake.wait_acknowledged(after)

    assert ingest.texts == ["the next message still arrives"]
    assert f"cannot read update {broken}" in caplog.text


async def test_the_bot_as_a_whole_stays_under_its_messages_per_second(
    fake: FakeTelegram, services: ChannelServices
) -> None:
    adapter = await started(fake, services, messages_per_second=10.0)
    try:
        started_at = time.monotonic()
        results = await asyncio.gather(
            *(adapter.send(reply("hi", address=CHAT + n, outbox_id=n)) for n in range(20))
        )
        elapsed = time.monotonic() - started_at
    finally:
        await adapter.stop()
    assert {result.status for result in results} == {DeliveryStatus.DELIVERED}
    # 20 messages to 20 chats at 10/s: a first second's burst of 10, then 10 more.
    assert elapsed >= 0.9
    # Held back before sending, not only before answering: the last request reached the
    # server a second after the start. (Measured from the start, not from the first
    # arrival, which a loaded machine can delay while the later ones come on time.)
    last_arrival = max(call.at for call in fake.sent())
    assert last_arrival - started_at >= 0.9


async def test_error_texts_with_the_token_are_masked_before_they_are_stored_or_logged(
    fake: FakeTelegram, adapter: TelegramAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake.fail("sendMessage", status=400, description=f"Bad Request: url /bot{FAKE_TOKEN}/x")
    fake.fail("getUpdates", status=500, description=f"Internal error at /bot{FAKE_TOKEN}")

    result = await adapter.send(reply("hello"))
    await fake.wait_for(lambda: any(call.status == 500 for call in fake.calls))
    await fake.wait_for(lambda: "getUpdates failed" in caplog.text)

    assert result.status is DeliveryStatus.FAILED
    # PTB capitalises error texts, lowering the token's letters: compare without case.
    assert FAKE_TOKEN.lower() not in (result.error or "").lower()
    assert "<telegram-token>" in (result.error or "")
    assert FAKE_TOKEN.lower() not in caplog.text.lower()
