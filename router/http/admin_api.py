"""The admin part of the JSON API: agents, invitations, tags, channel status, dead letters.

Admins only (403 otherwise), except `POST /api/v1/invitations/accept`, where the signed
invitation token is the credential. Shapes are in `router/http/openapi.py`.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from router.agents import admin, tags
from router.agents.queue import Actor, Forbidden, Invalid, NotFound
from router.agents.views import agents_json, iso
from router.core.email_addresses import shown_address
from router.core.languages import LANGUAGES
from router.http.agent_api import _actor, _json_body, _path_id, endpoint
from router.http.keys import CONTEXT
from router.storage.models import Agent

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()

INVITATION_PATH = "/console#invite="


async def _admin(request: web.Request) -> Actor:
    actor = await _actor(request)
    if not actor.is_admin:
        raise Forbidden("only admins may do this")
    return actor


async def _agent_json(request: web.Request, agent_id: int) -> dict[str, Any]:
    async with request.app[CONTEXT].read_sessions() as session:
        agent = await session.get(Agent, agent_id)
        if agent is None:
            raise NotFound(f"agent {agent_id} does not exist")
        return (await agents_json(session, [agent]))[0]


def _invitation_url(request: web.Request, token: str) -> str:
    base = request.app[CONTEXT].settings.server.public_url.rstrip("/")
    if not base:
        base = f"{request.scheme}://{request.host}"
    return f"{base}{INVITATION_PATH}{token}"


async def _agent_created(
    request: web.Request, agent_id: int, invitation: str | None
) -> web.Response:
    """201 `AgentCreated`: the agent, and the link of their invitation if there is one."""
    url = _invitation_url(request, invitation) if invitation else None
    return web.json_response(
        {"agent": await _agent_json(request, agent_id), "invitation_url": url}, status=201
    )


# --- agents -------------------------------------------------------------------------


@routes.post("/api/v1/agents")
@endpoint
async def add_agent(request: web.Request) -> web.StreamResponse:
    """Add an agent; without a password the answer carries the invitation link."""
    actor = await _admin(request)
    body = await _json_body(request, "AgentCreateRequest")
    # The document's AgentCreateRequest names exactly NewAgent's fields (and no others).
    new = admin.NewAgent(**body)
    if new.language not in LANGUAGES:
        raise Invalid(f"language must be one of {', '.join(LANGUAGES)}")
    added = await admin.add_agent(request.app[CONTEXT], actor, new)
    logger.info("agent %d added by admin %d", added.agent.id, actor.agent_id)
    return await _agent_created(request, added.agent.id, added.invitation)


@routes.patch(r"/api/v1/agents/{id:\d+}")
@endpoint
async def patch_agent(request: web.Request) -> web.StreamResponse:
    """Tier, capacity, admin flag; `active: false` deactivates (threads back to queue)."""
    actor = await _admin(request)
    agent_id = _path_id(request)
    body = await _json_body(request, "AgentPatchRequest")
    change = admin.AgentChange(
        tier=body.get("tier"),
        max_concurrent=body.get("max_concurrent"),
        admin=body.get("admin"),
        active=body.get("active"),
    )
    await admin.update_agent(request.app[CONTEXT], actor, agent_id, change)
    return web.json_response({"agent": await _agent_json(request, agent_id)})


@routes.post(r"/api/v1/agents/{id:\d+}/invitation")
@endpoint
async def reissue_invitation(request: web.Request) -> web.StreamResponse:
    """A new invitation link for an agent without a password; every earlier link ends."""
    actor = await _admin(request)
    agent_id = _path_id(request)
    token = await admin.reissue_invitation(request.app[CONTEXT], actor, agent_id)
    logger.info("invitation of agent %d re-issued by admin %d", agent_id, actor.agent_id)
    return await _agent_created(request, agent_id, token)


@routes.delete(r"/api/v1/agents/{id:\d+}/invitation")
@endpoint
async def withdraw_invitation(request: web.Request) -> web.StreamResponse:
    """End an agent's invitation link (a leaked one) without giving a new one."""
    actor = await _admin(request)
    agent_id = _path_id(request)
    await admin.withdraw_invitation(request.app[CONTEXT], actor, agent_id)
    logger.info("invitation of agent %d withdrawn by admin %d", agent_id, actor.agent_id)
    return web.json_response({"agent": await _agent_json(request, agent_id)})


