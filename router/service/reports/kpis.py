"""The KPI definitions as arithmetic on counted facts: each written once here (and in
words in docs/reports.md); `summary` counts the facts in SQL.

Rates are fractions (0..1), `_pct` figures are percentages (0..100); a figure with
nothing to measure is None (null), never 0, so "no data" is not read as "all bad".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

SATISFIED_MIN = 4  # CSAT: 4 and 5 of 5 are satisfied
PROMOTER_MIN = 9  # NPS: 9-10 promoters, 0-6 detractors, 7-8 passives
DETRACTOR_MAX = 6


@dataclass(frozen=True, slots=True)
class Durations:
    """count, median, 90th percentile and mean of a set of durations in seconds."""

    count: int = 0
    median: float | None = None
    p90: float | None = None
    mean: float | None = None


def percentile(ordered: Sequence[float], fraction: float) -> float:
    """Linear interpolation between the closest ranks: PostgreSQL's `percentile_cont`."""
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def durations(values: Sequence[float]) -> Durations:
    """The figures of `values` (any order)."""
    if not values:
        return Durations()
    ordered = sorted(values)
    return Durations(
        count=len(ordered),
        median=_round(percentile(ordered, 0.5)),
        p90=_round(percentile(ordered, 0.9)),
        mean=_round(sum(ordered) / len(ordered)),
    )


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def rate(part: int, whole: int) -> float | None:
    """part / whole as a fraction, None when there is no whole."""
    return round(part / whole, 4) if whole else None


def pct(part: int, whole: int) -> float | None:
    """part / whole as a percentage, None when there is no whole."""
    return round(100 * part / whole, 1) if whole else None


@dataclass(frozen=True, slots=True)
class Csat:
    responses: int = 0
    satisfied_pct: float | None = None
    mean: float | None = None


def csat(responses: int, satisfied: int, total_score: int) -> Csat:
    """% of answers scoring 4 or 5 (of 5), and the mean score."""
    return Csat(
        responses=responses,
        satisfied_pct=pct(satisfied, responses),
        mean=round(total_score / responses, 2) if responses else None,
    )


@dataclass(frozen=True, slots=True)
class Nps:
    responses: int = 0
    score: float | None = None


def nps(responses: int, promoters: int, detractors: int) -> Nps:
    """% promoters (9-10) − % detractors (0-6), from −100 to 100."""
    if not responses:
        return Nps()
    return Nps(responses, round(100 * (promoters - detractors) / responses, 1))


@dataclass(frozen=True, slots=True)
class Sla:
    """Attainment of service-level deadlines. Until the service-level calendars give
    threads deadlines there is nothing to attain: null percentages, no breaches."""

    first_response_met_pct: float | None = None
    resolution_met_pct: float | None = None
    breaches: int = 0


@dataclass(frozen=True, slots=True)
class Counts:
    """The facts one group's figures are computed from (see `summary`)."""

    created: int = 0
    resolved_threads: int = 0
    first_resolutions: int = 0
    bot_resolutions: int = 0  # first resolutions by the bot, never handed off
    first_handoffs: int = 0
    agent_handled: int = 0  # first resolutions after at least one agent reply
    one_touch: int = 0  # ... after exactly one, not reopened
    reopened: int = 0  # first resolutions reopened since


@dataclass(frozen=True, slots=True)
class Figures:
    """One row of a summary: the window's figures for one group (or all)."""

    threads_created: int = 0
    threads_resolved: int = 0
    first_response_seconds: Durations = field(default_factory=Durations)
    next_response_seconds: Durations = field(default_factory=Durations)
    resolution_seconds: Durations = field(default_factory=Durations)
    fcr_rate: float | None = None
    reopen_rate: float | None = None
    bot_containment_rate: float | None = None
    handoff_rate: float | None = None
    csat: Csat = field(default_factory=Csat)
    nps: Nps = field(default_factory=Nps)
    sla: Sla = field(default_factory=Sla)


def figures(
    counts: Counts,
    *,
    first_response: Durations,
    next_response: Durations,
    resolution: Durations,
    csat: Csat,
    nps: Nps,
    sla: Sla,
) -> Figures:
    """Every KPI of one group, from its counted facts."""
    return Figures(
        threads_created=counts.created,
        threads_resolved=counts.resolved_threads,
        first_response_seconds=first_response,
        next_response_seconds=next_response,
        resolution_seconds=resolution,
        fcr_rate=rate(counts.one_touch, counts.agent_handled),
        reopen_rate=rate(counts.reopened, counts.first_resolutions),
        bot_containment_rate=rate(counts.bot_resolutions, counts.first_resolutions),
        handoff_rate=rate(counts.first_handoffs, counts.created),
        csat=csat,
        nps=nps,
        sla=sla,
    )
