"""SLA policies and the three clocks of a thread, as pure functions over its clock state.

- **first response**: starts when the thread is handed to people (queued for a tier);
  stops at the first agent reply. Escalation and transfer keep it running.
- **next response**: starts at a customer message that arrives after the first agent
  reply while nobody owes them one yet; stops at the next agent reply, when the thread
  goes pending, or when it is resolved. Only the customer's message restarts it.
- **resolution**: starts with the first-response clock; runs until the thread is resolved.

`pending` (waiting on the customer) and `resolved` both pause the first-response and
resolution clocks: the business minutes (or, for a wall-clock policy, real minutes)
between the pause and its end are added to their targets. A pause stops the
next-response clock outright. Deadlines are computed from this state and stored on the
thread; the alarms (warning and breach instants) are computed from the same state.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from router.service.calendars import (
    BusinessCalendar,
    NoOpeningFound,
    add_business_seconds,
    business_minutes_between,
    closing_time,
    is_open,
    next_opening,
)

Priority = Literal["urgent", "high", "normal", "low"]
PRIORITIES: tuple[Priority, ...] = ("urgent", "high", "normal", "low")
# The thread's `priority` column holds a number (the queue takes the highest first).
_PRIORITY_RANKS: dict[str, int] = {"urgent": 2, "high": 1, "normal": 0, "low": -1}
Target = Literal["first_response", "next_response", "resolution"]
TARGETS: tuple[Target, ...] = ("first_response", "next_response", "resolution")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_POLICY_KEYS = frozenset(
    {
        "priority",
        "calendar",
        "business_hours",
        "first_response_minutes",
        "next_response_minutes",
        "resolution_minutes",
        "tier",
        "channel",
    }
)
# Open this long from now without a break, the team works round the clock: nobody
# online now names no opening (the "next" one could be days or weeks away).
ROUND_THE_CLOCK = timedelta(days=1)
# A target longer than a year of minutes is a typo (the OpenAPI document says the same).
MAX_TARGET_MINUTES = 365 * 24 * 60


class PolicyError(ValueError):
    """An SLA policy body that cannot be used; `problems` lists every reason."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


def priority_rank(priority: str) -> int:
    """The number stored in `Thread.priority` for a priority name."""
    return _PRIORITY_RANKS[priority]


def priority_name(rank: int) -> Priority:
    """The priority name of a stored number (numbers beyond the ends clamp to them)."""
    if rank >= 2:
        return "urgent"
    if rank == 1:
        return "high"
    if rank == 0:
        return "normal"
    return "low"


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Targets in minutes (None: no target) for threads of one priority, optionally only
    of one tier and/or one channel; business minutes of `calendar`, or wall-clock ones."""

    name: str
    priority: Priority
    calendar: str | None
    business_hours: bool
    first_response_minutes: int | None
    next_response_minutes: int | None
    resolution_minutes: int | None
    tier: int | None = None
    channel: str | None = None

    def minutes(self, target: Target) -> int | None:
        return {
            "first_response": self.first_response_minutes,
            "next_response": self.next_response_minutes,
            "resolution": self.resolution_minutes,
        }[target]


def policy_from_json(name: str, body: object) -> SlaPolicy:
    """Parse a policy body (the PUT /api/v1/sla-policies/{name} shape).

    Raises:
        PolicyError: naming every problem.
    """
    problems: list[str] = []
    if not _NAME.fullmatch(name):
        problems.append("name: 1-64 letters, digits, '-' or '_'")
    if not isinstance(body, Mapping):
        raise PolicyError([*problems, "the policy must be a JSON object"])
    problems += [f"{key}: unknown field" for key in sorted(set(body) - _POLICY_KEYS, key=str)]
    priority = body.get("priority")
    if priority not in PRIORITIES:
        problems.append(f"priority: must be one of {', '.join(PRIORITIES)}")
    calendar = body.get("calendar")
    # Left out, it follows the calendar: business minutes of one, else wall-clock minutes.
    business_hours = body.get("business_hours", calendar is not None)
    if not isinstance(business_hours, bool):
        problems.append("business_hours: must be true or false")
    if calendar is not None and not (isinstance(calendar, str) and _NAME.fullmatch(calendar)):
        problems.append("calendar: a calendar name (1-64 letters, digits, '-' or '_')")
    if business_hours is True and calendar is None:
        problems.append("calendar: required when business_hours is true")
    targets: dict[str, int | None] = {}
    for target in TARGETS:
        key = f"{target}_minutes"
        value = _json_integer(body.get(key))
        if value is not None and not (isinstance(value, int) and 0 < value <= MAX_TARGET_MINUTES):
            problems.append(f"{key}: a whole number of minutes, 1 to {MAX_TARGET_MINUTES}, or null")
            value = None
        targets[key] = value
    tier = _json_integer(body.get("tier"))
    if tier is not None and tier not in (1, 2, 3):
        problems.append("tier: 1, 2, 3 or null")
    channel = body.get("channel")
    if channel is not None and not (isinstance(channel, str) and _NAME.fullmatch(channel)):
        problems.append("channel: a channel name or null")
    if problems:
        raise PolicyError(problems)
    return SlaPolicy(
        name=name,
        priority=priority,  # type: ignore[arg-type]  # checked against PRIORITIES above
        calendar=calendar,
        business_hours=bool(business_hours),
        first_response_minutes=targets["first_response_minutes"],
        next_response_minutes=targets["next_response_minutes"],
        resolution_minutes=targets["resolution_minutes"],
        tier=tier if isinstance(tier, int) else None,  # checked above: 1, 2, 3 or None
        channel=channel,
    )


def _json_integer(value: object) -> object:
    """`value`, with a JSON number of zero fraction (`60.0`) read as the integer it is to
    JSON Schema, and a boolean (never a number) kept apart as its text."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def policy_to_json(policy: SlaPolicy) -> dict[str, object]:
    """The body `policy_from_json` reads back to the same policy."""
    return {
        "priority": policy.priority,
        "calendar": policy.calendar,
        "business_hours": policy.business_hours,
        "first_response_minutes": policy.first_response_minutes,
        "next_response_minutes": policy.next_response_minutes,
        "resolution_minutes": policy.resolution_minutes,
        "tier": policy.tier,
        "channel": policy.channel,
    }


