"""The KPI definitions as arithmetic on counted facts: each written once here (and in
words in docs/reports.md); `summary` counts the facts in SQL.

Rates are fractions (0..1), `_pct` figures are percentages (0..100); a figure with
nothing to measure is None (null), never 0, so "no data" is not read as "all bad".
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
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
    sent: int = 0
    response_rate: float | None = None


def csat(
    responses: int, satisfied: int, total_score: int, *, sent: int = 0, sent_answered: int = 0
) -> Csat:
    """% of answers scoring 4 or 5 (of 5), and the mean score; of the surveys `sent`
    (in the window), the fraction answered (`sent_answered`, whenever)."""
    return Csat(
        responses=responses,
        satisfied_pct=pct(satisfied, responses),
        mean=round(total_score / responses, 2) if responses else None,
        sent=sent,
        response_rate=rate(sent_answered, sent),
    )


@dataclass(frozen=True, slots=True)
class Nps:
    responses: int = 0
    score: float | None = None
    sent: int = 0
    response_rate: float | None = None


def nps(
    responses: int, promoters: int, detractors: int, *, sent: int = 0, sent_answered: int = 0
) -> Nps:
    """% promoters (9-10) − % detractors (0-6), from −100 to 100; of the surveys `sent`
    (in the window), the fraction answered (`sent_answered`, whenever), as for CSAT."""
    return Nps(
        responses=responses,
        score=round(100 * (promoters - detractors) / responses, 1) if responses else None,
        sent=sent,
        response_rate=rate(sent_answered, sent),
    )


@dataclass(frozen=True, slots=True)
class Sla:
    """Attainment of service-level deadlines: % of the responses and resolutions made
    under a deadline that met it, and how many deadlines passed unmet (breaches)."""

    first_response_met_pct: float | None = None
    next_response_met_pct: float | None = None
    resolution_met_pct: float | None = None
    breaches: int = 0


@dataclass(frozen=True, slots=True)
class Counts:
    """The facts one group's figures are computed from (see `summary`)."""

    created: int = 0
    resolved_threads: int = 0
    first_resolutions: int = 0
    bot_resolutions: int = 0  # first resolutions by the bot, not reopened
    first_handoffs: int = 0
    agent_resolutions: int = 0  # threads' first resolutions by an agent
    agent_handled: int = 0  # ... after at least one agent reply
    one_touch: int = 0  # ... after exactly one, not reopened
    reopened: int = 0  # ... reopened since
    merged: int = 0  # threads closed by a merge of their customer
    helped: int = 0  # "did this help?" answered yes
    not_helped: int = 0  # ... answered no
    first_response_due: int = 0  # first responses made under a deadline
    first_response_met: int = 0  # ... by it
    next_response_due: int = 0
    next_response_met: int = 0
    resolution_due: int = 0  # resolutions made under a deadline
    resolution_met: int = 0
    breaches: int = 0  # deadlines that passed unmet


@dataclass(frozen=True, slots=True)
class Figures:
    """One row of a summary: the window's figures for one group (or all)."""

    threads_created: int = 0
    threads_resolved: int = 0
    threads_merged: int = 0
    first_response_seconds: Durations = field(default_factory=Durations)
    first_response_business_seconds: Durations = field(default_factory=Durations)
    next_response_seconds: Durations = field(default_factory=Durations)
    next_response_business_seconds: Durations = field(default_factory=Durations)
    resolution_seconds: Durations = field(default_factory=Durations)
    resolution_business_seconds: Durations = field(default_factory=Durations)
    bot_resolution_seconds: Durations = field(default_factory=Durations)
    fcr_rate: float | None = None
    reopen_rate: float | None = None
    bot_containment_rate: float | None = None
    bot_helped_rate: float | None = None
    handoff_rate: float | None = None
    csat: Csat = field(default_factory=Csat)
    nps: Nps = field(default_factory=Nps)
    sla: Sla = field(default_factory=Sla)


def sla(counts: Counts) -> Sla:
    """Met % of each kind of deadline, and the breaches, from counted facts."""
    return Sla(
        first_response_met_pct=pct(counts.first_response_met, counts.first_response_due),
        next_response_met_pct=pct(counts.next_response_met, counts.next_response_due),
        resolution_met_pct=pct(counts.resolution_met, counts.resolution_due),
        breaches=counts.breaches,
    )


def figures(
    counts: Counts,
    durations: Mapping[str, Durations],
    *,
    csat: Csat,
    nps: Nps,
) -> Figures:
    """Every KPI of one group, from its counted facts and its measured `durations`
    (by measure name: `first_response`, `first_response_business`, ...; a measure
    without values is left out)."""

    def measured(name: str) -> Durations:
        return durations.get(name, Durations())

    return Figures(
        threads_created=counts.created,
        threads_resolved=counts.resolved_threads,
        threads_merged=counts.merged,
        first_response_seconds=measured("first_response"),
        first_response_business_seconds=measured("first_response_business"),
        next_response_seconds=measured("next_response"),
        next_response_business_seconds=measured("next_response_business"),
        resolution_seconds=measured("resolution"),
        resolution_business_seconds=measured("resolution_business"),
        bot_resolution_seconds=measured("bot_resolution"),
        fcr_rate=rate(counts.one_touch, counts.agent_handled),
        reopen_rate=rate(counts.reopened, counts.agent_resolutions),
        bot_containment_rate=rate(counts.bot_resolutions, counts.first_resolutions),
        bot_helped_rate=rate(counts.helped, counts.helped + counts.not_helped),
        handoff_rate=rate(counts.first_handoffs, counts.created),
        csat=csat,
        nps=nps,
        sla=sla(counts),
    )
