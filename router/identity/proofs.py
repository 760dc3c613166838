"""Proofs that one person holds two identities, and spending them.

Proofs accepted:
- a six-digit code mailed (through the outbox) to an email address and typed back by
  the chat visitor or Telegram user who asked for it;
- a continue-in-chat token from a mail we sent, spent by a click on the page that says
  which address will be joined (the browser holding it read that mail);
- a chat link token from the widget's deep link into a chat app (the Telegram channel
  hands it over as a `ProofClaim`), confirmed by a "yes" from that chat's user to the
  question it asks (the link could have come from anybody; only the person in the chat
  can say it is theirs);
- a reply to a mail we sent, through that thread's keyed reply token, from the address
  the mail went to (marks that email identity verified);
- addresses a channel vouches belong to the sender (a Telegram contact of their own).

Every token's nonce is spent once (`spend_nonce`). What the router says about each step
is `router.identity.dialogue`'s job; this module only records what happened.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import func, or_, select, text, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from faq.normalise import fold_digits
from router.context import AppContext
from router.core.email_addresses import shown_address
from router.core.events import Event, MessageStored
from router.core.languages import LANGUAGES
from router.core.leadership import lock_key
from router.core.messages import (
    AuthorKind,
    Direction,
    InboundMessage,
    OutboundMessage,
    ProofKind,
    utcnow,
)
from router.core.outbound_messages import enqueue_outbound
from router.core.proofs import LinkTap
from router.core.responder import ProofStep
from router.core.security import digests_match
from router.core.threads import VERIFICATION_RESOLUTION
from router.core.urls import public_base_url
from router.identity.dialogue import is_no, is_yes
from router.identity.identities import (
    LinkOutcome,
    ProofRefused,
    RateLimited,
    ensure_identity,
    get_identity,
    has_verified_email,
    join,
    lock_identity,
    mail_can_be_sent,
    normalise_email,
    tokens_for,
)
from router.identity.tokens import InvalidProofToken, ProofTokens, new_code
from router.storage.models import (
    AuditEvent,
    Identity,
    IdentityProof,
    Message,
    OutboxItem,
    Thread,
    ThreadStatus,
)

logger = logging.getLogger(__name__)

CODE_TTL = timedelta(minutes=10)
CODE_ATTEMPTS = 5
SEND_WINDOW = timedelta(hours=1)
SENDS_PER_ADDRESS = 5  # codes mailed to one address per window
SENDS_PER_REQUESTER = 10  # codes one visitor or chat may ask for per window
CONTINUE_TTL = timedelta(days=7)
CHAT_LINK_TTL = timedelta(hours=1)
# How long the chat app user has to answer "link this chat?" after opening the link.
CHAT_LINK_CONFIRM_TTL = timedelta(minutes=10)

KIND_CODE = "email_code"
KIND_CONTINUE = "continue"
KIND_CHAT_LINK = "telegram_link"  # the stored kind (a check constraint lists it)

_CODE = re.compile(r"\d{6}")
_SIX_DIGITS = re.compile(r"(?<!\d)\d{6}(?!\d)")


def normalise_code(raw: str) -> str:
    """Persian/Arabic-Indic digits to ASCII, spaces and dashes dropped."""
    return re.sub(r"[\s\-\u200c]", "", fold_digits(raw))


# --- email codes ------------------------------------------------------------------------


def _mail_channel(app: AppContext) -> str:
    """The channel whose addresses mailed codes go to (`ChannelRoles.mail`).

    Raises:
        ProofRefused: `email_unavailable`, when no channel carries mail here.
    """
    if app.roles.mail is None:
        raise ProofRefused("email_unavailable", "this server has no mail channel")
    return app.roles.mail


def _code_salt(requester_channel: str, requester_address: str, email: str) -> str:
    return f"{requester_channel}\x00{requester_address}\x00{email}"


async def request_email_code(
    app: AppContext,
    session: AsyncSession,
    requester: Identity,
    raw_email: str,
    *,
    language: str | None,
) -> tuple[str, LinkOutcome]:
    """Mail a fresh code to `raw_email` for `requester` to type back; return the address.

    The answer never says whether the address belongs to anybody.

    Raises:
        ProofRefused: `email_unavailable` (no way to send mail), not an email address.
        RateLimited: too many codes for this address or this requester lately.
    """
    if not mail_can_be_sent(app):
        raise ProofRefused(
            "email_unavailable", "this server cannot send mail (no outbound relay configured)"
        )
    mail = _mail_channel(app)
    email = normalise_email(raw_email)
    if email is None:
        raise ProofRefused("invalid_email", "that is not an email address")
    # A refused request leaves nothing behind: what it made is undone with this savepoint.
    attempt = await session.begin_nested()
    # The address gets an identity of its own customer when nobody has it yet; an owned
    # address stays where it is. Nothing is linked until the code comes back.
    target = await ensure_identity(session, mail, email, language=language)
    # Both limits are counted under the rows they are about: requests for one address, or
    # by one requester, queue here, so each counts the codes the others committed.
    # Always requester first, then address (different channels: no cycle).
    await lock_identity(session, requester)
    await lock_identity(session, target)
    now = utcnow()
    since = now - SEND_WINDOW
    to_address = await session.scalar(
        select(func.count()).where(
            IdentityProof.kind == KIND_CODE,
            IdentityProof.target_channel == mail,
            IdentityProof.target_address == email,
            IdentityProof.created_at >= since,
        )
    )
    by_requester = await session.scalar(
        select(func.count()).where(
            IdentityProof.kind == KIND_CODE,
            IdentityProof.requester_channel == requester.channel,
            IdentityProof.requester_address == requester.address,
            IdentityProof.created_at >= since,
        )
    )
    refused: str | None = None
    if (to_address or 0) >= SENDS_PER_ADDRESS:
        refused = "recipient"
    elif (by_requester or 0) >= SENDS_PER_REQUESTER:
        refused = "requester"
    else:
        refused = await _installation_refusal(app, session, since, target)
    if refused is not None:
        await attempt.rollback()
        app.metrics.identity_codes_refused.labels(refused).inc()
        if refused in ("installation", "strangers"):
            _warn_installation_cap(app, refused)
        raise RateLimited("rate_limited", "too many codes asked for; try again later")
    await attempt.commit()

    # Only the newest code of a requester counts; earlier ones stop being readable.
    superseded = await session.scalars(
        select(IdentityProof).where(
            IdentityProof.kind == KIND_CODE,
            IdentityProof.requester_channel == requester.channel,
            IdentityProof.requester_address == requester.address,
            IdentityProof.used_at.is_(None),
            IdentityProof.expires_at > now - CODE_TTL,
        )
    )
    for old in superseded:
        old.expires_at = min(old.expires_at, now)
        await _redact(session, old)
    language = language or app.settings.faq.default_language
    thread = Thread(
        customer_id=target.customer_id,
        status=ThreadStatus.RESOLVED,
        resolution=VERIFICATION_RESOLUTION,
        resolved_at=now,
        subject=app.texts.text("code_subject", language),
        language=language,
        created_at=now,
        updated_at=now,
    )
    session.add(thread)
    await session.flush()
    code = new_code()
    message = await enqueue_outbound(
        session,
        thread=thread,
        identity=target,
        text=app.texts.text("code_mail", language, code=code),
        author=AuthorKind.SYSTEM,
        language=language,
    )
    session.add(
        IdentityProof(
            kind=KIND_CODE,
            secret_hash=tokens_for(app).code_hash(
                _code_salt(requester.channel, requester.address, email), code
            ),
            requester_channel=requester.channel,
            requester_address=requester.address,
            target_channel=mail,
            target_address=email,
            message_id=message.id,
            attempts=0,
            created_at=now,
            expires_at=now + CODE_TTL,
        )
    )
    session.add(
        AuditEvent(
            actor_kind="customer",
            actor_id=requester.customer_id,
            action="email_code_sent",
            customer_id=requester.customer_id,
            details={"requester_identity_id": requester.id, "target_identity_id": target.id},
        )
    )
    outcome = LinkOutcome(requester.customer_id, outbound=1)
    outcome.events.append(
        MessageStored(message.id, thread.id, thread.customer_id, AuthorKind.SYSTEM)
    )
    return email, outcome


async def _installation_refusal(
    app: AppContext, session: AsyncSession, since: datetime, target: Identity
) -> str | None:
    """Whether the installation's hour of codes refuses one more to `target`: None, or
    the reason (`installation`: all spent; `strangers`: only the part kept for known
    addresses is left and `target` is not one)."""
    cap = app.settings.email.codes_per_hour
    sent = await _installation_codes(session, since)
    if sent >= cap:
        return "installation"
    reserved = min(max(app.settings.email.codes_reserved_for_known_per_hour, 0), cap)
    if sent >= cap - reserved and not await _known_address(app, session, target):
        return "strangers"
    return None


async def _known_address(app: AppContext, session: AsyncSession, target: Identity) -> bool:
    """Whether codes to `target` may use the part of the hour kept for real customers:
    the address was proven before, or its holder mailed us and the mail's sender
    authentication passed. Neither can be had by naming an address, so a flood of codes
    to made-up or strangers' addresses cannot spend that part."""
    if target.verified:
        return True
    mailed = await session.scalar(
        select(Message.id)
        .where(
            Message.customer_id == target.customer_id,
            Message.identity_id == target.id,
            Message.direction == Direction.INBOUND,
            Message.sender_authenticated.is_(True),
        )
        .limit(1)
    )
    return mailed is not None


