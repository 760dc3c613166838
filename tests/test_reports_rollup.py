"""The daily rollup of the report's counts gives the figures counting every event row
gives: on a seeded set of events over several days (every kind, attribution and shape,
resolutions later flagged reopened, erased threads), for windows of whole days, with
partial days at the edges, in another time zone and inside one day, every grouping, an
admin's and an agent's report."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, func, select

from config.settings import Settings
from router.agents.queue import Actor
from router.context import AppContext
from router.service.reports import rollup
from router.service.reports.summary import GROUP_BY, summary
from router.storage.models import Customer, Thread, ThreadEvent, ThreadEventDay

START = datetime(2030, 1, 5, tzinfo=UTC)
TEHRAN = timezone(timedelta(hours=3, minutes=30))
KINDS = (*rollup.COUNTED_KINDS, "assigned", "reopened")


async def _seed(context: AppContext) -> list[int]:
    """300 events on 40 threads over five days, at random (a fixed seed)."""
    pick = random.Random(7)
    async with context.sessions() as session, session.begin():
        customer = Customer()
        session.add(customer)
        await session.flush()
        threads = [Thread(customer_id=customer.id, status="resolved") for _ in range(40)]
        session.add_all(threads)
        await session.flush()
        for _ in range(300):
            measured = pick.random() < 0.7
            session.add(
                ThreadEvent(
                    thread_id=pick.choice(threads).id,
                    at=START + timedelta(seconds=pick.randrange(5 * 86400)),
                    kind=pick.choice(KINDS),
                    actor_kind=pick.choice(("customer", "bot", "agent", "system")),
                    agent_id=pick.choice((None, 1, 2, 3)),
                    tier=pick.randrange(4),
                    channel=pick.choice((None, "webchat", "email", "telegram")),
                    language=pick.choice((None, "fa", "ar", "en")),
                    first=pick.random() < 0.5,
                    seconds=round(pick.uniform(0, 7200), 1) if measured else None,
                    replies=pick.choice((None, 0, 1, 2, 3)),
                    business_seconds=round(pick.uniform(0, 3600), 1) if measured else None,
                    sla_met=pick.choice((None, True, False)),
                )
            )
        return [thread.id for thread in threads]


async def _compare(context: AppContext, start: datetime, end: datetime) -> None:
    for actor in (Actor(0, "admin", 3, is_admin=True), Actor(2, "agent", 1)):
        for group_by in (None, *GROUP_BY):
            async with context.sessions() as session:
                fast = await summary(session, actor, start=start, end=end, group_by=group_by)
                slow = await summary(
                    session, actor, start=start, end=end, group_by=group_by, rolled_up=False
                )
            where = (start, end, actor.agent_id, group_by)
            assert fast.total == slow.total, where
            assert fast.groups == slow.groups, where


async def test_the_rollup_gives_the_figures_of_every_event_row(
    settings: Settings, start_app: Any
) -> None:
    _, context = await start_app(settings)
    threads = await _seed(context)
    # Resolutions reopened later, and erased threads (their events go with them).
    async with context.sessions() as session, session.begin():
        for thread_id in threads[:10]:
            await rollup.flag_reopened(session, thread_id)
        await rollup.forget_threads(session, threads[-5:])
        await session.execute(delete(Thread).where(Thread.id.in_(threads[-5:])))
        await session.execute(delete(ThreadEvent).where(ThreadEvent.thread_id.in_(threads[-5:])))

    async with context.sessions() as session:
        counted = await session.scalar(
            select(func.count()).where(ThreadEvent.kind.in_(rollup.COUNTED_KINDS))
        )
        rolled = await session.scalar(select(func.sum(ThreadEventDay.n)))
        reopened = await session.scalar(
            select(func.sum(ThreadEventDay.n)).where(ThreadEventDay.reopened.is_(True))
        )
    assert counted and rolled == counted and reopened

    windows = [
        (START, START + timedelta(days=5)),  # whole days only
        (START + timedelta(hours=13, minutes=17), START + timedelta(days=4, hours=8)),
        (datetime(2030, 1, 6, tzinfo=TEHRAN), datetime(2030, 1, 9, 12, tzinfo=TEHRAN)),
        (START + timedelta(days=1, hours=2), START + timedelta(days=1, hours=20)),  # no whole day
    ]
    for start, end in windows:
        await _compare(context, start, end)

    # The whole days were read from the rollup: a count put there shows in its figures.
    async with context.sessions() as session, session.begin():
        session.add(
            ThreadEventDay(
                day=(START + timedelta(days=1)).date(),
                agent_id=rollup.NONE_AGENT,
                tier=0,
                channel="webchat",
                language="fa",
                kind="created",
                first=False,
                by_bot=False,
                replies=rollup.NONE_NUMBER,
                reopened=False,
                sla_met=rollup.NONE_NUMBER,
                n=1000,
            )
        )
    admin = Actor(0, "admin", 3, is_admin=True)
    async with context.sessions() as session:
        fast = await summary(session, admin, start=START, end=START + timedelta(days=5))
        slow = await summary(
            session, admin, start=START, end=START + timedelta(days=5), rolled_up=False
        )
    assert fast.total.threads_created == slow.total.threads_created + 1000
