"""Group commit on SQLite: ingests waiting for the write lock commit in one transaction.

Each test holds the app's write lock while the ingests queue, so they form one group
when it is let go, and checks what a second connection to the database sees while
the group runs and when each caller is answered. On PostgreSQL writers do not queue
and nothing groups; the same messages must give the same stored rows and answers.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from config.settings import Settings
from router.context import AppContext
from router.core import outbox_worker, transaction
from router.core.events import Event, MessageStored
from router.core.messages import IngestFailed, IngestResult
from router.core.responder import Answer, MessageView, Silent, ThreadContext
from router.core.write_queue import WriteQueue
from router.storage import sqlite_driver
from router.storage.engine import new_engine
from router.storage.migrate import upgrade_to_head
from router.storage.models import Message, OutboxItem
from tests.agent_support import eventually
from tests.support import FakeAdapter, outbox_drained


@pytest.fixture
async def sqlite_settings(tmp_path: Path, settings: Settings) -> Settings:
    """Settings on SQLite in every run: grouping is SQLite's (on PostgreSQL writers do
    not queue), so what only a queue can show is tested on a SQLite file of its own
    when the run's database is PostgreSQL."""
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        return settings
    url = f"sqlite+aiosqlite:///{tmp_path / 'grouped.db'}"
    engine = new_engine(url)
    await upgrade_to_head(engine)
    await engine.dispose()
    return settings.replace("database", url=url)


class BotBug(RuntimeError):
    """What the responder raises for one message: a bug in the bot's code."""


class WatchingResponder:
    """Answers or stays silent, and notes for each message how many inbound messages a
    second connection to the database sees committed while the bot decides."""

    def __init__(self, committed: Callable[[], int | None], *, answer: bool = False) -> None:
        self._committed = committed
        self._answer = answer
        self.seen_committed: dict[str, list[int | None]] = {}

    async def respond(self, ctx: ThreadContext, new: MessageView) -> object:
        self.seen_committed.setdefault(new.text, []).append(self._committed())
        # A bot may await (a model on a worker thread): the loop runs other tasks here,
        # a caller answered too early among them.
        await asyncio.sleep(0)
        if new.text.startswith("boom"):
            raise BotBug(new.text)
        if self._answer:
            return Answer(text=f"echo: {new.text}", language="en")
        return Silent()


def committed_inbound(settings: Settings) -> Callable[[], int | None]:
    """Inbound messages committed, as a second connection sees them (SQLite: a plain
    `sqlite3` connection, read without yielding to the loop); None on PostgreSQL."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        return lambda: None

    def count() -> int:
        connection = sqlite3.connect(str(url.database))
        try:
            row = connection.execute(
                "SELECT count(*) FROM messages WHERE direction = 'in'"
            ).fetchone()
        finally:
            connection.close()
        return int(row[0])

    return count


@asynccontextmanager
async def queued(context: AppContext, expected: int) -> AsyncIterator[None]:
    """On SQLite: hold the write lock until `expected` ingests wait for it, so they
    commit as one group once the block ends. On PostgreSQL: nothing to hold."""
    queue = context.write_queue
    if queue is None:
        yield
        return
    async with context.writing():
        yield
        await until_waiting(queue, expected)


async def until_waiting(queue: WriteQueue, expected: int) -> None:
    """Until `expected` works wait in `queue` (each turn of the loop lets the ingests
    started get there)."""
    for _ in range(10_000):
        if len(queue.waiting) >= expected:
            break
        await asyncio.sleep(0)
    assert len(queue.waiting) == expected


async def acknowledged(
    push: Awaitable[IngestResult], committed: Callable[[], int | None]
) -> tuple[IngestResult | BaseException, int | None]:
    """The ingest's result (or error) and, read the moment it is handed back (no other
    task runs in between), what a second connection sees committed."""
    try:
        result: IngestResult | BaseException = await push
    except Exception as exc:
        result = exc
    return result, committed()


async def inbound_texts(context: AppContext) -> list[str]:
    async with context.read_sessions() as session:
        rows = await session.scalars(
            select(Message.text).where(Message.direction == "in").order_by(Message.id)
        )
        return list(rows)


@pytest.fixture(autouse=True)
def groups_bounded_by_size_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A loaded machine can take more than a group's time bound for a few first
    messages; these tests need the whole group they queued."""
    monkeypatch.setattr(transaction, "GROUP_SECONDS", 60.0)