def choose_policy(
    policies: Sequence[SlaPolicy], *, priority: str, tier: int, channel: str | None
) -> SlaPolicy | None:
    """The policy for a thread: its priority's, the most specific match first (tier and
    channel, then tier, then channel, then neither); ties go to the first name in order."""
    matching = [
        policy
        for policy in policies
        if policy.priority == priority
        and policy.tier in (None, tier)
        and policy.channel in (None, channel)
    ]
    if not matching:
        return None
    return min(matching, key=lambda p: (p.tier is None, p.channel is None, p.name))


@dataclass(frozen=True, slots=True)
class Measure:
    """How a policy counts minutes: business minutes of a calendar, or real ones."""

    calendar: BusinessCalendar | None  # None: wall clock

    def add(self, instant: datetime, minutes: float) -> datetime:
        if self.calendar is None:
            return instant + timedelta(minutes=minutes)
        # Business time is kept to the whole second: a measured pause is a fraction, and
        # so is the warning of a short target (80 % of 2 minutes); to the whole minute the
        # warning of a 1- or 2-minute target fell on the due time, with the breach.
        return add_business_seconds(self.calendar, instant, _seconds(minutes))

    def add_more(self, start: datetime, reached: datetime, done: float, total: float) -> datetime:
        """`add(start, total)`, knowing `reached == add(start, done)` (done <= total)."""
        if self.calendar is None:
            return start + timedelta(minutes=total)
        rest = _seconds(total) - _seconds(done)
        return add_business_seconds(self.calendar, reached, rest)

    def between(self, start: datetime, end: datetime) -> float:
        if self.calendar is None:
            return max(0.0, (end - start) / timedelta(minutes=1))
        return business_minutes_between(self.calendar, start, end)


def _seconds(minutes: float) -> int:
    return round(minutes * 60)


@dataclass(frozen=True, slots=True)
class ClockState:
    """What the clocks of one thread are computed from (columns of the thread row)."""

    started_at: datetime | None  # first-response and resolution clocks
    paused_minutes: float  # measured pauses, added to their targets
    paused_since: datetime | None  # pending or resolved since
    first_response_at: datetime | None
    next_response_started_at: datetime | None


@dataclass(frozen=True, slots=True)
class Deadlines:
    first_response: datetime | None = None
    next_response: datetime | None = None
    resolution: datetime | None = None

    def of(self, target: Target) -> datetime | None:
        return {
            "first_response": self.first_response,
            "next_response": self.next_response,
            "resolution": self.resolution,
        }[target]


def clock_start(state: ClockState, target: Target) -> datetime | None:
    """When the running clock of `target` started (None: it is not running)."""
    if state.paused_since is not None or state.started_at is None:
        return None
    if target == "first_response":
        return state.started_at if state.first_response_at is None else None
    if target == "next_response":
        return state.next_response_started_at
    return state.started_at


def deadlines(state: ClockState, policy: SlaPolicy | None, measure: Measure) -> Deadlines:
    """The deadlines of the running clocks (None for a clock not running or without target)."""
    return deadlines_and_alarms(state, policy, measure, 0)[0]


