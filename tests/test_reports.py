"""KPI reports: each definition on a hand-built timeline (injected clock) through the
real ingest, queue and reply paths; the summary API (JSON, CSV, grouping, who sees
what), the CLI and the Prometheus histograms."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest

from config.settings import Settings
from router.agents import queue, replies
from router.context import AppContext
from router.core.messages import utcnow
from router.core.responder import (
    HELPED_RESOLUTION,
    Answer,
    Decision,
    GapKind,
    HandOff,
    KnowledgeGap,
    MessageView,
    Resolve,
    ThreadContext,
)
from router.service.breaches import fire_due_alarms
from router.service.reports.csv import summary_csv
from router.service.reports.kpis import Figures
from router.service.reports.summary import Backlog, Group, Summary
from router.storage.models import SurveyAnswer
from tests.agent_support import AgentUser, api, make_agent
from tests.report_support import MONDAY_9AM, Clock, install_clock
from tests.support import FakeAdapter
from tests.test_agent_api import CheckedApi, schema_errors
from tests.test_cli import pasokh


class ScriptedBot:
    """ "person" hands off, "thanks" resolves (the customer said the answer helped),
    "no" hands off (it did not help), anything else is answered."""

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        if new.text == "person":
            return HandOff(reason="asked for a person", tier=1, text="one moment")
        if new.text == "thanks":
            return Resolve(HELPED_RESOLUTION, "glad it helped")
        if new.text == "no":
            gap = KnowledgeGap("where is my order?", "en", None, 0.9, GapKind.DIDNT_HELP)
            return HandOff(reason="did not help", tier=1, previous_gap=gap)
        return Answer("the FAQ says so")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return install_clock(monkeypatch, MONDAY_9AM)


class Day:
    """One scripted day: customers write on `web`, agents act through the queue."""

    def __init__(self, context: AppContext, web: FakeAdapter, clock: Clock) -> None:
        self.context, self.web, self.clock = context, web, clock

    async def say(self, seconds: float, customer: str, text: str) -> int:
        at = self.clock.at(seconds)
        result = await self.web.push(text, sender=customer, received_at=at, language="fa")
        return result.thread_id

    async def claim(self, seconds: float, agent: AgentUser, thread_id: int) -> None:
        self.clock.at(seconds)
        await queue.claim(self.context, agent.actor, thread_id)

    async def reply(
        self, seconds: float, agent: AgentUser, thread_id: int, *, note: bool = False
    ) -> None:
        self.clock.at(seconds)
        await replies.post_message(
            self.context, agent.actor, thread_id, text="on it", internal=note
        )

    async def resolve(self, seconds: float, agent: AgentUser, thread_id: int) -> None:
        self.clock.at(seconds)
        await queue.resolve(self.context, agent.actor, thread_id)


async def _scripted_day(
    settings: Settings, start_app: Any, clock: Clock
) -> tuple[Any, AppContext, dict[str, AgentUser], dict[str, int]]:
    """The timeline every summary test measures (times in seconds after 09:00)."""
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=ScriptedBot())
    # "away": neither auto-assigned work nor requeued for being offline
    sara = await make_agent(context, "Sara", presence="away")
    reza = await make_agent(context, "Reza", presence="away")
    boss = await make_agent(context, "Boss", is_admin=True, presence="away")
    day = Day(context, web, clock)
    # A: bot answer, hand-off at 60; a note at 180 is no response; first reply at 300
    # (wait 240); the customer writes at 400 and 500, the reply at 700 waited 300;
    # resolved at 800 after two replies: not first-contact.
    a = await day.say(0, "a", "where is my order?")
    await day.say(60, "a", "person")
    await day.claim(120, sara, a)
    await day.reply(180, sara, a, note=True)
    await day.reply(300, sara, a)
    await day.say(400, "a", "still broken")
    await day.say(500, "a", "hello?")
    await day.reply(700, sara, a)
    await day.resolve(800, sara, a)
    # B: handed off at once (1000), reply at 1300 (wait 300), resolved at 1400 with one
    # reply, but reopened at 1500 (within the window): not first-contact; the reply at
    # 1600 waited 100; resolved again at 1700.
    b = await day.say(1000, "b", "person")
    await day.claim(1100, sara, b)
    await day.reply(1300, sara, b)
    await day.resolve(1400, sara, b)
    assert await day.say(1500, "b", "it broke again") == b
    await day.reply(1600, sara, b)
    await day.resolve(1700, sara, b)
    # C: Reza's, one reply (wait 200), resolved, never reopened: first-contact.
    c = await day.say(2000, "c", "person")
    await day.claim(2100, reza, c)
    await day.reply(2200, reza, c)
    await day.resolve(2300, reza, c)
    # D: the bot answers, the customer says thanks: the bot closed it (contained).
    d = await day.say(3000, "d", "how do I pay?")
    await day.say(3030, "d", "thanks")
    # E: still with the bot at the end of the day (backlog).
    e = await day.say(4000, "e", "hours?")
    # The answers as rows, so CSAT and NPS split by agent here; the same figures from
    # real resolves answered on each channel: tests/test_reports_channels.py.
    async with context.sessions() as session, session.begin():
        for thread, agent, kind, score in [
            (a, sara, "csat", 5),
            (b, sara, "csat", 2),
            (c, reza, "csat", 4),
            (a, sara, "nps", 10),
            (b, sara, "nps", 9),
            (c, reza, "nps", 7),
            (d, None, "nps", 3),
        ]:
            session.add(
                SurveyAnswer(
                    token_hash=f"{thread}-{kind}-{score}",
                    thread_id=thread,
                    customer_id=(await _customer_of(context, thread)),
                    kind=kind,
                    score=score,
                    agent_id=agent.id if agent else None,
                    tier=1,
                    channel="web",
                    language="fa",
                    created_at=clock.at(5000),
                    answered_at=clock.now,
                    expires_at=clock.now + timedelta(days=7),
                )
            )
    clock.at(6000)
    return client, context, {"sara": sara, "reza": reza, "boss": boss}, {"e": e}


async def _customer_of(context: AppContext, thread_id: int) -> int:
    from router.storage.models import Thread

    async with context.sessions() as session:
        thread = await session.get(Thread, thread_id)
        assert thread is not None
        return thread.customer_id


WINDOW = {"from": "2030-01-07", "to": "2030-01-08"}


async def test_every_kpi_of_a_scripted_day(
    settings: Settings, start_app: Any, clock: Clock
) -> None:
    client, _, agents, _ = await _scripted_day(settings, start_app, clock)
    status, body = await api(
        client, "GET", "/api/v1/reports/summary", agents["boss"], params=WINDOW
    )
    assert status == 200, body
    total = body["total"]
    assert total["threads_created"] == 5
    assert total["threads_resolved"] == 4  # A, B (twice: one thread), C, D
    # the agent replies only: 240 (A, not the bot's answer nor the note), 300, 200
    assert total["first_response_seconds"] == {
        "count": 3,
        "median": 240.0,
        "p90": 288.0,
        "mean": 246.7,
    }
    # A's second reply waited since 400 (not 500); B's since the reopening message
    assert total["next_response_seconds"] == {
        "count": 2,
        "median": 200.0,
        "p90": 280.0,
        "mean": 200.0,
    }
    # the agents' resolutions: A 800, B 400 and 700 (both from creation), C 300; the
    # bot's (D 30) apart
    assert total["resolution_seconds"] == {"count": 4, "median": 550.0, "p90": 770.0, "mean": 550.0}
    assert total["bot_resolution_seconds"] == {
        "count": 1,
        "median": 30.0,
        "p90": 30.0,
        "mean": 30.0,
    }
    assert total["threads_merged"] == 0
    assert total["fcr_rate"] == round(1 / 3, 4)  # C of A, B, C
    assert total["reopen_rate"] == round(1 / 3, 4)  # B of A, B, C (D is the bot's)
    assert total["bot_containment_rate"] == 0.25  # D of A, B, C, D
    assert total["handoff_rate"] == 0.6  # A, B, C of five
    assert total["csat"] == {
        "responses": 3,
        "satisfied_pct": 66.7,
        "mean": 3.67,
        "sent": 3,
        "response_rate": 1.0,
    }
    # (2 promoters - 1 detractor) / 4; the four surveys were sent in the window
    assert total["nps"] == {"responses": 4, "score": 25.0, "sent": 4, "response_rate": 1.0}
    # no calendar and no SLA policy: no business time, no deadlines to meet
    for name in ("first_response", "next_response", "resolution"):
        assert total[f"{name}_business_seconds"] == {
            "count": 0,
            "median": None,
            "p90": None,
            "mean": None,
        }
    assert total["sla"] == {
        "first_response_met_pct": None,
        "next_response_met_pct": None,
        "resolution_met_pct": None,
        "breaches": 0,
    }
    assert total["bot_helped_rate"] == 1.0  # D said "thanks"; nobody said no
    assert body["backlog"] == {
        "open": 1,
        "bot": 1,
        "queued": 0,
        "assigned": 0,
        "oldest_age_seconds": 2000.0,
    }


# Open 09:00-12:00 and 13:00-17:00 UTC on Monday and Tuesday; the scripted days start
# Monday 09:00, so lunch is 10800-14400 s and Tuesday opens at 86400 s.
OFFICE_HOURS = [["09:00", "12:00"], ["13:00", "17:00"]]
OFFICE = {"timezone": "UTC", "week": {"mon": OFFICE_HOURS, "tue": OFFICE_HOURS}}
# Business minutes of the office: 10 to the first response, 60 to the next, 240 to resolve.
POLICY = {
    "priority": "normal",
    "calendar": "office",
    "first_response_minutes": 10,
    "next_response_minutes": 60,
    "resolution_minutes": 240,
}


async def _office_day(
    settings: Settings, start_app: Any, clock: Clock
) -> tuple[Any, AppContext, dict[str, AgentUser]]:
    """Monday and Tuesday under the office calendar and POLICY (times after 09:00)."""
    settings = settings.replace(
        "service",
        calendars={"office": OFFICE},
        policies={"normal": POLICY},
        escalate_on_breach=False,
    )
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=ScriptedBot())
    context.clock = clock  # the SLA clocks and their scheduler run on the test's time
    sara = await make_agent(context, "Sara", presence="away")
    reza = await make_agent(context, "Reza", presence="away")
    boss = await make_agent(context, "Boss", is_admin=True, presence="away")
    day = Day(context, web, clock)
    # F: created 10000 (11:46:40); "did this help?" no at 10500: handed off, the clocks
    # start. First response due after 10 business minutes: 5 before lunch, 5 after it,
    # 14700. The reply at 14600 meets it: 4100 s of wall clock, 300 + 200 of business.
    f = await day.say(10000, "f", "where is my order?")
    await day.say(10500, "f", "no")
    await day.claim(14000, sara, f)
    await day.reply(14600, sara, f)
    # G: handed off at 20000, first response due at 20600; the scheduler fires the
    # breach at 20700; the reply at 21000 is late (1000 s, all business time). Resolved
    # at 21100 (1100 s since creation), well before its resolution deadline.
    g = await day.say(20000, "g", "person")
    clock.at(20700)
    fired = await fire_due_alarms(context)
    assert [(a.thread_id, a.target) for a in fired if a.kind == "breach"] == [(g, "first_response")]
    await day.claim(21000, reza, g)
    await day.reply(21000, reza, g)
    await day.resolve(21100, reza, g)
    # H: "did this help?" yes: the bot closes it in 30 s (business too), no deadline.
    await day.say(22000, "h", "how do I pay?")
    await day.say(22030, "h", "thanks")
    # F again at 27000 (16:30): next response due 30 business minutes that day and 30
    # on Tuesday, 88200. F's resolution was due 240 business minutes after 10500: 5
    # before lunch and 235 after it, 16:55 (28500); the scheduler fires it at 28600.
    await day.say(27000, "f", "still waiting")
    clock.at(28600)
    fired = await fire_due_alarms(context)
    assert [(a.thread_id, a.target) for a in fired if a.kind == "breach"] == [(f, "resolution")]
    # Tuesday 09:10: the reply meets the next-response deadline; 60000 s of wall clock,
    # 1800 + 600 of business. Resolved at 09:20: late; since creation 77600 s of wall
    # clock, 800 + 14400 + 1200 = 16400 of business.
    await day.reply(87000, sara, f)
    await day.resolve(87600, sara, f)
    clock.at(90000)
    return client, context, {"sara": sara, "reza": reza, "boss": boss}


OFFICE_WINDOW = {"from": "2030-01-07", "to": "2030-01-09"}


async def test_business_hours_sla_attainment_and_bot_feedback(
    settings: Settings, start_app: Any, clock: Clock
) -> None:
    client, _, agents = await _office_day(settings, start_app, clock)
    sara, reza, boss = agents["sara"], agents["reza"], agents["boss"]
    window = OFFICE_WINDOW
    status, body = await api(client, "GET", "/api/v1/reports/summary", boss, params=window)
    assert status == 200, body
    total = body["total"]
    assert total["first_response_seconds"] == {
        "count": 2,
        "median": 2550.0,
        "p90": 3790.0,  # 1000 + 0.9 * (4100 - 1000)
        "mean": 2550.0,
    }
    assert total["first_response_business_seconds"] == {
        "count": 2,
        "median": 750.0,
        "p90": 950.0,
        "mean": 750.0,
    }
    assert total["next_response_seconds"] == {
        "count": 1,
        "median": 60000.0,
        "p90": 60000.0,
        "mean": 60000.0,
    }
    assert total["next_response_business_seconds"] == {
        "count": 1,
        "median": 2400.0,
        "p90": 2400.0,
        "mean": 2400.0,
    }
    # the agents' resolutions: G 1100, F 77600 (wall) / 16400 (business); the bot's H 30
    assert total["resolution_seconds"] == {
        "count": 2,
        "median": 39350.0,
        "p90": 69950.0,  # 1100 + 0.9 * (77600 - 1100)
        "mean": 39350.0,
    }
    assert total["resolution_business_seconds"] == {
        "count": 2,
        "median": 8750.0,
        "p90": 14870.0,  # 1100 + 0.9 * (16400 - 1100)
        "mean": 8750.0,
    }
    assert total["bot_resolution_seconds"]["median"] == 30.0
    assert total["sla"] == {
        "first_response_met_pct": 50.0,  # F met, G missed
        "next_response_met_pct": 100.0,  # F
        "resolution_met_pct": 50.0,  # G met, F missed; H (the bot's) had no deadline
        "breaches": 2,  # G's first response, F's resolution
    }
    assert total["bot_helped_rate"] == 0.5  # H yes, F no

    _, by_agent = await api(
        client, "GET", "/api/v1/reports/summary", boss, params={**window, "group_by": "agent"}
    )
    groups = {group["key"]: group for group in by_agent["groups"]}
    assert groups[sara.id]["sla"] == {
        "first_response_met_pct": 100.0,
        "next_response_met_pct": 100.0,
        "resolution_met_pct": 0.0,
        "breaches": 1,
    }
    assert groups[sara.id]["first_response_business_seconds"]["median"] == 500.0
    assert groups[reza.id]["sla"] == {
        "first_response_met_pct": 0.0,
        "next_response_met_pct": None,
        "resolution_met_pct": 100.0,
        "breaches": 0,  # G's breach fired while nobody had claimed it
    }
    assert groups[None]["sla"]["breaches"] == 1
    assert groups[None]["bot_helped_rate"] == 0.5

    response = await client.get(
        "/api/v1/reports/summary", headers=boss.headers, params={**window, "format": "csv"}
    )
    rows = list(csv.DictReader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows[0]["first_response_business_seconds_median"] == "750.0"
    assert rows[0]["sla_next_response_met_pct"] == "100.0"
    assert rows[0]["sla_breaches"] == "2"
    assert rows[0]["bot_helped_rate"] == "0.5"


async def test_business_time_follows_the_default_calendar_without_a_policy(
    settings: Settings, start_app: Any, clock: Clock
) -> None:
    settings = settings.replace(
        "service", calendars={"office": OFFICE}, default_calendar="office", policies={}
    )
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=ScriptedBot())
    context.clock = clock
    sara = await make_agent(context, "Sara", presence="away")
    day = Day(context, web, clock)
    # handed off at 10000 (11:46:40), answered at 14600 (13:03:20): 4600 s of wall
    # clock, 800 before lunch and 200 after it of business time; no policy, no deadline
    thread = await day.say(10000, "a", "person")
    await day.claim(14000, sara, thread)
    await day.reply(14600, sara, thread)
    _, body = await api(
        client,
        "GET",
        "/api/v1/reports/summary",
        sara,
        params={"from": "2030-01-07", "to": "2030-01-08"},
    )
    total = body["total"]
    assert total["first_response_seconds"]["median"] == 4600.0
    assert total["first_response_business_seconds"] == {
        "count": 1,
        "median": 1000.0,
        "p90": 1000.0,
        "mean": 1000.0,
    }
    assert total["sla"]["first_response_met_pct"] is None


async def test_a_reopen_after_the_window_is_a_new_thread_and_fcr_holds(
    settings: Settings, start_app: Any, clock: Clock
) -> None:
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=ScriptedBot())
    sara = await make_agent(context, "Sara", presence="away")
    day = Day(context, web, clock)
    first = await day.say(0, "a", "person")
    await day.claim(10, sara, first)
    await day.reply(20, sara, first)
    await day.resolve(30, sara, first)
    window = settings.threads.reopen_window_minutes * 60
    assert await day.say(30 + window + 1, "a", "person") != first
    status, body = await api(
        client,
        "GET",
        "/api/v1/reports/summary",
        sara,
        params={"from": "2030-01-01", "to": "2030-03-01"},
    )
    assert status == 200
    assert body["total"]["fcr_rate"] == 1.0 and body["total"]["reopen_rate"] == 0.0
    assert body["total"]["threads_created"] == 0  # creation belongs to no agent


async def test_an_auto_reply_is_no_customer_message_for_response_times_reopens_or_fcr(
    settings: Settings, start_app: Any, clock: Clock
) -> None:
    """An out-of-office answer waits for nobody: the next response is measured from the
    customer's own message after it, and one after the resolution reopens nothing (so
    the reopen rate, and FCR with it, keep the agent's resolution)."""
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=ScriptedBot())
    sara = await make_agent(context, "Sara", presence="away")
    day = Day(context, web, clock)
    thread = await day.say(0, "a", "person")
    await day.claim(10, sara, thread)
    await day.reply(20, sara, thread)

    async def away(seconds: float) -> None:
        at = clock.at(seconds)
        result = await web.push("I am away", sender="a", received_at=at, automated=True)
        assert result.thread_id == thread

    await away(100)
    await day.say(200, "a", "one more thing")
    await day.reply(300, sara, thread)
    await day.resolve(310, sara, thread)
    await away(400)
    status, body = await api(
        client,
        "GET",
        "/api/v1/reports/summary",
        sara,
        params={"from": "2030-01-01", "to": "2030-03-01"},
    )
    assert status == 200
    assert body["total"]["next_response_seconds"]["median"] == 100.0
    assert body["total"]["reopen_rate"] == 0.0


