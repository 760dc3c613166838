"""What one integration token may do through the outreach API: its own purchases and
messages only, never another integration's; templates are read, not written; with
`[outreach] integration_customers = "known"` only its own customers are reachable; and
`pasokh integration revoke` ends a token for the very next request."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import Settings
from router.core.responder import QueueEveryThread
from router.core.security import new_token, token_hash
from router.storage.models import ApiToken, Identity, OutreachMessage, Purchase
from tests.agent_support import AgentUser, api, make_agent
from tests.conftest import AppFactory
from tests.outreach_support import WARRANTY, put_warranty_template
from tests.support import FakeAdapter

QUIET = {"quiet_hours": "", "scheduler_interval_seconds": 60}
MESSAGES = "/api/v1/outbound/messages"
PURCHASES = "/api/v1/purchases"


class Integration:
    """An integration token, as `pasokh integration add NAME` makes one."""

    def __init__(self, token: str) -> None:
        self.headers = {"Authorization": f"Bearer {token}"}


async def add_integration(context: Any, name: str) -> Integration:
    token = new_token("pk_int")
    async with context.sessions() as session, session.begin():
        session.add(ApiToken(kind="integration", name=name, token_hash=token_hash(token)))
    return Integration(token)


async def call(
    client: Any, method: str, path: str, who: Integration | AgentUser, body: Any = None
) -> tuple[int, Any]:
    return await api(client, method, path, headers=who.headers, json=body)


async def started(
    start_app: AppFactory, settings: Settings, **outreach: Any
) -> tuple[Any, Any, FakeAdapter, AgentUser]:
    email = FakeAdapter(name="email")
    client, context = await start_app(
        settings.replace("outreach", **QUIET, **outreach),
        adapters=[email],
        responder=QueueEveryThread(),
    )
    admin = await make_agent(context, "Boss", is_admin=True)
    await put_warranty_template(client, admin)
    return client, context, email, admin


def purchase(order_id: str, email: str, months: int = 12) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer": {"email": email},
        "product": "Galaxy S24",
        "purchased_on": (date.today() - timedelta(days=10)).isoformat(),
        "warranty_months": months,
    }


def message(key: str, **whom: Any) -> dict[str, Any]:
    return {
        "template": "warranty_reminder",
        "params": {"product": "x", "expires_on": "2030-01-01"},
        "send_at": "2030-01-01T10:00:00+00:00",
        "idempotency_key": key,
        **(whom or {"identity": {"channel": "email", "address": "sara@example.ir"}}),
    }


async def purchases(context: Any) -> list[tuple[str, int | None, int]]:
    async with context.read_sessions() as session:
        rows = await session.scalars(select(Purchase).order_by(Purchase.id))
        return [(p.order_id, p.integration_id, p.warranty_months) for p in rows]


async def test_integrations_neither_change_nor_delete_each_others_purchases(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, email, admin = await started(start_app, settings)
    await email.push("hi", sender="sara@example.ir")
    await email.push("hi", sender="ali@example.ir")
    shop_a, shop_b = await add_integration(context, "a"), await add_integration(context, "b")

    status, stored = await call(
        client, "POST", PURCHASES, shop_b, purchase("B-1", "ali@example.ir")
    )
    assert status == 201, stored
    # The same order id from A is A's own order: B's is not overwritten.
    status, body = await call(
        client, "POST", PURCHASES, shop_a, purchase("B-1", "sara@example.ir", 24)
    )
    assert status == 201 and body["created"] is True, body
    status, body = await call(client, "DELETE", f"{PURCHASES}/B-1", shop_a)
    assert status == 204
    assert (await call(client, "DELETE", f"{PURCHASES}/B-1", shop_a))[0] == 404
    b_id = await _token_id(context, "b")
    assert await purchases(context) == [("B-1", b_id, 12)]
    async with context.read_sessions() as session:
        reminder = await session.get(OutreachMessage, stored["reminder_id"])
    assert reminder is not None and reminder.status == "scheduled"
    assert reminder.integration_id == b_id
    # An admin's orders are theirs: the same id again is a third purchase.
    status, body = await call(client, "POST", PURCHASES, admin, purchase("B-1", "ali@example.ir"))
    assert status == 201, body
    status, body = await call(client, "POST", PURCHASES, shop_b, purchase("B-1", "ali@example.ir"))
    assert status == 200 and body["changed"] is False, body
    # An admin stops another owner's order by naming it (a revoked shop's reminders).
    status, _ = await call(client, "DELETE", f"{PURCHASES}/B-1?integration={b_id}", admin)
    assert status == 204
    async with context.read_sessions() as session:
        reminder = await session.get(OutreachMessage, stored["reminder_id"])
    assert reminder is not None and reminder.status == "cancelled"
    assert [p[1] for p in await purchases(context)] == [None]


async def test_an_integration_lists_and_reads_only_its_own_messages(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, email, admin = await started(start_app, settings)
    await email.push("hi", sender="sara@example.ir")
    shop_a, shop_b = await add_integration(context, "a"), await add_integration(context, "b")
    status, a_row = await call(client, "POST", MESSAGES, shop_a, message("k-1"))
    assert status == 202, a_row
    # B's request with the same key is B's own message, not an answer with A's.
    status, b_row = await call(client, "POST", MESSAGES, shop_b, message("k-1"))
    assert status == 202 and b_row["id"] != a_row["id"], b_row

    status, listed = await call(client, "GET", MESSAGES, shop_b)
    assert status == 200 and [m["id"] for m in listed["messages"]] == [b_row["id"]]
    assert [c["counts"] for c in listed["counts"]] == [{"scheduled": 1}]
    assert (await call(client, "GET", f"{MESSAGES}/{a_row['id']}", shop_b))[0] == 404
    assert (await call(client, "GET", f"{MESSAGES}/{b_row['id']}", shop_b))[0] == 200
    status, everything = await call(client, "GET", MESSAGES, admin)
    assert {m["id"] for m in everything["messages"]} == {a_row["id"], b_row["id"]}
    assert (await call(client, "GET", f"{MESSAGES}/{a_row['id']}", admin))[0] == 200


async def test_only_admins_write_templates(settings: Settings, start_app: AppFactory) -> None:
    client, context, _, admin = await started(start_app, settings)
    shop = await add_integration(context, "a")
    phishing = {"texts": {"en": {"body": "Your account is locked: http://evil.test/ {product}"}}}
    status, body = await call(client, "PUT", "/api/v1/templates/warranty_reminder", shop, phishing)
    assert status == 401, body  # as on every admin-only endpoint: not an agent's token
    status, body = await call(client, "GET", "/api/v1/templates/warranty_reminder", shop)
    assert status == 200 and body["texts"] == WARRANTY["texts"]
    assert (await call(client, "GET", "/api/v1/templates", shop))[0] == 200
    status, _ = await call(client, "PUT", "/api/v1/templates/other", admin, phishing)
    assert status == 200


async def test_an_integration_limited_to_known_customers_reaches_only_its_own(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, email, admin = await started(
        start_app, settings, integration_customers="known"
    )
    await email.push("hi", sender="sara@example.ir")
    shop = await add_integration(context, "a")
    posted = await client.post(
        "/api/v1/inbound/messages",
        json={"id": "m-1", "customer": {"external_id": "c-1"}, "text": "hello"},
        headers=shop.headers,
    )
    assert posted.status == 202
    own = (await posted.json())["customer_id"]
    sara = await _customer_of(context, "sara@example.ir")

    answers = [
        await call(client, "POST", MESSAGES, shop, message("k-1")),
        await call(client, "POST", MESSAGES, shop, message("k-2", customer_id=sara)),
        await call(
            client,
            "POST",
            MESSAGES,
            shop,
            message("k-3", identity={"channel": "email", "address": "nobody@example.ir"}),
        ),
        await call(client, "POST", MESSAGES, shop, message("k-4", customer_id=sara + 1000)),
    ]
    # A customer it does not know and nobody at all get the same answer.
    assert {(status, body["error"]["message"]) for status, body in answers} == {
        (404, "no customer with that id or identity")
    }, answers
    status, body = await call(client, "POST", PURCHASES, shop, purchase("A-1", "sara@example.ir"))
    assert status == 404 and "unknown" in body["error"]["message"], body

    status, body = await call(client, "POST", MESSAGES, shop, message("k-5", customer_id=own))
    assert status == 202, body
    status, body = await call(client, "POST", MESSAGES, admin, message("k-6", customer_id=sara))
    assert status == 202, body


async def test_by_default_an_integration_reaches_any_customer(
    settings: Settings, start_app: AppFactory
) -> None:
    # The documented power of the token (docs/security.md): any customer, by any identity.
    client, context, email, _ = await started(start_app, settings)
    await email.push("hi", sender="sara@example.ir")
    shop = await add_integration(context, "a")
    assert (await call(client, "POST", MESSAGES, shop, message("k-1")))[0] == 202


@pytest.mark.slow
async def test_a_revoked_integration_is_refused_from_the_next_request(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, _, _ = await started(start_app, settings)
    cli = ("--data-dir", str(settings.data_dir))
    shop = Integration((await _pasokh(settings, "integration", "add", "shop", *cli)).strip())
    crm = await add_integration(context, "crm")
    assert (await call(client, "GET", MESSAGES, shop))[0] == 200

    assert "revoked 1 token of shop" in await _pasokh(
        settings, "integration", "revoke", "shop", *cli
    )
    # The same client, the same kept-alive connection: refused at once; others go on.
    assert (await call(client, "GET", MESSAGES, shop))[0] == 401
    assert (await call(client, "POST", MESSAGES, shop, message("k-1")))[0] == 401
    assert (await call(client, "GET", MESSAGES, crm))[0] == 200
    listed = (await _pasokh(settings, "integration", "list", *cli)).splitlines()
    assert [line.split("\t")[1] for line in listed] == ["shop", "crm"], listed
    assert "\trevoked " in listed[0] and listed[1].endswith("\tactive"), listed
    again = await _pasokh(settings, "integration", "revoke", "shop", *cli, expect=1)
    assert "no active integration named 'shop'" in again


async def _pasokh(settings: Settings, *args: str, expect: int = 0) -> str:
    """Run `pasokh ARGS` on the test's database; its stdout (stderr when failing)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "router.cli",
        *args,
        env={**os.environ, "PASOKH_DATABASE__URL": settings.database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == expect, err.decode()
    return (out if expect == 0 else err).decode()


async def _token_id(context: Any, name: str) -> int:
    async with context.read_sessions() as session:
        found = await session.scalar(select(ApiToken.id).where(ApiToken.name == name))
    assert found is not None
    return int(found)


async def _customer_of(context: Any, address: str) -> int:
    async with context.read_sessions() as session:
        found = await session.scalar(
            select(Identity.customer_id).where(Identity.address == address)
        )
    assert found is not None
    return int(found)
