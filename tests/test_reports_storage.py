"""How the KPI facts are stored: what a report needs is written on the event row when
it happens, so the summary aggregates rows without looking at other rows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from config.settings import Settings
from router.agents import queue, replies
from router.storage.models import ThreadEvent
from tests.agent_support import make_agent
from tests.report_support import MONDAY_9AM, install_clock
from tests.support import FakeAdapter
from tests.test_reports import ScriptedBot


async def test_a_reopening_flags_the_resolutions_before_it(
    settings: Settings, start_app: Any, monkeypatch: Any
) -> None:
    clock = install_clock(monkeypatch, MONDAY_9AM)
    web = FakeAdapter(name="web")
    _, context = await start_app(settings, adapters=[web], responder=ScriptedBot())
    sara = await make_agent(context, "Sara", presence="away")
    clock.at(0)
    thread_id = (await web.push("person", sender="b", received_at=clock.now)).thread_id
    clock.at(10)
    await queue.claim(context, sara.actor, thread_id)
    clock.at(20)
    await replies.post_message(context, sara.actor, thread_id, text="on it", internal=False)
    clock.at(30)
    await queue.resolve(context, sara.actor, thread_id)

    async def resolutions() -> list[bool]:
        async with context.sessions() as session:
            rows = await session.scalars(
                select(ThreadEvent.reopened)
                .where(ThreadEvent.thread_id == thread_id, ThreadEvent.kind == "resolved")
                .order_by(ThreadEvent.id)
            )
            return list(rows)

    assert await resolutions() == [False]
    clock.at(40)
    assert (await web.push("again", sender="b", received_at=clock.now)).thread_id == thread_id
    assert await resolutions() == [True]
    clock.at(50)
    await queue.resolve(context, sara.actor, thread_id)
    assert await resolutions() == [True, False]
