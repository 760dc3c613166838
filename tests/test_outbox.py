"""Outbox delivery: retries with backoff, exactly-once on success, restart pick-up."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import Connection

from config.settings import Settings
from router.core.messages import DeliveryResult, OutboundMessage
from router.core.outbox_worker import backoff_delay
from router.core.responder import Answer, MessageView, QueueEveryThread, ThreadContext
from router.storage.models import (
    DeliveryAttempt,
    Identity,
    Message,
    OutboxItem,
    OutboxStatus,
    Thread,
)
from tests.conftest import AppFactory
from tests.support import FakeAdapter, later_passes


class AnswerAll:
    async def respond(self, ctx: ThreadContext, new: MessageView) -> Answer:
        return Answer(text=f"re: {new.text}")


async def _outbox_rows(context) -> list[OutboxItem]:  # type: ignore[no-untyped-def]
    async with context.sessions() as session:
        return list(await session.scalars(select(OutboxItem).order_by(OutboxItem.id)))


async def _attempts(context, outbox_id: int) -> list[DeliveryAttempt]:  # type: ignore[no-untyped-def]
    async with context.sessions() as session:
        return list(
            await session.scalars(
                select(DeliveryAttempt).where(DeliveryAttempt.outbox_id == outbox_id)
            )
        )


async def _wait_recorded(context, timeout: float = 10) -> list[OutboxItem]:  # type: ignore[no-untyped-def]
    """Wait until every row's last outcome is committed (none pending any more)."""
    async with asyncio.timeout(timeout):
        while True:
            rows = await _outbox_rows(context)
            if all(r.status != OutboxStatus.PENDING for r in rows):
                return rows
            await asyncio.sleep(0.02)


async def _wait_status(context, status: str, timeout: float = 10) -> OutboxItem:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while True:
            rows = await _outbox_rows(context)
            if rows and rows[0].status == status:
                return rows[0]
            await asyncio.sleep(0.02)


async def test_fails_twice_then_delivered_once_with_three_attempts(
    settings: Settings, start_app
) -> None:
    adapter = FakeAdapter(
        fail_next=[DeliveryResult.retry("relay busy"), DeliveryResult.retry("relay busy again")]
    )
    _, context = await start_app(settings, adapters=[adapter], responder=AnswerAll())
    await adapter.push("hello")
    row = await _wait_status(context, OutboxStatus.DELIVERED)
    assert [m.text for m in adapter.sent] == ["re: hello"]
    assert row.attempts == 3 and row.external_id == f"fake-{row.id}"
    outcomes = [a.outcome for a in await _attempts(context, row.id)]
    assert outcomes == ["retry", "retry", "delivered"]
    await later_passes(context)  # more worker passes: still sent exactly once
    assert len(adapter.sent) == 1


async def test_permanent_failure_dead_letters_and_marks_identity(
    settings: Settings, start_app
) -> None:
    adapter = FakeAdapter(
        fail_next=[DeliveryResult.failed("user blocked the bot", identity_unreachable=True)]
    )
    _, context = await start_app(settings, adapters=[adapter], responder=AnswerAll())
    await adapter.push("hello", sender="blocked-user")
    row = await _wait_status(context, OutboxStatus.DEAD)
    assert row.attempts == 1 and row.last_error == "user blocked the bot"
    async with context.sessions() as session:
        identity = await session.scalar(select(Identity).where(Identity.address == "blocked-user"))
    assert identity is not None and identity.unreachable_reason == "user blocked the bot"
    assert adapter.sent == []


async def test_gives_up_after_max_attempts(settings: Settings, start_app) -> None:
    adapter = FakeAdapter(fail_next=[DeliveryResult.retry("down")] * 10)
    _, context = await start_app(
        settings.replace("outbox", max_attempts=3), adapters=[adapter], responder=AnswerAll()
    )
    await adapter.push("hello")
    row = await _wait_status(context, OutboxStatus.DEAD)
    assert row.attempts == 3 and row.last_error == "down"


async def test_dead_letter_is_a_warning_and_counted_dead(
    settings: Settings, start_app, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="router.core.outbox_worker")
    adapter = FakeAdapter(fail_next=[DeliveryResult.retry("relay down")] * 2)
    _, context = await start_app(
        settings.replace("outbox", max_attempts=2), adapters=[adapter], responder=AnswerAll()
    )
    await adapter.push("hello")
    row = await _wait_status(context, OutboxStatus.DEAD)

    def counted(outcome: str) -> float | None:
        labels = {"channel": "fake", "outcome": outcome}
        return context.metrics.registry.get_sample_value("pasokh_deliveries_total", labels)

    async with asyncio.timeout(10):
        while counted("dead") is None:  # counted just after the commit
            await asyncio.sleep(0.02)
    assert (counted("retry"), counted("dead")) == (1.0, 1.0)
    lines = [r for r in caplog.records if f"outbox={row.id} " in r.getMessage()]
    assert [r.levelno for r in lines] == [logging.INFO, logging.WARNING]
    assert "outcome=dead attempt=2 error=relay down" in lines[-1].getMessage()
    outcomes = [a.outcome for a in await _attempts(context, row.id)]
    assert sorted(outcomes) == ["retry", "retry"]  # the adapter's word on each attempt


