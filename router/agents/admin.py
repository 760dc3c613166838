"""What admins do to the team: add agents (with a password or an invitation), change
their tier, capacity and admin flag, deactivate them; retry a dead letter.

Every change is audited. Deactivating an agent ends their console sessions and API
tokens and returns their open threads to the queue in the same transaction, so no
customer is left with somebody who will never answer.

An invitation is a link the new agent opens to choose a password: a token signed
with the one signer (`router.core.security.PayloadSigner`, purpose "agent-invite")
holding the agent id, the agent's `invitation_generation` and an expiry. Only a link
of the row's current generation works, and re-issuing, withdrawing, deactivating and
accepting each add one: a leaked link can be ended for ever, and a reactivated agent
gets a new link, never the old one back. It is single use because accepting it is one
`UPDATE ... WHERE password_hash IS NULL AND invitation_generation = <the link's>`: of
two concurrent acceptances (or an acceptance and a re-issue) one matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from router.agents import queue
from router.agents.queue import Actor, Conflict, Forbidden, Invalid, NotFound
from router.context import AppContext
from router.core.events import AgentPresence
from router.core.messages import utcnow
from router.core.security import PASSWORDS, PayloadSigner
from router.core.transaction import Effects, write
from router.identity.display import EMAIL_PATTERN
from router.storage.column_sizes import column_limit
from router.storage.models import (
    Agent,
    ApiToken,
    AuditEvent,
    ConsoleSession,
    OutboxItem,
    OutboxStatus,
)

INVITATION_PURPOSE = "agent-invite"
INVITATION_LIFETIME = timedelta(days=7)
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_CAPACITY = 100
# Enough to refuse what is plainly not an address; the invitation or sign-in proves it.
# The OpenAPI document's AgentCreateRequest states it too.
_EMAIL = re.compile(EMAIL_PATTERN)


def _require_admin(actor: Actor) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins manage agents")


def _audit(session: AsyncSession, actor: Actor, action: str, **details: object) -> None:
    session.add(
        AuditEvent(actor_kind="agent", actor_id=actor.agent_id, action=action, details=details)
    )


def check_password(password: str) -> None:
    """The one password rule of the API and the invitation page."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise Invalid(f"the password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters")


@dataclass(frozen=True, slots=True)
class NewAgent:
    """What an admin asks for in `POST /api/v1/agents`."""

    email: str
    name: str
    tier: int
    admin: bool = False
    password: str | None = None
    language: str = "fa"


@dataclass(frozen=True, slots=True)
class AgentChange:
    """`PATCH /api/v1/agents/{id}`: None leaves a field as it is."""

    tier: int | None = None
    max_concurrent: int | None = None
    admin: bool | None = None
    active: bool | None = None


@dataclass(frozen=True, slots=True)
class AddedAgent:
    agent: Agent
    invitation: str | None  # the token of the invitation link, when no password was given


def _check_new(new: NewAgent) -> str:
    email = new.email.strip().lower()
    if not _EMAIL.fullmatch(email) or len(email) > column_limit(Agent.email):
        raise Invalid("email must be an email address")
    if not new.name.strip() or len(new.name) > column_limit(Agent.name):
        raise Invalid(f"name must be 1 to {column_limit(Agent.name)} characters")
    if not 1 <= new.tier <= queue.MAX_TIER:
        raise Invalid(f"tier must be 1 to {queue.MAX_TIER}")
    if new.password is not None:
        check_password(new.password)
    return email


async def add_agent(app: AppContext, actor: Actor, new: NewAgent) -> AddedAgent:
    """Add an agent with an initial password, or without one and an invitation to set it.

    Raises:
        Forbidden: not an admin. Invalid: bad fields. Conflict: the email is taken.
    """
    _require_admin(actor)
    email = _check_new(new)
    password_hash = await PASSWORDS.hash(new.password) if new.password is not None else None

    async def work(session: AsyncSession, _: Effects) -> Agent:
        agent = Agent(
            email=email,
            name=new.name.strip(),
            tier=new.tier,
            is_admin=new.admin,
            password_hash=password_hash,
            language=new.language,
        )
        session.add(agent)
        await session.flush()
        _audit(
            session,
            actor,
            "agent_added",
            agent_id=agent.id,
            email=email,
            tier=new.tier,
            admin=new.admin,
            invited=password_hash is None,
        )
        return agent

    try:
        agent = await write(app, work)
    except IntegrityError:
        raise Conflict(f"an agent with the email {email!r} exists") from None
    invitation = (
        None
        if password_hash is not None
        else invitation_token(app, agent.id, agent.invitation_generation)
    )
    return AddedAgent(agent, invitation)


