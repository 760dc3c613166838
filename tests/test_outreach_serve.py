"""Outreach against real `pasokh serve` processes and a real SMTP relay: a scheduled
Persian reminder goes out once with the unsubscribe headers, the answer lands in its
thread, «لغو» stops the next one; a reminder due while the process was SIGKILLed goes
out once after the restart; two processes on one database send each reminder once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from router.core.messages import utcnow
from router.core.security import new_token, token_hash
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.models import ApiToken, Message, OutreachOptOut, OutreachTemplate
from tests.email_support import FakeRelay, RelayedMail, make_mail, smtp_send
from tests.outreach_support import WARRANTY
from tests.processes import ServeProcess
from tests.support import free_port

# Each test starts pasokh serve two or three times: on a loaded machine that alone can
# take longer than the suite's two minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

SUPPORT = "support@support.localhost"


def serve_env(database_url: str, relay: FakeRelay, smtp_port: int) -> dict[str, str]:
    return {
        "PASOKH_DATABASE__URL": database_url,
        "PASOKH_SERVER__SECRET_KEY": "k" * 40,
        "PASOKH_WEBCHAT__ENABLED": "false",
        "PASOKH_EMAIL__SMTP_PORT": str(smtp_port),
        "PASOKH_EMAIL__RELAY_HOST": "127.0.0.1",
        "PASOKH_EMAIL__RELAY_PORT": str(relay.port),
        "PASOKH_EMAIL__SENDER_AUTH": "off",
        "PASOKH_BOT__ENABLED": "false",
        "PASOKH_OUTREACH__QUIET_HOURS": "",
        "PASOKH_OUTREACH__SCHEDULER_INTERVAL_SECONDS": "0.2",
    }


class Database:
    """The test's view of the servers' database."""

    def __init__(self, url: str) -> None:
        self.engine = new_engine(url)
        self.sessions = new_sessionmaker(self.engine)

    async def integration_token(self) -> str:
        token = new_token("pk_int")
        async with self.sessions() as session, session.begin():
            session.add(ApiToken(kind="integration", name="shop", token_hash=token_hash(token)))
        return token

    async def warranty_template(self) -> None:
        """The reminders' template, as an admin stores it (integrations may not)."""
        async with self.sessions() as session, session.begin():
            session.add(
                OutreachTemplate(
                    name="warranty_reminder", texts=WARRANTY["texts"], updated_at=utcnow()
                )
            )

    async def until(self, check: Callable[[Any], Awaitable[bool]], timeout: float = 30) -> None:
        """Poll the database until `check(session)` holds."""
        async with asyncio.timeout(timeout):
            while True:
                async with self.sessions() as session:
                    if await check(session):
                        return
                await asyncio.sleep(0.1)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.engine.dispose()


@pytest.fixture
async def relay() -> AsyncIterator[FakeRelay]:
    server = FakeRelay()
    await server.start()
    yield server
    await server.stop()


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.base, self.headers = base, {"Authorization": f"Bearer {token}"}

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as client,
            client.request(method, self.base + path, json=body, headers=self.headers) as r,
        ):
            return r.status, await r.json()

    async def until_status(self, row_id: int, *wanted: str, timeout: float = 30) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                _, body = await self.call("GET", f"/api/v1/outbound/messages/{row_id}")
                if body["status"] in wanted:
                    return body
                await asyncio.sleep(0.1)


def outreach_mails(relay: FakeRelay) -> list[RelayedMail]:
    return [m for m in relay.received if m.message["List-Unsubscribe"]]


async def until_outreach_mails(relay: FakeRelay, count: int, timeout: float = 30) -> None:
    async with asyncio.timeout(timeout):
        while True:
            seen = len(relay.received)  # with the check, before any await: no mail slips by
            if len(outreach_mails(relay)) >= count:
                return
            await relay.wait_for(seen + 1, seconds=timeout)


def reminder(address: str, key: str, seconds_ahead: float) -> dict[str, Any]:
    return {
        "identity": {"channel": "email", "address": address},
        "template": "warranty_reminder",
        "params": {"product": "گوشی گلکسی", "expires_on": "2027-03-21"},
        "language": "fa",
        "send_at": (utcnow() + timedelta(seconds=seconds_ahead)).isoformat(),
        "idempotency_key": key,
    }


async def customer_writes(
    smtp_port: int, database: Database, sender: str, body: str, **mail: Any
) -> None:
    """A mail from `sender`, waited for until it is stored."""
    await smtp_send(
        smtp_port, make_mail(sender=sender, body=body, **mail), mail_from=sender, to=[SUPPORT]
    )

    async def stored(session: Any) -> bool:
        found = await session.scalar(
            select(Message.id).where(Message.direction == "in", Message.text.contains(body.strip()))
        )
        return found is not None

    await database.until(stored)


