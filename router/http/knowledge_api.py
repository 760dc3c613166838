"""The knowledge loop's endpoints (admins only): the gap report, and the knowledge base
editor — entries, their history, export and import (`router.service.knowledge_base`).

Bad entries answer 400 with the field at fault; a save made from a version that is no
longer current answers 409 (the editor reloads the entry and shows what changed).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from aiohttp import web

from faq.gaps import report_json
from faq.kb import KbError
from router.agents.views import iso
from router.http.auth import Principal, agent_principal
from router.http.errors import json_error, read_json_object
from router.http.keys import CONTEXT
from router.service import knowledge_base as kb
from router.service.knowledge_gaps import read_gap_report

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ENTRY_PATH = "/api/v1/knowledge/entries/{entry_id}"
EXPORT_FILE_NAME = "knowledge-base.json"
_STATUS: dict[type[kb.KbEditError], int] = {kb.KbNotFound: 404, kb.KbStale: 409}


class _Refused(Exception):
    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def _kb_endpoint(handler: Handler) -> Handler:
    """Admins only (401 without a credential, 403 for agents); edit errors as JSON."""

    @wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        principal = await agent_principal(request)
        if not principal.is_admin:
            return json_error(403, "only an admin may do this")
        request["principal"] = principal
        context = request.app[CONTEXT]
        try:
            await kb.ensure_seeded(context)
            return await handler(request)
        except _Refused as exc:
            return exc.response
        except kb.KbInvalid as exc:
            context.metrics.rejected_input.labels("knowledge", "invalid").inc()
            logger.info("knowledge base edit refused: %s", exc)
            return json_error(400, str(exc), field=exc.field)
        except kb.KbEditError as exc:
            return json_error(_STATUS.get(type(exc), 400), str(exc))
        except KbError as exc:  # the configured seed file is broken
            logger.error("knowledge base cannot be seeded: %s", exc)
            return json_error(503, f"the knowledge base cannot be seeded: {exc}")

    return wrapper


def _agent_id(request: web.Request) -> int | None:
    principal: Principal = request["principal"]
    return principal.agent_id


async def _body(request: web.Request) -> dict[str, Any]:
    body = await read_json_object(request, request.app[CONTEXT].settings.server.max_request_bytes)
    if isinstance(body, web.Response):
        raise _Refused(body)
    return body


def _version(value: object, name: str = "version") -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
        raise kb.KbInvalid(f"{name}: the entry's version number (a whole number from 1)", name)
    return value


def _entry_json(view: kb.EntryView) -> dict[str, Any]:
    return {
        "id": view.id,
        "version": view.version,
        **view.body,
        "updated_at": iso(view.updated_at),
        "updated_by": view.updated_by,
    }


async def _entry_response(request: web.Request, entry_id: str, status: int = 200) -> web.Response:
    async with request.app[CONTEXT].read_sessions() as session:
        view = await kb.get_entry(session, entry_id)
    return web.json_response({"entry": _entry_json(view)}, status=status)


@routes.get("/api/v1/knowledge/gaps")
async def gaps(request: web.Request) -> web.Response:
    """`?since=7d|24h|ISO`: the gap topics since then, with their trend."""
    principal = await agent_principal(request)
    if not principal.is_admin:
        return json_error(403, "only an admin may do this")
    context = request.app[CONTEXT]
    async with context.read_sessions() as session:
        try:
            report = await read_gap_report(
                session, request.query.get("since"), embeddings=context.gap_embeddings
            )
        except ValueError as exc:
            return json_error(422, str(exc))
    return web.json_response(report_json(report))


@routes.get("/api/v1/knowledge/entries")
@_kb_endpoint
async def list_entries(request: web.Request) -> web.StreamResponse:
    """Every entry in file order; `?q=` keeps those holding each of its words."""
    async with request.app[CONTEXT].read_sessions() as session:
        views = await kb.list_entries(session, request.query.get("q"))
        revision = await kb.revision(session)
    return web.json_response({"entries": [_entry_json(v) for v in views], "revision": revision})


@routes.post("/api/v1/knowledge/entries")
@_kb_endpoint
async def create_entry(request: web.Request) -> web.StreamResponse:
    body = await _body(request)
    await kb.create_entry(request.app[CONTEXT], _agent_id(request), body)
    logger.info("knowledge base entry %r added by agent %s", body["id"], _agent_id(request))
    return await _entry_response(request, str(body["id"]), status=201)


@routes.get(ENTRY_PATH)
@_kb_endpoint
async def get_entry(request: web.Request) -> web.StreamResponse:
    return await _entry_response(request, request.match_info["entry_id"])


@routes.put(ENTRY_PATH)
@_kb_endpoint
async def update_entry(request: web.Request) -> web.StreamResponse:
    """Save a new version; `version` names the one the edit was made from (409 if stale)."""
    entry_id = request.match_info["entry_id"]
    body = await _body(request)
    expected = _version(body.pop("version", None))
    if body.get("id", entry_id) != entry_id:
        raise kb.KbInvalid("id: an entry keeps its id (add a new entry instead)", "id")
    body.pop("id", None)
    await kb.update_entry(request.app[CONTEXT], _agent_id(request), entry_id, body, expected)
    return await _entry_response(request, entry_id)


@routes.delete(ENTRY_PATH)
@_kb_endpoint
async def delete_entry(request: web.Request) -> web.StreamResponse:
    """`?version=` names the version being deleted (409 if it changed since)."""
    raw = request.query.get("version", "")
    expected = _version(int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 11 else None)
    entry_id = request.match_info["entry_id"]
    await kb.delete_entry(request.app[CONTEXT], _agent_id(request), entry_id, expected)
    return web.Response(status=204)


@routes.get(ENTRY_PATH + "/history")
@_kb_endpoint
async def entry_history(request: web.Request) -> web.StreamResponse:
    """Every saved version, newest first: who, when, what changed, and its content."""
    async with request.app[CONTEXT].read_sessions() as session:
        versions = await kb.history(session, request.match_info["entry_id"])
    return web.json_response(
        {
            "versions": [
                {
                    "version": v.version,
                    "change": v.change,
                    "agent": v.agent,
                    "at": iso(v.at),
                    "entry": dict(v.body) if v.body is not None else None,
                }
                for v in versions
            ]
        }
    )


@routes.post(ENTRY_PATH + "/restore")
@_kb_endpoint
async def restore_entry(request: web.Request) -> web.StreamResponse:
    """Make `restore` (an old version) current again; `version` is the current one (or
    null for an entry deleted since)."""
    entry_id = request.match_info["entry_id"]
    body = await _body(request)
    unknown = set(body) - {"restore", "version"}
    if unknown:
        field = sorted(unknown)[0]
        raise kb.KbInvalid(f"{field}: not a field of a restore", field)
    restore = _version(body.get("restore"), "restore")
    expected = None if body.get("version") is None else _version(body["version"])
    await kb.restore_entry(request.app[CONTEXT], _agent_id(request), entry_id, restore, expected)
    return await _entry_response(request, entry_id)


@routes.get("/api/v1/knowledge/export")
@_kb_endpoint
async def export_kb(request: web.Request) -> web.StreamResponse:
    """The KB as a KB file (JSON), loadable by `[faq] path` and `pasokh faq check`."""
    async with request.app[CONTEXT].read_sessions() as session:
        document = await kb.export_document(session)
    return web.Response(
        text=kb.export_text(document),
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{EXPORT_FILE_NAME}"'},
    )


@routes.post("/api/v1/knowledge/import")
@_kb_endpoint
async def import_kb(request: web.Request) -> web.StreamResponse:
    """Replace the KB with a KB file (JSON, or YAML sent as application/yaml or text):
    all or nothing; entries it lacks are deleted (their history stays)."""
    try:
        text = await request.text()
    except UnicodeDecodeError:
        raise kb.KbInvalid("the file is not UTF-8 text") from None
    source = "import.json" if request.content_type == "application/json" else "import.yaml"
    summary = await kb.import_text(request.app[CONTEXT], _agent_id(request), text, source)
    logger.info(
        "knowledge base imported by agent %s: %d new, %d changed, %d deleted",
        _agent_id(request),
        summary.created,
        summary.updated,
        summary.deleted,
    )
    return web.json_response(
        {
            "created": summary.created,
            "updated": summary.updated,
            "deleted": summary.deleted,
            "unchanged": summary.unchanged,
            "revision": summary.revision,
        }
    )
