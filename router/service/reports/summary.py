"""The report summary: the KPIs of a time window, in total and per group, counted in
SQL from `thread_events` and `survey_answers` (docs/reports.md).

Each fact a KPI needs is on the event row (written when it happened, e.g. a
resolution's `reopened` flag, a response's business seconds and whether it met its
deadline), so the summary only aggregates the window's rows (on PostgreSQL, each row
once): one query per kind of event counts its facts (`_COUNTS`, each rule written
once) with FILTERed counts and, on PostgreSQL, computes in the same pass the medians
and 90th percentiles of the durations it measures (`percentile_cont`, GROUPING SETS
for total and groups); SQLite reads the measured values and interpolates the same way
in Python (`kpis.percentile`). Counts and survey answers are additive: the total is
the sum of the groups (distinct resolved threads are counted apart).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    select,
    text,
    true,
    tuple_,
)
from sqlalchemy import Integer as SqlInteger
from sqlalchemy.ext.asyncio import AsyncSession

from router.agents.queue import MAX_TIER, Actor, visible_to
from router.core.messages import utcnow
from router.service.date_filters import DateFilterError, parse_date_filter
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
_MONDAY_ORIGIN = "TIMESTAMPTZ '2000-01-03 00:00:00+00'"
GROUP_BY = ("agent", "tier", "channel", "language", "day", "week")
# Who reads every figure without being an agent: the CLI, and the queue's live stats.
WHOLE_TEAM = Actor(agent_id=0, name="the whole team", tier=MAX_TIER, is_admin=True)
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
    # Days and weeks in UTC; a week is named by its Monday (ISO 8601). date_bin counts
    # whole days or weeks of absolute time from a Monday midnight UTC: UTC days and ISO
    # weeks, at a fraction of the cost of a time zone conversion per row.
    if dialect == "postgresql":
        width: ColumnElement[Any] = literal_column(
            f"interval '{7 if group_by == 'week' else 1} days'"
        )
        return func.date_bin(width, at, literal_column(_MONDAY_ORIGIN))
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


Condition = Callable[[Any], ColumnElement[bool]]


@dataclass(frozen=True, slots=True)
class _Count:
    """A fact of `kpis.Counts`: the window's events of one kind that meet `condition`
    (None: every one of them)."""

    kind: str
    condition: Condition | None = None


def _first(e: Any) -> ColumnElement[bool]:
    return e.first.is_(True)  # type: ignore[no-any-return]


def _first_by_agent(e: Any) -> ColumnElement[bool]:
    return e.first_by_agent.is_(True)  # type: ignore[no-any-return]


def _first_resolution(also: Condition, *, by_agent: bool = False) -> Condition:
    """The thread's first resolution (`by_agent`: its first by an agent) meeting `also`."""
    first = _first_by_agent if by_agent else _first
    return lambda e: and_(first(e), also(e))


def _deadline(first: bool | None, met: bool) -> Condition:
    """Rows made under a deadline (`met`: and meeting it); `first`: the thread's first
    of its kind, or a later one (None: any)."""

    def condition(e: Any) -> ColumnElement[bool]:
        chosen = [e.sla_met.is_(True) if met else e.sla_met.is_not(None)]
        if first is not None:
            chosen.append(e.first.is_(first))
        return and_(*chosen)

    return condition


# Each count's rule, written once (the definitions are in docs/reports.md).
_COUNTS = {
    "created": _Count(CREATED),
    "first_handoffs": _Count(HANDOFF, _first),
    "helped": _Count(HELPED),
    "not_helped": _Count(NOT_HELPED),
    "breaches": _Count(BREACHED),
    "first_resolutions": _Count(RESOLVED, _first),
    # Contained: the customer's yes closed it and they did not come back to reopen it
    # (a reopened bot thread goes on to the queue: a person served it after all).
    "bot_resolutions": _Count(
        RESOLVED,
        _first_resolution(lambda e: and_(e.actor_kind == "bot", e.reopened.is_(False))),
    ),
    # FCR and reopens are about each thread's first resolution by an agent: a bot's
    # "yes" followed by another question is the bot's reopen (containment), not theirs.
    "agent_resolutions": _Count(RESOLVED, _first_by_agent),
    "agent_handled": _Count(RESOLVED, _first_resolution(lambda e: e.replies >= 1, by_agent=True)),
    "one_touch": _Count(
        RESOLVED,
        _first_resolution(lambda e: and_(e.replies == 1, e.reopened.is_(False)), by_agent=True),
    ),
    "reopened": _Count(RESOLVED, _first_resolution(lambda e: e.reopened.is_(True), by_agent=True)),
    "merged": _Count(RESOLVED, lambda e: e.merged.is_(True)),
    "first_response_due": _Count(RESPONSE, _deadline(True, met=False)),
    "first_response_met": _Count(RESPONSE, _deadline(True, met=True)),
    "next_response_due": _Count(RESPONSE, _deadline(False, met=False)),
    "next_response_met": _Count(RESPONSE, _deadline(False, met=True)),
    "resolution_due": _Count(RESOLVED, _deadline(None, met=False)),
    "resolution_met": _Count(RESOLVED, _deadline(None, met=True)),
}
# The kinds counted, each read by its own query (the (kind, at) index finds its rows).
_COUNTED_KINDS = tuple(dict.fromkeys(count.kind for count in _COUNTS.values()))


