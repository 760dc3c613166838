"""The agent JSON API under `/api/v1`: the queue, threads, replies, customers, presence.

Every handler gets its caller from `agent_principal` (bearer token; the console's
session is accepted there too). Errors are `{"error": {"status", "message"}}`:
401 no valid credentials, 403 not allowed (another tier, admin-only), 404 no such
thing, 409 the thread's state forbids it now (taken, resolved, at capacity), 422 a
well-formed body with impossible values, 400 a body that is not a JSON object.
The shapes are documented in `router/http/openapi.py`, served at `/api/v1/openapi.json`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps
from typing import Any

from aiohttp import BodyPartReader, web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.agents import canned, customers, queue, replies
from router.agents import views as agent_views
from router.agents.queue import Actor, Conflict, Forbidden, Invalid, NotFound, QueueError
from router.agents.uploads import UploadIds
from router.agents.views import ThreadFilter
from router.core.idempotency import PROBLEM as KEY_PROBLEM
from router.core.idempotency import REPLAYED, parse_key
from router.core.ids import BIGINT_MAX, parse_id
from router.core.languages import LANGUAGES
from router.core.messages import AttachmentRef, AuthorKind
from router.core.responder import suggestions_of
from router.core.seen import channels_keeping_marks
from router.core.transaction import Effects, write
from router.core.uploads import MULTIPART_ERRORS, UploadRefused, store_upload
from router.http.auth import agent_principal
from router.http.errors import json_error, read_json_object
from router.http.files import file_response
from router.http.keys import CONTEXT
from router.http.openapi import openapi_document
from router.http.validation import body_problem
from router.service import sla, sla_threads
from router.service.calendars import CalendarError, calendar_from_json, calendar_to_json
from router.storage.engine import read_in_transaction
from router.storage.models import Agent, Customer, Message, SlaCalendar, SlaPolicy, Thread

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MAX_LIST_LIMIT = 500
_STATUS = {NotFound: 404, Forbidden: 403, Conflict: 409, Invalid: 422}


def _api(handler: Handler) -> Handler:
    """Turn `QueueError`s into JSON errors with the matching status."""

    @wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except QueueError as exc:
            extra = {"code": exc.code} if exc.code else {}
            return json_error(_STATUS.get(type(exc), 400), str(exc), **extra)

    return wrapper


async def _actor(request: web.Request) -> Actor:
    principal = await agent_principal(request)
    assert principal.agent_id is not None  # agent_principal refuses tokens without one
    return Actor(principal.agent_id, principal.name, principal.tier, principal.is_admin)


def _path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    value = parse_id(raw)
    if value is None:
        raise NotFound(f"{raw[:40]!r} is not an id")
    return value


async def _json_body(
    request: web.Request, schema: str, *, optional: bool = False
) -> dict[str, Any]:
    """The body as a JSON object the document's `schema` allows: a malformed one answers
    400 (413 if too large), one the schema refuses 422."""
    if optional and not request.body_exists:
        return {}
    body = await read_json_object(request, request.app[CONTEXT].settings.server.max_request_bytes)
    if isinstance(body, web.Response):
        raise _ResponseError(body)
    problem = body_problem(body, schema)
    if problem is not None:
        raise Invalid(problem)
    return body


class _ResponseError(Exception):
    """Carries a ready error response out of a helper."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _text(body: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise Invalid(f"missing field: {name}")
        return None
    if not isinstance(value, str):
        raise Invalid(f"field {name} must be a string")
    return value


def _integer(body: dict[str, Any], name: str, *, required: bool = True) -> int | None:
    value = body.get(name)
    if value is None:
        if required:
            raise Invalid(f"missing field: {name}")
        return None
    number = parse_id(value, minimum=0)
    if number is None:
        raise Invalid(f"field {name} must be a whole number")
    return number


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise Invalid(f"field {name} must be true or false")
    return value


