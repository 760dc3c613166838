"""Merges that cannot be abused: claims without proof link and reveal nothing."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiohttp import WSMsgType
from sqlalchemy import func, select, update

from channels.telegram.inbound import start_link_claim
from channels.webchat.tokens import user_hash
from config.settings import Settings
from router.core.messages import utcnow
from router.core.texts import ROUTER_TEXTS
from router.identity.links import CODE_ATTEMPTS, SENDS_PER_ADDRESS, SENDS_PER_REQUESTER
from router.identity.tokens import InvalidProofToken, ProofTokens
from router.storage.models import AuditEvent, Identity, IdentityProof, Message, Thread
from tests.agent_support import api, make_agent
from tests.email_support import FakeRelay, make_mail
from tests.identity_support import (
    CONTINUE,
    EMAIL,
    SITE,
    TELEGRAM,
    VERIFY,
    IdentityApp,
    code_in,
    continue_token_in,
    say,
    start_identity_app,
)
from tests.support import FakeAdapter
from tests.webchat_fakes import frames_until_witness, next_frame, next_reply

SARA = "sara@example.ir"
SECRET_TEXT = "my card ends in 4242"


@pytest.fixture
async def app(settings: Settings, start_app: Any, relay: FakeRelay) -> IdentityApp:
    # Every request comes from one client address: its budget (and its network's) is
    # tested in test_identity_code_volume.py; here the router's own limits are.
    return await start_identity_app(
        start_app,
        settings,
        relay,
        webchat={"codes_per_address_per_hour": 100, "codes_per_network_per_hour": 100},
    )


def address_of(app: IdentityApp, token: str) -> str:
    return app.address_of(token)


async def sara_writes(app: IdentityApp) -> EmailMessage:
    """Sara's earlier mail; returns the bot's answer to her."""
    before = len(app.relay.received)  # counted first: the answer may arrive before `mail` returns
    await app.mail(make_mail(sender=f"Sara <{SARA}>", body=SECRET_TEXT), mail_from=SARA)
    return await app.relayed(before + 1)


async def test_someone_elses_email_without_the_code_reveals_nothing(app: IdentityApp) -> None:
    await sara_writes(app)
    sara = await app.customer_of("email", SARA)
    assert sara is not None
    mallory = await app.visitor()
    ws = await app.connect(mallory)
    await next_frame(ws, "history")
    await say(ws, "hi", "m1")
    await next_reply(ws)

    owned = await app.post(EMAIL, mallory, {"email": SARA})
    unknown = await app.post(EMAIL, mallory, {"email": "nobody@example.ir"})
    assert owned == unknown  # same status, same body: nothing says Sara exists
    assert owned[0] == 202
    status, _ = await app.post(VERIFY, mallory, {"code": "000000"})
    assert status in (409, 422)  # the newest code is for nobody@; a guess proves nothing

    mallory_customer = await app.customer_of("webchat", address_of(app, mallory))
    assert mallory_customer is not None
    frames = await frames_until_witness(app.context, ws, mallory_customer)
    assert all(SECRET_TEXT not in str(frame) for frame in frames)
    await ws.close()
    ws = await app.connect(mallory)
    history = (await next_frame(ws, "history"))["messages"]
    assert all(SECRET_TEXT not in m["text"] for m in history)
    mallory_customer = await app.customer_of("webchat", address_of(app, mallory))
    assert mallory_customer is not None and mallory_customer != sara
    assert SECRET_TEXT not in await app.customer_texts(mallory_customer)
    assert [i[0] for i in await app.identities(mallory_customer)] == ["webchat"]
    assert await app.identities(sara) == [("email", SARA, False)]
    await ws.close()

    # Agents see the claim as a hint on both customers; nothing was merged.
    agent = await make_agent(app.context, "Reza")
    status, body = await api(
        app.client, "GET", f"/api/v1/customers/{mallory_customer}/claims", agent
    )
    assert status == 200
    claimed = {(c["kind"], c["address"], c["other_customer_id"]) for c in body["claims"]}
    assert ("claimed_address", SARA, sara) in claimed
    status, body = await api(app.client, "GET", f"/api/v1/customers/{sara}/claims", agent)
    assert [(c["kind"], c["other_customer_id"]) for c in body["claims"]] == [
        ("address_claimed_by_other", mallory_customer)
    ]
    assert (await app.client.get(f"/api/v1/customers/{sara}/claims")).status == 401


async def test_five_wrong_codes_lock_and_a_new_code_is_needed(app: IdentityApp) -> None:
    visitor = await app.visitor()
    assert (await app.post(EMAIL, visitor, {"email": SARA}))[0] == 202
    code = code_in(await app.relayed(1))
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for left in range(CODE_ATTEMPTS - 1, 0, -1):
        status, body = await app.post(VERIFY, visitor, {"code": wrong})
        assert (status, body["error"]["code"], body["error"]["remaining_attempts"]) == (
            422,
            "wrong_code",
            left,
        )
    status, body = await app.post(VERIFY, visitor, {"code": wrong})
    assert (status, body["error"]["code"]) == (429, "locked")
    status, body = await app.post(VERIFY, visitor, {"code": code})  # right, but too late
    assert (status, body["error"]["code"]) == (429, "locked")
    async with app.context.sessions() as session:  # a dead code is not kept readable
        assert not await session.scalar(select(func.count()).where(Message.text.contains(code)))
    visitor_customer = await app.customer_of("webchat", address_of(app, visitor))
    assert visitor_customer != await app.customer_of("email", SARA)

    assert (await app.post(EMAIL, visitor, {"email": SARA}))[0] == 202
    fresh = code_in(await app.relayed(2))
    status, body = await app.post(VERIFY, visitor, {"code": fresh})
    assert status == 200, body
    assert await app.customer_of("webchat", address_of(app, visitor)) == await app.customer_of(
        "email", SARA
    )


async def test_expired_and_replayed_codes_fail(app: IdentityApp) -> None:
    visitor = await app.visitor()
    await app.post(EMAIL, visitor, {"email": SARA})
    code = code_in(await app.relayed(1))
    async with app.context.sessions() as session, session.begin():
        await session.execute(
            update(IdentityProof).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    status, body = await app.post(VERIFY, visitor, {"code": code})
    assert (status, body["error"]["code"]) == (410, "expired")

    await app.post(EMAIL, visitor, {"email": SARA})
    code = code_in(await app.relayed(2))
    assert (await app.post(VERIFY, visitor, {"code": code}))[0] == 200
    status, body = await app.post(VERIFY, visitor, {"code": code})
    assert (status, body["error"]["code"]) == (409, "no_code")
    other = await app.visitor()
    status, body = await app.post(VERIFY, other, {"code": code})
    assert (status, body["error"]["code"]) == (409, "no_code")
    assert await app.customer_of("webchat", address_of(app, other)) is not None
    assert await app.customer_of("webchat", address_of(app, other)) != await app.customer_of(
        "email", SARA
    )


async def test_code_requests_are_limited_per_address_and_per_visitor(app: IdentityApp) -> None:
    for _ in range(SENDS_PER_ADDRESS):
        assert (await app.post(EMAIL, await app.visitor(), {"email": SARA}))[0] == 202
    status, body = await app.post(EMAIL, await app.visitor(), {"email": SARA})
    assert (status, body["error"]["code"]) == (429, "rate_limited")

    visitor = await app.visitor()
    for n in range(SENDS_PER_REQUESTER):
        assert (await app.post(EMAIL, visitor, {"email": f"user{n}@example.ir"}))[0] == 202
    status, _ = await app.post(EMAIL, visitor, {"email": "one-more@example.ir"})
    assert status == 429
    fresh = await app.visitor()
    assert (await app.post(EMAIL, fresh, {"email": "not an address"}))[0] == 422
    response = await app.client.post(EMAIL, json={"email": SARA})
    assert response.status == 401
    response = await app.client.post(
        EMAIL, json={"email": SARA}, headers={"Authorization": "Bearer v1.forged.token"}
    )
    assert response.status == 401


async def test_altered_and_expired_continue_tokens_are_refused(app: IdentityApp) -> None:
    answer = await sara_writes(app)
    token = continue_token_in(answer)
    visitor = await app.visitor()
    body, mac = token.split(".")
    for altered in (f"{body}.{mac[:-2]}AA", f"{body[:-2]}xy.{mac}", "garbage", token + "x"):
        status, reply = await app.post(CONTINUE, visitor, {"token": altered})
        assert (status, reply["error"]["code"]) == (403, "invalid_token"), altered
    signer = ProofTokens(app.context.settings.server.secret_key)
    thread_id = await _thread_of_first_mail(app)
    expired = signer.continue_token(thread_id, SARA, ttl=timedelta(seconds=-1))
    status, reply = await app.post(CONTINUE, visitor, {"token": expired})
    assert (status, reply["error"]["code"]) == (403, "invalid_token")
    other_key = ProofTokens("another-secret-" + "y" * 32).continue_token(
        thread_id, SARA, ttl=timedelta(days=1)
    )
    assert (await app.post(CONTINUE, visitor, {"token": other_key}))[0] == 403
    assert await app.customer_of("webchat", address_of(app, visitor)) != await app.customer_of(
        "email", SARA
    )


async def _thread_of_first_mail(app: IdentityApp) -> int:
    async with app.context.sessions() as session:
        customer = await app.customer_of("email", SARA)
        thread_id = await session.scalar(select(Thread.id).where(Thread.customer_id == customer))
        assert thread_id is not None
        return int(thread_id)


def test_chat_link_tokens_are_short_signed_and_expire() -> None:
    signer = ProofTokens("s" * 40)
    token = signer.chat_link_token(42, ttl=timedelta(hours=1))
    assert len(token) <= 64 and token.replace("-", "").replace("_", "").isalnum()
    assert signer.open_chat_link(token).identity_id == 42
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    for bad in (flipped, token[:-3], "", "x" * 70):
        with pytest.raises(InvalidProofToken):
            signer.open_chat_link(bad)
    with pytest.raises(InvalidProofToken):
        signer.open_chat_link(signer.chat_link_token(42, ttl=timedelta(seconds=-1)))
    with pytest.raises(InvalidProofToken):
        ProofTokens("t" * 40).open_chat_link(token)
    # A continue token is no Telegram token and the other way round.
    with pytest.raises(InvalidProofToken):
        signer.open_continue(token)


async def test_altered_or_replayed_telegram_start_links_nothing(
    settings: Settings, start_app: Any
) -> None:
    web, telegram = FakeAdapter(name="webchat"), FakeAdapter(name="telegram")
    _, context = await start_app(settings.replace("email", enabled=False), adapters=[web, telegram])
    first = await web.push("hello from the site", sender="visitor:abc")
    async with context.sessions() as session:
        web_identity = await session.scalar(
            select(Identity).where(Identity.address == "visitor:abc")
        )
        assert web_identity is not None
    signer = ProofTokens(settings.server.secret_key)
    token = signer.chat_link_token(web_identity.id, ttl=timedelta(hours=1))
    altered = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    expired = signer.chat_link_token(web_identity.id, ttl=timedelta(seconds=-5))
    for bad, chat in ((altered, "100"), (expired, "101")):
        result = await telegram.push(
            f"/start {bad}",
            sender=chat,
            sender_verified=True,
            proof=start_link_claim(f"/start {bad}"),
        )
        assert result.customer_id != first.customer_id
    # What the Telegram channel hands over for the deep link's `/start <token>`.
    link = start_link_claim(f"/start {token}")
    ok = await telegram.push(f"/start {token}", sender="102", sender_verified=True, proof=link)
    assert ok.customer_id != first.customer_id  # asked, not yet linked
    replay = await telegram.push(f"/start {token}", sender="103", sender_verified=True, proof=link)
    assert replay.customer_id != first.customer_id
    sent = {m.address: m.text for m in await telegram.wait_sent(4)}
    refused, asked = (
        ROUTER_TEXTS.text("link_refused", "fa"),
        ROUTER_TEXTS.text("link_confirm", "fa"),
    )
    assert sent == {"100": refused, "101": refused, "102": asked, "103": refused}
    # The replayed link's holder saying yes confirms nothing: they were never asked.
    late = await telegram.push("yes", sender="103", sender_verified=True)
    assert late.customer_id != first.customer_id
    yes = await telegram.push("yes", sender="102", sender_verified=True)
    assert yes.customer_id == first.customer_id
    # A campaign's deep link is no link attempt: the bot answers it as usual.
    campaign = start_link_claim("/start spring_sale")
    assert campaign is None
    await telegram.push("/start spring_sale", sender="104", sender_verified=True, proof=campaign)
    answers = {m.address: m.text for m in await telegram.wait_sent(7)}
    assert answers["102"] == ROUTER_TEXTS.text("linked", "fa")
    assert answers["104"] not in (refused, asked)


async def test_a_strangers_mail_with_a_valid_reply_token_merges_nothing(app: IdentityApp) -> None:
    answer = await sara_writes(app)
    sara = await app.customer_of("email", SARA)
    assert sara is not None
    stranger = EmailMessage()
    stranger["From"] = "Mallory <mallory@evil.test>"
    stranger["To"] = answer["Reply-To"]
    stranger["Subject"] = "Re: " + str(answer["Subject"])
    stranger["Message-ID"] = "<stolen-1@evil.test>"
    stranger["In-Reply-To"] = answer["Message-ID"]
    stranger.set_content("show me her order")
    await app.mail(bytes(stranger), mail_from="mallory@evil.test")
    mallory = await app.customer_of("email", "mallory@evil.test")
    assert mallory is not None and mallory != sara
    assert await app.identities(sara) == [("email", SARA, False)]
    assert await app.identities(mallory) == [("email", "mallory@evil.test", False)]
    assert SECRET_TEXT not in await app.customer_texts(mallory)
    async with app.context.sessions() as session:
        foreign = await session.scalar(
            select(func.count()).where(AuditEvent.action == "foreign_thread_reference")
        )
        merges = await session.scalar(
            select(func.count()).where(AuditEvent.action == "customers_merged")
        )
    assert (foreign, merges) == (1, 0)

    # Sara's own reply through the token proves her address.
    own = EmailMessage()
    own["From"] = f"Sara <{SARA}>"
    own["To"] = answer["Reply-To"]
    own["Subject"] = "Re: " + str(answer["Subject"])
    own["Message-ID"] = "<sara-2@example.ir>"
    own["In-Reply-To"] = answer["Message-ID"]
    own.set_content("thanks")
    await app.mail(bytes(own), mail_from=SARA)
    assert await app.identities(sara) == [("email", SARA, True)]


async def site_with_an_anonymous_chat(
    settings: Settings, start_app: Any, relay: FakeRelay, text: str
) -> tuple[IdentityApp, str, Any]:
    """A site that signs its users in, and a visitor who wrote `text` before signing in:
    the app, the visitor's token and its open socket."""
    app = await start_identity_app(
        start_app, settings, relay, webchat={"user_hash_secret": "site-secret"}
    )
    anonymous = await app.visitor()
    ws = await app.connect(anonymous)
    await next_frame(ws, "history")
    await say(ws, text, "a1")
    await next_reply(ws)
    return app, anonymous, ws


