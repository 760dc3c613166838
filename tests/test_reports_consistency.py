"""What a manager reads agrees with what happened, whichever surface shows it: bot
containment after a customer came back, resolution times by who resolved, merges in
the counts, surveys sent beside the answers, the queue's live medians beside the
report, and the dates a report is asked for (docs/reports.md, docs/agent-api.md)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from config.settings import Settings
from router.agents import queue
from router.context import AppContext
from router.http import reports_api
from router.service.reports.summary import ReportError, parse_window
from router.storage.models import SurveyAnswer
from tests.agent_support import AgentUser, api, make_agent
from tests.report_support import MONDAY_9AM, Clock, install_clock
from tests.support import FakeAdapter
from tests.test_cli import pasokh
from tests.test_reports import Day, ScriptedBot, _customer_of

WINDOW = {"from": "2030-01-07", "to": "2030-01-08"}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return install_clock(monkeypatch, MONDAY_9AM)


async def _team(
    settings: Settings, start_app: Any, clock: Clock
) -> tuple[Any, AppContext, Day, dict[str, AgentUser]]:
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=ScriptedBot())
    agents = {
        "sara": await make_agent(context, "Sara", presence="away"),
        "bahar": await make_agent(context, "Bahar", tier=2, presence="away"),
        "boss": await make_agent(context, "Boss", is_admin=True, presence="away"),
    }
    return client, context, Day(context, web, clock), agents


async def _total(client: Any, boss: AgentUser, **params: str) -> dict[str, Any]:
    status, body = await api(
        client, "GET", "/api/v1/reports/summary", boss, params={**WINDOW, **params}
    )
    assert status == 200, body
    return body  # type: ignore[no-any-return]


async def test_a_bot_resolution_the_customer_reopened_to_a_person_is_not_contained(
    settings: Settings, start_app: Any, clock: Clock
) -> None:
    client, _, day, agents = await _team(settings, start_app, clock)
    sara = agents["sara"]
    # d: the bot's answer helped, and the customer stayed away: contained
    await day.say(0, "d", "how do I pay?")
    await day.say(30, "d", "thanks")
    # c5: "yes, thanks", then "actually it did not work, I need a human": the same
    # thread reopens, the bot hands it off, Sara answers and resolves it
    c5 = await day.say(100, "c5", "what is your return policy?")
    await day.say(130, "c5", "thanks")
    assert await day.say(131, "c5", "person") == c5
    await day.claim(200, sara, c5)
    await day.reply(260, sara, c5)
    await day.resolve(300, sara, c5)

    total = (await _total(client, agents["boss"]))["total"]
    assert total["bot_containment_rate"] == 0.5  # d of d and c5
    # c5's "yes" reopened is the bot's (containment), not an agent's ticket reopening:
    # Sara's resolution, the thread's first by an agent, held after one reply
    assert total["reopen_rate"] == 0.0
    assert total["fcr_rate"] == 1.0
    assert total["threads_resolved"] == 2


async def test_queue_stats_and_the_report_agree_after_escalation_take_over_and_merge(
    settings: Settings, start_app: Any, clock: Clock
) -> None:
    client, _context, day, agents = await _team(settings, start_app, clock)
    sara, bahar, boss = agents["sara"], agents["bahar"], agents["boss"]
    # e1: handed off at 0, escalated to tier 2 at 600 (its queue time restarts there),
    # answered at 1800: waited 1800 s since the hand-off, as the report defines it.
    # m1 waits in the queue from 0; m2 is handed off at 900 and answered at 1200 (300 s).
    # t: the bot's thread (1200) taken over at 1300 without a hand-off, answered at
    # 1400 (200 s since its creation). At 1500 m1 and m2 turn out to be one person:
    # m1's queued thread closes as merged into m2's.
    e1 = await day.say(0, "e1", "person")
    m1 = await day.web.push("person", sender="m1", received_at=clock.at(0), language="fa")
    await day.claim(300, sara, e1)
    clock.at(600)
    await queue.escalate(day.context, sara.actor, e1, 2, "needs a specialist")
    m2 = await day.web.push("person", sender="m2", received_at=clock.at(900), language="fa")
    await day.claim(1000, sara, m2.thread_id)
    await day.reply(1200, sara, m2.thread_id)
    t = await day.say(1200, "t", "how do I pay?")
    await day.claim(1300, sara, t)
    await day.reply(1400, sara, t)
    clock.at(1500)
    status, merged = await api(
        client,
        "POST",
        f"/api/v1/customers/{m1.customer_id}/merge",
        boss,
        json={"other": m2.customer_id},
    )
    assert status == 200, merged
    await day.claim(1700, bahar, e1)
    await day.reply(1800, bahar, e1)
    await day.resolve(2000, bahar, e1)
    await day.resolve(2100, sara, m2.thread_id)
    await day.resolve(2400, sara, t)
    clock.at(3000)

    total = (await _total(client, boss))["total"]
    # every conversation of the day is closed: created − resolved balances
    assert total["threads_created"] == total["threads_resolved"] == 4
    assert total["threads_merged"] == 1
    # first responses: e1 1800, m2 300, t 200
    assert total["first_response_seconds"]["count"] == 3
    assert total["first_response_seconds"]["median"] == 300.0
    # resolutions by agents: e1 2000, m2 1200, t 1200; the merge measures nothing
    assert total["resolution_seconds"]["count"] == 3
    assert total["resolution_seconds"]["median"] == 1200.0
    assert total["reopen_rate"] == 0.0 and total["bot_containment_rate"] == 0.0
    assert total["sla"]["resolution_met_pct"] is None

    status, stats = await api(client, "GET", "/api/v1/queue/stats", sara)
    assert status == 200, stats
    assert stats["last_24h"] == {
        "first_responses": total["first_response_seconds"]["count"],
        "median_first_response_seconds": total["first_response_seconds"]["median"],
        "resolved": total["threads_resolved"],
        "median_resolution_seconds": total["resolution_seconds"]["median"],
    }


async def test_surveys_sent_and_the_response_rate(
    settings: Settings, start_app: Any, clock: Clock
) -> None:
    client, context, day, agents = await _team(settings, start_app, clock)
    thread = await day.say(0, "a", "person")
    customer = await _customer_of(context, thread)
    sara = agents["sara"]
    day_before = MONDAY_9AM - timedelta(days=1)
    # (sent, answered, score): three sent in the window, one answered; one sent the day
    # before and answered in the window (an answer of the window, not a survey of it)
    surveys = [
        ("csat", MONDAY_9AM, MONDAY_9AM + timedelta(hours=1), 5),
        ("csat", MONDAY_9AM, None, None),
        ("csat", MONDAY_9AM + timedelta(hours=2), None, None),
        ("csat", day_before, MONDAY_9AM + timedelta(hours=3), 2),
        # NPS by the same rule, counted apart: two sent in the window, one answered;
        # one sent the day before and answered in the window
        ("nps", MONDAY_9AM, MONDAY_9AM + timedelta(hours=1), 10),
        ("nps", MONDAY_9AM + timedelta(hours=1), None, None),
        ("nps", day_before, MONDAY_9AM + timedelta(hours=2), 3),
    ]
    async with context.sessions() as session, session.begin():
        for index, (kind, sent, answered, score) in enumerate(surveys):
            session.add(
                SurveyAnswer(
                    token_hash=f"survey-{index}",
                    thread_id=thread,
                    customer_id=customer,
                    kind=kind,
                    resolution=index + 1,
                    score=score,
                    agent_id=sara.id,
                    tier=1,
                    channel="web",
                    language="fa",
                    created_at=sent,
                    answered_at=answered,
                    expires_at=sent + timedelta(days=3),
                )
            )
    clock.at(4 * 3600)
    body = await _total(client, agents["boss"])
    assert body["total"]["csat"] == {
        "responses": 2,
        "satisfied_pct": 50.0,
        "mean": 3.5,
        "sent": 3,
        "response_rate": round(1 / 3, 4),
    }
    assert body["total"]["nps"] == {"responses": 2, "score": 0.0, "sent": 2, "response_rate": 0.5}
    by_day = await _total(client, agents["boss"], group_by="day", **{"from": "2030-01-06"})
    assert [(g["key"], g["csat"]["sent"], g["nps"]["sent"]) for g in by_day["groups"]] == [
        ("2030-01-06", 1, 1),
        ("2030-01-07", 3, 2),
    ]
    response = await client.get(
        "/api/v1/reports/summary",
        headers=agents["boss"].headers,
        params={**WINDOW, "format": "csv"},
    )
    header, total = (await response.text()).lstrip("\ufeff").splitlines()[:2]
    row = dict(zip(header.split(","), total.split(","), strict=True))
    assert (row["csat_sent"], row["csat_response_rate"]) == ("3", "0.3333")
    assert (row["nps_sent"], row["nps_response_rate"]) == ("2", "0.5")


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "expected"),
    [
        ("2026-11-01", "2026-12-01", ("2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00")),
        (
            "2026-11-01T00:00:00+03:30",
            None,
            ("2026-10-31T20:30:00+00:00", "2030-01-07T09:00:00+00:00"),
        ),
        # the digits the rest of the product folds: Persian and Arabic-Indic
        ("۲۰۲۶-۱۱-۰۱", "٢٠٢٦-١٢-٠١", ("2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00")),
        ("1970-01-01", "9999-12-31", ("1970-01-01T00:00:00+00:00", "9999-12-31T00:00:00+00:00")),
        (None, "1970-01-03", ("1969-12-27T00:00:00+00:00", "1970-01-03T00:00:00+00:00")),
    ],
)
def test_a_window_is_read_from_gregorian_dates_in_any_digits(
    raw_from: str | None, raw_to: str | None, expected: tuple[str, str]
) -> None:
    start, end = parse_window(raw_from, raw_to, now=MONDAY_9AM)
    assert (start.isoformat(), end.isoformat()) == expected


@pytest.mark.parametrize(
    ("raw_from", "raw_to", "says"),
    [
        ("0001-01-01T00:00:00+03:30", None, "Gregorian"),
        ("0001-01-01T00:00:00+14:00", "2026-12-01", "Gregorian"),
        (None, "0001-01-03", "Gregorian"),
        ("1400-09-01", None, "Solar Hijri"),  # a Persian manager's 1400/9/1
        ("۱۴۰۵-۰۹-۰۹", None, "Solar Hijri"),
        (None, "9999-12-31T23:59:59-03:00", "after the year 9999"),
        ("2026-02-30", None, "no such day"),
        ("garbage", None, "from 'garbage' is not an ISO 8601"),
        (" 2026-11-01", None, "ISO 8601"),
        ("20261101", None, "ISO 8601"),
        ("", None, "ISO 8601"),  # absent is the default; empty is no date
    ],
)
def test_a_window_refuses_what_is_no_gregorian_date_from_1970(
    raw_from: str | None, raw_to: str | None, says: str
) -> None:
    with pytest.raises(ReportError, match=says):
        parse_window(raw_from, raw_to, now=datetime(2030, 1, 7, tzinfo=UTC))


async def test_the_api_answers_json_for_far_dates_and_for_its_own_faults(
    settings: Settings, start_app: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _, _, agents = await _team(settings, start_app, clock)
    boss = agents["boss"]
    for params, says in (
        ({"from": "0001-01-01T00:00:00+03:30"}, "dates are Gregorian, from 1970"),
        ({"to": "9999-12-31T23:59:59-03:00"}, "after the year 9999"),
        ({"to": "0001-01-03"}, "dates are Gregorian, from 1970"),
        ({"from": "1405-09-09"}, "Solar Hijri"),
    ):
        response = await client.get("/api/v1/reports/summary", headers=boss.headers, params=params)
        assert response.status == 422, params
        assert response.content_type == "application/json"
        assert says in (await response.json())["error"]["message"]

    # a fault of ours under /api/ is a JSON 500, as every other API error is JSON
    async def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(reports_api, "summary", broken)
    response = await client.get("/api/v1/reports/summary", headers=boss.headers)
    assert response.status == 500
    assert response.content_type == "application/json"
    assert (await response.json())["error"]["status"] == 500


@pytest.mark.slow
async def test_the_report_command_refuses_far_and_solar_hijri_dates_cleanly(
    settings: Settings, database_url: str
) -> None:
    env = {"PASOKH_DATABASE__URL": database_url}
    data = ["--data-dir", str(settings.data_dir)]
    for value in ("0001-01-01T00:00:00+03:30", "1400-09-01"):
        shown = await asyncio.to_thread(pasokh, "report", "--from", value, *data, env=env)
        assert shown.returncode != 0
        assert "Traceback" not in shown.stderr
        assert "dates are Gregorian, from 1970" in shown.stderr, shown.stderr
