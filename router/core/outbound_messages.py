"""Writing an outbound message and its outbox row, inside the caller's transaction."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from router.core.messages import AttachmentRef, AuthorKind, Direction, SurveyOffer, utcnow
from router.storage.core_rows import Referrer, inserted_with_reads
from router.storage.models import Identity, Message, OutboxItem, Thread


async def enqueue_outbound(
    session: AsyncSession,
    *,
    thread: Thread,
    identity: Identity | None,
    text: str,
    author: AuthorKind,
    author_name: str | None = None,
    agent_id: int | None = None,
    suggestions: tuple[str, ...] = (),
    attachments: tuple[AttachmentRef, ...] = (),
    language: str | None = None,
    internal: bool = False,
    survey: SurveyOffer | None = None,
    link_question_id: int | None = None,
    idempotency_key: str | None = None,
    request_digest: str | None = None,
) -> Message:
    """Store an outbound message in `thread`; unless internal, queue it to `identity`.

    The outbox row is written in the same transaction as the message, so a decision to
    send can never be committed without the send being queued. `idempotency_key` and
    `request_digest` are written with the message (`router.core.idempotency`): a
    concurrent request with the same key fails here, on the unique index, before
    anything is queued.
    """
    now = utcnow()
    thread.updated_at = now
    referrer = None
    if not internal and identity is not None:
        # The outbox row is never read back here: a Core row, not an ORM object.
        referrer = Referrer(
            OutboxItem,
            "message_id",
            {
                "thread_id": thread.id,
                "identity_id": identity.id,
                "channel": identity.channel,
                "address": identity.address,
                "next_attempt_at": now,
                "created_at": now,
            },
        )
    # On PostgreSQL the message, its outbox row and the thread's pending changes (this
    # one too) are one statement; elsewhere the thread's go out in one UPDATE, at commit
    # or at the next flush.
    message, _ = await inserted_with_reads(
        session,
        thread,
        (),
        Message,
        referrer=referrer,
        thread_id=thread.id,
        customer_id=thread.customer_id,
        direction=Direction.OUTBOUND,
        author_kind=author,
        agent_id=agent_id,
        author_name=author_name,
        channel=identity.channel if identity is not None else (thread.last_channel or "none"),
        identity_id=identity.id if identity is not None else None,
        text=text,
        internal=internal,
        automated=author in (AuthorKind.BOT, AuthorKind.SYSTEM),
        language=language,
        suggestions=list(suggestions),
        attachments=[_ref_to_json(ref) for ref in attachments],
        survey=survey_to_json(survey) if survey is not None else None,
        link_question_id=link_question_id,
        created_at=now,
        idempotency_key=idempotency_key,
        request_digest=request_digest,
    )
    return message


def _ref_to_json(ref: AttachmentRef) -> dict[str, object]:
    return {
        "sha256": ref.sha256,
        "filename": ref.filename,
        "content_type": ref.content_type,
        "size": ref.size,
    }


def ref_from_json(data: dict[str, object]) -> AttachmentRef:
    """The inverse of the JSON stored in `Message.attachments`."""
    return AttachmentRef(
        sha256=str(data["sha256"]),
        filename=str(data["filename"]),
        content_type=str(data["content_type"]),
        size=int(str(data["size"])),
    )


def attachments_to_json(refs: tuple[AttachmentRef, ...]) -> list[dict[str, object]]:
    """JSON for `Message.attachments`."""
    return [_ref_to_json(ref) for ref in refs]


def survey_to_json(survey: SurveyOffer) -> dict[str, object]:
    """JSON for `Message.survey`."""
    return {"token": survey.token, "kind": survey.kind, "scale": survey.scale, "url": survey.url}


def survey_from_json(data: dict[str, object] | None) -> SurveyOffer | None:
    """The inverse of `survey_to_json` (None for a message that asks no survey)."""
    if not data:
        return None
    return SurveyOffer(
        token=str(data["token"]),
        kind=str(data["kind"]),
        scale=int(str(data["scale"])),
        url=str(data.get("url") or ""),
    )
