"""A recipient's outbound messages arrive in the order they were written, retries or not.

The outbox hands a channel only the oldest pending row of each recipient, so a later
reply waits while an earlier one is retried; other recipients go on meanwhile.
Real peers: an aiosmtpd relay that defers with 451, the fake Bot API answering 500 and
429 with `retry_after`.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import Settings
from router.context import AppContext
from router.core.ingest import ingest
from router.core.messages import AuthorKind, DeliveryResult, InboundMessage, OutboundMessage
from router.core.outbound_messages import enqueue_outbound
from router.core.responder import MessageView, Silent, ThreadContext
from router.storage.models import Identity, OutboxItem, OutboxStatus, Thread
from tests.email_support import DeferringRelay, FakeRelay, RelayedMail, with_email
from tests.fake_telegram import FAKE_TOKEN, FakeTelegram
from tests.support import FakeAdapter

REPLY = re.compile(r"\br(\d+)-")


class SayNothing:
    """Stores the customer's message and answers nothing: the test writes the replies."""

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Silent:
        return Silent("test")


async def open_thread(context: AppContext, channel: str, address: str) -> None:
    await ingest(
        context,
        InboundMessage(
            channel=channel, external_id=uuid.uuid4().hex, sender_address=address, text="سلام"
        ),
    )


async def write_replies(
    context: AppContext, channel: str, addresses: list[str], count: int
) -> None:
    """Agent replies r1..r<count> to each address, interleaved, one transaction each."""
    for number in range(1, count + 1):
        for address in addresses:
            async with context.sessions() as session, session.begin():
                identity = await session.scalar(
                    select(Identity).where(Identity.channel == channel, Identity.address == address)
                )
                assert identity is not None
                thread = await session.scalar(
                    select(Thread).where(Thread.customer_id == identity.customer_id)
                )
                assert thread is not None
                await enqueue_outbound(
                    session,
                    thread=thread,
                    identity=identity,
                    text=f"r{number}- پاسخ شماره {number}",
                    author=AuthorKind.AGENT,
                    author_name="رضا",
                )


def numbers(texts: list[str]) -> list[int]:
    found = [REPLY.search(text) for text in texts]
    return [int(match.group(1)) for match in found if match is not None]


async def all_recorded(context: AppContext, seconds: float = 10.0) -> None:
    """Wait until no outbox row is pending (the last outcomes are committed)."""
    async with asyncio.timeout(seconds):
        while True:
            async with context.sessions() as session:
                pending = await session.scalar(
                    select(OutboxItem.id).where(OutboxItem.status == OutboxStatus.PENDING)
                )
            if pending is None:
                return
            await asyncio.sleep(0.02)


# ---- email -----------------------------------------------------------------------------


@pytest.fixture
async def relay() -> AsyncIterator[DeferringRelay]:
    relay = DeferringRelay()
    await relay.start()
    yield relay
    await relay.stop()


async def start_email(settings: Settings, relay: FakeRelay, start_app: Any) -> AppContext:
    settings = with_email(settings, relay)
    settings = settings.replace(
        "outbox", backoff_base=0.05, backoff_max=0.3, max_attempts=10_000, batch_size=20
    )
    _, context = await start_app(settings, responder=SayNothing())
    return context


def mails_to(relay: FakeRelay, address: str) -> list[RelayedMail]:
    return [mail for mail in relay.received if address in mail.rcpt_tos]


def body(mail: RelayedMail) -> str:
    part = mail.message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


async def test_relay_deferring_then_accepting_keeps_each_customers_mails_in_order(
    settings: Settings, relay: DeferringRelay, start_app: Any
) -> None:
    context = await start_email(settings, relay, start_app)
    customers = [f"customer{n}@example.ir" for n in range(3)]
    for address in customers:
        await open_thread(context, "email", address)
    await write_replies(context, "email", customers, 7)

    await relay.wait_deferred(40)  # every reply was refused at least once, some often
    relay.deferring = False
    await relay.wait_for(21, seconds=60)

    for address in customers:
        assert numbers([body(mail) for mail in mails_to(relay, address)]) == list(range(1, 8))
    await all_recorded(context)


async def test_one_customers_deferred_mail_does_not_hold_up_the_others(
    settings: Settings, relay: DeferringRelay, start_app: Any
) -> None:
    context = await start_email(settings, relay, start_app)
    stuck, others = "stuck@example.ir", ["ok1@example.ir", "ok2@example.ir"]
    relay.deferring = False
    relay.defer_only = {stuck}
    for address in [stuck, *others]:
        await open_thread(context, "email", address)
    await write_replies(context, "email", [stuck, *others], 3)

    await relay.wait_for(6, seconds=30)  # the others' three each, while `stuck` is refused
    assert relay.deferred >= 1 and mails_to(relay, stuck) == []
    for address in others:
        assert numbers([body(mail) for mail in mails_to(relay, address)]) == [1, 2, 3]

    relay.defer_only = set()
    await relay.wait_for(9, seconds=30)
    assert numbers([body(mail) for mail in mails_to(relay, stuck)]) == [1, 2, 3]


