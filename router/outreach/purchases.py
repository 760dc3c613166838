"""Purchases and the warranty reminders they schedule.

A purchase is keyed by its `order_id` among the purchases of whoever stored it (an
integration, or admins): posting or importing it again updates it (and moves its
reminder while that is still scheduled) and creates nothing new; another integration's
order of the same id is another purchase, never touched. The reminder goes `[outreach]
reminder_days_before` days before the warranty ends, at 10:00 in `[outreach]
timezone`, through the `[outreach] reminder_template`; deleting the purchase cancels
it. A warranty already over schedules nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from router.context import AppContext
from router.core.ids import parse_id
from router.core.integrations import integration_address
from router.core.messages import utcnow
from router.core.transaction import Effects, write
from router.identity.identities import get_identity, normalise_email
from router.identity.merge import current_customer_id
from router.outreach.ownership import may_reach, owned_by
from router.storage.models import Customer, OutreachMessage, OutreachStatus, Purchase

CSV_COLUMNS = ("order_id", "customer", "product", "purchased_on", "warranty_months")
CSV_EXTERNAL_ID = "external_id"  # optional, instead of customer: needs an integration
# How a purchase names its customer: the API field, and the kind of address it holds.
CUSTOMER_FIELDS = {"id": "id", "email": "mail", "phone": "phone"}
# An integration's customer: the api channel address, namespaced by integration.
EXTERNAL = "external"
PHONE_CHANNEL = "phone"  # the identities of shared phone numbers (InboundMessage.proven_addresses)
REMINDER_HOUR = time(10, 0)
MAX_ORDER_ID = 200
MAX_PRODUCT = 200
MAX_WARRANTY_MONTHS = 240


class PurchaseError(ValueError):
    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class PurchaseRecord:
    order_id: str
    customer: tuple[str, str]  # (kind, value): ("mail", "sara@example.com")
    product: str
    purchased_on: date
    warranty_months: int


def purchase_from_json(
    body: Mapping[str, Any], integration_id: int | None = None
) -> PurchaseRecord:
    """A purchase from `{"order_id", "customer": {"id"|"email"|"phone"|"external_id": ...},
    "product", "purchased_on": "YYYY-MM-DD", "warranty_months"}`. An `external_id` is the
    calling integration's (`integration_id`) own id of the customer.
    """
    unknown = sorted(set(body) - set(CSV_COLUMNS))
    if unknown:
        raise PurchaseError(f"unknown field: {unknown[0][:40]}")
    customer = body.get("customer")
    if not isinstance(customer, Mapping) or len(customer) != 1:
        raise PurchaseError(
            'customer: one of {"id": N}, {"email": ...}, {"phone": ...}, {"external_id": ...}'
        )
    field, value = next(iter(customer.items()))
    months = body.get("warranty_months")
    if isinstance(months, str):
        raise PurchaseError(f"warranty_months: a whole number from 1 to {MAX_WARRANTY_MONTHS}")
    return _record(
        body.get("order_id"),
        _customer_field(field, value, integration_id),
        body.get("product"),
        body.get("purchased_on"),
        months,
    )


def _customer_field(field: str, value: object, integration_id: int | None) -> tuple[str, str]:
    """(kind, value) of the JSON `customer` field; ("", "") when it cannot name one."""
    if field == "id":
        found = parse_id(value) if not isinstance(value, str) else None
        return ("id", str(found)) if found is not None else ("", "")
    if not isinstance(value, str):
        return ("", "")
    if field == "external_id":
        if integration_id is None:
            raise PurchaseError("customer.external_id: only with an integration token")
        if not value.strip():
            return ("", "")
        return (EXTERNAL, integration_address(integration_id, value))
    return (CUSTOMER_FIELDS.get(field, ""), value)


def _record(
    order_id: object,
    customer: tuple[str, str],
    product: object,
    purchased_on: object,
    warranty_months: object,
) -> PurchaseRecord:
    if not isinstance(order_id, str) or not 0 < len(order_id.strip()) <= MAX_ORDER_ID:
        raise PurchaseError(f"order_id: a text of 1-{MAX_ORDER_ID} characters is required")
    kind, value = customer
    if kind not in (*CUSTOMER_FIELDS.values(), EXTERNAL) or not value.strip():
        raise PurchaseError(
            f"customer: give the customer's {', '.join(CUSTOMER_FIELDS)} or external_id"
        )
    if not isinstance(product, str) or not 0 < len(product.strip()) <= MAX_PRODUCT:
        raise PurchaseError(f"product: a text of 1-{MAX_PRODUCT} characters is required")
    try:
        bought = date.fromisoformat(purchased_on) if isinstance(purchased_on, str) else None
    except ValueError:
        bought = None
    if bought is None:
        raise PurchaseError(f"purchased_on: {str(purchased_on)[:20]!r} is not a YYYY-MM-DD date")
    months = _whole_number(warranty_months)
    if months is None or not 0 < months <= MAX_WARRANTY_MONTHS:
        raise PurchaseError(f"warranty_months: a whole number from 1 to {MAX_WARRANTY_MONTHS}")
    if bought.year + (bought.month - 1 + months) // 12 > date.max.year:
        raise PurchaseError("purchased_on: the warranty would end after the year 9999")
    return PurchaseRecord(order_id.strip(), (kind, value.strip()), product.strip(), bought, months)


def _whole_number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value.strip())
    return None


@dataclass(frozen=True, slots=True)
class CsvRow:
    line: int
    record: PurchaseRecord | None
    error: str | None = None


def read_csv(text: str, integration_id: int | None = None) -> list[CsvRow]:
    """The purchases of a UTF-8 CSV with a header naming `CSV_COLUMNS` (any order; the
    `customer` column holds an email address, a phone number or `id:N`). An optional
    `external_id` column names the customer by integration `integration_id`'s own id
    instead (a row fills one of the two). A row that cannot be read is returned with
    its line number and why.

    Raises:
        PurchaseError: the header lacks a column.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = reader.fieldnames or []
    missing = [
        c
        for c in CSV_COLUMNS
        if c not in header and not (c == "customer" and CSV_EXTERNAL_ID in header)
    ]
    if missing:
        raise PurchaseError(f"line 1: the header lacks {', '.join(missing)}")
    rows: list[CsvRow] = []
    for fields in reader:
        line = reader.line_num
        try:
            record = _record(
                fields.get("order_id"),
                _csv_customer(fields, integration_id),
                fields.get("product"),
                (fields.get("purchased_on") or "").strip(),
                fields.get("warranty_months"),
            )
        except PurchaseError as exc:
            rows.append(CsvRow(line, None, str(exc)))
            continue
        rows.append(CsvRow(line, record))
    return rows


