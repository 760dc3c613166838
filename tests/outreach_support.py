"""Helpers for the outreach tests: a template, a scheduled message, waiting on its row."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from router.context import AppContext
from router.storage.models import OutreachMessage
from tests.agent_support import AgentUser, api

WARRANTY = {
    "texts": {
        "fa": {
            "subject": "پایان گارانتی {product}",
            "body": "{customer_name} عزیز، گارانتی {product} شما در {expires_on} تمام می‌شود.",
            "suggestions": ["تمدید گارانتی", "سؤال دارم"],
        },
        "ar": {
            "subject": "انتهاء ضمان {product}",
            "body": "عزيزي {customer_name}، ينتهي ضمان {product} في {expires_on}.",
            "suggestions": ["تمديد الضمان", "لدي سؤال"],
        },
        "en": {
            "subject": "Your {product} warranty ends soon",
            "body": "Dear {customer_name}, your {product} warranty ends on {expires_on}.",
            "suggestions": ["Extend it", "I have a question"],
        },
    }
}


async def put_warranty_template(
    client: TestClient[Any, Any], admin: AgentUser, name: str = "warranty_reminder"
) -> None:
    status, body = await api(client, "PUT", f"/api/v1/templates/{name}", admin, json=WARRANTY)
    assert status == 200, body


async def outreach_row(context: AppContext, row_id: int) -> OutreachMessage:
    async with context.read_sessions() as session:
        row = await session.get(OutreachMessage, row_id)
        assert row is not None
        return row


async def until_finished(
    context: AppContext, row_id: int, timeout: float = 15.0
) -> OutreachMessage:
    """Wait until the scheduler has sent or skipped the message (its row says so)."""
    async with asyncio.timeout(timeout):
        while (row := await outreach_row(context, row_id)).status == "scheduled":
            await asyncio.sleep(0.02)
    return row
