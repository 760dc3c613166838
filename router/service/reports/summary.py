"""The report summary: the KPIs of a time window, in total and per group, counted in
SQL from `thread_events` and `survey_answers` (docs/reports.md).

Each fact a KPI needs is on the event row (written when it happened, e.g. a
resolution's `reopened` flag), so the summary is one pass over the window's events:
on PostgreSQL one GROUPING SETS query for total and groups with `percentile_cont`
medians and 90th percentiles; on SQLite two counting queries and the same
interpolation in Python (`kpis.percentile`). Survey counts are additive: the total is
the sum of the groups.
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
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy import Integer as SqlInteger
from sqlalchemy.ext.asyncio import AsyncSession

from router.agents.queue import Actor, visible_to
from router.core.messages import utcnow
from router.service.reports import kpis
from router.service.reports.events import (
    BREACHED,
    CREATED,
    HANDOFF,
    HELPED,
    NOT_HELPED,
    RESOLVED,
    RESPONSE,
)
from router.storage.models import OPEN_STATUSES, Agent, SurveyAnswer, Thread, ThreadEvent

SORT_MEMORY = "64MB"
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


def _key(table: Any, at: Any, group_by: str, dialect: str) -> ColumnElement[Any]:
    """The grouping key of a row of `table` (whose time column is `at`).

    PostgreSQL sorts rows by it (percentiles need sorted groups), so there keys are
    cheap to compare: text by bytes (COLLATE "C"; the order shown is made in Python),
    days and weeks as timestamps, named by `_key_value`.
    """
    if group_by == "agent":
        return table.agent_id  # type: ignore[no-any-return]
    if group_by in ("tier", "channel", "language"):
        column = getattr(table, group_by)
        if dialect == "postgresql" and group_by != "tier":
            return column.collate("C")  # type: ignore[no-any-return]
        return column  # type: ignore[no-any-return]
    # Days and weeks in UTC; a week is named by its Monday (ISO 8601).
    if dialect == "postgresql":
        return func.date_trunc(group_by, func.timezone("UTC", at))
    if group_by == "day":
        return func.strftime("%Y-%m-%d", at)
    return func.date(at, "weekday 0", "-6 days")


def _key_value(key: Any) -> Key:
    """A key as the report names it: a day or week by its date, 2030-01-07."""
    if isinstance(key, datetime):
        return key.date().isoformat()
    return key  # type: ignore[no-any-return]


def _is(condition: ColumnElement[bool]) -> ColumnElement[int]:
    """How many rows meet `condition` (a FILTER: rows that do not are not aggregated)."""
    return func.count().filter(condition)


@dataclass(frozen=True, slots=True)
class _Facts:
    """What one group's event figures are computed from."""

    counts: kpis.Counts = dataclasses.field(default_factory=kpis.Counts)
    durations: Mapping[str, kpis.Durations] = dataclasses.field(default_factory=dict)


_MEASURED_KINDS = (CREATED, HANDOFF, RESPONSE, RESOLVED, BREACHED, HELPED, NOT_HELPED)


@dataclass(frozen=True, slots=True)
class _Measure:
    """A duration figure: the rows it is measured from, and the column it measures."""

    rows: ColumnElement[bool]
    value: ColumnElement[Any]


def _measures(e: Any) -> dict[str, _Measure]:
    """Each duration figure by name (`kpis.figures` reads them), wall clock and business
    seconds of the same rows."""
    kinds = {
        "first_response": and_(e.kind == RESPONSE, e.first.is_(True)),
        "next_response": and_(e.kind == RESPONSE, e.first.is_(False)),
        "resolution": e.kind == RESOLVED,
    }
    measures: dict[str, _Measure] = {}
    for name, rows in kinds.items():
        measures[name] = _Measure(and_(rows, e.seconds.is_not(None)), e.seconds)
        business = e.business_seconds
        measures[f"{name}_business"] = _Measure(and_(rows, business.is_not(None)), business)
    return measures


