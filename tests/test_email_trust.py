"""Which inbound mail Pasokh believes: sender authentication (SPF, DKIM, DMARC against a
real DNS server on loopback), bounces that refer to mail we really sent, and dedupe
keyed by sender. Mail goes in through the real aiosmtpd server with smtplib; the
relay is a second aiosmtpd server that captures what Pasokh sends."""

from __future__ import annotations

import asyncio
import base64
import smtplib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from channels.email.adapter import EmailAdapter
from config.settings import EmailSettings, Settings
from router.context import AppContext
from router.storage.models import AuditEvent, Identity, Message, OutboxItem, OutboxStatus
from tests.agent_support import api, eventually, make_agent
from tests.dns_support import Zone, dns_server
from tests.email_support import SUPPORT, FakeRelay, RelayedMail, make_mail, smtp_send
from tests.identity_support import (
    AnswerThenQueue,
    identity_settings,
    say,
)
from tests.support import free_port
from tests.webchat_fakes import frames_until_witness, next_frame, next_reply

SARA = "sara@example.ir"


@dataclass(frozen=True)
class DkimKey:
    private_pem: bytes
    public_record: str


@pytest.fixture(scope="module")
def dkim_key() -> DkimKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return DkimKey(private_pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(public_der).decode())


def signed(raw: bytes, key: DkimKey, domain: str, selector: str = "s1") -> bytes:
    signature = dkim.sign(
        raw,
        selector.encode(),
        domain.encode(),
        key.private_pem,
        include_headers=[b"from", b"to", b"subject", b"message-id"],
    )
    return signature + raw


@pytest.fixture
def zone(dkim_key: DkimKey) -> Zone:
    return Zone(
        txt={
            # example.ir: DKIM key published, SPF allows only another host, DMARC reject.
            "s1._domainkey.example.ir": [dkim_key.public_record],
            "example.ir": ["v=spf1 ip4:192.0.2.10 -all"],
            "_dmarc.example.ir": ["v=DMARC1; p=reject"],
            # spf-ok.example: this machine may send for it.
            "spf-ok.example": ["v=spf1 ip4:127.0.0.1 -all"],
            "_dmarc.spf-ok.example": ["v=DMARC1; p=none"],
            "spf-bad.example": ["v=spf1 ip4:192.0.2.1 -all"],
            "_dmarc.spf-bad.example": ["v=DMARC1; p=none"],
            # other.example.net signs validly, but for someone else's From.
            "s1._domainkey.other.example.net": [dkim_key.public_record],
            "shop.example.com": ["v=spf1 -all"],
            "_dmarc.shop.example.com": ["v=DMARC1; p=reject"],
            # nodmarc.example.org publishes no DMARC: an aligned DKIM pass still counts.
            "s1._domainkey.nodmarc.example.org": [dkim_key.public_record],
            # Two organisations under .test, a TLD the public suffix list does not know:
            # bank.test (DMARC reject; its bounce host mail.bank.test may send from
            # here) and an attacker's evil.test (SPF lets anyone send, DKIM key).
            "bank.test": ["v=spf1 ip4:192.0.2.10 -all"],
            "_dmarc.bank.test": ["v=DMARC1; p=reject"],
            "mail.bank.test": ["v=spf1 ip4:127.0.0.1 -all"],
            "evil.test": ["v=spf1 +all"],
            "s1._domainkey.evil.test": [dkim_key.public_record],
        }
    )


@pytest.fixture
def dns_port(zone: Zone) -> Iterator[int]:
    with dns_server(zone) as port:
        yield port


@dataclass
class TrustApp:
    client: Any
    context: AppContext
    relay: FakeRelay
    port: int

    async def send(self, raw: bytes, *, mail_from: str, to: str = SUPPORT) -> None:
        await smtp_send(self.port, raw, mail_from=mail_from, to=[to])

    async def relayed(self, number: int) -> RelayedMail:
        return (await self.relay.wait_for(number))[number - 1]

    async def inbound(self, external_id: str) -> list[Message]:
        async with self.context.sessions() as session:
            rows = await session.scalars(
                select(Message)
                .where(Message.external_id == external_id, Message.direction == "in")
                .order_by(Message.id)
            )
            return list(rows)

    async def identity(self, address: str) -> Identity:
        async with self.context.sessions() as session:
            found = await session.scalar(
                select(Identity).where(Identity.channel == "email", Identity.address == address)
            )
        assert found is not None, address
        return found

    async def outbox(self) -> list[OutboxItem]:
        async with self.context.sessions() as session:
            return list(await session.scalars(select(OutboxItem).order_by(OutboxItem.id)))

    def counter(self, name: str, labels: dict[str, str]) -> float:
        value = self.context.metrics.registry.get_sample_value(name, labels)
        return value or 0.0


