"""The knowledge loop's endpoints: the gap report (admins)."""

from __future__ import annotations

from aiohttp import web

from faq.gaps import report_json
from router.http.auth import agent_principal
from router.http.errors import json_error
from router.http.keys import CONTEXT
from router.service.knowledge_gaps import read_gap_report

routes = web.RouteTableDef()


@routes.get("/api/v1/knowledge/gaps")
async def gaps(request: web.Request) -> web.Response:
    """`?since=7d|24h|ISO`: the gap topics since then, with their trend."""
    principal = await agent_principal(request)
    if not principal.is_admin:
        return json_error(403, "only an admin may do this")
    context = request.app[CONTEXT]
    async with context.read_sessions() as session:
        try:
            report = await read_gap_report(session, request.query.get("since"))
        except ValueError as exc:
            return json_error(422, str(exc))
    return web.json_response(report_json(report))
