"""Admin endpoints on customers: merge two by hand, export one, erase one.

All three are admin-only (403 otherwise) and audited. A merge by hand is how an agent
acts on an unproven hint ("I am the person with this email"); nothing merges by itself.
"""

from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from router.agents.queue import Actor, can_view
from router.core.ids import parse_id
from router.core.transaction import Effects, write
from router.http.auth import Principal, agent_principal
from router.http.errors import json_error, read_json_object
from router.http.keys import CONTEXT
from router.http.validation import body_problem
from router.identity.links import unproven_claims
from router.identity.merge import MergeRefused, MergeResult, merge_customers
from router.identity.privacy import (
    CustomerGone,
    Erasure,
    checkpoint_sqlite,
    delete_unreferenced_files,
    erase_customer,
    export_customer,
)
from router.storage.models import AuditEvent, Customer, Thread

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()


async def _admin(request: web.Request) -> Principal | web.Response:
    principal = await agent_principal(request)
    if not principal.is_admin:
        return json_error(403, "only an admin may do this")
    return principal


async def _admin_on_customer(request: web.Request) -> tuple[Principal, int] | web.Response:
    """The admin acting and the customer id of the path, or the error to answer."""
    principal = await _admin(request)
    if isinstance(principal, web.Response):
        return principal
    customer_id = _customer_id(request)
    if customer_id is None:
        return json_error(404, "not a customer id")
    return principal, customer_id


def _customer_id(request: web.Request) -> int | None:
    return parse_id(request.match_info["id"])


def _gone(exc: CustomerGone) -> web.Response:
    if exc.into is not None:
        return json_error(409, str(exc), merged_into=exc.into)
    return json_error(404, str(exc))


@routes.post("/api/v1/customers/{id}/merge")
async def merge(request: web.Request) -> web.Response:
    """`{"other": <id>}`: make the two customers one (the older survives)."""
    principal = await _admin(request)
    if isinstance(principal, web.Response):
        return principal
    context = request.app[CONTEXT]
    customer_id = _customer_id(request)
    body = await read_json_object(request, context.settings.server.max_request_bytes)
    if isinstance(body, web.Response):
        return body
    problem = body_problem(body, "MergeRequest")
    if problem is not None:
        return json_error(422, problem)
    other = parse_id(body.get("other"))
    if customer_id is None or other is None:
        return json_error(422, "field other must be a customer id")

    async def work(session: AsyncSession, effects: Effects) -> MergeResult:
        merged = await merge_customers(
            context,
            session,
            customer_id,
            other,
            actor_kind="agent",
            actor_id=principal.agent_id,
            reason="merged by an agent",
        )
        effects.events.extend(merged.events)
        return merged

    try:
        result = await write(context, work)
    except MergeRefused as exc:
        return json_error(404 if exc.unknown else 409, str(exc))
    logger.info(
        "agent %s merged customer %d into %d",
        principal.agent_id,
        result.merged_id,
        result.surviving_id,
    )
    return web.json_response(
        {
            "surviving_id": result.surviving_id,
            "merged_id": result.merged_id,
            "open_thread_id": result.open_thread_id,
        }
    )


@routes.get("/api/v1/customers/{id}/claims")
async def claims(request: web.Request) -> web.Response:
    """Unproven claims on or by this customer: hints for an agent, never links."""
    principal = await agent_principal(request)
    assert principal.agent_id is not None  # agent_principal refuses tokens without one
    actor = Actor(principal.agent_id, principal.name, principal.tier, principal.is_admin)
    context = request.app[CONTEXT]
    customer_id = _customer_id(request)
    if customer_id is None:
        return json_error(404, "not a customer id")
    async with context.read_sessions() as session:
        if await session.get(Customer, customer_id) is None:
            return json_error(404, f"customer {customer_id} does not exist")
        # The same rule as GET /customers/{id}: the addresses are the customer's data.
        threads = await session.scalars(select(Thread).where(Thread.customer_id == customer_id))
        if not actor.is_admin and not any(can_view(actor, t) for t in threads):
            return json_error(403, f"customer {customer_id} has no thread at your tier")
        hints = await unproven_claims(session, customer_id)
    return web.json_response({"customer_id": customer_id, "claims": hints})


@routes.get("/api/v1/customers/{id}/export")
async def export(request: web.Request) -> web.Response:
    """Everything stored for the customer, as one JSON document."""
    checked = await _admin_on_customer(request)
    if isinstance(checked, web.Response):
        return checked
    principal, customer_id = checked
    context = request.app[CONTEXT]
    try:
        async with context.read_sessions() as session:
            data = await export_customer(session, context.attachment_store, customer_id)
    except CustomerGone as exc:
        return _gone(exc)

    async def audit(session: AsyncSession, _: Effects) -> None:
        session.add(
            AuditEvent(
                actor_kind="agent",
                actor_id=principal.agent_id,
                action="customer_exported",
                customer_id=customer_id,
                details={},
            )
        )

    await write(context, audit)
    return web.json_response(
        data,
        headers={
            "Content-Disposition": f'attachment; filename="customer-{customer_id}.json"',
            "Cache-Control": "no-store",
        },
    )


@routes.delete("/api/v1/customers/{id}")
async def erase(request: web.Request) -> web.Response:
    """Erase the customer's messages, attachments and addresses; keep a tombstone."""
    checked = await _admin_on_customer(request)
    if isinstance(checked, web.Response):
        return checked
    principal, customer_id = checked
    context = request.app[CONTEXT]

    async def work(session: AsyncSession, _: Effects) -> Erasure:
        return await erase_customer(session, customer_id, agent_id=principal.agent_id)

    try:
        erasure = await write(context, work)
    except CustomerGone as exc:
        return _gone(exc)
    await checkpoint_sqlite(context.engine)
    async with context.read_sessions() as session:
        removed = await delete_unreferenced_files(
            session, context.attachment_store, erasure.candidate_files
        )
    logger.info(
        "agent %s erased customer %d: %d messages, %d files",
        principal.agent_id,
        customer_id,
        erasure.messages,
        len(removed),
    )
    return web.json_response(
        {
            "customer_id": customer_id,
            "erased": {
                "identities": erasure.identities,
                "threads": erasure.threads,
                "messages": erasure.messages,
                "attachment_files": len(removed),
            },
        }
    )
