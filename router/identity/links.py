"""Linking a customer's identities on proof, never on a claim.

Proofs accepted:
- a six-digit code mailed (through the outbox) to an email address and typed back by
  the web chat visitor or Telegram user who asked for it;
- a continue-in-chat token from a mail we sent, spent by a click on the page that says
  which address will be joined (the browser holding it read that mail);
- a Telegram `/start <token>` from the widget's deep link, confirmed by a "yes" from
  that Telegram user to the question it asks (the link could have come from anybody;
  only the person in the Telegram chat can say it is theirs);
- an email reply through a thread's keyed reply token, from the address that thread's
  mail was sent to (marks that email identity verified);
- a site's `user_hash` for its `user_id` (the site vouches for its signed-in user).

A claim without proof (an address typed into a chat) links nothing and reveals
nothing: the code goes to the address, and the answer is the same whether anybody
owns it or not. When a proof joins two customers, `router.identity.merge` makes them one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlencode

from sqlalchemy import func, or_, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from router.context import AppContext
from router.core.events import Event, MessageStored
from router.core.languages import LANGUAGES
from router.core.messages import AuthorKind, Direction, InboundMessage, OutboundMessage, utcnow
from router.core.outbound_messages import enqueue_outbound
from router.core.security import digests_match
from router.core.texts import CUSTOMER_TEXTS, text
from router.identity.merge import MergeRefused, current_customer_id, merge_customers
from router.identity.tokens import (
    TELEGRAM_TOKEN_LENGTH,
    InvalidProofToken,
    ProofTokens,
    new_code,
)
from router.storage.models import (
    AuditEvent,
    Customer,
    Identity,
    IdentityProof,
    Message,
    OutboxItem,
    Thread,
    ThreadStatus,
)

logger = logging.getLogger(__name__)

EMAIL_CHANNEL = "email"
WEBCHAT_CHANNEL = "webchat"
TELEGRAM_CHANNEL = "telegram"
SITE_CHANNEL = "site"
# Where a customer may ask for and type a code in the conversation itself.
DIALOGUE_CHANNELS = frozenset({WEBCHAT_CHANNEL, TELEGRAM_CHANNEL})

CODE_TTL = timedelta(minutes=10)
CODE_ATTEMPTS = 5
SEND_WINDOW = timedelta(hours=1)
SENDS_PER_ADDRESS = 5  # codes mailed to one address per window
SENDS_PER_REQUESTER = 10  # codes one visitor or chat may ask for per window
CONTINUE_TTL = timedelta(days=7)
TELEGRAM_LINK_TTL = timedelta(hours=1)
# How long the Telegram user has to answer "link this chat?" after `/start <token>`.
TELEGRAM_CONFIRM_TTL = timedelta(minutes=10)

KIND_CODE = "email_code"
KIND_CONTINUE = "continue"
KIND_TELEGRAM = "telegram_link"

_EMAIL = re.compile(
    r"^[^@\s<>\"',;]{1,64}@[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?)+$"
)
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩", "01234567890123456789")
_CODE = re.compile(r"^\d{6}$")
_SIX_DIGITS = re.compile(r"(?<!\d)\d{6}(?!\d)")
# Only a payload shaped like our token is a link attempt; other deep links (a
# campaign's `?start=promo`) stay the greeting the bot answers.
_START = re.compile(rf"^/start(?:@\w+)?\s+([A-Za-z0-9_-]{{{TELEGRAM_TOKEN_LENGTH}}})\s*$")


# Explicit answers to "link this chat?": the buttons' texts and the bare words.
_YES = frozenset(
    {CUSTOMER_TEXTS["link_yes"][lang].casefold() for lang in LANGUAGES}
    | {"yes", "بله", "بلی", "آره", "نعم"}
)
_NO = frozenset(
    {CUSTOMER_TEXTS["link_no"][lang].casefold() for lang in LANGUAGES} | {"no", "نه", "خیر"}
)


class ProofRefused(ValueError):
    """A proof was not accepted; `code` names why (safe to show the customer)."""

    def __init__(self, code: str, message: str, *, remaining: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.remaining = remaining


class RateLimited(ProofRefused):
    """Too many codes asked for; try later."""


@dataclass
class LinkOutcome:
    """What a proof changed: the customer the requester belongs to now, events to
    publish after commit, and how many outbox rows were queued."""

    customer_id: int
    events: list[Event] = field(default_factory=list)
    outbound: int = 0
    merged: bool = False


def normalise_email(raw: str) -> str | None:
    """The address as the email channel keys identities (lower case), or None if invalid."""
    address = raw.strip().lower()
    if len(address) > 254 or not _EMAIL.match(address):
        return None
    return address


def normalise_code(raw: str) -> str:
    """Persian/Arabic-Indic digits to ASCII, spaces and dashes dropped."""
    return re.sub(r"[\s\-\u200c]", "", raw.translate(_DIGITS))


def tokens_for(app: AppContext) -> ProofTokens:
    """The proof token signer under this server's secret."""
    return ProofTokens(app.settings.server.secret_key)


