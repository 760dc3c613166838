"""Canned responses: short texts per language that agents insert into a reply.

`{customer_name}` and `{agent_name}` are filled in for the thread at hand; any other
braces are left as written (a price like "{10%}" must not break rendering).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from router.agents.queue import Actor, Conflict, Forbidden, Invalid, NotFound
from router.agents.views import keyset_page
from router.context import AppContext
from router.core.languages import LANGUAGES
from router.core.messages import utcnow
from router.core.texts import ROUTER_TEXTS, TextCatalogue
from router.core.transaction import Effects, write
from router.storage.column_sizes import column_limit
from router.storage.models import AuditEvent, Base, BigId


class CannedResponse(Base):
    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("language", "title", name="uq_canned_language_title"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    language: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True, slots=True)
class CannedView:
    """A canned response, with its text rendered for one thread when asked."""

    id: int
    language: str
    title: str
    text: str
    rendered: str | None = None


def render(
    text: str,
    *,
    customer_name: str | None,
    agent_name: str,
    language: str,
    texts: TextCatalogue = ROUTER_TEXTS,
) -> str:
    """Fill in the two placeholders; everything else stays as written."""
    customer = customer_name or texts.template("unnamed_customer", language)
    return text.replace("{customer_name}", customer).replace("{agent_name}", agent_name)


CANNED_ORDER = ((CannedResponse.language, False), (CannedResponse.title, False))


async def list_canned(
    session: AsyncSession,
    *,
    limit: int,
    cursor: str | None = None,
    language: str | None = None,
    customer_name: str | None = None,
    agent_name: str | None = None,
    texts: TextCatalogue = ROUTER_TEXTS,
) -> tuple[list[CannedView], str | None]:
    """One page of the canned responses (of one language if given) by language and title
    (unique together), rendered when an agent is given, and the next page's cursor."""
    query = select(CannedResponse)
    if language is not None:
        query = query.where(CannedResponse.language == language)
    rows, next_cursor = await keyset_page(
        session,
        query,
        kind=f"canned:{language or ''}",
        keys=CANNED_ORDER,
        key_values=lambda row: (row.language, row.title),
        limit=limit,
        cursor=cursor,
    )
    views = [
        CannedView(
            row.id,
            row.language,
            row.title,
            row.text,
            render(
                row.text,
                customer_name=customer_name,
                agent_name=agent_name,
                language=row.language,
                texts=texts,
            )
            if agent_name is not None
            else None,
        )
        for row in rows
    ]
    return views, next_cursor


def _check(language: str, title: str, text: str) -> None:
    if language not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}")
    if not title.strip() or len(title) > column_limit(CannedResponse.title):
        raise Invalid(f"title must be 1 to {column_limit(CannedResponse.title)} characters")
    if not text.strip() or len(text) > 10_000:
        raise Invalid("text must be 1 to 10000 characters")


async def add_canned(
    app: AppContext, actor: Actor, *, language: str, title: str, text: str
) -> CannedView:
    """Add a canned response (admins only).

    Raises:
        Forbidden: not an admin. Invalid: bad fields. Conflict: the title exists.
    """
    if not actor.is_admin:
        raise Forbidden("only admins can add canned responses")
    _check(language, title, text)

    async def work(session: AsyncSession, _: Effects) -> CannedResponse:
        row = CannedResponse(
            language=language, title=title.strip(), text=text, created_by_id=actor.agent_id
        )
        session.add(row)
        await session.flush()
        session.add(
            AuditEvent(
                actor_kind="agent",
                actor_id=actor.agent_id,
                action="canned_add",
                details={"canned_id": row.id, "language": language, "title": row.title},
            )
        )
        return row

    try:
        row = await write(app, work)
    except IntegrityError:
        raise Conflict(f"a {language} canned response titled {title!r} exists") from None
    return CannedView(row.id, row.language, row.title, row.text)


async def delete_canned(app: AppContext, actor: Actor, canned_id: int) -> None:
    """Remove a canned response (admins only)."""
    if not actor.is_admin:
        raise Forbidden("only admins can delete canned responses")

    async def work(session: AsyncSession, _: Effects) -> None:
        row = await session.get(CannedResponse, canned_id)
        if row is None:
            raise NotFound(f"canned response {canned_id} does not exist")
        await session.delete(row)
        session.add(
            AuditEvent(
                actor_kind="agent",
                actor_id=actor.agent_id,
                action="canned_delete",
                details={"canned_id": canned_id, "title": row.title},
            )
        )

    await write(app, work)