async def test_a_bot_yes_then_another_question_is_no_reopen_of_the_agents_work(
    settings: Settings, start_app: Any, clock: Clock
) -> None:
    """Reopen and FCR rates are about each thread's first resolution by an agent: a
    customer who says "yes, thanks" to the bot and asks something else reopens the
    bot's resolution (containment), and the agent who then serves them is measured."""
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=ScriptedBot())
    sara = await make_agent(context, "Sara", presence="away")
    reza = await make_agent(context, "Reza", presence="away")
    boss = await make_agent(context, "Boss", is_admin=True, presence="away")
    day = Day(context, web, clock)
    # X: the bot's answer helped ("thanks" closes it), a second question seconds later
    # reopens it, then a person: Sara replies twice and resolves.
    x = await day.say(0, "x", "how do I pay?")
    await day.say(10, "x", "thanks")
    assert await day.say(20, "x", "and the shipping cost?") == x
    await day.say(30, "x", "person")
    await day.claim(40, sara, x)
    await day.reply(50, sara, x)
    await day.reply(60, sara, x)
    await day.resolve(70, sara, x)
    # Y: Reza, one reply, resolved for good. Z: Reza, one reply, but the customer
    # comes back within the window: the agents' resolution reopened.
    y = await day.say(100, "y", "person")
    await day.claim(110, reza, y)
    await day.reply(120, reza, y)
    await day.resolve(130, reza, y)
    z = await day.say(200, "z", "person")
    await day.claim(210, reza, z)
    await day.reply(220, reza, z)
    await day.resolve(230, reza, z)
    assert await day.say(240, "z", "it broke again") == z
    await day.reply(250, reza, z)
    await day.resolve(260, reza, z)
    clock.at(1000)
    _, body = await api(
        client, "GET", "/api/v1/reports/summary", boss, params={**WINDOW, "group_by": "agent"}
    )
    total = body["total"]
    assert total["reopen_rate"] == round(1 / 3, 4)  # Z of X, Y, Z (not X's bot "yes")
    assert total["fcr_rate"] == round(1 / 3, 4)  # Y of X, Y, Z (X took two replies)
    assert total["bot_containment_rate"] == 0.0  # X's "yes" did not hold
    groups = {group["key"]: group for group in body["groups"]}
    assert (groups[sara.id]["fcr_rate"], groups[sara.id]["reopen_rate"]) == (0.0, 0.0)
    assert (groups[reza.id]["fcr_rate"], groups[reza.id]["reopen_rate"]) == (0.5, 0.5)
    # The CSV and the console's Reports page read these same figures.
    csv = await client.get(
        "/api/v1/reports/summary",
        params={**WINDOW, "format": "csv"},
        headers=boss.headers,
    )
    rows = (await csv.text()).lstrip("\ufeff").splitlines()
    header, first = rows[0].split(","), rows[1].split(",")
    assert first[header.index("reopen_rate")] == str(round(1 / 3, 4))


