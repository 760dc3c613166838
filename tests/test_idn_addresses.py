"""Email addresses at internationalised domains: stored in A-labels (one key per
mailbox), shown to agents in Unicode as the customer wrote them, and found by search in
either form; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from config.settings import Settings
from router.core.email_addresses import canonical_address, shown_address, stored_form
from router.core.responder import QueueEveryThread
from tests.agent_support import api, make_agent
from tests.support import FakeAdapter

PERSIAN = "maryam@مثال.ایران"  # stored as maryam@xn--mgbh0fb.xn--mgba3a4f16a
ARABIC = "ahmad@مثال.السعودية"  # stored as ahmad@xn--mgbh0fb.xn--mgberp4a5d4ar
PLAIN = "plain@example.com"


def test_an_address_is_shown_in_unicode_and_stored_in_a_labels_by_one_rule() -> None:
    for written in (PERSIAN, ARABIC, "sara@می‌خواهم.ir"):  # the ZWNJ kept both ways
        stored = canonical_address(written)
        assert stored is not None and stored.isascii()
        assert shown_address(stored) == written
        assert stored_form(written) == stored
    assert shown_address(PLAIN) == PLAIN
    assert stored_form(PLAIN) is None  # typed as stored: nothing to add
    assert stored_form("مثال.ایران") == "xn--mgbh0fb.xn--mgba3a4f16a"  # a domain alone
    assert stored_form("کتاب من") is None  # words, not an address
    # Shown as stored: an IDNA 2003 label (a symbol), a broken one, and Latin mixed
    # with a look-alike of another script (Cyrillic «а» in «pаypal»).
    for stored in ("x@xn--n3h.com", "x@xn--abc.com", "x@xn--pypal-4ve.com", "12345"):
        assert shown_address(stored) == stored


async def test_agents_see_and_find_an_address_in_the_form_the_customer_wrote(
    settings: Settings, start_app: Any
) -> None:
    mail = FakeAdapter(name="email")
    client, context = await start_app(settings, adapters=[mail], responder=QueueEveryThread())
    boss = await make_agent(context, "Boss", is_admin=True)
    # As the email channel stores a sender: `canonical_address`, the domain in A-labels.
    persian, arabic, plain = [
        await mail.push("سلام، سفارشم کجاست؟", sender=canonical_address(address) or "")
        for address in (PERSIAN, ARABIC, PLAIN)
    ]

    async def get(path: str, **params: str) -> Any:
        status, body = await api(client, "GET", path, boss, params=params)
        assert status == 200, body
        return body

    for pushed, written in ((persian, PERSIAN), (arabic, ARABIC), (plain, PLAIN)):
        customer = await get(f"/api/v1/customers/{pushed.customer_id}")
        assert [i["address"] for i in customer["identities"]] == [written]
        assert customer["display_name"] == written
        thread = await get(f"/api/v1/threads/{pushed.thread_id}")
        assert [i["address"] for i in thread["customer"]["identities"]] == [written]
    summaries = {t["id"]: t["customer_name"] for t in (await get("/api/v1/threads"))["threads"]}
    assert summaries[persian.thread_id] == PERSIAN
    assert summaries[arabic.thread_id] == ARABIC
    listed = {c["id"]: c["display_name"] for c in (await get("/api/v1/customers"))["customers"]}
    assert listed[persian.customer_id] == PERSIAN

    async def found(q: str) -> list[int]:
        return [c["id"] for c in (await get("/api/v1/search", q=q))["customers"]]

    for pushed, written in ((persian, PERSIAN), (arabic, ARABIC), (plain, PLAIN)):
        assert await found(written) == [pushed.customer_id]  # as shown
        assert await found(canonical_address(written) or "") == [pushed.customer_id]  # stored
    assert await found("مثال.ایران") == [persian.customer_id]  # the domain alone
    assert sorted(await found("مثال")) == sorted([persian.customer_id, arabic.customer_id])
    assert await found("xn--mgberp4a5d4ar") == [arabic.customer_id]
    # The message text is searched as written, with no address form added.
    messages = (await get("/api/v1/search", q="سفارشم"))["messages"]
    assert len(messages) == 3