def _count_columns(e: Any) -> list[ColumnElement[int]]:
    """The facts of `kpis.Counts`, in its order, each a flag or value on the row."""
    first_resolution = and_(e.kind == RESOLVED, e.first.is_(True))
    return [
        _is(e.kind == CREATED),
        func.count(distinct(case((e.kind == RESOLVED, e.thread_id)))),
        _is(first_resolution),
        _is(and_(first_resolution, e.actor_kind == "bot")),
        _is(and_(e.kind == HANDOFF, e.first.is_(True))),
        _is(and_(first_resolution, e.replies >= 1)),
        _is(and_(first_resolution, e.replies == 1, e.reopened.is_(False))),
        _is(and_(first_resolution, e.reopened.is_(True))),
        _is(e.kind == HELPED),
        _is(e.kind == NOT_HELPED),
        *_deadline_columns(and_(e.kind == RESPONSE, e.first.is_(True)), e.sla_met),
        *_deadline_columns(and_(e.kind == RESPONSE, e.first.is_(False)), e.sla_met),
        *_deadline_columns(e.kind == RESOLVED, e.sla_met),
        _is(e.kind == BREACHED),
    ]


def _deadline_columns(rows: ColumnElement[bool], met: Any) -> list[ColumnElement[int]]:
    """Of `rows`, those made under a deadline, and those that met it."""
    return [_is(and_(rows, met.is_not(None))), _is(and_(rows, met.is_(True)))]


async def _event_facts(
    session: AsyncSession,
    window: ColumnElement[bool],
    key: ColumnElement[Any] | None,
    dialect: str,
) -> tuple[_Facts, dict[Key, _Facts]]:
    """The window's event facts in total and per `key` (none: the total only).

    PostgreSQL reads the rows once for both (GROUPING SETS) and computes the
    percentiles itself; SQLite has neither, so it counts twice and the percentiles of
    the measured rows are interpolated the same way in Python.
    """
    event = ThreadEvent
    rows = (
        select(
            (key if key is not None else literal(None)).label("key"),
            event.thread_id,
            event.kind,
            event.actor_kind,
            event.first,
            event.replies,
            event.reopened,
            event.seconds,
            event.business_seconds,
            event.sla_met,
        )
        .where(window, event.kind.in_(_MEASURED_KINDS))
        .subquery("e")
    )
    e = rows.c
    measures = _measures(e)
    if dialect == "postgresql":
        return await _postgres_event_facts(session, e, measures, grouped=key is not None)
    counted = select(*_count_columns(e))
    total_row = (await session.execute(counted)).one()
    total = kpis.Counts(*(int(n) for n in total_row))
    by_key: dict[Key, kpis.Counts] = {}
    if key is not None:
        for group, *numbers in await session.execute(
            select(e.key, *_count_columns(e)).group_by(e.key)
        ):
            by_key[_key_value(group)] = kpis.Counts(*(int(n) for n in numbers))
    values: dict[str, list[float]] = defaultdict(list)
    grouped_values: dict[tuple[Key, str], list[float]] = defaultdict(list)
    measured_rows = or_(*(measure.rows for measure in measures.values()))
    for group, *row in await session.execute(
        select(e.key, *(case((m.rows, m.value)) for m in measures.values())).where(measured_rows)
    ):
        for name, seconds in zip(measures, row, strict=True):
            if seconds is not None:
                values[name].append(seconds)
                grouped_values[(_key_value(group), name)].append(seconds)

    per_group: dict[Key, dict[str, kpis.Durations]] = defaultdict(dict)
    if key is not None:
        for (group, name), measured in grouped_values.items():
            per_group[group][name] = kpis.durations(measured)
    groups = {
        group: _Facts(by_key.get(group, kpis.Counts()), per_group.get(group, {}))
        for group in set(by_key) | set(per_group)
    }
    whole = {name: kpis.durations(measured) for name, measured in values.items()}
    return _Facts(total, whole), groups


async def _postgres_event_facts(
    session: AsyncSession, e: Any, measures: Mapping[str, _Measure], *, grouped: bool
) -> tuple[_Facts, dict[Key, _Facts]]:
    # One sort per measure for both percentiles: percentile_cont over an array.
    fractions: ColumnElement[Any] = literal_column("ARRAY[0.5, 0.9]::float8[]")
    measured: list[ColumnElement[Any]] = []
    for measure in measures.values():
        measured += [
            func.count().filter(measure.rows),
            func.percentile_cont(fractions).within_group(measure.value).filter(measure.rows),
            func.avg(measure.value).filter(measure.rows),
        ]
    is_total, group = (func.grouping(e.key), e.key) if grouped else (literal(1), literal(None))
    query = select(is_total, group, *_count_columns(e), *measured)
    if grouped:
        query = query.group_by(func.grouping_sets(tuple_(), tuple_(e.key)))
    total = _Facts()
    groups: dict[Key, _Facts] = {}
    width = len(dataclasses.fields(kpis.Counts))
    for row in await session.execute(query):
        counts = kpis.Counts(*(int(n) for n in row[2 : 2 + width]))
        durations: dict[str, kpis.Durations] = {}
        for index, name in enumerate(measures):
            count, percentiles, mean = row[2 + width + 3 * index : 5 + width + 3 * index]
            if count:
                median, p90 = percentiles
                durations[name] = kpis.Durations(
                    int(count), round(median, 1), round(p90, 1), round(float(mean), 1)
                )
        if row[0]:
            total = _Facts(counts, durations)
        else:
            groups[_key_value(row[1])] = _Facts(counts, durations)
    return total, groups