async def test_groups_by_agent_day_and_week(
    settings: Settings, start_app: Any, clock: Clock
) -> None:
    client, _, agents, _ = await _scripted_day(settings, start_app, clock)
    boss = agents["boss"]
    _, by_agent = await api(
        client, "GET", "/api/v1/reports/summary", boss, params={**WINDOW, "group_by": "agent"}
    )
    groups = {group["key"]: group for group in by_agent["groups"]}
    assert set(groups) == {agents["sara"].id, agents["reza"].id, None}
    sara = groups[agents["sara"].id]
    assert sara["label"] == "Sara"
    assert sara["first_response_seconds"]["count"] == 2
    assert sara["fcr_rate"] == 0.0 and sara["reopen_rate"] == 0.5
    assert sara["csat"] == {
        "responses": 2,
        "satisfied_pct": 50.0,
        "mean": 3.5,
        "sent": 2,
        "response_rate": 1.0,
    }
    assert groups[agents["reza"].id]["fcr_rate"] == 1.0
    nobody = groups[None]  # creations and the bot's resolution
    assert nobody["threads_created"] == 5 and nobody["bot_containment_rate"] == 1.0
    for group_by, key in (("day", "2030-01-07"), ("week", "2030-01-07"), ("channel", "web")):
        _, body = await api(
            client, "GET", "/api/v1/reports/summary", boss, params={**WINDOW, "group_by": group_by}
        )
        assert [g["key"] for g in body["groups"]] == [key], group_by
        assert body["groups"][0]["threads_created"] == 5
    _, by_tier = await api(
        client, "GET", "/api/v1/reports/summary", boss, params={**WINDOW, "group_by": "tier"}
    )
    assert [g["key"] for g in by_tier["groups"]] == [0, 1]
    _, by_language = await api(
        client, "GET", "/api/v1/reports/summary", boss, params={**WINDOW, "group_by": "language"}
    )
    assert [g["key"] for g in by_language["groups"]] == ["fa"]


