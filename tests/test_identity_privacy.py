"""Export returns everything stored for a customer; erasure leaves none of their text
or files behind (a file another customer also sent stays), only a tombstone."""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from config.settings import Settings
from router.core.messages import utcnow
from router.core.transaction import Effects, write
from router.identity.merge import merge_customers
from router.storage.models import (
    AuditEvent,
    Customer,
    CustomerNote,
    CustomerTag,
    Identity,
    KnowledgeGapRecord,
    Message,
    OutboxItem,
    OutreachMessage,
    OutreachOptOut,
    Purchase,
    Thread,
)
from tests.agent_support import api, make_agent
from tests.support import FakeAdapter

SECRET = "شماره کارت من ۶۰۳۷ است"
PRIVATE_FILE = b"%PDF-1.4 private invoice of Ali"
SHARED_FILE = b"\x89PNG\r\n\x1a\n the shop's own size chart"


async def test_export_then_erase(settings: Settings, start_app: Any) -> None:
    web, mail = FakeAdapter(name="web"), FakeAdapter(name="mail")
    client, context = await start_app(
        settings.replace("email", enabled=False).replace("webchat", enabled=False),
        adapters=[web, mail],
    )
    store = context.attachment_store
    private = await store.put(PRIVATE_FILE, filename="invoice.pdf", content_type="application/pdf")
    shared = await store.put(SHARED_FILE, filename="chart.png", content_type="image/png")
    admin = await make_agent(context, "Boss", is_admin=True)
    agent = await make_agent(context, "Sara")

    first = await web.push(SECRET, sender="visitor-ali", sender_name="Ali", attachments=(private,))
    other = await mail.push("ali by mail", sender="ali@example.ir", attachments=(shared,))

    async def merge_and_record(session: AsyncSession, _: Effects) -> None:
        await merge_customers(
            context,
            session,
            first.customer_id,
            other.customer_id,
            actor_kind="system",
            actor_id=None,
            reason="test",
        )
        session.add(KnowledgeGapRecord(thread_id=first.thread_id, text=SECRET))
        # what agents and integrations keep about them, on the customer row itself
        for customer_id in (first.customer_id, other.customer_id):
            session.add(CustomerNote(customer_id=customer_id, text=f"note: {SECRET}"))
            session.add(CustomerTag(customer_id=customer_id, tag="vip"))
        reminder = OutreachMessage(
            idempotency_key="ord-6037",
            customer_id=first.customer_id,
            template="warranty_reminder",
            params={"product": "Galaxy", "order": "6037"},
            send_at=utcnow(),
        )
        session.add(reminder)
        await session.flush()
        session.add(
            Purchase(
                order_id="ord-6037",
                customer_id=other.customer_id,
                product="Galaxy S24",
                purchased_on=utcnow().date(),
                warranty_months=12,
                reminder_id=reminder.id,
            )
        )
        session.add(OutreachOptOut(customer_id=other.customer_id, via="web"))
        # what the audit trail holds about their addresses: a bounce on their thread,
        # and a sign-in attempt under their address (no customer named)
        session.add(
            AuditEvent(
                actor_kind="system",
                action="delivery_failed",
                thread_id=other.thread_id,
                customer_id=other.customer_id,
                details={"channel": "mail", "address": "ali@example.ir", "reason": "550"},
            )
        )
        session.add(
            AuditEvent(
                actor_kind="system",
                action="sign_in_failed",
                details={"email": "ALI@example.ir", "reason": "unknown"},
            )
        )

    # The outbox worker is delivering the bot's replies meanwhile: the merge runs as
    # every write does, through `write`.
    await write(context, merge_and_record)
    customer = min(first.customer_id, other.customer_id)
    bystander = await web.push("the size chart please", sender="visitor-zz", attachments=(shared,))

    path = f"/api/v1/customers/{customer}"
    assert (await api(client, "GET", f"{path}/export", agent))[0] == 403
    assert (await api(client, "DELETE", path, agent))[0] == 403

    status, export = await api(client, "GET", f"{path}/export", admin)
    assert status == 200, export
    assert export["customer"]["id"] == customer
    assert {i["address"] for i in export["identities"]} == {"visitor-ali", "ali@example.ir"}
    texts = [m["text"] for t in export["threads"] for m in t["messages"]]
    assert SECRET in texts and "ali by mail" in texts
    assert "the size chart please" not in texts  # somebody else's
    files = {a["sha256"]: a for a in export["attachments"]}
    assert base64.b64decode(files[private.sha256]["content_base64"]) == PRIVATE_FILE
    assert base64.b64decode(files[shared.sha256]["content_base64"]) == SHARED_FILE
    assert SECRET in [g["text"] for g in export["knowledge_gaps"]]
    assert [n["text"] for n in export["customer_notes"]] == [f"note: {SECRET}"] * 2
    assert [t["tag"] for t in export["customer_tags"]] == ["vip", "vip"]
    assert [p["order_id"] for p in export["purchases"]] == ["ord-6037"]
    assert [o["params"] for o in export["outreach_messages"]] == [
        {"product": "Galaxy", "order": "6037"}
    ]
    assert [o["via"] for o in export["outreach_opt_outs"]] == ["web"]
    assert "customers_merged" in [e["action"] for e in export["audit"]]
    assert [c["id"] for c in export["merged_customers"]] == [
        max(first.customer_id, other.customer_id)
    ]
    gone = max(first.customer_id, other.customer_id)
    status, body = await api(client, "GET", f"/api/v1/customers/{gone}/export", admin)
    assert status == 409 and body["error"]["merged_into"] == customer

    status, body = await api(client, "DELETE", path, admin)
    assert status == 200, body
    assert body["erased"]["messages"] >= 2 and body["erased"]["attachment_files"] == 1

    async with context.sessions() as session:
        leftovers = await session.scalar(
            select(func.count()).where(
                or_(
                    Message.text.contains("۶۰۳۷"),
                    Message.text.contains("ali by mail"),
                    cast(Message.attachments, String).contains(private.sha256),
                )
            )
        )
        assert leftovers == 0
        assert await session.scalar(select(func.count()).select_from(KnowledgeGapRecord)) == 0
        for model in (CustomerNote, CustomerTag, Purchase, OutreachMessage, OutreachOptOut):
            assert await session.scalar(select(func.count()).select_from(model)) == 0, model
        assert (
            await session.scalar(
                select(func.count()).where(Identity.customer_id.in_([customer, gone]))
            )
            == 0
        )
        assert await session.scalar(select(func.count()).where(Thread.customer_id == customer)) == 0
        assert (
            await session.scalar(select(func.count()).where(OutboxItem.address == "visitor-ali"))
            == 0
        )
        tombstone = await session.get_one(Customer, customer)
        assert tombstone.erased_at is not None and tombstone.name is None
        audit = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "customer_erased")
        )
        assert audit is not None and audit.actor_id == admin.id and audit.customer_id == customer
        # no audit event keeps their addresses
        trail = " ".join(
            str(details).lower() for details in await session.scalars(select(AuditEvent.details))
        )
        assert "ali@example.ir" not in trail and "visitor-ali" not in trail
        assert "delivery_failed" in [
            e.action for e in await session.scalars(select(AuditEvent))
        ]  # the event stays, without the address
        # The bystander's message and the file they also sent are untouched.
        kept = await session.get_one(Message, bystander.message_id)
        assert kept.text == "the size chart please"
    assert not store.path_for(private.sha256).exists()
    assert await store.read(shared.sha256) == SHARED_FILE
    if context.settings.database_url.startswith("sqlite"):
        # Not even in the file's free pages or the write-ahead log.
        for file in settings.data_dir.parent.glob("pasokh.db*"):
            if not file.is_file():
                continue  # the outbox workers' lock folder
            raw = file.read_bytes()
            assert SECRET.encode() not in raw and b"ali by mail" not in raw, file.name

    assert (await api(client, "DELETE", path, admin))[0] == 404
    status, export = await api(client, "GET", f"{path}/export", admin)
    assert status == 200 and export["threads"] == [] and export["identities"] == []
