"""Agent replies and internal notes.

A reply goes through the outbox (same transaction as the message) to the identity the
customer last wrote from, or to another of the customer's verified identities the
agent picks; an unverified address could belong to anybody, so it is never offered.
A note is stored with `internal=True` and never queued to any channel.

A request may carry an idempotency key (`router.core.idempotency`, the one rule): the
message keeps it, and the same key from the same agent again answers with that message
and writes nothing, however many copies arrive at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.agents.queue import (
    Actor,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    can_view,
    lock_agent,
    reply_language,
    take,
)
from router.context import AppContext
from router.core.events import MessageStored
from router.core.idempotency import REUSED, REUSED_MESSAGE, digest, once, reused
from router.core.messages import AttachmentRef, AuthorKind
from router.core.outbound_messages import enqueue_outbound
from router.core.transaction import Effects
from router.service import sla_threads
from router.service.reports.events import record_response
from router.storage.models import Identity, Message, Thread, ThreadStatus


@dataclass(frozen=True, slots=True)
class Posted:
    message: Message
    created: bool  # False: the message an earlier request with the same key stored


async def post_message(
    app: AppContext,
    actor: Actor,
    thread_id: int,
    *,
    text: str,
    internal: bool = False,
    identity_id: int | None = None,
    attachments: tuple[AttachmentRef, ...] = (),
    idempotency_key: str | None = None,
) -> Posted:
    """Store an agent's reply (queued to the customer) or internal note, with the
    files in `attachments` (already stored and checked: `router.core.uploads`).

    With `idempotency_key` (checked by `router.core.idempotency.parse_key`): the
    agent's message of that key, if there is one, whatever the thread's state now.

    Raises:
        NotFound: no such thread, or an identity not the customer's. Forbidden:
            another tier's thread. Conflict: replying to a thread that is not the
            agent's, or resolved, or on an unverified or unreachable identity; the
            key of another request (`idempotency_key_reused`).
            Invalid: empty/too long text, a note naming an identity.
    """
    limit = app.settings.api.max_text_length
    if not text.strip():
        raise Invalid("text must not be empty")
    if len(text) > limit:
        raise Invalid(f"text is longer than {limit} characters")
    if internal and identity_id is not None:
        raise Invalid("a note is not sent anywhere; leave out identity_id")

    # What the request asks, files by their content (a retry uploads them again).
    request = digest(
        thread_id,
        text,
        internal,
        identity_id,
        [(ref.sha256, ref.filename, ref.content_type) for ref in attachments],
    )

    async def first(session: AsyncSession) -> Message | None:
        if idempotency_key is None:
            return None
        found = await session.scalar(
            select(Message).where(
                Message.agent_id == actor.agent_id, Message.idempotency_key == idempotency_key
            )
        )
        if found is not None and reused(found.request_digest, request):
            raise Conflict(REUSED_MESSAGE, code=REUSED)
        return found

    async def work(session: AsyncSession, effects: Effects) -> tuple[Message, bool]:
        earlier = await first(session)
        if earlier is not None:
            return earlier, False
        # A reply may take the thread over from the bot: the agent's row is locked first,
        # as every path that gives an agent a thread does.
        agent = None if internal else await lock_agent(session, actor.agent_id)
        thread = await session.get(Thread, thread_id)
        if thread is None:
            raise NotFound(f"thread {thread_id} does not exist")
        if not can_view(actor, thread):
            raise Forbidden(
                f"thread {thread_id} is at tier {thread.tier}; you work tier {actor.tier}"
            )
        identity = None
        if agent is not None:
            if thread.status == ThreadStatus.BOT:
                # Whoever answers in the bot's place holds the thread from now on, so
                # the customer's next message reaches them and not the bot.
                # No "<agent> is with you now" first: the reply, signed by the agent, says it.
                await take(app, session, effects, actor, agent, thread, announce=False)
            _check_may_reply(actor, thread)
            identity = await _reply_identity(session, thread, identity_id)
        message = await enqueue_outbound(
            session,
            thread=thread,
            identity=identity,
            text=text,
            author=AuthorKind.AGENT,
            author_name=actor.name,
            agent_id=actor.agent_id,
            language=await reply_language(app, session, thread),
            internal=internal,
            attachments=attachments,
            idempotency_key=idempotency_key,
            request_digest=request if idempotency_key is not None else None,
        )
        if not internal:
            await record_response(app, session, thread, message)
            await sla_threads.agent_replied(app, session, thread)  # records the first response
        effects.events.append(
            MessageStored(message.id, thread.id, thread.customer_id, AuthorKind.AGENT, internal)
        )
        effects.outbound = not internal
        return message, True

    message, created = await once(app, work, first)
    return Posted(message, created)


def _check_may_reply(actor: Actor, thread: Thread) -> None:
    if thread.status == ThreadStatus.RESOLVED:
        raise Conflict(
            f"thread {thread.id} is resolved; the customer's next message reopens it",
            code="resolved",
        )
    if actor.is_admin or thread.assignee_id == actor.agent_id:
        return
    if thread.assignee_id is None:
        raise Conflict(f"claim thread {thread.id} before replying", code="claim_first")
    raise Conflict(f"thread {thread.id} is assigned to another agent", code="taken")


async def _reply_identity(
    session: AsyncSession, thread: Thread, identity_id: int | None
) -> Identity:
    """The identity to send to: the chosen verified one, else where the customer last wrote."""
    chosen = identity_id if identity_id is not None else thread.last_identity_id
    if chosen is None:
        raise Conflict(f"thread {thread.id} has no channel to reply on", code="no_channel")
    identity = await session.get(Identity, chosen)
    # The identity's state, not the request's shape, decides: 404 and 409, never 422.
    if identity is None or identity.customer_id != thread.customer_id:
        raise NotFound(f"identity {chosen} is not one of this customer's")
    if identity_id is not None and identity.id != thread.last_identity_id and not identity.verified:
        raise Conflict(
            f"identity {chosen} ({identity.channel}) is not verified; "
            "reply where the customer last wrote or on a verified identity",
            code="unverified_identity",
        )
    if identity.unreachable_reason:
        raise Conflict(
            f"the customer cannot be reached on {identity.channel} "
            f"({identity.unreachable_reason}); pick another verified identity",
            code="unreachable",
        )
    return identity