async def update_agent(app: AppContext, actor: Actor, agent_id: int, change: AgentChange) -> Agent:
    """Change an agent's tier, capacity, admin flag or activity.

    Deactivating ends their sessions and tokens and returns their open threads to the
    queue, in one transaction under the agent's row lock (so no claim or assignment to
    them can commit in between). Admins cannot deactivate or demote themselves: a team
    must not lock out its last admin by a slip.
    """
    _require_admin(actor)
    if change.tier is not None and not 1 <= change.tier <= queue.MAX_TIER:
        raise Invalid(f"tier must be 1 to {queue.MAX_TIER}")
    if change.max_concurrent is not None and not 1 <= change.max_concurrent <= MAX_CAPACITY:
        raise Invalid(f"max_concurrent must be 1 to {MAX_CAPACITY}")
    if agent_id == actor.agent_id and (change.active is False or change.admin is False):
        raise Conflict("you cannot deactivate yourself or take away your own admin flag")

    async def work(session: AsyncSession, effects: Effects) -> Agent:
        # The actor's row too, in id order: their admin flag was read with their
        # credential, before this transaction; two admins demoting each other at once
        # must not both act as admins (the team would be left with none).
        locked = await session.scalars(
            select(Agent)
            .where(Agent.id.in_({agent_id, actor.agent_id}))
            .order_by(Agent.id)
            .with_for_update()
        )
        agents = {row.id: row for row in locked}
        acting = agents.get(actor.agent_id)
        if acting is None or not acting.is_admin or acting.deactivated_at is not None:
            raise Forbidden("only admins manage agents")
        if agent_id not in agents:
            raise NotFound(f"agent {agent_id} does not exist")
        agent = agents[agent_id]
        changed: dict[str, object] = {}
        if change.tier is not None and change.tier != agent.tier:
            changed["tier"] = [agent.tier, change.tier]
            agent.tier = change.tier
        if change.max_concurrent is not None and change.max_concurrent != agent.max_concurrent:
            changed["max_concurrent"] = [agent.max_concurrent, change.max_concurrent]
            agent.max_concurrent = change.max_concurrent
        if change.admin is not None and change.admin != agent.is_admin:
            changed["admin"] = [agent.is_admin, change.admin]
            agent.is_admin = change.admin
        if change.active is True and agent.deactivated_at is not None:
            changed["active"] = [False, True]
            agent.deactivated_at = None
        if change.active is False and agent.deactivated_at is None:
            changed["active"] = [True, False]
            changed["requeued"] = await _deactivate(session, effects, actor, agent)
        if changed:
            _audit(session, actor, "agent_changed", agent_id=agent.id, **changed)
        return agent

    return await write(app, work)


