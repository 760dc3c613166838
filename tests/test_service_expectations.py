"""What a customer handed to people is told about when a person will answer: the
`ServiceHours` responder around the bot, with an injected clock, and end to end through
the API channel with a calendar configured in the settings."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot.texts import DEFAULT_TEXTS
from config.settings import ServiceSettings, Settings
from router.agents.queue import set_presence
from router.core.messages import AuthorKind
from router.core.responder import (
    Answer,
    Decision,
    HandOff,
    MessageView,
    Staffing,
    ThreadContext,
)
from router.core.texts import ROUTER_TEXTS
from router.service.calendars import calendar_to_json, iranian_week
from router.service.dates import render_instant
from router.service.expectations import ServiceHours
from tests.conftest import AppFactory
from tests.console_support import add_agent
from tests.test_queue_honesty import ASK_EN, ASK_FA, customers

TEHRAN = ZoneInfo("Asia/Tehran")
# Thursday 2027-01-07 14:00 in Tehran: the Iranian week's short Thursday has closed.
THURSDAY_AFTERNOON = datetime(2027, 1, 7, 14, 0, tzinfo=TEHRAN)
SATURDAY_OPENING = datetime(2027, 1, 9, 9, 0, tzinfo=TEHRAN)
# Saturday 2027-01-09 is 19 Dey 1405.
SATURDAY_IN_PERSIAN = "شنبه ۱۹ دی ۱۴۰۵، ساعت ۹:۰۰"
BOT_TEXT = "a colleague will reply soon"


class HandsOff:
    """A bot that hands every message to people with its usual text."""

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        return HandOff(reason="asked for a person", text=BOT_TEXT, language=new.language)


class Answers:
    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        return Answer("an answer", language=new.language)


def context(language: str, *, online: int, agents: int = 1) -> ThreadContext:
    return ThreadContext(
        thread_id=1,
        customer_id=1,
        status="bot",
        tier=0,
        channel="api",
        recent=(),
        language=language,
        staffing=Staffing(agents=agents, online=online),
        calendar=iranian_week(),
    )


def message(language: str) -> MessageView:
    return MessageView(1, AuthorKind.CUSTOMER, "help", "api", THURSDAY_AFTERNOON, language)


def responder(now: datetime, **options: str) -> ServiceHours:
    return ServiceHours(HandsOff(), clock=lambda: now, **options)  # type: ignore[arg-type]


async def test_closed_on_thursday_afternoon_names_saturday_in_solar_hijri_and_persian_digits() -> (
    None
):
    decision = await responder(THURSDAY_AFTERNOON).respond(context("fa", online=1), message("fa"))
    assert isinstance(decision, HandOff)
    assert decision.text == ROUTER_TEXTS.text("handoff_opening", "fa", when=SATURDAY_IN_PERSIAN)
    assert "۱۴۰۵" in (decision.text or "") and "1405" not in (decision.text or "")


async def test_english_and_arabic_name_the_same_opening_their_way() -> None:
    clock = responder(THURSDAY_AFTERNOON)
    english = await clock.respond(context("en", online=0), message("en"))
    assert isinstance(english, HandOff)
    assert english.text == ROUTER_TEXTS.text(
        "handoff_opening", "en", when="Saturday 9 January 2027 at 09:00"
    )
    umm_al_qura = responder(THURSDAY_AFTERNOON, arabic_calendar="umm_al_qura")
    arabic = await umm_al_qura.respond(context("ar", online=0), message("ar"))
    assert isinstance(arabic, HandOff)
    when = render_instant(
        SATURDAY_OPENING, language="ar", zone=TEHRAN, arabic_calendar="umm_al_qura"
    )
    assert arabic.text == ROUTER_TEXTS.text("handoff_opening", "ar", when=when)
    assert "هـ" in when


async def test_open_with_an_agent_online_keeps_the_bots_text() -> None:
    sunday_morning = datetime(2027, 1, 10, 10, 0, tzinfo=TEHRAN)
    decision = await responder(sunday_morning).respond(context("fa", online=1), message("fa"))
    assert decision == HandOff(reason="asked for a person", text=BOT_TEXT, language="fa")


async def test_open_but_nobody_online_names_the_next_opening_after_this_one() -> None:
    sunday_morning = datetime(2027, 1, 10, 10, 0, tzinfo=TEHRAN)
    decision = await responder(sunday_morning).respond(context("en", online=0), message("en"))
    assert isinstance(decision, HandOff)
    assert decision.text == ROUTER_TEXTS.text(
        "handoff_opening", "en", when="Monday 11 January 2027 at 09:00"
    )


async def test_no_agent_at_all_promises_no_time() -> None:
    decision = await responder(THURSDAY_AFTERNOON).respond(
        context("en", online=0, agents=0), message("en")
    )
    assert isinstance(decision, HandOff)
    assert decision.text == ROUTER_TEXTS.text("handoff_no_opening", "en")


async def test_without_a_calendar_or_staffing_or_a_hand_off_nothing_changes() -> None:
    clock = responder(THURSDAY_AFTERNOON)
    without_calendar = dataclasses.replace(context("fa", online=0), calendar=None)
    assert (await clock.respond(without_calendar, message("fa"))) == await HandsOff().respond(
        without_calendar, message("fa")
    )
    unknown_staffing = dataclasses.replace(context("fa", online=0), staffing=None)
    assert isinstance(handed := await clock.respond(unknown_staffing, message("fa")), HandOff)
    assert handed.text == BOT_TEXT
    answers = ServiceHours(Answers(), clock=lambda: THURSDAY_AFTERNOON)
    assert await answers.respond(context("fa", online=0), message("fa")) == Answer(
        "an answer", language="fa"
    )


async def test_through_the_api_a_configured_default_calendar_names_saturday_in_persian(
    settings: Settings, start_app: AppFactory
) -> None:
    service = ServiceSettings(
        calendars={"tehran": calendar_to_json(iranian_week())}, default_calendar="tehran"
    )
    app = await customers(dataclasses.replace(settings, service=service), start_app)
    app.context.clock = lambda: THURSDAY_AFTERNOON.astimezone(UTC)
    # No agent account at all: no time is named.
    nobody = await app.say("c-0", ASK_FA, "fa")
    assert await app.bot_texts(nobody) == [ROUTER_TEXTS.text("handoff_no_opening", "fa")]
    agent = await add_agent(app.context, "sara@example.com", tier=1)
    await set_presence(app.context, agent, "online")  # online, but the week has closed
    thread = await app.say("c-1", ASK_FA, "fa")
    assert await app.bot_texts(thread) == [
        ROUTER_TEXTS.text("handoff_opening", "fa", when=SATURDAY_IN_PERSIAN)
    ]


def reminder_at_opening(language: str, position: str, when: str) -> str:
    return DEFAULT_TEXTS["queued_reminder_opening"][language].format(position=position, when=when)


async def test_a_queued_reminder_names_the_opening_in_each_language_once_per_interval(
    settings: Settings, start_app: AppFactory
) -> None:
    service = ServiceSettings(
        calendars={"tehran": calendar_to_json(iranian_week())}, default_calendar="tehran"
    )
    app = await customers(dataclasses.replace(settings, service=service), start_app)
    now = [THURSDAY_AFTERNOON.astimezone(UTC)]
    app.context.clock = lambda: now[0]
    agent = await add_agent(app.context, "sara@example.com", tier=1)
    await set_presence(app.context, agent, "online")  # online, but the week has closed
    persian = await app.say("c-fa", ASK_FA, "fa")
    await app.say("c-fa", ASK_FA, "fa")
    expected_fa = reminder_at_opening("fa", "۱", SATURDAY_IN_PERSIAN)
    assert (await app.bot_texts(persian))[1:] == [expected_fa]
    # Asking again within the interval: the reminder naming the opening is recognised.
    await app.say("c-fa", ASK_FA, "fa")
    assert (await app.bot_texts(persian))[1:] == [expected_fa]

    english = await app.say("c-en", ASK_EN, "en")
    await app.say("c-en", ASK_EN, "en")
    assert (await app.bot_texts(english))[1:] == [
        reminder_at_opening("en", "2", "Saturday 9 January 2027 at 09:00")
    ]
    arabic = await app.say("c-ar", "أريد التحدث مع موظف", "ar")
    await app.say("c-ar", "أريد التحدث مع موظف", "ar")
    when_ar = render_instant(SATURDAY_OPENING, language="ar", zone=TEHRAN)
    assert (await app.bot_texts(arabic))[1:] == [reminder_at_opening("ar", "٣", when_ar)]


async def test_a_queued_reminder_promises_no_time_without_an_agent_and_none_while_open(
    settings: Settings, start_app: AppFactory
) -> None:
    service = ServiceSettings(
        calendars={"tehran": calendar_to_json(iranian_week())}, default_calendar="tehran"
    )
    app = await customers(dataclasses.replace(settings, service=service), start_app)
    now = [THURSDAY_AFTERNOON.astimezone(UTC)]
    app.context.clock = lambda: now[0]
    nobody = await app.say("c-0", ASK_EN, "en")
    await app.say("c-0", ASK_EN, "en")
    assert (await app.bot_texts(nobody))[1:] == [
        DEFAULT_TEXTS["queued_reminder_nobody_available"]["en"].format(position=1)
    ]
    # Sunday morning, open, an agent online: the plain reminder, no date.
    now[0] = datetime(2027, 1, 10, 10, 0, tzinfo=TEHRAN).astimezone(UTC)
    agent = await add_agent(app.context, "sara@example.com", tier=1)
    await set_presence(app.context, agent, "online")
    open_now = await app.say("c-1", ASK_EN, "en")
    await app.say("c-1", ASK_EN, "en")
    assert (await app.bot_texts(open_now))[1:] == [
        DEFAULT_TEXTS["queued_reminder"]["en"].format(position=2)
    ]