def _query_int(
    request: web.Request, name: str, *, minimum: int = 1, maximum: int = BIGINT_MAX
) -> int | None:
    """The whole number of query parameter `name` (None when absent); 422 otherwise."""
    raw = request.query.get(name)
    if raw is None:
        return None
    value = parse_id(raw, minimum=minimum, maximum=maximum)
    if value is None:
        raise Invalid(f"query parameter {name} must be a whole number from {minimum} to {maximum}")
    return value


def _query_flag(request: web.Request, name: str) -> bool | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise Invalid(f"query parameter {name} must be true or false")
    return raw == "true"


def _query_instant(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or value.tzinfo is None:
        raise Invalid(f"query parameter {name} must be an ISO 8601 instant with an offset")
    return value


async def _thread_summary(request: web.Request, thread: Thread) -> dict[str, Any]:
    app = request.app[CONTEXT]
    async with app.read_sessions() as session:
        names = await agent_views.customer_names(session, [thread.customer_id])
        assignee = (
            await session.get(Agent, thread.assignee_id) if thread.assignee_id is not None else None
        )
        fired = await agent_views.fired_alarms(session, [thread.id])
    return agent_views.thread_json(
        thread,
        customer_name=names.get(thread.customer_id),
        assignee=assignee,
        breaches=fired.get(thread.id, ()),
    )


def _with_body_errors(handler: Handler) -> Handler:
    @wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except _ResponseError as exc:
            return exc.response

    return wrapper


def endpoint(handler: Handler) -> Handler:
    """Every API handler: JSON errors for domain problems and malformed bodies."""
    return _with_body_errors(_api(handler))


# --- threads ------------------------------------------------------------------------


@routes.get("/api/v1/threads")
@endpoint
async def list_threads(request: web.Request) -> web.StreamResponse:
    """Threads the caller may see, filtered by status, tier and assignee."""
    actor = await _actor(request)
    query = ThreadFilter(
        status=request.query.get("status"),
        tier=_query_int(request, "tier", minimum=0),
        assignee=request.query.get("assignee"),
        limit=_list_limit(request),
        sort=request.query.get("sort"),
        breached=_query_flag(request, "breached"),
        due_before=_query_instant(request, "due_before"),
        low_rating=_query_flag(request, "low_rating"),
        cursor=request.query.get("cursor") or None,
    )
    async with request.app[CONTEXT].read_sessions() as session:
        threads, next_cursor = await agent_views.list_threads(session, actor, query)
    return web.json_response({"threads": threads, "next": next_cursor})


@routes.get("/api/v1/threads/{id}")
@endpoint
async def get_thread(request: web.Request) -> web.StreamResponse:
    """A thread with its messages, customer, earlier threads and audit trail."""
    actor = await _actor(request)
    thread_id = _path_id(request)
    context = request.app[CONTEXT]
    async with context.read_sessions() as session:
        detail = await agent_views.thread_detail(
            session, actor, thread_id, seen_channels=channels_keeping_marks(context.adapters)
        )
    return web.json_response(detail)


@routes.get("/api/v1/threads/{id}/attachments/{sha256}")
@endpoint
async def get_attachment(request: web.Request) -> web.StreamResponse:
    """A file of a message the caller sees on this thread (its own or an earlier one's).

    The raw copy of every received mail is one (`message.eml`), so an agent can read
    mail the parser could not. Files are stored once by content, so the same bytes may
    be several references: `?message=<id>&name=<filename>` (both optional) picks the
    one clicked, whose name and type the download carries.
    """
    actor = await _actor(request)
    thread_id = _path_id(request)
    sha = request.match_info["sha256"]
    message_id = _query_int(request, "message")
    name = request.query.get("name")
    context = request.app[CONTEXT]
    async with context.read_sessions() as session:
        detail = await agent_views.thread_detail(session, actor, thread_id)
    messages = [
        *detail["messages"],
        *(m for earlier in detail["earlier_threads"] for m in earlier["messages"]),
    ]
    ref = next(
        (
            a
            for m in messages
            if message_id is None or m["id"] == message_id
            for a in m["attachments"] or []
            if a.get("sha256") == sha and (name is None or a.get("filename") == name)
        ),
        None,
    )
    if ref is None:
        raise NotFound(f"thread {thread_id} has no file {sha[:64]!r} there")
    try:
        data = await context.attachment_store.read(sha)
    except (FileNotFoundError, ValueError):
        raise NotFound(f"file {sha} is no longer stored") from None
    return file_response(
        data,
        content_type=str(ref.get("content_type") or ""),
        filename=str(ref.get("filename") or sha),
    )


@routes.get("/api/v1/threads/{id}/suggestions")
@endpoint
async def get_suggestions(request: web.Request) -> web.StreamResponse:
    """The knowledge base's best answers to the customer's latest message, in their
    language, from the bot's own matcher (`?limit=`, default 3)."""
    actor = await _actor(request)
    thread_id = _path_id(request)
    limit = _query_int(request, "limit", maximum=10) or 3
    context = request.app[CONTEXT]
    async with context.read_sessions() as session:
        thread = await session.get(Thread, thread_id)
        if thread is None:
            raise NotFound(f"thread {thread_id} does not exist")
        if not queue.can_view(actor, thread):
            raise Forbidden(f"thread {thread_id} is not at your tier")
        latest = await session.scalar(
            select(Message)
            .where(
                Message.thread_id == thread_id,
                Message.author_kind == AuthorKind.CUSTOMER,
                Message.internal.is_(False),
            )
            .order_by(Message.id.desc())
            .limit(1)
        )
    if latest is None or not latest.text.strip():
        return web.json_response({"message_id": None, "suggestions": []})
    found = await suggestions_of(
        context.responder, latest.text, latest.language or thread.language, limit
    )
    return web.json_response(
        {
            "message_id": latest.id,
            "suggestions": [
                {
                    "entry_id": s.entry_id,
                    "question": s.question,
                    "answer": s.answer,
                    "language": s.language,
                    "score": s.score,
                }
                for s in found
            ],
        }
    )


@routes.post("/api/v1/threads/{id}/claim")
@endpoint
async def claim_thread(request: web.Request) -> web.StreamResponse:
    """Take a queued thread: 200, or 409 when somebody else has it."""
    actor = await _actor(request)
    thread = await queue.claim(request.app[CONTEXT], actor, _path_id(request))
    return web.json_response({"thread": await _thread_summary(request, thread)})


@routes.post("/api/v1/threads/{id}/release")
@endpoint
async def release_thread(request: web.Request) -> web.StreamResponse:
    """Give the thread back to its tier's queue."""
    actor = await _actor(request)
    thread = await queue.release(request.app[CONTEXT], actor, _path_id(request))
    return web.json_response({"thread": await _thread_summary(request, thread)})


@routes.post("/api/v1/threads/{id}/transfer")
@endpoint
async def transfer_thread(request: web.Request) -> web.StreamResponse:
    """Give the thread to a named agent (`{"agent": "<email>"}`) or queue it at another
    tier (`{"tier": 1, "reason": "..."}`)."""
    actor = await _actor(request)
    thread_id = _path_id(request)
    body = await _json_body(request, "TransferRequest")
    email = _text(body, "agent", required=False)
    context = request.app[CONTEXT]
    if email is not None:
        thread = await queue.transfer(context, actor, thread_id, email)
    else:
        tier = _integer(body, "tier")
        assert tier is not None
        reason = _text(body, "reason", required=False)
        thread = await queue.transfer_to_tier(context, actor, thread_id, tier, reason)
    return web.json_response({"thread": await _thread_summary(request, thread)})


@routes.post("/api/v1/threads/{id}/escalate")
@endpoint
async def escalate_thread(request: web.Request) -> web.StreamResponse:
    """Queue the thread at a higher tier: `{"tier": 2, "reason": "..."}`."""
    actor = await _actor(request)
    thread_id = _path_id(request)
    body = await _json_body(request, "EscalateRequest")
    tier = _integer(body, "tier")
    reason = _text(body, "reason")
    assert tier is not None and reason is not None
    thread = await queue.escalate(request.app[CONTEXT], actor, thread_id, tier, reason)
    return web.json_response({"thread": await _thread_summary(request, thread)})


@routes.post("/api/v1/threads/{id}/resolve")
@endpoint
async def resolve_thread(request: web.Request) -> web.StreamResponse:
    """Close the thread; optional `{"resolution": "...", "survey": false}`."""
    actor = await _actor(request)
    thread_id = _path_id(request)
    body = await _json_body(request, "ResolveRequest", optional=True)
    resolution = _text(body, "resolution", required=False) or "resolved"
    survey = _flag(body, "survey") if body.get("survey") is not None else None
    thread = await queue.resolve(request.app[CONTEXT], actor, thread_id, resolution, survey=survey)
    return web.json_response({"thread": await _thread_summary(request, thread)})


@routes.post("/api/v1/threads/{id}/priority")
@endpoint
async def set_thread_priority(request: web.Request) -> web.StreamResponse:
    """Set the priority: `{"priority": "urgent"}`; the deadlines are recomputed."""
    actor = await _actor(request)
    thread_id = _path_id(request)
    body = await _json_body(request, "PriorityRequest")
    priority = _text(body, "priority")
    assert priority is not None
    thread = await queue.set_priority(request.app[CONTEXT], actor, thread_id, priority)
    return web.json_response({"thread": await _thread_summary(request, thread)})


@routes.post("/api/v1/threads/{id}/pending")
@endpoint
async def set_thread_pending(request: web.Request) -> web.StreamResponse:
    """Waiting on the customer (clocks pause); `{"pending": false}` resumes them."""
    actor = await _actor(request)
    thread_id = _path_id(request)
    body = await _json_body(request, "PendingRequest", optional=True)
    pending = body.get("pending", True)
    thread = await queue.set_pending(request.app[CONTEXT], actor, thread_id, pending is True)
    return web.json_response({"thread": await _thread_summary(request, thread)})


@routes.post("/api/v1/threads/{id}/messages")
@endpoint
async def post_message(request: web.Request) -> web.StreamResponse:
    """A reply (`internal: false`, sent on the customer's channel) or an internal note;
    JSON with `attachments` (upload ids of `POST /api/v1/uploads`), or multipart/form-data
    with the same fields and the files themselves (`file`, repeated)."""
    actor = await _actor(request)
    thread_id = _path_id(request)
    if request.content_type == "multipart/form-data":
        body, files = await _multipart_reply(request)
    else:
        body = await _json_body(request, "ReplyRequest")
        files = _uploaded_files(request, actor, body.get("attachments") or [])
    text = _text(body, "text")
    assert text is not None
    key = body.get("idempotency_key")
    if key is not None and parse_key(key) is None:
        raise Invalid(KEY_PROBLEM)
    posted = await replies.post_message(
        request.app[CONTEXT],
        actor,
        thread_id,
        text=text,
        internal=_flag(body, "internal"),
        identity_id=_integer(body, "identity_id", required=False),
        attachments=files,
        idempotency_key=key,
    )
    answer = {"message": agent_views.message_json(posted.message)}
    if posted.created:
        return web.json_response(answer, status=201)
    # A repeat of a stored request: the first one's message, as Stripe's API marks it.
    return web.json_response(answer, status=200, headers={REPLAYED: "true"})


MAX_REPLY_FILES = 10


def _upload_ids(request: web.Request) -> UploadIds:
    settings = request.app[CONTEXT].settings
    return UploadIds(settings.server.secret_key, settings.webchat.upload_ttl_seconds)


def _uploaded_files(
    request: web.Request, actor: Actor, upload_ids: list[str]
) -> tuple[AttachmentRef, ...]:
    ids = _upload_ids(request)
    files = []
    for index, upload_id in enumerate(upload_ids):
        ref = ids.open(actor.agent_id, upload_id)
        if ref is None:
            raise Invalid(f"attachments[{index}] is not an upload of yours, or it expired")
        files.append(ref)
    return tuple(files)


async def _store_part(request: web.Request, part: BodyPartReader) -> AttachmentRef:
    """One uploaded file, checked and stored by the web chat's rules (one copy)."""
    context = request.app[CONTEXT]
    try:
        return await store_upload(
            part,
            context.attachment_store,
            max_bytes=context.settings.webchat.max_upload_bytes,
            allowed_types=context.settings.webchat.upload_types,
        )
    except UploadRefused as refused:
        logger.info("agent upload refused: %s", refused.message)
        raise _ResponseError(json_error(refused.status, refused.message)) from None


async def _multipart_reply(
    request: web.Request,
) -> tuple[dict[str, Any], tuple[AttachmentRef, ...]]:
    """The fields (`text`, `internal`, `identity_id`, `idempotency_key`) and files (`file`)
    of a multipart reply."""
    settings = request.app[CONTEXT].settings
    limit = settings.webchat.max_upload_bytes * MAX_REPLY_FILES + settings.server.max_request_bytes
    if request.content_length is not None and request.content_length > limit:
        raise _ResponseError(json_error(413, f"a reply is limited to {limit} bytes"))
    body: dict[str, Any] = {}
    files: list[AttachmentRef] = []
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise Invalid("nested multipart bodies are not accepted")
            if part.name == "file":
                if len(files) >= MAX_REPLY_FILES:
                    raise Invalid(f"at most {MAX_REPLY_FILES} files per reply")
                files.append(await _store_part(request, part))
            elif part.name in ("text", "internal", "identity_id", "idempotency_key"):
                value = await part.text()
                if len(value) > settings.api.max_text_length * 4:
                    raise Invalid(f"field {part.name} is too long")
                body[part.name] = value
            else:
                raise Invalid(f"unknown field {str(part.name)[:40]!r}")
    except MULTIPART_ERRORS:
        raise _ResponseError(json_error(400, "malformed multipart/form-data body")) from None
    internal = body.pop("internal", "false")
    if internal not in ("true", "false"):
        raise Invalid("field internal must be true or false")
    body["internal"] = internal == "true"
    return body, tuple(files)


@routes.post("/api/v1/uploads")
@endpoint
async def post_upload(request: web.Request) -> web.StreamResponse:
    """Store one file (multipart field `file`) for a reply; answers its upload id."""
    actor = await _actor(request)
    try:
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and getattr(part, "name", None) != "file":
            part = await reader.next()
    except MULTIPART_ERRORS:
        return json_error(400, "send multipart/form-data with a `file` field")
    if not isinstance(part, BodyPartReader):
        return json_error(400, "send multipart/form-data with a `file` field")
    try:
        ref = await _store_part(request, part)
    except MULTIPART_ERRORS:
        return json_error(400, "malformed multipart/form-data body")
    return web.json_response(
        {
            "upload": _upload_ids(request).make(actor.agent_id, ref),
            "filename": ref.filename,
            "content_type": ref.content_type,
            "size": ref.size,
        },
        status=201,
    )


# --- service levels (admins) --------------------------------------------------------


def _definition_kind(request: web.Request) -> type[SlaCalendar] | type[SlaPolicy]:
    return SlaCalendar if request.path.startswith("/api/v1/calendars/") else SlaPolicy


@routes.get("/api/v1/calendars")
@routes.get("/api/v1/sla-policies")
@endpoint
async def list_service_definitions(request: web.Request) -> web.StreamResponse:
    """Every calendar or SLA policy in force, by name, and whether the API stored it."""
    actor = await _actor(request)
    if not actor.is_admin:
        raise Forbidden("only admins manage calendars and SLA policies")
    calendars = request.path.startswith("/api/v1/calendars")
    kind = SlaCalendar if calendars else SlaPolicy
    async with request.app[CONTEXT].read_sessions() as session:
        found = await sla_threads.all_definitions(request.app[CONTEXT], session, kind)
    field, key = ("calendars", "calendar") if calendars else ("policies", "policy")
    return web.json_response(
        {field: [{"name": name, key: body, "stored": stored} for name, body, stored in found]}
    )


@routes.get("/api/v1/calendars/{name}")
@routes.get("/api/v1/sla-policies/{name}")
@endpoint
async def get_service_definition(request: web.Request) -> web.StreamResponse:
    """A calendar or SLA policy body: the one stored through the API, else the configured one."""
    actor = await _actor(request)
    if not actor.is_admin:
        raise Forbidden("only admins manage calendars and SLA policies")
    kind, name = _definition_kind(request), request.match_info["name"]
    async with request.app[CONTEXT].read_sessions() as session:
        body = await sla_threads.stored_definition(request.app[CONTEXT], session, kind, name)
    if body is None:
        what = "calendar" if kind is SlaCalendar else "SLA policy"
        raise NotFound(f"no {what} named {name[:64]!r}")
    return web.json_response(body)


@routes.put("/api/v1/calendars/{name}")
@routes.put("/api/v1/sla-policies/{name}")
@endpoint
async def put_service_definition(request: web.Request) -> web.StreamResponse:
    """Store a calendar or SLA policy; the SLA scheduler recomputes the deadlines of
    running clocks (the threads are marked here, in one statement)."""
    actor = await _actor(request)
    if not actor.is_admin:
        raise Forbidden("only admins manage calendars and SLA policies")
    kind, name = _definition_kind(request), request.match_info["name"]
    raw = await read_json_object(request, request.app[CONTEXT].settings.server.max_request_bytes)
    if isinstance(raw, web.Response):
        return raw
    try:
        if kind is SlaCalendar:
            body: dict[str, Any] = calendar_to_json(calendar_from_json(name, raw))
        else:
            body = sla.policy_to_json(sla.policy_from_json(name, raw))
    except (CalendarError, sla.PolicyError) as exc:
        raise Invalid(str(exc)) from None
    app = request.app[CONTEXT]

    async def work(session: AsyncSession, effects: Effects) -> int:
        calendar = body.get("calendar") if kind is not SlaCalendar else None
        if calendar is not None and not await sla_threads.calendar_exists(app, session, calendar):
            # Stored, it would run on wall-clock minutes with only a log line to say so.
            raise Invalid(f"calendar: no calendar named {calendar!r}; add it first")
        return await sla_threads.store_definition(
            app, session, kind, name, body, actor_id=actor.agent_id
        )

    marked = await write(app, work)
    logger.info("%s %s stored; %d threads to recompute", kind.__tablename__, name, marked)
    return web.json_response(body)


# --- customers, agents, presence ----------------------------------------------------


@routes.get("/api/v1/customers/{id}")
@endpoint
async def get_customer(request: web.Request) -> web.StreamResponse:
    """A customer with identities (and why one is unreachable) and all their threads."""
    actor = await _actor(request)
    customer_id = _path_id(request)
    async with request.app[CONTEXT].read_sessions() as session:
        detail = await agent_views.customer_detail(session, actor, customer_id)
        detail.update(await customers.profile_extras(session, customer_id))
    return web.json_response(detail)


def _list_limit(request: web.Request) -> int:
    """`?limit=` of a keyset list: 1 to MAX_LIST_LIMIT rows a page, 100 by default."""
    return _query_int(request, "limit", maximum=MAX_LIST_LIMIT) or 100


def _page_limit(request: web.Request) -> int:
    return _query_int(request, "limit", maximum=customers.MAX_LIMIT) or 20


@routes.get("/api/v1/customers")
@endpoint
async def list_customers(request: web.Request) -> web.StreamResponse:
    """Customers the caller may see, newest first; `?tag=`, `?cursor=` from `next`."""
    actor = await _actor(request)
    async with request.app[CONTEXT].read_sessions() as session:
        page = await customers.list_customers(
            session,
            actor,
            cursor=request.query.get("cursor") or None,
            limit=_page_limit(request),
            tag=request.query.get("tag"),
        )
    return web.json_response(page)


@routes.get("/api/v1/search")
@endpoint
async def search(request: web.Request) -> web.StreamResponse:
    """Customers, threads and messages matching `q` (normalised like the FAQ's)."""
    actor = await _actor(request)
    query = request.query.get("q", "")
    if len(query) > 200:
        raise Invalid("q must be at most 200 characters")
    async with request.app[CONTEXT].read_sessions() as session:
        found = await customers.search(
            session,
            actor,
            query,
            cursor=request.query.get("cursor") or None,
            limit=_page_limit(request),
        )
    return web.json_response(found)


@routes.post("/api/v1/customers/{id}/notes")
@endpoint
async def add_customer_note(request: web.Request) -> web.StreamResponse:
    """Write down something about the customer: `{"text": "..."}`."""
    actor = await _actor(request)
    customer_id = _path_id(request)
    body = await _json_body(request, "CustomerNoteRequest")
    note = await customers.add_note(
        request.app[CONTEXT], actor, customer_id, _text(body, "text") or ""
    )
    return web.json_response({"note": note}, status=201)


@routes.post("/api/v1/customers/{id}/tags")
@endpoint
async def add_customer_tag(request: web.Request) -> web.StreamResponse:
    """Tag the customer: `{"tag": "vip"}` (idempotent); answers all their tags."""
    actor = await _actor(request)
    customer_id = _path_id(request)
    body = await _json_body(request, "CustomerTagRequest")
    tags = await customers.add_tag(
        request.app[CONTEXT], actor, customer_id, _text(body, "tag") or ""
    )
    return web.json_response({"tags": tags})


@routes.delete("/api/v1/customers/{id}/tags/{tag}")
@endpoint
async def remove_customer_tag(request: web.Request) -> web.StreamResponse:
    """Take a tag off the customer."""
    actor = await _actor(request)
    customer_id = _path_id(request)
    await customers.remove_tag(request.app[CONTEXT], actor, customer_id, request.match_info["tag"])
    return web.Response(status=204)


@routes.get("/api/v1/agents")
@endpoint
async def list_agents(request: web.Request) -> web.StreamResponse:
    """Agents with tier, presence and load, by tier then name; `?cursor=` from `next`."""
    await _actor(request)
    async with request.app[CONTEXT].read_sessions() as session:
        agents, next_cursor = await agent_views.list_agents(
            session, limit=_list_limit(request), cursor=request.query.get("cursor") or None
        )
    return web.json_response({"agents": agents, "next": next_cursor})


@routes.get("/api/v1/agents/me")
@endpoint
async def get_me(request: web.Request) -> web.StreamResponse:
    """The calling agent."""
    actor = await _actor(request)
    async with request.app[CONTEXT].read_sessions() as session:
        agent = await session.get(Agent, actor.agent_id)
        if agent is None:
            raise NotFound("your agent no longer exists")
        load = await queue.open_counts(session, [agent.id])
    return web.json_response(
        {
            **(agent_views.agent_brief(agent) or {}),
            "is_admin": agent.is_admin,
            "language": agent.language,
            "presence": agent.presence,
            "open_threads": load.get(agent.id, 0),
            "max_concurrent": agent.max_concurrent,
        }
    )


@routes.get("/api/v1/agents/me/presence")
@endpoint
async def get_presence(request: web.Request) -> web.StreamResponse:
    """The calling agent's presence."""
    actor = await _actor(request)
    async with request.app[CONTEXT].read_sessions() as session:
        agent = await session.get(Agent, actor.agent_id)
        if agent is None:
            raise NotFound("your agent no longer exists")
    return web.json_response(agent_views.presence_json(agent))


@routes.post("/api/v1/agents/me/presence")
@endpoint
async def set_presence(request: web.Request) -> web.StreamResponse:
    """`{"status": "online" | "away" | "offline"}`."""
    actor = await _actor(request)
    body = await _json_body(request, "PresenceRequest")
    status = _text(body, "status")
    assert status is not None
    agent = await queue.set_presence(request.app[CONTEXT], actor.agent_id, status)
    return web.json_response(agent_views.presence_json(agent))


# --- canned responses and figures ---------------------------------------------------


@routes.get("/api/v1/canned")
@endpoint
async def list_canned(request: web.Request) -> web.StreamResponse:
    """Canned responses (`?language=`), rendered for `?thread_id=` when given."""
    actor = await _actor(request)
    language = request.query.get("language")
    if language is not None and language not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}")
    thread_id = _query_int(request, "thread_id")
    async with request.app[CONTEXT].read_sessions() as session:
        customer_name = None
        agent_name = None
        if thread_id is not None:
            thread = await session.get(Thread, thread_id)
            if thread is None:
                raise NotFound(f"thread {thread_id} does not exist")
            if not queue.can_view(actor, thread):
                raise Forbidden(f"thread {thread_id} is not at your tier")
            customer = await session.get(Customer, thread.customer_id)
            customer_name = customer.name if customer else None
            agent_name = actor.name
        views, next_cursor = await canned.list_canned(
            session,
            limit=_list_limit(request),
            cursor=request.query.get("cursor") or None,
            language=language,
            customer_name=customer_name,
            agent_name=agent_name,
            texts=request.app[CONTEXT].texts,
        )
    return web.json_response(
        {"canned": [agent_views.canned_json(v) for v in views], "next": next_cursor}
    )