async def _deactivate(
    session: AsyncSession, effects: Effects, actor: Actor, agent: Agent
) -> list[int]:
    now = utcnow()
    agent.deactivated_at = now
    # An invitation still open ends here for good: reactivating does not bring it back
    # (whoever held the link would choose the password); an admin re-issues one.
    agent.invitation_generation += 1
    if agent.presence != "offline":
        agent.presence = "offline"
        agent.presence_changed_at = now
        effects.events.append(AgentPresence(agent.id, "offline"))
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.agent_id == agent.id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    await session.execute(
        update(ApiToken)
        .where(ApiToken.agent_id == agent.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return await queue.requeue_agent_threads(
        session, effects, agent.id, actor=actor, reason="agent deactivated"
    )


# --- invitations --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Invitation:
    """What a valid invitation link names: the agent and the generation it was signed for."""

    agent_id: int
    generation: int


def invitation_token(
    app: AppContext, agent_id: int, generation: int = 0, *, now: datetime | None = None
) -> str:
    """A signed `<agent id>.<generation>.<expiry>` for the invitation link."""
    expires = int(((now or utcnow()) + INVITATION_LIFETIME).timestamp())
    signer = PayloadSigner(app.settings.server.secret_key, INVITATION_PURPOSE)
    return signer.sign(f"{agent_id}.{generation}.{expires}")


def read_invitation(
    app: AppContext, token: str, *, now: datetime | None = None
) -> Invitation | None:
    """The agent and generation an unexpired invitation names; None for a forged or
    expired one. A link signed before generations existed (`<id>.<expiry>`) is of
    generation 0, every agent's first."""
    signer = PayloadSigner(app.settings.server.secret_key, INVITATION_PURPOSE)
    payload = signer.unsign(token)
    if payload is None:
        return None
    parts = payload.split(".")
    if len(parts) == 2:
        parts.insert(1, "0")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    agent, generation, expires = (int(part) for part in parts)
    if expires < (now or utcnow()).timestamp():
        return None
    return Invitation(agent, generation)


async def accept_invitation(app: AppContext, token: str, password: str) -> Agent:
    """Set the invited agent's first password; the invitation is spent by it.

    Raises:
        NotFound: a forged, expired, withdrawn or superseded invitation.
        Invalid: a too short password.
        Conflict: already used (the agent has a password) or the agent was deactivated.
    """
    invitation = read_invitation(app, token)
    if invitation is None:
        raise NotFound("this invitation is not valid or has expired")
    check_password(password)
    password_hash = await PASSWORDS.hash(password)
    agent_id = invitation.agent_id

    async def work(session: AsyncSession, _: Effects) -> Agent:
        result = await session.execute(
            update(Agent)
            .where(
                Agent.id == agent_id,
                Agent.password_hash.is_(None),
                Agent.deactivated_at.is_(None),
                Agent.invitation_generation == invitation.generation,
            )
            # Spent: even were the password ever cleared, this link stays ended.
            .values(
                password_hash=password_hash,
                invitation_generation=Agent.invitation_generation + 1,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) != 1:
            agent = await session.get(Agent, agent_id)
            if agent is None:
                raise NotFound("this invitation is not valid or has expired")
            if agent.password_hash is None and agent.deactivated_at is None:
                raise NotFound("this invitation was withdrawn; ask an admin for a new one")
            raise Conflict("this invitation has been used already")
        agent = await session.get_one(Agent, agent_id)
        await session.refresh(agent)
        session.add(
            AuditEvent(
                actor_kind="agent",
                actor_id=agent_id,
                action="invitation_accepted",
                details={"agent_id": agent_id},
            )
        )
        return agent

    return await write(app, work)


async def reissue_invitation(app: AppContext, actor: Actor, agent_id: int) -> str:
    """End the agent's invitation link and return a new one (the token).

    Raises:
        Forbidden: not an admin. NotFound: no such agent.
        Conflict: the agent has a password already, or is deactivated.
    """
    generation = await _next_invitation(app, actor, agent_id, reissue=True)
    return invitation_token(app, agent_id, generation)


async def withdraw_invitation(app: AppContext, actor: Actor, agent_id: int) -> None:
    """End the agent's invitation link, giving no new one.

    Raises:
        Forbidden: not an admin. NotFound: no such agent.
        Conflict: the agent has a password already (there is no invitation to end).
    """
    await _next_invitation(app, actor, agent_id, reissue=False)


async def _next_invitation(app: AppContext, actor: Actor, agent_id: int, *, reissue: bool) -> int:
    """Move the agent's invitation generation on (ending every link signed before it);
    return the new one."""
    _require_admin(actor)

    async def work(session: AsyncSession, _: Effects) -> int:
        # Under the row lock: a concurrent acceptance either committed first (the
        # password is set: refused here) or waits and finds its generation gone.
        agent = await session.scalar(select(Agent).where(Agent.id == agent_id).with_for_update())
        if agent is None:
            raise NotFound(f"agent {agent_id} does not exist")
        if agent.password_hash is not None:
            raise Conflict("this agent has a password already: there is no invitation")
        if reissue and agent.deactivated_at is not None:
            raise Conflict("this agent is deactivated: reactivate them first")
        agent.invitation_generation += 1
        _audit(
            session,
            actor,
            "invitation_reissued" if reissue else "invitation_withdrawn",
            agent_id=agent.id,
        )
        return agent.invitation_generation

    return await write(app, work)


# --- dead letters -------------------------------------------------------------------


async def retry_dead_letter(app: AppContext, actor: Actor, outbox_id: int) -> OutboxItem:
    """Put a dead outbox row back in line for delivery, with its attempts reset.

    One conditional UPDATE: two admins retrying at once requeue it once (the other gets
    Conflict), and a row that is not dead is never touched.
    """
    if not actor.is_admin:
        raise Forbidden("only admins retry deliveries")
    now = utcnow()

    async def work(session: AsyncSession, effects: Effects) -> OutboxItem:
        result = await session.execute(
            update(OutboxItem)
            .where(OutboxItem.id == outbox_id, OutboxItem.status == OutboxStatus.DEAD)
            .values(
                status=OutboxStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                leased_until=None,
                leased_by=None,
            )
            .execution_options(synchronize_session=False)
        )
        row = await session.get(OutboxItem, outbox_id)
        if row is None:
            raise NotFound(f"outbox row {outbox_id} does not exist")
        if getattr(result, "rowcount", 0) != 1:
            raise Conflict(f"outbox row {outbox_id} is {row.status}, not dead")
        await session.refresh(row)
        session.add(
            AuditEvent(
                actor_kind="agent",
                actor_id=actor.agent_id,
                action="outbox_retry",
                thread_id=row.thread_id,
                details={"outbox_id": outbox_id, "last_error": row.last_error},
            )
        )
        effects.outbound = True
        return row

    return await write(app, work)


async def outbox_counts(session: AsyncSession) -> dict[str, int]:
    """Rows per outbox status (pending, delivered, dead)."""
    rows = await session.execute(
        select(OutboxItem.status, func.count()).group_by(OutboxItem.status)
    )
    counts = {status.value: 0 for status in OutboxStatus}
    counts.update({str(status): int(count) for status, count in rows})
    return counts


async def dead_letters(session: AsyncSession, limit: int = 100) -> list[OutboxItem]:
    """The newest dead outbox rows."""
    return list(
        await session.scalars(
            select(OutboxItem)
            .where(OutboxItem.status == OutboxStatus.DEAD)
            .order_by(OutboxItem.id.desc())
            .limit(limit)
        )
    )
