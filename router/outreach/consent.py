"""Consent: who asked for no more proactive messages, and the signed unsubscribe link.

An opt-out stops outreach only; support replies still go. A customer opts out by
answering one of `[outreach] opt_out_keywords` on any channel (compared after the FAQ's
normalisation, so «لغو» written with Arabic letters or "STOP." count), or through the
one-click link in an outreach mail (RFC 8058).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from faq.language import detect_language
from faq.normalise import normalise
from router.context import AppContext
from router.core.languages import supported_language
from router.core.messages import utcnow
from router.core.responder import SystemReply
from router.core.security import PayloadSigner
from router.core.urls import public_base_url
from router.storage.models import OutreachOptOut

logger = logging.getLogger(__name__)

UNSUBSCRIBE_PURPOSE = "outreach-unsubscribe"
UNSUBSCRIBE_PATH = "/outreach/unsubscribe"


def is_opt_out(text: str, keywords: Iterable[str]) -> bool:
    """The whole message is one of the opt-out words (not a sentence that contains one)."""
    said = normalise(text).strip()
    return bool(said) and any(said == normalise(keyword).strip() for keyword in keywords)


async def opt_out(session: AsyncSession, customer_id: int, *, via: str) -> bool:
    """Record that `customer_id` wants no outreach; False when they already had."""
    if await session.get(OutreachOptOut, customer_id) is not None:
        return False
    session.add(OutreachOptOut(customer_id=customer_id, via=via, at=utcnow()))
    await session.flush()
    return True


async def opted_out(session: AsyncSession, customer_id: int) -> bool:
    found = await session.scalar(
        select(OutreachOptOut.customer_id).where(OutreachOptOut.customer_id == customer_id)
    )
    return found is not None


@dataclass(frozen=True, slots=True)
class OptOutAnswer:
    """The router's reply to an opt-out message; `recorded` when it opted the customer
    out now (not already), to count once the transaction has committed."""

    reply: SystemReply
    recorded: bool


async def opt_out_answer(
    app: AppContext,
    session: AsyncSession,
    customer_id: int,
    text: str,
    channel: str,
    language: str | None,
) -> OptOutAnswer | None:
    """When a customer's message asks to stop outreach: record it, and the router's
    reply saying so in their language; None for any other message."""
    if not is_opt_out(text, app.settings.outreach.opt_out_keywords):
        return None
    recorded = await opt_out(session, customer_id, via=channel)
    served = supported_language(language) or detect_language(text) or "en"
    reply = SystemReply(app.texts.template("outreach_opted_out", served), language=served)
    return OptOutAnswer(reply, recorded)


def count_opt_out(app: AppContext, customer_id: int, channel: str) -> None:
    """Count and log an opt-out; called after the commit that recorded it, so a
    transaction run again (a race) counts it once."""
    app.metrics.outreach_messages.labels("", channel, "opted_out").inc()
    logger.info("customer %d opted out of outreach on %s", customer_id, channel)


def unsubscribe_token(secret: str, customer_id: int) -> str:
    """A token only this server makes, naming the customer the link unsubscribes."""
    return PayloadSigner(secret, UNSUBSCRIBE_PURPOSE).sign(str(customer_id))


def unsubscribe_customer(secret: str, token: str) -> int | None:
    """The customer a token names, or None when it is not one of ours."""
    payload = PayloadSigner(secret, UNSUBSCRIBE_PURPOSE).unsign(token)
    return int(payload) if payload is not None and payload.isdigit() else None


def unsubscribe_url(settings: Settings, customer_id: int, language: str | None) -> str:
    """The one-click link of a proactive message to `customer_id`."""
    token = unsubscribe_token(settings.server.secret_key, customer_id)
    return f"{public_base_url(settings)}{UNSUBSCRIBE_PATH}?t={token}&lang={language or 'en'}"