async def _start(start_app: Any, settings: Settings, relay: FakeRelay, **email: Any) -> TrustApp:
    client, context = await start_app(
        identity_settings(settings, relay, email=email), responder=AnswerThenQueue()
    )
    adapter = context.adapters["email"]
    assert isinstance(adapter, EmailAdapter)
    return TrustApp(client, context, relay, adapter.port)


async def _checking(
    start_app: Any, settings: Settings, relay: FakeRelay, dns_port: int, **email: Any
) -> TrustApp:
    """The app checking senders against the loopback DNS server."""
    return await _start(
        start_app,
        settings,
        relay,
        sender_auth="check",
        dns_resolver=f"127.0.0.1:{dns_port}",
        dns_timeout=2.0,
        **email,
    )


@pytest.fixture
async def checking(settings: Settings, start_app: Any, relay: FakeRelay, dns_port: int) -> TrustApp:
    return await _checking(start_app, settings, relay, dns_port)


# --- sender authentication ------------------------------------------------------------


async def test_dkim_signed_mail_with_dmarc_is_authenticated(
    checking: TrustApp, dkim_key: DkimKey, zone: Zone
) -> None:
    raw = make_mail(sender=f"Sara <{SARA}>", message_id="<dkim-1@example.ir>")
    await checking.send(signed(raw, dkim_key, "example.ir"), mail_from=SARA)
    [stored] = await checking.inbound("dkim-1@example.ir")
    assert stored.sender_authenticated is True
    assert ("s1._domainkey.example.ir", "TXT") in zone.queries  # really looked it up
    assert ("_dmarc.example.ir", "TXT") in zone.queries


async def test_spf_by_connecting_ip_passes_and_fails(checking: TrustApp) -> None:
    ok = make_mail(sender="a@spf-ok.example", message_id="<spf-1@spf-ok.example>")
    await checking.send(ok, mail_from="a@spf-ok.example")
    bad = make_mail(sender="b@spf-bad.example", message_id="<spf-2@spf-bad.example>")
    await checking.send(bad, mail_from="b@spf-bad.example")
    [passed] = await checking.inbound("spf-1@spf-ok.example")
    [failed] = await checking.inbound("spf-2@spf-bad.example")
    assert passed.sender_authenticated is True
    assert failed.sender_authenticated is False
    assert checking.counter("pasokh_email_sender_auth_total", {"result": "pass"}) == 1
    assert checking.counter("pasokh_email_sender_auth_total", {"result": "fail"}) == 1


async def test_a_domains_records_are_looked_up_once_while_their_ttl_lasts(
    checking: TrustApp, zone: Zone
) -> None:
    """DNS answers, "no such name" included, are cached by their TTL: a flood of mail
    from one domain (every customer of a big provider) costs one set of look-ups, and a
    resolver that drops one query in a hundred does not hold every hundredth mail for
    the whole DNS timeout."""
    for n in range(3):
        sender = f"customer{n}@spf-ok.example"
        await checking.send(
            make_mail(sender=sender, message_id=f"<ttl-{n}@spf-ok.example>"), mail_from=sender
        )
        [stored] = await checking.inbound(f"ttl-{n}@spf-ok.example")
        assert stored.sender_authenticated is True
        if n == 0:
            first = list(zone.queries)
    assert ("spf-ok.example", "TXT") in first
    assert zone.queries == first, "the second and third mail asked DNS again"
    # A name that does not exist is remembered too (the SOA's minimum TTL).
    for n in range(2):
        sender = f"c{n}@nowhere.example"
        await checking.send(
            make_mail(sender=sender, message_id=f"<nx-{n}@nowhere.example>"), mail_from=sender
        )
        [stored] = await checking.inbound(f"nx-{n}@nowhere.example")
        assert stored.sender_authenticated is False
    assert zone.queries.count(("nowhere.example", "TXT")) == 1, zone.queries


async def test_a_lost_dns_query_is_sent_again_within_the_timeout(
    settings: Settings, start_app: Any, relay: FakeRelay, zone: Zone
) -> None:
    """A resolver that drops a UDP query now and then must not cost the mail its
    verdict, nor hold its `250` for the whole `dns_timeout`: the query is sent again."""
    zone.lose_first.add(("spf-ok.example", "TXT"))
    with dns_server(zone) as port:
        app = await _start(
            start_app,
            settings,
            relay,
            sender_auth="check",
            dns_resolver=f"127.0.0.1:{port}",
            dns_timeout=3.0,
        )
        sender = "a@spf-ok.example"
        await app.send(
            make_mail(sender=sender, message_id="<lost@spf-ok.example>"), mail_from=sender
        )
        [stored] = await app.inbound("lost@spf-ok.example")
    assert stored.sender_authenticated is True
    assert zone.queries.count(("spf-ok.example", "TXT")) == 2, zone.queries