@dataclass(frozen=True, slots=True)
class _Measure:
    """A duration figure: the events it is measured from (their kind, and which of
    that kind's rows) and the column it measures."""

    kind: str
    among: Condition  # which of the kind's rows (a null value never counts)
    column: str

    def rows(self, e: Any) -> ColumnElement[bool]:
        value = getattr(e, self.column)
        return and_(e.kind == self.kind, value.is_not(None), self.among(e))


def _later(e: Any) -> ColumnElement[bool]:
    return e.first.is_(False)  # type: ignore[no-any-return]


def _by_agent(e: Any) -> ColumnElement[bool]:
    return e.actor_kind == "agent"  # type: ignore[no-any-return]


def _by_bot(e: Any) -> ColumnElement[bool]:
    return e.actor_kind == "bot"  # type: ignore[no-any-return]


# By name (`kpis.figures` reads them): wall clock and business seconds of the same rows.
# Resolution time is the agents' (as a help desk's resolution time is over tickets,
# which a bot conversation becomes only when handed off); the bot's own, seconds after
# its answer, apart. A merge measures nothing (its row has no seconds).
_MEASURES = {
    "first_response": _Measure(RESPONSE, _first, "seconds"),
    "first_response_business": _Measure(RESPONSE, _first, "business_seconds"),
    "next_response": _Measure(RESPONSE, _later, "seconds"),
    "next_response_business": _Measure(RESPONSE, _later, "business_seconds"),
    "resolution": _Measure(RESOLVED, _by_agent, "seconds"),
    "resolution_business": _Measure(RESOLVED, _by_agent, "business_seconds"),
    "bot_resolution": _Measure(RESOLVED, _by_bot, "seconds"),
}


class _Total:
    """The key of the total among group keys (no group key is this object)."""


_TOTAL: Any = _Total()
_Durations = dict[Key, dict[str, kpis.Durations]]


@dataclass
class _Found:
    """What the per-kind queries found, by group (and `_TOTAL`)."""

    counts: dict[Key, dict[str, int]] = dataclasses.field(default_factory=lambda: defaultdict(dict))
    durations: _Durations = dataclasses.field(default_factory=lambda: defaultdict(dict))
    resolved: dict[Key, int] = dataclasses.field(default_factory=dict)


def _filtered(aggregate: Any, condition: ColumnElement[bool] | None) -> ColumnElement[Any]:
    chosen: ColumnElement[Any] = aggregate if condition is None else aggregate.filter(condition)
    return chosen


