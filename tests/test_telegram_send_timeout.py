"""A slow Bot API answer is waited for, not taken for a failure and sent again.

Telegram has no idempotency key: a send whose answer is lost to a timeout may have
delivered, and the outbox's retry would then show the customer the message twice.
"""

from __future__ import annotations

from pathlib import Path

from channels.telegram import TelegramAdapter
from router.core.messages import AuthorKind, DeliveryStatus, OutboundMessage
from tests.fake_telegram import FakeTelegram
from tests.telegram_support import RecordingIngest, make_services, telegram_settings

CHAT = 5550001


async def test_an_answer_later_than_five_seconds_is_still_a_delivery(tmp_path: Path) -> None:
    async with FakeTelegram() as fake:
        adapter = TelegramAdapter(settings=telegram_settings(fake))
        polls = fake.polls_started
        await adapter.start(make_services(RecordingIngest(), tmp_path / "attachments"))
        try:
            await fake.wait_for(lambda: fake.polls_started > polls)
            fake.answer_late("sendMessage", 6.0)  # PTB's default read timeout is 5 s
            result = await adapter.send(
                OutboundMessage(
                    outbox_id=1,
                    message_id=1,
                    thread_id=1,
                    channel="telegram",
                    address=str(CHAT),
                    text="پاسخ کمی دیر رسید",
                    author=AuthorKind.AGENT,
                )
            )
        finally:
            await adapter.stop()
    assert result.status is DeliveryStatus.DELIVERED, result.error
    assert len(fake.sent()) == 1