async def test_a_mail_nothing_vouches_for_is_not_looked_up_for_dmarc(
    checking: TrustApp, zone: Zone
) -> None:
    """DMARC passes only on an aligned SPF or DKIM pass (RFC 7489 4.2): when neither
    passed, the domain's policy cannot change the verdict and is not asked for."""
    raw = make_mail(sender=f"Sara <{SARA}>", message_id="<unsigned@example.ir>")
    await checking.send(raw, mail_from=SARA)  # SPF fails (only 192.0.2.10), no DKIM
    [stored] = await checking.inbound("unsigned@example.ir")
    assert stored.sender_authenticated is False
    assert ("example.ir", "TXT") in zone.queries  # SPF was checked
    assert ("_dmarc.example.ir", "TXT") not in zone.queries, zone.queries


async def test_dmarc_needs_alignment(checking: TrustApp, dkim_key: DkimKey) -> None:
    # A valid signature by other.example.net on mail "from" shop.example.com: not aligned.
    raw = make_mail(sender="ceo@shop.example.com", message_id="<misaligned@shop.example.com>")
    await checking.send(signed(raw, dkim_key, "other.example.net"), mail_from="x@other.example.net")
    # No DMARC record at all: a DKIM pass for the From's own domain still counts.
    own = make_mail(sender="a@nodmarc.example.org", message_id="<aligned@nodmarc.example.org>")
    await checking.send(
        signed(own, dkim_key, "nodmarc.example.org"), mail_from="a@nodmarc.example.org"
    )
    # A signature that no longer matches the body (altered on the way) proves nothing.
    tampered = signed(
        make_mail(sender=f"Sara <{SARA}>", message_id="<tampered@example.ir>"),
        dkim_key,
        "example.ir",
    ).replace("سفارش".encode(), "پرداخت".encode())
    await checking.send(tampered, mail_from=SARA)
    assert (await checking.inbound("misaligned@shop.example.com"))[0].sender_authenticated is False
    assert (await checking.inbound("aligned@nodmarc.example.org"))[0].sender_authenticated is True
    assert (await checking.inbound("tampered@example.ir"))[0].sender_authenticated is False


async def test_another_domain_under_an_unlisted_tld_is_not_aligned(
    checking: TrustApp, dkim_key: DkimKey
) -> None:
    """DMARC alignment compares organisational domains: under a TLD the public suffix
    list lacks (.test, .internal, a new TLD) that is two labels, not the bare TLD, or
    anyone with a domain under it could pass as everyone else there."""
    forged = make_mail(sender="CEO <ceo@bank.test>", message_id="<spf-forged@bank.test>")
    await checking.send(forged, mail_from="x@evil.test")  # evil.test's SPF: +all
    signed_forgery = signed(
        make_mail(sender="CEO <ceo@bank.test>", message_id="<dkim-forged@bank.test>"),
        dkim_key,
        "evil.test",
    )
    await checking.send(signed_forgery, mail_from="x@evil.test")
    # A real subdomain of bank.test is still aligned with it.
    genuine = make_mail(sender="CEO <ceo@bank.test>", message_id="<genuine@bank.test>")
    await checking.send(genuine, mail_from="bounce@mail.bank.test")
    assert (await checking.inbound("spf-forged@bank.test"))[0].sender_authenticated is False
    assert (await checking.inbound("dkim-forged@bank.test"))[0].sender_authenticated is False
    assert (await checking.inbound("genuine@bank.test"))[0].sender_authenticated is True


def test_organisational_domains_of_internationalised_names() -> None:
    """The suffix list holds internationalised suffixes in A-labels: a U-label name is
    looked up the same way, so two registrants under ایران.ir are not one organisation."""
    from channels.email.sender_auth import aligned, org_domain

    assert org_domain("shop.ایران.ir") == org_domain("x.shop.xn--mgba3a4f16a.ir")
    assert not aligned("a.ایران.ir", "b.ایران.ir")
    assert aligned("mail.bank.ایران", "bank.ایران")
    assert not aligned("bank.ایران", "evil.ایران")
    assert org_domain("bank.internal") == "bank.internal"


async def test_unreachable_dns_stores_the_mail_as_unauthenticated(
    settings: Settings, start_app: Any, relay: FakeRelay, dkim_key: DkimKey
) -> None:
    app = await _start(
        start_app,
        settings,
        relay,
        sender_auth="check",
        dns_resolver=f"127.0.0.1:{free_port()}",  # nobody answers there
        dns_timeout=0.3,
    )
    raw = make_mail(sender=f"Sara <{SARA}>", message_id="<no-dns@example.ir>")
    await app.send(signed(raw, dkim_key, "example.ir"), mail_from=SARA)  # 250 all the same
    [stored] = await app.inbound("no-dns@example.ir")
    assert stored.sender_authenticated is False
    assert app.counter("pasokh_email_sender_auth_total", {"result": "temperror"}) == 1