_CAP_WARNING_EVERY = 60.0  # seconds: a flood past the cap is counted always, logged seldom
_cap_warned_at = [-_CAP_WARNING_EVERY]  # this process's last warning (monotonic)


def _warn_installation_cap(app: AppContext, reason: str) -> None:
    now = time.monotonic()
    if now - _cap_warned_at[0] < _CAP_WARNING_EVERY:
        return
    _cap_warned_at[0] = now
    logger.warning(
        "email codes refused: the installation's hour is spent (%s; [email] codes_per_hour"
        " %d, %d kept for known addresses); see pasokh_identity_codes_refused_total",
        reason,
        app.settings.email.codes_per_hour,
        app.settings.email.codes_reserved_for_known_per_hour,
    )


async def _installation_codes(session: AsyncSession, since: datetime) -> int:
    """Codes mailed by the whole installation since `since`, counted under one lock on
    PostgreSQL (held to commit; SQLite writers are serialised), so concurrent requests
    from any process each count the codes the others committed. Taken after the identity
    locks, and nothing takes it first: no cycle."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key("email-codes")}
        )
    sent = await session.scalar(
        select(func.count()).where(
            IdentityProof.kind == KIND_CODE, IdentityProof.created_at >= since
        )
    )
    return int(sent or 0)


async def _redact(session: AsyncSession, proof: IdentityProof) -> None:
    """Blank the code in the mail that carried it: spent, locked, expired or superseded,
    it need not stay readable in the database (only its HMAC is kept)."""
    if proof.message_id is None:
        return
    mailed = await session.get(Message, proof.message_id)
    if mailed is not None:
        mailed.text = mask_codes(mailed.text)


def mask_codes(text: str) -> str:
    """`text` with every six-digit run (what a code looks like) blanked."""
    return _SIX_DIGITS.sub("••••••", text)


async def pending_code(
    session: AsyncSession, requester: Identity, *, lock: bool = False
) -> IdentityProof | None:
    """The requester's newest code unless it was spent (expired or locked included):
    only the newest code ever counts. With `lock`, its row is held until commit and read
    as last committed, so concurrent guesses each see the attempts before them."""
    query = (
        select(IdentityProof)
        .where(
            IdentityProof.kind == KIND_CODE,
            IdentityProof.requester_channel == requester.channel,
            IdentityProof.requester_address == requester.address,
        )
        .order_by(IdentityProof.id.desc())
        .limit(1)
    )
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    newest = await session.scalar(query)
    return newest if newest is not None and newest.used_at is None else None


async def verify_email_code(
    app: AppContext, session: AsyncSession, requester: Identity, raw_code: str
) -> LinkOutcome:
    """Check a typed code; on success the address is proven and the customers merge.

    A wrong code counts an attempt (the caller must commit even then); after
    `CODE_ATTEMPTS` wrong ones the code is dead and a new one is needed.

    Raises:
        ProofRefused: code `no_code`, `expired`, `locked` or `wrong_code` (with `remaining`).
    """
    proof = await pending_code(session, requester, lock=True)
    now = utcnow()
    if proof is None:
        raise ProofRefused("no_code", "no code was asked for; ask for one first")
    if proof.expires_at <= now:
        await _redact(session, proof)
        raise ProofRefused("expired", "the code has expired; ask for a new one")
    if proof.attempts >= CODE_ATTEMPTS:
        raise ProofRefused("locked", "too many wrong codes; ask for a new one", remaining=0)
    code = normalise_code(raw_code)
    email = proof.target_address or ""
    expected = tokens_for(app).code_hash(
        _code_salt(requester.channel, requester.address, email), code
    )
    if not _CODE.fullmatch(code) or not digests_match(expected, proof.secret_hash):
        proof.attempts += 1
        remaining = CODE_ATTEMPTS - proof.attempts
        if remaining <= 0:
            await _redact(session, proof)
            raise ProofRefused("locked", "too many wrong codes; ask for a new one", remaining=0)
        raise ProofRefused("wrong_code", "that code is not right", remaining=remaining)
    proof.used_at = now
    await _redact(session, proof)
    # The code went to an address of the mail channel, and the proof row says which.
    target = await ensure_identity(session, proof.target_channel or _mail_channel(app), email)
    outcome = LinkOutcome(requester.customer_id)
    await join(app, session, outcome, requester, target, how="email_code")
    return outcome


# --- continue in chat (from a mail) ----------------------------------------------------


async def nonce_spent(app: AppContext, session: AsyncSession, kind: str, nonce: str) -> bool:
    """Whether a token's nonce was recorded (read only)."""
    digest = tokens_for(app).nonce_hash(kind, nonce)
    used = await session.scalar(
        select(IdentityProof.id).where(
            IdentityProof.kind == kind, IdentityProof.secret_hash == digest
        )
    )
    return used is not None


