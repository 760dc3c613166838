"""The knowledge-gap report over the database: what `pasokh faq gaps` and
`GET /api/v1/knowledge/gaps` show. The grouping itself is `faq.gaps` (pure)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from faq.gaps import GapEmbeddings, GapQuestion, GapReport, gap_report
from faq.normalise import fold_digits
from router.core.messages import utcnow
from router.service.date_filters import ANY_DIGIT, DATE_PATTERN, DateFilterError, parse_date_filter
from router.storage.models import KnowledgeGapRecord

DEFAULT_PERIOD = timedelta(days=7)
# The newest records read per period: enough for a report, bounded for memory.
MAX_RECORDS = 20_000
# What `since` may be (the API's document says the same): a span in days or hours, or
# a date or date-time as every period's dates are written (`date_filters`), in any of
# the three digit scripts.
SINCE_PATTERN = rf"^({ANY_DIGIT}{{1,5}}[dh]|{DATE_PATTERN})$"
_SPAN = re.compile(r"[0-9]{1,5}[dh]")


def parse_since(value: str | None, now: datetime) -> datetime:
    """The start of the report: "7d", "24h", a date or date-time (`date_filters`), or
    None for the last seven days. A start after `now` is `now` (an empty report).

    Raises:
        ValueError: not one of those.
    """
    if value is None:
        return now - DEFAULT_PERIOD
    span = fold_digits(value)
    if _SPAN.fullmatch(span) is not None:
        amount = int(span[:-1])
        since = now - (timedelta(days=amount) if span[-1] == "d" else timedelta(hours=amount))
    else:
        try:
            since = parse_date_filter(value, "since")
        except DateFilterError as exc:
            raise ValueError(f"{exc}; or a span such as 7d or 24h") from None
    return min(since, now)


async def _questions(session: AsyncSession, start: datetime, end: datetime) -> list[GapQuestion]:
    rows = await session.execute(
        select(
            KnowledgeGapRecord.text,
            KnowledgeGapRecord.language,
            KnowledgeGapRecord.kind,
            KnowledgeGapRecord.entry_given,
            KnowledgeGapRecord.best_candidate,
            KnowledgeGapRecord.created_at,
        )
        .where(KnowledgeGapRecord.created_at >= start, KnowledgeGapRecord.created_at < end)
        .order_by(KnowledgeGapRecord.created_at.desc(), KnowledgeGapRecord.id.desc())
        .limit(MAX_RECORDS)
    )
    return [
        GapQuestion(
            text=text,
            language=language,
            kind=kind,
            entry=given or best,
            at=at if at.tzinfo is not None else at.replace(tzinfo=UTC),
        )
        for text, language, kind, given, best, at in rows
    ]


async def read_gap_report(
    session: AsyncSession,
    since: str | None,
    now: datetime | None = None,
    embeddings: GapEmbeddings | None = None,
) -> GapReport:
    """The gap topics from `since` (see `parse_since`) until now, with their trend
    against the period as long before it; grouped off the event loop, by meaning when
    `embeddings` (the semantic extra) is given.

    Raises:
        ValueError: `since` is not a valid start.
    """
    until = now or utcnow()
    start = parse_since(since, until)
    try:
        previous_since = start - (until - start)
    except OverflowError:
        raise ValueError(f"since {since!r} is too far back") from None
    current = await _questions(session, start, until)
    previous = await _questions(session, previous_since, start)
    return await asyncio.to_thread(
        gap_report,
        current,
        previous,
        since=start,
        until=until,
        previous_since=previous_since,
        embeddings=embeddings,
    )
