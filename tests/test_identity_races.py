"""The proof limits hold under real concurrency: many requests at once, each in its own
HTTP request and database session. On PostgreSQL writes are not serialised, so a limit
kept by reading a counter and then writing it would let most of them through."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from channels.telegram.inbound import start_link_claim
from config.settings import Settings
from router.core.texts import ROUTER_TEXTS
from router.identity.links import (
    CODE_ATTEMPTS,
    KIND_CODE,
    KIND_CONTINUE,
    SENDS_PER_ADDRESS,
    SENDS_PER_REQUESTER,
)
from router.identity.tokens import ProofTokens
from router.storage.models import Identity, IdentityProof
from tests.email_support import FakeRelay, make_mail
from tests.identity_support import (
    CONTINUE,
    EMAIL,
    VERIFY,
    IdentityApp,
    code_in,
    continue_token_in,
    start_identity_app,
)
from tests.support import FakeAdapter

SARA = "sara@example.ir"
AT_ONCE = 60


@pytest.fixture
async def app(settings: Settings, start_app: Any, relay: FakeRelay) -> IdentityApp:
    # Every visitor here comes from 127.0.0.1; the per-address session limit (tested in
    # test_webchat_limits.py) would stop them before the limits these tests are about.
    return await start_identity_app(
        start_app,
        settings,
        relay,
        webchat={"sessions_per_address_per_minute": 1000, "codes_per_address_per_hour": 1000},
    )


async def visitors(app: IdentityApp, count: int) -> list[str]:
    """`count` web chat visitors, each already known to the router."""
    tokens = [await app.visitor() for _ in range(count)]
    for token in tokens:
        # Any identity call creates the visitor's identity; a bad address changes nothing.
        assert (await app.post(EMAIL, token, {"email": "not an address"}))[0] == 422
    return tokens


async def proofs(app: IdentityApp, kind: str) -> int:
    async with app.context.sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(IdentityProof).where(IdentityProof.kind == kind)
            )
            or 0
        )


async def test_wrong_codes_sent_at_once_count_every_one(app: IdentityApp) -> None:
    [visitor] = await visitors(app, 1)
    assert (await app.post(EMAIL, visitor, {"email": SARA}))[0] == 202
    code = code_in(await app.relayed(1))
    wrong = "000000" if code != "000000" else "111111"

    answers = await asyncio.gather(
        *(app.post(VERIFY, visitor, {"code": wrong}) for _ in range(AT_ONCE))
    )
    kinds = Counter(body["error"]["code"] for _, body in answers)
    # Each of the first CODE_ATTEMPTS was compared; every later one found the code dead.
    assert kinds["wrong_code"] + kinds["locked"] == AT_ONCE, kinds
    assert kinds["wrong_code"] <= CODE_ATTEMPTS - 1, kinds
    status, body = await app.post(VERIFY, visitor, {"code": code})
    assert (status, body["error"]["code"]) == (429, "locked")
    assert await app.customer_of("email", SARA) != await app.customer_of(
        "webchat", app.address_of(visitor)
    )


async def test_codes_asked_for_at_once_stay_within_the_address_limit(app: IdentityApp) -> None:
    tokens = await visitors(app, AT_ONCE)
    answers = await asyncio.gather(*(app.post(EMAIL, token, {"email": SARA}) for token in tokens))
    statuses = Counter(status for status, _ in answers)
    assert statuses == {202: SENDS_PER_ADDRESS, 429: AT_ONCE - SENDS_PER_ADDRESS}, statuses
    assert await proofs(app, KIND_CODE) == SENDS_PER_ADDRESS


async def test_codes_one_visitor_asks_for_at_once_stay_within_the_requester_limit(
    app: IdentityApp,
) -> None:
    [visitor] = await visitors(app, 1)
    answers = await asyncio.gather(
        *(app.post(EMAIL, visitor, {"email": f"user{n}@example.ir"}) for n in range(AT_ONCE))
    )
    statuses = Counter(status for status, _ in answers)
    assert statuses == {202: SENDS_PER_REQUESTER, 429: AT_ONCE - SENDS_PER_REQUESTER}, statuses
    assert await proofs(app, KIND_CODE) == SENDS_PER_REQUESTER


async def test_a_continue_token_spent_at_once_by_many_works_once(app: IdentityApp) -> None:
    await app.mail(make_mail(sender=f"Sara <{SARA}>", body="where is it?"), mail_from=SARA)
    link = continue_token_in(await app.relayed(1))
    tokens = await visitors(app, 20)
    answers = await asyncio.gather(
        *(app.post(CONTINUE, token, {"token": link}) for token in tokens)
    )
    statuses = Counter(status for status, _ in answers)
    assert statuses == {200: 1, 409: 19}, statuses
    assert await proofs(app, KIND_CONTINUE) == 1
    sara = await app.customer_of("email", SARA)
    joined = [t for t, (status, _) in zip(tokens, answers, strict=True) if status == 200]
    for token in tokens:
        customer = await app.customer_of("webchat", app.address_of(token))
        assert (customer == sara) == (token in joined)


async def test_a_telegram_start_link_sent_at_once_by_many_asks_one_of_them(
    settings: Settings, start_app: Any
) -> None:
    web, telegram = FakeAdapter(name="webchat"), FakeAdapter(name="telegram")
    _, context = await start_app(settings.replace("email", enabled=False), adapters=[web, telegram])
    await web.push("hello from the site", sender="visitor:race")
    async with context.sessions() as session:
        web_identity = await session.scalar(
            select(Identity).where(Identity.address == "visitor:race")
        )
        assert web_identity is not None
    start = ProofTokens(settings.server.secret_key).chat_link_token(
        web_identity.id, ttl=timedelta(hours=1)
    )
    chats = [str(900 + n) for n in range(20)]
    await asyncio.gather(
        *(
            telegram.push(
                f"/start {start}",
                sender=chat,
                sender_verified=True,
                proof=start_link_claim(f"/start {start}"),
            )
            for chat in chats
        )
    )
    replies = Counter(m.text for m in await telegram.wait_sent(len(chats)))
    assert replies == {
        ROUTER_TEXTS.text("link_confirm", "fa"): 1,
        ROUTER_TEXTS.text("link_refused", "fa"): len(chats) - 1,
    }, replies
