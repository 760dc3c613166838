"""Thread lists page by keyset in each of their orders (queued by priority and wait,
by deadline, most recently changed): pages join up to the one long list, a thread
arriving meanwhile never repeats or shifts a row, and a foreign cursor is refused."""

from __future__ import annotations

from typing import Any

import pytest

from config.settings import Settings
from router.core.responder import QueueEveryThread
from tests.agent_support import api, make_agent
from tests.support import FakeAdapter


@pytest.mark.parametrize(
    "params",
    [{"status": "queued"}, {"status": "open", "sort": "due"}, {"status": "open"}],
    ids=["queue", "due", "recent"],
)
async def test_thread_pages_join_up_and_ignore_threads_arriving_meanwhile(
    settings: Settings, start_app: Any, params: dict[str, str]
) -> None:
    web = FakeAdapter(name="web")
    client, context = await start_app(settings, adapters=[web], responder=QueueEveryThread())
    boss = await make_agent(context, "Boss", is_admin=True)
    ids = [(await web.push(f"help {n}", sender=f"v{n}")).thread_id for n in range(7)]
    for thread_id, priority in zip(ids[:3], ("urgent", "low", "high"), strict=True):
        status, body = await api(
            client,
            "POST",
            f"/api/v1/threads/{thread_id}/priority",
            boss,
            json={"priority": priority},
        )
        assert status == 200, body
    status, whole = await api(client, "GET", "/api/v1/threads", boss, params=params)
    assert status == 200 and whole["next"] is None, whole
    expected = [t["id"] for t in whole["threads"]]
    assert sorted(expected) == sorted(ids)

    seen: list[int] = []
    cursor = None
    newcomer = None
    while True:
        query = {**params, "limit": "3", **({"cursor": cursor} if cursor else {})}
        status, page = await api(client, "GET", "/api/v1/threads", boss, params=query)
        assert status == 200, page
        seen += [t["id"] for t in page["threads"]]
        if newcomer is None:
            newcomer = (await web.push("a new customer", sender="late")).thread_id
        cursor = page["next"]
        if cursor is None:
            break
    assert len(set(seen)) == len(seen)  # nothing repeated
    if params.get("sort") != "due" and params["status"] == "open":
        # most recently changed first: the newcomer is above every cursor, never shown
        assert seen == expected
    else:
        # it takes its place among the rows still ahead; nothing already shown moved
        assert [i for i in seen if i != newcomer] == expected

    foreign = {"status": "open", "sort": "due"} if params.get("sort") != "due" else {}
    status, page = await api(
        client, "GET", "/api/v1/threads", boss, params={**params, "limit": "3"}
    )
    assert page["next"] is not None
    status, body = await api(
        client, "GET", "/api/v1/threads", boss, params={**foreign, "cursor": page["next"]}
    )
    assert status == 422, body
    status, body = await api(
        client, "GET", "/api/v1/threads", boss, params={**params, "cursor": "bm90IG91cnM"}
    )
    assert status == 422, body


async def _walk(
    client: Any, boss: Any, path: str, key: str, params: dict[str, str], arrive: Any
) -> list[Any]:
    """Every row of a list read three at a time, `arrive()` run after the first page."""
    seen: list[Any] = []
    cursor = None
    arrived = False
    while True:
        query = {**params, "limit": "3", **({"cursor": cursor} if cursor else {})}
        status, page = await api(client, "GET", path, boss, params=query)
        assert status == 200, page
        seen += page[key]
        if not arrived:
            await arrive()
            arrived = True
        cursor = page["next"]
        if cursor is None:
            return seen


async def test_agent_pages_join_up_and_ignore_agents_added_meanwhile(
    settings: Settings, start_app: Any
) -> None:
    client, context = await start_app(settings)
    boss = await make_agent(context, "Boss", is_admin=True, tier=3)
    # Same names on one tier: the id breaks the tie, so no row is lost between pages.
    for n, tier in enumerate((1, 2, 1, 3, 2, 1, 1)):
        await make_agent(context, f"Same{n}", tier=tier)
    status, whole = await api(client, "GET", "/api/v1/agents", boss)
    assert status == 200 and whole["next"] is None, whole
    expected = [a["id"] for a in whole["agents"]]
    assert len(expected) == 8
    assert [a["tier"] for a in whole["agents"]] == sorted(a["tier"] for a in whole["agents"])

    newcomers: list[int] = []

    async def arrive() -> None:
        newcomers.append((await make_agent(context, "Aaron", tier=1)).id)

    seen = [a["id"] for a in await _walk(client, boss, "/api/v1/agents", "agents", {}, arrive)]
    assert len(set(seen)) == len(seen)
    assert [i for i in seen if i not in newcomers] == expected

    status, page = await api(client, "GET", "/api/v1/agents", boss, params={"limit": "2"})
    assert status == 200 and len(page["agents"]) == 2 and page["next"] is not None
    status, body = await api(client, "GET", "/api/v1/canned", boss, params={"cursor": page["next"]})
    assert status == 422, body  # an agent list's cursor means nothing to another list
    for bad in ("bm90IG91cnM", "!!"):
        status, body = await api(client, "GET", "/api/v1/agents", boss, params={"cursor": bad})
        assert status == 422, body


async def test_canned_pages_join_up_per_language_and_ignore_ones_added_meanwhile(
    settings: Settings, start_app: Any
) -> None:
    client, context = await start_app(settings)
    boss = await make_agent(context, "Boss", is_admin=True)
    titles = {
        "fa": ["سلام x", "ارسال x", "پیگیری x", "۲۰۲۴-۰۱-۰۱"],
        "ar": ["مرحبا x"],
        "en": ["2024-01-01", "Hi x", "Refund x"],
    }
    for language, names in titles.items():
        for title in names:
            status, body = await api(
                client,
                "POST",
                "/api/v1/canned",
                boss,
                json={"language": language, "title": title, "text": f"{title}: ..."},
            )
            assert status == 201, body

    async def arrive() -> None:
        for language in ("fa", "en"):
            status, body = await api(
                client,
                "POST",
                "/api/v1/canned",
                boss,
                json={"language": language, "title": "آ 0 late", "text": "late"},
            )
            assert status == 201, body

    status, whole = await api(client, "GET", "/api/v1/canned", boss)
    assert status == 200 and whole["next"] is None, whole
    expected = [c["id"] for c in whole["canned"]]
    assert len(expected) >= 8
    seen = [c["id"] for c in await _walk(client, boss, "/api/v1/canned", "canned", {}, arrive)]
    assert len(set(seen)) == len(seen)
    assert [i for i in seen if i in expected] == expected

    async def nobody() -> None:
        return None

    fa = {"language": "fa"}
    status, whole = await api(client, "GET", "/api/v1/canned", boss, params=fa)
    assert status == 200 and whole["next"] is None, whole
    assert len(whole["canned"]) >= 5 and {c["language"] for c in whole["canned"]} == {"fa"}
    walked = await _walk(client, boss, "/api/v1/canned", "canned", fa, nobody)
    assert walked == whole["canned"]