async def start(
    start_app: Any, settings: Settings, *, answer: bool = False
) -> tuple[AppContext, FakeAdapter, WatchingResponder, Callable[[], int | None]]:
    adapter = FakeAdapter()
    committed = committed_inbound(settings)
    responder = WatchingResponder(committed, answer=answer)
    _, context = await start_app(settings, adapters=[adapter], responder=responder)
    return context, adapter, responder, committed


async def test_waiting_ingests_commit_together_and_each_is_answered_after_the_commit(
    settings: Settings, start_app: Any
) -> None:
    context, adapter, responder, committed = await start(start_app, settings, answer=True)
    await adapter.push("before", sender="someone-else")  # committed alone: 1 inbound
    # Its answer sent and recorded: the outbox's writes queue with ingests too.
    await outbox_drained(context, timeout=30)
    count = 8
    async with queued(context, count):
        tasks = [
            asyncio.create_task(
                acknowledged(adapter.push(f"q{i}", sender=f"visitor-{i}"), committed)
            )
            for i in range(count)
        ]
    answers = await asyncio.gather(*tasks)
    results = [result for result, _ in answers]
    assert all(isinstance(result, IngestResult) and not result.duplicate for result in results)
    assert sorted(await inbound_texts(context)) == sorted(["before"] + [f"q{i}" for i in range(8)])
    async with context.read_sessions() as session:
        answers_queued = await session.scalar(select(func.count()).select_from(OutboxItem))
    assert answers_queued == count + 1  # the bot's answer to each, queued with it
    if context.write_queue is not None:
        # One transaction: while the bot decided any of them, none of the eight was
        # visible to another connection; each caller was answered only once all were.
        assert [responder.seen_committed[f"q{i}"] for i in range(count)] == [[1]] * count
        assert [seen for _, seen in answers] == [count + 1] * count
        # Once the answers are sent and recorded (through the queue too), the writer
        # task ends: nothing waits.
        await outbox_drained(context, timeout=30)
        queue = context.write_queue

        async def writer_ended() -> bool:
            return queue.writer is None and not queue.waiting

        await eventually(writer_ended)


async def test_a_message_failing_in_a_group_fails_alone_and_the_others_are_stored(
    settings: Settings, start_app: Any
) -> None:
    context, adapter, responder, committed = await start(start_app, settings)
    texts = ["q0", "q1", "boom", "q3", "q4"]
    async with queued(context, len(texts)):
        tasks = [
            asyncio.create_task(acknowledged(adapter.push(text, sender=f"visitor-{i}"), committed))
            for i, text in enumerate(texts)
        ]
    answers = dict(zip(texts, await asyncio.gather(*tasks), strict=True))
    failed, _ = answers.pop("boom")
    assert isinstance(failed, BotBug)  # its own error, as when it runs alone
    assert all(isinstance(result, IngestResult) for result, _ in answers.values())
    assert sorted(await inbound_texts(context)) == ["q0", "q1", "q3", "q4"]
    if context.write_queue is not None:
        # The group ran up to the failing message and rolled back (none committed);
        # then each ran alone: the ones before it a second time, the rest once.
        assert responder.seen_committed["q0"][0] == 0
        assert responder.seen_committed["boom"][0] == 0
        assert len(responder.seen_committed["q0"]) == len(responder.seen_committed["q1"]) == 2
        assert len(responder.seen_committed["q3"]) == len(responder.seen_committed["q4"]) == 1
        assert len(responder.seen_committed["boom"]) == 2  # and alone, where it failed again


