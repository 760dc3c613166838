"""The report summary: the KPIs of a time window, in total and per group, counted in
SQL from `thread_events` and `survey_answers` (docs/reports.md).

A few grouped queries, each answered from the `(kind, at)` indexes; medians and 90th
percentiles are PostgreSQL's `percentile_cont` there, the same interpolation in Python
on SQLite (`kpis.percentile`).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    cast,
    distinct,
    exists,
    func,
    literal,
    null,
    select,
    true,
)
from sqlalchemy import Integer as SqlInteger
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import Null

from router.agents.queue import Actor, visible_to
from router.core.messages import utcnow
from router.service.reports import kpis
from router.service.reports.events import CREATED, HANDOFF, REOPENED, RESOLVED, RESPONSE
from router.storage.models import OPEN_STATUSES, Agent, SurveyAnswer, Thread, ThreadEvent

GROUP_BY = ("agent", "tier", "channel", "language", "day", "week")
Key = int | str | None


class ReportError(ValueError):
    """A request for an impossible report (unknown grouping, empty window)."""


@dataclass(frozen=True, slots=True)
class Group:
    key: Key
    label: str | None
    figures: kpis.Figures


@dataclass(frozen=True, slots=True)
class Backlog:
    """Open threads now (not in the window): how many, by status, and the oldest's age."""

    open: int = 0
    bot: int = 0
    queued: int = 0
    assigned: int = 0
    oldest_age_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    start: datetime
    end: datetime
    group_by: str | None
    total: kpis.Figures
    groups: tuple[Group, ...]
    backlog: Backlog
    generated_at: datetime


def _key(table: Any, at: Any, group_by: str | None, dialect: str) -> ColumnElement[Any]:
    """The grouping key of a row of `table` (whose time column is `at`)."""
    if group_by is None:
        return null()
    if group_by == "agent":
        return table.agent_id  # type: ignore[no-any-return]
    if group_by in ("tier", "channel", "language"):
        return getattr(table, group_by)  # type: ignore[no-any-return]
    # Days and weeks in UTC; a week is named by its Monday (ISO 8601).
    if dialect == "postgresql":
        utc = func.timezone("UTC", at)
        start = utc if group_by == "day" else func.date_trunc("week", utc)
        return func.to_char(start, "YYYY-MM-DD")
    if group_by == "day":
        return func.strftime("%Y-%m-%d", at)
    return func.date(at, "weekday 0", "-6 days")


def _grouping(key: ColumnElement[Any]) -> tuple[ColumnElement[Any], ...]:
    """GROUP BY the key, or nothing for the total (PostgreSQL refuses GROUP BY NULL)."""
    return () if isinstance(key, Null) else (key,)


