"""The team's status the widget shows ("online" / "away until ..."): the core's
`team_status` from the web chat's calendar and agent presence, served by the public,
origin-checked, rate-limited `GET /api/v1/webchat/team-status`."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from config.settings import ServiceSettings, Settings
from router.agents.queue import set_presence
from router.context import AppContext
from router.core.texts import ROUTER_TEXTS
from router.service.calendars import calendar_to_json, iranian_week
from router.service.dates import render_instant
from router.storage.models import Thread, ThreadStatus
from tests.conftest import AppFactory
from tests.console_support import add_agent
from tests.test_service_expectations import (
    SATURDAY_IN_PERSIAN,
    SATURDAY_OPENING,
    TEHRAN,
    THURSDAY_AFTERNOON,
)
from tests.webchat_fakes import next_frame

STATUS = "/api/v1/webchat/team-status"
SUNDAY_MORNING = datetime(2027, 1, 10, 10, 0, tzinfo=TEHRAN)


async def served(
    settings: Settings, start_app: AppFactory, *, calendar: bool = True, per_minute: int = 30
) -> tuple[TestClient[Any, Any], AppContext]:
    service = ServiceSettings(
        calendars={"tehran": calendar_to_json(iranian_week())},
        default_calendar="tehran" if calendar else "",
    )
    configured = dataclasses.replace(
        settings.replace("webchat", enabled=True, rate_limit_per_minute=per_minute).replace(
            "email", enabled=False
        ),
        service=service,
    )
    client, context = await start_app(configured)
    context.clock = lambda: THURSDAY_AFTERNOON.astimezone(UTC)
    return client, context


async def status_of(client: TestClient[Any, Any], lang: str, **headers: str) -> dict[str, Any]:
    response = await client.get(STATUS, params={"lang": lang}, headers=headers)
    assert response.status == 200, await response.text()
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = await response.json()
    return body


async def test_closed_the_team_is_away_until_the_opening_written_the_visitors_way(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context = await served(settings, start_app)
    agent = await add_agent(context, "sara@example.com", tier=1)
    await set_presence(context, agent, "online")  # online, but the week has closed
    persian = await status_of(client, "fa")
    assert persian == {
        "online": False,
        "next_opening": SATURDAY_OPENING.isoformat(),
        "text": ROUTER_TEXTS.text("team_away_until", "fa", when=SATURDAY_IN_PERSIAN),
    }
    english = await status_of(client, "en")
    assert english["text"] == ROUTER_TEXTS.text(
        "team_away_until", "en", when="Saturday 9 January 2027 at 09:00"
    )
    # A language the widget does not speak gets English, not a refusal.
    assert (await status_of(client, "xx"))["text"] == english["text"]
    arabic = await status_of(client, "ar")
    when_ar = render_instant(SATURDAY_OPENING, language="ar", zone=TEHRAN)
    assert arabic["text"] == ROUTER_TEXTS.text("team_away_until", "ar", when=when_ar)

    # Open, with the agent online: online, no date.
    context.clock = lambda: SUNDAY_MORNING.astimezone(UTC)
    assert await status_of(client, "fa") == {
        "online": True,
        "next_opening": None,
        "text": ROUTER_TEXTS.text("team_online", "fa"),
    }


async def test_no_agent_or_no_calendar_and_nobody_online_promises_no_time(
    settings: Settings, start_app: AppFactory
) -> None:
    client, _ = await served(settings, start_app)
    assert await status_of(client, "en") == {
        "online": False,
        "next_opening": None,
        "text": ROUTER_TEXTS.text("team_away", "en"),
    }
    without_hours, other = await served(settings, start_app, calendar=False)
    await add_agent(other, "sara@example.com", tier=1)  # offline
    assert (await status_of(without_hours, "fa"))["text"] == ROUTER_TEXTS.text("team_away", "fa")


async def test_a_foreign_origin_is_refused_and_floods_are_limited(
    settings: Settings, start_app: AppFactory
) -> None:
    client, _ = await served(
        dataclasses.replace(
            settings,
            webchat=dataclasses.replace(settings.webchat, allowed_origins=["https://shop.example"]),
        ),
        start_app,
        per_minute=2,
    )
    refused = await client.get(STATUS, headers={"Origin": "https://evil.example"})
    assert refused.status == 403
    allowed = await status_of(client, "en", Origin="https://shop.example")
    assert allowed["online"] is False
    response = await client.get(STATUS, headers={"Origin": "https://shop.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    limited = await client.get(STATUS, headers={"Origin": "https://shop.example"})
    assert limited.status == 429 and "Retry-After" in limited.headers


async def _chatting_visitor(client: TestClient[Any, Any], context: AppContext) -> tuple[str, int]:
    """A visitor who wrote once in the widget: their token and their open thread."""
    response = await client.post("/api/v1/webchat/sessions", json={})
    visitor_token: str = (await response.json())["visitor_token"]
    ws = await client.ws_connect("/ws/webchat", params={"token": visitor_token})
    try:
        assert (await next_frame(ws))["type"] == "ready"
        await ws.send_str(json.dumps({"type": "message", "client_id": "c1", "text": "سلام"}))
        await next_frame(ws, "ack")
    finally:
        await ws.close()
    async with context.sessions() as session:
        thread = await session.scalar(select(Thread))
        assert thread is not None
        return visitor_token, thread.id


async def test_a_visitor_whose_thread_is_with_an_online_agent_of_another_tier_sees_online(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context = await served(settings, start_app)
    context.clock = lambda: SUNDAY_MORNING.astimezone(UTC)  # open hours
    await add_agent(context, "ali@example.com", tier=1)  # tier 1: nobody online
    sara = await add_agent(context, "sara@example.com", tier=2)
    await set_presence(context, sara, "online")
    token, thread_id = await _chatting_visitor(client, context)
    bearer = {"Authorization": f"Bearer {token}"}
    # Open, but nobody of tier 1 is online: away until the day's hours are over.
    away = await status_of(client, "ar")
    assert away["online"] is False
    # Still with the bot: a new thread's people (tier 1) count.
    assert await status_of(client, "ar", **bearer) == away

    # Escalated to tier 2 and waiting there: tier 2 has someone online.
    async with context.sessions() as session, session.begin():
        thread = await session.get(Thread, thread_id)
        assert thread is not None
        thread.tier, thread.status = 2, ThreadStatus.QUEUED
    assert await status_of(client, "ar", **bearer) == {
        "online": True,
        "next_opening": None,
        "text": ROUTER_TEXTS.text("team_online", "ar"),
    }
    # Anybody else (no token, or a forged one) is told about tier 1, as before.
    assert await status_of(client, "ar") == away
    assert await status_of(client, "ar", Authorization="Bearer forged") == away

    # Sara has it, and chats after the week has closed: she is right there.
    async with context.sessions() as session, session.begin():
        thread = await session.get(Thread, thread_id)
        assert thread is not None
        thread.status, thread.assignee_id = ThreadStatus.ASSIGNED, sara
    context.clock = lambda: THURSDAY_AFTERNOON.astimezone(UTC)
    assert (await status_of(client, "fa", **bearer))["online"] is True
    assert (await status_of(client, "fa"))["text"] == ROUTER_TEXTS.text(
        "team_away_until", "fa", when=SATURDAY_IN_PERSIAN
    )
    # Signed out: her tier (2), with nobody online, is away until its next opening.
    await set_presence(context, sara, "offline")
    assert (await status_of(client, "fa", **bearer))["text"] == ROUTER_TEXTS.text(
        "team_away_until", "fa", when=SATURDAY_IN_PERSIAN
    )