@routes.post("/api/v1/invitations/accept")
@endpoint
async def accept_invitation(request: web.Request) -> web.StreamResponse:
    """The invited agent sets their password; then they sign in as usual."""
    body = await _json_body(request, "InvitationRequest")
    agent = await admin.accept_invitation(request.app[CONTEXT], body["token"], body["password"])
    logger.info("agent %d accepted their invitation", agent.id)
    return web.json_response({"email": agent.email, "name": agent.name})


# --- tags ---------------------------------------------------------------------------


def _tag_json(view: tags.TagView) -> dict[str, Any]:
    return {"id": view.id, "name": view.name, "created_at": iso(view.created_at)}


@routes.get("/api/v1/tags")
@endpoint
async def list_tags(request: web.Request) -> web.StreamResponse:
    await _actor(request)
    async with request.app[CONTEXT].read_sessions() as session:
        views = await tags.list_tags(session)
    return web.json_response({"tags": [_tag_json(v) for v in views]})


@routes.post("/api/v1/tags")
@endpoint
async def add_tag(request: web.Request) -> web.StreamResponse:
    actor = await _admin(request)
    body = await _json_body(request, "TagRequest")
    view = await tags.add_tag(request.app[CONTEXT], actor, body["name"])
    return web.json_response({"tag": _tag_json(view)}, status=201)


@routes.patch(r"/api/v1/tags/{id:\d+}")
@endpoint
async def rename_tag(request: web.Request) -> web.StreamResponse:
    actor = await _admin(request)
    tag_id = _path_id(request)
    body = await _json_body(request, "TagRequest")
    view = await tags.rename_tag(request.app[CONTEXT], actor, tag_id, body["name"])
    return web.json_response({"tag": _tag_json(view)})


@routes.delete(r"/api/v1/tags/{id:\d+}")
@endpoint
async def delete_tag(request: web.Request) -> web.StreamResponse:
    actor = await _admin(request)
    await tags.delete_tag(request.app[CONTEXT], actor, _path_id(request))
    return web.Response(status=204)


# --- channels and the outbox --------------------------------------------------------


async def _channel_json(name: str, adapter: object) -> dict[str, Any]:
    """What the adapter says of itself; plus its live check when it has one."""
    # The adapter's own `describe()` (a `channels.base.ChannelSummary`), read by its
    # fields: the core imports no channel module.
    describe = getattr(adapter, "describe", None)
    summary = describe() if callable(describe) else None
    line = str(getattr(summary, "line", name))
    missing = [str(item) for item in getattr(summary, "missing", ())]
    facts: dict[str, Any] = dict(getattr(summary, "facts", ()))
    probe = getattr(adapter, "probe", None)
    if callable(probe):
        try:
            facts.update(dict(await probe()))
        except Exception:
            logger.exception("channel %s: its status check failed", name)
            facts["probe_failed"] = True
    return {
        "name": name,
        "summary": line,
        "missing": missing,
        "facts": {k: list(v) if isinstance(v, tuple) else v for k, v in facts.items()},
    }


@routes.get("/api/v1/channels/status")
@endpoint
async def channel_status(request: web.Request) -> web.StreamResponse:
    """Every running channel, the outbox depth by state and the newest dead letters."""
    await _admin(request)
    app = request.app[CONTEXT]
    channels = [await _channel_json(name, a) for name, a in sorted(app.adapters.items())]
    async with app.read_sessions() as session:
        counts = await admin.outbox_counts(session)
        dead = await admin.dead_letters(session)
    return web.json_response(
        {
            "channels": channels,
            "outbox": counts,
            "dead_letters": [
                {
                    "id": row.id,
                    "thread_id": row.thread_id,
                    "message_id": row.message_id,
                    "channel": row.channel,
                    "address": shown_address(row.address),
                    "attempts": row.attempts,
                    "last_error": row.last_error,
                    "created_at": iso(row.created_at),
                }
                for row in dead
            ],
        }
    )


@routes.post(r"/api/v1/outbox/{id:\d+}/retry")
@endpoint
async def retry_outbox(request: web.Request) -> web.StreamResponse:
    """Send a dead letter again: it goes back in line with its attempts reset."""
    actor = await _admin(request)
    row = await admin.retry_dead_letter(request.app[CONTEXT], actor, _path_id(request))
    logger.info("outbox %d retried by admin %d", row.id, actor.agent_id)
    return web.json_response({"id": row.id, "status": row.status})