async def test_adapter_exception_is_retried_not_lost(settings: Settings, start_app) -> None:
    class Exploding(FakeAdapter):
        calls = 0

        async def send(self, message):  # type: ignore[no-untyped-def]
            Exploding.calls += 1
            if Exploding.calls == 1:
                raise ConnectionResetError("socket closed")
            return await super().send(message)

    adapter = Exploding()
    _, context = await start_app(settings, adapters=[adapter], responder=AnswerAll())
    await adapter.push("hello")
    row = await _wait_status(context, OutboxStatus.DELIVERED)
    assert row.attempts == 2 and len(adapter.sent) == 1


async def test_pending_rows_delivered_after_restart(settings: Settings, start_app) -> None:
    down = FakeAdapter(fail_next=[DeliveryResult.retry("down")] * 1000)
    client, context = await start_app(
        settings.replace("outbox", backoff_base=0.01, backoff_max=0.01, max_attempts=100_000),
        adapters=[down],
        responder=AnswerAll(),
    )
    for i in range(5):
        await down.push(f"message {i}", sender=f"customer-{i}")
    async with asyncio.timeout(10):  # every reply tried and failed more than once
        while len(rows := await _outbox_rows(context)) < 5 or min(r.attempts for r in rows) < 2:
            await asyncio.sleep(0.02)
    assert down.sent == []
    await client.close()  # the process goes away with five undelivered replies

    up = FakeAdapter()
    _, context = await start_app(settings, adapters=[up], responder=AnswerAll())
    sent = await up.wait_sent(5)
    assert sorted(m.text for m in sent) == [f"re: message {i}" for i in range(5)]
    rows = await _wait_recorded(context)
    assert all(r.status == OutboxStatus.DELIVERED for r in rows)
    await later_passes(context)  # more worker passes: still sent exactly once
    assert len(up.sent) == 5


async def test_one_recipient_gets_messages_in_order(settings: Settings, start_app) -> None:
    class Slow(FakeAdapter):
        async def send(self, message):  # type: ignore[no-untyped-def]
            await asyncio.sleep(0.01 if message.text.endswith("0") else 0)
            return await super().send(message)

    adapter = Slow()
    _, _context = await start_app(settings, adapters=[adapter], responder=AnswerAll())
    for i in range(5):
        await adapter.push(f"m{i}0" if i % 2 == 0 else f"m{i}", sender="same")
    sent = await adapter.wait_sent(5)
    assert [m.message_id for m in sent] == sorted(m.message_id for m in sent)


def test_backoff_grows_and_is_capped() -> None:
    delays = [backoff_delay(n, base=1.0, cap=30.0) for n in range(1, 9)]
    assert 0.5 <= delays[0] <= 1.0
    assert 4.0 <= delays[3] <= 8.0
    assert all(d <= 30.0 for d in delays)
    assert delays[-1] >= 15.0


async def test_two_workers_never_send_one_message_twice(settings: Settings, start_app) -> None:
    """Two app processes' worth of outbox workers on one database share the work."""
    first = FakeAdapter()
    second = FakeAdapter()
    _, context = await start_app(settings, adapters=[first], responder=AnswerAll())
    _, second_context = await start_app(settings, adapters=[second], responder=AnswerAll())
    await asyncio.gather(*(first.push(f"q{i}", sender=f"c{i}") for i in range(40)))
    async with asyncio.timeout(20):
        while len(first.sent) + len(second.sent) < 40:
            await asyncio.sleep(0.05)
    rows = await _wait_recorded(context)
    # more passes of both workers: nothing sent again
    await asyncio.gather(later_passes(context), later_passes(second_context))
    ids = [m.outbox_id for m in first.sent + second.sent]
    assert len(ids) == 40 and len(set(ids)) == 40
    assert all(r.status == OutboxStatus.DELIVERED and r.attempts == 1 for r in rows)


