"""A real `pasokh serve` between two halves of a real Postfix (Debian's, a private
loopback instance: tests/postfix_support.py).

- A customer's mail, submitted to Postfix with smtplib, is relayed to Pasokh's SMTP
  port and lands in a thread.
- The bot's answer leaves through Postfix as the `[email]` relay and is delivered to
  the customer's Maildir: threaded (In-Reply-To/References name the customer's mail,
  and the customer's reply to it joins the same thread), CRLF throughout (Postfix runs
  with `smtpd_forbid_bare_newline = reject`), with SMTPUTF8 for a Persian address.
- Postfix's own bounce (DSN) for an unknown recipient comes back to Pasokh's signed
  envelope address and is recognised: the answer is dead with Postfix's words and the
  address is marked unreachable, and nobody answers the bounce.

Everything waits on what can be seen: a file in the Maildir, a row through the agent
API.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Awaitable, Callable
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from router.core.security import new_token, token_hash
from router.storage.engine import new_engine, new_sessionmaker
from router.storage.models import Agent, ApiToken
from tests.postfix_support import Delivered, Postfix
from tests.processes import ServeProcess
from tests.support import free_port

# About 10 s; the suite's other real-process tests carry the same mark.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

SUPPORT = "support@support.test"
PERSIAN = "مشتری@customer.test"  # internationalised: needs SMTPUTF8 both ways
GHOST = "ghost@nouser.test"  # local(8) knows no such user: Postfix bounces the answer
QUESTION = "ارسال چند روز طول می‌کشد؟"
SECOND_QUESTION = "چطور کالا را مرجوع کنم؟"


def customer_mail(
    sender: str, subject: str, body: str, *, to: str = SUPPORT, replying_to: Delivered | None = None
) -> tuple[bytes, str]:
    """A customer's mail as a mail client writes it (raw UTF-8 headers, RFC 6532, for
    an internationalised address), and its bare Message-ID."""
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = subject
    domain = sender.rpartition("@")[2].strip(">").encode("idna").decode()
    message_id = make_msgid(domain=domain)
    mail["Message-ID"] = message_id
    if replying_to is not None:
        ours = replying_to.message["Message-ID"]
        mail["In-Reply-To"] = ours
        mail["References"] = f"{replying_to.message['References'] or ''} {ours}".strip()
    mail.set_content(body)
    return mail.as_bytes(policy=policy.SMTPUTF8), message_id.strip("<>")


def submit(port: int, data: bytes, *, mail_from: str, to: str) -> None:
    """Hand a mail to Postfix as a customer's mail program would (SMTPUTF8 when an
    address needs it)."""
    utf8 = not (mail_from.isascii() and to.isascii())
    options = ["SMTPUTF8", "BODY=8BITMIME"] if utf8 else []
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(mail_from, [to], data, mail_options=options)


class AgentApi:
    """The agent API of the running server, as an admin."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str) -> None:
        self.http = http
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str) -> Any:
        async with self.http.get(f"{self.base}{path}", headers=self.headers) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def threads_of(self, address: str) -> list[dict[str, Any]]:
        """The full threads whose customer has `address`."""
        found = []
        listing = await self.get("/api/v1/threads?status=open&limit=500")
        for summary in listing["threads"]:
            thread = await self.get(f"/api/v1/threads/{summary['id']}")
            identities = thread["customer"]["identities"]
            if any(identity["address"] == address for identity in identities):
                found.append(thread)
        return found

    async def until(
        self,
        check: Callable[[], Awaitable[Any]],
        what: str,
        timeout: float = 20.0,
        shown: Callable[[], Awaitable[Any]] | None = None,
    ) -> Any:
        """Poll `check` until it returns something true; that value. On a timeout the
        failure shows what `shown` returns then."""
        try:
            async with asyncio.timeout(timeout):
                while not (value := await check()):
                    await asyncio.sleep(0.1)
        except TimeoutError:
            seen = await shown() if shown is not None else None
            raise AssertionError(f"never happened: {what}; {seen}") from None
        return value


async def _agent_token(database_url: str) -> str:
    token = new_token("pk_agent")
    engine = new_engine(database_url)
    try:
        async with new_sessionmaker(engine)() as session, session.begin():
            agent = Agent(email="boss@example.com", name="Boss", tier=3, is_admin=True)
            session.add(agent)
            await session.flush()
            session.add(
                ApiToken(kind="agent", name="boss", agent_id=agent.id, token_hash=token_hash(token))
            )
    finally:
        await engine.dispose()
    return token


@pytest.fixture
async def postfix_and_pasokh(tmp_path: Path, database_url: str) -> Any:
    """Postfix on a free loopback port, relaying support.test to Pasokh's SMTP port;
    Pasokh sending through it. Both stopped at the end, whatever happened."""
    smtp_port, postfix_port = free_port(), free_port()
    postfix = Postfix(
        postfix_port,
        relay_domains={"support.test": smtp_port},
        mailbox_domains=("customer.test",),
        unknown_user_domains=("nouser.test",),
    )
    env = {
        "PASOKH_DATABASE__URL": database_url,
        "PASOKH_SERVER__SECRET_KEY": "k" * 40,
        "PASOKH_EMAIL__ENABLED": "true",
        "PASOKH_EMAIL__SMTP_HOST": "127.0.0.1",
        "PASOKH_EMAIL__SMTP_PORT": str(smtp_port),
        "PASOKH_EMAIL__DOMAINS": "support.test",
        "PASOKH_EMAIL__ADDRESS": SUPPORT,
        "PASOKH_EMAIL__RELAY_HOST": "127.0.0.1",
        "PASOKH_EMAIL__RELAY_PORT": str(postfix_port),
        "PASOKH_EMAIL__RELAY_TIMEOUT": "10",
        # No DNS here: SPF/DKIM/DMARC would only wait for time-outs.
        "PASOKH_EMAIL__SENDER_AUTH": "off",
        "PASOKH_TELEGRAM__ENABLED": "false",
    }
    token = await _agent_token(database_url)
    pasokh = ServeProcess(tmp_path / "data", free_port(), env)
    try:
        await postfix.start()
        await pasokh.start()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            yield postfix, AgentApi(http, pasokh.url, token)
    finally:
        pasokh.terminate()
        postfix.stop()