UPSTREAM_RECEIVED = (
    "Received: from mail.example.ir (mail.example.ir [192.0.2.10])\r\n"
    "\tby mx.shop (Postfix) with ESMTPS id 4F2A1; Mon, 30 Nov 2026 10:00:00 +0000\r\n"
)


def through_upstream(raw: bytes, *, stamp: str | None = None) -> bytes:
    """`raw` as the upstream mail server hands it on: its Received: on top, and its own
    Authentication-Results (`stamp`) above that when it checked the mail."""
    top = f"Authentication-Results: {stamp}\r\n" if stamp else ""
    return (top + UPSTREAM_RECEIVED).encode() + raw


@pytest.fixture
async def upstream(settings: Settings, start_app: Any, relay: FakeRelay) -> TrustApp:
    """trust_upstream behind mx.shop, which connects from 127.0.0.1."""
    return await _start(
        start_app,
        settings,
        relay,
        sender_auth="trust_upstream",
        upstream_authserv_id="mx.shop",
        trusted_relays=["127.0.0.1"],
    )


async def test_trusted_upstream_authentication_results(upstream: TrustApp) -> None:
    app = upstream
    good = "mx.shop; spf=fail smtp.mailfrom=example.ir; dkim=pass header.d=example.ir; dmarc=pass"
    await app.send(
        through_upstream(make_mail(message_id="<up-1@example.ir>"), stamp=good), mail_from=SARA
    )
    # The sender's own claim, under another server's name, counts for nothing.
    forged = "mx.evil; dmarc=pass header.from=example.ir"
    await app.send(
        through_upstream(make_mail(message_id="<up-2@example.ir>"), stamp=forged), mail_from=SARA
    )
    failing = "mx.shop; dkim=fail header.d=example.ir; dmarc=fail header.from=example.ir"
    await app.send(
        through_upstream(make_mail(message_id="<up-3@example.ir>"), stamp=failing), mail_from=SARA
    )
    assert (await app.inbound("up-1@example.ir"))[0].sender_authenticated is True
    assert (await app.inbound("up-2@example.ir"))[0].sender_authenticated is False
    assert (await app.inbound("up-3@example.ir"))[0].sender_authenticated is False


async def test_the_senders_own_header_with_the_upstreams_id_is_not_believed(
    upstream: TrustApp,
) -> None:
    """Only what the upstream added above its Received: counts: a header with its
    authserv-id that came with the mail is the sender's claim (RFC 8601 section 5),
    whether or not the upstream stamped the mail itself."""
    app = upstream
    claim = {"Authentication-Results": "mx.shop; dmarc=pass header.from=example.ir"}
    # The upstream wrote nothing (no DMARC milter, or it skipped this client).
    await app.send(
        through_upstream(make_mail(message_id="<own-1@example.ir>", headers=claim)), mail_from=SARA
    )
    # The upstream's own verdict stands over a forged pass below it.
    own = "mx.shop; dmarc=fail header.from=example.ir"
    await app.send(
        through_upstream(make_mail(message_id="<own-2@example.ir>", headers=claim), stamp=own),
        mail_from=SARA,
    )
    # Several headers of the upstream's (one per method, as OpenDMARC writes) together.
    stamped = through_upstream(make_mail(message_id="<own-3@example.ir>"), stamp=own)
    stamped = b"Authentication-Results: mx.shop; spf=pass smtp.mailfrom=example.ir\r\n" + stamped
    await app.send(stamped, mail_from=SARA)
    for message_id in ("own-1@example.ir", "own-2@example.ir", "own-3@example.ir"):
        [stored] = await app.inbound(message_id)
        assert stored.sender_authenticated is False, message_id


async def test_upstream_results_count_only_from_a_trusted_relay_or_smtp_auth(
    settings: Settings, start_app: Any, relay: FakeRelay, upstream: TrustApp
) -> None:
    """Anyone who reaches the SMTP port can write the upstream's header, on top."""
    stamp = "mx.shop; dmarc=pass header.from=example.ir"
    mail = through_upstream(make_mail(message_id="<direct@example.ir>"), stamp=stamp)
    await smtp_send(upstream.port, mail, mail_from=SARA, to=[SUPPORT], source="127.0.0.2")
    assert (await upstream.inbound("direct@example.ir"))[0].sender_authenticated is False
    # And with neither trusted relays nor AUTH nobody could be believed: refused at start.
    with pytest.raises(ValueError, match="trusted_relays"):
        EmailAdapter(
            EmailSettings(sender_auth="trust_upstream", upstream_authserv_id="mx"),
            secret_key="x" * 32,
        )


