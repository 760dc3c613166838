"""SLA clocks and deadlines: business-hour targets, pauses, resolve and reopen, the admin
API, and breaches that fire once however many schedulers run (both databases)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from config.settings import Settings
from router.core.responder import Decision, MessageView, QueueEveryThread, Silent, ThreadContext
from router.http.openapi import openapi_document
from router.service import sla
from router.service.breaches import fire_due_alarms
from router.service.calendars import (
    NoOpeningFound,
    add_business_minutes,
    calendar_from_json,
    iranian_week,
)
from router.service.sla_threads import recompute_stale_threads, service_levels, store_definition
from router.storage.models import AuditEvent, SlaAlarm, SlaCalendar, ThreadEvent
from tests.agent_support import api, count_rows, get_thread, make_agent
from tests.support import FakeAdapter
from tests.test_api_channel import _integration_token

TEHRAN = ZoneInfo("Asia/Tehran")
HIGH = sla.SlaPolicy(
    name="high",
    priority="high",
    calendar="tehran",
    business_hours=True,
    first_response_minutes=60,
    next_response_minutes=120,
    resolution_minutes=1440,
)
WEEK = {
    "sat": [["09:00", "17:00"]],
    "sun": [["09:00", "17:00"]],
    "mon": [["09:00", "17:00"]],
    "tue": [["09:00", "17:00"]],
    "wed": [["09:00", "17:00"]],
    "thu": [["09:00", "13:00"]],
}


def tehran(day: int, hour: int, minute: int = 0) -> datetime:
    """An instant in March 2027 in Tehran (the 25th is a Thursday)."""
    return datetime(2027, 3, day, hour, minute, tzinfo=TEHRAN)


def started(at: datetime) -> sla.ClockState:
    return sla.ClockState(
        started_at=at,
        paused_minutes=0.0,
        paused_since=None,
        first_response_at=None,
        next_response_started_at=None,
    )


def measure(**changes: object) -> sla.Measure:
    body: dict[str, object] = {"timezone": "Asia/Tehran", "week": WEEK, "holidays": None}
    body.update(changes)
    return sla.Measure(calendar_from_json("tehran", body))


def test_thursday_afternoon_is_due_saturday_morning() -> None:
    # Thursday closes at 13:00: the 60 minutes run Saturday 09:00-10:00.
    dues = sla.deadlines(started(tehran(25, 16, 30)), HIGH, measure())
    assert dues.first_response == tehran(27, 10)
    # The preset (with Iran's holidays: 27 March 2027 is no holiday) agrees.
    preset = sla.Measure(iranian_week())
    assert sla.deadlines(started(tehran(25, 16, 30)), HIGH, preset).first_response == tehran(27, 10)


def test_a_holiday_saturday_moves_it_to_sunday() -> None:
    dues = sla.deadlines(started(tehran(25, 16, 30)), HIGH, measure(closed=["2027-03-27"]))
    assert dues.first_response == tehran(28, 10)


def test_a_lunch_break_is_skipped() -> None:
    week = {**WEEK, "sat": [["09:00", "12:00"], ["13:00", "17:00"]]}
    dues = sla.deadlines(started(tehran(27, 11, 30)), HIGH, measure(week=week))
    assert dues.first_response == tehran(27, 13, 30)


def test_a_pending_period_pauses_first_response_and_resolution() -> None:
    m = measure()
    state = sla.paused(started(tehran(27, 9)), tehran(27, 9, 30))
    assert sla.deadlines(state, HIGH, m) == sla.Deadlines()  # no deadline while pending
    state = sla.resumed(state, m, tehran(27, 10, 30))
    dues = sla.deadlines(state, HIGH, m)
    assert dues.first_response == tehran(27, 11)  # 10:00 + the hour it waited
    # 1440 business minutes = three 8-hour days, plus the paused hour.
    assert dues.resolution == tehran(30, 10)


def test_resolve_stops_next_response_and_reopen_restarts_it() -> None:
    m = measure()
    state = sla.agent_replied(started(tehran(27, 9)), tehran(27, 9, 10))
    state = sla.customer_wrote(state, tehran(27, 10))
    assert sla.deadlines(state, HIGH, m).next_response == tehran(27, 12)
    state = sla.paused(state, tehran(27, 10, 30))  # resolved
    assert sla.deadlines(state, HIGH, m) == sla.Deadlines()
    assert state.next_response_started_at is None
    assert sla.alarms(state, HIGH, m, 80) == []  # nothing can fire on a resolved thread
    state = sla.customer_wrote(sla.resumed(state, m, tehran(28, 9)), tehran(28, 9))  # reopened
    dues = sla.deadlines(state, HIGH, m)
    assert dues.next_response == tehran(28, 11)
    assert dues.first_response is None  # answered already


def test_a_deadline_more_than_two_years_away_is_not_set() -> None:
    # The longest target on a 37-hour week lies four years on: no deadline, no alarm,
    # and the walk stops at two years (a sparse calendar costs no more than that).
    year = sla.MAX_TARGET_MINUTES
    assert year == 525_600
    longest = dataclasses.replace(HIGH, first_response_minutes=year, resolution_minutes=year)
    m = measure()
    assert sla.deadlines_and_alarms(started(tehran(25, 16, 30)), longest, m, 80) == (
        sla.Deadlines(),
        [],
    )
    assert m.calendar is not None
    with pytest.raises(NoOpeningFound, match="more than 731 days"):
        add_business_minutes(m.calendar, tehran(25, 16, 30), year)
    sparse = measure(week={"sat": [["00:00", "00:01"]]})
    assert sla.deadlines(started(tehran(25, 16, 30)), longest, sparse) == sla.Deadlines()


def test_targets_are_at_most_a_year_of_minutes() -> None:
    body = {"priority": "low", "business_hours": False, "resolution_minutes": 525_600}
    assert sla.policy_from_json("low", body).resolution_minutes == 525_600
    with pytest.raises(sla.PolicyError, match="1 to 525600"):
        sla.policy_from_json("low", {**body, "resolution_minutes": 525_601})
    # A JSON number with a zero fraction is an integer to JSON Schema; true is not one.
    assert sla.policy_from_json("low", {**body, "resolution_minutes": 60.0, "tier": 2.0}) == (
        sla.policy_from_json("low", {**body, "resolution_minutes": 60, "tier": 2})
    )
    with pytest.raises(sla.PolicyError, match=r"resolution_minutes.*tier"):
        sla.policy_from_json("low", {**body, "resolution_minutes": True, "tier": True})
    # business_hours left out follows the calendar: none named counts wall-clock minutes.
    assert not sla.policy_from_json("low", {"priority": "low"}).business_hours
    assert sla.policy_from_json("low", {"priority": "low", "calendar": "tehran"}).business_hours
    schema = openapi_document()["components"]["schemas"]["SlaPolicy"]["properties"]
    for target in sla.TARGETS:
        assert schema[f"{target}_minutes"]["maximum"] == sla.MAX_TARGET_MINUTES


def test_wall_clock_policy_and_policy_choice() -> None:
    wall = sla.policy_from_json(
        "urgent-email",
        {
            "priority": "urgent",
            "business_hours": False,
            "first_response_minutes": 15,
            "channel": "email",
        },
    )
    general = sla.policy_from_json(
        "urgent", {"priority": "urgent", "business_hours": False, "first_response_minutes": 30}
    )
    chosen = sla.choose_policy([general, wall], priority="urgent", tier=1, channel="email")
    assert chosen == wall
    assert sla.choose_policy([general, wall], priority="urgent", tier=1, channel="web") == general
    dues = sla.deadlines(started(tehran(25, 23)), wall, sla.Measure(None))
    assert dues.first_response == tehran(25, 23, 15)


async def _app(settings: Settings, start_app, now: datetime):  # type: ignore[no-untyped-def]
    adapter = FakeAdapter()
    client, context = await start_app(settings, adapters=[adapter], responder=QueueEveryThread())
    clock = {"now": now}
    context.clock = lambda: clock["now"]
    admin = await make_agent(context, "Boss", tier=1, is_admin=True)
    return adapter, client, context, admin, clock


async def test_api_calendar_in_the_future_sets_the_due_time(settings: Settings, start_app) -> None:
    now = datetime(2027, 3, 24, 6, 0, tzinfo=UTC)  # Wednesday 09:30 Tehran
    adapter, client, context, admin, _ = await _app(settings, start_app, now)
    # Open only on Saturday 27 March (an extra open date; no weekly hours).
    calendar = {
        "timezone": "Asia/Tehran",
        "week": {},
        "holidays": None,
        "closed": [],
        "open": ["2027-03-27", "2027-03-28"],
        "open_date_hours": [["10:00", "12:00"]],
    }
    status, body = await api(client, "PUT", "/api/v1/calendars/future", admin, json=calendar)
    assert status == 200, body
    policy = {
        "priority": "normal",
        "calendar": "future",
        "business_hours": True,
        "first_response_minutes": 30,
        "next_response_minutes": 60,
        "resolution_minutes": 6000,  # more than the calendar will ever open: no deadline
    }
    # A calendar nobody made (a typo): refused, not stored to run on wall-clock time.
    typo = {**policy, "calendar": "futrue"}
    status, body = await api(client, "PUT", "/api/v1/sla-policies/normal", admin, json=typo)
    assert status == 422 and "no calendar named 'futrue'" in body["error"]["message"], body
    status, body = await api(client, "PUT", "/api/v1/sla-policies/normal", admin, json=policy)
    assert status == 200, body
    assert (await api(client, "GET", "/api/v1/sla-policies/normal", admin))[1][
        "first_response_minutes"
    ] == 30
    result = await adapter.push("I need a person", sender="c1", language="en")
    status, body = await api(client, "GET", f"/api/v1/threads/{result.thread_id}", admin)
    assert status == 200, body
    due = datetime.fromisoformat(body["thread"]["sla"]["first_response_due"])
    assert due == tehran(27, 10, 30)
    assert body["thread"]["sla"]["resolution_due"] is None
    assert body["thread"]["priority"] == "normal"
    # Closing that day moves it to the next opening plus the target: the PUT marks the
    # thread, the scheduler's next pass recomputes it.
    calendar["closed"], calendar["open"] = ["2027-03-27"], ["2027-03-28"]
    assert (await api(client, "PUT", "/api/v1/calendars/future", admin, json=calendar))[0] == 200
    thread = await get_thread(context, result.thread_id)
    assert thread.sla_stale and thread.first_response_due == tehran(27, 10, 30)
    assert await recompute_stale_threads(context) == 1
    assert await recompute_stale_threads(context) == 0
    thread = await get_thread(context, result.thread_id)
    assert thread.first_response_due == tehran(28, 10, 30) and not thread.sla_stale
    # Only admins manage calendars; a bad body names its problem.
    sara = await make_agent(context, "Sara", tier=1)
    assert (await api(client, "GET", "/api/v1/calendars/future", sara))[0] == 403
    status, body = await api(
        client, "PUT", "/api/v1/calendars/bad", admin, json={**calendar, "timezone": "Mars/Base"}
    )
    assert status == 422 and "Mars/Base" in body["error"]["message"]


async def test_priority_pending_and_sorting_by_due(settings: Settings, start_app) -> None:
    now = datetime(2027, 3, 27, 6, 0, tzinfo=UTC)  # Saturday 09:30 Tehran
    adapter, client, _, admin, clock = await _app(settings, start_app, now)
    for name, minutes in (("urgent", 15), ("normal", 120)):
        policy = {"priority": name, "business_hours": False, "first_response_minutes": minutes}
        assert (await api(client, "PUT", f"/api/v1/sla-policies/{name}", admin, json=policy))[
            0
        ] == 200
    first = (await adapter.push("help", sender="a", language="en")).thread_id
    second = (await adapter.push("help", sender="b", language="en")).thread_id
    path = f"/api/v1/threads/{second}/priority"
    status, body = await api(client, "POST", path, admin, json={"priority": "urgent"})
    assert status == 200, body
    assert body["thread"]["priority"] == "urgent"
    assert datetime.fromisoformat(body["thread"]["sla"]["first_response_due"]) == now + timedelta(
        minutes=15
    )
    status, body = await api(client, "GET", "/api/v1/threads?status=open&sort=due", admin)
    assert [t["id"] for t in body["threads"]][:2] == [second, first]
    # Pending pauses: no deadline; resuming an hour later adds the hour.
    status, body = await api(client, "POST", f"/api/v1/threads/{second}/pending", admin)
    assert status == 200 and body["thread"]["pending"] is True
    assert body["thread"]["sla"]["first_response_due"] is None
    clock["now"] = now + timedelta(hours=1)
    status, body = await api(
        client, "POST", f"/api/v1/threads/{second}/pending", admin, json={"pending": False}
    )
    assert datetime.fromisoformat(body["thread"]["sla"]["first_response_due"]) == now + timedelta(
        minutes=75
    )
    assert (await api(client, "POST", path, admin, json={"priority": "soon"}))[0] == 422


async def test_a_breach_fires_once_with_two_schedulers(settings: Settings, start_app) -> None:
    now = datetime(2027, 3, 27, 6, 0, tzinfo=UTC)
    adapter, client, context, admin, clock = await _app(
        settings.replace("service", escalate_on_breach=True), start_app, now
    )
    policy = {
        "priority": "normal",
        "business_hours": False,
        "first_response_minutes": 10,
        "resolution_minutes": 100,
    }
    assert (await api(client, "PUT", "/api/v1/sla-policies/normal", admin, json=policy))[0] == 200
    threads = [
        (await adapter.push("help", sender=f"s{i}", language="en")).thread_id for i in range(6)
    ]
    clock["now"] = now + timedelta(minutes=11)
    # Two schedulers at once, each on its own connection (concurrent on PostgreSQL).
    fired = await asyncio.gather(*(fire_due_alarms(context) for _ in range(4)))
    everything = [alarm for batch in fired for alarm in batch]
    # each thread: the first-response warning and breach, the resolution warning (at 80)
    assert len(everything) == 6 * 2
    assert len({(a.thread_id, a.target, a.kind) for a in everything}) == len(everything)
    assert await fire_due_alarms(context) == []
    for thread_id in threads:
        assert (
            await count_rows(
                context,
                AuditEvent,
                AuditEvent.thread_id == thread_id,
                AuditEvent.action == "sla_breach",
            )
            == 1
        )
        thread = await get_thread(context, thread_id)
        assert thread.tier == 2  # escalated with a reason; the first-response clock kept
        # the reports see the breach and the escalation as the thread's state changes
        for kind in ("breached", "escalated"):
            assert (
                await count_rows(
                    context,
                    ThreadEvent,
                    ThreadEvent.thread_id == thread_id,
                    ThreadEvent.kind == kind,
                )
                == 1
            ), kind
        assert thread.first_response_due == now + timedelta(minutes=10)
    _, body = await api(client, "GET", "/api/v1/threads?breached=true", admin)
    assert sorted(t["id"] for t in body["threads"]) == sorted(threads)
    kinds = [b["kind"] for b in body["threads"][0]["sla"]["breaches"]]
    assert sorted(kinds) == ["breach", "warning"]
    metrics = await client.get("/metrics")
    text = await metrics.text()
    assert 'pasokh_sla_breaches_total{priority="normal",target="first_response"} 6.0' in text
    async with context.read_sessions() as session:
        unfired = list(await session.scalars(select(SlaAlarm).where(SlaAlarm.fired_at.is_(None))))
    assert {a.target for a in unfired} == {"resolution"}


async def test_a_breach_escalation_applies_the_next_tiers_policy(
    settings: Settings, start_app
) -> None:
    now = datetime(2027, 3, 27, 6, 0, tzinfo=UTC)
    adapter, client, context, admin, clock = await _app(
        settings.replace("service", escalate_on_breach=True), start_app, now
    )
    # Tier 2 is held to a first response of 15 minutes from the clock's start, tier 1 to 10.
    for name, tier, minutes in (("normal-tier-1", 1, 10), ("normal-tier-2", 2, 15)):
        policy = {
            "priority": "normal",
            "business_hours": False,
            "first_response_minutes": minutes,
            "tier": tier,
        }
        status, body = await api(client, "PUT", f"/api/v1/sla-policies/{name}", admin, json=policy)
        assert status == 200, body
    thread_id = (await adapter.push("help", sender="s1", language="en")).thread_id
    assert (await get_thread(context, thread_id)).first_response_due == now + timedelta(minutes=10)
    clock["now"] = now + timedelta(minutes=11)
    await fire_due_alarms(context)
    thread = await get_thread(context, thread_id)
    assert thread.tier == 2 and thread.first_response_due == now + timedelta(minutes=15)
    # the first response was breached once: tier 2's later target does not fire it
    # again, nor escalate the thread on up the tiers
    clock["now"] = now + timedelta(minutes=16)
    assert await fire_due_alarms(context) == []
    assert (await get_thread(context, thread_id)).tier == 2
    async with context.read_sessions() as session:
        moves = list(
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.thread_id == thread_id, AuditEvent.action == "escalate"
                )
            )
        )
    assert [(m.details["from_tier"], m.details["to_tier"]) for m in moves] == [(1, 2)]
    assert moves[0].at == now + timedelta(minutes=11)  # the scheduler's clock


def test_when_a_person_answers() -> None:
    calendar = iranian_week()
    thursday_night = tehran(25, 23)
    expect = sla.when_a_person_answers(calendar, agents=2, online=0, now=thursday_night)
    assert expect == sla.Expectation("at", tehran(27, 9))
    # Open, but nobody online: the next period, not "soon".
    expect = sla.when_a_person_answers(calendar, agents=2, online=0, now=tehran(27, 10))
    assert expect == sla.Expectation("at", tehran(28, 9))
    assert sla.when_a_person_answers(calendar, agents=2, online=1, now=tehran(27, 10)).kind == "now"
    assert (
        sla.when_a_person_answers(calendar, agents=0, online=0, now=tehran(27, 10)).kind
        == "unknown"
    )


def test_the_warning_of_a_short_business_hours_target_fires_before_the_breach() -> None:
    short = dataclasses.replace(HIGH, first_response_minutes=2, next_response_minutes=1)
    answered = dataclasses.replace(started(tehran(27, 16)), first_response_at=tehran(27, 16, 5))
    state = sla.customer_wrote(answered, tehran(27, 16, 59))
    fired = {(a.target, a.kind): a.fire_at for a in sla.alarms(state, short, measure(), 80)}
    # 48 seconds into a 1-minute target; it runs out at Saturday's closing, 17:00.
    assert fired["next_response", "warning"] == tehran(27, 16, 59) + timedelta(seconds=48)
    assert fired["next_response", "breach"] == tehran(27, 17)
    # Across the night: 30 seconds before closing, the rest from Sunday 09:00.
    state = sla.customer_wrote(answered, tehran(27, 16, 59) + timedelta(seconds=30))
    fired = {(a.target, a.kind): a.fire_at for a in sla.alarms(state, short, measure(), 80)}
    assert fired["next_response", "warning"] == tehran(28, 9) + timedelta(seconds=18)
    assert fired["next_response", "breach"] == tehran(28, 9) + timedelta(seconds=30)
    state = started(tehran(27, 10))
    fired = {(a.target, a.kind): a.fire_at for a in sla.alarms(state, short, measure(), 80)}
    assert fired["first_response", "warning"] == tehran(27, 10, 1) + timedelta(seconds=36)
    assert fired["first_response", "breach"] == tehran(27, 10, 2)


def test_a_stretch_across_midnight_is_one_period_and_round_the_clock_names_no_opening() -> None:
    def hours(**week: list[list[str]]) -> sla.Measure:
        return measure(week=week)

    late = hours(
        sat=[["09:00", "24:00"]],
        sun=[["00:00", "02:00"], ["09:00", "17:00"]],
        mon=[["09:00", "17:00"]],
    ).calendar
    # Saturday 21:00, nobody online: Saturday's period runs on into Sunday's 00:00-02:00;
    # midnight is no closing, so the next opening is Sunday 09:00, not 00:00.
    expect = sla.when_a_person_answers(late, agents=2, online=0, now=tehran(27, 21))
    assert expect == sla.Expectation("at", tehran(28, 9))
    every_day = [["00:00", "24:00"]]
    always = hours(**dict.fromkeys(("sat", "sun", "mon", "tue", "wed", "thu", "fri"), every_day))
    for now in (tehran(27, 21), tehran(28, 0), tehran(28, 12)):
        expect = sla.when_a_person_answers(always.calendar, agents=2, online=0, now=now)
        assert expect == sla.Expectation("unknown")
    assert sla.when_a_person_answers(always.calendar, agents=2, online=1, now=now).kind == "now"
    # Round the clock but Friday: on Thursday evening the Friday closing is near, and the
    # opening after it is named.
    six_days = hours(**dict.fromkeys(("sat", "sun", "mon", "tue", "wed", "thu"), every_day))
    expect = sla.when_a_person_answers(six_days.calendar, agents=2, online=0, now=tehran(25, 21))
    assert expect == sla.Expectation("at", tehran(27, 0))


async def test_admins_list_calendars_and_policies_and_every_put_is_audited(
    settings: Settings, start_app
) -> None:
    configured = dataclasses.replace(
        settings,
        service=dataclasses.replace(
            settings.service, calendars={"gulf": {"timezone": "Asia/Riyadh", "week": WEEK}}
        ),
    )
    _, client, context, admin, _ = await _app(configured, start_app, datetime.now(UTC))
    calendar = {"timezone": "Asia/Tehran", "week": WEEK, "holidays": "IR"}
    assert (await api(client, "PUT", "/api/v1/calendars/tehran", admin, json=calendar))[0] == 200
    policy = {"priority": "high", "calendar": "tehran", "first_response_minutes": 60}
    assert (await api(client, "PUT", "/api/v1/sla-policies/high", admin, json=policy))[0] == 200
    status, body = await api(client, "GET", "/api/v1/calendars", admin)
    assert status == 200, body
    names = {item["name"]: item for item in body["calendars"]}
    assert set(names) == {"gulf", "tehran"}
    assert names["tehran"]["calendar"]["holidays"] == "IR" and names["tehran"]["stored"]
    assert names["gulf"]["calendar"]["timezone"] == "Asia/Riyadh" and not names["gulf"]["stored"]
    status, body = await api(client, "GET", "/api/v1/sla-policies", admin)
    assert status == 200, body
    assert [(p["name"], p["policy"]["first_response_minutes"]) for p in body["policies"]] == [
        ("high", 60)
    ]
    async with context.sessions() as session:
        audited = [
            (row.action, row.actor_id, row.details)
            for row in await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.action.in_(("calendar_stored", "sla_policy_stored")))
                .order_by(AuditEvent.id)
            )
        ]
    assert audited == [
        ("calendar_stored", admin.id, {"name": "tehran"}),
        ("sla_policy_stored", admin.id, {"name": "high"}),
    ]
    sara = await make_agent(context, "Sara", tier=1)
    assert (await api(client, "GET", "/api/v1/calendars", sara))[0] == 403
    assert (await api(client, "GET", "/api/v1/sla-policies", sara))[0] == 403
    assert (await api(client, "PUT", "/api/v1/calendars/tehran", sara, json=calendar))[0] == 403


class _CalendarSeen:
    """A responder that notes the calendar each turn was told the team keeps."""

    def __init__(self) -> None:
        self.zones: list[str | None] = []

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        self.zones.append(ctx.calendar.zone.key if ctx.calendar is not None else None)
        return Silent("noting the calendar")


async def test_a_calendar_stored_through_another_app_is_in_force_for_the_next_message(
    settings: Settings, start_app
) -> None:
    """Two apps on one database (two processes in production): what an admin stores on
    B is what A's very next message is judged by, with no wait (nothing outlives A's
    transaction)."""
    seen = _CalendarSeen()
    settings = settings.replace("email", enabled=False)  # one SMTP port for both apps
    client_a, context_a = await start_app(settings, responder=seen)
    client_b, context_b = await start_app(settings, responder=QueueEveryThread())
    admin = await make_agent(context_b, "Boss", tier=1, is_admin=True)
    token = await _integration_token(context_a)

    async def message_on_a(n: int) -> None:
        body = {"id": f"m{n}", "customer": {"external_id": "c-1"}, "text": f"سلام {n}"}
        response = await client_a.post(
            "/api/v1/inbound/messages", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 202, await response.text()

    async def store_on_b(zone: str) -> None:
        calendar = {"timezone": zone, "week": WEEK, "holidays": None}
        assert (await api(client_b, "PUT", "/api/v1/calendars/team", admin, json=calendar))[
            0
        ] == 200

    await message_on_a(1)
    policy = {"priority": "normal", "calendar": "team", "first_response_minutes": 60}
    await store_on_b("Asia/Tehran")
    assert (await api(client_b, "PUT", "/api/v1/sla-policies/normal", admin, json=policy))[0] == 200
    await message_on_a(2)
    await store_on_b("Asia/Riyadh")
    await message_on_a(3)
    assert seen.zones == [None, "Asia/Tehran", "Asia/Riyadh"]


async def test_service_levels_read_in_a_transaction_give_way_to_a_definition_it_stores(
    settings: Settings, start_app
) -> None:
    """Read once per transaction: a store in that transaction reads them again, and so
    does the session's next transaction (another session stored a change meanwhile)."""
    _, context = await start_app(settings, responder=QueueEveryThread())
    calendar = {"timezone": "Asia/Tehran", "week": WEEK, "holidays": None}
    async with context.sessions() as session:
        async with session.begin():
            assert "team" not in (await service_levels(context, session)).calendars
            await store_definition(context, session, SlaCalendar, "team", calendar)
            assert "team" in (await service_levels(context, session)).calendars
        async with context.sessions() as other, other.begin():
            await store_definition(
                context, other, SlaCalendar, "team", {**calendar, "timezone": "Asia/Riyadh"}
            )
        async with session.begin():
            levels = await service_levels(context, session)
    assert levels.calendars["team"].zone.key == "Asia/Riyadh"