async def spend_nonce(
    app: AppContext,
    session: AsyncSession,
    kind: str,
    nonce: str,
    *,
    requester: Identity | None = None,
    target: Identity | None = None,
    answer_within: timedelta | None = None,
) -> IdentityProof:
    """Record a token's nonce as used; refuse one that was used before.

    The record is unique (a partial unique index), so of two requests spending one token
    at the same moment exactly one succeeds. With `answer_within`, the record stays open
    (`used_at` unset) as a question the requester must answer by then.
    """
    if await nonce_spent(app, session, kind, nonce):
        raise ProofRefused("token_used", "this link was used already")
    now = utcnow()
    proof = IdentityProof(
        kind=kind,
        secret_hash=tokens_for(app).nonce_hash(kind, nonce),
        requester_channel=requester.channel if requester else None,
        requester_address=requester.address if requester else None,
        target_channel=target.channel if target else None,
        target_address=target.address if target else None,
        attempts=0,
        created_at=now,
        expires_at=now + answer_within if answer_within else now,
        used_at=None if answer_within else now,
    )
    try:
        async with session.begin_nested():
            session.add(proof)
            await session.flush()
    except IntegrityError:
        raise ProofRefused("token_used", "this link was used already") from None
    return proof


async def consume_continue_token(
    app: AppContext, session: AsyncSession, requester: Identity, token: str
) -> LinkOutcome:
    """The browser of `requester` opened a continue link from a mail: it reads that
    mailbox, so the address is proven and the customers become one.

    Raises:
        ProofRefused: `invalid_token` (forged, altered, expired) or `token_used`.
    """
    try:
        claim = tokens_for(app).open_continue(token)
    except InvalidProofToken as exc:
        raise ProofRefused("invalid_token", f"this link is not valid: {exc}") from None
    mail = app.roles.mail
    if mail is None:
        raise ProofRefused("invalid_token", "this link names nothing we sent")
    sent = await session.scalar(
        select(OutboxItem.id)
        .where(
            OutboxItem.channel == mail,
            OutboxItem.address == claim.address,
        )
        .limit(1)
    )
    target = await get_identity(session, mail, claim.address)
    if sent is None or target is None:
        raise ProofRefused("invalid_token", "this link names nothing we sent")
    await spend_nonce(app, session, KIND_CONTINUE, claim.nonce)
    outcome = LinkOutcome(requester.customer_id)
    await join(app, session, outcome, requester, target, how="continue_link")
    return outcome


