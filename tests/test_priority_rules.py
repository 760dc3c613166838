"""Priority rules (`[[service.priority_rules]]`): a customer tag or a channel raises a
thread's priority when it is created and when the tag is added later; deadlines follow;
a priority an agent set by hand sticks. Real server on loopback, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from config.settings import PriorityRule, Settings, SettingsError, load_settings
from router.core.responder import QueueEveryThread
from router.storage.models import AuditEvent
from tests.agent_support import api, make_agent
from tests.support import FakeAdapter

NOW = datetime(2027, 3, 27, 6, 0, tzinfo=UTC)
# Wall-clock first-response targets: the due time says which priority judged the thread.
POLICIES = {
    "urgent": {"priority": "urgent", "business_hours": False, "first_response_minutes": 15},
    "high": {"priority": "high", "business_hours": False, "first_response_minutes": 60},
    "normal": {"priority": "normal", "business_hours": False, "first_response_minutes": 240},
}


async def _app(settings: Settings, start_app, rules: tuple[PriorityRule, ...]):  # type: ignore[no-untyped-def]
    settings = settings.replace("service", policies=POLICIES, priority_rules=rules)
    settings = settings.replace("threads", reopen_window_minutes=0)
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    context.clock = lambda: NOW
    admin = await make_agent(context, "Boss", tier=1, is_admin=True)
    return adapter, client, context, admin


async def _thread(client, admin, thread_id: int) -> dict:  # type: ignore[no-untyped-def]
    status, body = await api(client, "GET", f"/api/v1/threads/{thread_id}", admin)
    assert status == 200, body
    return body["thread"]


def _due(thread: dict) -> datetime:  # type: ignore[type-arg]
    return datetime.fromisoformat(thread["sla"]["first_response_due"])


async def test_tagging_raises_open_threads_and_new_threads_start_at_the_rule(
    settings: Settings, start_app
) -> None:
    rules = (
        PriorityRule(customer_tag="vip", priority="urgent"),
        PriorityRule(customer_tag="partner", priority="high"),
    )
    adapter, client, context, admin = await _app(settings, start_app, rules)
    first = (await adapter.push("help", sender="c1", language="en")).thread_id
    thread = await _thread(client, admin, first)
    assert thread["priority"] == "normal" and _due(thread) == NOW + timedelta(minutes=240)
    customer = thread["customer_id"]
    # Both rules match: the highest priority wins, the deadline moves to its target.
    for tag in ("partner", "VIP"):
        status, body = await api(
            client, "POST", f"/api/v1/customers/{customer}/tags", admin, json={"tag": tag}
        )
        assert status == 200, body
    thread = await _thread(client, admin, first)
    assert thread["priority"] == "urgent" and _due(thread) == NOW + timedelta(minutes=15)
    async with context.sessions() as session:
        audits = list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.thread_id == first, AuditEvent.action == "priority")
                .order_by(AuditEvent.id)
            )
        )
    assert [(a.actor_kind, a.details["after"]) for a in audits] == [
        ("system", "high"),
        ("system", "urgent"),
    ]
    assert audits[-1].details["reason"] == "rule: customer_tag = vip, priority = urgent"
    # A new thread of the tagged customer starts urgent, its first deadline with it.
    status, _ = await api(client, "POST", f"/api/v1/threads/{first}/resolve", admin, json={})
    assert status == 200
    second = (await adapter.push("again", sender="c1", language="en")).thread_id
    assert second != first
    thread = await _thread(client, admin, second)
    assert thread["priority"] == "urgent" and _due(thread) == NOW + timedelta(minutes=15)
    status, body = await api(client, "GET", f"/api/v1/threads/{second}", admin)
    assert [
        (e["actor_kind"], e["details"]) for e in body["audit"] if e["action"] == "priority"
    ] == [
        (
            "system",
            {
                "before": "normal",
                "after": "urgent",
                "reason": "rule: customer_tag = vip, priority = urgent",
            },
        )
    ]
    # Another customer's thread is untouched.
    other = await _thread(
        client, admin, (await adapter.push("hi", sender="c2", language="en")).thread_id
    )
    assert other["priority"] == "normal" and _due(other) == NOW + timedelta(minutes=240)


async def test_a_priority_set_by_hand_sticks(settings: Settings, start_app) -> None:
    rules = (PriorityRule(customer_tag="vip", priority="urgent"),)
    adapter, client, _, admin = await _app(settings, start_app, rules)
    thread_id = (await adapter.push("help", sender="c1", language="en")).thread_id
    status, body = await api(
        client, "POST", f"/api/v1/threads/{thread_id}/priority", admin, json={"priority": "low"}
    )
    assert status == 200, body
    customer = body["thread"]["customer_id"]
    status, _ = await api(
        client, "POST", f"/api/v1/customers/{customer}/tags", admin, json={"tag": "vip"}
    )
    assert status == 200
    thread = await _thread(client, admin, thread_id)
    assert thread["priority"] == "low" and thread["sla"]["first_response_due"] is None


async def test_a_channel_rule_sets_a_new_threads_priority(settings: Settings, start_app) -> None:
    rules = (PriorityRule(channel="fake", priority="high"),)
    adapter, client, _, admin = await _app(settings, start_app, rules)
    thread = await _thread(
        client, admin, (await adapter.push("help", sender="c1", language="en")).thread_id
    )
    assert thread["priority"] == "high" and _due(thread) == NOW + timedelta(minutes=60)


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ('{ customer_tag = "vip", priority = "asap" }', "priority"),
        ('{ priority = "high" }', "customer_tag or channel"),
        ('{ customer_tag = "vip", priority = "high", colour = "red" }', "colour"),
        ('"vip"', "table"),
        ('{ customer_tag = "vip" }', "priority"),
    ],
)
def test_a_bad_rule_is_refused_at_start_up(tmp_path: Path, rule: str, problem: str) -> None:
    config = tmp_path / "pasokh.toml"
    config.write_text(f"[service]\npriority_rules = [{rule}]\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="priority_rules") as caught:
        load_settings(config, env={})
    assert problem in str(caught.value)


def test_rules_are_read_from_an_array_of_tables(tmp_path: Path) -> None:
    config = tmp_path / "pasokh.toml"
    config.write_text(
        '[[service.priority_rules]]\ncustomer_tag = " VIP "\npriority = "urgent"\n'
        '[[service.priority_rules]]\nchannel = "telegram"\npriority = "high"\n',
        encoding="utf-8",
    )
    settings = load_settings(config, env={})
    assert settings.service.priority_rules == (
        PriorityRule(customer_tag="vip", priority="urgent"),
        PriorityRule(channel="telegram", priority="high"),
    )
