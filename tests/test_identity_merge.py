"""Merging two customers: one open thread, history kept, assignment from the more
advanced thread, admin-only by hand, audited."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from config.settings import Settings
from router.agents import queue
from router.core.messages import InboundMessage, IngestResult, ThreadHint, utcnow
from router.core.responder import QueueEveryThread
from router.identity.links import may_ask_for_email
from router.identity.merge import MergeRefused, merge_customers
from router.storage.models import (
    AuditEvent,
    Customer,
    CustomerNote,
    CustomerTag,
    Identity,
    Message,
    OutreachOptOut,
    Thread,
    ThreadEvent,
    ThreadStatus,
)
from tests.agent_support import api, make_agent
from tests.report_support import MONDAY_9AM, install_clock
from tests.support import FakeAdapter


async def _start(settings: Settings, start_app: Any, *adapters: FakeAdapter) -> Any:
    """The app with only `adapters` as its channels, every thread queued for people."""
    return await start_app(
        settings.replace("email", enabled=False).replace("webchat", enabled=False),
        adapters=list(adapters),
        responder=QueueEveryThread(),
    )


async def test_admin_merge_joins_open_threads_and_keeps_history(
    settings: Settings, start_app: Any
) -> None:
    web, mail = FakeAdapter(name="web"), FakeAdapter(name="mail")
    client, context = await _start(settings, start_app, web, mail)
    admin = await make_agent(context, "Boss", is_admin=True)
    agent = await make_agent(context, "Sara", tier=2)

    old = await web.push("an old question", sender="visitor-1", sender_name="Ali")
    async with context.sessions() as session, session.begin():
        thread = await session.get_one(Thread, old.thread_id)
        thread.status = ThreadStatus.RESOLVED
        thread.resolved_at = utcnow() - timedelta(days=30)
    a1 = await web.push("my parcel is late", sender="visitor-1")
    b1 = await mail.push("parcel 1234 late", sender="ali@example.ir")
    a2 = await web.push("still waiting", sender="visitor-1")
    assert a1.thread_id != old.thread_id and a1.customer_id != b1.customer_id
    # The mail thread is further along: escalated to tier 2 and assigned.
    async with context.sessions() as session, session.begin():
        thread = await session.get_one(Thread, b1.thread_id)
        thread.status, thread.tier, thread.assignee_id = ThreadStatus.ASSIGNED, 2, agent.id
        thread.assigned_at = utcnow()

    path = f"/api/v1/customers/{b1.customer_id}/merge"
    status, body = await api(client, "POST", path, agent, json={"other": a1.customer_id})
    assert status == 403, body
    status, body = await api(client, "POST", path, admin, json={"other": a1.customer_id})
    assert status == 200, body
    survivor = min(a1.customer_id, b1.customer_id)
    assert body == {
        "surviving_id": survivor,
        "merged_id": max(a1.customer_id, b1.customer_id),
        "open_thread_id": b1.thread_id,
    }

    async with context.sessions() as session:
        threads = {
            t.id: t
            for t in await session.scalars(select(Thread).where(Thread.customer_id == survivor))
        }
        assert set(threads) == {old.thread_id, a1.thread_id, b1.thread_id}
        open_ = [t for t in threads.values() if t.status != ThreadStatus.RESOLVED]
        assert [t.id for t in open_] == [b1.thread_id]
        kept = open_[0]
        assert (kept.status, kept.tier, kept.assignee_id) == ("assigned", 2, agent.id)
        assert threads[a1.thread_id].resolution == "merged"
        assert threads[old.thread_id].resolution != "merged"  # history stays as it was
        rows = list(
            await session.scalars(
                select(Message).where(Message.thread_id == kept.id).order_by(Message.created_at)
            )
        )
        inbound = [(m.text, m.channel) for m in rows if m.direction == "in"]
        assert inbound == [
            ("my parcel is late", "web"),
            ("parcel 1234 late", "mail"),
            ("still waiting", "web"),
        ]
        # Replies go where the customer wrote last.
        last = await session.get_one(Identity, kept.last_identity_id)
        assert (last.channel, last.address, kept.last_channel) == ("web", "visitor-1", "web")
        identities = list(
            await session.scalars(select(Identity).where(Identity.customer_id == survivor))
        )
        assert {i.address for i in identities} == {"visitor-1", "ali@example.ir"}
        gone = await session.get_one(Customer, max(a1.customer_id, b1.customer_id))
        assert gone.merged_into_id == survivor
        audit = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "customers_merged")
        )
        assert audit is not None and (audit.actor_kind, audit.actor_id) == ("agent", admin.id)
    assert a2.thread_id == a1.thread_id

    # The agent's view: one customer, the merged thread holds both channels.
    status, detail = await api(client, "GET", f"/api/v1/threads/{b1.thread_id}", agent)
    assert status == 200
    assert {m["channel"] for m in detail["messages"] if m["direction"] == "in"} == {"web", "mail"}

    # The next message from either identity lands in the one open thread.
    again = await mail.push("any news?", sender="ali@example.ir")
    assert (again.customer_id, again.thread_id) == (survivor, b1.thread_id)

    # Merging again, or with an unknown customer, is refused.
    status, _ = await api(client, "POST", path, admin, json={"other": a1.customer_id})
    assert status == 409
    status, _ = await api(client, "POST", path, admin, json={"other": 999999})
    assert status == 404
    status, _ = await api(client, "POST", path, admin, json={"other": "x"})
    assert status == 422


async def test_a_merged_thread_keeps_the_higher_tier_and_its_notes_stay_with_that_tier(
    settings: Settings, start_app: Any
) -> None:
    web, mail = FakeAdapter(name="web"), FakeAdapter(name="mail")
    client, context = await _start(settings, start_app, web, mail)
    admin = await make_agent(context, "Boss", is_admin=True)
    first_line = await make_agent(context, "Sara", tier=1)
    second_line = await make_agent(context, "Reza", tier=2)
    # Tier 2 answers sooner: a thread that moves there is due sooner.
    for name, tier, minutes in (("normal-tier-1", 1, 240), ("normal-tier-2", 2, 30)):
        policy = {"priority": "normal", "first_response_minutes": minutes, "tier": tier}
        status, body = await api(client, "PUT", f"/api/v1/sla-policies/{name}", admin, json=policy)
        assert status == 200, body
    chat = await web.push("my card was charged twice", sender="visitor-1")
    status, _ = await api(
        client,
        "POST",
        f"/api/v1/threads/{chat.thread_id}/escalate",
        admin,
        json={"tier": 2, "reason": "billing"},
    )
    assert status == 200
    status, _ = await api(
        client,
        "POST",
        f"/api/v1/threads/{chat.thread_id}/messages",
        second_line,
        json={"text": "TIER-2 NOTE: refund approved by finance", "internal": True},
    )
    assert status in (200, 201)
    mail_in = await mail.push("any news on my refund?", sender="ali@example.ir")
    status, _ = await api(client, "POST", f"/api/v1/threads/{mail_in.thread_id}/claim", first_line)
    assert status == 200
    before = await _thread(context, mail_in.thread_id)
    assert before.sla_started_at is not None and before.first_response_due is not None
    assert before.first_response_due - before.sla_started_at == timedelta(minutes=240)
    status, _ = await api(client, "GET", f"/api/v1/threads/{chat.thread_id}", first_line)
    assert status == 403

    status, body = await api(
        client,
        "POST",
        f"/api/v1/customers/{chat.customer_id}/merge",
        admin,
        json={"other": mail_in.customer_id},
    )
    assert status == 200, body
    kept = await _thread(context, body["open_thread_id"])
    # One thread, at tier 2, waiting for a tier-2 agent: the tier-1 agent neither holds
    # it nor reads the tier-2 thread's note through it.
    assert (kept.tier, kept.status, kept.assignee_id) == (2, ThreadStatus.QUEUED, None)
    # The tier's policy applies from the clock's start, as after an escalation, and the
    # move is audited and reported as one.
    assert kept.id == mail_in.thread_id and kept.sla_started_at == before.sla_started_at
    assert kept.first_response_due == before.sla_started_at + timedelta(minutes=30)
    async with context.sessions() as session:
        moves = list(
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.thread_id == kept.id, AuditEvent.action == "escalate"
                )
            )
        )
        reported = list(
            await session.scalars(
                select(ThreadEvent).where(
                    ThreadEvent.thread_id == kept.id, ThreadEvent.kind == "escalated"
                )
            )
        )
    assert [(m.details["from_tier"], m.details["to_tier"]) for m in moves] == [(1, 2)]
    assert moves[0].details["from_agent_id"] == first_line.id
    assert [(e.tier, e.actor_kind) for e in reported] == [(2, "system")]
    status, _ = await api(client, "GET", f"/api/v1/threads/{kept.id}", first_line)
    assert status == 403
    status, detail = await api(client, "GET", f"/api/v1/threads/{kept.id}", second_line)
    assert status == 200
    assert any("TIER-2 NOTE" in (m.get("text") or "") for m in detail["messages"])


async def test_notes_tags_and_an_opt_out_follow_the_customer_into_the_survivor(
    settings: Settings, start_app: Any
) -> None:
    web = FakeAdapter(name="web")
    _, context = await _start(settings, start_app, web)
    a = await web.push("one", sender="a")
    b = await web.push("two", sender="b")
    keep, gone = sorted((a.customer_id, b.customer_id))
    async with context.sessions() as session, session.begin():
        for customer_id, tag in ((keep, "vip"), (gone, "vip"), (gone, "wholesale")):
            session.add(CustomerTag(customer_id=customer_id, tag=tag))
        session.add(CustomerNote(customer_id=gone, text="prefers email"))
        session.add(OutreachOptOut(customer_id=gone, via="web"))
    async with context.sessions() as session, session.begin():
        await merge_customers(
            context, session, keep, gone, actor_kind="system", actor_id=None, reason="t"
        )
    async with context.sessions() as session:
        tags = await session.scalars(
            select(CustomerTag.tag).where(CustomerTag.customer_id == keep).order_by(CustomerTag.tag)
        )
        assert list(tags) == ["vip", "wholesale"]
        notes = await session.scalars(
            select(CustomerNote.text).where(CustomerNote.customer_id == keep)
        )
        assert list(notes) == ["prefers email"]
        assert await session.get(OutreachOptOut, keep) is not None


async def test_merges_at_once_join_each_person_once(settings: Settings, start_app: Any) -> None:
    web = FakeAdapter(name="web")
    client, context = await _start(settings, start_app, web)
    admin = await make_agent(context, "Boss", is_admin=True)
    a, b, c = [await web.push("hi", sender=name) for name in ("a", "b", "c")]

    async def merge(first: int, second: int) -> int:
        path = f"/api/v1/customers/{first}/merge"
        status, _ = await api(client, "POST", path, admin, json={"other": second})
        return status

    # The same two customers twenty times at once: one merge, nineteen "already one".
    statuses = await asyncio.gather(*(merge(a.customer_id, b.customer_id) for _ in range(20)))
    assert sorted(statuses) == [200] + [409] * 19, statuses
    async with context.sessions() as session:
        merged = await session.scalar(
            select(func.count()).where(AuditEvent.action == "customers_merged")
        )
    assert merged == 1
    # A chain at once (a+c beside b+c): all three end as one customer with one open thread.
    statuses = await asyncio.gather(
        merge(a.customer_id, c.customer_id), merge(b.customer_id, c.customer_id)
    )
    assert sorted(statuses) == [200, 409], statuses
    async with context.sessions() as session:
        owners = set(await session.scalars(select(Identity.customer_id)))
        assert len(owners) == 1, owners
        [owner] = owners
        assert (
            await session.scalar(select(Customer.merged_into_id).where(Customer.id == owner))
            is None
        )
        open_threads = await session.scalar(
            select(func.count()).where(
                Thread.customer_id == owner, Thread.status != ThreadStatus.RESOLVED
            )
        )
        assert open_threads == 1


async def _thread(context: Any, thread_id: int) -> Thread:
    async with context.sessions() as session:
        return await session.get_one(Thread, thread_id)


async def test_merge_without_open_threads_and_with_one(settings: Settings, start_app: Any) -> None:
    web = FakeAdapter(name="web")
    _, context = await _start(settings, start_app, web)
    a = await web.push("one", sender="a")
    b = await web.push("two", sender="b")
    async with context.sessions() as session, session.begin():
        thread = await session.get_one(Thread, a.thread_id)
        thread.status = ThreadStatus.RESOLVED
        thread.resolved_at = utcnow()
    async with context.sessions() as session, session.begin():
        result = await merge_customers(
            context,
            session,
            b.customer_id,
            a.customer_id,
            actor_kind="system",
            actor_id=None,
            reason="t",
        )
    assert result.open_thread_id == b.thread_id and result.surviving_id == a.customer_id
    async with context.sessions() as session, session.begin():
        try:
            await merge_customers(
                context,
                session,
                a.customer_id,
                b.customer_id,
                actor_kind="system",
                actor_id=None,
                reason="t",
            )
        except MergeRefused as exc:
            assert "already" in str(exc)
        else:
            raise AssertionError("merging one customer with itself must be refused")


async def test_a_telegram_user_proves_an_email_by_typing_the_mailed_code(
    settings: Settings, start_app: Any
) -> None:
    telegram, email = FakeAdapter(name="telegram"), FakeAdapter(name="email")
    _, context = await start_app(
        # The fake mail channel stands in for a configured relay.
        settings.replace("email", enabled=False, relay_host="127.0.0.1").replace(
            "webchat", enabled=False
        ),
        adapters=[telegram, email],
        responder=QueueEveryThread(),
    )
    earlier = await email.push("where is order 77?", sender="sara@example.ir")
    chat = await telegram.push("hi", sender="777", sender_verified=True, language="en")
    assert chat.customer_id != earlier.customer_id
    asked = await telegram.push("sara@example.ir", sender="777", sender_verified=True)
    [code_mail] = await email.wait_sent(1)
    assert code_mail.address == "sara@example.ir"
    code = re.search(r"\d{6}", code_mail.text)
    assert code is not None
    assert asked.customer_id == chat.customer_id  # asking links nothing
    done = await telegram.push(code.group(0), sender="777", sender_verified=True, language="en")
    assert done.customer_id == min(chat.customer_id, earlier.customer_id)
    replies = [m.text for m in await telegram.wait_sent(2)]
    assert "sara@example.ir" in replies[0] and "verified" in replies[1]
    async with context.sessions() as session:
        email_identity = await session.scalar(select(Identity).where(Identity.channel == "email"))
        assert email_identity is not None and email_identity.verified
        assert email_identity.customer_id == done.customer_id


async def test_the_email_question_after_a_handoff_is_asked_only_when_useful(
    settings: Settings, start_app: Any
) -> None:
    web, mail = FakeAdapter(name="webchat"), FakeAdapter(name="email")
    _, context = await start_app(
        settings.replace("email", enabled=False, relay_host="127.0.0.1")
        .replace("webchat", enabled=False)
        .replace("bot", ask_email_on_handoff=True),
        adapters=[web, mail],
        responder=QueueEveryThread(),
    )
    pushed = await web.push("a person please", sender="visitor:q", language="en")
    message = InboundMessage(
        channel="webchat",
        external_id="x",
        sender_address="visitor:q",
        text="t",
        conversational=True,
    )
    async with context.sessions() as session, session.begin():
        identity = await session.scalar(select(Identity).where(Identity.address == "visitor:q"))
        assert identity is not None and pushed.customer_id == identity.customer_id
        assert await may_ask_for_email(context, session, message, identity)
        # Not in a conversation (a mail): nobody to put the question to.
        mail = dataclasses.replace(message, conversational=False)
        assert not await may_ask_for_email(context, session, mail, identity)
        session.add(
            Identity(
                customer_id=identity.customer_id,
                channel="email",
                address="q@example.ir",
                verified=True,
            )
        )
        await session.flush()
        assert not await may_ask_for_email(context, session, message, identity)


async def test_a_merge_racing_with_ingest_leaves_no_message_behind(
    settings: Settings, start_app: Any
) -> None:
    web = FakeAdapter(name="web")
    _, context = await _start(settings, start_app, web)
    for round_ in range(3):
        a = await web.push("first", sender=f"a{round_}")
        b = await web.push("first", sender=f"b{round_}")

        async def write(sender: str) -> None:
            for n in range(15):
                await web.push(f"{sender} {n}", sender=sender)

        async def merge(a: IngestResult = a, b: IngestResult = b) -> None:
            await asyncio.sleep(0.01)
            async with context.writing(), context.sessions() as session, session.begin():
                await merge_customers(
                    context,
                    session,
                    a.customer_id,
                    b.customer_id,
                    actor_kind="system",
                    actor_id=None,
                    reason="race",
                )

        await asyncio.gather(write(f"a{round_}"), write(f"b{round_}"), merge())
        survivor = min(a.customer_id, b.customer_id)
        async with context.sessions() as session:
            rows = list(
                await session.execute(
                    select(Message.customer_id, Thread.customer_id, Thread.status)
                    .join(Thread, Thread.id == Message.thread_id)
                    .where(Message.customer_id.in_([a.customer_id, b.customer_id]))
                )
            )
            assert rows and all(m == t == survivor for m, t, _ in rows), rows
            stray = await session.scalar(
                select(func.count()).where(Thread.customer_id == max(a.customer_id, b.customer_id))
            )
            open_ = await session.scalar(
                select(func.count()).where(
                    Thread.customer_id == survivor, Thread.status != ThreadStatus.RESOLVED
                )
            )
        assert (stray, open_) == (0, 1)


async def test_the_customer_writes_to_the_surviving_thread_never_the_merged_one(
    settings: Settings, start_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merged-away thread is the newer one (both queued alike, the older survives):
    after the survivor is resolved, the customer's message reopens the survivor within
    the reopen window, with the whole history, and starts a thread after the survivor
    past it; the empty merged thread is never reopened, nor counted as reopened."""
    clock = install_clock(monkeypatch, MONDAY_9AM)
    web, mail = FakeAdapter(name="web"), FakeAdapter(name="mail")
    client, context = await _start(settings, start_app, web, mail)
    admin = await make_agent(context, "Boss", is_admin=True, presence="away")

    async def say(adapter: FakeAdapter, seconds: float, text: str, sender: str) -> IngestResult:
        return await adapter.push(text, sender=sender, received_at=clock.at(seconds))

    a = await say(web, 0, "my parcel is late", "visitor-1")
    b = await say(mail, 10, "parcel 1234 late", "ali@example.ir")
    assert b.thread_id > a.thread_id
    clock.at(20)
    async with context.sessions() as session, session.begin():
        result = await merge_customers(
            context,
            session,
            a.customer_id,
            b.customer_id,
            actor_kind="agent",
            actor_id=admin.id,
            reason="same person",
        )
    assert result.open_thread_id == a.thread_id  # the newer thread was merged away
    clock.at(30)
    await queue.claim(context, admin.actor, a.thread_id)
    clock.at(40)
    await queue.resolve(context, admin.actor, a.thread_id)

    again = await say(mail, 100, "it came broken", "ali@example.ir")
    assert (again.customer_id, again.thread_id) == (a.customer_id, a.thread_id)
    async with context.sessions() as session:
        survivor = await session.get_one(Thread, a.thread_id)
        merged = await session.get_one(Thread, b.thread_id)
        assert survivor.status == ThreadStatus.ASSIGNED and survivor.assignee_id == admin.id
        assert (merged.status, merged.resolution) == (ThreadStatus.RESOLVED, "merged")
        texts = list(
            await session.scalars(
                select(Message.text)
                .where(Message.thread_id == a.thread_id, Message.direction == "in")
                .order_by(Message.id)
            )
        )
        assert texts == ["my parcel is late", "parcel 1234 late", "it came broken"]
        reopened = list(
            await session.scalars(
                select(ThreadEvent.thread_id).where(ThreadEvent.kind == "reopened")
            )
        )
        assert reopened == [a.thread_id]
    status, body = await api(
        client,
        "GET",
        "/api/v1/reports/summary",
        admin,
        params={"from": "2030-01-01", "to": "2030-03-01"},
    )
    assert status == 200, body
    # One first resolution (the survivor's; the merge's is none), and it was reopened.
    assert body["total"]["reopen_rate"] == 1.0

    # A reply to a mail sent from the merged thread (its token names that thread) goes
    # to the survivor too.
    clock.at(110)
    await queue.resolve(context, admin.actor, a.thread_id)
    replied = await mail.push(
        "re: parcel 1234",
        sender="ali@example.ir",
        received_at=clock.at(120),
        hint=ThreadHint(reply_token="t", thread_id=b.thread_id),
    )
    assert replied.thread_id == a.thread_id

    # Past the window: a new thread, following the survivor, not the merged one.
    clock.at(130)
    await queue.resolve(context, admin.actor, a.thread_id)
    window = settings.threads.reopen_window_minutes * 60
    later = await say(mail, 130 + window + 1, "another question", "ali@example.ir")
    assert later.thread_id not in (a.thread_id, b.thread_id)
    async with context.sessions() as session:
        new = await session.get_one(Thread, later.thread_id)
        assert new.previous_thread_id == a.thread_id