@dataclass(frozen=True, slots=True)
class ContinueLink:
    """What the page a continue link opens may show before anything is joined."""

    address: str
    spent: bool


async def peek_continue_token(app: AppContext, session: AsyncSession, token: str) -> ContinueLink:
    """The address a continue token would join, and whether it was spent; spends nothing.

    The address is no secret to whoever holds the link (it is in the token); showing it
    lets the person who opened the link see that it is not theirs.

    Raises:
        ProofRefused: `invalid_token`.
    """
    try:
        claim = tokens_for(app).open_continue(token)
    except InvalidProofToken as exc:
        raise ProofRefused("invalid_token", f"this link is not valid: {exc}") from None
    spent = await nonce_spent(app, session, KIND_CONTINUE, claim.nonce)
    return ContinueLink(claim.address, spent)


def continue_link_maker(settings: Settings) -> Callable[[OutboundMessage], str | None] | None:
    """What the email channel calls to print each mail's "continue in chat" link."""
    if not settings.server.secret_key:
        return None
    base = public_base_url(settings)
    signer = ProofTokens(settings.server.secret_key)

    def link(message: OutboundMessage) -> str | None:
        token = signer.continue_token(message.thread_id, message.address, ttl=CONTINUE_TTL)
        lang = (message.language or "")[:2]
        query = {"token": token, **({"lang": lang} if lang in LANGUAGES else {})}
        return f"{base}/continue?{urlencode(query)}"

    return link


