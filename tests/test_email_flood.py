"""One SMTP client cannot flood the agents' queue or make Pasokh mail third parties:
per-client budgets of new threads and hand-offs (`451`, the sender's server retries),
an installation-wide hourly cap on automatic replies to senders whose authentication
did not pass, and such replies do not echo the forger's Subject.

Mail goes in through the real aiosmtpd server with smtplib (a loopback address per
client: any of 127/8 works on Linux); the relay is a second aiosmtpd server that keeps
what Pasokh sends; the sender checks run against a real DNS server on loopback.
"""

from __future__ import annotations

import asyncio
import smtplib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from channels.email.adapter import EmailAdapter
from channels.email.render import EMAIL_TEXTS
from config.settings import Settings
from router.context import AppContext
from router.storage.models import Customer, OutboxItem, OutboxStatus, Thread, ThreadStatus
from tests.agent_support import count_rows, eventually
from tests.dns_support import Zone, dns_server
from tests.email_support import FakeRelay, make_mail, smtp_send
from tests.identity_support import AnswerThenQueue, identity_settings
from tests.test_email_end_to_end import EchoBot  # answers every mail, hands none off

# What Pasokh's 451 says for each budget (the mail is refused, nothing is stored).
NEW_THREADS_REFUSAL = b"Too many new conversations from your address"
HANDOFFS_REFUSAL = b"Too many conversations handed to people from your address"


@dataclass
class FloodApp:
    context: AppContext
    relay: FakeRelay
    port: int
    sent: int = 0

    async def send(
        self, sender: str, *, source: str = "127.0.0.1", xforward: str | None = None, **mail: Any
    ) -> None:
        """One mail from `sender` (From and envelope) by the client at `source`."""
        self.sent += 1
        raw = make_mail(sender=sender, message_id=f"<{self.sent}.{sender}>", **mail)
        await smtp_send(
            self.port, raw, mail_from=sender, to=[SUPPORT], source=source, xforward=xforward
        )

    async def refused(self, sender: str, **kwargs: Any) -> bytes:
        """The text of the `451` the mail from `sender` gets."""
        with pytest.raises(smtplib.SMTPDataError) as refusal:
            await self.send(sender, **kwargs)
        assert refusal.value.smtp_code == 451, refusal.value
        error = refusal.value.smtp_error
        return error if isinstance(error, bytes) else error.encode()

    def counter(self, name: str, labels: dict[str, str]) -> float:
        return self.context.metrics.registry.get_sample_value(name, labels) or 0.0


SUPPORT = "support@support.localhost"


async def _start(
    start_app: Any, settings: Settings, relay: FakeRelay, responder: Any, **email: Any
) -> FloodApp:
    _, context = await start_app(
        identity_settings(settings, relay, email=email), responder=responder
    )
    adapter = context.adapters["email"]
    assert isinstance(adapter, EmailAdapter)
    return FloodApp(context, relay, adapter.port)