# --- identities -------------------------------------------------------------------------


async def get_identity(
    session: AsyncSession, channel: str, address: str, *, lock: bool = False
) -> Identity | None:
    """The identity (channel, address), if stored; `lock` holds its row as `_lock` does."""
    query = select(Identity).where(Identity.channel == channel, Identity.address == address)
    if lock:
        query = query.with_for_update(key_share=True)
    return await session.scalar(query)


async def ensure_identity(
    session: AsyncSession,
    channel: str,
    address: str,
    *,
    name: str | None = None,
    verified: bool = False,
    language: str | None = None,
    lock: bool = False,
) -> Identity:
    """The identity, created with a customer of its own when new.

    With `lock` an existing identity's row is held until commit (as `_lock` does): a
    customer merge locks identities too, so this waits for one in flight and then
    reads the identity's new customer.
    """
    identity = await get_identity(session, channel, address, lock=lock)
    if identity is not None:
        return identity
    now = utcnow()
    try:
        # In a savepoint: when a concurrent transaction created the same identity first,
        # only this attempt is undone and the winner's row is used.
        async with session.begin_nested():
            customer = Customer(name=name, language=language, created_at=now)
            session.add(customer)
            await session.flush()
            identity = Identity(
                customer_id=customer.id,
                channel=channel,
                address=address,
                display_name=name,
                verified=verified,
                created_at=now,
            )
            session.add(identity)
            await session.flush()
    except IntegrityError:
        identity = await get_identity(session, channel, address, lock=lock)
        if identity is None:
            raise
    return identity


async def _lock(session: AsyncSession, identity: Identity) -> None:
    """Hold `identity`'s row until commit (PostgreSQL; SQLite writers are serialised).

    The same lock strength as ingest and merge take, so the three queue behind each other.
    """
    await session.execute(
        select(Identity.id).where(Identity.id == identity.id).with_for_update(key_share=True)
    )


async def _join(
    session: AsyncSession,
    outcome: LinkOutcome,
    identity: Identity,
    proven: Identity,
    *,
    how: str,
) -> None:
    """`proven` was proven by whoever holds `identity`: make their customers one."""
    proven.verified = True
    first = await current_customer_id(session, identity.customer_id)
    second = await current_customer_id(session, proven.customer_id)
    session.add(
        AuditEvent(
            actor_kind="customer",
            actor_id=first,
            action="identity_proven",
            customer_id=first,
            details={
                "how": how,
                "by": {"channel": identity.channel, "identity_id": identity.id},
                "proven": {"channel": proven.channel, "identity_id": proven.id},
            },
        )
    )
    if first != second:
        try:
            result = await merge_customers(
                session, first, second, actor_kind="system", actor_id=None, reason=how
            )
        except MergeRefused as exc:
            raise ProofRefused("cannot_link", str(exc)) from None
        outcome.events.extend(result.events)
        outcome.merged = True
        outcome.customer_id = result.surviving_id
    else:
        outcome.customer_id = first
    await session.flush()
    await session.refresh(identity)
    await session.refresh(proven)