async def _kind_facts(
    session: AsyncSession,
    window: ColumnElement[bool],
    key: ColumnElement[Any] | None,
    kind: str,
    found: _Found,
    *,
    measured: bool,
) -> None:
    """Count (and, when `measured`, measure) the window's events of `kind` into `found`:
    one pass over that kind's rows. Counts are additive (the total is the sum of the
    groups); percentiles and distinct threads are not, so a query with them computes the
    total too (GROUPING SETS)."""
    e = ThreadEvent
    counts = [name for name, count in _COUNTS.items() if count.kind == kind]
    columns: list[ColumnElement[Any]] = [
        _filtered(func.count(), condition(e) if (condition := _COUNTS[name].condition) else None)
        for name in counts
    ]
    measures = [name for name, m in _MEASURES.items() if m.kind == kind] if measured else []
    # One sort per measure for both percentiles: percentile_cont over an array. Nulls
    # are ignored by count(value), percentile_cont and avg alike.
    fractions: ColumnElement[Any] = literal_column("ARRAY[0.5, 0.9]::float8[]")
    for name in measures:
        value, among = getattr(e, _MEASURES[name].column), _MEASURES[name].among(e)
        columns += [
            _filtered(func.count(value), among),
            _filtered(func.percentile_cont(fractions).within_group(value), among),
            _filtered(func.avg(value), among),
        ]
    threads = measured and kind == RESOLVED
    if threads:
        columns.append(func.count(distinct(e.thread_id)))
    additive = not measures and not threads
    query = select(*columns).where(window, e.kind == kind)
    if key is None:
        query = query.add_columns(literal(1), literal(None))
    elif additive:
        query = query.add_columns(literal(0), key).group_by(key)
    else:
        query = query.add_columns(func.grouping(key), key).group_by(
            func.grouping_sets(tuple_(), tuple_(key))
        )
    for *row, is_total, found_key in await session.execute(query):
        groups = [_TOTAL] if is_total else [_key_value(found_key)]
        if key is not None and additive:
            groups.append(_TOTAL)
        for group in groups:
            counted = found.counts[group]
            for name, n in zip(counts, row[: len(counts)], strict=True):
                counted[name] = counted.get(name, 0) + int(n)
        group = groups[0]
        for index, name in enumerate(measures):
            count, percentiles, mean = row[len(counts) + 3 * index : len(counts) + 3 * index + 3]
            if count:
                median, p90 = percentiles
                found.durations[group][name] = kpis.Durations(
                    int(count), round(median, 1), round(p90, 1), round(float(mean), 1)
                )
        if threads:
            found.resolved[group] = int(row[-1])


async def _event_facts(
    session: AsyncSession,
    window: ColumnElement[bool],
    key: ColumnElement[Any] | None,
    dialect: str,
) -> tuple[_Facts, dict[Key, _Facts]]:
    """The window's event facts in total and per `key` (none: the total only).

    One query per counted kind. PostgreSQL computes the durations' percentiles in the
    same pass as the counts of their kind; SQLite has no percentile_cont, so there the
    measured values are read and interpolated the same way in Python.
    """
    found = _Found()
    postgres = dialect == "postgresql"
    for kind in _COUNTED_KINDS:
        await _kind_facts(session, window, key, kind, found, measured=postgres)
    if not postgres:
        durations, found.resolved = await _sqlite_durations(session, window, key)
        found.durations.update(durations)

    def facts(group: Key) -> _Facts:
        counts = kpis.Counts(
            resolved_threads=found.resolved.get(group, 0), **found.counts.get(group, {})
        )
        return _Facts(counts, found.durations.get(group, {}))

    total = facts(_TOTAL)
    if key is None:
        return total, {}
    groups = (set(found.counts) | set(found.durations) | set(found.resolved)) - {_TOTAL}
    return total, {group: facts(group) for group in groups}


def _measured_rows(
    window: ColumnElement[bool], key: ColumnElement[Any] | None, kinds: tuple[str, ...]
) -> Any:
    event = ThreadEvent
    return (
        select(
            (key if key is not None else literal(None)).label("key"),
            event.thread_id,
            event.kind,
            event.first,
            event.actor_kind,
            event.seconds,
            event.business_seconds,
        )
        .where(window, event.kind.in_(kinds))
        .subquery("e")
    )


async def _sqlite_durations(
    session: AsyncSession, window: ColumnElement[bool], key: ColumnElement[Any] | None
) -> tuple[_Durations, dict[Key, int]]:
    e = _measured_rows(window, key, (RESPONSE, RESOLVED)).c
    values: dict[Key, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    chosen = [case((m.rows(e), getattr(e, m.column))) for m in _MEASURES.values()]
    for found, *measured in await session.execute(select(e.key, *chosen)):
        for name, seconds in zip(_MEASURES, measured, strict=True):
            if seconds is not None:
                values[_TOTAL][name].append(seconds)
                if key is not None:
                    values[_key_value(found)][name].append(seconds)
    durations: _Durations = {
        group: {name: kpis.durations(measured) for name, measured in by_name.items()}
        for group, by_name in values.items()
    }
    threads = func.count(distinct(e.thread_id)).filter(e.kind == RESOLVED)
    resolved = {_TOTAL: int(await session.scalar(select(threads)) or 0)}
    if key is not None:
        for found, n in await session.execute(select(e.key, threads).group_by(e.key)):
            resolved[_key_value(found)] = int(n)
    return durations, resolved


@dataclass(frozen=True, slots=True)
class _Answers:
    """Counted survey answers: additive, so the total is the sum of the groups."""

    csat: int = 0
    satisfied: int = 0
    csat_points: int = 0
    nps: int = 0
    promoters: int = 0
    detractors: int = 0
    csat_sent: int = 0  # CSAT surveys sent in the window
    csat_sent_answered: int = 0  # ... answered since
    nps_sent: int = 0  # NPS surveys sent in the window
    nps_sent_answered: int = 0  # ... answered since

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
            self.csat_sent,
            self.csat_sent_answered,
            self.nps_sent,
            self.nps_sent_answered,
        )

    def kpis(self) -> tuple[kpis.Csat, kpis.Nps]:
        return (
            kpis.csat(
                self.csat,
                self.satisfied,
                self.csat_points,
                sent=self.csat_sent,
                sent_answered=self.csat_sent_answered,
            ),
            kpis.nps(
                self.nps,
                self.promoters,
                self.detractors,
                sent=self.nps_sent,
                sent_answered=self.nps_sent_answered,
            ),
        )