async def test_unreachable_identity_is_not_tried_until_it_writes_again(
    settings: Settings, start_app
) -> None:
    adapter = FakeAdapter(
        fail_next=[DeliveryResult.failed("blocked the bot", identity_unreachable=True)]
    )
    _, context = await start_app(settings, adapters=[adapter], responder=AnswerAll())
    await adapter.push("first", sender="u1")
    await _wait_status(context, OutboxStatus.DEAD)
    # an agent's later message to the same identity is dead-lettered without a send
    async with context.sessions() as session, session.begin():
        first = (await _outbox_rows(context))[0]
        thread = await session.get(Thread, first.thread_id)
        assert thread is not None
        # Its own message: a message is queued to a channel once (uq_outbox_message_channel).
        later = Message(
            thread_id=thread.id,
            customer_id=thread.customer_id,
            direction="out",
            author_kind="agent",
            channel="fake",
            identity_id=first.identity_id,
            text="an agent's later message",
        )
        session.add(later)
        await session.flush()
        session.add(
            OutboxItem(
                message_id=later.id,
                thread_id=first.thread_id,
                identity_id=first.identity_id,
                channel="fake",
                address="u1",
            )
        )
    async with asyncio.timeout(10):
        while any(r.status == OutboxStatus.PENDING for r in await _outbox_rows(context)):
            await asyncio.sleep(0.02)
    rows = await _outbox_rows(context)
    assert rows[1].status == OutboxStatus.DEAD and "unreachable" in (rows[1].last_error or "")
    assert rows[1].attempts == 0 and adapter.sent == []
    # writing again proves the identity works: the answer goes out
    await adapter.push("I unblocked you", sender="u1")
    sent = await adapter.wait_sent(1)
    assert sent[0].text == "re: I unblocked you"


async def test_split_message_progress_survives_in_the_outbox(settings: Settings, start_app) -> None:
    adapter = FakeAdapter(fail_next=[DeliveryResult.retry("flood", parts_done=2)])
    await start_app(settings, adapters=[adapter], responder=AnswerAll())
    await adapter.push("long one")
    sent = await adapter.wait_sent(1)
    assert sent[0].parts_done == 2  # the retry knows two parts were already out


class HeldFirstSend(FakeAdapter):
    """Holds its first send until `release` is set, so what is queued meanwhile is
    claimed by the worker's next pass as one batch."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = asyncio.Event()
        self.release = asyncio.Event()

    async def send(self, message: OutboundMessage) -> DeliveryResult:
        if not self.holding.is_set():
            self.holding.set()
            await self.release.wait()
        return await super().send(message)


async def test_a_batch_of_deliveries_is_recorded_in_few_transactions(
    settings: Settings, start_app
) -> None:
    """Outcomes that finish while another is being written share its next transaction:
    a batch of N sends costs a couple of record transactions, not N."""
    adapter = HeldFirstSend()
    _, context = await start_app(settings, adapters=[adapter], responder=AnswerAll())
    await adapter.push("first", sender="c-first")
    await asyncio.wait_for(adapter.holding.wait(), 10)
    batch = 9
    await asyncio.gather(*(adapter.push(f"q{i}", sender=f"c{i}") for i in range(batch)))

    records: list[int] = []  # per record transaction: the outcomes it wrote
    running: dict[int, int] = {}

    def statement(
        conn: Connection, _c: Any, sql: str, parameters: Any, _x: Any, executemany: bool
    ) -> None:
        if sql.startswith("UPDATE delivery_attempts SET outcome"):
            outcomes = len(parameters) if executemany else 1
            running[id(conn)] = running.get(id(conn), 0) + outcomes

    def committed(conn: Connection) -> None:
        if id(conn) in running:
            records.append(running.pop(id(conn)))

    engine = context.engine.sync_engine
    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", committed)
    try:
        adapter.release.set()
        rows = await _wait_recorded(context, timeout=30)
    finally:
        event.remove(engine, "before_cursor_execute", statement)
        event.remove(engine, "commit", committed)
    assert len(rows) == batch + 1
    assert all(r.status == OutboxStatus.DELIVERED and r.attempts == 1 for r in rows)
    assert sum(records) == batch + 1
    # The held one alone; the batch's first outcome at once, the rest together after it.
    assert len(records) <= 3, records


async def test_a_worker_stopped_during_a_pass_stops_at_once(
    settings: Settings, start_app: AppFactory
) -> None:
    """`stop` wakes the worker; a pass in progress used to drop that wake-up and wait out
    the poll interval (shutdown, and every app closed soon after starting)."""
    slow_poll = settings.replace("outbox", poll_interval=30.0)
    for _ in range(3):
        client, _ = await start_app(
            slow_poll, adapters=[FakeAdapter(name="web")], responder=QueueEveryThread()
        )
        started = time.monotonic()
        await client.close()  # the worker's first pass is still running
        assert time.monotonic() - started < 10.0
