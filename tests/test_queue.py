"""The agent queue: atomic claims, tiers, capacity, auto-assignment, presence, reopen."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from config.settings import Settings
from router.agents import queue
from router.agents.queue import Conflict, Forbidden, Invalid
from router.agents.replies import post_message
from router.core.messages import AuthorKind, utcnow
from router.core.responder import QueueEveryThread
from router.storage.models import Agent, AuditEvent, Message, OutboxItem, Thread, ThreadStatus
from tests.agent_support import api, count_rows, eventually, get_thread, make_agent
from tests.support import FakeAdapter, later_passes


async def _queued(adapter: FakeAdapter, sender: str, text: str = "I need a person") -> int:
    result = await adapter.push(text, sender=sender, language="en")
    return result.thread_id


async def test_concurrent_claims_exactly_one_wins(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    sara = await make_agent(context, "Sara")
    reza = await make_agent(context, "Reza")
    for round_ in range(5):
        thread_id = await _queued(adapter, f"customer-{round_}")
        results = await asyncio.gather(
            api(client, "POST", f"/api/v1/threads/{thread_id}/claim", sara),
            api(client, "POST", f"/api/v1/threads/{thread_id}/claim", reza),
        )
        statuses = sorted(status for status, _ in results)
        assert statuses == [200, 409], results
        winner = sara if results[0][0] == 200 else reza
        loser_body = results[1][1] if winner is sara else results[0][1]
        assert "taken by" in loser_body["error"]["message"]
        thread = await get_thread(context, thread_id)
        assert (thread.status, thread.assignee_id) == (ThreadStatus.ASSIGNED, winner.id)
        # the customer was told once who is with them, and one claim was audited
        assert (
            await count_rows(
                context,
                Message,
                Message.thread_id == thread_id,
                Message.author_kind == AuthorKind.SYSTEM,
            )
            == 1
        )
        assert (
            await count_rows(
                context, AuditEvent, AuditEvent.thread_id == thread_id, AuditEvent.action == "claim"
            )
            == 1
        )


async def test_many_concurrent_claims_at_the_database(settings: Settings, start_app) -> None:
    """Ten agents, one thread, claims straight at the queue functions: one winner."""
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    agents = [await make_agent(context, f"Agent{i}") for i in range(10)]
    thread_id = await _queued(adapter, "popular")

    async def attempt(actor: queue.Actor) -> bool:
        try:
            await queue.claim(context, actor, thread_id)
        except Conflict:
            return False
        return True

    won = await asyncio.gather(*(attempt(a.actor) for a in agents))
    assert sum(won) == 1
    thread = await get_thread(context, thread_id)
    assert thread.assignee_id == agents[won.index(True)].id


async def test_claim_again_by_holder_is_a_no_op(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    sara = await make_agent(context, "Sara")
    thread_id = await _queued(adapter, "c1")
    assert (await api(client, "POST", f"/api/v1/threads/{thread_id}/claim", sara))[0] == 200
    assert (await api(client, "POST", f"/api/v1/threads/{thread_id}/claim", sara))[0] == 200
    assert (
        await count_rows(
            context, AuditEvent, AuditEvent.thread_id == thread_id, AuditEvent.action == "claim"
        )
        == 1
    )


async def test_customer_is_told_who_is_with_them_in_their_language(
    settings: Settings, start_app
) -> None:
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    sara = await make_agent(context, "Sara")
    for language, sender, expected in (
        ("fa", "fa-customer", "Sara از تیم پشتیبانی اکنون همراه شماست."),
        ("ar", "ar-customer", "Sara من فريق الدعم معك الآن."),
        ("en", "en-customer", "Sara from our support team is with you now."),
    ):
        result = await adapter.push("help", sender=sender, language=language)
        before = len(adapter.sent)
        status, _ = await api(client, "POST", f"/api/v1/threads/{result.thread_id}/claim", sara)
        assert status == 200
        sent = await adapter.wait_sent(before + 1)
        assert sent[-1].text == expected and sent[-1].address == sender
        assert sent[-1].author_name == "Sara"


async def test_an_email_customer_gets_no_mail_of_its_own_when_an_agent_takes_over(
    settings: Settings, start_app
) -> None:
    """By mail "Sara is with you now" would be one more mail per claim and transfer: it
    stays in the thread, and only the agent's reply is mailed."""
    mail = FakeAdapter(name="email")
    client, context = await start_app(settings, adapters=[mail], responder=QueueEveryThread())
    sara = await make_agent(context, "Sara")
    reza = await make_agent(context, "Reza")
    result = await mail.push("My order is late", sender="john@example.org", language="en")
    path = f"/api/v1/threads/{result.thread_id}"
    assert (await api(client, "POST", f"{path}/claim", sara))[0] == 200
    status, _ = await api(client, "POST", f"{path}/transfer", sara, json={"agent": reza.email})
    assert status == 200
    status, _ = await api(
        client, "POST", f"{path}/messages", reza, json={"text": "It ships today."}
    )
    assert status == 201
    # The outbox sends in order: a mail for either take-over would have gone first.
    sent = await mail.wait_sent(1)
    assert [m.text for m in sent] == ["It ships today."]
    told = await count_rows(
        context,
        Message,
        Message.thread_id == result.thread_id,
        Message.author_kind == AuthorKind.SYSTEM,
    )
    assert told == 2
    assert await count_rows(context, OutboxItem, OutboxItem.thread_id == result.thread_id) == 1