# --- chat link: a visitor's deep link into a chat app ----------------------------------


def chat_link_token(app: AppContext, visitor: Identity) -> str:
    """The payload of the widget's "continue in the chat app" link (Telegram's `start`)."""
    return tokens_for(app).chat_link_token(visitor.id, ttl=CHAT_LINK_TTL)


async def consume_chat_link(
    app: AppContext, session: AsyncSession, chat: Identity, token: str
) -> int:
    """A chat app's user opened a visitor's chat link (Telegram: `/start <token>`): spend
    the token and ask them whether to link (the caller sends the question); returns the
    question's id. Nothing is joined yet: the link may have been handed to them by
    whoever asked for it on the website.

    Raises:
        ProofRefused: `invalid_token` or `token_used`.
    """
    try:
        claim = tokens_for(app).open_chat_link(token)
    except InvalidProofToken as exc:
        raise ProofRefused("invalid_token", f"this link is not valid: {exc}") from None
    visitor = await session.get(Identity, claim.identity_id)
    if visitor is None or app.roles.visitors is None or visitor.channel != app.roles.visitors:
        raise ProofRefused("invalid_token", "this link names nobody")
    earlier = await pending_chat_link(session, chat)
    question = await spend_nonce(
        app,
        session,
        KIND_CHAT_LINK,
        claim.nonce,
        requester=chat,
        target=visitor,
        answer_within=CHAT_LINK_CONFIRM_TTL,
    )
    if earlier is not None:  # only the newest question counts
        earlier.used_at = utcnow()
    _audit_link(session, chat, visitor, "telegram_link_asked")
    return question.id


