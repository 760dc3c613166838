"""Satisfaction surveys: asked in the conversation after a resolution, answered by token.

When an agent resolves a thread, `offer_after_resolution` decides (docs/reports.md,
"Surveys") whether the customer is asked, and what: a CSAT (1-5) or, on a slower rhythm,
an NPS (0-10). The question is an ordinary system message through the outbox, carrying a
`SurveyOffer` each channel renders (widget stars, Telegram buttons, mail links).

Every answer, from any channel, goes through `answer`: the token is the credential
(`<survey id>.<thread id>.<mac>`, the mac keyed by `purpose_key(secret, "survey")`), so
a forged or altered token is refused before the database is asked, and one naming
another survey's thread finds no row. The row is locked while it is answered: of two
answers at once the second sees the first, so a survey is counted once (one row per
resolution of a thread) and its first answer once in the metrics, on PostgreSQL too.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from faq.normalise import drop_invisible, fold_digits
from router.context import AppContext
from router.core.events import MessageStored, SurveyAnswered, ThreadChanged
from router.core.messages import AuthorKind, SurveyOffer, survey_scores, utcnow
from router.core.outbound_messages import enqueue_outbound
from router.core.security import PurposeKey, b64_text, digests_match, token_hash
from router.core.storable_text import storable
from router.core.threads import reopen
from router.core.transaction import Effects, write
from router.service import sla_threads
from router.service.reports.events import record_reopened, resolutions
from router.storage.models import (
    OPEN_STATUSES,
    Identity,
    Message,
    SurveyAnswer,
    Thread,
    ThreadStatus,
)

logger = logging.getLogger(__name__)

CSAT = "csat"
NPS = "nps"
SCALES = {CSAT: 5, NPS: 10}
_ASK_TEXT = {CSAT: "survey_csat_ask", NPS: "survey_nps_ask"}
COMMENT_MAX_CHARS = 2000
_PURPOSE = "survey"
# The token's last part: a nonce and an HMAC-SHA256 (96 bits), 22 characters in all,
# short enough for Telegram's 64-byte callbacks.
_MAC_CHARS = 22
_NONCE_BYTES = 4
_NONCE_CHARS = len(b64_text(bytes(_NONCE_BYTES)))
_TOKEN = re.compile(rf"([1-9][0-9]{{0,17}})\.([1-9][0-9]{{0,17}})\.([A-Za-z0-9_-]{{{_MAC_CHARS}}})")
# A written answer that is a score and nothing else: "5", "۵", "٥ ★", "4/5", "10/10!".
# Anything more ("5 but the charger still fails") is a message for the team, not a vote.
_LONE_SCORE = re.compile(r"([0-9]{1,2})\s*(?:/\s*(?:5|10))?\s*[★⭐\ufe0f!.]*")


class SurveyRefused(Exception):
    """An answer that cannot be taken; `reason` is a stable code, the message says why.

    Reasons: `invalid` (forged, altered, unknown or another thread's token), `expired`,
    `score` (outside the survey's scale), `comment` (too long), `no_score` (a comment
    before any score).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SurveyReceipt:
    """A survey as it stands after an answer (or as the rating page shows it)."""

    kind: str
    scale: int
    score: int | None
    comment: str | None
    language: str | None
    expires_at: datetime
    answered_at: datetime | None
    low: bool = False

    def offer_scores(self) -> range:
        """The scores a customer may give, lowest first."""
        return survey_scores(self.kind, self.scale)


# --- tokens -----------------------------------------------------------------------


def _mac(secret: str, signed: str, chars: int) -> str:
    return b64_text(PurposeKey(secret, _PURPOSE).digest(signed))[:chars]


def survey_token(secret: str, survey_id: int, thread_id: int) -> str:
    """The credential of one survey: `<survey id>.<thread id>.<nonce><mac>` (at most 60
    chars). The random nonce makes every survey's token its own: on SQLite an erased
    customer's ids are given again, and a token of ids alone would then open the new
    customer's survey."""
    nonce = b64_text(secrets.token_bytes(_NONCE_BYTES))
    mac = _mac(secret, f"{survey_id}.{thread_id}.{nonce}", _MAC_CHARS - len(nonce))
    return f"{survey_id}.{thread_id}.{nonce}{mac}"


def read_token(secret: str, token: str) -> tuple[int, int] | None:
    """(survey id, thread id) of a token this server made; None when forged or altered.
    (A token made before the nonce, a MAC of the ids alone, is read too: the survey's
    stored hash still decides whether it opens that survey.)"""
    found = _TOKEN.fullmatch(token) if token.isascii() else None
    if found is None:
        return None
    survey_id, thread_id, tail = int(found[1]), int(found[2]), found[3]
    nonce, mac = tail[:_NONCE_CHARS], tail[_NONCE_CHARS:]
    ids = f"{survey_id}.{thread_id}"
    if digests_match(_mac(secret, f"{ids}.{nonce}", len(mac)), mac) or digests_match(
        _mac(secret, ids, _MAC_CHARS), tail
    ):
        return survey_id, thread_id
    return None


def page_base(settings: Settings) -> str:
    """Where the rating page is reached from outside (as the mails' continue links)."""
    server = settings.server
    return (server.public_url or f"http://{server.host}:{server.http_port}").rstrip("/")


def low_threshold(settings: Settings, kind: str) -> int:
    """The highest score that flags the thread for the team lead."""
    cfg = settings.surveys
    return cfg.nps_low_max if kind == NPS else cfg.csat_low_max


# --- asking -----------------------------------------------------------------------


async def offer_after_resolution(
    app: AppContext,
    session: AsyncSession,
    effects: Effects,
    thread: Thread,
    *,
    wanted: bool | None,
    language: str,
) -> SurveyAnswer | None:
    """Ask the customer of the just-resolved `thread` how it went, if the rules allow.

    `wanted`: the resolve's `survey` field (None: the configured default). Returns the
    survey row, or None when no survey is sent (and why is logged at debug).
    """
    cfg = app.settings.surveys
    if not (cfg.send_by_default if wanted is None else wanted):
        return None
    identity = (
        await session.get(Identity, thread.last_identity_id)
        if thread.last_identity_id is not None
        else None
    )
    # A survey per resolution: a reopened thread resolved again is a new service.
    resolution = max(1, await resolutions(session, thread))
    skip = await _reason_to_skip(app, session, thread, identity, resolution)
    if skip is not None:
        logger.debug("no survey for thread %s: %s", thread.id, skip)
        return None
    assert identity is not None
    now = utcnow()
    kind = await _kind_due(app, session, thread.customer_id, now)
    if kind is None:
        logger.debug("no survey for thread %s: customer surveyed recently", thread.id)
        return None
    survey = SurveyAnswer(
        token_hash=secrets.token_hex(32),  # replaced below, once the row has its id
        thread_id=thread.id,
        customer_id=thread.customer_id,
        kind=kind,
        resolution=resolution,
        agent_id=thread.assignee_id,
        tier=thread.tier,
        channel=identity.channel,
        language=language,
        created_at=now,
        expires_at=now + timedelta(hours=cfg.expiry_hours),
    )
    session.add(survey)
    await session.flush()
    token = survey_token(app.settings.server.secret_key, survey.id, thread.id)
    survey.token_hash = token_hash(token)
    offer = SurveyOffer(
        token=token, kind=kind, scale=SCALES[kind], url=f"{page_base(app.settings)}/surveys/{token}"
    )
    message = await enqueue_outbound(
        session,
        thread=thread,
        identity=identity,
        text=app.texts.text(_ASK_TEXT[kind], language),
        author=AuthorKind.SYSTEM,
        language=language,
        survey=offer,
    )
    effects.events.append(
        MessageStored(message.id, thread.id, thread.customer_id, AuthorKind.SYSTEM)
    )
    effects.outbound = True
    return survey


async def _reason_to_skip(
    app: AppContext,
    session: AsyncSession,
    thread: Thread,
    identity: Identity | None,
    resolution: int,
) -> str | None:
    cfg = app.settings.surveys
    if not app.settings.server.secret_key:
        return "no server.secret_key to sign its token"
    if identity is None or identity.unreachable_reason:
        return "the customer cannot be reached"
    if identity.channel not in cfg.channels:
        return f"surveys are not sent on {identity.channel}"
    if cfg.skip_bot_only and not await _agent_replied(session, thread):
        return "no agent replied in it"
    asked = await session.scalar(
        select(SurveyAnswer.id).where(
            SurveyAnswer.thread_id == thread.id, SurveyAnswer.resolution == resolution
        )
    )
    if asked is not None:
        return "this resolution was surveyed already"
    return None


async def _agent_replied(session: AsyncSession, thread: Thread) -> bool:
    found = await session.scalar(
        select(Message.id)
        .where(
            Message.thread_id == thread.id,
            Message.author_kind == AuthorKind.AGENT,
            Message.internal.is_(False),
        )
        .limit(1)
    )
    return found is not None


async def _kind_due(
    app: AppContext, session: AsyncSession, customer_id: int, now: datetime
) -> str | None:
    """CSAT, or NPS when its slower rhythm is due; None within the minimum gap."""
    cfg = app.settings.surveys
    last_sent = await session.scalar(
        select(func.max(SurveyAnswer.created_at)).where(SurveyAnswer.customer_id == customer_id)
    )
    if last_sent is None:
        return CSAT  # a customer's first survey is about this service, not the brand
    if cfg.min_days_between > 0 and now - last_sent < timedelta(days=cfg.min_days_between):
        return None
    if cfg.nps_every_days <= 0:
        return CSAT
    last_nps = await session.scalar(
        select(func.max(SurveyAnswer.created_at)).where(
            SurveyAnswer.customer_id == customer_id, SurveyAnswer.kind == NPS
        )
    )
    if last_nps is None or now - last_nps >= timedelta(days=cfg.nps_every_days):
        return NPS
    return CSAT


# --- answering --------------------------------------------------------------------


async def look_up(app: AppContext, token: str) -> SurveyReceipt:
    """The survey a token names, as it stands (for the rating page).

    Raises:
        SurveyRefused: `invalid` or `expired`.
    """
    async with app.read_sessions() as session:
        survey = await _survey_of(app, session, token, lock=False)
        return _receipt(app.settings, survey)


async def answer(
    app: AppContext, token: str, score: int | None, comment: str | None = None
) -> SurveyReceipt:
    """Record (or change, until it expires) the answer of the survey `token` names.

    `score` None keeps the current score (a comment added later, from Telegram);
    `comment` None keeps the current comment.

    Raises:
        SurveyRefused: see its reasons; each refusal is logged and counted.
    """
    try:
        receipt, first = await write(
            app, lambda session, effects: _answer(app, session, effects, token, score, comment)
        )
    except SurveyRefused as exc:
        app.metrics.rejected_input.labels("surveys", exc.reason).inc()
        logger.info("survey answer refused (%s): %s", exc.reason, exc)
        raise
    if first and receipt.score is not None:
        app.metrics.survey_answers.labels(receipt.kind, str(receipt.score)).inc()
    return receipt


async def _answer(
    app: AppContext,
    session: AsyncSession,
    effects: Effects,
    token: str,
    score: int | None,
    comment: str | None,
) -> tuple[SurveyReceipt, bool]:
    survey = await _survey_of(app, session, token, lock=True)
    scores = survey_scores(survey.kind, SCALES[survey.kind])
    if score is not None and score not in scores:
        raise SurveyRefused("score", f"score must be {scores[0]} to {scores[-1]} for {survey.kind}")
    if score is None and survey.score is None:
        raise SurveyRefused("no_score", "give a score first")
    limit = COMMENT_MAX_CHARS
    if comment is not None:
        comment = storable(comment).strip() or None
        if comment is not None and len(comment) > limit:
            raise SurveyRefused("comment", f"the comment must be at most {limit} characters")
    previous = survey.score
    new_score = score if score is not None else previous
    assert new_score is not None
    new_comment = comment if comment is not None else survey.comment
    changed = new_score != previous or new_comment != survey.comment
    survey.score = new_score
    survey.comment = new_comment
    survey.answered_at = utcnow()
    threshold = low_threshold(app.settings, survey.kind)
    low = new_score <= threshold
    was_low = previous is not None and previous <= threshold
    if changed:
        thread = await session.get(Thread, survey.thread_id, with_for_update=True)
        assert thread is not None
        await _act_on(app, session, effects, thread, survey, low=low, was_low=was_low)
        effects.events.append(
            SurveyAnswered(
                thread_id=thread.id,
                customer_id=thread.customer_id,
                survey_id=survey.id,
                kind=survey.kind,
                score=new_score,
                low=low,
                agent_id=survey.agent_id,
            )
        )
    return _receipt(app.settings, survey), previous is None


async def _act_on(
    app: AppContext,
    session: AsyncSession,
    effects: Effects,
    thread: Thread,
    survey: SurveyAnswer,
    *,
    low: bool,
    was_low: bool,
) -> None:
    """Show the answer on the thread; flag (and maybe reopen) it when the score is low."""
    assert survey.score is not None
    note = f"Survey {survey.kind.upper()}: {survey.score}/{SCALES[survey.kind]}"
    if survey.comment:
        note += f"\n{survey.comment}"
    message = await enqueue_outbound(
        session, thread=thread, identity=None, text=note, author=AuthorKind.SYSTEM, internal=True
    )
    effects.events.append(
        MessageStored(message.id, thread.id, thread.customer_id, AuthorKind.SYSTEM, internal=True)
    )
    if low and thread.low_rating_at is None:
        thread.low_rating_at = utcnow()
    elif not low and was_low:
        thread.low_rating_at = None
    reopening = low and not was_low and app.settings.surveys.reopen_on_low_score
    if reopening and thread.status == ThreadStatus.RESOLVED:
        if await _other_open_thread(session, thread):
            return  # the customer is back already: at most one open thread each
        reopen(thread)
        await record_reopened(session, thread, actor_kind="system")
        await sla_threads.status_changed(app, session, thread)
        effects.events.append(
            ThreadChanged(
                thread.id, thread.customer_id, thread.status, thread.tier, thread.assignee_id
            )
        )


async def _other_open_thread(session: AsyncSession, thread: Thread) -> bool:
    found = await session.scalar(
        select(Thread.id).where(
            Thread.customer_id == thread.customer_id,
            Thread.id != thread.id,
            Thread.status.in_(OPEN_STATUSES),
        )
    )
    return found is not None


async def _survey_of(
    app: AppContext, session: AsyncSession, token: str, *, lock: bool
) -> SurveyAnswer:
    ids = read_token(app.settings.server.secret_key, token)
    if ids is None:
        raise SurveyRefused("invalid", "this survey link is not valid")
    survey_id, thread_id = ids
    survey = await session.get(SurveyAnswer, survey_id, with_for_update=lock)
    if (
        survey is None
        or survey.thread_id != thread_id
        or not digests_match(survey.token_hash, token_hash(token))
    ):
        raise SurveyRefused("invalid", "this survey link is not valid")
    if survey.expires_at <= utcnow():
        raise SurveyRefused("expired", "this survey has expired")
    return survey


def _receipt(settings: Settings, survey: SurveyAnswer) -> SurveyReceipt:
    return SurveyReceipt(
        kind=survey.kind,
        scale=SCALES[survey.kind],
        score=survey.score,
        comment=survey.comment,
        language=survey.language,
        expires_at=survey.expires_at,
        answered_at=survey.answered_at,
        low=survey.score is not None and survey.score <= low_threshold(settings, survey.kind),
    )


def written_score(text: str) -> int | None:
    """The score a written reply gives, when the reply is only a score (any digits)."""
    found = _LONE_SCORE.fullmatch(fold_digits(drop_invisible(text)).strip())
    return int(found[1]) if found is not None else None


class SurveyDoor:
    """What channels get to answer surveys (`ChannelServices.surveys`)."""

    def __init__(self, app: AppContext) -> None:
        self._app = app

    async def answer(self, token: str, score: int | None, comment: str | None = None) -> str | None:
        """None when the answer was taken, else the refusal's reason (logged and
        counted by `answer`)."""
        try:
            await answer(self._app, token, score, comment)
        except SurveyRefused as exc:
            return exc.reason
        return None

    async def answer_reply(self, token: str, text: str) -> str | None:
        """A written reply to the question: its score when it is one alone (else
        "not_a_score": the channel hands the reply to the team as a message)."""
        score = written_score(text)
        if score is None:
            return "not_a_score"
        return await self.answer(token, score)