async def test_smtp_auth_vouches_for_the_upstream(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    app = await _start(
        start_app,
        settings,
        relay,
        sender_auth="trust_upstream",
        upstream_authserv_id="mx.shop",
        auth_user="mx",
        auth_password="forward-secret",
    )
    stamp = "mx.shop; dmarc=pass header.from=example.ir"
    mail = through_upstream(make_mail(message_id="<authed@example.ir>"), stamp=stamp)

    def deliver() -> None:
        with smtplib.SMTP("127.0.0.1", app.port, timeout=30, source_address=("127.0.0.2", 0)) as c:
            c.login("mx", "forward-secret")
            c.sendmail(SARA, [SUPPORT], mail)

    await asyncio.to_thread(deliver)
    assert (await app.inbound("authed@example.ir"))[0].sender_authenticated is True


# --- behind a relay: XFORWARD ----------------------------------------------------------


@pytest.fixture
async def behind_relay(
    settings: Settings, start_app: Any, relay: FakeRelay, dns_port: int
) -> TrustApp:
    """Checking senders, behind a mail server at 127.0.0.1 that sends XFORWARD."""
    return await _checking(start_app, settings, relay, dns_port, trusted_relays=["127.0.0.1"])


async def test_spf_judges_the_client_a_trusted_relay_forwards(behind_relay: TrustApp) -> None:
    """Behind a relay SPF would judge the relay: an SPF-only sender would never pass, and
    a domain whose SPF covers the relay would pass for anyone using it. The relay names
    its client with XFORWARD (Postfix: smtp_send_xforward_command = yes)."""
    app = behind_relay
    # example.ir's SPF allows only 192.0.2.10; that is the client the relay names.
    await smtp_send(
        app.port,
        make_mail(sender=SARA, message_id="<xf-1@example.ir>"),
        mail_from=SARA,
        to=[SUPPORT],
        xforward="NAME=mail.example.ir ADDR=192.0.2.10 PROTO=ESMTP HELO=mail.example.ir",
    )
    # spf-ok.example allows 127.0.0.1 (the relay), not the relay's client.
    await smtp_send(
        app.port,
        make_mail(sender="a@spf-ok.example", message_id="<xf-2@spf-ok.example>"),
        mail_from="a@spf-ok.example",
        to=[SUPPORT],
        xforward="ADDR=IPV6:2001+3Adb8::7 HELO=[UNAVAILABLE]",
    )
    assert (await app.inbound("xf-1@example.ir"))[0].sender_authenticated is True
    assert (await app.inbound("xf-2@spf-ok.example"))[0].sender_authenticated is False


async def test_xforward_lasts_one_mail_and_only_a_trusted_relay_may_send_it(
    behind_relay: TrustApp,
) -> None:
    app = behind_relay

    def session(source: str) -> tuple[str, int, list[bool]]:
        ok = make_mail(sender="a@spf-ok.example", message_id=f"<again-{source}@spf-ok.example>")
        with smtplib.SMTP("127.0.0.1", app.port, timeout=30, source_address=(source, 0)) as c:
            c.ehlo()
            offered = c.has_extn("xforward")
            code, _ = c.docmd("XFORWARD", "ADDR=192.0.2.99")
            spoofed = make_mail(sender=SARA, message_id=f"<spoof-{source}@example.ir>")
            c.sendmail(SARA, [SUPPORT], spoofed)
            # A second mail of the same session is the relay's own again.
            c.sendmail("a@spf-ok.example", [SUPPORT], ok)
        return source, code, [offered]

    _, trusted_code, [trusted_offered] = await asyncio.to_thread(session, "127.0.0.1")
    _, other_code, [other_offered] = await asyncio.to_thread(session, "127.0.0.2")
    assert (trusted_offered, trusted_code) == (True, 250)
    assert (other_offered, other_code) == (False, 550)
    # spf-ok.example allows 127.0.0.1 only: the mail after the forwarded one was judged
    # by the relay's own address again, and 127.0.0.2 never by a forwarded one.
    assert (await app.inbound("again-127.0.0.1@spf-ok.example"))[0].sender_authenticated is True
    assert (await app.inbound("again-127.0.0.2@spf-ok.example"))[0].sender_authenticated is False


def test_xforward_attributes_are_xtext_decoded() -> None:
    from channels.email.adapter import parse_xforward

    assert parse_xforward("addr=192.0.2.1 HELO=a+2Bb.example NAME=[unavailable]") == {
        "ADDR": "192.0.2.1",
        "HELO": "a+b.example",
        "NAME": "",
    }
    assert parse_xforward("COLOUR=red") is None
    assert parse_xforward("ADDR") is None
    assert parse_xforward("") is None


async def test_forged_from_of_a_proven_customer_is_unverified_and_not_in_their_chat(
    checking: TrustApp, dkim_key: DkimKey
) -> None:
    app = checking
    response = await app.client.post("/api/v1/webchat/sessions", json={})
    token = (await response.json())["visitor_token"]
    ws = await app.client.ws_connect("/ws/webchat", params={"token": token, "lang": "en"})
    assert (await next_frame(ws))["type"] == "ready"
    await next_frame(ws, "history")
    await say(ws, "hello", "c1")
    await next_reply(ws)
    async with app.context.sessions() as session, session.begin():
        visitor = await session.scalar(select(Identity).where(Identity.channel == "webchat"))
        assert visitor is not None
        # Sara proved her address earlier (what the code dialogue leaves behind).
        session.add(
            Identity(customer_id=visitor.customer_id, channel="email", address=SARA, verified=True)
        )

    forged = make_mail(
        sender=f"Sara <{SARA}>",
        body="Cancel my order and refund to IBAN IR00 EVIL",
        message_id="<forged@evil.example>",
    )
    await app.send(forged, mail_from="mallory@evil.example")
    genuine = make_mail(sender=f"Sara <{SARA}>", body="really me", message_id="<real@example.ir>")
    await app.send(signed(genuine, dkim_key, "example.ir"), mail_from=SARA)

    [fake] = await app.inbound("forged@evil.example")
    [real] = await app.inbound("real@example.ir")
    assert fake.customer_id == real.customer_id == visitor.customer_id  # agents see it
    assert (fake.sender_authenticated, real.sender_authenticated) == (False, True)

    pushed = await frames_until_witness(app.context, ws, visitor.customer_id)
    texts = [f["message"]["text"] for f in pushed if f["type"] == "message"]
    assert "really me" in texts and not any("IBAN" in t for t in texts)
    await ws.close()
    ws = await app.client.ws_connect("/ws/webchat", params={"token": token, "lang": "en"})
    await next_frame(ws, "ready")
    history = [m["text"] for m in (await next_frame(ws, "history"))["messages"]]
    assert "really me" in history and not any("IBAN" in t for t in history)
    await ws.close()

    admin = await make_agent(app.context, "Boss", is_admin=True)
    status, detail = await api(app.client, "GET", f"/api/v1/threads/{fake.thread_id}", admin)
    assert status == 200, detail
    flags = {m["text"]: m["sender_authenticated"] for m in detail["messages"]}
    assert flags["Cancel my order and refund to IBAN IR00 EVIL"] is False
    assert flags["really me"] is True
    assert flags["hello"] is None  # web chat makes no such claim


# --- bounces --------------------------------------------------------------------------


def dsn(*, recipient: str, returned_id: str | None, to: str = SUPPORT) -> bytes:
    """A mailer-daemon's delivery-status notification (RFC 3464)."""
    returned = (
        f"\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{returned_id}>\r\n"
        if returned_id
        else ""
    )
    return (
        "From: Mail Delivery Subsystem <mailer-daemon@mx.example.ir>\r\n"
        f"To: {to}\r\n"
        "Subject: Delivery Status Notification (Failure)\r\n"
        f"Message-ID: <dsn-{recipient}-{returned_id}@mx.example.ir>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.ir\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 ATTACKER TEXT\r\n"
        f"{returned}\r\n--B--\r\n"
    ).encode()


def exim_bounce(*, to: str, recipient: str, message_id: str) -> bytes:
    """Exim's bounce: a plain mail naming the failed recipient in X-Failed-Recipients."""
    return make_mail(
        sender="Mail Delivery System <mailer-daemon@mx.example.ir>",
        to=to,
        message_id=message_id,
        headers={"X-Failed-Recipients": recipient},
    )


@pytest.fixture
async def bouncing(settings: Settings, start_app: Any, relay: FakeRelay) -> TrustApp:
    return await _start(start_app, settings, relay)


async def _answered(app: TrustApp, sender: str, message_id: str, number: int) -> RelayedMail:
    """The `number`th answer as the relay got it (a report naming it is matched whether
    or not its send is recorded yet)."""
    await app.send(make_mail(sender=sender, message_id=f"<{message_id}>"), mail_from=sender)
    return await app.relayed(number)


async def _nothing_marked(app: TrustApp, address: str) -> None:
    assert (await app.identity(address)).unreachable_reason is None
    async with app.context.sessions() as session:
        audit = await session.scalar(
            select(AuditEvent).where(AuditEvent.action == "delivery_failed")
        )
    assert audit is None
    assert all(row.status != OutboxStatus.DEAD for row in await app.outbox())


async def test_outbound_mail_has_a_signed_bounce_address(bouncing: TrustApp) -> None:
    sent = await _answered(bouncing, f"Sara <{SARA}>", "m-1@example.ir", 1)
    local, _, domain = sent.mail_from.partition("@")
    assert domain == "support.localhost" and local.startswith("support+b")
    assert sent.message["From"].addresses[0].addr_spec == SUPPORT  # what people see


async def test_forged_bounces_mark_nothing(bouncing: TrustApp) -> None:
    app = bouncing
    await _answered(app, f"Sara <{SARA}>", "s-1@example.ir", 1)
    to_mallory = await _answered(app, "mallory@evil.example", "e-1@evil.example", 2)
    # X-Failed-Recipients from anyone.
    await app.send(
        make_mail(
            sender="mallory@evil.example",
            message_id="<xfr@evil.example>",
            headers={"X-Failed-Recipients": SARA},
        ),
        mail_from="mallory@evil.example",
    )
    # A report for a Message-ID we never sent.
    await app.send(dsn(recipient=SARA, returned_id="never-sent@support.localhost"), mail_from="")
    # A report for a real Message-ID, but of the mail sent to Mallory.
    mallory_id = str(to_mallory.message["Message-ID"]).strip("<>")
    await app.send(dsn(recipient=SARA, returned_id=mallory_id), mail_from="")
    # Mallory's own bounce address (a valid token), naming Sara.
    await app.send(dsn(recipient=SARA, returned_id=None), mail_from="", to=to_mallory.mail_from)
    await _nothing_marked(app, SARA)
    assert (
        app.counter("pasokh_delivery_reports_total", {"channel": "email", "verdict": "unverified"})
        == 4
    )


async def test_genuine_bounces_still_mark(bouncing: TrustApp) -> None:
    app = bouncing
    first = await _answered(app, f"Sara <{SARA}>", "g-1@example.ir", 1)
    # Exim-style, to the mail's own bounce address, naming only the recipient.
    exim = exim_bounce(to=first.mail_from, recipient=SARA, message_id="<exim-1@mx.example.ir>")
    await app.send(exim, mail_from="", to=first.mail_from)
    identity = await app.identity(SARA)
    assert identity.unreachable_reason is not None
    [row] = await app.outbox()
    assert row.status == OutboxStatus.DEAD

    # A report sent to the support address itself, returning the Message-ID we sent Ali.
    answer = await _answered(app, "ali@example.com", "g-2@example.com", 2)
    ours = str(answer.message["Message-ID"]).strip("<>")
    await app.send(dsn(recipient="ali@example.com", returned_id=ours), mail_from="")
    ali = await app.identity("ali@example.com")
    assert ali.unreachable_reason is not None and "ATTACKER TEXT" in ali.unreachable_reason
    assert (
        app.counter("pasokh_delivery_reports_total", {"channel": "email", "verdict": "verified"})
        == 2
    )


@pytest.mark.parametrize("report_form", ["to its bounce address", "returning its Message-ID"])
async def test_a_report_before_its_send_is_recorded_still_marks(
    bouncing: TrustApp, report_form: str
) -> None:
    """The relay has the mail, and the far server may report its failure, before the
    relay's answer reaches us and the send is recorded: the report names a mail we sent
    all the same, and the record that follows leaves the row as the report left it."""
    app = bouncing
    app.relay.hold_answers()
    await app.send(
        make_mail(sender=f"Sara <{SARA}>", message_id="<h-1@example.ir>"), mail_from=SARA
    )
    sent = await app.relayed(1)
    if report_form == "to its bounce address":
        exim = exim_bounce(to=sent.mail_from, recipient=SARA, message_id="<exim-h@mx.example.ir>")
        await app.send(exim, mail_from="", to=sent.mail_from)
    else:
        ours = str(sent.message["Message-ID"]).strip("<>")
        await app.send(dsn(recipient=SARA, returned_id=ours), mail_from="")
    assert (await app.identity(SARA)).unreachable_reason is not None
    [row] = await app.outbox()
    assert row.status == OutboxStatus.DEAD

    app.relay.release_answers()

    async def recorded() -> bool:
        labels = {"channel": "email", "outcome": "delivered"}
        return app.counter("pasokh_deliveries_total", labels) == 1

    await eventually(recorded)
    [row] = await app.outbox()
    assert row.status == OutboxStatus.DEAD and row.last_error is not None
    assert "bounced" in row.last_error
    assert (await app.identity(SARA)).unreachable_reason is not None


POSTFIX_GLOBAL_DSN = (
    Path(__file__).parent / "fixtures" / "email" / "pasokh" / "postfix_global_dsn.eml"
)


async def test_a_bounce_of_mail_to_an_internationalised_address_marks_it(
    bouncing: TrustApp,
) -> None:
    """A reply to an address at an internationalised domain (sent in A-labels), and
    Postfix reports its failure in RFC 6533's global format (message/global-delivery-status,
    UTF-8 fields, the mail returned as message/global)."""
    app = bouncing
    customer = "user@پشتیبانی.test"
    question = make_mail(sender=customer, message_id="<eai-1@client.test>", utf8=True)
    await smtp_send(app.port, question, mail_from=customer, to=[SUPPORT], smtputf8=True)
    answer = await app.relayed(1)
    # Sent in the one form (A-labels); the report names the address as Postfix had it
    # then (U-labels), which is read back in that form too.
    canonical = "user@xn--mgbbf3b2fqpisd.test"
    assert answer.rcpt_tos == (canonical,)
    report = (
        POSTFIX_GLOBAL_DSN.read_bytes()
        .replace(b"@@BOUNCE_ADDRESS@@", answer.mail_from.encode())
        .replace(b"@@MESSAGE_ID@@", str(answer.message["Message-ID"]).strip("<>").encode())
        .replace(b"\r\n", b"\n")
        .replace(b"\n", b"\r\n")  # as it travels over SMTP (the file is as stored)
    )
    await smtp_send(app.port, report, mail_from="", to=[answer.mail_from], smtputf8=True)
    identity = await app.identity(canonical)
    assert identity.unreachable_reason is not None
    assert "unable to look up host" in identity.unreachable_reason
    [row] = await app.outbox()
    assert row.status == OutboxStatus.DEAD
    assert (
        app.counter("pasokh_delivery_reports_total", {"channel": "email", "verdict": "verified"})
        == 1
    )


# --- dedupe ---------------------------------------------------------------------------


async def test_a_message_id_reused_by_another_sender_is_not_dropped(bouncing: TrustApp) -> None:
    app = bouncing
    await app.send(make_mail(sender=SARA, body="from sara", message_id="<same@x>"), mail_from=SARA)
    await app.send(
        make_mail(sender="ali@example.com", body="from ali", message_id="<same@x>"),
        mail_from="ali@example.com",
    )
    # A real redelivery (same sender) is still stored once.
    await app.send(make_mail(sender=SARA, body="from sara", message_id="<same@x>"), mail_from=SARA)
    stored = await app.inbound("same@x")
    assert sorted(m.text for m in stored) == ["from ali", "from sara"]


def test_dmarc_reads_the_public_suffix_list_parsed_once() -> None:
    """authheaders would parse the whole list (~0.1 s of CPU) on every organisational
    domain it looks up; every DMARC check in the process shares one parsed copy."""
    import authheaders

    from channels.email.sender_auth import aligned, org_domain, public_suffix_list

    public_suffix_list.cache_clear()
    for n, sender in enumerate(["a@mail.example.co.uk", "b@shop.example.com", "c@x.y.example.org"]):
        raw = make_mail(sender=sender, message_id=f"<psl-{n}@example.com>")
        result = authheaders.check_dmarc(raw, dnsfunc=lambda name: None)
        assert str(result.result) == "none"
    assert aligned("mail.example.co.uk", "news.example.co.uk")
    assert not aligned("example.co.uk", "other.co.uk")
    assert org_domain("a.b.example.co.uk") == "example.co.uk"
    lookups = public_suffix_list.cache_info()
    assert lookups.misses == 1, lookups
    assert lookups.hits >= 3 + 4, lookups  # authheaders' own look-ups come here too


async def test_the_public_suffix_list_is_parsed_before_the_first_mail(
    settings: Settings, start_app: Any, relay: FakeRelay, dns_port: int
) -> None:
    """Parsed at start, off the event loop: the first mails of a busy server, checked in
    several threads at once, would each parse it (the cache has no lock)."""
    from channels.email.sender_auth import public_suffix_list

    public_suffix_list.cache_clear()
    app = await _start(
        start_app, settings, relay, sender_auth="check", dns_resolver=f"127.0.0.1:{dns_port}"
    )
    assert public_suffix_list.cache_info().misses == 1
    senders = [f"c{n}@spf-ok.example" for n in range(4)]
    await asyncio.gather(
        *(
            app.send(make_mail(sender=s, message_id=f"<psl-{n}@spf-ok.example>"), mail_from=s)
            for n, s in enumerate(senders)
        )
    )
    for n in range(4):
        assert (await app.inbound(f"psl-{n}@spf-ok.example"))[0].sender_authenticated is True
    assert public_suffix_list.cache_info().misses == 1
