"""Outreach in one process: templates, one message sent once into the thread through
the outbox, idempotency under concurrency, consent, quiet hours, the daily cap,
staleness, and the scheduler on two app instances sharing one database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from config.settings import Settings
from router.core import ingest as ingest_module
from router.core.messages import AuthorKind, utcnow
from router.core.responder import QueueEveryThread
from router.outreach import scheduler
from router.outreach.consent import is_opt_out, unsubscribe_url
from router.outreach.templates import (
    Template,
    TemplateError,
    TemplateText,
    render,
    template_from_json,
)
from router.storage.column_sizes import column_limit
from router.storage.models import (
    Identity,
    Message,
    OutreachMessage,
    OutreachOptOut,
    Thread,
    ThreadEvent,
    ThreadStatus,
)
from tests.agent_support import api, count_rows, make_agent
from tests.conftest import AppFactory
from tests.outreach_support import WARRANTY, put_warranty_template, until_finished
from tests.support import FakeAdapter, later_passes, make_settings

FAST = {"quiet_hours": "", "scheduler_interval_seconds": 0.05}


def outreach_settings(settings: Settings, **changes: Any) -> Settings:
    return settings.replace("outreach", **(FAST | changes))


async def started(start_app: AppFactory, settings: Settings, **outreach: Any) -> Any:
    web = FakeAdapter(name="web")
    client, context = await start_app(
        outreach_settings(settings, **outreach), adapters=[web], responder=QueueEveryThread()
    )
    admin = await make_agent(context, "Boss", is_admin=True)
    await put_warranty_template(client, admin)
    return client, context, web, admin


def reminder(customer_id: int, key: str = "r-1", **fields: Any) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "template": "warranty_reminder",
        "params": {"product": "Galaxy S24", "expires_on": "2027-03-21"},
        "idempotency_key": key,
        **fields,
    }


def test_persian_text_has_a_solar_hijri_date_in_persian_digits() -> None:
    template = template_from_json("warranty_reminder", WARRANTY)
    params = {"customer_name": "سارا", "product": "Galaxy", "expires_on": "2027-03-21"}
    fa = render(template, "fa", params)
    assert fa.body == "سارا عزیز، گارانتی Galaxy شما در یک‌شنبه ۱ فروردین ۱۴۰۶ تمام می‌شود."
    assert fa.suggestions == ("تمدید گارانتی", "سؤال دارم")
    ar = render(template, "ar", params)
    assert "٢١ مارس ٢٠٢٧" in ar.body
    assert render(template, "en", params).subject == "Your Galaxy warranty ends soon"


@pytest.mark.parametrize("placeholder", ["{product:>20000000}", "{product!r}", "{product:{x}}"])
def test_a_placeholder_is_a_name_only(placeholder: str) -> None:
    # a format spec would let the template's author choose how large the filled text
    # is (20 million spaces) or make every filling fail
    body = {"texts": {"en": {"body": f"Hi {placeholder}"}}}
    with pytest.raises(TemplateError, match="a placeholder is a name only"):
        template_from_json("padded", body)
    # one stored before the rule: refused when filled, not filled
    stored = Template("padded", {"en": TemplateText(f"Hi {placeholder}")})
    with pytest.raises(TemplateError, match="a name only"):
        render(stored, "en", {"product": "TV", "x": "5"})


async def test_template_is_stored_checked_and_read_back(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, _, admin = await started(start_app, settings)
    status, body = await api(client, "GET", "/api/v1/templates/warranty_reminder", admin)
    assert status == 200 and body["texts"]["fa"]["suggestions"] == ["تمدید گارانتی", "سؤال دارم"]
    bad = {"texts": {"de": {"body": "Hallo"}, "fa": {"body": "سلام {نام"}}}
    status, body = await api(client, "PUT", "/api/v1/templates/bad", admin, json=bad)
    assert status == 422
    assert "texts.de" in body["error"]["message"] and "texts.fa" in body["error"]["message"]
    agent = await make_agent(context, "Sara")
    status, _ = await api(client, "PUT", "/api/v1/templates/x", agent, json=WARRANTY)
    assert status == 403


async def test_one_message_is_sent_once_into_the_customers_thread(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, web, admin = await started(start_app, settings)
    first = await web.push("سلام", sender="v1", language="fa")
    status, body = await api(
        client, "POST", "/api/v1/outbound/messages", admin, json=reminder(first.customer_id)
    )
    assert status == 202 and body["status"] == "scheduled", body
    row = await until_finished(context, body["id"])
    assert row.status == "sent" and row.thread_id == first.thread_id
    [sent] = [m for m in await web.wait_sent(1) if m.message_id == row.message_id]
    assert sent.suggestions == ("تمدید گارانتی", "سؤال دارم")
    assert "۱ فروردین ۱۴۰۶" in sent.text and sent.author == AuthorKind.SYSTEM

    # The same key again: the first answer, nothing more sent.
    again, body2 = await api(
        client, "POST", "/api/v1/outbound/messages", admin, json=reminder(first.customer_id)
    )
    assert again == 202 and body2["id"] == body["id"]
    assert await count_rows(context, OutreachMessage) == 1
    await later_passes(context, "outreach")
    await later_passes(context, "outbox")
    assert len([m for m in web.sent if m.message_id == row.message_id]) == 1
    status, shown = await api(client, "GET", f"/api/v1/outbound/messages/{body['id']}", admin)
    assert status == 200 and shown["status"] == "delivered" and shown["channel"] == "web"

    # The customer's answer lands in the same thread, under the reminder.
    answer = await web.push("تمدید گارانتی", sender="v1", language="fa")
    assert answer.thread_id == first.thread_id


async def test_the_same_key_sent_at_once_makes_one_message(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, web, admin = await started(start_app, settings, scheduler_interval_seconds=60)
    first = await web.push("hello", sender="v1", language="en")
    send_at = (utcnow() + timedelta(days=1)).isoformat()
    answers = await asyncio.gather(
        *(
            api(
                client,
                "POST",
                "/api/v1/outbound/messages",
                admin,
                json=reminder(first.customer_id, send_at=send_at),
            )
            for _ in range(8)
        )
    )
    assert {status for status, _ in answers} == {202}
    assert len({body["id"] for _, body in answers}) == 1
    assert await count_rows(context, OutreachMessage) == 1


async def test_bad_requests_are_refused_with_the_reason(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, web, admin = await started(start_app, settings)
    first = await web.push("hello", sender="v1", language="en")
    path = "/api/v1/outbound/messages"
    cases = [
        (reminder(first.customer_id, template="nope"), 404),
        (reminder(first.customer_id, params={"product": "x"}), 422),
        (reminder(999999), 404),
        (reminder(first.customer_id, send_at="tomorrow"), 422),
        # Real instants that leave the years 1-9999 once written in UTC (a 500 once).
        (reminder(first.customer_id, send_at="9999-12-31T23:00:00-05:00"), 422),
        (reminder(first.customer_id, send_at="0001-01-01T00:00:00+05:00"), 422),
        ({"template": "warranty_reminder"}, 422),
    ]
    for body, expected in cases:
        status, answer = await api(client, "POST", path, admin, json=body)
        assert status == expected, (body, answer)
    identity = {"channel": "web", "address": "v1"}
    body = reminder(None, key="by-identity") | {"identity": identity}
    del body["customer_id"]
    status, answer = await api(client, "POST", path, admin, json=body)
    assert status == 202 and answer["customer_id"] == first.customer_id
    assert context.metrics.registry.get_sample_value(
        "pasokh_rejected_input_total", {"channel": "outreach", "reason": "422"}
    )


async def test_stop_opts_out_of_outreach_only_and_says_so(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, web, admin = await started(start_app, settings)
    first = await web.push("سلام", sender="v1", language="fa")
    await web.push("لغو", sender="v1", language="fa")
    [told] = [m for m in await web.wait_sent(1) if "پیام یادآوری" in m.text]
    assert told.language == "fa"
    async with context.read_sessions() as session:
        assert await session.get(OutreachOptOut, first.customer_id) is not None
    _, body = await api(
        client, "POST", "/api/v1/outbound/messages", admin, json=reminder(first.customer_id)
    )
    row = await until_finished(context, body["id"])
    assert (row.status, row.reason, row.message_id) == ("skipped", "opted_out", None)
    _, shown = await api(client, "GET", f"/api/v1/outbound/messages/{body['id']}", admin)
    assert shown["status"] == "skipped" and shown["reason"] == "opted_out"
    assert context.metrics.registry.get_sample_value(
        "pasokh_outreach_messages_total", {"template": "", "channel": "web", "outcome": "opted_out"}
    )
    # Support replies still reach them: the opt-out is of outreach only.
    path = f"/api/v1/threads/{first.thread_id}"
    assert (await api(client, "POST", f"{path}/claim", admin))[0] == 200
    reply = {"text": "پاسخ پشتیبانی"}
    assert (await api(client, "POST", f"{path}/messages", admin, json=reply))[0] == 201
    count = len(web.sent)
    while not any(m.text == "پاسخ پشتیبانی" for m in web.sent):
        count += 1
        await web.wait_sent(count)


async def test_a_stop_from_a_sender_who_failed_authentication_opts_nobody_out(
    settings: Settings, start_app: AppFactory
) -> None:
    _, context, web, _ = await started(start_app, settings)
    first = await web.push("hello", sender="v1", language="en")
    forged = await web.push("STOP", sender="v1", language="en", sender_authenticated=False)
    assert forged.customer_id == first.customer_id
    async with context.read_sessions() as session:
        assert await session.get(OutreachOptOut, first.customer_id) is None
    # the same word from the customer themselves still does
    await web.push("STOP", sender="v1", language="en", external_id="again")
    async with context.read_sessions() as session:
        assert await session.get(OutreachOptOut, first.customer_id) is not None


def test_opt_out_words_match_whole_messages_in_every_script() -> None:
    keywords = ["لغو", "توقف", "stop", "إلغاء"]
    for said in ("لغو", " STOP. ", "Stop", "إلغاء", "توقف"):
        assert is_opt_out(said, keywords), said
    for said in ("don't stop the order", "لغو سفارش", ""):
        assert not is_opt_out(said, keywords), said


async def test_an_unreachable_customer_is_skipped(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, web, admin = await started(start_app, settings)
    first = await web.push("hello", sender="v1", language="en")
    async with context.sessions() as session, session.begin():
        identity = await session.scalar(select(Identity).where(Identity.address == "v1"))
        assert identity is not None
        identity.unreachable_reason = "blocked the bot"
    _status, body = await api(
        client, "POST", "/api/v1/outbound/messages", admin, json=reminder(first.customer_id)
    )
    row = await until_finished(context, body["id"])
    assert (row.status, row.reason) == ("skipped", "unreachable")


async def test_a_message_that_fails_on_its_own_is_skipped_and_the_batch_goes_on(
    settings: Settings, start_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client, context, web, admin = await started(start_app, settings)
    first = await web.push("hello", sender="v1", language="en")
    later = utcnow() + timedelta(hours=1)
    ids = []
    for key in ("a", "b", "c"):
        body = reminder(first.customer_id, key, send_at=later.isoformat())
        _, answer = await api(client, "POST", "/api/v1/outbound/messages", admin, json=body)
        ids.append(answer["id"])
    # The middle one's parameters edited by hand into something no request could give.
    async with context.sessions() as session, session.begin():
        row = await session.get_one(OutreachMessage, ids[1])
        row.params = ["not", "an", "object"]
    labels = {"template": "warranty_reminder", "channel": "none", "outcome": "skipped:error"}
    registry = context.metrics.registry
    assert registry.get_sample_value("pasokh_outreach_messages_total", labels) is None
    context.clock = lambda: later + timedelta(minutes=1)

    rows = [await until_finished(context, row_id) for row_id in ids]
    assert [(r.status, r.reason) for r in rows] == [
        ("sent", None),
        ("skipped", "error"),
        ("sent", None),
    ]
    assert rows[1].message_id is None and rows[1].thread_id is None  # nothing of it kept
    assert registry.get_sample_value("pasokh_outreach_messages_total", labels) == 1.0
    assert any(
        record.exc_info and f"outreach message {ids[1]} failed" in record.getMessage()
        for record in caplog.records
    )


async def test_a_long_parameter_is_cut_to_the_subject_and_the_batch_goes_on(
    settings: Settings, start_app: AppFactory
) -> None:
    """A parameter of 600 characters fills a subject longer than its column: the subject
    is cut to fit, and the other customers' messages go out with it. (PostgreSQL refused
    such a subject, and the failure escaped the message's savepoint: every outreach pass
    failed on it, for every customer, for ever.)"""
    client, context, web, admin = await started(start_app, settings)
    first = await web.push("hello", sender="v1", language="en")
    second = await web.push("hello", sender="v2", language="en")
    later = utcnow() + timedelta(hours=1)
    long_params = {"product": "P" * 600, "expires_on": "2027-03-21"}
    ids = []
    for customer_id, key, params in (
        (first.customer_id, "long", long_params),
        (second.customer_id, "plain", reminder(0)["params"]),
    ):
        body = reminder(customer_id, key, send_at=later.isoformat(), params=params)
        status, answer = await api(client, "POST", "/api/v1/outbound/messages", admin, json=body)
        assert status == 202, answer
        ids.append(answer["id"])
    context.clock = lambda: later + timedelta(minutes=1)

    rows = [await until_finished(context, row_id) for row_id in ids]
    assert [(r.status, r.reason) for r in rows] == [("sent", None), ("sent", None)]
    limit = column_limit(Message.subject, Thread.subject)
    async with context.sessions() as session:
        message = await session.get_one(Message, rows[0].message_id)
    assert message.subject is not None and len(message.subject) == limit
    assert message.subject.startswith("Your PPP") and message.subject.endswith("\u2026")
    assert "P" * 600 in message.text  # the body has no such column


async def test_a_message_found_long_after_its_time_is_stale(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, web, admin = await started(start_app, settings, stale_after_hours=1)
    first = await web.push("hello", sender="v1", language="en")
    old = (utcnow() - timedelta(hours=2)).isoformat()
    fresh = (utcnow() - timedelta(minutes=30)).isoformat()
    _, stale = await api(
        client,
        "POST",
        "/api/v1/outbound/messages",
        admin,
        json=reminder(first.customer_id, "a", send_at=old),
    )
    _, late = await api(
        client,
        "POST",
        "/api/v1/outbound/messages",
        admin,
        json=reminder(first.customer_id, "b", send_at=fresh),
    )
    assert (await until_finished(context, stale["id"])).reason == "stale"
    assert (await until_finished(context, late["id"])).status == "sent"


async def test_quiet_hours_hold_a_message_until_they_end(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, web, admin = await started(
        start_app, settings, quiet_hours="21:00-09:00", timezone="Asia/Tehran"
    )
    first = await web.push("hello", sender="v1", language="en")
    night = datetime(2027, 3, 10, 23, 0, tzinfo=UTC)  # 02:30 in Tehran
    context.clock = lambda: night
    body = reminder(first.customer_id, send_at=night.isoformat())
    _, answer = await api(client, "POST", "/api/v1/outbound/messages", admin, json=body)
    await later_passes(context, "outreach")
    async with context.read_sessions() as session:
        row = await session.get(OutreachMessage, answer["id"])
    assert row is not None and row.status == "scheduled"
    assert row.send_at == datetime(2027, 3, 11, 5, 30, tzinfo=UTC)  # 09:00 in Tehran
    context.clock = lambda: datetime(2027, 3, 11, 5, 31, tzinfo=UTC)
    assert (await until_finished(context, answer["id"])).status == "sent"


async def test_no_more_than_the_daily_cap_per_customer(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, web, admin = await started(start_app, settings, daily_cap_per_customer=2)
    first = await web.push("hello", sender="v1", language="en")
    ids = []
    for key in ("a", "b", "c"):
        _, body = await api(
            client,
            "POST",
            "/api/v1/outbound/messages",
            admin,
            json=reminder(first.customer_id, key),
        )
        ids.append(body["id"])
    await until_finished(context, ids[0])
    await until_finished(context, ids[1])
    await later_passes(context, "outreach")
    async with context.read_sessions() as session:
        rows = list(await session.scalars(select(OutreachMessage).order_by(OutreachMessage.id)))
    assert [r.status for r in rows] == ["sent", "sent", "scheduled"]
    assert rows[2].send_at >= rows[0].finished_at + timedelta(days=1)  # type: ignore[operator]


async def test_two_schedulers_on_one_database_send_each_message_once(
    settings: Settings, start_app: AppFactory, tmp_path: Any
) -> None:
    client, context, web, admin = await started(start_app, settings, scheduler_interval_seconds=60)
    other_settings = outreach_settings(
        make_settings(tmp_path / "other", settings.database_url),
        scheduler_interval_seconds=60,
        daily_cap_per_customer=0,
    )
    _, other = await start_app(
        other_settings, adapters=[FakeAdapter(name="web")], responder=QueueEveryThread()
    )
    customers = [await web.push("hi", sender=f"v{i}", language="en") for i in range(10)]
    ids = []
    for i, customer in enumerate(customers):
        _, body = await api(
            client,
            "POST",
            "/api/v1/outbound/messages",
            admin,
            json=reminder(customer.customer_id, f"k{i}"),
        )
        ids.append(body["id"])
    outcomes = await asyncio.gather(
        *(
            scheduler.send_due(app, limit=3)
            for app in (context, other, context, other, context, other, context, other)
        )
    )
    sent = [o.id for batch in outcomes for o in batch if o.status == "sent"]
    assert sorted(sent) == sorted(set(sent))  # nobody sent one twice
    for row_id in ids:
        assert (await until_finished(context, row_id)).status == "sent"
    async with context.read_sessions() as session:
        written = await session.scalar(
            select(Message.id).where(Message.author_kind == "system").limit(1)
        )
        assert written is not None
    assert await count_rows(context, Message, Message.author_kind == "system") == 10


async def test_the_one_click_unsubscribe_opts_out(
    settings: Settings, start_app: AppFactory
) -> None:
    from router.outreach.consent import unsubscribe_token

    client, context, web, _admin = await started(start_app, settings)
    first = await web.push("hello", sender="v1", language="en")
    token = unsubscribe_token(context.settings.server.secret_key, first.customer_id)
    page = await client.get(f"/outreach/unsubscribe?t={token}&lang=fa")
    assert page.status == 200 and 'dir="rtl"' in await page.text()
    assert await count_rows(context, OutreachOptOut) == 0  # a GET changes nothing
    forged = await client.post(
        "/outreach/unsubscribe?t=1.abc", data={"List-Unsubscribe": "One-Click"}
    )
    assert forged.status == 404
    done = await client.post(
        f"/outreach/unsubscribe?t={token}", data={"List-Unsubscribe": "One-Click"}
    )
    assert done.status == 200
    assert await count_rows(context, OutreachOptOut) == 1


async def test_a_thread_opened_by_outreach_is_counted_as_created(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, web, admin = await started(start_app, settings)
    first = await web.push("hello", sender="v1", language="en")
    async with context.sessions() as session, session.begin():
        thread = await session.get(Thread, first.thread_id)
        assert thread is not None
        thread.status = ThreadStatus.RESOLVED
    _, body = await api(
        client, "POST", "/api/v1/outbound/messages", admin, json=reminder(first.customer_id)
    )
    row = await until_finished(context, body["id"])
    assert row.status == "sent" and row.thread_id not in (None, first.thread_id)
    async with context.read_sessions() as session:
        created = list(
            await session.scalars(
                select(ThreadEvent).where(
                    ThreadEvent.thread_id == row.thread_id, ThreadEvent.kind == "created"
                )
            )
        )
    assert [(e.actor_kind, e.channel, e.tier) for e in created] == [("system", "web", 0)]


async def test_an_opt_out_is_counted_once_when_its_transaction_runs_again(
    settings: Settings, start_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _client, context, web, _admin = await started(start_app, settings)
    await web.push("hello", sender="v1", language="en")
    real = ingest_module.enqueue_outbound
    raced: list[bool] = []

    async def racing_once(*args: Any, **kwargs: Any) -> Any:
        # The reply of the first attempt meets a concurrent transaction: it runs again.
        if not raced:
            raced.append(True)
            raise OperationalError("INSERT", {}, Exception("deadlock detected"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(ingest_module, "enqueue_outbound", racing_once)
    await web.push("stop", sender="v1", language="en")
    assert raced and await count_rows(context, OutreachOptOut) == 1
    assert (
        context.metrics.registry.get_sample_value(
            "pasokh_outreach_messages_total",
            {"template": "", "channel": "web", "outcome": "opted_out"},
        )
        == 1
    )


async def test_the_named_calendar_sets_the_sending_hours(
    settings: Settings, start_app: AppFactory
) -> None:
    # Quiet hours are also set: the named calendar wins over them.
    client, context, web, admin = await started(
        start_app, settings, calendar="office", quiet_hours="21:00-09:00", timezone="Asia/Tehran"
    )
    hours = [["10:00", "12:00"]]
    office = {
        "timezone": "Asia/Tehran",
        "week": {day: hours for day in ("sat", "sun", "mon", "tue", "wed", "thu", "fri")},
    }
    status, answer = await api(client, "PUT", "/api/v1/calendars/office", admin, json=office)
    assert status == 200, answer
    first = await web.push("hello", sender="v1", language="en")
    afternoon = datetime(2027, 3, 10, 10, 30, tzinfo=UTC)  # 14:00 in Tehran: quiet hours allow
    context.clock = lambda: afternoon
    body = reminder(first.customer_id, send_at=afternoon.isoformat())
    _, made = await api(client, "POST", "/api/v1/outbound/messages", admin, json=body)
    await later_passes(context, "outreach")
    async with context.read_sessions() as session:
        row = await session.get(OutreachMessage, made["id"])
    assert row is not None and row.status == "scheduled"
    assert row.send_at == datetime(2027, 3, 11, 6, 30, tzinfo=UTC)  # 10:00 next day in Tehran
    context.clock = lambda: datetime(2027, 3, 11, 6, 31, tzinfo=UTC)
    assert (await until_finished(context, made["id"])).status == "sent"


async def test_concurrent_passes_on_two_processes_keep_the_daily_cap(
    settings: Settings, start_app: AppFactory, tmp_path: Any
) -> None:
    slow = {"scheduler_interval_seconds": 600, "daily_cap_per_customer": 2}
    client, context, web, admin = await started(start_app, settings, **slow)
    other_settings = outreach_settings(
        make_settings(tmp_path / "other", settings.database_url), **slow
    )
    _, other = await start_app(
        other_settings, adapters=[FakeAdapter(name="web")], responder=QueueEveryThread()
    )
    first = await web.push("hi", sender="v1", language="en")
    for key in "abcdef":
        body = reminder(first.customer_id, key)
        assert (await api(client, "POST", "/api/v1/outbound/messages", admin, json=body))[0] == 202
    # Six passes at once, one message each, all for the same customer.
    await asyncio.gather(*(scheduler.send_due(app, limit=1) for app in (context, other) * 3))
    async with context.read_sessions() as session:
        statuses = list(await session.scalars(select(OutreachMessage.status)))
    assert sorted(statuses) == ["scheduled"] * 4 + ["sent"] * 2


def test_the_unsubscribe_link_starts_with_the_public_address(settings: Settings) -> None:
    from router.core.urls import public_base_url  # one rule for every link we print

    public = settings.replace("server", public_url="https://help.example.ir/")
    assert public_base_url(public) == "https://help.example.ir"
    link = unsubscribe_url(public, 7, "fa")
    assert link.startswith("https://help.example.ir/outreach/unsubscribe?t=")
    local = settings.replace("server", public_url="", host="127.0.0.1", http_port=8080)
    assert unsubscribe_url(local, 7, None).startswith("http://127.0.0.1:8080/outreach/")


async def test_campaign_counts_customers_who_opted_out_after_a_message(
    settings: Settings, start_app: AppFactory
) -> None:
    client, context, web, admin = await started(start_app, settings)
    sara = await web.push("hello", sender="v1", language="en")
    ali = await web.push("hello", sender="v2", language="en")
    await web.push("stop", sender="v2", language="en")  # before any message: not counted
    ids = []
    for customer, key in (
        (sara.customer_id, "s1"),
        (sara.customer_id, "s2"),
        (ali.customer_id, "a"),
    ):
        _, body = await api(
            client, "POST", "/api/v1/outbound/messages", admin, json=reminder(customer, key)
        )
        ids.append(body["id"])
    for row_id in ids:
        await until_finished(context, row_id)
    await web.push("stop", sender="v1", language="en")  # after two messages: counted once
    status, listed = await api(client, "GET", "/api/v1/outbound/messages", admin)
    assert status == 200
    [web_counts] = [c for c in listed["counts"] if c["channel"] == "web"]
    assert web_counts["template"] == "warranty_reminder"
    assert web_counts["counts"]["opted_out"] == 1
    assert sum(web_counts["counts"].get(s, 0) for s in ("sent", "delivered")) == 2
