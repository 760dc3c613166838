"""A NUL in a URL's path or query (`%00`) is refused with 400 before any handler: on
PostgreSQL it reached the queries of every route that looked the value up (an entry id,
an order id, a calendar name, a filter) and failed them, a 500 with a traceback."""

from __future__ import annotations

from config.settings import Settings
from router.http.openapi import URL_REFUSED, openapi_document
from tests.agent_support import make_agent
from tests.conftest import AppFactory
from tests.console_support import integration_token

# Each of these answered 500 on PostgreSQL.
AS_ADMIN = [
    ("GET", "/api/v1/knowledge/entries/%00/history"),
    ("GET", "/api/v1/knowledge/entries/a%00b"),
    ("DELETE", "/api/v1/knowledge/entries/%00?version=1"),
    ("GET", "/api/v1/calendars/a%00"),
    ("GET", "/api/v1/sla-policies/a%00"),
    ("DELETE", "/api/v1/customers/1/tags/a%00"),
]
AS_INTEGRATION = [
    ("DELETE", "/api/v1/purchases/a%00b"),
    ("GET", "/api/v1/outbound/messages?template=a%00"),
    ("GET", "/api/v1/inbound/customers/a%00/messages"),
]


async def test_a_nul_in_the_url_is_a_400_on_every_route(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context = await start_app(settings)
    admin = await make_agent(context, "Boss", is_admin=True)
    integration = {"Authorization": f"Bearer {await integration_token(context)}"}
    calls = [(m, p, admin.headers) for m, p in AS_ADMIN]
    calls += [(m, p, integration) for m, p in AS_INTEGRATION]
    for method, path, headers in calls:
        response = await client.request(method, path, headers=headers)
        assert response.status == 400, (method, path, await response.text())
        body = await response.json()
        assert "NUL" in body["error"]["message"]
    # The same routes without the NUL are answered by their handlers.
    response = await client.get("/api/v1/calendars/a", headers=admin.headers)
    assert response.status == 404
    refused = context.metrics.registry.get_sample_value(
        "pasokh_rejected_input_total", {"channel": "http", "reason": "unstorable_url"}
    )
    assert refused == len(calls)


def test_the_api_document_names_that_400_on_every_operation() -> None:
    document = openapi_document()
    operations = [
        (template, method, operation)
        for template, item in document["paths"].items()
        for method, operation in item.items()
    ]
    assert operations
    for template, method, operation in operations:
        description = operation["responses"]["400"]["description"]
        assert URL_REFUSED in description, (method, template)