async def test_an_agent_sees_only_their_own_figures(
    settings: Settings, start_app: Any, clock: Clock
) -> None:
    client, _, agents, _ = await _scripted_day(settings, start_app, clock)
    _, own = await api(client, "GET", "/api/v1/reports/summary", agents["reza"], params=WINDOW)
    assert own["total"]["first_response_seconds"]["count"] == 1
    assert own["total"]["threads_resolved"] == 1
    assert own["total"]["csat"]["responses"] == 1
    _, grouped = await api(
        client,
        "GET",
        "/api/v1/reports/summary",
        agents["reza"],
        params={**WINDOW, "group_by": "agent"},
    )
    assert [g["key"] for g in grouped["groups"]] == [agents["reza"].id]
    _, everything = await api(
        client, "GET", "/api/v1/reports/summary", agents["boss"], params=WINDOW
    )
    assert everything["total"]["first_response_seconds"]["count"] == 3


async def test_summary_json_and_csv_follow_the_document(
    settings: Settings, start_app: Any, clock: Clock
) -> None:
    client, _, agents, _ = await _scripted_day(settings, start_app, clock)
    doc = await (await client.get("/api/v1/openapi.json")).json()
    call = CheckedApi(client, doc)
    boss = agents["boss"]
    for group_by in ("agent", "tier", "channel", "language", "day", "week"):
        await call(
            "GET",
            "/api/v1/reports/summary",
            boss,
            expect=200,
            params={**WINDOW, "group_by": group_by},
        )
    await call("GET", "/api/v1/reports/summary", boss, expect=200)  # default window
    for bad in (
        {"group_by": "mood"},
        {"from": "yesterday"},
        {"format": "xls"},
        {"from": "2030-01-08", "to": "2030-01-07"},
    ):
        await call("GET", "/api/v1/reports/summary", boss, expect=422, params=bad)
    await call("GET", "/api/v1/reports/summary", expect=401)

    response = await client.get(
        "/api/v1/reports/summary",
        headers=boss.headers,
        params={**WINDOW, "group_by": "agent", "format": "csv"},
    )
    assert response.status == 200 and response.content_type == "text/csv"
    raw = await response.read()
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert [row["key"] for row in rows] == [
        "total",
        str(agents["sara"].id),
        str(agents["reza"].id),
        "",
    ]
    assert rows[0]["first_response_seconds_median"] == "240.0"
    assert rows[0]["csat_satisfied_pct"] == "66.7"
    assert rows[0]["sla_first_response_met_pct"] == ""
    assert not schema_errors(json.loads(json.dumps({"x": 1})), {"type": "object"}, doc)


