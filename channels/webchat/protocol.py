"""The web chat's JSON frames: parsing what a browser sends, rendering what it gets.

Pure functions and frozen dataclasses only; `docs/webchat-protocol.md` is the
reference for every frame and error code here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from router.core.messages import (
    AttachmentRef,
    AuthorKind,
    ConversationMessage,
    is_raw_mail_copy,
)
from router.core.storable_text import UNSTORABLE
from router.http.errors import InvalidJson, parse_json

MAX_ATTACHMENTS = 5
# Client ids are the dedupe key; UUIDs fit easily, anything printable up to 64 is taken.
_CLIENT_ID = re.compile(r"[A-Za-z0-9_\-:.]{1,64}")


class ProtocolError(ValueError):
    """A frame the server refuses; becomes one `error` frame, the socket stays open."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        client_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.client_id = client_id
        self.retry_after = retry_after

    def frame(self) -> dict[str, Any]:
        """The `error` frame telling the client what was wrong."""
        return error_frame(
            self.code, self.message, client_id=self.client_id, retry_after=self.retry_after
        )


@dataclass(frozen=True, slots=True)
class SendMessage:
    """Client → server: a message the visitor wrote (or a suggestion they tapped)."""

    client_id: str
    text: str
    attachments: tuple[str, ...] = ()  # upload tokens from POST /api/v1/webchat/uploads


@dataclass(frozen=True, slots=True)
class StartTyping:
    """Client → server: the visitor is typing."""


@dataclass(frozen=True, slots=True)
class Ping:
    """Client → server: keep-alive; answered with `pong`."""


ClientFrame = SendMessage | StartTyping | Ping


def parse_client_frame(raw: str, *, max_frame_bytes: int, max_text_length: int) -> ClientFrame:
    """Turn one text frame into a typed client frame.

    Raises:
        ProtocolError: too large, not JSON, not an object, unknown type, bad fields.
    """
    if len(raw.encode("utf-8", "surrogatepass")) > max_frame_bytes:
        raise ProtocolError("frame_too_large", f"frames are limited to {max_frame_bytes} bytes")
    try:
        data = parse_json(raw)
    except InvalidJson:
        raise ProtocolError("invalid_json", "the frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("invalid_frame", "a frame must be a JSON object")
    kind = data.get("type")
    if kind == "message":
        return _parse_message(data, max_text_length)
    if kind == "typing":
        return StartTyping()
    if kind == "ping":
        return Ping()
    shown = kind if isinstance(kind, str) and len(kind) <= 40 else "?"
    raise ProtocolError("unknown_type", f"unknown frame type {shown!r}")


def _parse_message(data: dict[str, Any], max_text_length: int) -> SendMessage:
    client_id = data.get("client_id")
    if not isinstance(client_id, str) or not _CLIENT_ID.fullmatch(client_id):
        raise ProtocolError(
            "invalid_frame", "client_id must be 1-64 characters of A-Z a-z 0-9 _ - : ."
        )
    text = data.get("text", "")
    if not isinstance(text, str):
        raise ProtocolError("invalid_frame", "text must be a string", client_id=client_id)
    text = text.strip()
    if UNSTORABLE.search(text):  # a JSON escape can smuggle one into valid UTF-8
        raise ProtocolError(
            "invalid_text",
            "text holds a NUL character or a lone UTF-16 surrogate",
            client_id=client_id,
        )
    if len(text) > max_text_length:
        raise ProtocolError(
            "message_too_long",
            f"messages are limited to {max_text_length} characters",
            client_id=client_id,
        )
    raw_attachments = data.get("attachments", [])
    if not isinstance(raw_attachments, list) or not all(
        isinstance(item, str) for item in raw_attachments
    ):
        raise ProtocolError(
            "invalid_frame", "attachments must be a list of upload tokens", client_id=client_id
        )
    if len(raw_attachments) > MAX_ATTACHMENTS:
        raise ProtocolError(
            "too_many_attachments",
            f"at most {MAX_ATTACHMENTS} attachments per message",
            client_id=client_id,
        )
    if not text and not raw_attachments:
        raise ProtocolError("empty_message", "the message is empty", client_id=client_id)
    return SendMessage(client_id=client_id, text=text, attachments=tuple(raw_attachments))


def error_frame(
    code: str,
    message: str,
    *,
    client_id: str | None = None,
    retry_after: float | None = None,
) -> dict[str, Any]:
    """An `error` frame; `client_id` names the refused message when there is one."""
    frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if client_id is not None:
        frame["client_id"] = client_id
    if retry_after is not None:
        frame["retry_after"] = round(retry_after, 1)
    return frame


def ack_frame(client_id: str, message_id: int) -> dict[str, Any]:
    """The `ack` frame sent once the visitor's message is committed."""
    return {"type": "ack", "client_id": client_id, "message_id": str(message_id)}


FileLink = Callable[[AttachmentRef], str]


def message_payload(message: ConversationMessage, file_link: FileLink) -> dict[str, Any]:
    """One message as the widget shows it (system messages are shown as the bot's)."""
    author = message.author.value
    if message.author == AuthorKind.SYSTEM:
        author = AuthorKind.BOT.value
    payload: dict[str, Any] = {
        "id": str(message.id),
        "author": author,
        "author_name": message.author_name,
        "text": message.text,
        "created_at": message.created_at.isoformat(),
        "suggestions": list(message.suggestions),
        "attachments": [
            {
                "filename": ref.filename,
                "content_type": ref.content_type,
                "size": ref.size,
                "url": file_link(ref),
            }
            for ref in message.attachments
            # A mail's raw copy is for agents; shown here it would read as a file the
            # customer sent ("message.eml") under each of their emailed messages.
            if not is_raw_mail_copy(ref)
        ],
    }
    if message.survey is not None:
        # The widget renders the scale and answers at POST /api/v1/surveys/{token}.
        survey = message.survey
        payload["survey"] = {"token": survey.token, "kind": survey.kind, "scale": survey.scale}
    return payload


def message_frame(message: ConversationMessage, file_link: FileLink) -> dict[str, Any]:
    """The `message` frame: one message of the visitor's conversation."""
    return {"type": "message", "message": message_payload(message, file_link)}


def history_frame(messages: list[ConversationMessage], file_link: FileLink) -> dict[str, Any]:
    """The `history` frame sent on connect: recent or missed messages, oldest first."""
    return {"type": "history", "messages": [message_payload(m, file_link) for m in messages]}


def typing_frame(who: str, name: str | None) -> dict[str, Any]:
    """The `typing` frame: an agent is typing now (show it for a few seconds)."""
    return {"type": "typing", "who": who, "name": name}