# ---- Telegram --------------------------------------------------------------------------


async def test_bot_api_500_and_429_keep_each_chats_replies_in_order(
    settings: Settings, start_app: Any
) -> None:
    chats = [8_800_000 + n for n in range(10)]
    async with FakeTelegram() as fake:
        settings = settings.replace(
            "telegram",
            token=FAKE_TOKEN,
            api_url=fake.api_url,
            poll_timeout=1,
            chat_interval=0.0,
            max_retry_wait=0.2,  # a 429's retry_after goes back to the outbox
            leader_retry_interval=0.2,
        )
        settings = settings.replace(
            "outbox", backoff_base=0.05, backoff_max=0.3, max_attempts=10_000
        )
        polls = fake.polls_started
        _, context = await start_app(settings, responder=SayNothing())
        await fake.wait_for(lambda: fake.polls_started > polls)
        for chat in chats:
            await open_thread(context, "telegram", str(chat))

        fake.fail("sendMessage", status=500, times=25)
        fake.fail("sendMessage", status=429, retry_after=1, times=6)
        fake.fail("sendMessage", status=500, times=10)
        await write_replies(context, "telegram", [str(chat) for chat in chats], 5)

        await fake.wait_for(lambda: len(fake.sent()) >= 50, within=60)
        failed = [call for call in fake.calls_to("sendMessage") if call.status != 200]
        assert len(failed) == 41
        for chat in chats:
            texts = [call.params["text"] for call in fake.sent() if call.chat_id == chat]
            assert numbers(texts) == [1, 2, 3, 4, 5], chat
        await all_recorded(context)


# ---- any channel -----------------------------------------------------------------------


class RefusesOne(FakeAdapter):
    """Retries everything for one address until `refusing` is cleared."""

    refusing: str = "stuck"

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if message.address == self.refusing:
            return DeliveryResult.retry("recipient's server busy", retry_after=0.05)
        return await super().send(message)


async def test_a_later_row_waits_for_an_earlier_retrying_one_of_its_recipient_only(
    settings: Settings, start_app: Any
) -> None:
    adapter = RefusesOne()
    _, context = await start_app(settings, adapters=[adapter], responder=SayNothing())
    for address in ("stuck", "fine"):
        await adapter.push("hi", sender=address)
    await write_replies(context, "fake", ["stuck", "fine"], 4)
    sent = await adapter.wait_sent(4)
    assert [m.address for m in sent] == ["fine"] * 4
    assert numbers([m.text for m in sent]) == [1, 2, 3, 4]

    adapter.refusing = ""
    sent = await adapter.wait_sent(8)
    assert numbers([m.text for m in sent if m.address == "stuck"]) == [1, 2, 3, 4]


class SharedLine(FakeAdapter):
    """One of several workers' adapters: notes sends in flight per recipient, shared."""

    in_flight: set[str]
    overlaps: list[str]
    log: list[OutboundMessage]

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if message.address in self.in_flight:
            self.overlaps.append(message.address)
        self.in_flight.add(message.address)
        try:
            await asyncio.sleep(0.005 * (message.outbox_id % 3))  # uneven send times
            if message.outbox_id % 4 == 0 and message.parts_done == 0:
                return DeliveryResult.retry("busy", retry_after=0.05, parts_done=1)
            self.log.append(message)
            return await super().send(message)
        finally:
            self.in_flight.discard(message.address)


async def test_several_workers_keep_each_recipients_order_and_send_one_row_at_a_time(
    settings: Settings, start_app: Any
) -> None:
    in_flight: set[str] = set()
    overlaps: list[str] = []
    log: list[OutboundMessage] = []
    adapters = [SharedLine() for _ in range(3)]
    for adapter in adapters:
        adapter.in_flight, adapter.overlaps, adapter.log = in_flight, overlaps, log
    contexts = [
        (await start_app(settings, adapters=[adapter], responder=SayNothing()))[1]
        for adapter in adapters
    ]
    recipients = [f"c{n}" for n in range(6)]
    for address in recipients:
        await adapters[0].push("hi", sender=address)
    await write_replies(contexts[0], "fake", recipients, 6)

    async with asyncio.timeout(30):
        while len(log) < 36:
            await asyncio.sleep(0.02)
    assert overlaps == []
    assert sum(1 for adapter in adapters if adapter.sent) >= 2  # the work was shared
    for address in recipients:
        assert numbers([m.text for m in log if m.address == address]) == list(range(1, 7))
    await all_recorded(contexts[0])