def _csv_customer(fields: Mapping[str, str | None], integration_id: int | None) -> tuple[str, str]:
    external = (fields.get(CSV_EXTERNAL_ID) or "").strip()
    cell = (fields.get("customer") or "").strip()
    if external and cell:
        raise PurchaseError("customer: give customer or external_id, not both")
    if not external:
        return _customer_cell(cell)
    if integration_id is None:
        raise PurchaseError("external_id: import with --integration NAME (whose ids they are)")
    return (EXTERNAL, integration_address(integration_id, external))


def _customer_cell(cell: str) -> tuple[str, str]:
    cell = cell.strip()
    if cell.startswith("id:"):
        return ("id", cell[3:])
    if "@" in cell:
        return ("mail", cell)
    return ("phone", cell)


def warranty_ends(purchased_on: date, months: int) -> date:
    """The day the warranty ends: the same day `months` later (the month's last day
    when that month is shorter)."""
    month_index = purchased_on.month - 1 + months
    year, month = purchased_on.year + month_index // 12, month_index % 12 + 1
    for day in range(purchased_on.day, 27, -1):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    return date(year, month, min(purchased_on.day, 28))


def reminder_at(app: AppContext, ends: date) -> datetime:
    settings = app.settings.outreach
    day = ends - timedelta(days=settings.reminder_days_before)
    return datetime.combine(day, REMINDER_HOUR, ZoneInfo(settings.timezone))


async def _customer_id(
    app: AppContext, session: AsyncSession, customer: tuple[str, str]
) -> int | None:
    kind, value = customer
    if kind == "id":
        found = parse_id(value)  # ASCII digits in the id column's range: «²» is not 2
        if found is None or await session.get(Customer, found) is None:
            return None
        return await current_customer_id(session, found)
    channel: str | None
    address: str | None
    if kind == EXTERNAL:
        channel, address = app.roles.integrations, value
    elif kind == "mail":
        channel, address = app.roles.mail, normalise_email(value)
    else:
        channel, address = PHONE_CHANNEL, value.replace(" ", "")
    if channel is None or address is None:
        return None
    identity = await get_identity(session, channel, address)
    return await current_customer_id(session, identity.customer_id) if identity else None


def _owned(integration_id: int | None, order_id: str) -> Select[Purchase]:
    """The purchase `order_id` of integration `integration_id` (None: of admins)."""
    return select(Purchase).where(
        Purchase.order_id == order_id, owned_by(Purchase.integration_id, integration_id)
    )


