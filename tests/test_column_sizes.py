"""The APIs' length limits and the OpenAPI document's maxLength follow the columns the
values are stored in: change a column's size and these fail until the limit follows."""

from __future__ import annotations

from typing import Any

import aiohttp

from config.settings import Settings
from router.agents.canned import CannedResponse
from router.core.ids import BIGINT_MAX
from router.http.openapi import openapi_document
from router.storage.column_sizes import (
    INTEGRATION_ID_MAX_LENGTH,
    LANGUAGE_COLUMNS,
    SENDER_NAME_COLUMNS,
    column_limit,
)
from router.storage.models import Agent, Identity, Message, Thread
from tests.conftest import AppFactory
from tests.console_support import integration_token


def _schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = openapi_document()["components"]["schemas"][name]
    return schema


def _max_lengths(schema: dict[str, Any]) -> set[int]:
    """Every maxLength in `schema` (its own, or its alternatives')."""
    found = {schema["maxLength"]} if "maxLength" in schema else set()
    for alternative in schema.get("anyOf", []):
        found |= _max_lengths(alternative)
    return found


def test_the_document_states_the_column_sizes() -> None:
    inbound = _schema("InboundMessageRequest")["properties"]
    customer = inbound["customer"]["properties"]
    assert _max_lengths(customer["name"]) == {column_limit(*SENDER_NAME_COLUMNS)}
    assert _max_lengths(inbound["language"]) == {column_limit(*LANGUAGE_COLUMNS)}
    assert _max_lengths(inbound["id"]) == {INTEGRATION_ID_MAX_LENGTH}
    assert _max_lengths(customer["external_id"]) == {INTEGRATION_ID_MAX_LENGTH}
    resolution = _schema("ResolveRequest")["properties"]["resolution"]
    assert _max_lengths(resolution) == {column_limit(Thread.resolution)}
    title = _schema("CannedRequest")["properties"]["title"]
    assert _max_lengths(title) == {column_limit(CannedResponse.title)}
    agent = _schema("TransferRequest")["properties"]["agent"]
    assert _max_lengths(agent) == {column_limit(Agent.email)}


def test_an_integration_id_fits_its_columns_behind_the_token_id() -> None:
    stored = len(f"{BIGINT_MAX}:") + INTEGRATION_ID_MAX_LENGTH
    assert stored <= column_limit(Message.external_id, Identity.address)


async def test_the_api_channel_refuses_exactly_what_the_columns_cannot_hold(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context = await start_app(settings)
    token = await integration_token(context)
    name_limit = column_limit(*SENDER_NAME_COLUMNS)
    language_limit = column_limit(*LANGUAGE_COLUMNS)

    async def post(n: int, **fields: Any) -> int:
        body = {"id": f"m-{n}", "customer": {"external_id": f"c-{n}"}, "text": "hello"}
        body.update(fields)
        async with aiohttp.ClientSession() as http:
            response = await http.post(
                client.make_url("/api/v1/inbound/messages"),
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
            return response.status

    assert await post(1, customer={"external_id": "c-1", "name": "n" * name_limit}) == 202
    assert await post(2, customer={"external_id": "c-2", "name": "n" * (name_limit + 1)}) == 400
    assert await post(3, language="x" * language_limit) == 202
    assert await post(4, language="x" * (language_limit + 1)) == 400
    assert await post(5, id="i" * INTEGRATION_ID_MAX_LENGTH) == 202
    assert await post(6, id="i" * (INTEGRATION_ID_MAX_LENGTH + 1)) == 400