@routes.post("/api/v1/canned")
@endpoint
async def add_canned(request: web.Request) -> web.StreamResponse:
    """Add a canned response (admins): `{"language", "title", "text"}`."""
    actor = await _actor(request)
    if not actor.is_admin:
        raise Forbidden("only admins can add canned responses")
    body = await _json_body(request, "CannedRequest")
    view = await canned.add_canned(
        request.app[CONTEXT],
        actor,
        language=_text(body, "language") or "",
        title=_text(body, "title") or "",
        text=_text(body, "text") or "",
    )
    return web.json_response({"canned": agent_views.canned_json(view)}, status=201)


@routes.delete("/api/v1/canned/{id}")
@endpoint
async def delete_canned(request: web.Request) -> web.StreamResponse:
    """Remove a canned response (admins)."""
    actor = await _actor(request)
    await canned.delete_canned(request.app[CONTEXT], actor, _path_id(request))
    return web.Response(status=204)


@routes.get("/api/v1/queue/stats")
@endpoint
async def get_queue_stats(request: web.Request) -> web.StreamResponse:
    """Waiting and assigned counts per tier, online capacity, response times."""
    await _actor(request)
    async with request.app[CONTEXT].read_sessions() as session:
        await read_in_transaction(session)  # the 24-hour figures' settings are for its transaction
        stats = await agent_views.queue_stats(session)
    return web.json_response(stats)


@routes.get("/api/v1/openapi.json")
async def get_openapi(request: web.Request) -> web.StreamResponse:
    """The OpenAPI 3.1 document of this API (public: it holds no data)."""
    return web.json_response(openapi_document())