@dataclass(frozen=True, slots=True)
class Alarm:
    """A `warning` or `breach` of one run of one clock, due at `fire_at`."""

    target: Target
    kind: Literal["warning", "breach"]
    clock_started_at: datetime
    due_at: datetime
    fire_at: datetime


def alarms(
    state: ClockState, policy: SlaPolicy | None, measure: Measure, warning_percent: int
) -> list[Alarm]:
    """The warning (at `warning_percent` of the target; none when 0) and the breach of
    every running clock."""
    return deadlines_and_alarms(state, policy, measure, warning_percent)[1]


def deadlines_and_alarms(
    state: ClockState, policy: SlaPolicy | None, measure: Measure, warning_percent: int
) -> tuple[Deadlines, list[Alarm]]:
    """`deadlines` and `alarms` at once: each clock's calendar is walked once, to the
    warning and on from there to the deadline (adding in two steps equals adding at once)."""
    if policy is None:
        return Deadlines(), []
    dues: dict[str, datetime | None] = dict.fromkeys(TARGETS)
    found: list[Alarm] = []
    for target in TARGETS:
        start, minutes = clock_start(state, target), policy.minutes(target)
        if start is None or minutes is None:
            continue
        # The next-response clock starts after any pause ended: no pause lies inside it.
        paused = 0.0 if target == "next_response" else state.paused_minutes
        total, warn_at = minutes + paused, minutes * warning_percent / 100 + paused
        try:
            if 0 < warning_percent < 100:
                warn = measure.add(start, warn_at)
                due = measure.add_more(start, warn, warn_at, total)
                found.append(Alarm(target, "warning", start, due, warn))
            else:
                due = measure.add(start, total)
        except NoOpeningFound:
            # A calendar that never opens again (or not within the walk limit) promises
            # nothing: no deadline, no alarm.
            continue
        dues[target] = due
        found.append(Alarm(target, "breach", start, due, due))
    deadlines = Deadlines(dues["first_response"], dues["next_response"], dues["resolution"])
    return deadlines, found


def paused(state: ClockState, now: datetime) -> ClockState:
    """The state after a pause (pending or resolved) starts at `now`; the next-response
    clock stops (the ball is in the customer's court, or nobody's)."""
    if state.paused_since is not None:
        return state
    return dataclasses.replace(state, paused_since=now, next_response_started_at=None)


def resumed(state: ClockState, measure: Measure, now: datetime) -> ClockState:
    """The state after a pause ends at `now`: its measured length joins `paused_minutes`."""
    if state.paused_since is None:
        return state
    length = measure.between(state.paused_since, now) if state.started_at is not None else 0.0
    total = state.paused_minutes + length
    return dataclasses.replace(state, paused_since=None, paused_minutes=total)


def customer_wrote(state: ClockState, at: datetime) -> ClockState:
    """A customer message at `at`: starts the next-response clock if an agent has
    answered before and none is running (call after `resumed`)."""
    if state.started_at is None or state.first_response_at is None:
        return state
    if state.next_response_started_at is not None or state.paused_since is not None:
        return state
    return dataclasses.replace(state, next_response_started_at=at)


def agent_replied(state: ClockState, at: datetime) -> ClockState:
    """An agent's reply to the customer at `at`: stops the first- and next-response clocks."""
    return dataclasses.replace(
        state,
        first_response_at=state.first_response_at or at,
        next_response_started_at=None,
    )


@dataclass(frozen=True, slots=True)
class Expectation:
    """When a person will answer: `now` (someone is at work), `at` the next opening
    (nobody works now), or `unknown` (no agent exists, or the calendar never opens
    again): then nothing may be promised."""

    kind: Literal["now", "at", "unknown"]
    at: datetime | None = None


def when_a_person_answers(
    calendar: BusinessCalendar | None, *, agents: int, online: int, now: datetime
) -> Expectation:
    """What the customer may honestly be told, from the thread's calendar (None: the team
    keeps no hours) and the staffing of its tier (`router.agents.staffing`)."""
    if agents == 0:
        return Expectation("unknown")
    if calendar is None:
        return Expectation("now") if online > 0 else Expectation("unknown")
    if is_open(calendar, now) and online > 0:
        return Expectation("now")
    # Open with nobody online: the opening after the current stretch counts.
    closing = closing_time(calendar, now, ROUND_THE_CLOCK)
    if closing is None:
        return Expectation("unknown")
    try:
        return Expectation("at", next_opening(calendar, closing))
    except NoOpeningFound:
        return Expectation("unknown")