async def _surveys(
    session: AsyncSession,
    answered: ColumnElement[bool],
    sent: ColumnElement[bool],
    keys: tuple[ColumnElement[Any], ColumnElement[Any]] | None,
) -> dict[Key, _Answers]:
    """The answers given in the window (`answered`, grouped by the first of `keys`) and
    the surveys of each kind sent in it (`sent`, by the second): each by its own time."""
    found = await _answers(session, answered, keys[0] if keys else None)
    group = keys[1] if keys else literal(None)
    kind = SurveyAnswer.kind
    query = (
        select(group.label("key"), kind, func.count(), _is(SurveyAnswer.score.is_not(None)))
        .where(sent, kind.in_(("csat", "nps")))
        .group_by(kind)
    )
    if keys:
        query = query.group_by(group)
    for key, of_kind, count, answers in await session.execute(query):
        name = _key_value(key)
        # One rule for both kinds: sent in the window, and of those, answered by now.
        figures = (
            _Answers(csat_sent=int(count), csat_sent_answered=int(answers))
            if of_kind == "csat"
            else _Answers(nps_sent=int(count), nps_sent_answered=int(answers))
        )
        found[name] = found.get(name, _Answers()) + figures
    return found


async def _answers(
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
        # Compiling these few aggregates to machine code costs more than it saves (JIT
        # took ~230 ms). Both for this transaction only, in one round trip (a read
        # session must be in one: `read_in_transaction`).
        await session.execute(
            text("SELECT set_config('work_mem', :memory, true), set_config('jit', 'off', true)"),
            {"memory": SORT_MEMORY},
        )
    own_events = true() if actor.is_admin else ThreadEvent.agent_id == actor.agent_id
    own_answers = true() if actor.is_admin else SurveyAnswer.agent_id == actor.agent_id
    events = and_(ThreadEvent.at >= start, ThreadEvent.at < end, own_events)
    answers = and_(SurveyAnswer.answered_at >= start, SurveyAnswer.answered_at < end, own_answers)
    sent = and_(SurveyAnswer.created_at >= start, SurveyAnswer.created_at < end, own_answers)
    event_key = None
    survey_keys = None
    if group_by is not None:
        event_key = _key(ThreadEvent, ThreadEvent.at, group_by, dialect)
        survey_keys = (
            _key(SurveyAnswer, SurveyAnswer.answered_at, group_by, dialect),
            _key(SurveyAnswer, SurveyAnswer.created_at, group_by, dialect),
        )
    total_facts, grouped_facts = await _event_facts(session, events, event_key, dialect)
    surveyed = await _surveys(session, answers, sent, survey_keys)
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


async def team_figures(session: AsyncSession, start: datetime, end: datetime) -> kpis.Figures:
    """The whole team's figures of [start, end), without groups or backlog (the
    queue's live stats: the same definitions as every report)."""
    total, _ = await _figures(session, start, end, None, WHOLE_TEAM)
    return total


async def _agent_names(session: AsyncSession, grouped: Mapping[Key, Any]) -> dict[Key, str]:
    ids = [key for key in grouped if isinstance(key, int)]
    if not ids:
        return {}
    rows = await session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(ids)))
    return {int(agent_id): str(name) for agent_id, name in rows}


def parse_window(
    raw_from: str | None, raw_to: str | None, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """`from` and `to` (dates as `router.service.date_filters` reads them: a date is its
    midnight UTC, a time without an offset is UTC); `to` defaults to now, `from` to
    seven days before `to`.

    Raises:
        ReportError: a value that is not such a date or date-time.
    """
    try:
        end = parse_date_filter(raw_to, "to") if raw_to is not None else (now or utcnow())
        start = (
            parse_date_filter(raw_from, "from") if raw_from is not None else end - timedelta(days=7)
        )
    except DateFilterError as exc:
        raise ReportError(str(exc)) from None
    return start, end


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
