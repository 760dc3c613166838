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