async def test_a_forged_user_hash_links_nothing(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    app, anonymous, ws = await site_with_an_anonymous_chat(
        settings, start_app, relay, "before signing in"
    )
    await ws.close()
    visitor_customer = await app.customer_of("webchat", address_of(app, anonymous))

    for forged in ("0" * 64, user_hash("wrong-secret", "u42"), user_hash("site-secret", "u43")):
        status, body = await app.post(SITE, anonymous, {"user_id": "u42", "user_hash": forged})
        assert status == 403, body
    assert await app.customer_of("site", "u42") is None
    assert await app.customer_of("webchat", "user:u42") is None
    # And the session endpoint refuses it too.
    response = await app.client.post(
        "/api/v1/webchat/sessions", json={"user_id": "u42", "user_hash": "0" * 64}
    )
    assert response.status == 403

    status, body = await app.post(
        SITE, anonymous, {"user_id": "u42", "user_hash": user_hash("site-secret", "u42")}
    )
    assert status == 200 and body["user_verified"] is True
    signed_in = address_of(app, body["visitor_token"])
    assert signed_in == "user:u42"
    merged = await app.customer_of("webchat", signed_in)
    assert merged == await app.customer_of("site", "u42") == visitor_customer
    assert ("site", "u42", True) in await app.identities(merged)  # type: ignore[arg-type]


async def test_a_visitor_token_spent_on_signing_in_opens_nothing_of_the_user(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    # A shared computer: the browser's anonymous token outlives the site's sign-out. It
    # must not open the account's conversation to the next person at that computer.
    app, anonymous, ws = await site_with_an_anonymous_chat(
        settings, start_app, relay, "asked before signing in"
    )
    other_tab = await app.connect(anonymous)
    await next_frame(other_tab, "history")

    status, body = await app.post(
        SITE, anonymous, {"user_id": "u42", "user_hash": user_hash("site-secret", "u42")}
    )
    assert status == 200, body
    user = await app.connect(body["visitor_token"])
    history = await next_frame(user, "history")
    # The anonymous chat is carried into the account...
    assert [m["text"] for m in history["messages"]][:1] == ["asked before signing in"]
    # ...and the tabs still holding the spent token are told to get a new one.
    for socket in (ws, other_tab):
        frame = await socket.receive(timeout=10)
        while frame.type == WSMsgType.TEXT:  # what was on its way before the close
            frame = await socket.receive(timeout=10)
        assert (frame.type, frame.data) == (WSMsgType.CLOSE, 4401)
    await ws.close()
    await other_tab.close()

    again = await app.connect(anonymous)
    assert (await next_frame(again, "history"))["messages"] == []
    await say(again, "the next person at this computer", "n1")
    await next_reply(again)
    account = await app.customer_of("webchat", "user:u42")
    assert account is not None
    stranger = await app.customer_of("webchat", address_of(app, anonymous))
    assert stranger is not None and stranger != account
    assert "the next person at this computer" not in await app.customer_texts(account)
    assert "asked before signing in" not in await app.customer_texts(stranger)
    status, _ = await app.post(SITE, anonymous, {"user_id": "u42", "user_hash": "0" * 64})
    assert status == 403
    await again.close()
    await user.close()


async def test_a_foreign_site_cannot_drive_the_identity_endpoints(
    settings: Settings, start_app: Any, relay: FakeRelay
) -> None:
    # A page on another site holding a stolen visitor token could otherwise mail codes and
    # link addresses in the visitor's name: the browser would only hide the answer from it.
    app = await start_identity_app(
        start_app, settings, relay, webchat={"allowed_origins": ["https://shop.example"]}
    )
    visitor = await app.visitor()
    bearer = {"Authorization": f"Bearer {visitor}"}
    evil = {"Origin": "https://evil.example"}
    for path in (EMAIL, VERIFY, SITE, CONTINUE, TELEGRAM):
        refused = await app.client.post(path, json={"email": SARA}, headers=bearer | evil)
        assert refused.status == 403, path
        assert (await refused.json())["error"]["message"] == "origin not allowed"
        assert "Access-Control-Allow-Origin" not in refused.headers
    options = await app.client.get("/api/v1/webchat/identity/options", headers=evil)
    assert options.status == 403
    preflight = await app.client.options(
        EMAIL, headers=evil | {"Access-Control-Request-Method": "POST"}
    )
    assert preflight.status == 403
    async with app.context.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(IdentityProof)) == 0
    assert await app.customer_of("webchat", address_of(app, visitor)) is None

    # The same request from the shop's own page is served, with CORS headers for it.
    shop = {"Origin": "https://shop.example"}
    served = await app.client.post(EMAIL, json={"email": SARA}, headers=bearer | shop)
    assert served.status == 202, await served.text()
    assert served.headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert code_in(await app.relayed(1))


async def test_a_reply_token_proves_only_an_address_the_thread_mailed(app: IdentityApp) -> None:
    # Sara's customer also holds an address nobody has proved (an agent's merge, a claim).
    # A reply from it carries Sara's thread token and reaches Sara's thread, but no mail of
    # that thread went to it: owning the token proves the address that got the mail only.
    answer = await sara_writes(app)
    sara = await app.customer_of("email", SARA)
    assert sara is not None
    other = "sara.work@example.ir"
    async with app.context.sessions() as session, session.begin():
        session.add(Identity(customer_id=sara, channel="email", address=other, verified=False))
    reply = EmailMessage()
    reply["From"] = f"Sara <{other}>"
    reply["To"] = answer["Reply-To"]
    reply["Subject"] = "Re: " + str(answer["Subject"])
    reply["Message-ID"] = "<sara-work-1@example.ir>"
    reply["In-Reply-To"] = answer["Message-ID"]
    reply.set_content("from my work address")
    await app.mail(bytes(reply), mail_from=other)
    assert "from my work address" in await app.customer_texts(sara)
    assert await app.identities(sara) == [("email", SARA, False), ("email", other, False)]
    async with app.context.sessions() as session:
        proven = await session.scalar(
            select(func.count()).where(AuditEvent.action == "identity_proven")
        )
    assert proven == 0