async def pending_chat_link(session: AsyncSession, chat: Identity) -> IdentityProof | None:
    """The unanswered "link this chat?" question of this chat app user, if any (its row
    held until commit, read as last committed)."""
    return await session.scalar(
        select(IdentityProof)
        .where(
            IdentityProof.kind == KIND_CHAT_LINK,
            IdentityProof.requester_channel == chat.channel,
            IdentityProof.requester_address == chat.address,
            IdentityProof.used_at.is_(None),
        )
        .order_by(IdentityProof.id.desc())
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def answer_chat_link(
    app: AppContext,
    session: AsyncSession,
    chat: Identity,
    question: IdentityProof,
    answer: str,
) -> tuple[str | None, LinkOutcome | None]:
    """The chat app user answered the "link this chat?" question (or wrote something
    else): only an explicit yes in time joins the visitor; anything else declines. The
    question is closed either way.

    Returns:
        The text key of the router's reply (None: the message is no answer and goes on
        to the responder), and the link's outcome when it joined.
    """
    texts = app.texts
    now = utcnow()
    visitor = await _close_question(session, question, now)
    if question.expires_at <= now or visitor is None:
        _audit_link(session, chat, visitor, "telegram_link_expired")
        refused = is_yes(answer, texts) or is_no(answer, texts)
        return ("link_refused" if refused else None), None
    if not is_yes(answer, texts):
        _audit_link(session, chat, visitor, "telegram_link_declined")
        return "link_declined", None
    outcome = LinkOutcome(chat.customer_id)
    # Both sides are proven: the chat app vouches for the sender, the token for the
    # visitor, and the sender said the visitor is them.
    await join(app, session, outcome, chat, visitor, how="telegram_start")
    chat.verified = True
    return "linked", outcome


async def tap_on_link_question(
    session: AsyncSession, chat: Identity | None, question_id: int | None
) -> LinkTap:
    """A button under a "link this chat?" question was tapped by `chat` (None: an
    identity never seen); the button names `question_id`, the question it was sent with.
    `OPEN` when that is the chat's open question and in time: the tap is then ingested
    as the answer. A button under an older question answers nothing (`REPLACED`, or
    `CLOSED` without an open question) and changes nothing. An expired question is
    closed here, as a late answer closes it; so is the open one under a button that
    names no question (sent before buttons named theirs): which question it was sent
    with cannot be known, so it is refused as a late answer is.
    """
    question = await pending_chat_link(session, chat) if chat is not None else None
    if chat is None or question is None:
        return LinkTap.CLOSED
    if question_id is not None and question_id != question.id:
        return LinkTap.REPLACED
    now = utcnow()
    if question_id is not None and question.expires_at > now:
        return LinkTap.OPEN
    visitor = await _close_question(session, question, now)
    _audit_link(session, chat, visitor, "telegram_link_expired")
    return LinkTap.EXPIRED


async def _close_question(
    session: AsyncSession, question: IdentityProof, now: datetime
) -> Identity | None:
    """Mark the question answered; the visitor it would join (None: gone since)."""
    question.used_at = now
    return await get_identity(session, question.target_channel or "", question.target_address or "")


def _audit_link(
    session: AsyncSession, chat: Identity, visitor: Identity | None, action: str
) -> None:
    # The action names and detail keys are kept as the audit log has always stored them
    # (readers of the log search for them), though the core no longer names channels.
    session.add(
        AuditEvent(
            actor_kind="customer",
            actor_id=chat.customer_id,
            action=action,
            customer_id=chat.customer_id,
            details={
                "telegram_identity_id": chat.id,
                "webchat_identity_id": visitor.id if visitor is not None else None,
            },
        )
    )


# --- proofs carried by inbound messages ------------------------------------------------


@dataclass
class InboundProof:
    """What `apply_inbound_proofs` did: events to publish, deliveries it queued, and the
    step the identity dialogue answers in place of the bot (None: no proof step)."""

    events: list[Event] = field(default_factory=list)
    step: ProofStep | None = None
    outbound: int = 0
    # The message was a typed code: it is stored masked (its HMAC proved what it had to).
    code_typed: bool = False


async def apply_inbound_proofs(
    app: AppContext, session: AsyncSession, msg: InboundMessage, identity: Identity
) -> InboundProof:
    """Act on the proofs an inbound message may carry, in the ingest transaction.

    What a message proves is what its channel put on it (`msg.proof`, `proven_addresses`,
    `sender_verified`) and, in a conversation (`msg.conversational`), a typed code or
    address. `identity` is refreshed when its customer changes (merged).
    """
    result = InboundProof()
    claim = msg.proof
    if claim is not None and claim.kind == ProofKind.MAIL_REPLY:
        await _mail_reply_proof(session, msg, identity, claim.thread_id)
        return result
    if msg.sender_verified and msg.proven_addresses:
        for channel, address in msg.proven_addresses:
            known = await get_identity(session, channel, address)
            if known is not None and known.customer_id != identity.customer_id:
                # The channel vouches the address is the sender's *now*; a number that
                # somebody else had (phone numbers are recycled) must not hand over
                # their history. Agents see the conflict and may merge by hand.
                session.add(
                    AuditEvent(
                        actor_kind="customer",
                        actor_id=identity.customer_id,
                        action="proven_address_conflict",
                        customer_id=identity.customer_id,
                        details={
                            "channel": channel,
                            "identity_id": known.id,
                            "other_customer_id": known.customer_id,
                        },
                    )
                )
                continue
            proven = await ensure_identity(session, channel, address, verified=True)
            outcome = LinkOutcome(identity.customer_id)
            await join(
                app, session, outcome, identity, proven, how=f"{msg.channel}_shared_{channel}"
            )
            result.events.extend(outcome.events)
        result.step = ProofStep("address_saved")
        return result
    if msg.sender_verified and claim is not None and claim.kind == ProofKind.LINK_TOKEN:
        try:
            question_id = await consume_chat_link(app, session, identity, claim.token or "")
        except ProofRefused:
            result.step = ProofStep("link_refused")
        else:
            result.step = ProofStep("link_confirm", question_id=question_id)
        return result
    if msg.sender_verified and msg.conversational:
        question = await pending_chat_link(session, identity)
        if (
            claim is not None
            and claim.kind == ProofKind.LINK_ANSWER
            and (question is None or question.id != claim.question_id)
        ):
            # A tap under a question that is not the open one (the channel checked before
            # ingesting it, but a newer question may have been asked since): it answers
            # nothing, and is no message for the bot.
            replaced = question is not None
            result.step = ProofStep(
                "link_question_replaced" if replaced else "link_question_closed"
            )
            return result
        if question is not None:
            key, linked = await answer_chat_link(app, session, identity, question, msg.text)
            if linked is not None:
                result.events.extend(linked.events)
            if key is not None:
                result.step = ProofStep(key)
                return result
    if msg.automated or not msg.conversational:
        return result
    body = msg.text.strip()
    code = normalise_code(body)
    pending = await pending_code(session, identity) if _CODE.fullmatch(code) else None
    # A recent code only: an old forgotten one must not swallow order numbers forever.
    if pending is not None and pending.created_at > utcnow() - 3 * CODE_TTL:
        result.code_typed = True
        try:
            outcome = await verify_email_code(app, session, identity, code)
        except ProofRefused as refused:
            result.step = _refusal_step(refused)
        else:
            result.events.extend(outcome.events)
            result.step = ProofStep("verified")
        return result
    if normalise_email(body) is not None and not await has_verified_email(app, session, identity):
        try:
            email, outcome = await request_email_code(
                app, session, identity, body, language=msg.language
            )
        except ProofRefused as refused:
            logger.info("email code not sent for %s: %s", identity.id, refused.code)
            return result
        result.events.extend(outcome.events)
        result.outbound += outcome.outbound
        result.step = ProofStep("code_sent", email=email)
    return result


def _refusal_step(refused: ProofRefused) -> ProofStep:
    if refused.code == "wrong_code":
        return ProofStep("wrong_code", remaining=refused.remaining or 0)
    if refused.code in ("locked", "expired", "no_code"):
        return ProofStep("locked")
    return ProofStep("link_refused")


async def may_ask_for_email(
    app: AppContext, session: AsyncSession, msg: InboundMessage, identity: Identity
) -> bool:
    """Whether the identity dialogue may ask for an email address should the bot hand
    this conversation to people: the setting is on, mail can be sent, the sender is in a
    conversation, and no verified address is known nor a code on its way."""
    if (
        not app.settings.bot.ask_email_on_handoff
        or not mail_can_be_sent(app)
        or not msg.conversational
        or msg.automated
    ):
        return False
    return (
        not await has_verified_email(app, session, identity)
        and await pending_code(session, identity) is None
    )


async def _mail_reply_proof(
    session: AsyncSession, msg: InboundMessage, identity: Identity, thread_id: int | None
) -> None:
    """A reply through a thread's keyed token from the address that thread's mail went
    to proves the address (a stranger's reply with the token proves nothing)."""
    if identity.verified or thread_id is None:
        return
    if msg.sender_authenticated is False:  # a forged From proves no address
        return
    thread = await session.get(Thread, thread_id)
    if thread is None or thread.customer_id != identity.customer_id:
        return
    sent_here = await session.scalar(
        select(OutboxItem.id)
        .join(Message, Message.id == OutboxItem.message_id)
        .where(
            OutboxItem.thread_id == thread.id,
            OutboxItem.identity_id == identity.id,
            Message.direction == Direction.OUTBOUND,
        )
        .limit(1)
    )
    if sent_here is not None:
        identity.verified = True
        session.add(
            AuditEvent(
                actor_kind="customer",
                actor_id=identity.customer_id,
                action="identity_proven",
                thread_id=thread.id,
                customer_id=identity.customer_id,
                details={"how": "email_reply_token", "proven": {"identity_id": identity.id}},
            )
        )


# --- hints for agents --------------------------------------------------------------------


async def unproven_claims(session: AsyncSession, customer_id: int) -> list[dict[str, object]]:
    """Addresses this customer claimed but never proved, and claims others made on this
    customer's addresses: hints an agent may act on (an admin merge), never links."""
    identities = list(
        await session.scalars(select(Identity).where(Identity.customer_id == customer_id))
    )
    if not identities:
        return []
    pairs = [(i.channel, i.address) for i in identities]
    rows = await session.scalars(
        select(IdentityProof)
        .where(
            IdentityProof.kind == KIND_CODE,
            IdentityProof.used_at.is_(None),
            or_(
                tuple_(IdentityProof.requester_channel, IdentityProof.requester_address).in_(pairs),
                tuple_(IdentityProof.target_channel, IdentityProof.target_address).in_(pairs),
            ),
        )
        .order_by(IdentityProof.id.desc())
        .limit(50)
    )
    hints: list[dict[str, object]] = []
    for proof in rows:
        ours = (proof.requester_channel, proof.requester_address) in pairs
        other = await get_identity(
            session,
            (proof.target_channel if ours else proof.requester_channel) or "",
            (proof.target_address if ours else proof.requester_address) or "",
        )
        hints.append(
            {
                "kind": "claimed_address" if ours else "address_claimed_by_other",
                "channel": proof.target_channel,
                "address": proof.target_address and shown_address(proof.target_address),
                "claimed_by": {
                    "channel": proof.requester_channel,
                    "address": proof.requester_address and shown_address(proof.requester_address),
                },
                "other_customer_id": (
                    other.customer_id
                    if other is not None and other.customer_id != customer_id
                    else None
                ),
                "claimed_at": proof.created_at.isoformat(),
                "wrong_codes": proof.attempts,
                "proven": False,
            }
        )
    return hints
