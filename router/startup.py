"""What `pasokh serve` says when it starts: which channels are on, which are off and
why, and what an operator still has to do (no agent yet, no outbound mail relay)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy import func, select

from config.settings import Settings
from router.http.keys import CONTEXT
from router.storage.engine import is_database_unavailable
from router.storage.models import Agent

logger = logging.getLogger(__name__)


def channel_summary(settings: Settings) -> tuple[list[str], list[str], list[str]]:
    """(channels on, channels off with how to turn them on, missing settings)."""
    on = ["api (POST /api/v1/inbound/messages; tokens: pasokh integration add NAME)"]
    off: list[str] = []
    missing: list[str] = []
    if settings.webchat.enabled:
        on.append("webchat (widget /widget.js, WebSocket /ws/webchat)")
    else:
        off.append("webchat (set PASOKH_WEBCHAT__ENABLED=true)")
    email = settings.email
    if email.enabled:
        on.append(f"email (SMTP in on {email.smtp_host}:{email.smtp_port} for {email.address})")
        if not email.relay_host:
            missing.append(
                "no outbound mail relay: replies to email customers and emailed codes "
                "cannot be sent; set [email] relay_host (PASOKH_EMAIL__RELAY_HOST), "
                "relay_port, relay_tls and relay_user / PASOKH_EMAIL__RELAY_PASSWORD"
            )
    else:
        off.append("email (set PASOKH_EMAIL__ENABLED=true)")
    if settings.telegram.token:
        on.append(f"telegram ({settings.telegram.mode} mode)")
    else:
        off.append("telegram (set PASOKH_TELEGRAM__TOKEN to the token from @BotFather)")
    return on, off, missing


async def summary_ctx(app: web.Application) -> AsyncIterator[None]:
    """Log the summary once the database is open (it counts the agents)."""
    context = app[CONTEXT]
    on, off, missing = channel_summary(context.settings)
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
    logger.info("channels on: %s", "; ".join(on))
    if off:
        logger.info("channels off: %s", "; ".join(off))
    for line in missing:
        logger.warning("setup: %s", line)
    yield
