"""`GET /api/v1/reports/summary`: the KPI summary as JSON or CSV (docs/reports.md).

Admins see every figure; an agent sees the figures attributed to them.
"""

from __future__ import annotations

from aiohttp import web

from router.agents.queue import Actor
from router.http.agent_api import endpoint
from router.http.auth import agent_principal
from router.http.errors import json_error
from router.http.keys import CONTEXT
from router.service.reports.csv import summary_csv
from router.service.reports.summary import ReportError, as_json, parse_window, summary
from router.storage.engine import read_in_transaction

routes = web.RouteTableDef()

FORMATS = ("json", "csv")


@routes.get("/api/v1/reports/summary")
@endpoint
async def get_summary(request: web.Request) -> web.StreamResponse:
    principal = await agent_principal(request)
    assert principal.agent_id is not None  # agent_principal refuses tokens without one
    actor = Actor(principal.agent_id, principal.name, principal.tier, principal.is_admin)
    output = request.query.get("format", "json")
    if output not in FORMATS:
        return json_error(422, f"format must be one of {', '.join(FORMATS)}")
    app = request.app[CONTEXT]
    try:
        start, end = parse_window(request.query.get("from"), request.query.get("to"))
        async with app.read_sessions() as session:
            await read_in_transaction(session)  # the report's settings are for its transaction
            report = await summary(
                session, actor, start=start, end=end, group_by=request.query.get("group_by")
            )
    except ReportError as exc:
        return json_error(422, str(exc))
    if output == "csv":
        name = f"pasokh-report-{start:%Y%m%d}-{end:%Y%m%d}.csv"
        return web.Response(
            body=summary_csv(report).encode("utf-8"),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return web.json_response(as_json(report))