async def test_mail_in_and_out_through_postfix_threads_and_bounces(
    postfix_and_pasokh: tuple[Postfix, AgentApi],
) -> None:
    postfix, api = postfix_and_pasokh

    # (a) A Persian customer writes to Postfix; it relays to Pasokh: a thread.
    first, first_id = customer_mail(f"مشتری <{PERSIAN}>", "ارسال", QUESTION)
    await asyncio.to_thread(submit, postfix.port, first, mail_from=PERSIAN, to=SUPPORT)
    threads = await api.until(lambda: api.threads_of(PERSIAN), "a thread for the mail")
    assert len(threads) == 1
    thread = threads[0]
    assert thread["messages"][0]["text"] == QUESTION

    # (b) The bot's answer leaves through Postfix into the customer's Maildir: sent
    # with SMTPUTF8 (Postfix's Received says so; the To is raw UTF-8, RFC 6532), with
    # CRLF only (Postfix refuses a bare LF), threaded on the customer's mail.
    thread_id = thread["thread"]["id"]
    sent = await api.until(
        lambda: _settled(api, thread_id), "the answer sent", shown=lambda: _sent(api, thread_id)
    )
    # (Postfix's refusal of a bare LF would show here, in the dead answer's last_error.)
    assert [m["delivery"]["status"] for m in sent] == ["delivered"], [m["delivery"] for m in sent]
    [answer] = await postfix.wait_delivered(1)
    assert "with UTF8SMTP" in answer.message["Received"]
    assert f"\nTo: {PERSIAN}\n".encode() in answer.data
    assert answer.message["In-Reply-To"] == f"<{first_id}>"
    assert answer.message["References"].split() == [f"<{first_id}>"]

    # The customer answers the bot from their mail program: the same thread, and the
    # bot's next answer names the whole conversation.
    reply, reply_id = customer_mail(
        f"مشتری <{PERSIAN}>",
        f"Re: {answer.message['Subject']}",
        SECOND_QUESTION,
        to=answer.message["Reply-To"],
        replying_to=answer,
    )
    await asyncio.to_thread(
        submit, postfix.port, reply, mail_from=PERSIAN, to=answer.message["Reply-To"]
    )
    [_, second] = await postfix.wait_delivered(2)
    threads = await api.threads_of(PERSIAN)
    assert [t["thread"]["id"] for t in threads] == [thread_id]
    texts = [m["text"] for m in threads[0]["messages"] if m["direction"] == "in"]
    assert texts == [QUESTION, SECOND_QUESTION]
    assert second.message["In-Reply-To"] == f"<{reply_id}>"
    ours = answer.message["Message-ID"]
    assert second.message["References"].split() == [f"<{first_id}>", ours, f"<{reply_id}>"]
    assert "bare <LF>" not in postfix.log()

    # (c) A mail to an address Postfix cannot deliver: Postfix's own bounce (DSN) goes
    # to the answer's signed envelope sender, back through Postfix to Pasokh, which
    # recognises it: the answer is dead with Postfix's words, the address unreachable.
    ghost_mail, _ = customer_mail(GHOST, "سوال", QUESTION)
    await asyncio.to_thread(submit, postfix.port, ghost_mail, mail_from=GHOST, to=SUPPORT)

    async def bounced() -> dict[str, Any] | None:
        """The ghost's thread once its answer is dead and its address unreachable (one
        commit marks both; the API may read them a moment apart on PostgreSQL)."""
        for found in await api.threads_of(GHOST):
            sent = [m for m in found["messages"] if m["delivery"] is not None]
            dead = any(m["delivery"]["status"] == "dead" for m in sent)
            if dead and all(i["unreachable_reason"] for i in found["customer"]["identities"]):
                return found
        return None

    ghost_thread = await api.until(
        bounced, "the bounce recognised", shown=lambda: api.threads_of(GHOST)
    )
    [dead] = [m for m in ghost_thread["messages"] if m["delivery"] is not None]
    assert 'unknown user: "ghost"' in dead["delivery"]["last_error"], dead
    [identity] = ghost_thread["customer"]["identities"]
    assert 'unknown user: "ghost"' in (identity["unreachable_reason"] or "")
    # The report is stored, from Postfix's mailer-daemon, and nobody answered it.
    [reports] = await api.threads_of("mailer-daemon@mx.pasokh-test.test")
    [report] = reports["messages"]
    assert report["automated"] and report["direction"] == "in", report
    assert report["subject"] == "Undelivered Mail Returned to Sender"
    assert len(postfix.delivered()) == 2


async def _sent(api: AgentApi, thread_id: int) -> list[dict[str, Any]]:
    """The thread's messages to the customer that went to a channel, with their
    delivery state."""
    thread = await api.get(f"/api/v1/threads/{thread_id}")
    return [m for m in thread["messages"] if m["delivery"] is not None]


async def _settled(api: AgentApi, thread_id: int) -> list[dict[str, Any]]:
    """`_sent` once each has an outcome (delivered or dead); [] until then."""
    sent = await _sent(api, thread_id)
    return [] if any(m["delivery"]["status"] == "pending" for m in sent) else sent
