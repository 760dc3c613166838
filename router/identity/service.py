"""`IdentityProofService`: the identity proofs channels ask for through their services.

Each call is one write transaction around the proof functions of `links`: the
claimant's identity is ensured, the proof step runs, and a refusal is committed too
(a wrong code must count). Results are the plain frozen dataclasses of the port, so
a channel never sees a row, a session or an exception of the router.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.core.proofs import (
    ChatLinks,
    Claimant,
    CodeSent,
    ContinuePreview,
    LinkTap,
    ProofOptions,
    ProofRefusal,
    StartLink,
)
from router.core.transaction import Effects, write
from router.identity import links
from router.identity.links import LinkOutcome, ProofRefused
from router.storage.models import Identity

logger = logging.getLogger(__name__)

T = TypeVar("T")
Outcome = LinkOutcome | None
Step = Callable[[AsyncSession, Identity], Awaitable[tuple[T, LinkOutcome | None]]]


class IdentityProofService:
    """The router's side of `IdentityProofs`.

    Args:
        app: the app context (database, settings, running channels).
        chat_links: the chat app's deep links the widget offers; the composition root
            wires the channel that makes them.
    """

    def __init__(self, app: AppContext, chat_links: ChatLinks) -> None:
        self._app = app
        self._chat_links = chat_links

    def options(self) -> ProofOptions:
        return ProofOptions(
            email=links.mail_can_be_sent(self._app),
            # Whether a link can be made now (the chat app is reachable), payload aside.
            chat_link=self._chat_links.deep_link("") is not None,
        )

    async def _run(self, claimant: Claimant, step: Step[T]) -> T | ProofRefusal:
        """Ensure the claimant's identity and run `step` in one write transaction."""
        refused: ProofRefusal | None = None

        async def work(session: AsyncSession, effects: Effects) -> T | ProofRefusal:
            nonlocal refused
            refused = None
            identity = await links.ensure_identity(
                session,
                claimant.channel,
                claimant.address,
                name=claimant.name,
                verified=claimant.verified,
            )
            try:
                result, outcome = await step(session, identity)
            except ProofRefused as exc:
                # Commit anyway: a wrong code must count even though it was refused.
                refused = ProofRefusal(exc.code, str(exc), exc.remaining)
                return refused
            if outcome is not None:
                effects.events.extend(outcome.events)
                effects.outbound = outcome.outbound > 0
            return result

        answer = await write(self._app, work)
        if refused is not None:
            logger.info("identity proof refused for %s: %s", claimant.address[:16], refused.code)
        return answer

    async def request_email_code(
        self, claimant: Claimant, email: str, *, language: str | None
    ) -> CodeSent | ProofRefusal:
        async def step(session: AsyncSession, identity: Identity) -> tuple[CodeSent, LinkOutcome]:
            _, outcome = await links.request_email_code(
                self._app, session, identity, email, language=language
            )
            sent = CodeSent(
                expires_in=int(links.CODE_TTL.total_seconds()), attempts=links.CODE_ATTEMPTS
            )
            return sent, outcome

        return await self._run(claimant, step)

    async def verify_email_code(self, claimant: Claimant, code: str) -> ProofRefusal | None:
        async def step(session: AsyncSession, identity: Identity) -> tuple[None, LinkOutcome]:
            return None, await links.verify_email_code(self._app, session, identity, code)

        return await self._run(claimant, step)

    async def continue_from_mail(self, claimant: Claimant, token: str) -> ProofRefusal | None:
        async def step(session: AsyncSession, identity: Identity) -> tuple[None, LinkOutcome]:
            return None, await links.consume_continue_token(self._app, session, identity, token)

        return await self._run(claimant, step)

    async def chat_link(self, claimant: Claimant) -> StartLink | None:
        async def step(session: AsyncSession, identity: Identity) -> tuple[StartLink | None, None]:
            token = links.chat_link_token(self._app, identity)
            url = self._chat_links.deep_link(token)
            if url is None:  # no chat app reachable: the token was only signed, never stored
                return None, None
            link = StartLink(
                url=url,
                start=token,
                expires_in=int(links.CHAT_LINK_TTL.total_seconds()),
            )
            return link, None

        answer = await self._run(claimant, step)
        return None if isinstance(answer, ProofRefusal) else answer

    async def link_site_user(self, claimant: Claimant, user: Claimant, user_id: str) -> str | None:
        async def step(session: AsyncSession, identity: Identity) -> tuple[str | None, Outcome]:
            name = identity.display_name
            user_identity = await links.ensure_identity(
                session, user.channel, user.address, name=name, verified=True
            )
            if identity.id == user_identity.id:
                return name, None
            return name, await links.link_site_user(
                self._app, session, identity, user_identity, user_id
            )

        answer = await self._run(claimant, step)
        return None if isinstance(answer, ProofRefusal) else answer

    async def preview_continue(self, token: str) -> ContinuePreview:
        try:
            async with self._app.read_sessions() as session:
                peek = await links.peek_continue_token(self._app, session, token)
        except ProofRefused as refused:
            logger.info("continue page: %s", refused)
            return ContinuePreview(address=None)
        return ContinuePreview(address=peek.address, spent=peek.spent)

    async def link_tap(
        self, claimant: Claimant, asked: str, question_id: int | None = None
    ) -> LinkTap:
        if question_id is None and not links.asks_to_link(asked, self._app.texts):
            return LinkTap.OTHER  # most taps: no transaction for them

        async def work(session: AsyncSession, effects: Effects) -> LinkTap:
            # Looked up, not ensured: a tap makes no identity of its own.
            chat = await links.get_identity(session, claimant.channel, claimant.address)
            return await links.tap_on_link_question(session, chat, question_id)

        return await write(self._app, work)