def test_csv_cells_a_spreadsheet_would_run_are_written_as_text() -> None:
    # a language an integration sent, a label an admin wrote
    groups = tuple(
        Group(key, label, Figures(threads_created=1))
        for key, label in (
            ("=1+1", '=HYPERLINK("http://evil.test","x")'),
            ("@SUM(1)", "+cmd|' /C calc'!A0"),
            ("fa", "-2+3"),
        )
    )
    now = utcnow()
    report = Summary(now, now, "language", Figures(threads_created=3), groups, Backlog(), now)
    rows = list(csv.DictReader(io.StringIO(summary_csv(report).lstrip("\ufeff"))))
    cells = [(row["key"], row["label"]) for row in rows[1:]]
    assert cells == [
        ("'=1+1", '\'=HYPERLINK("http://evil.test","x")'),
        ("'@SUM(1)", "'+cmd|' /C calc'!A0"),
        ("fa", "'-2+3"),
    ]
    assert rows[0]["threads_created"] == "3"  # figures stay numbers


async def test_histograms_are_observed_when_the_events_commit(
    settings: Settings, start_app: Any, clock: Clock
) -> None:
    _, context, _, _ = await _scripted_day(settings, start_app, clock)
    registry = context.metrics.registry
    labels = {"channel": "web", "tier": "1"}
    assert registry.get_sample_value("pasokh_first_response_seconds_count", labels) == 3
    assert registry.get_sample_value("pasokh_first_response_seconds_sum", labels) == 740
    # by who resolved: A 800, B 400 + 700, C 300 by agents; D 30 by the bot
    agents = {"by": "agent"}
    assert registry.get_sample_value("pasokh_resolution_seconds_count", agents) == 4
    assert registry.get_sample_value("pasokh_resolution_seconds_sum", agents) == 2200
    assert registry.get_sample_value("pasokh_resolution_seconds_count", {"by": "bot"}) == 1
    assert registry.get_sample_value("pasokh_resolution_seconds_sum", {"by": "bot"}) == 30