# --- email codes ------------------------------------------------------------------------


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
    email = normalise_email(raw_email)
    if email is None:
        raise ProofRefused("invalid_email", "that is not an email address")
    # The address gets an identity of its own customer when nobody has it yet; an owned
    # address stays where it is. Nothing is linked until the code comes back.
    target = await ensure_identity(session, EMAIL_CHANNEL, email, language=language)
    # Both limits are counted under the rows they are about: requests for one address, or
    # by one requester, queue here, so each counts the codes the others committed.
    # Always requester first, then address (different channels: no cycle).
    await _lock(session, requester)
    await _lock(session, target)
    now = utcnow()
    since = now - SEND_WINDOW
    to_address = await session.scalar(
        select(func.count()).where(
            IdentityProof.kind == KIND_CODE,
            IdentityProof.target_channel == EMAIL_CHANNEL,
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
    if (to_address or 0) >= SENDS_PER_ADDRESS or (by_requester or 0) >= SENDS_PER_REQUESTER:
        raise RateLimited("rate_limited", "too many codes asked for; try again later")

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
        resolution="verification",
        resolved_at=now,
        subject=text("code_subject", language),
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
        text=text("code_mail", language, code=code),
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
            target_channel=EMAIL_CHANNEL,
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
    if not _CODE.match(code) or not digests_match(expected, proof.secret_hash):
        proof.attempts += 1
        remaining = CODE_ATTEMPTS - proof.attempts
        if remaining <= 0:
            await _redact(session, proof)
            raise ProofRefused("locked", "too many wrong codes; ask for a new one", remaining=0)
        raise ProofRefused("wrong_code", "that code is not right", remaining=remaining)
    proof.used_at = now
    await _redact(session, proof)
    target = await ensure_identity(session, EMAIL_CHANNEL, email)
    outcome = LinkOutcome(requester.customer_id)
    await _join(session, outcome, requester, target, how="email_code")
    return outcome


# --- continue in chat (from a mail) ----------------------------------------------------


async def _nonce_spent(app: AppContext, session: AsyncSession, kind: str, nonce: str) -> bool:
    """Whether a token's nonce was recorded (read only)."""
    digest = tokens_for(app).nonce_hash(kind, nonce)
    used = await session.scalar(
        select(IdentityProof.id).where(
            IdentityProof.kind == kind, IdentityProof.secret_hash == digest
        )
    )
    return used is not None


async def _spend_nonce(
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
    if await _nonce_spent(app, session, kind, nonce):
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
    sent = await session.scalar(
        select(OutboxItem.id)
        .where(
            OutboxItem.channel == EMAIL_CHANNEL,
            OutboxItem.address == claim.address,
        )
        .limit(1)
    )
    target = await get_identity(session, EMAIL_CHANNEL, claim.address)
    if sent is None or target is None:
        raise ProofRefused("invalid_token", "this link names nothing we sent")
    await _spend_nonce(app, session, KIND_CONTINUE, claim.nonce)
    outcome = LinkOutcome(requester.customer_id)
    await _join(session, outcome, requester, target, how="continue_link")
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
    spent = await _nonce_spent(app, session, KIND_CONTINUE, claim.nonce)
    return ContinueLink(claim.address, spent)


def continue_link_maker(settings: Settings) -> Callable[[OutboundMessage], str | None] | None:
    """What the email channel calls to print each mail's "continue in chat" link."""
    if not settings.server.secret_key:
        return None
    server = settings.server
    base = (server.public_url or f"http://{server.host}:{server.http_port}").rstrip("/")
    signer = ProofTokens(server.secret_key)

    def link(message: OutboundMessage) -> str | None:
        token = signer.continue_token(message.thread_id, message.address, ttl=CONTINUE_TTL)
        lang = (message.language or "")[:2]
        query = {"token": token, **({"lang": lang} if lang in LANGUAGES else {})}
        return f"{base}/continue?{urlencode(query)}"

    return link


# --- Telegram deep link -----------------------------------------------------------------


def telegram_start_token(app: AppContext, webchat_identity: Identity) -> str:
    """The `start` payload of the widget's "continue on Telegram" link."""
    return tokens_for(app).telegram_token(webchat_identity.id, ttl=TELEGRAM_LINK_TTL)


async def consume_telegram_start(
    app: AppContext, session: AsyncSession, telegram: Identity, token: str
) -> None:
    """A Telegram user sent `/start <token>`: spend the token and ask them whether to
    link (the caller sends the question). Nothing is joined yet: the link may have been
    handed to them by whoever asked for it on the website.

    Raises:
        ProofRefused: `invalid_token` or `token_used`.
    """
    try:
        claim = tokens_for(app).open_telegram(token)
    except InvalidProofToken as exc:
        raise ProofRefused("invalid_token", f"this link is not valid: {exc}") from None
    webchat = await session.get(Identity, claim.identity_id)
    if webchat is None or webchat.channel != WEBCHAT_CHANNEL:
        raise ProofRefused("invalid_token", "this link names nobody")
    earlier = await pending_telegram_link(session, telegram)
    await _spend_nonce(
        app,
        session,
        KIND_TELEGRAM,
        claim.nonce,
        requester=telegram,
        target=webchat,
        answer_within=TELEGRAM_CONFIRM_TTL,
    )
    if earlier is not None:  # only the newest question counts
        earlier.used_at = utcnow()
    _audit_link(session, telegram, webchat, "telegram_link_asked")


async def pending_telegram_link(session: AsyncSession, telegram: Identity) -> IdentityProof | None:
    """The unanswered "link this chat?" question of this Telegram user, if any (its row
    held until commit, read as last committed)."""
    return await session.scalar(
        select(IdentityProof)
        .where(
            IdentityProof.kind == KIND_TELEGRAM,
            IdentityProof.requester_channel == telegram.channel,
            IdentityProof.requester_address == telegram.address,
            IdentityProof.used_at.is_(None),
        )
        .order_by(IdentityProof.id.desc())
        .limit(1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def is_yes(answer: str) -> bool:
    """An explicit yes: the yes button in any language, or the word itself."""
    word = answer.strip().casefold().rstrip(".!؟?")
    return word in _YES


def _is_no(answer: str) -> bool:
    word = answer.strip().casefold().rstrip(".!؟?")
    return word in _NO


async def answer_telegram_link(
    session: AsyncSession, telegram: Identity, question: IdentityProof, answer: str
) -> tuple[str | None, LinkOutcome | None]:
    """The Telegram user answered the "link this chat?" question (or wrote something
    else): only an explicit yes in time joins the web chat; anything else declines. The
    question is closed either way.

    Returns:
        The text key of the router's reply (None: the message is no answer and goes on
        to the responder), and the link's outcome when it joined.
    """
    now = utcnow()
    question.used_at = now
    webchat = await get_identity(
        session, question.target_channel or "", question.target_address or ""
    )
    if question.expires_at <= now or webchat is None:
        _audit_link(session, telegram, webchat, "telegram_link_expired")
        return ("link_refused" if is_yes(answer) or _is_no(answer) else None), None
    if not is_yes(answer):
        _audit_link(session, telegram, webchat, "telegram_link_declined")
        return "link_declined", None
    outcome = LinkOutcome(telegram.customer_id)
    # Both sides are proven: Telegram vouches for the sender, the token for the visitor,
    # and the sender said the visitor is them.
    await _join(session, outcome, telegram, webchat, how="telegram_start")
    telegram.verified = True
    return "linked", outcome


def _audit_link(
    session: AsyncSession, telegram: Identity, webchat: Identity | None, action: str
) -> None:
    session.add(
        AuditEvent(
            actor_kind="customer",
            actor_id=telegram.customer_id,
            action=action,
            customer_id=telegram.customer_id,
            details={
                "telegram_identity_id": telegram.id,
                "webchat_identity_id": webchat.id if webchat is not None else None,
            },
        )
    )


# --- the site's signed-in user ---------------------------------------------------------


async def link_site_user(
    session: AsyncSession, visitor: Identity, user_identity: Identity, user_id: str
) -> LinkOutcome:
    """An anonymous visitor signed in (a valid `user_hash`): the same browser is both."""
    site = await ensure_identity(session, SITE_CHANNEL, user_id, verified=True)
    outcome = LinkOutcome(visitor.customer_id)
    await _join(session, outcome, user_identity, site, how="site_user_hash")
    await _join(session, outcome, user_identity, visitor, how="site_user_hash")
    return outcome


# --- proofs carried by inbound messages ------------------------------------------------


@dataclass
class InboundProof:
    """What `apply_inbound_proofs` did: events to publish, and a reply that replaces
    the responder's turn when the message was a proof step (a code, `/start`)."""

    events: list[Event] = field(default_factory=list)
    reply: str | None = None
    suggestions: tuple[str, ...] = ()  # offered with `reply`
    outbound: int = 0
    # The message was a typed code: it is stored masked (its HMAC proved what it had to).
    code_typed: bool = False


async def apply_inbound_proofs(
    app: AppContext, session: AsyncSession, msg: InboundMessage, identity: Identity
) -> InboundProof:
    """Act on the proofs an inbound message may carry, in the ingest transaction.

    `identity` is refreshed when its customer changes (merged).
    """
    result = InboundProof()
    language = msg.language or app.settings.faq.default_language
    body = msg.text.strip()
    if msg.channel == EMAIL_CHANNEL:
        await _email_reply_proof(session, msg, identity)
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
            await _join(session, outcome, identity, proven, how=f"{msg.channel}_shared_{channel}")
            result.events.extend(outcome.events)
        result.reply = text("address_saved", language)
        return result
    if msg.channel == TELEGRAM_CHANNEL and msg.sender_verified:
        # The channel may hand `/start <payload>` over as a greeting, keeping the command
        # in `full_text`.
        match = _START.match(body) or _START.match((msg.full_text or "").strip())
        if match is not None:
            try:
                await consume_telegram_start(app, session, identity, match.group(1))
            except ProofRefused:
                result.reply = text("link_refused", language)
            else:
                result.reply = text("link_confirm", language)
                result.suggestions = (text("link_yes", language), text("link_no", language))
            return result
        question = await pending_telegram_link(session, identity)
        if question is not None:
            key, linked = await answer_telegram_link(session, identity, question, body)
            if linked is not None:
                result.events.extend(linked.events)
            if key is not None:
                result.reply = text(key, language)
                return result
    if msg.automated or msg.channel not in DIALOGUE_CHANNELS:
        return result
    code = normalise_code(body)
    pending = await pending_code(session, identity) if _CODE.match(code) else None
    # A recent code only: an old forgotten one must not swallow order numbers forever.
    if pending is not None and pending.created_at > utcnow() - 3 * CODE_TTL:
        result.code_typed = True
        try:
            outcome = await verify_email_code(app, session, identity, code)
        except ProofRefused as refused:
            result.reply = _refusal_text(refused, language)
        else:
            result.events.extend(outcome.events)
            result.reply = text("verified", language)
        return result
    if normalise_email(body) is not None and not await _has_verified_email(session, identity):
        try:
            email, outcome = await request_email_code(
                app, session, identity, body, language=msg.language
            )
        except ProofRefused as refused:
            logger.info("email code not sent for %s: %s", identity.id, refused.code)
            return result
        result.events.extend(outcome.events)
        result.outbound += outcome.outbound
        result.reply = text("code_sent", language, email=email)
    return result


def mail_can_be_sent(app: AppContext) -> bool:
    """Whether a mailed code can reach anybody: the email channel runs and has an
    outbound relay. Without one, email linking is not offered at all."""
    return EMAIL_CHANNEL in app.adapters and bool(app.settings.email.relay_host)


async def email_prompt_after_handoff(
    app: AppContext, session: AsyncSession, msg: InboundMessage, identity: Identity, status: str
) -> str | None:
    """The router's question when the bot has just handed a chat to people and no
    verified email is known: typing one starts the code dialogue. Not asked when no
    mail can be sent."""
    if (
        not mail_can_be_sent(app)
        or status != ThreadStatus.QUEUED
        or msg.channel not in DIALOGUE_CHANNELS
        or msg.automated
        or await _has_verified_email(session, identity)
        or await pending_code(session, identity) is not None
    ):
        return None
    return text("ask_email", msg.language or "fa")


def _refusal_text(refused: ProofRefused, language: str) -> str:
    if refused.code == "wrong_code":
        return text("wrong_code", language, left=str(refused.remaining or 0))
    if refused.code in ("locked", "expired", "no_code"):
        return text("locked", language)
    return text("link_refused", language)


async def _has_verified_email(session: AsyncSession, identity: Identity) -> bool:
    found = await session.scalar(
        select(Identity.id).where(
            Identity.customer_id == identity.customer_id,
            Identity.channel == EMAIL_CHANNEL,
            Identity.verified.is_(True),
        )
    )
    return found is not None


async def _email_reply_proof(
    session: AsyncSession, msg: InboundMessage, identity: Identity
) -> None:
    """A reply through a thread's keyed token from the address that thread's mail went
    to proves the address (a stranger's reply with the token proves nothing)."""
    hint = msg.hint
    if identity.verified or hint is None or hint.thread_id is None:
        return
    if msg.sender_authenticated is False:  # a forged From proves no address
        return
    thread = await session.get(Thread, hint.thread_id)
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
                "address": proof.target_address,
                "claimed_by": {
                    "channel": proof.requester_channel,
                    "address": proof.requester_address,
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
