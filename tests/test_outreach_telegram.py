"""Outreach on Telegram through the real adapter and the fake Bot API: a reminder with
its two suggested replies as buttons, a tap that lands in the reminder's thread, and a
user who blocked the bot (403) whose reminder ends `skipped: unreachable`."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from config.settings import Settings
from router.core.responder import QueueEveryThread
from router.storage.models import Identity, Message
from tests.agent_support import api, make_agent
from tests.conftest import AppFactory
from tests.fake_telegram import FakeTelegram
from tests.outreach_support import put_warranty_template
from tests.support import make_settings
from tests.telegram_support import replies_to, telegram_values

SARA, ALI = 7770101, 7770102


async def customer_of(context: Any, chat: int) -> int:
    async with asyncio.timeout(10):
        while True:
            async with context.read_sessions() as session:
                found = await session.scalar(
                    select(Identity.customer_id).where(
                        Identity.channel == "telegram", Identity.address == str(chat)
                    )
                )
            if found is not None:
                return int(found)
            await asyncio.sleep(0.02)


def reminder(customer_id: int, key: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "template": "warranty_reminder",
        "params": {"product": "Galaxy", "expires_on": "2027-03-21"},
        "language": "fa",
        "channel": "telegram",
        "idempotency_key": key,
    }


async def until_status(client: Any, admin: Any, row_id: int, wanted: str) -> dict[str, Any]:
    async with asyncio.timeout(15):
        while True:
            _, body = await api(client, "GET", f"/api/v1/outbound/messages/{row_id}", admin)
            if body["status"] == wanted:
                return dict(body)
            await asyncio.sleep(0.05)


async def test_a_telegram_reminder_with_buttons_a_tap_in_its_thread_and_a_blocked_user(
    settings: Settings, fake: FakeTelegram, start_app: AppFactory
) -> None:
    polls = fake.polls_started
    client, context = await start_app(
        make_settings(
            settings.data_dir,
            settings.database_url,
            telegram=telegram_values(fake),
            outreach={"quiet_hours": "", "scheduler_interval_seconds": 0.05},
        ),
        responder=QueueEveryThread(),
    )
    await fake.wait_for(lambda: fake.polls_started > polls)
    admin = await make_agent(context, "Boss", is_admin=True)
    await put_warranty_template(client, admin)
    sara = fake.user(SARA, first_name="سارا", language_code="fa")
    fake.add_message(SARA, "سلام", user=sara)
    fake.add_message(ALI, "سلام", user=fake.user(ALI, first_name="علی", language_code="fa"))

    _, row = await api(
        client,
        "POST",
        "/api/v1/outbound/messages",
        admin,
        json=reminder(await customer_of(context, SARA), "sara"),
    )
    await fake.wait_for(
        lambda: any("reply_markup" in call.params for call in replies_to(fake, SARA))
    )
    [sent] = [call for call in replies_to(fake, SARA) if "reply_markup" in call.params]
    assert "گارانتی Galaxy" in sent.params["text"] and "۱۴۰۶" in sent.params["text"]
    buttons = [r[0] for r in sent.params["reply_markup"]["inline_keyboard"]]
    assert [b["text"] for b in buttons] == ["تمدید گارانتی", "سؤال دارم"]
    delivered = await until_status(client, admin, row["id"], "delivered")

    fake.add_callback(SARA, buttons[0]["callback_data"], on_message=sent.result, user=sara)
    async with asyncio.timeout(10):
        while True:
            async with context.read_sessions() as session:
                tapped = await session.scalar(
                    select(Message.thread_id).where(
                        Message.direction == "in", Message.text == "تمدید گارانتی"
                    )
                )
            if tapped is not None:
                break
            await asyncio.sleep(0.02)
    assert tapped == delivered["thread_id"]

    fake.block(ALI)
    _, blocked = await api(
        client,
        "POST",
        "/api/v1/outbound/messages",
        admin,
        json=reminder(await customer_of(context, ALI), "ali"),
    )
    skipped = await until_status(client, admin, blocked["id"], "skipped")
    assert skipped["reason"] == "unreachable"
    # and the next one is not even tried
    _, next_one = await api(
        client,
        "POST",
        "/api/v1/outbound/messages",
        admin,
        json=reminder(await customer_of(context, ALI), "ali-2"),
    )
    again = await until_status(client, admin, next_one["id"], "skipped")
    assert again["reason"] == "unreachable" and again["message_id"] is None
