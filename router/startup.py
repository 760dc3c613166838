"""What `pasokh serve` says when it starts: which channels are on, which are off and
why, and what an operator still has to do (no agent yet, no outbound mail relay)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web
from sqlalchemy import func, select

from router.http.keys import CONTEXT
from router.storage.engine import is_database_unavailable
from router.storage.models import Agent

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StartupSummary:
    """What the channels said about themselves (each running adapter's `describe`) and
    the ones the composition root found off, with how to turn each on."""

    on: tuple[str, ...]
    off: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # setup an operator still has to do


def summary_ctx(
    summary: StartupSummary,
) -> Callable[[web.Application], AsyncIterator[None]]:
    """The cleanup context that logs `summary` once the database is open (it counts the
    agents too)."""

    async def log_summary(app: web.Application) -> AsyncIterator[None]:
        await _log_summary(app, summary)
        yield

    return log_summary


async def _log_summary(app: web.Application, summary: StartupSummary) -> None:
    context = app[CONTEXT]
    missing = list(summary.missing)
    try:
        async with context.read_sessions() as session:
            agents = await session.scalar(select(func.count()).select_from(Agent))
    except Exception as exc:
        # The server starts without its database (/healthz says 503 until it is back).
        if not is_database_unavailable(exc):
            raise
        logger.warning("setup: could not count agents, the database is unavailable: %s", exc)
        agents = None
    if agents == 0:
        missing.append(
            "no agent yet: nobody can answer handed-off customers or sign in to /console; "
            "add one with: pasokh agent add EMAIL --name NAME --tier 1 --admin"
        )
    logger.info("channels on: %s", "; ".join(summary.on))
    if summary.off:
        logger.info("channels off: %s", "; ".join(summary.off))
    for line in missing:
        logger.warning("setup: %s", line)