async def test_one_client_starts_at_most_its_budget_of_new_threads_a_minute(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    app = await _start(start_app, settings, relay, EchoBot(), new_threads_per_client_per_minute=3)
    # A customer writing on in their thread spends nothing: the token set aside for
    # each of their later mails goes back.
    await app.send("sara@example.ir", body="first")
    await app.send("sara@example.ir", body="second, same thread", subject="again")
    await app.send("sara@example.ir", body="third, same thread", subject="and again")
    await app.send("victim1@bank.test")
    await app.send("victim2@bank.test")
    # The budget (3) is spent: forged senders from this client get a temporary refusal.
    for number in (3, 4):
        assert NEW_THREADS_REFUSAL in await app.refused(f"victim{number}@bank.test")
    # Another client has a budget of its own.
    await app.send("victim5@bank.test", source="127.0.0.2")

    # A refused mail left nothing behind: no customer, no thread, no answer.
    assert await count_rows(app.context, Customer) == 4
    assert await count_rows(app.context, Thread) == 4
    assert len(await relay.wait_for(6)) == 6  # 3 to sara, 1 to each other stored sender
    assert {mail.rcpt_tos[0] for mail in relay.received} == {
        "sara@example.ir",
        "victim1@bank.test",
        "victim2@bank.test",
        "victim5@bank.test",
    }
    refused = {"reason": "client_new_threads"}
    assert app.counter("pasokh_email_refused_total", refused) == 2


async def test_one_clients_concurrent_mails_start_at_most_its_budget_of_threads(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    """Ten forged senders at once from one client: the budget is set aside before each
    mail is stored, so concurrent mails cannot all pass (on PostgreSQL the bucket is a
    row every session takes from)."""
    app = await _start(start_app, settings, relay, EchoBot(), new_threads_per_client_per_minute=3)
    forged = 10

    def forge(n: int) -> int:
        victim = f"victim{n}@bank.test"
        raw = make_mail(sender=victim, message_id=f"<c-{n}@bank.test>")
        try:
            with smtplib.SMTP("127.0.0.1", app.port) as client:
                client.sendmail(victim, [SUPPORT], raw)
        except smtplib.SMTPDataError as refusal:
            return refusal.smtp_code
        return 250

    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(forged) as clients:
        codes = await asyncio.gather(
            *(loop.run_in_executor(clients, forge, n) for n in range(forged))
        )
    assert sorted(codes) == [250] * 3 + [451] * (forged - 3)
    assert await count_rows(app.context, Thread) == 3
    refused = {"reason": "client_new_threads"}
    assert app.counter("pasokh_email_refused_total", refused) == forged - 3


async def test_one_client_hands_at_most_its_budget_of_threads_to_people_a_minute(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    app = await _start(
        start_app, settings, relay, AnswerThenQueue(), handoffs_per_client_per_minute=2
    )
    await app.send("flood1@nowhere.test")
    await app.send("flood2@nowhere.test")
    assert HANDOFFS_REFUSAL in await app.refused("flood3@nowhere.test")
    assert HANDOFFS_REFUSAL in await app.refused("flood4@nowhere.test")
    await app.send("someone@example.ir", source="127.0.0.2")

    assert await count_rows(app.context, Thread, Thread.status == ThreadStatus.QUEUED) == 3
    assert await count_rows(app.context, Customer) == 3
    refused = {"reason": "client_handoffs"}
    assert app.counter("pasokh_email_refused_total", refused) == 2


async def test_behind_a_trusted_relay_the_client_it_forwards_is_counted(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    """XFORWARD ADDR (the address SPF judges) is the client; a relay that forwards none
    spends a budget of its own."""
    app = await _start(
        start_app,
        settings,
        relay,
        EchoBot(),
        new_threads_per_client_per_minute=2,
        trusted_relays=["127.0.0.1"],
    )
    first, second = "ADDR=192.0.2.1 HELO=mx.bank.test", "ADDR=IPV6:2001:db8::1"
    await app.send("a1@bank.test", xforward=first)
    await app.send("a2@bank.test", xforward=first)
    assert NEW_THREADS_REFUSAL in await app.refused("a3@bank.test", xforward=first)
    # Another address in the same IPv6 /64 is the same client (`client_key`).
    await app.send("b1@example.net", xforward=second)
    await app.send("b2@example.net", xforward="ADDR=IPV6:2001:db8::2")
    assert NEW_THREADS_REFUSAL in await app.refused("b3@example.net", xforward=second)
    # Mail submitted on the relay itself (no client address): the relay's own budget.
    await app.send("c1@example.org", xforward="ADDR=[UNAVAILABLE]")
    await app.send("c2@example.org")
    assert NEW_THREADS_REFUSAL in await app.refused("c3@example.org")
    assert await count_rows(app.context, Thread) == 6


@pytest.fixture
def dns_port() -> Iterator[int]:
    zone = Zone(
        txt={
            # bank.test: only 192.0.2.10 sends its mail, and it asks for rejection.
            "bank.test": ["v=spf1 ip4:192.0.2.10 -all"],
            "_dmarc.bank.test": ["v=DMARC1; p=reject"],
            # spf-ok.example: this machine may send for it.
            "spf-ok.example": ["v=spf1 ip4:127.0.0.1 -all"],
            "_dmarc.spf-ok.example": ["v=DMARC1; p=none"],
        }
    )
    with dns_server(zone) as port:
        yield port


async def _checking(
    start_app: Any, settings: Settings, relay: FakeRelay, dns_port: int, **email: Any
) -> FloodApp:
    return await _start(
        start_app,
        settings,
        relay,
        EchoBot(),
        sender_auth="check",
        dns_resolver=f"127.0.0.1:{dns_port}",
        dns_timeout=2.0,
        **email,
    )


async def test_an_automatic_reply_to_an_unauthenticated_sender_has_the_default_subject(
    settings: Settings, start_app: Any, relay: FakeRelay, dns_port: int
) -> None:
    """The forger's Subject is not sent from the support address; the reply still
    threads for the real owner of the address (In-Reply-To, References)."""
    app = await _checking(start_app, settings, relay, dns_port)
    phishing = "Your account is suspended - verify now at http://evil.test/login"
    forged = make_mail(sender="victim@bank.test", subject=phishing, message_id="<f-1@bank.test>")
    await smtp_send(app.port, forged, mail_from="victim@bank.test", to=[SUPPORT])
    genuine = make_mail(
        sender="sara@spf-ok.example", subject="Where is my order?", message_id="<g-1@spf-ok>"
    )
    await smtp_send(app.port, genuine, mail_from="sara@spf-ok.example", to=[SUPPORT])

    mails = {mail.rcpt_tos[0]: mail.message for mail in await relay.wait_for(2)}
    to_victim = mails["victim@bank.test"]
    # The bot answered in Persian: the default subject in Persian.
    assert to_victim["Subject"] == EMAIL_TEXTS.template("email_default_subject", "fa")
    assert "evil.test" not in str(to_victim)
    assert to_victim["In-Reply-To"] == "<f-1@bank.test>"
    assert to_victim["References"] == "<f-1@bank.test>"
    # An authenticated sender's reply answers their subject, as before.
    assert mails["sara@spf-ok.example"]["Subject"] == "Re: Where is my order?"


async def test_automatic_replies_to_unauthenticated_senders_are_capped_for_the_installation(
    settings: Settings, start_app: Any, relay: FakeRelay, dns_port: int
) -> None:
    """Forged mails from many clients at once: the cap holds (on PostgreSQL the one
    bucket is a row every concurrent send takes from); the rest is stored, unanswered."""
    app = await _checking(start_app, settings, relay, dns_port, unauthenticated_replies_per_hour=3)
    forged = 10

    def forge(n: int) -> None:
        victim = f"victim{n}@bank.test"
        raw = make_mail(sender=victim, message_id=f"<f-{n}@bank.test>")
        with smtplib.SMTP("127.0.0.1", app.port, source_address=(f"127.0.0.{n + 10}", 0)) as c:
            c.sendmail(victim, [SUPPORT], raw)

    # Threads of their own: the sender checks run in the loop's default executor, which
    # blocked clients must not fill.
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(forged) as clients:
        await asyncio.gather(*(loop.run_in_executor(clients, forge, n) for n in range(forged)))

    async def settled() -> bool:
        async with app.context.sessions() as session:
            rows = list(await session.scalars(select(OutboxItem)))
        return len(rows) == forged and all(r.status != OutboxStatus.PENDING for r in rows)

    await eventually(settled)
    async with app.context.sessions() as session:
        rows = list(await session.scalars(select(OutboxItem)))
    dead = [row for row in rows if row.status == OutboxStatus.DEAD]
    assert len(relay.received) == 3
    assert len(dead) == forged - 3
    assert all("authentication did not pass" in (row.last_error or "") for row in dead)
    capped = {"outcome": "capped_unauthenticated"}
    assert app.counter("pasokh_email_sent_total", capped) == forged - 3
    # Every mail was stored, each in a thread of its own for agents to see.
    assert await count_rows(app.context, Thread) == forged

    # An authenticated sender is answered whatever the cap.
    genuine = make_mail(sender="sara@spf-ok.example", message_id="<g-1@spf-ok>")
    await smtp_send(app.port, genuine, mail_from="sara@spf-ok.example", to=[SUPPORT])
    assert (await relay.wait_for(4))[3].rcpt_tos == ("sara@spf-ok.example",)