async def test_two_deliveries_of_one_message_in_a_group_store_it_once(
    settings: Settings, start_app: Any
) -> None:
    context, adapter, responder, committed = await start(start_app, settings, answer=True)
    pushes = [
        ("hello", "alice", "m-1"),
        ("other", "bob", "m-2"),
        ("hello", "alice", "m-1"),  # the same delivery again, in the same group
        ("hello", "carol", "m-1"),  # the same id from another sender: a message of its own
    ]
    async with queued(context, len(pushes)):
        tasks = [
            asyncio.create_task(
                acknowledged(adapter.push(text, sender=sender, external_id=key), committed)
            )
            for text, sender, key in pushes
        ]
    results = [result for result, _ in await asyncio.gather(*tasks)]
    assert all(isinstance(result, IngestResult) for result in results)
    first, bob, again, carol = results
    assert isinstance(first, IngestResult) and isinstance(again, IngestResult)
    assert isinstance(carol, IngestResult) and isinstance(bob, IngestResult)
    # One of the two is the redelivery (on PostgreSQL either may commit first).
    assert sorted([first.duplicate, again.duplicate]) == [False, True]
    assert (again.message_id, again.thread_id) == (first.message_id, first.thread_id)
    assert not carol.duplicate and carol.message_id != first.message_id
    assert sorted(await inbound_texts(context)) == ["hello", "hello", "other"]
    async with context.read_sessions() as session:
        answers_queued = await session.scalar(select(func.count()).select_from(OutboxItem))
    assert answers_queued == 3  # the bot answered the redelivery not a second time
    assert len(responder.seen_committed["hello"]) == 2
    if context.write_queue is not None:
        assert responder.seen_committed["hello"] == [0, 0]  # both in the one group


async def test_a_caller_that_stops_waiting_before_its_group_runs_is_left_out(
    sqlite_settings: Settings, start_app: Any
) -> None:
    """Cancelled while it waits (a web chat socket closed), its work never runs; the
    others' group commits without it."""
    context, adapter, responder, _ = await start(start_app, sqlite_settings)
    assert context.write_queue is not None
    async with queued(context, 3):
        tasks = [
            asyncio.create_task(adapter.push(text, sender=f"visitor-{i}"))
            for i, text in enumerate(["q0", "gone", "q2"])
        ]
        await until_waiting(context.write_queue, 3)
        tasks[1].cancel()
    done = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert sorted(await inbound_texts(context)) == ["q0", "q2"]
    assert "gone" not in responder.seen_committed


async def committed_while_each_decided(
    start_app: Any, settings: Settings, count: int
) -> list[list[int | None]]:
    """`count` ingests queued at once (SQLite only): for each, in the order they came,
    how many inbound messages were committed while the bot decided it."""
    context, adapter, responder, _ = await start(start_app, settings)
    assert context.write_queue is not None
    async with queued(context, count):
        tasks = [
            asyncio.create_task(adapter.push(f"q{i}", sender=f"visitor-{i}")) for i in range(count)
        ]
    await asyncio.gather(*tasks)
    return [responder.seen_committed[f"q{i}"] for i in range(count)]


