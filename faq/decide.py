"""From a customer message to a verdict: answer, suggest, hand off, or small talk.

This is the part of the bot's policy that needs no conversation state, shared by the
bot and by `faq eval`, so that the evaluation measures what the bot does.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from faq.matcher import Candidate, Matcher, MatchResult
from faq.triage import MessageKind, triage


class VerdictKind(enum.StrEnum):
    ANSWER = "answer"  # confident: answer with the top candidate
    SUGGEST = "suggest"  # unsure between close candidates: offer them
    HANDOFF = "handoff"  # not confident: bring a person
    HUMAN = "human"  # the customer asked for a person
    GREETING = "greeting"
    THANKS = "thanks"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Confidence cut-offs, tuned on ../shared/data/faq/dev.jsonl: `answer` sits inside
    the range (0.6-0.65) that gives at most one wrong answer there."""

    answer: float = 0.62
    suggest: float = 0.15
    # a candidate is offered if its score is at least this share of the best one's
    suggest_ratio: float = 0.75
    max_suggestions: int = 3


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with a message; `match` is set whenever the KB was consulted."""

    kind: VerdictKind
    match: MatchResult | None = None
    suggestions: tuple[Candidate, ...] = ()

    @property
    def answer(self) -> Candidate | None:
        """The candidate to answer with, for an ANSWER verdict."""
        return self.match.best if self.kind is VerdictKind.ANSWER and self.match else None


_SMALL_TALK = {
    MessageKind.EMPTY: VerdictKind.EMPTY,
    MessageKind.GREETING: VerdictKind.GREETING,
    MessageKind.THANKS: VerdictKind.THANKS,
    MessageKind.HUMAN: VerdictKind.HUMAN,
}


def decide_match(result: MatchResult, thresholds: Thresholds) -> Verdict:
    """Turn a match into ANSWER, SUGGEST or HANDOFF by its confidence."""
    best = result.best
    if best is None:
        return Verdict(VerdictKind.HANDOFF, result)
    if result.confidence >= thresholds.answer:
        return Verdict(VerdictKind.ANSWER, result)
    if result.confidence >= thresholds.suggest:
        close = tuple(
            c
            for c in result.candidates[: thresholds.max_suggestions]
            if c.score >= thresholds.suggest_ratio * best.score
        )
        return Verdict(VerdictKind.SUGGEST, result, close)
    return Verdict(VerdictKind.HANDOFF, result)


def decide(text: str, matcher: Matcher, thresholds: Thresholds) -> Verdict:
    """Classify `text` (small talk, request for a person) or match it against the KB.

    Args:
        text: the customer's message as typed.
        matcher: the matcher of the current KB.
        thresholds: the confidence cut-offs.

    Returns:
        The verdict; greetings and thanks that come with a question are matched.
    """
    kind = triage(text)
    if kind.kind is not MessageKind.QUESTION:
        return Verdict(_SMALL_TALK[kind.kind])
    return decide_match(matcher.match(kind.rest), thresholds)