@dataclass(frozen=True, slots=True)
class _Answers:
    """Counted survey answers: additive, so the total is the sum of the groups."""

    csat: int = 0
    satisfied: int = 0
    csat_points: int = 0
    nps: int = 0
    promoters: int = 0
    detractors: int = 0

    def __add__(self, other: _Answers) -> _Answers:
        return _Answers(*(a + b for a, b in zip(self.numbers(), other.numbers(), strict=True)))

    def numbers(self) -> tuple[int, ...]:
        return (
            self.csat,
            self.satisfied,
            self.csat_points,
            self.nps,
            self.promoters,
            self.detractors,
        )

    def kpis(self) -> tuple[kpis.Csat, kpis.Nps]:
        return (
            kpis.csat(self.csat, self.satisfied, self.csat_points),
            kpis.nps(self.nps, self.promoters, self.detractors),
        )


async def _surveys(
    session: AsyncSession, window: ColumnElement[bool], key: ColumnElement[Any] | None
) -> dict[Key, _Answers]:
    answer = SurveyAnswer
    score = answer.score
    is_csat = answer.kind == "csat"
    is_nps = answer.kind == "nps"
    group = key if key is not None else literal(None)
    query = select(
        group.label("key"),
        _is(is_csat),
        _is(and_(is_csat, score >= kpis.SATISFIED_MIN)),
        func.coalesce(func.sum(case((is_csat, cast(score, SqlInteger)), else_=0)), 0),
        _is(is_nps),
        _is(and_(is_nps, score >= kpis.PROMOTER_MIN)),
        _is(and_(is_nps, score <= kpis.DETRACTOR_MAX)),
    ).where(window, answer.score.is_not(None), answer.kind.in_(("csat", "nps")))
    if key is not None:
        query = query.group_by(key)
    return {
        _key_value(found): _Answers(*(int(n) for n in numbers))
        for found, *numbers in await session.execute(query)
    }


async def _figures(
    session: AsyncSession,
    start: datetime,
    end: datetime,
    group_by: str | None,
    actor: Actor,
) -> tuple[kpis.Figures, dict[Key, kpis.Figures]]:
    """The window's figures in total and per group (none: the total only)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # A window's events (hundreds of thousands of rows) are sorted by group and
        # each measure's values for its percentiles: in memory, not in temp files.
        await session.execute(text(f"SET LOCAL work_mem = '{SORT_MEMORY}'"))
    own_events = true() if actor.is_admin else ThreadEvent.agent_id == actor.agent_id
    own_answers = true() if actor.is_admin else SurveyAnswer.agent_id == actor.agent_id
    events = and_(ThreadEvent.at >= start, ThreadEvent.at < end, own_events)
    answers = and_(SurveyAnswer.answered_at >= start, SurveyAnswer.answered_at < end, own_answers)
    event_key = answer_key = None
    if group_by is not None:
        event_key = _key(ThreadEvent, ThreadEvent.at, group_by, dialect)
        answer_key = _key(SurveyAnswer, SurveyAnswer.answered_at, group_by, dialect)
    total_facts, grouped_facts = await _event_facts(session, events, event_key, dialect)
    surveyed = await _surveys(session, answers, answer_key)
    all_answers = sum(surveyed.values(), _Answers())
    total = _assemble(total_facts, all_answers)
    if group_by is None:
        return total, {}
    keys = set(grouped_facts) | set(surveyed)
    return total, {
        group: _assemble(grouped_facts.get(group, _Facts()), surveyed.get(group, _Answers()))
        for group in keys
    }


def _assemble(facts: _Facts, answers: _Answers) -> kpis.Figures:
    csat, nps = answers.kpis()
    return kpis.figures(facts.counts, facts.durations, csat=csat, nps=nps)


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
    total, grouped = await _figures(session, start, end, group_by, actor)
    groups: list[Group] = []
    if group_by is not None:
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