async def store_purchase(
    app: AppContext, record: PurchaseRecord, integration_id: int | None = None
) -> dict[str, Any]:
    """Create or update the purchase of integration `integration_id` (None: an admin's)
    and its reminder, in one transaction.

    Raises:
        PurchaseError: the customer is unknown (or, with `[outreach]
            integration_customers = "known"`, not one the integration knows).
    """

    async def work(session: AsyncSession, _: Effects) -> dict[str, Any]:
        customer_id = await _customer_id(app, session, record.customer)
        if customer_id is None or not await may_reach(app, session, integration_id, customer_id):
            raise PurchaseError(f"customer {record.customer[1][:80]!r} is unknown", 404)
        purchase = await session.scalar(_owned(integration_id, record.order_id).with_for_update())
        created = purchase is None
        now = utcnow()
        if purchase is None:
            purchase = Purchase(
                order_id=record.order_id, integration_id=integration_id, created_at=now
            )
            session.add(purchase)
        changed = created or (
            purchase.customer_id,
            purchase.product,
            purchase.purchased_on,
            purchase.warranty_months,
        ) != (customer_id, record.product, record.purchased_on, record.warranty_months)
        if changed:
            purchase.customer_id = customer_id
            purchase.product = record.product
            purchase.purchased_on = record.purchased_on
            purchase.warranty_months = record.warranty_months
            purchase.updated_at = now
            await session.flush()
            await _schedule_reminder(app, session, purchase, now)
        return {
            "order_id": purchase.order_id,
            "customer_id": customer_id,
            "created": created,
            "changed": changed,
            "reminder_id": purchase.reminder_id,
            "warranty_ends": warranty_ends(
                purchase.purchased_on, purchase.warranty_months
            ).isoformat(),
        }

    return await write(app, work, retry_duplicates=True)


async def _schedule_reminder(
    app: AppContext, session: AsyncSession, purchase: Purchase, now: datetime
) -> None:
    """Move the purchase's scheduled reminder, or schedule one; a warranty already over
    cancels it."""
    ends = warranty_ends(purchase.purchased_on, purchase.warranty_months)
    reminder = (
        await session.get(OutreachMessage, purchase.reminder_id, with_for_update=True)
        if purchase.reminder_id
        else None
    )
    if reminder is not None and reminder.status != OutreachStatus.SCHEDULED:
        reminder = None  # sent or skipped: it stays as it was; a new one is due
    if ends <= now.date():
        if reminder is not None:
            reminder.status, reminder.reason, reminder.finished_at = (
                OutreachStatus.CANCELLED,
                "warranty_over",
                now,
            )
        return
    send_at = max(reminder_at(app, ends), now)
    params = {
        "product": purchase.product,
        "expires_on": ends.isoformat(),
        "purchased_on": purchase.purchased_on.isoformat(),
        "order_id": purchase.order_id,
    }
    key = f"purchase:{purchase.order_id}:{ends.isoformat()}"
    if reminder is None:
        reminder = await session.scalar(
            select(OutreachMessage).where(
                OutreachMessage.idempotency_key == key,
                owned_by(OutreachMessage.integration_id, purchase.integration_id),
            )
        )
        if reminder is not None and reminder.status != OutreachStatus.SCHEDULED:
            purchase.reminder_id = reminder.id  # this warranty's reminder already went
            return
    if reminder is None:
        reminder = OutreachMessage(
            idempotency_key=key,
            integration_id=purchase.integration_id,
            template=app.settings.outreach.reminder_template,
            status=OutreachStatus.SCHEDULED,
            created_at=now,
        )
        session.add(reminder)
    reminder.customer_id = purchase.customer_id
    reminder.params = params
    reminder.send_at = send_at
    await session.flush()
    purchase.reminder_id = reminder.id


async def delete_purchase(
    app: AppContext, order_id: str, integration_id: int | None = None
) -> bool:
    """Forget integration `integration_id`'s purchase (None: an admin's); a reminder not
    yet sent is cancelled. False when it has none of that order id."""

    async def work(session: AsyncSession, _: Effects) -> bool:
        purchase = await session.scalar(_owned(integration_id, order_id).with_for_update())
        if purchase is None:
            return False
        if purchase.reminder_id is not None:
            reminder = await session.get(
                OutreachMessage, purchase.reminder_id, with_for_update=True
            )
            if reminder is not None and reminder.status == OutreachStatus.SCHEDULED:
                reminder.status = OutreachStatus.CANCELLED
                reminder.reason = "purchase_deleted"
                reminder.finished_at = utcnow()
        await session.delete(purchase)
        return True

    return await write(app, work)


@dataclass(frozen=True, slots=True)
class ImportReport:
    created: int
    updated: int
    unchanged: int
    errors: tuple[tuple[int, str], ...]  # (line, why)


async def import_csv(app: AppContext, text: str, integration_id: int | None = None) -> ImportReport:
    """Store every good row of a purchases CSV; name each bad one by its line. The
    purchases are integration `integration_id`'s (None: admins'), and `external_id`
    cells are its customer ids."""
    created = updated = unchanged = 0
    errors: list[tuple[int, str]] = []
    for row in read_csv(text, integration_id):
        if row.record is None:
            errors.append((row.line, row.error or "unreadable"))
            continue
        try:
            result = await store_purchase(app, row.record, integration_id)
        except PurchaseError as exc:
            errors.append((row.line, str(exc)))
            continue
        if result["created"]:
            created += 1
        elif result["changed"]:
            updated += 1
        else:
            unchanged += 1
    return ImportReport(created, updated, unchanged, tuple(errors))