async def test_a_group_takes_no_more_works_once_it_has_run_its_time(
    sqlite_settings: Settings, start_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no time for a group, each work waiting commits in a transaction of its own,
    in the order they came: the bound that keeps a first caller from waiting long."""
    monkeypatch.setattr(transaction, "GROUP_SECONDS", 0.0)
    seen = await committed_while_each_decided(start_app, sqlite_settings, 4)
    assert seen == [[0], [1], [2], [3]]


async def test_at_most_a_group_size_of_works_commit_together(
    sqlite_settings: Settings, start_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transaction, "GROUP_SIZE", 3)
    seen = await committed_while_each_decided(start_app, sqlite_settings, 7)
    assert seen == [[0], [0], [0], [3], [3], [3], [6]]


async def test_a_group_whose_begin_fails_hands_each_caller_the_failure(
    sqlite_settings: Settings, start_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process holds SQLite's write lock past the busy timeout: the group's
    BEGIN fails before any work ran. Every caller queued behind it meets "database
    unavailable" on its own (a channel's "try again later"), none waits for ever, and
    nothing of theirs is stored. Each waits for the lock once, not again alone."""
    settings = sqlite_settings.replace("database", statement_timeout=0.3)
    context, adapter, responder, _ = await start(start_app, settings)
    assert context.write_queue is not None
    # The driver's write BEGINs counted (each runs as before).
    write_begins = 0
    begin = sqlite_driver.LoopSqliteConnection.begin

    async def counted_begin(
        connection: sqlite_driver.LoopSqliteConnection, *args: Any, writing: bool
    ) -> None:
        nonlocal write_begins
        write_begins += writing
        await begin(connection, *args, writing=writing)

    monkeypatch.setattr(sqlite_driver.LoopSqliteConnection, "begin", counted_begin)
    other = sqlite3.connect(
        str(make_url(settings.database_url).database), timeout=5, check_same_thread=False
    )
    try:
        # On a thread: a writer of the app's may hold the lock now, committing on the loop.
        await asyncio.to_thread(other.execute, "BEGIN IMMEDIATE")
        async with asyncio.timeout(30), queued(context, 3):
            tasks = [
                asyncio.create_task(adapter.push(f"q{i}", sender=f"visitor-{i}")) for i in range(3)
            ]
        async with asyncio.timeout(30):
            done = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        other.rollback()
        other.close()
    assert all(isinstance(outcome, IngestFailed) for outcome in done), done
    assert all("database unavailable" in str(outcome) for outcome in done)
    # One wait for the lock each (run again alone, they would be six), and the app's
    # own background writers' (the SLA pass meets the lock too).
    assert 3 <= write_begins < 6
    assert responder.seen_committed == {}
    await adapter.push("after", sender="visitor-0")
    assert await inbound_texts(context) == ["after"]


async def test_a_groups_events_reach_subscribers_after_each_caller_took_its_result(
    sqlite_settings: Settings, start_app: Any
) -> None:
    """As after a write of its own, a caller takes its first step with its result before
    anything handles the events of its commit: a new web chat visitor's socket learns
    its customer in that step, and the bot's answer published before it would find no
    socket to push to and wait for the outbox."""
    context, adapter, _, _ = await start(start_app, sqlite_settings, answer=True)
    handled: list[Event] = []

    async def handle(events: asyncio.Queue[Event]) -> None:
        while True:
            handled.append(await events.get())

    async with context.events.subscription() as events:
        handler = asyncio.create_task(handle(events))

        async def ingest(n: int) -> int:
            await adapter.push(f"q{n}", sender=f"visitor-{n}")
            return len(handled)  # no await since the result came back

        count = 6
        async with queued(context, count):
            tasks = [asyncio.create_task(ingest(n)) for n in range(count)]
        handled_when_answered = await asyncio.gather(*tasks)
        stored = [e for e in await _drained(handled, count) if isinstance(e, MessageStored)]
        handler.cancel()
    assert handled_when_answered == [0] * count
    assert len(stored) >= 2 * count  # each question and its answer, once the callers ran


async def _drained(handled: list[Event], count: int) -> list[Event]:
    for _ in range(10_000):
        if sum(isinstance(e, MessageStored) for e in handled) >= 2 * count:
            break
        await asyncio.sleep(0)
    return handled


async def test_the_outboxs_writes_queue_with_the_ingests(
    sqlite_settings: Settings, start_app: Any
) -> None:
    """The outbox worker's record of outcomes (and its claim, the same way) waits in the
    queue with the ingests and commits in their group, not in a write transaction of
    its own between two groups."""
    context, adapter, _, _ = await start(start_app, sqlite_settings)
    queue = context.write_queue
    assert queue is not None
    async with queued(context, 2):
        push = asyncio.create_task(adapter.push("hello", sender="visitor"))
        record = asyncio.create_task(outbox_worker.record_results(context, []))
    await asyncio.gather(push, record)
