"""A real `pasokh serve` polling the fake Bot API, killed with SIGKILL mid-stream.

Telegram keeps every update it has not been told to forget, so after a restart the
poller gets back whatever was not acknowledged; the router's dedupe drops what had
been stored but not yet acknowledged. The database must end up with every update
exactly once.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from router.storage.engine import new_engine, new_sessionmaker
from router.storage.models import Message
from tests.fake_telegram import FAKE_TOKEN, FakeTelegram
from tests.processes import ServeProcess
from tests.support import free_port

pytestmark = pytest.mark.slow

TOTAL = 300
CHATS = 12
BURST = 25


async def test_sigkill_while_polling_loses_and_doubles_no_update(
    tmp_path: Path, database_url: str
) -> None:
    engine = new_engine(database_url)
    sessions = new_sessionmaker(engine)

    async def stored_keys() -> list[str | None]:
        async with sessions() as session:
            query = select(Message.external_id).where(
                Message.channel == "telegram", Message.direction == "in"
            )
            return list(await session.scalars(query))

    try:
        async with FakeTelegram() as fake:
            env = {
                "PASOKH_DATABASE__URL": database_url,
                "PASOKH_SERVER__SECRET_KEY": "k" * 40,
                "PASOKH_TELEGRAM__TOKEN": FAKE_TOKEN,
                "PASOKH_TELEGRAM__API_URL": fake.api_url,
                "PASOKH_TELEGRAM__POLL_TIMEOUT": "1",
                "PASOKH_TELEGRAM__CHAT_INTERVAL": "0",
                "PASOKH_EMAIL__ENABLED": "false",
                "PASOKH_WEBCHAT__ENABLED": "false",
            }
            server = ServeProcess(tmp_path / "data", free_port(), env)
            await server.start()
            first_update_id = fake.next_update_id
            # A slow network between polls: the next getUpdates, which acknowledges what
            # the last one brought, reaches Telegram 0.2 s late, so the kill below can land
            # while stored updates are still unacknowledged however fast the server stores.
            fake.arrive_late("getUpdates", 0.2, times=10_000)
            key_of: dict[int, str] = {}  # update_id -> the message's dedupe key

            async def feed() -> None:
                # Bursts, so that one getUpdates brings many updates and the kill can land
                # after some of them were stored but before the next poll acknowledged them.
                for n in range(TOTAL):
                    chat = 9_000_000 + n % CHATS
                    update = fake.message(chat, f"پیام شماره {n}")
                    update_id = fake.add_update({"message": update})
                    key_of[update_id] = f"tg:msg:{chat}:{update['message_id']}"
                    if n % BURST == BURST - 1:
                        await asyncio.sleep(0.1)

            async def kill_mid_batch() -> int:
                """SIGKILL once the database is ahead of the acknowledged offset."""
                at_least = random.randint(30, 120)
                async with asyncio.timeout(60):
                    while True:
                        stored = len(await stored_keys())
                        acknowledged = fake.confirmed_below - first_update_id
                        if stored >= at_least and stored > acknowledged:
                            server.kill()
                            return fake.confirmed_below
                        await asyncio.sleep(0.005)

            try:
                _, acknowledged_at_kill = await asyncio.gather(feed(), kill_mid_batch())
                last_update_id = max(key_of)
                assert acknowledged_at_kill <= last_update_id, "the kill must land mid-stream"
                # Everything Telegram was told to forget is durable.
                stored_at_kill = set(await stored_keys())
                acknowledged = {key for uid, key in key_of.items() if uid < acknowledged_at_kill}
                assert acknowledged <= stored_at_kill

                await server.start()
                await fake.wait_acknowledged(last_update_id, within=90)
            finally:
                server.terminate()

        stored = await stored_keys()
    finally:
        await engine.dispose()
    counts = Counter(stored)
    assert [key for key, seen in counts.items() if seen > 1] == []  # none doubled
    assert set(counts) == set(key_of.values())  # none lost
    assert len(stored) == TOTAL
    # Some were stored but not acknowledged when the process died: redelivered, deduplicated.
    assert len(stored_at_kill) > len(acknowledged)
