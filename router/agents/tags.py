"""Tags: short labels admins define (list, add, rename, remove), audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from router.agents.queue import Actor, Conflict, Forbidden, Invalid, NotFound
from router.context import AppContext
from router.core.messages import utcnow
from router.core.transaction import Effects, write
from router.storage.column_sizes import column_limit
from router.storage.models import AuditEvent, Base, BigId


class Tag(Base):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("name", name="uq_tags_name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True, slots=True)
class TagView:
    id: int
    name: str
    created_at: datetime


def _view(row: Tag) -> TagView:
    return TagView(row.id, row.name, row.created_at)


def _clean(actor: Actor, name: str) -> str:
    if not actor.is_admin:
        raise Forbidden("only admins manage tags")
    cleaned = " ".join(name.split())
    if not cleaned or len(cleaned) > column_limit(Tag.name):
        raise Invalid(f"a tag name has 1 to {column_limit(Tag.name)} characters")
    return cleaned


def _audit(session: AsyncSession, actor: Actor, action: str, **details: object) -> None:
    session.add(
        AuditEvent(actor_kind="agent", actor_id=actor.agent_id, action=action, details=details)
    )


async def list_tags(session: AsyncSession) -> list[TagView]:
    return [_view(row) for row in await session.scalars(select(Tag).order_by(Tag.name))]


async def add_tag(app: AppContext, actor: Actor, name: str) -> TagView:
    cleaned = _clean(actor, name)

    async def work(session: AsyncSession, _: Effects) -> TagView:
        row = Tag(name=cleaned)
        session.add(row)
        await session.flush()
        _audit(session, actor, "tag_add", tag_id=row.id, name=cleaned)
        return _view(row)

    try:
        return await write(app, work)
    except IntegrityError:
        raise Conflict(f"a tag named {cleaned!r} exists") from None


async def rename_tag(app: AppContext, actor: Actor, tag_id: int, name: str) -> TagView:
    cleaned = _clean(actor, name)

    async def work(session: AsyncSession, _: Effects) -> TagView:
        row = await session.get(Tag, tag_id)
        if row is None:
            raise NotFound(f"tag {tag_id} does not exist")
        _audit(session, actor, "tag_rename", tag_id=tag_id, before=row.name, after=cleaned)
        row.name = cleaned
        await session.flush()
        return _view(row)

    try:
        return await write(app, work)
    except IntegrityError:
        raise Conflict(f"a tag named {cleaned!r} exists") from None


async def delete_tag(app: AppContext, actor: Actor, tag_id: int) -> None:
    if not actor.is_admin:
        raise Forbidden("only admins manage tags")

    async def work(session: AsyncSession, _: Effects) -> None:
        row = await session.get(Tag, tag_id)
        if row is None:
            raise NotFound(f"tag {tag_id} does not exist")
        _audit(session, actor, "tag_delete", tag_id=tag_id, name=row.name)
        await session.delete(row)

    await write(app, work)
