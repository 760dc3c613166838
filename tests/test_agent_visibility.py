"""What agents may read: one rule (their tier's threads and their own; admins all) on
every path that shows a thread, and email verification codes shown to nobody."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from config.settings import Settings
from router.core.responder import QueueEveryThread
from router.identity.links import KIND_CODE
from router.storage.models import IdentityProof, Message, Thread
from tests.agent_support import api, make_agent
from tests.support import FakeAdapter

VICTIM = "victim@example.org"


async def _close(context: Any, thread_id: int) -> None:
    """Resolved long enough ago that the customer's next message opens a new thread."""
    async with context.sessions() as session, session.begin():
        await session.execute(
            update(Thread).where(Thread.id == thread_id).values(status="resolved")
        )


async def _start(settings: Settings, start_app: Any) -> tuple[Any, Any, FakeAdapter, FakeAdapter]:
    mail, chat = FakeAdapter(name="email"), FakeAdapter(name="webchat")
    # A relay to name (never reached: the fake email channel "sends"), so that email
    # linking, and with it a mailed code, is offered.
    settings = settings.replace("email", relay_host="127.0.0.1")
    client, context = await start_app(settings, adapters=[mail, chat], responder=QueueEveryThread())
    return client, context, mail, chat


async def _get(client: TestClient[Any, Any], path: str, agent: Any) -> tuple[int, Any]:
    return await api(client, "GET", path, agent)


async def test_a_tier_1_agent_sees_no_tier_2_thread_through_any_path(
    settings: Settings, start_app: Any
) -> None:
    client, context, mail, _ = await _start(settings, start_app)
    sara = await make_agent(context, "Sara")  # tier 1
    admin = await make_agent(context, "Boss", is_admin=True)
    assert mail.services is not None
    store = mail.services.attachments
    first_file = await store.put(b"receipt", filename="receipt.txt", content_type="text/plain")
    secret_file = await store.put(b"contract", filename="contract.pdf", content_type="text/plain")

    first = await mail.push("where is my order?", sender=VICTIM, attachments=(first_file,))
    await _close(context, first.thread_id)
    # a thread that went to tier 2, with an internal note and a file
    senior = await mail.push("the warranty case", sender=VICTIM, attachments=(secret_file,))
    path = f"/api/v1/threads/{senior.thread_id}"
    status, _ = await api(
        client, "POST", f"{path}/escalate", admin, json={"tier": 2, "reason": "legal"}
    )
    assert status == 200
    note = {"text": "tier-2 secret note", "internal": True}
    assert (await api(client, "POST", f"{path}/messages", admin, json=note))[0] == 201
    await _close(context, senior.thread_id)
    current = await mail.push("hello again", sender=VICTIM)
    assert len({first.thread_id, senior.thread_id, current.thread_id}) == 3

    # the thread itself
    assert (await _get(client, path, sara))[0] == 403
    # earlier threads: only visible ones, and only earlier ones
    status, detail = await _get(client, f"/api/v1/threads/{current.thread_id}", sara)
    assert status == 200
    assert [t["id"] for t in detail["earlier_threads"]] == [first.thread_id]
    assert "tier-2 secret note" not in json.dumps(detail)
    status, detail = await _get(client, f"/api/v1/threads/{first.thread_id}", sara)
    assert status == 200 and detail["earlier_threads"] == []
    # files: through the current thread only the visible earlier thread's
    files = f"/api/v1/threads/{current.thread_id}/attachments"
    assert (await client.get(f"{files}/{first_file.sha256}", headers=sara.headers)).status == 200
    assert (await client.get(f"{files}/{secret_file.sha256}", headers=sara.headers)).status == 404
    own = f"{path}/attachments/{secret_file.sha256}"
    assert (await client.get(own, headers=sara.headers)).status == 403
    # the customer: visible threads only, previews included
    status, customer = await _get(client, f"/api/v1/customers/{first.customer_id}", sara)
    assert status == 200
    assert {t["id"] for t in customer["threads"]} == {first.thread_id, current.thread_id}
    assert "warranty" not in json.dumps(customer)
    # lists and searches
    for query in ("status=resolved", "status=open", f"assignee={admin.id}", ""):
        status, listed = await _get(client, f"/api/v1/threads?{query}", sara)
        assert status == 200 and senior.thread_id not in {t["id"] for t in listed["threads"]}
    status, _ = await _get(client, f"/api/v1/canned?thread_id={senior.thread_id}", sara)
    assert status == 403
    # the admin still sees everything, the note included
    status, detail = await _get(client, f"/api/v1/threads/{current.thread_id}", admin)
    assert {t["id"] for t in detail["earlier_threads"]} == {first.thread_id, senior.thread_id}
    assert "tier-2 secret note" in json.dumps(detail)


_SIX_DIGITS = re.compile(r"(?<!\d)\d{6}(?!\d)")


async def test_verification_codes_are_shown_to_no_agent(settings: Settings, start_app: Any) -> None:
    client, context, mail, chat = await _start(settings, start_app)
    sara = await make_agent(context, "Sara")
    admin = await make_agent(context, "Boss", is_admin=True)
    victim = await mail.push("my order please", sender=VICTIM)
    # somebody in the web chat types the victim's address: a code is mailed to it
    asked = await chat.push(VICTIM, sender="visitor-1")
    async with context.sessions() as session:
        mailed_id = await session.scalar(
            select(IdentityProof.message_id).where(IdentityProof.kind == KIND_CODE)
        )
        mailed = await session.get(Message, mailed_id)
    assert mailed is not None
    found = _SIX_DIGITS.search(mailed.text)
    assert found is not None, mailed.text  # still live: nobody typed it yet
    code = found.group(0)

    async def shown_anywhere() -> list[str]:
        paths = [
            f"/api/v1/threads/{victim.thread_id}",
            f"/api/v1/threads/{mailed.thread_id}",
            f"/api/v1/threads/{asked.thread_id}",
            f"/api/v1/customers/{victim.customer_id}",
            f"/api/v1/customers/{asked.customer_id}",
            "/api/v1/threads?status=resolved",
            "/api/v1/threads?status=open",
            f"/api/v1/customers/{victim.customer_id}/export",
        ]
        leaks = []
        for agent in (sara, admin):
            for path in paths:
                status, body = await _get(client, path, agent)
                if status == 200 and code in json.dumps(body, ensure_ascii=False):
                    leaks.append(f"{agent.name} {path}")
        return leaks

    assert await shown_anywhere() == []
    # the visitor types the code back: neither the typed code nor the mail shows it
    typed = await chat.push(code, sender="visitor-1")
    status, detail = await _get(client, f"/api/v1/threads/{typed.thread_id}", admin)
    assert status == 200
    texts = [m["text"] for m in detail["messages"]]
    assert code not in json.dumps(detail, ensure_ascii=False), texts
    assert await shown_anywhere() == []
