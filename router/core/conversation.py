"""`ConversationReader` for channels: a customer's own messages, never internal notes,
and never a message whose sender the channel could not authenticate (a forged email
From must not appear as the customer's own words in their chat)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from router.core.messages import AuthorKind, ConversationLocation, ConversationMessage
from router.core.outbound_messages import ref_from_json, survey_from_json
from router.core.threads import latest_thread_of, open_thread_of
from router.storage.models import Identity, Message


def to_conversation_message(message: Any) -> ConversationMessage:
    """The channel-facing view of a stored message: a `Message`, or a row of
    `_CONVERSATION_COLUMNS` (the same names)."""
    return ConversationMessage(
        id=message.id,
        thread_id=message.thread_id,
        author=AuthorKind(message.author_kind),
        text=message.text,
        channel=message.channel,
        created_at=message.created_at,
        author_name=message.author_name,
        suggestions=tuple(message.suggestions or ()),
        attachments=tuple(ref_from_json(a) for a in message.attachments or ()),
        survey=survey_from_json(message.survey),
    )


def shown_to_customer(message: Message) -> ConversationMessage | None:
    """What the reader would find of `message`, just written, for its customer: the
    writer's copy, so the process that wrote it need not read it back. The same rule as
    the reader's statements (`_SHOWN`, beside which it is kept)."""
    if message.internal or message.sender_authenticated is False:
        return None
    return to_conversation_message(message)


class DatabaseConversationReader:
    """Reads through its own short sessions; safe to share across tasks."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def locate(self, channel: str, address: str) -> ConversationLocation | None:
        async with self._sessions() as session:
            identity = await _identity(session, channel, address)
            if identity is None:
                return None
            thread = await open_thread_of(session, identity.customer_id)
            if thread is None:
                thread = await latest_thread_of(session, identity.customer_id)
            return ConversationLocation(
                customer_id=identity.customer_id,
                thread_id=thread.id if thread is not None else None,
                identity_id=identity.id,
            )

    async def history(
        self, channel: str, address: str, *, after_id: int | None = None, limit: int = 50
    ) -> list[ConversationMessage]:
        address_of = {"channel": channel, "address": address, "limit": limit}
        if after_id is not None:
            return await self._read(_HISTORY_AFTER, {**address_of, "after_id": after_id})
        return list(reversed(await self._read(_HISTORY_NEWEST, address_of)))

    async def message(self, message_id: int) -> ConversationMessage | None:
        found = await self.messages_by_id([message_id])
        return found[0] if found else None

    async def messages_by_id(self, message_ids: Sequence[int]) -> list[ConversationMessage]:
        return await self._read(_SHOWN_MESSAGES, {"message_ids": list(message_ids)})

    async def _read(
        self, statement: Select[Any], parameters: dict[str, Any]
    ) -> list[ConversationMessage]:
        """The messages one prebuilt column select finds (rows, not ORM objects); read
        sessions take no transaction on PostgreSQL (`new_read_sessionmaker`)."""
        async with self._sessions() as session:
            rows = await (await session.connection()).execute(statement, parameters)
            return [to_conversation_message(row) for row in rows]


# What a customer is shown: no internal note, and no message whose sender the channel
# could not authenticate (NULL: the channel makes no such claim, as web chat and
# Telegram; False: unauthenticated). `shown_to_customer` applies it to a written row.
_SHOWN = (
    Message.internal.is_(False),
    or_(Message.sender_authenticated.is_(None), Message.sender_authenticated.is_(True)),
)


_CONVERSATION_COLUMNS = (
    Message.id,
    Message.thread_id,
    Message.author_kind,
    Message.text,
    Message.channel,
    Message.created_at,
    Message.author_name,
    Message.suggestions,
    Message.attachments,
    Message.survey,
)
# Messages as their customer sees them, unless they are not theirs to see; built once,
# as the web chat reads back what was stored meanwhile (a wave, or one).
_SHOWN_MESSAGES = (
    select(*_CONVERSATION_COLUMNS)
    .where(Message.id.in_(bindparam("message_ids", expanding=True)), *_SHOWN)
    .order_by(Message.id)
)


# A customer's messages as they see them, by the identity they use (none for an
# unknown identity: the subquery is NULL), newest first or after an id.
_CUSTOMER_OF_IDENTITY = (
    select(Identity.customer_id)
    .where(Identity.channel == bindparam("channel"), Identity.address == bindparam("address"))
    .scalar_subquery()
)
_HISTORY = select(*_CONVERSATION_COLUMNS).where(
    Message.customer_id == _CUSTOMER_OF_IDENTITY, *_SHOWN
)
_HISTORY_NEWEST = _HISTORY.order_by(Message.id.desc()).limit(bindparam("limit"))
_HISTORY_AFTER = (
    _HISTORY.where(Message.id > bindparam("after_id"))
    .order_by(Message.id)
    .limit(bindparam("limit"))
)


_IDENTITY = select(Identity).where(
    Identity.channel == bindparam("channel"), Identity.address == bindparam("address")
)


async def _identity(session: AsyncSession, channel: str, address: str) -> Identity | None:
    return await session.scalar(_IDENTITY, {"channel": channel, "address": address})