@pytest.mark.slow
async def test_report_command(
    settings: Settings, start_app: Any, clock: Clock, database_url: str
) -> None:
    await _scripted_day(settings, start_app, clock)
    env = {"PASOKH_DATABASE__URL": database_url}
    data = ["--data-dir", str(settings.data_dir)]
    # In a thread: the app under test shares this event loop and must keep running (its
    # SLA scheduler may hold SQLite's write lock for a moment while the command starts).
    shown = await asyncio.to_thread(
        pasokh,
        "report",
        "--from",
        "2030-01-07",
        "--to",
        "2030-01-08",
        "--group-by",
        "agent",
        *data,
        env=env,
    )
    assert shown.returncode == 0, shown.stderr
    body = json.loads(shown.stdout)
    assert body["total"]["first_response_seconds"]["median"] == 240.0
    assert body["total"]["first_response_business_seconds"]["count"] == 0  # no calendar
    assert body["total"]["bot_helped_rate"] == 1.0
    assert body["total"]["sla"]["next_response_met_pct"] is None
    assert len(body["groups"]) == 3
    as_csv = await asyncio.to_thread(
        pasokh,
        "report",
        "--from",
        "2030-01-07",
        "--to",
        "2030-01-08",
        "--format",
        "csv",
        *data,
        env=env,
    )
    assert as_csv.returncode == 0, as_csv.stderr
    assert as_csv.stdout.startswith("\ufeffkey,label,threads_created")
    header = as_csv.stdout.splitlines()[0].split(",")
    for column in (
        "first_response_business_seconds_median",
        "next_response_business_seconds_p90",
        "resolution_business_seconds_mean",
        "bot_helped_rate",
        "sla_first_response_met_pct",
        "sla_next_response_met_pct",
        "sla_resolution_met_pct",
        "sla_breaches",
    ):
        assert column in header, column
    wrong = await asyncio.to_thread(pasokh, "report", "--from", "last week", *data, env=env)
    assert wrong.returncode != 0 and "ISO 8601" in wrong.stderr
