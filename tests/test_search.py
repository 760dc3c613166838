"""Search over customers, threads and messages with the FAQ's normalisation, the
customers list, paging by keyset (stable under inserts), and a customer's profile with
notes, tags and ratings; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from config.settings import Settings
from router.core.responder import QueueEveryThread
from tests.agent_support import api, make_agent
from tests.support import FakeAdapter


async def _start(settings: Settings, start_app: Any) -> tuple[Any, Any, FakeAdapter, FakeAdapter]:
    web, mail = FakeAdapter(name="web"), FakeAdapter(name="email")
    client, context = await start_app(settings, adapters=[web, mail], responder=QueueEveryThread())
    return client, context, web, mail


async def test_search_folds_arabic_letters_digits_and_zwnj_and_keeps_tiers_apart(
    settings: Settings, start_app: Any
) -> None:
    client, context, web, mail = await _start(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    sara = await make_agent(context, "Sara", tier=1)
    senior = await make_agent(context, "Senior", tier=2)
    ali = await web.push(
        "کتاب من کجاست؟ سفارش ۱۲۳۴۵ را می‌خواهم", sender="v1", sender_name="علی رضایی"
    )
    maryam = await mail.push("Where is my parcel?", sender="Maryam.K@Example.com")
    phone = await web.push("call me", sender="+98 912 555 0101")
    reza = await web.push("salam", sender="7001", sender_username="reza_tg")

    async def search(q: str, agent: Any = boss, **params: str) -> Any:
        status, body = await api(client, "GET", "/api/v1/search", agent, params={"q": q, **params})
        assert status == 200, body
        return body

    found = await search("علي")  # Arabic yeh finds the Persian name
    assert [c["id"] for c in found["customers"]] == [ali.customer_id]
    found = await search("كتاب")  # Arabic kaf finds the Persian word
    assert [m["id"] for m in found["messages"]] == [ali.message_id]
    assert [m["id"] for m in (await search("12345"))["messages"]] == [ali.message_id]
    assert [m["id"] for m in (await search("میخواهم"))["messages"]] == [ali.message_id]
    found = await search("maryam.k@example.COM")
    assert [c["id"] for c in found["customers"]] == [maryam.customer_id]
    found = await search("09125550101")  # a phone number however it is spaced
    assert [c["id"] for c in found["customers"]] == [phone.customer_id]
    assert [c["id"] for c in (await search("@Reza_TG"))["customers"]] == [reza.customer_id]
    found = await search(str(ali.thread_id))
    assert [t["id"] for t in found["threads"]] == [ali.thread_id]
    assert [c["id"] for c in (await search("علي", sara))["customers"]] == [ali.customer_id]
    assert await search("علي", senior) == {
        "customers": [],
        "threads": [],
        "messages": [],
        "next": None,
    }
    status, body = await api(client, "GET", "/api/v1/search", boss, params={"q": "؟!"})
    assert status == 422, body
    status, body = await api(
        client, "GET", "/api/v1/search", boss, params={"q": "x", "cursor": "forged"}
    )
    assert status == 422, body


async def test_a_persian_clitic_spaced_off_finds_the_joined_and_zwnj_spellings(
    settings: Settings, start_app: Any
) -> None:
    """«می خواهم» with a space, «میخواهم» and «می‌خواهم» (ZWNJ) are one word to search,
    whichever way the message and the query were written (the FAQ tokeniser's clitics)."""
    client, context, web, _mail = await _start(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    spaced = await web.push("سفارشم را می خواهم پیگیری کنم", sender="v1")
    zwnj = await web.push("کتاب‌ها را می‌خواهم", sender="v2", sender_name="رضا کتاب ها")

    async def found(q: str) -> tuple[set[int], set[int]]:
        status, body = await api(client, "GET", "/api/v1/search", boss, params={"q": q})
        assert status == 200, body
        return {m["id"] for m in body["messages"]}, {c["id"] for c in body["customers"]}

    both = {spaced.message_id, zwnj.message_id}
    for query in ("می خواهم", "میخواهم", "می‌خواهم", "مي خواهم"):
        assert (await found(query))[0] == both, query
    assert (await found("می خواهم پیگیری"))[0] == {spaced.message_id}
    assert (await found("کتاب ها"))[0] == {zwnj.message_id}
    assert (await found("کتابها"))[1] == {zwnj.customer_id}


async def test_search_and_customer_list_page_by_keyset_stable_under_inserts(
    settings: Settings, start_app: Any
) -> None:
    client, context, web, _ = await _start(settings, start_app)
    boss = await make_agent(context, "Boss", is_admin=True)
    pushed = [await web.push(f"order {n} late", sender=f"v{n}") for n in range(5)]

    async def pages(path: str, key: str, newcomer: str, **params: str) -> list[int]:
        seen: list[int] = []
        cursor: str | None = None
        first = True
        while first or cursor is not None:
            query = {**params, "limit": "2", **({"cursor": cursor} if cursor else {})}
            status, body = await api(client, "GET", path, boss, params=query)
            assert status == 200, body
            seen += [row["id"] for row in body[key]]
            cursor = body["next"]
            if first:  # something new arrives while the agent pages
                await web.push("order 99 late", sender=newcomer)
                first = False
        return seen

    messages = await pages("/api/v1/search", "messages", "v98", q="ORDER")
    assert messages == [p.message_id for p in reversed(pushed)]
    listed = await pages("/api/v1/customers", "customers", "v99")
    newest_first = [p.customer_id for p in reversed(pushed)]
    # v98 wrote before the list was asked for; v99 while it was paged: not in it
    assert len(listed) == 6 and listed[1:] == newest_first and listed[0] > newest_first[0]


async def test_customer_profile_has_notes_tags_and_the_list_filters_by_tag(
    settings: Settings, start_app: Any
) -> None:
    client, context, web, _ = await _start(settings, start_app)
    sara = await make_agent(context, "Sara", tier=1)
    senior = await make_agent(context, "Senior", tier=2)
    one = await web.push("hello", sender="v1", sender_name="Ali")
    other = await web.push("hi", sender="v2", sender_name="Reza")
    path = f"/api/v1/customers/{one.customer_id}"

    status, body = await api(client, "POST", f"{path}/notes", sara, json={"text": "prefers mail"})
    assert status == 201 and body["note"]["agent_name"] == "Sara", body
    assert (await api(client, "POST", f"{path}/notes", senior, json={"text": "x"}))[0] == 403
    for tag in ("VIP", "vip", "wholesale"):
        status, body = await api(client, "POST", f"{path}/tags", sara, json={"tag": tag})
        assert status == 200, body
    assert body["tags"] == ["vip", "wholesale"]
    status, profile = await api(client, "GET", path, sara)
    assert status == 200, profile
    assert profile["tags"] == ["vip", "wholesale"]
    assert [n["text"] for n in profile["notes"]] == ["prefers mail"]
    assert profile["ratings"] == []
    for asked in ("vip", "VIP", " Vip "):  # folded as the tag was when it was added
        status, page = await api(client, "GET", "/api/v1/customers", sara, params={"tag": asked})
        assert [c["id"] for c in page["customers"]] == [one.customer_id], asked
    status, page = await api(client, "GET", "/api/v1/customers", sara)
    assert [c["id"] for c in page["customers"]] == [other.customer_id, one.customer_id]
    assert (await api(client, "DELETE", f"{path}/tags/vip", sara))[0] == 204
    assert (await api(client, "DELETE", f"{path}/tags/vip", sara))[0] == 404
    status, profile = await api(client, "GET", path, sara)
    assert profile["tags"] == ["wholesale"]
