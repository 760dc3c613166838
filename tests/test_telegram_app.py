"""Telegram through the real app: ingest, the tier-0 bot, the outbox, an agent's reply.

The adapter is built from settings by `router.enabled_channels` exactly as `pasokh serve`
builds it, and talks to the fake Bot API server over loopback.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from bot import build_responder
from bot.texts import DEFAULT_TEXTS
from channels.telegram.leadership import PostgresAdvisoryLeader, SoleLeader, leadership_for
from config.settings import Settings
from router.context import AppContext
from router.core.messages import AuthorKind
from router.core.outbound_messages import enqueue_outbound
from router.storage.models import Identity, Message, Thread
from tests.fake_telegram import FAKE_TOKEN, FakeTelegram
from tests.support import later_passes, make_settings, outbox_drained
from tests.telegram_support import replies_to, telegram_values

KB = Path(__file__).parent / "fixtures" / "faq" / "kb.json"
CHAT = 7770001


def with_telegram(settings: Settings, fake: FakeTelegram) -> Settings:
    return make_settings(
        settings.data_dir,
        settings.database_url,
        telegram=telegram_values(fake),
    )


async def start(settings: Settings, fake: FakeTelegram, start_app: Any) -> AppContext:
    polls = fake.polls_started
    _, context = await start_app(
        with_telegram(settings, fake), responder=build_responder(faq_path=KB)
    )
    await fake.wait_for(lambda: fake.polls_started > polls)
    return context


async def test_a_persian_question_gets_the_bots_persian_answer_and_a_tap_resolves(
    settings: Settings, fake: FakeTelegram, start_app: Any
) -> None:
    context = await start(settings, fake, start_app)
    user = fake.user(CHAT, first_name="سارا", username="sara_a", language_code="fa")
    fake.add_message(CHAT, "سفارشمو چجوری پیگیری کنم؟", user=user)

    await fake.wait_for(lambda: replies_to(fake, CHAT))
    [answer] = replies_to(fake, CHAT)
    assert answer.params["text"].startswith("وضعیت سفارش و کد رهگیری")
    buttons = [row[0] for row in answer.params["reply_markup"]["inline_keyboard"]]
    yes, no = DEFAULT_TEXTS["yes"]["fa"], DEFAULT_TEXTS["no"]["fa"]
    assert [button["text"] for button in buttons] == [yes, no]

    _, query_id = fake.add_callback(
        CHAT, buttons[0]["callback_data"], on_message=answer.result, user=user
    )
    await fake.wait_for(lambda: len(replies_to(fake, CHAT)) == 2)
    await fake.wait_for(lambda: fake.calls_to("answerCallbackQuery"))

    assert replies_to(fake, CHAT)[1].params["text"] == DEFAULT_TEXTS["resolved"]["fa"]
    assert fake.calls_to("answerCallbackQuery")[0].params["callback_query_id"] == query_id
    async with context.sessions() as session:
        identity = await session.scalar(select(Identity).where(Identity.channel == "telegram"))
        assert identity is not None
        assert (identity.address, identity.display_name, identity.verified) == (
            str(CHAT),
            "سارا",
            True,
        )
        thread = await session.scalar(
            select(Thread).where(Thread.customer_id == identity.customer_id)
        )
        assert thread is not None and thread.status == "resolved"
        texts = list(
            await session.scalars(
                select(Message.text).where(Message.direction == "in").order_by(Message.id)
            )
        )
    assert texts == ["سفارشمو چجوری پیگیری کنم؟", yes]


@pytest.mark.parametrize(
    ("language_code", "greeting_starts"), [("fa", "سلام"), ("ar", "مرحب"), ("en", "Hello")]
)
async def test_start_is_greeted_in_the_users_language(
    settings: Settings,
    fake: FakeTelegram,
    start_app: Any,
    language_code: str,
    greeting_starts: str,
) -> None:
    await start(settings, fake, start_app)
    fake.add_message(CHAT, "/start", user=fake.user(CHAT, language_code=language_code))
    await fake.wait_for(lambda: replies_to(fake, CHAT))
    [greeting] = replies_to(fake, CHAT)
    assert greeting.params["text"].startswith(greeting_starts)


async def _customer_thread(context: AppContext, chat: int) -> tuple[Thread, Identity]:
    async with context.sessions() as session:
        identity = await session.scalar(
            select(Identity).where(Identity.channel == "telegram", Identity.address == str(chat))
        )
        assert identity is not None
        thread = await session.scalar(
            select(Thread)
            .where(Thread.customer_id == identity.customer_id)
            .order_by(Thread.id.desc())
        )
        assert thread is not None
        return thread, identity


async def agent_says(context: AppContext, chat: int, text: str) -> None:
    """What the console does when an agent replies: a message and its outbox row."""
    thread, identity = await _customer_thread(context, chat)
    async with context.sessions() as session, session.begin():
        thread = await session.merge(thread)
        identity = await session.merge(identity)
        await enqueue_outbound(
            session,
            thread=thread,
            identity=identity,
            text=text,
            author=AuthorKind.AGENT,
            author_name="رضا",
        )


async def settled(context: AppContext, fake: FakeTelegram, chat: int) -> None:
    """Wait until the app has answered `chat` and sent all it had to say (the hand-off
    notice and whatever else the router queued with it)."""
    await fake.wait_for(lambda: replies_to(fake, chat))
    await outbox_drained(context)


async def test_an_agents_reply_reaches_send_message(
    settings: Settings, fake: FakeTelegram, start_app: Any
) -> None:
    context = await start(settings, fake, start_app)
    fake.add_message(CHAT, "talk to a human", user=fake.user(CHAT, language_code="en"))
    await settled(context, fake, CHAT)
    reply = "سلام، من رضا هستم. سفارش شما فردا می‌رسد."

    await agent_says(context, CHAT, reply)

    await fake.wait_for(lambda: replies_to(fake, CHAT)[-1].params["text"] == reply)


async def test_a_user_who_blocked_the_bot_is_marked_unreachable_and_not_retried(
    settings: Settings, fake: FakeTelegram, start_app: Any
) -> None:
    context = await start(settings, fake, start_app)
    fake.add_message(CHAT, "talk to a human", user=fake.user(CHAT, language_code="en"))
    await settled(context, fake, CHAT)
    fake.block(CHAT)

    await agent_says(context, CHAT, "are you still there?")

    async def reason() -> str | None:
        _, identity = await _customer_thread(context, CHAT)
        return identity.unreachable_reason

    for _ in range(200):  # up to 10 s
        if await reason():
            break
        await asyncio.sleep(0.05)
    assert "blocked" in (await reason() or "")
    await outbox_drained(context)  # the refused row is given up on, not waiting to retry
    await later_passes(context)  # and later passes of the worker leave it alone
    refused = [call for call in fake.calls_to("sendMessage") if call.status == 403]
    assert [call.params["text"] for call in refused] == ["are you still there?"]


async def test_redelivered_updates_are_stored_once(
    settings: Settings, fake: FakeTelegram, start_app: Any
) -> None:
    context = await start(settings, fake, start_app)
    message = fake.message(CHAT, "سلام", message_id=42)
    fake.add_update({"message": message})
    last = fake.add_update({"message": message})  # Telegram resends after a lost ack
    await fake.wait_acknowledged(last)
    async with context.sessions() as session:
        stored = await session.scalar(
            select(func.count()).select_from(Message).where(Message.direction == "in")
        )
    assert stored == 1


async def test_an_unreadable_update_is_counted_on_the_apps_metrics(
    settings: Settings, fake: FakeTelegram, start_app: Any
) -> None:
    context = await start(settings, fake, start_app)
    # A shape the reader does not expect (file_size should be a number).
    weird = {**fake.add_file(b"x", path="documents/w"), "file_size": "big", "file_name": "w"}
    fake.add_message(CHAT, document=weird)
    after = fake.add_message(CHAT, "the next message still arrives")
    await fake.wait_acknowledged(after)
    refused = context.metrics.registry.get_sample_value(
        "pasokh_telegram_refused_total", {"reason": "unreadable"}
    )
    assert refused == 1.0


async def test_text_no_database_can_store_does_not_hold_up_the_chat(
    settings: Settings, fake: FakeTelegram, start_app: Any
) -> None:
    context = await start(settings, fake, start_app)
    user = fake.user(CHAT, first_name="Sa\ud800ra\x00")
    fake.add_message(CHAT, "broken \ud800 text \x00 here", user=user)
    after = fake.add_message(CHAT, "the next message still arrives", user=user)
    await fake.wait_acknowledged(after)
    async with context.sessions() as session:
        texts = list(
            await session.scalars(
                select(Message.text).where(Message.direction == "in").order_by(Message.id)
            )
        )
        names = set(await session.scalars(select(Identity.display_name)))
    # One rule for every channel (router.core.storable_text): NUL dropped, surrogates U+FFFD.
    assert texts == ["broken \ufffd text  here", "the next message still arrives"]
    assert "Sa\ufffdra" in names


async def test_only_one_process_polls_on_postgresql(
    settings: Settings, fake: FakeTelegram, db_kind: str
) -> None:
    first = leadership_for(settings.database_url, FAKE_TOKEN)
    second = leadership_for(settings.database_url, FAKE_TOKEN)
    other_bot = leadership_for(settings.database_url, "777:another-bot")
    if db_kind == "sqlite":
        # One process owns an embedded database: it simply polls.
        assert isinstance(first, SoleLeader) and await first.acquire()
        return
    assert isinstance(first, PostgresAdvisoryLeader)
    try:
        assert await first.acquire()
        assert not await second.acquire()
        assert await other_bot.acquire()  # another bot in the same database polls too
        await first.release()
        assert await second.acquire()  # the lock moves on when its holder goes away
    finally:
        for leader in (first, second, other_bot):
            await leader.release()


async def test_two_processes_on_postgresql_never_make_telegram_answer_409(
    settings: Settings,
    fake: FakeTelegram,
    db_kind: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Two adapters sharing a database: one polls, the other takes over when it stops."""
    from channels.telegram import TelegramAdapter
    from tests.telegram_support import RecordingIngest, make_services, telegram_settings

    if db_kind == "sqlite":
        # An embedded database has one process; there is no second poller to hold back.
        assert isinstance(leadership_for(settings.database_url, FAKE_TOKEN), SoleLeader)
        return
    ingest = RecordingIngest()
    services = make_services(ingest, tmp_path / "attachments")
    adapters = [
        TelegramAdapter(
            settings=telegram_settings(fake),
            leadership=leadership_for(settings.database_url, FAKE_TOKEN),
        )
        for _ in range(2)
    ]
    for adapter in adapters:
        await adapter.start(services)
    try:
        first = fake.add_message(CHAT, "one")
        await fake.wait_acknowledged(first)
        await adapters[0].stop()  # whichever polled, one poller remains or takes over
        second = fake.add_message(CHAT, "two")
        await fake.wait_acknowledged(second)
        await adapters[1].stop()
        third = fake.add_message(CHAT, "three")
        adapters[0] = TelegramAdapter(
            settings=telegram_settings(fake),
            leadership=leadership_for(settings.database_url, FAKE_TOKEN),
        )
        await adapters[0].start(services)
        await fake.wait_acknowledged(third)
    finally:
        for adapter in adapters:
            await adapter.stop()
    assert ingest.texts == ["one", "two", "three"]
    # No poller was ever answered 409. (The fake does record 409s for long polls a
    # stopping adapter abandoned: Telegram ends those when the next poll arrives.)
    assert "conflict" not in caplog.text.lower()
