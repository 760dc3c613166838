"""Purchases: the API and `pasokh import purchases FILE.csv` schedule one warranty
reminder per order; an update moves it, a delete cancels it, a re-import adds nothing."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

from sqlalchemy import select

from config.settings import Settings
from router.cli import main
from router.core.responder import QueueEveryThread
from router.outreach.purchases import warranty_ends
from router.storage.models import OutreachMessage, Purchase
from tests.agent_support import api, count_rows, make_agent
from tests.conftest import AppFactory
from tests.console_support import integration_token
from tests.support import FakeAdapter

QUIET = {"quiet_hours": "", "scheduler_interval_seconds": 60, "reminder_days_before": 30}


async def started(start_app: AppFactory, settings: Settings) -> Any:
    email, web = FakeAdapter(name="email"), FakeAdapter(name="web")
    client, context = await start_app(
        settings.replace("outreach", **QUIET), adapters=[email, web], responder=QueueEveryThread()
    )
    admin = await make_agent(context, "Boss", is_admin=True)
    return client, context, email, admin


def in_days(days: int) -> str:
    return (date.today() + timedelta(days=days)).isoformat()


def test_a_warranty_ends_the_same_day_months_later() -> None:
    assert warranty_ends(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert warranty_ends(date(2026, 3, 15), 12) == date(2027, 3, 15)
    assert warranty_ends(date(2026, 11, 30), 3) == date(2027, 2, 28)


async def test_a_purchase_schedules_moves_and_cancels_its_reminder(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, email, admin = await started(start_app, settings)
    await email.push("hi", sender="sara@example.ir", language="fa")
    purchase = {
        "order_id": "A-100",
        "customer": {"email": "Sara@Example.ir"},
        "product": "Galaxy S24",
        "purchased_on": "2026-06-01",
        "warranty_months": 12,
    }
    status, body = await api(client, "POST", "/api/v1/purchases", admin, json=purchase)
    assert status == 201 and body["warranty_ends"] == "2027-06-01", body
    reminder = await _reminder(context, "A-100")
    assert reminder.status == "scheduled" and reminder.template == "warranty_reminder"
    assert reminder.send_at == datetime(2027, 5, 2, 6, 30, tzinfo=UTC)  # 10:00 in Tehran
    assert reminder.params["expires_on"] == "2027-06-01"

    status, body = await api(client, "POST", "/api/v1/purchases", admin, json=purchase)
    assert status == 200 and body["changed"] is False
    longer = purchase | {"warranty_months": 24}
    status, body = await api(client, "POST", "/api/v1/purchases", admin, json=longer)
    assert status == 200 and body["changed"] is True
    moved = await _reminder(context, "A-100")
    assert moved.id == reminder.id and moved.params["expires_on"] == "2028-06-01"
    assert await count_rows(context, OutreachMessage) == 1

    unknown = purchase | {"order_id": "A-101", "customer": {"email": "nobody@example.com"}}
    status, body = await api(client, "POST", "/api/v1/purchases", admin, json=unknown)
    assert status == 404 and "unknown" in body["error"]["message"]
    bad = purchase | {"purchased_on": "1405-01-01x"}
    assert (await api(client, "POST", "/api/v1/purchases", admin, json=bad))[0] == 422

    response = await client.delete("/api/v1/purchases/A-100", headers=admin.headers)
    assert response.status == 204
    async with context.read_sessions() as session:
        row = await session.get(OutreachMessage, reminder.id)
        assert row is not None and (row.status, row.reason) == ("cancelled", "purchase_deleted")
    assert await count_rows(context, Purchase) == 0


async def _reminder(context: Any, order_id: str) -> OutreachMessage:
    async with context.read_sessions() as session:
        purchase = await session.scalar(select(Purchase).where(Purchase.order_id == order_id))
        assert purchase is not None and purchase.reminder_id is not None
        row = await session.get(OutreachMessage, purchase.reminder_id)
        assert row is not None
        return row


@dataclass(frozen=True)
class CliRun:
    """What `pasokh` ended with and wrote."""

    returncode: int
    stdout: str
    stderr: str


def _pasokh_in_this_process(argv: list[str], env: dict[str, str]) -> CliRun:
    """`pasokh ARGV` through `router.cli.main`, as its console script runs it, without the
    seconds a new interpreter takes to import it. The environment variables `env` and the
    umask the command sets last as long as the call."""
    stdout, stderr = io.StringIO(), io.StringIO()
    umask = os.umask(0o022)
    os.umask(umask)
    try:
        with (
            mock.patch.dict(os.environ, env),
            contextlib.redirect_stdout(stdout),
            contextlib.redirect_stderr(stderr),
        ):
            try:
                main(argv)
                code = 0
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 1
    finally:
        os.umask(umask)
    return CliRun(code, stdout.getvalue(), stderr.getvalue())


async def _import(path: Path, data_dir: Path, database_url: str, *options: str) -> CliRun:
    """`pasokh import purchases` on a thread: this loop keeps serving (the app may hold
    SQLite's lock)."""
    env = {
        "PASOKH_DATABASE__URL": database_url,
        "PASOKH_DATA_DIR": str(data_dir),
        "PASOKH_SERVER__SECRET_KEY": "k" * 40,
    }
    argv = ["import", "purchases", str(path), *options]
    return await asyncio.to_thread(_pasokh_in_this_process, argv, env)


async def test_csv_import_keeps_good_rows_names_bad_ones_and_adds_nothing_twice(
    settings: Settings, start_app: AppFactory, tmp_path: Path
) -> None:
    _, context, email, _ = await started(start_app, settings)
    await email.push("hi", sender="sara@example.ir", language="fa")
    await email.push("hi", sender="ali@example.ir", language="fa")
    csv_path = tmp_path / "purchases.csv"
    csv_path.write_text(
        "order_id,customer,product,purchased_on,warranty_months\n"
        f"B-1,sara@example.ir,گوشی گلکسی,{in_days(-300)},12\n"
        f"B-2,ali@example.ir,Laptop,{in_days(-10)},24\n"
        "B-3,sara@example.ir,Tablet,2026-13-40,12\n"
        f"B-4,stranger@example.com,Phone,{in_days(-5)},12\n"
        # an id past any column, a digit that is not ASCII, a warranty past year 9999
        f"B-5,id:99999999999999999999999,Phone,{in_days(-5)},12\n"
        f"B-6,id:²,Phone,{in_days(-5)},12\n"
        "B-7,sara@example.ir,Phone,9999-06-01,12\n"
        f"B-8,ali@example.ir,Charger,{in_days(-1)},6\n",
        encoding="utf-8",
    )
    first = await _import(csv_path, tmp_path / "cli", context.settings.database_url)
    assert first.returncode == 1, first.stderr
    assert "Traceback" not in first.stderr
    assert f"{csv_path}:4: purchased_on" in first.stderr
    assert f"{csv_path}:5: customer 'stranger@example.com' is unknown" in first.stderr
    assert f"{csv_path}:6: customer '99999999999999999999999' is unknown" in first.stderr
    assert f"{csv_path}:7: customer '²' is unknown" in first.stderr
    assert f"{csv_path}:8: purchased_on: the warranty would end after the year 9999" in (
        first.stderr
    )
    # the rows after the bad ones are stored too
    assert "3 created, 0 updated, 0 unchanged, 5 refused" in first.stdout
    assert await count_rows(context, Purchase) == 3
    assert await count_rows(context, OutreachMessage) == 3

    again = await _import(csv_path, tmp_path / "cli", context.settings.database_url)
    assert "0 created, 0 updated, 3 unchanged, 5 refused" in again.stdout, again.stdout
    assert await count_rows(context, Purchase) == 3
    assert await count_rows(context, OutreachMessage) == 3


async def test_an_integration_names_the_customer_by_its_own_external_id(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context = await start_app(
        settings.replace("outreach", **QUIET), responder=QueueEveryThread()
    )
    shop, other = await integration_token(context), await integration_token(context)
    message = {"id": "m-1", "customer": {"external_id": "cust-9"}, "text": "سلام"}
    posted = await client.post(
        "/api/v1/inbound/messages", json=message, headers={"Authorization": f"Bearer {shop}"}
    )
    assert posted.status == 202
    customer_id = (await posted.json())["customer_id"]
    purchase = {
        "order_id": "E-1",
        "customer": {"external_id": "cust-9"},
        "product": "Galaxy S24",
        "purchased_on": in_days(-10),
        "warranty_months": 12,
    }
    status, body = await api(
        client,
        "POST",
        "/api/v1/purchases",
        json=purchase,
        headers={"Authorization": f"Bearer {shop}"},
    )
    assert status == 201 and body["customer_id"] == customer_id, body
    # Another integration's "cust-9" is another customer (here: none).
    status, body = await api(
        client,
        "POST",
        "/api/v1/purchases",
        json=purchase,
        headers={"Authorization": f"Bearer {other}"},
    )
    assert status == 404, body
    # A warranty that would end after the year 9999: named, not a 500.
    late = {**purchase, "order_id": "E-2", "purchased_on": "9999-12-01", "warranty_months": 240}
    status, body = await api(
        client, "POST", "/api/v1/purchases", json=late, headers={"Authorization": f"Bearer {shop}"}
    )
    assert status == 422 and "9999" in body["error"]["message"], body
    # An admin has no namespace of external ids.
    admin = await make_agent(context, "Boss", is_admin=True)
    status, body = await api(client, "POST", "/api/v1/purchases", admin, json=purchase)
    assert status == 422 and "external_id" in body["error"]["message"]


async def test_csv_import_names_customers_by_an_integrations_external_ids(
    settings: Settings, start_app: AppFactory, tmp_path: Path
) -> None:
    client, context = await start_app(
        settings.replace("outreach", **QUIET), responder=QueueEveryThread()
    )
    crm = await integration_token(context)  # the integration named "crm"
    message = {"id": "m-1", "customer": {"external_id": "cust-9"}, "text": "سلام"}
    posted = await client.post(
        "/api/v1/inbound/messages", json=message, headers={"Authorization": f"Bearer {crm}"}
    )
    assert posted.status == 202
    customer_id = (await posted.json())["customer_id"]
    csv_path = tmp_path / "purchases.csv"
    csv_path.write_text(
        "order_id,external_id,product,purchased_on,warranty_months\n"
        f"C-1,cust-9,گوشی گلکسی,{in_days(-10)},12\n"
        f"C-2,cust-404,Laptop,{in_days(-10)},12\n",
        encoding="utf-8",
    )
    without = await _import(csv_path, tmp_path / "cli", context.settings.database_url)
    assert f"{csv_path}:2: external_id: import with --integration NAME" in without.stderr
    assert await count_rows(context, Purchase) == 0

    done = await _import(
        csv_path, tmp_path / "cli", context.settings.database_url, "--integration", "crm"
    )
    assert "1 created, 0 updated, 0 unchanged, 1 refused" in done.stdout, done.stderr
    assert f"{csv_path}:3: customer" in done.stderr
    async with context.read_sessions() as session:
        purchase = await session.scalar(select(Purchase).where(Purchase.order_id == "C-1"))
    assert purchase is not None and purchase.customer_id == customer_id

    unknown = await _import(
        csv_path, tmp_path / "cli", context.settings.database_url, "--integration", "shop"
    )
    assert unknown.returncode != 0 and "--integration shop: no such integration" in unknown.stderr