def _is(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


async def _counts(
    session: AsyncSession, window: ColumnElement[bool], key: ColumnElement[Any]
) -> dict[Key, kpis.Counts]:
    event = ThreadEvent
    later = aliased(ThreadEvent)
    reopened = exists().where(
        later.thread_id == event.thread_id, later.kind == REOPENED, later.id > event.id
    )
    first_resolution = and_(event.kind == RESOLVED, event.first.is_(True))
    rows = await session.execute(
        select(
            key.label("key"),
            _is(event.kind == CREATED),
            func.count(distinct(case((event.kind == RESOLVED, event.thread_id)))),
            _is(first_resolution),
            _is(and_(first_resolution, event.actor_kind == "bot")),
            _is(and_(event.kind == HANDOFF, event.first.is_(True))),
            _is(and_(first_resolution, event.replies >= 1)),
            _is(and_(first_resolution, event.replies == 1, ~reopened)),
            _is(and_(first_resolution, reopened)),
        )
        .where(window, event.kind.in_((CREATED, RESOLVED, HANDOFF)))
        .group_by(*_grouping(key))
    )
    return {row[0]: kpis.Counts(*(int(n) for n in row[1:])) for row in rows}


_MEASURES = ("first_response", "next_response", "resolution")


async def _durations(
    session: AsyncSession, window: ColumnElement[bool], key: ColumnElement[Any], dialect: str
) -> dict[Key, dict[str, kpis.Durations]]:
    event = ThreadEvent
    measure = case(
        (and_(event.kind == RESPONSE, event.first.is_(True)), literal("first_response")),
        (event.kind == RESPONSE, literal("next_response")),
        else_=literal("resolution"),
    ).label("measure")
    where = (window, event.kind.in_((RESPONSE, RESOLVED)), event.seconds.is_not(None))
    found: dict[Key, dict[str, kpis.Durations]] = defaultdict(dict)
    if dialect == "postgresql":
        rows = await session.execute(
            select(
                key.label("key"),
                measure,
                func.count(),
                func.percentile_cont(0.5).within_group(event.seconds),
                func.percentile_cont(0.9).within_group(event.seconds),
                func.avg(event.seconds),
            )
            .where(*where)
            .group_by(*_grouping(key), measure)
        )
        for group, name, count, median, p90, mean in rows:
            found[group][name] = kpis.Durations(
                int(count), round(median, 1), round(p90, 1), round(float(mean), 1)
            )
        return found
    values: dict[tuple[Key, str], list[float]] = defaultdict(list)
    for group, name, seconds in await session.execute(
        select(key.label("key"), measure, event.seconds).where(*where)
    ):
        values[(group, name)].append(seconds)
    for (group, name), seconds_list in values.items():
        found[group][name] = kpis.durations(seconds_list)
    return found


async def _surveys(
    session: AsyncSession, window: ColumnElement[bool], key: ColumnElement[Any]
) -> dict[Key, tuple[kpis.Csat, kpis.Nps]]:
    answer = SurveyAnswer
    score = answer.score
    rows = await session.execute(
        select(
            key.label("key"),
            answer.kind,
            func.count(),
            _is(score >= kpis.SATISFIED_MIN),
            func.coalesce(func.sum(cast(score, SqlInteger)), 0),
            _is(score >= kpis.PROMOTER_MIN),
            _is(score <= kpis.DETRACTOR_MAX),
        )
        .where(window, answer.score.is_not(None), answer.kind.in_(("csat", "nps")))
        .group_by(*_grouping(key), answer.kind)
    )
    found: dict[Key, tuple[kpis.Csat, kpis.Nps]] = defaultdict(lambda: (kpis.Csat(), kpis.Nps()))
    for group, kind, count, satisfied, total, promoters, detractors in rows:
        csat, nps = found[group]
        if kind == "csat":
            csat = kpis.csat(int(count), int(satisfied), int(total))
        else:
            nps = kpis.nps(int(count), int(promoters), int(detractors))
        found[group] = (csat, nps)
    return found


async def _figures(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    group_by: str | None,
    actor: Actor,
) -> dict[Key, kpis.Figures]:
    dialect = session.get_bind().dialect.name
    own_events = true() if actor.is_admin else ThreadEvent.agent_id == actor.agent_id
    own_answers = true() if actor.is_admin else SurveyAnswer.agent_id == actor.agent_id
    events = and_(ThreadEvent.at >= start, ThreadEvent.at < end, own_events)
    answers = and_(SurveyAnswer.answered_at >= start, SurveyAnswer.answered_at < end, own_answers)
    event_key = _key(ThreadEvent, ThreadEvent.at, group_by, dialect)
    counts = await _counts(session, events, event_key)
    measured = await _durations(session, events, event_key, dialect)
    surveyed = await _surveys(
        session, answers, _key(SurveyAnswer, SurveyAnswer.answered_at, group_by, dialect)
    )
    keys = set(counts) | set(measured) | set(surveyed)
    if group_by is None:
        keys.add(None)
    empty = kpis.Durations()
    result = {}
    for group in keys:
        times = measured.get(group, {})
        csat, nps = surveyed.get(group, (kpis.Csat(), kpis.Nps()))
        result[group] = kpis.figures(
            counts.get(group, kpis.Counts()),
            first_response=times.get("first_response", empty),
            next_response=times.get("next_response", empty),
            resolution=times.get("resolution", empty),
            csat=csat,
            nps=nps,
            sla=_sla(),
        )
    return result


def _sla() -> kpis.Sla:
    """The seam for service-level attainment: when threads get deadlines (the
    service-level calendars), count met / breached deadlines of the window here."""
    return kpis.Sla()


async def _backlog(session: AsyncSession, actor: Actor, now: datetime) -> Backlog:
    rows = await session.execute(
        select(Thread.status, func.count(), func.min(Thread.created_at))
        .where(Thread.status.in_(OPEN_STATUSES), visible_to(actor))
        .group_by(Thread.status)
    )
    by_status: dict[str, int] = {}
    oldest: datetime | None = None
    for status, count, created in rows:
        by_status[str(status)] = int(count)
        if created is not None and (oldest is None or created < oldest):
            oldest = created
    return Backlog(
        open=sum(by_status.values()),
        bot=by_status.get("bot", 0),
        queued=by_status.get("queued", 0),
        assigned=by_status.get("assigned", 0),
        oldest_age_seconds=round((now - oldest).total_seconds(), 1) if oldest else None,
    )


def _sort_key(key: Key) -> tuple[int, str]:
    if key is None:
        return (2, "")
    if isinstance(key, int):
        return (0, f"{key:020d}")
    return (1, key)


async def summary(
    session: AsyncSession,
    actor: Actor,
    *,
    start: datetime,
    end: datetime,
    group_by: str | None = None,
) -> Summary:
    """The figures of [start, end): all of them for an admin, an agent's own otherwise.

    Raises:
        ReportError: an unknown `group_by`, or `end` not after `start`.
    """
    if group_by is not None and group_by not in GROUP_BY:
        raise ReportError(f"group_by must be one of {', '.join(GROUP_BY)}")
    if end <= start:
        raise ReportError("to must be after from")
    total = (await _figures(session, start, end, None, actor))[None]
    groups: list[Group] = []
    if group_by is not None:
        grouped = await _figures(session, start, end, group_by, actor)
        names = await _agent_names(session, grouped) if group_by == "agent" else {}
        for key in sorted(grouped, key=_sort_key):
            label = names.get(key) if group_by == "agent" else (None if key is None else str(key))
            groups.append(Group(key, label, grouped[key]))
    now = utcnow()
    return Summary(
        start, end, group_by, total, tuple(groups), await _backlog(session, actor, now), now
    )


async def _agent_names(session: AsyncSession, grouped: Mapping[Key, Any]) -> dict[Key, str]:
    ids = [key for key in grouped if isinstance(key, int)]
    if not ids:
        return {}
    rows = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(ids)))
    return {int(agent_id): str(name) for agent_id, name in rows}


def parse_window(
    raw_from: str | None, raw_to: str | None, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """`from` and `to` (ISO 8601 dates or date-times; a date is its midnight UTC, a time
    without an offset is UTC); `to` defaults to now, `from` to seven days before `to`.

    Raises:
        ReportError: a value that is not an ISO 8601 date or date-time.
    """
    end = _instant(raw_to, "to") if raw_to else (now or utcnow())
    start = _instant(raw_from, "from") if raw_from else end - timedelta(days=7)
    return start, end


def _instant(raw: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ReportError(
            f"{name} must be an ISO 8601 date or date-time, e.g. 2026-03-21 or "
            f"2026-03-21T08:00:00+03:30"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_json(report: Summary) -> dict[str, Any]:
    """The API's and CLI's JSON shape (documented in router/http/openapi.py)."""

    def row(figures: kpis.Figures) -> dict[str, Any]:
        return dataclasses.asdict(figures)

    return {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "group_by": report.group_by,
        "generated_at": report.generated_at.isoformat(),
        "total": row(report.total),
        "groups": [
            {"key": group.key, "label": group.label, **row(group.figures)}
            for group in report.groups
        ],
        "backlog": dataclasses.asdict(report.backlog),
    }
