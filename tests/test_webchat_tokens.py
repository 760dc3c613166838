"""Visitor tokens end: each carries its issue time and lives `visitor_token_ttl_seconds`
from it, resuming re-issues it (sliding), a site user's token ends when the site
rotates `user_hash_secret`, and a token from before issue times is resumed once into
a new one (channels/webchat/tokens.py, docs/webchat-protocol.md §1)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient

from channels.webchat import WebchatAdapter
from channels.webchat.tokens import (
    LEGACY_TOKENS_RESUMED_UNTIL,
    InvalidToken,
    TokenSigner,
    Visitor,
    user_hash,
)
from config.settings import WebchatSettings
from router.core.events import InProcessEventBus
from router.core.security import PayloadSigner, b64_bytes, b64_text
from tests.webchat_fakes import (
    SECRET,
    Clock,
    FakeRouter,
    build_test_app,
    make_services,
    next_frame,
)

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
SESSIONS = "/api/v1/webchat/sessions"
DAY = 86_400
SITE_SECRET_A = "site-secret-a-" + "a" * 32
SITE_SECRET_B = "site-secret-b-" + "b" * 32


Start = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
def start(aiohttp_client: ClientFactory, tmp_path: Path) -> Start:
    """`await start(clock, user_hash_secret=...)`: a web chat on its own, as after a
    (re)start with those settings."""

    async def started(clock: Clock, user_hash_secret: str = "") -> TestClient[Any, Any]:
        adapter = WebchatAdapter(
            settings=WebchatSettings(
                visitor_token_ttl_seconds=30 * DAY, user_hash_secret=user_hash_secret
            ),
            secret_key=SECRET,
            clock=clock,
        )
        router = FakeRouter(InProcessEventBus())
        return await aiohttp_client(build_test_app(adapter, make_services(router, tmp_path)))

    return started


async def session(client: TestClient[Any, Any], **body: Any) -> tuple[int, dict[str, Any]]:
    async with client.post(SESSIONS, json=body) as answer:
        return answer.status, await answer.json()


async def socket_answer(client: TestClient[Any, Any], token: str) -> str | int:
    """ "ready" when the socket takes `token`; else the close code it was refused with."""
    ws = await client.ws_connect("/ws/webchat", params={"token": token})
    frame = await next_frame(ws)
    if frame["type"] == "ready":
        await ws.close()
        return "ready"
    assert frame["code"] == "invalid_token"
    closing = await ws.receive()
    assert closing.type == WSMsgType.CLOSE
    return int(closing.data)


def address(clock: Clock, token: str, user_hash_secret: str = "") -> str:
    signer = TokenSigner(SECRET, user_hash_secret=user_hash_secret, clock=clock)
    return signer.open_visitor(token).address


async def test_a_token_ends_when_its_lifetime_is_over(start: Start) -> None:
    clock = Clock()
    client = await start(clock)
    _, body = await session(client)
    token = body["visitor_token"]
    clock.now += 30 * DAY - 60
    assert await socket_answer(client, token) == "ready"
    clock.now += 120
    assert await socket_answer(client, token) == 4401
    # Resuming it is too late as well: a new anonymous visitor, not the old conversation.
    status, again = await session(client, visitor_token=token)
    assert status == 200
    with pytest.raises(InvalidToken):
        address(clock, token)
    assert address(clock, again["visitor_token"]).startswith("visitor:")
    assert again["visitor_token"] != token


async def test_resuming_reissues_the_token_so_a_returning_visitor_keeps_going(
    start: Start,
) -> None:
    clock = Clock()
    client = await start(clock)
    _, body = await session(client)
    first = body["visitor_token"]
    clock.now += 29 * DAY
    status, resumed = await session(client, visitor_token=first)
    second = resumed["visitor_token"]
    assert status == 200 and second != first
    assert address(clock, second) == address(clock, first)  # the same conversation
    clock.now += 29 * DAY  # 58 days after the first issue, 29 after the second
    assert await socket_answer(client, second) == "ready"
    assert await socket_answer(client, first) == 4401


async def test_rotating_user_hash_secret_ends_every_site_users_token(start: Start) -> None:
    clock = Clock()
    before = await start(clock, SITE_SECRET_A)
    status, body = await session(before, user_id="42", user_hash=user_hash(SITE_SECRET_A, "42"))
    assert status == 200 and body["user_verified"] is True
    token = body["visitor_token"]
    assert await socket_answer(before, token) == "ready"

    after = await start(clock, SITE_SECRET_B)  # the site rotated its secret; restarted
    assert await socket_answer(after, token) == 4401
    status, resumed = await session(after, visitor_token=token)
    assert status == 200 and resumed["user_verified"] is False  # a new anonymous visitor
    assert address(clock, resumed["visitor_token"]).startswith("visitor:")
    # The site's user, with a hash under the new secret, is user 42 again.
    status, body = await session(after, user_id="42", user_hash=user_hash(SITE_SECRET_B, "42"))
    assert status == 200
    assert address(clock, body["visitor_token"], SITE_SECRET_B) == "user:42"
    assert await socket_answer(after, body["visitor_token"]) == "ready"
    # And the site no longer signing users in ends them too.
    assert await socket_answer(await start(clock), body["visitor_token"]) == 4401


def test_an_altered_token_is_refused() -> None:
    clock = Clock()
    signer = TokenSigner(SECRET, clock=clock)
    token = signer.visitor_token(Visitor(address="visitor:abc"))
    version, payload, signature = token.split(".")
    later = json.loads(b64_bytes(payload))
    later["i"] += 365 * DAY
    moved = b64_text(json.dumps(later, separators=(",", ":")).encode())
    for bad in (
        f"{version}.{moved}.{signature}",
        token[:-2] + ("AA" if token[-2:] != "AA" else "BB"),
    ):
        with pytest.raises(InvalidToken):
            signer.open_visitor(bad)
    # A token made under another server secret is no token of ours.
    other = TokenSigner(SECRET + "-other", clock=clock).visitor_token(Visitor("visitor:abc"))
    with pytest.raises(InvalidToken):
        signer.open_visitor(other)


def legacy_token(address: str, secret: str = SECRET) -> str:
    """A visitor token as issued before tokens carried an issue time."""
    body = b64_text(json.dumps({"a": address}, separators=(",", ":")).encode())
    return PayloadSigner(secret, "webchat-visitor-token").sign(f"v1.{body}")


async def test_a_token_from_before_issue_times_is_resumed_into_a_fresh_one(
    start: Start,
) -> None:
    clock = Clock()
    client = await start(clock)
    old = legacy_token("visitor:from-before")
    assert await socket_answer(client, old) == 4401  # nowhere but the resume
    status, body = await session(client, visitor_token=old)
    assert status == 200
    fresh = body["visitor_token"]
    assert address(clock, fresh) == "visitor:from-before"  # the conversation kept
    assert await socket_answer(client, fresh) == "ready"
    # After the transition such tokens are refused like expired ones.
    clock.now = LEGACY_TOKENS_RESUMED_UNTIL + 1
    status, body = await session(client, visitor_token=old)
    assert address(clock, body["visitor_token"]) != "visitor:from-before"
    # A site user's token from before is never resumed: the site's user_hash brings
    # the user back to the same conversation.
    with pytest.raises(InvalidToken):
        TokenSigner(SECRET, user_hash_secret=SITE_SECRET_A, clock=Clock()).open_visitor(
            legacy_token("user:42"), resuming=True
        )


async def test_resuming_cannot_keep_a_token_chain_alive_past_its_maximum_age(
    start: Start,
) -> None:
    # A thief who resumes a stolen token every few weeks keeps the conversation only
    # until the chain's 90 days are over; two tabs resuming the same token both keep
    # working meanwhile (no token of a live chain retires another).
    clock = Clock()
    client = await start(clock)
    _, body = await session(client)
    chain = [body["visitor_token"]]
    visitor = address(clock, chain[0])
    for _ in range(4):  # day 20, 40, 60, 80
        clock.now += 20 * DAY
        _, resumed = await session(client, visitor_token=chain[-1])
        chain.append(resumed["visitor_token"])
    _, other_tab = await session(client, visitor_token=chain[-2])
    for token in (chain[-1], chain[-2], other_tab["visitor_token"]):
        assert address(clock, token) == visitor
        assert await socket_answer(client, token) == "ready"
    clock.now += 10 * DAY - 60  # a minute before day 90: still the same conversation
    _, resumed = await session(client, visitor_token=chain[-1])
    assert address(clock, resumed["visitor_token"]) == visitor
    clock.now += 120  # past day 90: every token of the chain has ended
    for token in (resumed["visitor_token"], chain[-1], other_tab["visitor_token"]):
        assert await socket_answer(client, token) == 4401
    status, again = await session(client, visitor_token=resumed["visitor_token"])
    assert status == 200
    assert address(clock, again["visitor_token"]) != visitor  # a new visitor


async def test_a_site_users_chain_starts_again_with_each_user_hash(start: Start) -> None:
    clock = Clock()
    client = await start(clock, SITE_SECRET_A)
    proof = {"user_id": "42", "user_hash": user_hash(SITE_SECRET_A, "42")}
    _, body = await session(client, **proof)
    clock.now += 80 * DAY
    # The widget sends the page's user_hash with its stored token: proved again, now.
    _, body = await session(client, visitor_token=body["visitor_token"], **proof)
    clock.now += 20 * DAY  # 100 days after the first proof, 20 after the last
    assert await socket_answer(client, body["visitor_token"]) == "ready"
    assert address(clock, body["visitor_token"], SITE_SECRET_A) == "user:42"


async def test_a_token_from_before_chains_began_its_chain_when_it_was_issued(
    start: Start,
) -> None:
    clock = Clock()
    client = await start(clock)
    payload = {"a": "visitor:older", "i": int(clock.now)}
    body = b64_text(json.dumps(payload, separators=(",", ":")).encode())
    old = PayloadSigner(SECRET, "webchat-visitor-token").sign(f"v1.{body}")
    chain = [old]
    for _ in range(3):  # day 29, 58, 87
        clock.now += 29 * DAY
        _, resumed = await session(client, visitor_token=chain[-1])
        chain.append(resumed["visitor_token"])
    assert address(clock, chain[-1]) == "visitor:older"
    clock.now += 4 * DAY  # day 91
    assert await socket_answer(client, chain[-1]) == 4401