async def test_tier_visibility(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    tier1 = await make_agent(context, "One", tier=1)
    tier2 = await make_agent(context, "Two", tier=2)
    admin = await make_agent(context, "Boss", tier=1, is_admin=True)
    low = await _queued(adapter, "c-low")
    high = await _queued(adapter, "c-high")
    await queue.escalate(context, admin.actor, high, 2, "needs a senior")

    async def listed(agent, query: str = "") -> set[int]:  # type: ignore[no-untyped-def]
        status, body = await api(client, "GET", f"/api/v1/threads{query}", agent)
        assert status == 200
        return {t["id"] for t in body["threads"]}

    assert await listed(tier1) == {low}
    assert await listed(tier2) == {high}
    assert await listed(admin) == {low, high}
    assert await listed(admin, "?tier=2") == {high}
    assert (await api(client, "GET", "/api/v1/threads?tier=2", tier1))[0] == 403
    assert (await api(client, "GET", f"/api/v1/threads/{high}", tier1))[0] == 403
    assert (await api(client, "POST", f"/api/v1/threads/{high}/claim", tier1))[0] == 403
    assert (await api(client, "GET", f"/api/v1/threads/{high}", tier2))[0] == 200
    assert (await api(client, "POST", f"/api/v1/threads/{high}/claim", tier2))[0] == 200
    customer_id = (await get_thread(context, high)).customer_id
    assert (await api(client, "GET", f"/api/v1/customers/{customer_id}", tier1))[0] == 403
    assert (await api(client, "GET", f"/api/v1/customers/{customer_id}", tier2))[0] == 200


async def test_queue_order_is_priority_then_waiting_time(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    agent = await make_agent(context, "Sara")
    first = await _queued(adapter, "c1")
    second = await _queued(adapter, "c2")
    third = await _queued(adapter, "c3")
    base = utcnow() - timedelta(minutes=10)
    async with context.sessions() as session, session.begin():
        for offset, thread_id in enumerate((first, second, third)):
            await session.execute(
                update(Thread)
                .where(Thread.id == thread_id)
                .values(queued_at=base + timedelta(minutes=offset))
            )
        await session.execute(update(Thread).where(Thread.id == third).values(priority=5))
    _, body = await api(client, "GET", "/api/v1/threads?status=queued", agent)
    assert [t["id"] for t in body["threads"]] == [third, first, second]
    assert body["threads"][1]["waiting_seconds"] >= 600


async def test_escalate_release_transfer_resolve_are_audited(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    sara = await make_agent(context, "Sara", tier=1)
    reza = await make_agent(context, "Reza", tier=1, max_concurrent=1)
    senior = await make_agent(context, "Senior", tier=2)
    thread_id = await _queued(adapter, "c1")
    path = f"/api/v1/threads/{thread_id}"

    assert (await api(client, "POST", f"{path}/release", sara))[0] == 409  # not assigned
    assert (await api(client, "POST", f"{path}/claim", sara))[0] == 200
    queued_at = (await get_thread(context, thread_id)).queued_at
    assert (await api(client, "POST", f"{path}/release", reza))[0] == 403  # not his
    status, body = await api(client, "POST", f"{path}/release", sara)
    assert status == 200 and body["thread"]["status"] == "queued"
    assert (await get_thread(context, thread_id)).queued_at == queued_at  # keeps its place

    assert (await api(client, "POST", f"{path}/claim", sara))[0] == 200
    status, body = await api(client, "POST", f"{path}/transfer", sara, json={"agent": "nobody@x"})
    assert status == 404
    status, body = await api(client, "POST", f"{path}/transfer", sara, json={"agent": reza.email})
    assert status == 200 and body["thread"]["assignee"]["email"] == reza.email
    # Reza (capacity 1) now holds one thread; another transfer to him is refused
    other = await _queued(adapter, "c2")
    assert (await api(client, "POST", f"/api/v1/threads/{other}/claim", sara))[0] == 200
    status, body = await api(
        client, "POST", f"/api/v1/threads/{other}/transfer", sara, json={"agent": reza.email}
    )
    assert status == 409 and "capacity" in body["error"]["message"]

    status, body = await api(
        client, "POST", f"{path}/escalate", reza, json={"tier": 1, "reason": "x"}
    )
    assert status == 422
    status, body = await api(client, "POST", f"{path}/escalate", reza, json={"tier": 2})
    assert status == 422
    status, body = await api(
        client, "POST", f"{path}/escalate", reza, json={"tier": 2, "reason": "refund > 1M"}
    )
    assert status == 200
    assert body["thread"] | {} and body["thread"]["tier"] == 2
    assert body["thread"]["status"] == "queued" and body["thread"]["assignee"] is None
    assert (await api(client, "GET", path, reza))[0] == 403  # left his tier
    assert (await api(client, "POST", f"{path}/claim", senior))[0] == 200
    status, body = await api(client, "POST", f"{path}/resolve", senior, json={"resolution": "ok"})
    assert status == 200 and body["thread"]["status"] == "resolved"
    assert (await api(client, "POST", f"{path}/resolve", senior))[0] == 409

    _, detail = await api(client, "GET", path, senior)
    actions = [(e["action"], e["actor_name"]) for e in detail["audit"]]
    assert actions == [
        ("handoff", None),
        ("claim", "Sara"),
        ("release", "Sara"),
        ("claim", "Sara"),
        ("transfer", "Sara"),
        ("escalate", "Reza"),
        ("claim", "Senior"),
        ("resolve", "Senior"),
    ]
    escalation = detail["audit"][5]["details"]
    assert escalation["reason"] == "refund > 1M" and escalation["to_tier"] == 2


async def test_claim_refused_at_capacity(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    sara = await make_agent(context, "Sara", max_concurrent=1)
    first = await _queued(adapter, "c1")
    second = await _queued(adapter, "c2")
    assert (await api(client, "POST", f"/api/v1/threads/{first}/claim", sara))[0] == 200
    status, body = await api(client, "POST", f"/api/v1/threads/{second}/claim", sara)
    assert status == 409 and "capacity" in body["error"]["message"]


async def test_auto_assignment_never_exceeds_capacity(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    capacities = {"A": 1, "B": 2, "C": 3}
    agents = {
        name: await make_agent(context, name, max_concurrent=cap, presence="online")
        for name, cap in capacities.items()
    }
    away = await make_agent(context, "Away", max_concurrent=10, presence="away")
    await make_agent(context, "Tier2", tier=2, max_concurrent=10, presence="online")
    for i in range(10):
        await _queued(adapter, f"c{i}")
    # several assigners at once (as several processes would run them)
    results = await asyncio.gather(*(queue.auto_assign(context) for _ in range(4)))
    assert sum(len(r) for r in results) == 6
    async with context.sessions() as session:
        assigned = list(
            await session.scalars(select(Thread).where(Thread.status == ThreadStatus.ASSIGNED))
        )
        load = await queue.open_counts(session, [a.id for a in agents.values()] + [away.id])
    assert len(assigned) == 6
    for name, agent in agents.items():
        assert load.get(agent.id, 0) == capacities[name]
    assert load.get(away.id, 0) == 0
    assert await count_rows(context, Thread, Thread.status == ThreadStatus.QUEUED) == 4
    assert await queue.auto_assign(context) == []  # everyone is full


async def test_auto_assignment_prefers_most_free_capacity(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    small = await make_agent(context, "Small", max_concurrent=2, presence="online")
    big = await make_agent(context, "Big", max_concurrent=4, presence="online")
    picked = []
    for i in range(4):
        await _queued(adapter, f"c{i}")
        picked += [a.agent_id for a in await queue.auto_assign(context)]
    # free capacity: Big 4 vs Small 2 -> Big; 3 vs 2 -> Big; 2 vs 2 -> tie, fewer open
    # (Small); then Big 2 vs Small 1 -> Big
    assert picked == [big.id, big.id, small.id, big.id]


async def test_worker_auto_assigns_new_queued_thread(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    settings = settings.replace("threads", auto_assign=True, assignment_interval_seconds=30.0)
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    sara = await make_agent(context, "Sara")
    # going online (an event) wakes the worker; the timer is far away
    status, body = await api(
        client, "POST", "/api/v1/agents/me/presence", sara, json={"status": "online"}
    )
    assert status == 200 and body["status"] == "online"
    result = await adapter.push("a person please", sender="c1", language="en")

    async def assigned() -> bool:
        return (await get_thread(context, result.thread_id)).assignee_id == sara.id

    await eventually(assigned)
    sent = await adapter.wait_sent(1)
    assert sent[0].text == "Sara from our support team is with you now."
    audit = await count_rows(
        context, AuditEvent, AuditEvent.action == "auto_assign", AuditEvent.actor_kind == "system"
    )
    assert audit == 1


async def test_offline_agents_unanswered_threads_return_after_grace(
    settings: Settings, start_app
) -> None:
    adapter = FakeAdapter()
    settings = settings.replace("threads", offline_grace_seconds=120)
    _, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    sara = await make_agent(context, "Sara", presence="online")
    unanswered = await _queued(adapter, "c1")
    answered = await _queued(adapter, "c2")
    for thread_id in (unanswered, answered):
        await queue.claim(context, sara.actor, thread_id)
    await post_message(context, sara.actor, answered, text="On it")
    await post_message(context, sara.actor, unanswered, text="note only", internal=True)
    await queue.set_presence(context, sara.id, "offline")

    assert await queue.requeue_from_offline_agents(context) == []  # within grace
    later = utcnow() + timedelta(seconds=121)
    assert await queue.requeue_from_offline_agents(context, now=later) == [unanswered]
    thread = await get_thread(context, unanswered)
    assert (thread.status, thread.assignee_id) == (ThreadStatus.QUEUED, None)
    assert (await get_thread(context, answered)).assignee_id == sara.id
    # the customer writes again to the answered thread: now it waits on her, and goes too
    await adapter.push("hello?", sender="c2")
    assert await queue.requeue_from_offline_agents(context, now=later) == [answered]
    # an away agent keeps threads
    await queue.set_presence(context, sara.id, "online")
    await queue.claim(context, sara.actor, unanswered)
    await queue.set_presence(context, sara.id, "away")
    assert await queue.requeue_from_offline_agents(context, now=later + timedelta(hours=1)) == []


async def test_reopen_window_through_the_api(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    settings = settings.replace("threads", reopen_window_minutes=60)
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    sara = await make_agent(context, "Sara")
    first = await _queued(adapter, "c1")
    assert (await api(client, "POST", f"/api/v1/threads/{first}/claim", sara))[0] == 200
    assert (await api(client, "POST", f"/api/v1/threads/{first}/resolve", sara))[0] == 200

    again = await adapter.push("one more thing", sender="c1")
    assert again.thread_id == first  # reopened, back with Sara
    thread = await get_thread(context, first)
    assert (thread.status, thread.assignee_id) == (ThreadStatus.ASSIGNED, sara.id)

    assert (await api(client, "POST", f"/api/v1/threads/{first}/resolve", sara))[0] == 200
    async with context.sessions() as session, session.begin():
        await session.execute(
            update(Thread)
            .where(Thread.id == first)
            .values(resolved_at=utcnow() - timedelta(minutes=61))
        )
    later = await adapter.push("new problem", sender="c1")
    assert later.thread_id != first
    new = await get_thread(context, later.thread_id)
    assert new.previous_thread_id == first and new.status == ThreadStatus.QUEUED
    assert (await api(client, "POST", f"/api/v1/threads/{later.thread_id}/claim", sara))[0] == 200
    _, detail = await api(client, "GET", f"/api/v1/threads/{later.thread_id}", sara)
    assert [t["id"] for t in detail["earlier_threads"]] == [first]
    assert "one more thing" in [m["text"] for m in detail["earlier_threads"][0]["messages"]]


async def test_actions_check_permissions(settings: Settings, start_app) -> None:
    adapter = FakeAdapter()
    _, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    sara = await make_agent(context, "Sara")
    reza = await make_agent(context, "Reza")
    thread_id = await _queued(adapter, "c1")
    await queue.claim(context, sara.actor, thread_id)
    with pytest.raises(Forbidden):
        await queue.resolve(context, reza.actor, thread_id)
    with pytest.raises(Forbidden):
        await queue.escalate(context, reza.actor, thread_id, 2, "mine now")
    with pytest.raises(Invalid):
        await queue.set_presence(context, sara.id, "asleep")
    with pytest.raises(Conflict):
        await post_message(context, reza.actor, thread_id, text="hi")


async def test_two_servers_on_one_database(settings: Settings, start_app) -> None:
    """Two app instances (as two `pasokh serve` processes) share the database: claims
    through both stay exclusive and both auto-assigners respect capacity."""
    settings = settings.replace("threads", auto_assign=True, assignment_interval_seconds=0.05)
    one, two = FakeAdapter(), FakeAdapter()
    client_one, context = await start_app(settings, adapters=[one], responder=QueueEveryThread())
    client_two, context_two = await start_app(
        settings, adapters=[two], responder=QueueEveryThread()
    )
    sara = await make_agent(context, "Sara", max_concurrent=2)
    reza = await make_agent(context, "Reza", max_concurrent=2)
    for round_ in range(4):
        thread_id = await _queued(one if round_ % 2 else two, f"claimed-{round_}")
        statuses = sorted(
            status
            for status, _ in await asyncio.gather(
                api(client_one, "POST", f"/api/v1/threads/{thread_id}/claim", sara),
                api(client_two, "POST", f"/api/v1/threads/{thread_id}/claim", reza),
            )
        )
        assert statuses == [200, 409]
        # the claimers are online now (claiming means being at work); free them again
        for agent in (sara, reza):
            await queue.set_presence(context, agent.id, "away")
        async with context.sessions() as session, session.begin():
            await session.execute(
                update(Thread).where(Thread.id == thread_id).values(status="resolved")
            )

    for name in ("A", "B", "C"):
        await make_agent(context, name, tier=2, max_concurrent=1)
    admin = await make_agent(context, "Boss", is_admin=True)
    for i in range(8):
        thread_id = await _queued(one if i % 2 else two, f"auto-{i}")
        await queue.escalate(context, admin.actor, thread_id, 2, "tier 2 work")
    async with context.sessions() as session:
        tier2 = [a.id for a in await session.scalars(select(Agent).where(Agent.tier == 2))]
    await asyncio.gather(*(queue.set_presence(context, agent_id, "online") for agent_id in tier2))

    async def three_assigned() -> bool:
        return (
            await count_rows(
                context, Thread, Thread.status == ThreadStatus.ASSIGNED, Thread.tier == 2
            )
            >= 3
        )

    await eventually(three_assigned)
    # more passes of both assigners: none gives out a thread beyond capacity
    await asyncio.gather(
        later_passes(context, "assignment"), later_passes(context_two, "assignment")
    )
    async with context.sessions() as session:
        load = await queue.open_counts(session, tier2)
    assert load == dict.fromkeys(tier2, 1)
    assert await count_rows(context, Thread, Thread.status == ThreadStatus.QUEUED) == 5