async def test_a_scheduled_persian_email_reminder_from_send_to_opt_out(
    tmp_path: Path, database_url: str, database: Database, relay: FakeRelay
) -> None:
    smtp_port = free_port()
    server = ServeProcess(tmp_path / "data", free_port(), serve_env(database_url, relay, smtp_port))
    await server.start()
    try:
        api = Api(server.url, await database.integration_token())
        await customer_writes(smtp_port, database, "sara@example.ir", "سلام")
        await database.warranty_template()
        status, first = await api.call(
            "POST", "/api/v1/outbound/messages", reminder("sara@example.ir", "r1", 2)
        )
        assert status == 202 and first["status"] == "scheduled", first
        _, repeat = await api.call(
            "POST", "/api/v1/outbound/messages", reminder("sara@example.ir", "r1", 2)
        )
        assert repeat["id"] == first["id"]

        await until_outreach_mails(relay, 1)
        delivered = await api.until_status(first["id"], "delivered")
        [mail] = outreach_mails(relay)
        message = mail.message
        assert mail.rcpt_tos == ("sara@example.ir",)
        assert message["List-Unsubscribe"].strip().startswith("<http://127.0.0.1:")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Subject"] == "پایان گارانتی گوشی گلکسی"
        html_part = message.get_body(("html",))
        assert html_part is not None
        page = html_part.get_content()
        assert 'dir="rtl"' in page and "۱ فروردین ۱۴۰۶" in page

        # The answer, threaded to the reminder, lands in the reminder's thread.
        await customer_writes(
            smtp_port,
            database,
            "sara@example.ir",
            "می‌خواهم تمدید کنم",
            message_id="<answer-1@example.ir>",
            headers={"In-Reply-To": message["Message-ID"]},
        )
        async with database.sessions() as session:
            answer_thread = await session.scalar(
                select(Message.thread_id).where(Message.external_id == "answer-1@example.ir")
            )
        assert answer_thread == delivered["thread_id"]

        await customer_writes(
            smtp_port, database, "sara@example.ir", "لغو", message_id="<stop-1@example.ir>"
        )

        async def opted_out(session: Any) -> bool:
            return await session.get(OutreachOptOut, first["customer_id"]) is not None

        await database.until(opted_out)
        _, second = await api.call(
            "POST", "/api/v1/outbound/messages", reminder("sara@example.ir", "r2", 0)
        )
        skipped = await api.until_status(second["id"], "skipped")
        assert skipped["reason"] == "opted_out"
    finally:
        server.terminate()
    assert len(outreach_mails(relay)) == 1


async def test_a_reminder_due_while_killed_goes_out_once_after_restart(
    tmp_path: Path, database_url: str, database: Database, relay: FakeRelay
) -> None:
    smtp_port = free_port()
    server = ServeProcess(tmp_path / "data", free_port(), serve_env(database_url, relay, smtp_port))
    await server.start()
    try:
        api = Api(server.url, await database.integration_token())
        await customer_writes(smtp_port, database, "ali@example.ir", "سلام")
        await database.warranty_template()
        _, row = await api.call(
            "POST", "/api/v1/outbound/messages", reminder("ali@example.ir", "k", 1.5)
        )
        server.kill()
        assert row["status"] == "scheduled"
        await server.start()  # longer than 1.5 s: the reminder is overdue when it is back
        await until_outreach_mails(relay, 1)
        await api.until_status(row["id"], "delivered")
    finally:
        server.terminate()
    assert len(outreach_mails(relay)) == 1


async def test_two_processes_on_one_database_send_each_reminder_once(
    tmp_path: Path, database_url: str, database: Database, relay: FakeRelay
) -> None:
    smtp_ports = (free_port(), free_port())
    servers = [
        ServeProcess(tmp_path / f"data{i}", free_port(), serve_env(database_url, relay, port))
        for i, port in enumerate(smtp_ports)
    ]
    for server in servers:
        await server.start()
    try:
        api = Api(servers[0].url, await database.integration_token())
        await database.warranty_template()
        addresses = [f"c{i}@example.ir" for i in range(6)]
        for address in addresses:
            await customer_writes(
                smtp_ports[0], database, address, f"سلام {address}", message_id=f"<{address}>"
            )
        rows = []
        for address in addresses:
            _, row = await api.call(
                "POST", "/api/v1/outbound/messages", reminder(address, address, 1)
            )
            rows.append(row)
        await until_outreach_mails(relay, len(addresses))
        for row in rows:
            await api.until_status(row["id"], "delivered")
    finally:
        for server in servers:
            server.terminate()
    recipients = sorted(m.rcpt_tos[0] for m in outreach_mails(relay))
    assert recipients == sorted(addresses)
