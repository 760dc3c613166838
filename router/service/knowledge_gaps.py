"""The knowledge-gap report over the database: what `pasokh faq gaps` and
`GET /api/v1/knowledge/gaps` show. The grouping itself is `faq.gaps` (pure)."""

from __future__ import annotations

import asyncio
import calendar
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from faq.gaps import GapEmbeddings, GapQuestion, GapReport, gap_report
from router.core.messages import utcnow
from router.storage.models import KnowledgeGapRecord

DEFAULT_PERIOD = timedelta(days=7)
# The newest records read per period: enough for a report, bounded for memory.
MAX_RECORDS = 20_000
# What `since` may be (the API's document says the same): a span in days or hours, or
# an ISO date or date-time of the years 1900-2199 (UTC without an offset).
SINCE_PATTERN = (
    r"^([0-9]{1,5}[dh]|(19|20|21)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?"
    r"(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?)?)$"
)
_SINCE = re.compile(SINCE_PATTERN)


def parse_since(value: str | None, now: datetime) -> datetime:
    """The start of the report: "7d", "24h", an ISO date or date-time (UTC if no
    offset), or None for the last seven days. A start after `now` is `now` (an empty
    report); a day past the month's end is its last day.

    Raises:
        ValueError: not one of those.
    """
    if value is None:
        return now - DEFAULT_PERIOD
    if _SINCE.fullmatch(value) is None:
        raise ValueError(
            f"since {value!r}: give an ISO date or date-time, or a span such as 7d or 24h"
        )
    if value[-1] in "dh":
        amount = int(value[:-1])
        since = now - (timedelta(days=amount) if value[-1] == "d" else timedelta(hours=amount))
    else:
        year, month, day = int(value[:4]), int(value[5:7]), int(value[8:10])
        last = calendar.monthrange(year, month)[1]
        text = value if day <= last else f"{value[:8]}{last:02d}{value[10:]}"
        since = datetime.fromisoformat(text)
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
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
