"""Honest expectations: a responder around the bot that, when a thread goes to people
nobody can answer now, says when a person will.

The bot already promises "soon" only while an agent is online (docs/bot.md). With a
calendar (`ThreadContext.calendar`: the thread's SLA policy's, else `[service]
default_calendar`), "when" becomes a time: outside the hours, or with nobody of the tier
online, the hand-off text names the next opening written the customer's way
(`router.service.dates.render_instant`), and so does a queued customer's reminder (an
answer with `text_at_opening`); where no time can be kept (no agent exists, or the
hours never open again) it names none.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from router.agents.staffing import tier_staffing
from router.core.languages import LANGUAGES
from router.core.messages import utcnow
from router.core.responder import (
    Answer,
    Decision,
    HandOff,
    MessageView,
    Responder,
    RuleAround,
    ThreadContext,
)
from router.core.team_status import TeamStatus
from router.core.texts import ROUTER_TEXTS, TextCatalogue
from router.core.threads import open_thread_of
from router.identity.identities import get_identity
from router.service.dates import ArabicCalendar, render_instant
from router.service.sla import Expectation, when_a_person_answers
from router.service.sla_threads import answering_calendar, channel_calendar
from router.storage.models import Agent, Thread, ThreadStatus

if TYPE_CHECKING:
    from router.context import AppContext


class ServiceHours(RuleAround):
    """Wraps the bot (`inner`): replaces the text of a hand-off that nobody can answer
    now with when a person will; leaves every other decision as `inner` made it."""

    def __init__(
        self,
        inner: Responder,
        *,
        clock: Callable[[], datetime] = utcnow,
        arabic_calendar: ArabicCalendar = "gregorian",
        default_language: str = "fa",
        texts: TextCatalogue = ROUTER_TEXTS,
    ) -> None:
        self.inner = inner
        self._texts = texts
        self._clock = clock
        self._arabic_calendar = arabic_calendar
        self._default_language = default_language

    @classmethod
    def around(
        cls,
        inner: Responder,
        settings: Settings,
        clock: Callable[[], datetime],
        texts: TextCatalogue = ROUTER_TEXTS,
    ) -> ServiceHours:
        return cls(
            inner,
            clock=clock,
            texts=texts,
            arabic_calendar=settings.service.arabic_calendar,
            default_language=settings.faq.default_language,
        )

    async def respond(self, ctx: ThreadContext, new: MessageView) -> Decision:
        decision = await self.inner.respond(ctx, new)
        if isinstance(decision, Answer):
            return self._answer_naming_the_opening(ctx, new, decision)
        # A hand-off without words stays without.
        if not isinstance(decision, HandOff) or decision.text is None:
            return decision
        expected = self._expected(ctx)
        if expected is None or expected.kind == "now":
            return decision
        language = self._language(decision.language or new.language or ctx.language)
        when = self._when(expected, ctx, language)
        if when is None:
            return dataclasses.replace(
                decision, text=self._texts.text("handoff_no_opening", language)
            )
        return dataclasses.replace(
            decision, text=self._texts.text("handoff_opening", language, when=when)
        )

    def _answer_naming_the_opening(
        self, ctx: ThreadContext, new: MessageView, answer: Answer
    ) -> Answer:
        """An answer with a form naming the opening (the queued reminder) takes it when a
        time can be named; otherwise it stays as the inner responder wrote it."""
        if answer.text_at_opening is None:
            return answer
        expected = self._expected(ctx)
        if expected is None or expected.kind != "at":
            return answer
        when = self._when(expected, ctx, self._language(answer.language or new.language))
        if when is None:
            return answer
        return dataclasses.replace(answer, text=answer.text_at_opening.replace("{when}", when))

    def _expected(self, ctx: ThreadContext) -> Expectation | None:
        """When a person will answer; None when the hours or staffing are not known
        (then nothing new is promised)."""
        calendar, staffing = ctx.calendar, ctx.staffing
        if calendar is None or staffing is None:
            return None
        return when_a_person_answers(
            calendar, agents=staffing.agents, online=staffing.online, now=self._clock()
        )

    def _when(self, expected: Expectation, ctx: ThreadContext, language: str) -> str | None:
        """The opening written for `language` in the thread's zone; None: no time."""
        if expected.kind != "at" or expected.at is None or ctx.calendar is None:
            return None
        return render_instant(
            expected.at,
            language=language,
            zone=ctx.calendar.zone,
            arabic_calendar=self._arabic_calendar,
        )

    def _language(self, language: str | None) -> str:
        """The language the texts are written in: a served one (English otherwise, as
        the router's texts fall back), the default when none is known."""
        chosen = (language or self._default_language)[:2]
        return chosen if chosen in LANGUAGES else "en"


class TeamStatusService:
    """`ChannelServices.team`: whether the team answers a channel now, from the hours of
    the people the visitor's thread goes to and their presence, by the same rule
    (`when_a_person_answers`) and the same written date (`render_instant`) as a
    hand-off's promise. Before a visitor has a thread with people, those are the people a
    new thread of the channel goes to (tier 1, `sla_threads.channel_calendar`); once it is
    queued or assigned, its tier's (`sla_threads.answering_calendar`), and an agent who
    has it and is online answers now whatever the hours."""

    def __init__(self, app: AppContext) -> None:
        self._app = app

    async def team_status(
        self, channel: str, language: str, address: str | None = None
    ) -> TeamStatus | None:
        app = self._app
        async with app.read_sessions() as session:
            thread = await _thread_with_people(session, channel, address)
            if thread is None:
                calendar = await channel_calendar(app, session, channel)
                agents, online = await tier_staffing(session, 1)
                assignee_online = False
            else:
                calendar = await answering_calendar(app, session, thread, channel, False)
                agents, online = await tier_staffing(session, thread.tier)
                assignee = (
                    await session.get(Agent, thread.assignee_id)
                    if thread.assignee_id is not None
                    else None
                )
                assignee_online = assignee is not None and assignee.presence == "online"
        if assignee_online:
            expected = Expectation("now")
        else:
            expected = when_a_person_answers(
                calendar, agents=agents, online=online, now=app.clock()
            )
        texts = app.texts
        if expected.kind == "now":
            return TeamStatus(
                online=True, next_opening=None, text=texts.text("team_online", language)
            )
        if expected.at is None or calendar is None:
            return TeamStatus(
                online=False, next_opening=None, text=texts.text("team_away", language)
            )
        when = render_instant(
            expected.at,
            language=language,
            zone=calendar.zone,
            arabic_calendar=app.settings.service.arabic_calendar,
        )
        return TeamStatus(
            online=False,
            next_opening=expected.at.astimezone(calendar.zone),
            text=texts.text("team_away_until", language, when=when),
        )


async def _thread_with_people(
    session: AsyncSession, channel: str, address: str | None
) -> Thread | None:
    """The open thread of the visitor at (`channel`, `address`) once it is with people
    (queued or assigned); None for an unknown visitor or one still with the bot."""
    if address is None:
        return None
    identity = await get_identity(session, channel, address)
    if identity is None:
        return None
    thread = await open_thread_of(session, identity.customer_id)
    if thread is None or thread.status == ThreadStatus.BOT:
        return None
    return thread
